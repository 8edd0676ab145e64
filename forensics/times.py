"""Time conversions, written once: every time in the database is naive UTC.

Parsers meet epoch seconds and nanoseconds, RFC 3339 with nine fraction
digits, ISO 8601 times in paths, Go duration strings and the year-less times
of syslog and klog prefixes (:func:`prefix_time`); the API and the
CLI take datetimes or ISO 8601 strings with any offset. All of them become
naive UTC datetimes (DuckDB TIMESTAMP) or integer nanoseconds here.

>>> naive_utc("2026-03-14T12:00:00+01:00"), from_ns(1773486000123456789)
(datetime.datetime(2026, 3, 14, 11, 0), datetime.datetime(2026, 3, 14, 11, 0, 0, 123456))
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1)


def naive_utc(value) -> datetime | None:
    """A naive UTC datetime from a datetime or an ISO 8601 string (Z or an offset converted).

    >>> naive_utc("2026-03-14T11:00:00Z"), naive_utc(None)
    (datetime.datetime(2026, 3, 14, 11, 0), None)
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value if value.tzinfo is None else (value - value.utcoffset()).replace(tzinfo=None)


def utc_now() -> datetime:
    """Now, as naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def from_seconds(seconds: float) -> datetime:
    """Naive UTC of epoch seconds (a float: rounded to the microsecond, as datetime.fromtimestamp)."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)


