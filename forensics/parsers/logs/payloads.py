"""One log record's payload, and whose log a path is.

Payloads, most structured first:

- JSON objects as Go's structured loggers write them: zap (``level``,
  ``ts`` epoch seconds, ``msg``), zerolog (``level``, ``time``, ``message``),
  logrus (``level``, ``time``, ``msg``), log/slog's JSONHandler (``time``,
  ``level`` upper case, ``msg``);
- logfmt (log/slog's TextHandler, logrus' text formatter, go-kit):
  ``time=... level=INFO msg="..." k=v``;
- Go's log package (``2006/01/02 15:04:05[.000000] message``, log.LstdFlags
  with or without Lmicroseconds), klog (``I0314 11:07:03.123456   12
  file.go:42] message``) and lines starting with an RFC 3339 time; a level
  word after the time (``INFO``, ``[error]``) is read as the level;
- anything else is a plain message.

Levels are normalized to debug, info, warn, error, fatal and panic.

>>> parse_plain("2026/03/14 11:07:03.123456 ERROR lease expired id=7")[:3]
(1773486423123456000, 'error', 'lease expired id=7')
>>> parse_plain('time=2026-03-14T11:07:03.5Z level=WARN msg="slow call" ms=812')
(1773486423500000000, 'warn', 'slow call', '{"ms":"812"}', 'logfmt')
"""
from __future__ import annotations

import math

import re
from datetime import datetime

import orjson

from ...times import EPOCH, RFC3339, rfc3339_ns, utc_now

# Level names as Go's loggers spell them (zap: dpanic; logrus: warning,
# trace; slog: WARN, ERROR+2 style offsets are cut at the sign) and
# journald's PRIORITY numbers (syslog severities, RFC 5424).
LEVELS = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "d": "debug",
    "info": "info", "information": "info", "inf": "info", "i": "info", "notice": "info",
    "warn": "warn", "warning": "warn", "wrn": "warn", "w": "warn",
    "error": "error", "err": "error", "erro": "error", "e": "error", "critical": "error", "crit": "error",
    "alert": "fatal", "emerg": "fatal", "emergency": "fatal",
    "fatal": "fatal", "fata": "fatal", "f": "fatal", "panic": "panic", "dpanic": "panic", "pani": "panic",
}
PRIORITIES = {"0": "fatal", "1": "fatal", "2": "error", "3": "error", "4": "warn", "5": "info", "6": "info",
              "7": "debug"}

MESSAGE_KEYS = ("msg", "message", "MESSAGE", "log")
LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "log.level")
TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "t")

# Go's log package: src/log/log.go formatHeader, with LstdFlags (Ldate | Ltime)
# and optionally Lmicroseconds; LUTC changes the zone, not the layout.
GO_LOG = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? ")
# klog's header: k8s.io/klog/v2 klog.go formatHeader, "Lmmdd hh:mm:ss.uuuuuu threadid file:line] ".
KLOG = re.compile(r"([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})\s+\d+ [^\]\s]+:\d+\] ")
KLOG_LEVELS = {"I": "info", "W": "warn", "E": "error", "F": "fatal"}
RFC3339_START = re.compile(RFC3339.pattern + r"\s")
LEVEL_WORD = re.compile(r"\[?([A-Za-z]{1,11})\]?:?(?:\s+|$)")
LOGFMT_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s+|$)')



MAX_NS = (1 << 63) - 1  # nanoseconds since the epoch in an int64, as the logs table's ts holds them


def level_of(value) -> str | None:
    """Normalized level of a level field (a name, or a zerolog/pino number)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    for sign in "+-":  # slog prints levels between the named ones as ERROR+2
        text = text.split(sign, 1)[0] if sign in text[1:] else text
    return LEVELS.get(text)


def json_time_ns(value) -> int | None:
    """A JSON logger's time field: epoch seconds (zap), milliseconds or
    nanoseconds (zerolog's TimeFieldFormat options), or an RFC 3339 string.
    None when it is none of these, or past what a timestamp holds (a
    10,000-digit number, 1e400).

    >>> json_time_ns(1795312802.5), json_time_ns(10 ** 10000), json_time_ns(float("inf"))
    (1795312802500000000, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):  # exact: no float rounding of nanoseconds
        if not -MAX_NS <= value <= MAX_NS:
            return None
        scale = 1 if value > 10**17 else 1_000 if value > 10**14 else 1_000_000 if value > 10**11 else 10**9
        ns = value * scale
        return ns if -MAX_NS <= ns <= MAX_NS else None
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_NS:
            return None
        v = value
        if v > 1e17:
            return int(value)  # nanoseconds
        if v > 1e14:
            return int(v * 1_000)  # microseconds
        if v > 1e11:
            return int(v * 1_000_000)  # milliseconds
        return int(round(v * 1_000_000)) * 1_000  # seconds, to the microsecond a float can carry
    if isinstance(value, str):
        try:
            return rfc3339_ns(value)
        except ValueError:
            return None
    return None


def json_fields(obj: dict) -> tuple[int | None, str | None, str | None]:
    """(time ns, level, message) of a structured record."""
    ts = next((json_time_ns(obj[k]) for k in TIME_KEYS if k in obj), None)
    level = next((level_of(obj[k]) for k in LEVEL_KEYS if k in obj), None)
    message = next((obj[k] for k in MESSAGE_KEYS if k in obj), None)
    if message is not None and not isinstance(message, str):
        message = orjson.dumps(message).decode()
    return ts, level, message


def logfmt(text: str) -> dict | None:
    """logfmt pairs as a dict when the whole line is logfmt with a message
    or a level key, else None."""
    pairs, pos, n = {}, 0, len(text)
    match = LOGFMT_PAIR.match
    while pos < n:
        m = match(text, pos)  # anchored at pos: a search would rescan the line from every position
        if m is None or m.end() == pos:
            return None
        value = m.group(2)
        if value.startswith('"'):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                value = value[1:-1]
        pairs[m.group(1)] = value
        pos = m.end()
    if not pairs or not any(k in pairs for k in ("msg", "message", "level", "lvl")):
        return None
    return pairs


def _ns(y, mo, d, h, mi, s, frac) -> int | None:
    try:
        seconds = (datetime(int(y), int(mo), int(d), int(h), int(mi), int(s)) - EPOCH).total_seconds()
    except ValueError:
        return None
    return int(seconds) * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])


