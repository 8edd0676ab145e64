"""Parsers: pure functions from a byte stream to Arrow record batches.

A parser never sees the database. It yields ``(table, pyarrow.RecordBatch)``
pairs whose schemas are declared in :mod:`forensics.schema`; ids it emits
(``dump_id``) are local to the source and the store rebases them. Problems
with the input are not raised: they are yielded as ``ingest_errors`` rows
(line, message, excerpt) and parsing goes on with the next block.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Iterator

MAX_LINE = 1 << 20  # longer lines are cut here; the rest of the line is skipped
CHUNK = 1 << 22
EXCERPT = 200


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
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        ts -= sign * timedelta(hours=hours, minutes=minutes)
    return ts


RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9})\d*)?\s*([Zz]|[+-]\d\d:?\d\d)?")
_EPOCH = datetime(1970, 1, 1)


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
    ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec))
    if zone and zone not in "Zz":
        sign = 1 if zone[0] == "+" else -1
        ts -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
    seconds = (ts - _EPOCH) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


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


@dataclass(frozen=True)
class ParseOptions:
    """What the caller knows about a source that its content may not say."""

    service: str | None = None
    version: str | None = None
    ts: datetime | None = None  # overrides times found in the text
    mtime: datetime | None = None  # the source's modification time: the last resort for ts
    path_ts: datetime | None = None  # an ISO 8601 time in the source's path: before mtime
    path: str | None = None  # the source's name (a path, or archive!member): Kubernetes log paths say whose it is
    pod: str | None = None  # the pod of the log a dump was cut from

    def file_time(self) -> tuple[datetime | None, str | None]:
        """The time of a source that says nothing of its own: the path's, else its mtime."""
        if self.path_ts is not None:
            return self.path_ts, "path"
        if self.mtime is not None:
            return self.mtime, "mtime"
        return None, None


def json_number(value, what: str, cast=float):
    """A number of a JSON document written as a number or a numeric string
    (proto3 JSON writes int64 as strings, Chrome traces may quote ts), as
    `cast`; None for null or ""; ValueError naming `what` otherwise.

    >>> json_number("1795316780460547309", "start", int), json_number(2, "ts")
    (1795316780460547309, 2.0)
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} has type {type(value).__name__}")
    return cast(value)


def excerpt(line: str) -> str:
    return line if len(line) <= EXCERPT else line[:EXCERPT] + "…"


def line_batches(stream: BinaryIO, on_long_line) -> Iterator[list[str]]:
    """Decode a byte stream to lists of lines without their line ends.

    Invalid UTF-8 becomes U+FFFD; CRLF and LF both end lines (a lone CR does
    not). A line longer than MAX_LINE characters is cut to MAX_LINE and
    ``on_long_line(lineno, length)`` is called; memory stays bounded by
    CHUNK + MAX_LINE whatever the input.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    carry = ""  # start of an unfinished line
    carry_len = 0  # its true length, which may exceed len(carry)
    lineno = 0
    while True:
        raw = stream.read(CHUNK)
        text = decoder.decode(raw, final=not raw)
        if text:
            parts = text.replace("\r\n", "\n").split("\n")
            last = parts.pop()
            if parts:
                if carry_len:
                    full_len = carry_len + len(parts[0])
                    parts[0] = (carry + parts[0])[:MAX_LINE]
                    if full_len > MAX_LINE:
                        on_long_line(lineno + 1, full_len)
                    carry, carry_len = "", 0
                if max(map(len, parts)) > MAX_LINE:
                    for i, line in enumerate(parts):
                        if len(line) > MAX_LINE:
                            on_long_line(lineno + i + 1, len(line))
                            parts[i] = line[:MAX_LINE]
                if parts[0].endswith("\r"):  # a CRLF split across chunks
                    parts[0] = parts[0][:-1]
                lineno += len(parts)
                yield parts
            if carry_len < MAX_LINE + 1:
                carry += last[: MAX_LINE + 1 - len(carry)]
            carry_len += len(last)
        if not raw:
            break
    if carry_len:
        lineno += 1
        if carry_len > MAX_LINE:
            on_long_line(lineno, carry_len)
        line = carry[:MAX_LINE]
        yield [line[:-1] if line.endswith("\r") else line]