def from_ns(ns: int) -> datetime:
    """Naive UTC of epoch nanoseconds (cut to the microsecond)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def to_ns(ts: datetime) -> int:
    """Epoch nanoseconds of a naive UTC datetime (to the microsecond it holds).

    >>> to_ns(datetime(1970, 1, 1, 0, 0, 1, 5))
    1000005000
    """
    return (ts - EPOCH) // timedelta(microseconds=1) * 1000


def rfc3339_text(ns: int) -> str:
    """An RFC 3339 time with nine fraction digits, UTC, of epoch nanoseconds.

    >>> rfc3339_text(1485467191639875139)
    '2017-01-26T21:46:31.639875139Z'
    """
    seconds, frac = divmod(ns, 1_000_000_000)
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def _offset(zone: str | None) -> timedelta:
    """A zone suffix (Z, +01:00, -0500) as the timedelta to subtract for UTC."""
    if not zone or zone in "Zz":
        return timedelta(0)
    sign = 1 if zone[0] == "+" else -1
    return sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))


RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9})\d*)?\s*([Zz]|[+-]\d\d:?\d\d)?")


def rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time, keeping all nine
    fraction digits (datetime keeps six); no zone means UTC.

    >>> rfc3339_ns("2017-01-26T16:46:31.639875139-05:00")
    1485467191639875139
    """
    m = RFC3339.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{str(text)[:40]!r} is not an RFC 3339 time")
    y, mo, d, h, mi, sec, frac, zone = m.groups()
    ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec)) - _offset(zone)
    seconds = (ts - EPOCH) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def record_time(value) -> datetime:
    """A time as records write it: RFC 3339 (a space for the T is fine) or
    epoch seconds (a number or a numeric string); ValueError otherwise.

    >>> record_time("2026-03-14 11:00:00Z"), record_time(1773486000)
    (datetime.datetime(2026, 3, 14, 11, 0), datetime.datetime(2026, 3, 14, 11, 0))
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return from_seconds(float(value))
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return from_seconds(float(text))
        return from_ns(rfc3339_ns(text))
    raise ValueError(f"no time in {value!r}")


# An ISO 8601 time in a path: 2026-03-14T11:20:00Z, 2026-03-14T112000Z, 20260314T112000Z
# (fraction and offset optional), in a directory or a file name.
PATH_TIME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:[.,](\d{1,9}))?"
                       r"(Z|[+-]\d{2}:?\d{2})?(?!\d)")


def path_time(path: str) -> datetime | None:
    """The last ISO 8601 time in a path, as naive UTC.

    >>> path_time("dumps/2026-03-14T112000Z/goroutines.txt")
    datetime.datetime(2026, 3, 14, 11, 20)
    >>> path_time("api-20260314T112000+0100.txt"), path_time("v1.2.3.txt")
    (datetime.datetime(2026, 3, 14, 10, 20), None)
    """
    found = None
    for m in PATH_TIME.finditer(path):
        found = m
    if found is None:
        return None
    y, mo, d, h, mi, sec, frac, zone = found.groups()
    try:
        ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None
    return ts - _offset(zone)


# time.Duration.String()'s units (Go src/time/time.go, unitMap in ParseDuration).
_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}
DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def go_duration_ns(text: str) -> int:
    """Nanoseconds of a Go duration string (what time.ParseDuration reads).

    >>> go_duration_ns("5000ns"), go_duration_ns("1m0.5s"), go_duration_ns("-1.5µs")
    (5000, 60500000000, -1500)
    """
    body = text.strip() if isinstance(text, str) else ""
    sign = -1 if body[:1] == "-" else 1
    body = body.lstrip("+-")
    if body == "0":
        return 0
    total, pos = 0, 0
    for m in DURATION.finditer(body):
        if m.start() != pos or m.group(1) in ("", "."):
            break
        total += round(float(m.group(1)) * _DURATION_UNITS[m.group(2)])
        pos = m.end()
    if pos == 0 or pos != len(body):
        raise ValueError(f"{str(text)[:40]!r} is not a Go duration")
    return sign * total


# Month abbreviations as syslog, journald (``%b`` in the host's locale) and
# ``ls``/``date`` print them: English, German, French, Spanish, Italian,
# Portuguese, Dutch, Swedish, Polish, Russian.
MONTHS = {}
for _names in (
    "jan feb mar apr may jun jul aug sep oct nov dec",
    "jan feb mär apr mai jun jul aug sep okt nov dez",
    "janv févr mars avr mai juin juil août sept oct nov déc",
    "ene feb mar abr may jun jul ago sep oct nov dic",
    "gen feb mar apr mag giu lug ago set ott nov dic",
    "jan fev mar abr mai jun jul ago set out nov dez",
    "jan feb mrt apr mei jun jul aug sep okt nov dec",
    "jan feb mar apr maj jun jul aug sep okt nov dec",
    "sty lut mar kwi maj cze lip sie wrz paź lis gru",
    "янв фев мар апр мая июн июл авг сен окт ноя дек",
):
    for _i, _name in enumerate(_names.split()):
        MONTHS.setdefault(_name, _i + 1)
# syslog / journald short ("Mar 14 10:00:00"); klog/glog ("E0314 10:00:00.123456").
SYSLOG_TS_RE = re.compile(r"([^\W\d_]{3,5})\.? +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?")
KLOG_TS_RE = re.compile(r"[IWEF]?(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})\s")


def prefix_time(prefix: str, year: int) -> datetime | None:
    """The time a syslog or klog prefix carries, which has no year: `year` gives it.

    >>> prefix_time("Mär 14 10:00:00 host app[1]: ", 2026), prefix_time("E0314 10:00:00.123456    1 a.go:7] ", 2026)
    (datetime.datetime(2026, 3, 14, 10, 0), datetime.datetime(2026, 3, 14, 10, 0, 0, 123456))
    """
    m = SYSLOG_TS_RE.match(prefix)
    if m is not None:
        month = MONTHS.get(m.group(1).lower())
        day, h, mi, sec, frac = m.group(2, 3, 4, 5, 6)
    else:
        m = KLOG_TS_RE.match(prefix)
        if m is None:
            return None
        month, (day, h, mi, sec, frac) = int(m.group(1)), m.group(2, 3, 4, 5, 6)
    try:
        return datetime(year, month, int(day), int(h), int(mi), int(sec), int((frac or "0").ljust(6, "0")[:6]))
    except (TypeError, ValueError):
        return None