def parse_plain(text: str, year: int | None = None) -> tuple[int | None, str | None, str, str | None, str]:
    """(time ns, level, message, attributes JSON, format) of a line that is
    not JSON. `year` completes klog's year-less times."""
    ts, level, fmt, rest = None, None, "text", text
    m = GO_LOG.match(text)
    if m:
        ts, rest, fmt = _ns(*m.groups()), text[m.end():], "golog"
    elif (m := KLOG.match(text)) is not None:
        lv, mo, d, h, mi, s, frac = m.groups()
        ts = _ns(year or utc_now().year, mo, d, h, mi, s, frac)
        return ts, KLOG_LEVELS[lv], text[m.end():], None, "klog"
    elif (m := RFC3339_START.match(text)) is not None:
        try:
            ts, rest = rfc3339_ns(text[:m.end()]), text[m.end():]
        except ValueError:
            pass
    pairs = logfmt(rest) if "=" in rest else None
    if pairs is not None:
        ts2 = next((json_time_ns(pairs[k]) for k in TIME_KEYS if k in pairs), None)
        level = next((level_of(pairs.pop(k)) for k in LEVEL_KEYS if k in pairs), None)
        message = next((pairs.pop(k) for k in ("msg", "message") if k in pairs), None)
        for k in TIME_KEYS:
            if ts2 is not None and k in pairs:
                pairs.pop(k)
                break
        attrs = orjson.dumps(pairs).decode() if pairs else None
        return ts if ts is not None else ts2, level, message if message is not None else rest, attrs, "logfmt"
    w = LEVEL_WORD.match(rest)
    if w and (lv := LEVELS.get(w.group(1).lower())) is not None and len(w.group(1)) > 1:
        level, rest = lv, rest[w.end():]
    return ts, level, rest, None, fmt


# Kubernetes log paths, under any prefix (a collected bundle keeps the layout):
# the kubelet's /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
# (and its rotations N.log.<yyyymmdd-hhmmss>[.gz]) and the symlinks in
# /var/log/containers/<pod>_<namespace>_<container>-<container id>.log.
POD_LOG = re.compile(r"(?:^|/)(?P<namespace>[a-z0-9][-a-z0-9]*)_(?P<pod>[a-z0-9][-.a-z0-9]*)_(?P<uid>[-0-9a-f]+)/"
                     r"(?P<container>[a-z0-9][-a-z0-9]*)/(?P<restart>\d+)\.log(?P<rotated>\.\d{8}-\d{6})?(?:\.gz)?$")
CONTAINER_LOG = re.compile(r"(?:^|/)(?P<pod>[a-z0-9][-.a-z0-9]*)_(?P<namespace>[a-z0-9][-a-z0-9]*)_"
                           r"(?P<container>[a-z0-9][-a-z0-9]*)-(?P<id>[0-9a-f]{64})\.log(?:\.gz)?$")


def kubernetes_identity(path: str | None) -> dict:
    """namespace, pod, container and restart of a Kubernetes log path ({} if it is not one).

    >>> kubernetes_identity("bundle/var/log/pods/shop_orders-7d4b9c8f5-q9w2n_d2fb68a2/orders/1.log")
    {'namespace': 'shop', 'pod': 'orders-7d4b9c8f5-q9w2n', 'container': 'orders', 'restart': 1, 'rotated': False}
    """
    if not path:
        return {}
    path = path.replace("\\", "/").split("!")[-1]
    m = POD_LOG.search(path)
    if m:
        return {"namespace": m["namespace"], "pod": m["pod"], "container": m["container"],
                "restart": int(m["restart"]), "rotated": m["rotated"] is not None}
    m = CONTAINER_LOG.search(path)
    if m:
        return {"namespace": m["namespace"], "pod": m["pod"], "container": m["container"], "restart": None,
                "rotated": False}
    return {}
