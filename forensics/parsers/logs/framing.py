"""Which log framing a source's first lines are, and JSON records as logs write them.

:func:`log_framing` is the registry's sniff for logs: ``cri``, ``docker``,
``journald`` or ``plain`` when most of the first lines are records of that
framing. :func:`json_record` decodes a JSON record, raw control bytes and all.
"""
from __future__ import annotations

import re

import orjson

from . import reader_columnar
from .payloads import GO_LOG, KLOG, RFC3339_START

CRI_LINE = re.compile(reader_columnar.CRI_TIME + r" (?:stdout|stderr) [FP] ")


def log_framing(head: bytes) -> str | None:
    """`cri`, `docker`, `journald` or `plain` when most of the first lines
    are log records of that framing, else None.

    >>> log_framing(b'{"log":"hi\\\\n","stream":"stdout","time":"2026-03-14T11:07:03Z"}\\n')
    'docker'
    >>> log_framing(b"2026/03/14 11:07:03 starting\\npanic: boom\\n"), log_framing(b"panic: boom\\n")
    ('plain', None)
    """
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")[:200]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines.pop()  # the sniff window cut the last line
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    lines[0] = lines[0].lstrip("\ufeff")
    # Most lines, not all: a damaged line must not turn a CRI file into text.
    if sum(1 for line in lines if CRI_LINE.match(line)) >= 0.6 * len(lines):
        return "cri"
    framing = _json_framing(lines[0])
    if framing is not None:
        return framing
    # A first line that does not parse (a log cut at its start): the next lines tell, when most are records.
    framing = _json_framing(lines[1]) if len(lines) > 1 else None
    if framing is not None and sum(1 for line in lines[1:] if _json_framing(line) == framing) >= 0.6 * (len(lines) - 1):
        return framing
    # Plain logs: the first line (or, that one cut, the second) is a record and most lines are.
    records = sum(1 for line in lines if is_record(line))
    starts = is_record(lines[0]) or (len(lines) > 2 and is_record(lines[1]))
    return "plain" if starts and records >= 0.5 * len(lines) else None


def _json_framing(line: str) -> str | None:
    """`docker` or `journald` when the line is a record of that framing, else None."""
    if not line.startswith("{"):
        return None
    obj = json_record(line)[0]
    if isinstance(obj, dict):
        if "log" in obj and "time" in obj and ("stream" in obj or "attrs" in obj):
            return "docker"
        if "__REALTIME_TIMESTAMP" in obj or ("MESSAGE" in obj and "__CURSOR" in obj):
            return "journald"
    return None


def is_record(line: str) -> bool:
    """A plain log's record: a Go log, klog or RFC 3339-led line, a JSON object with a message or level, logfmt."""
    if GO_LOG.match(line) or KLOG.match(line) or RFC3339_START.match(line):
        return True
    if line.startswith("{"):
        obj = json_record(line)[0]
        return isinstance(obj, dict) and any(k in obj for k in ("msg", "message", "level"))
    return line.startswith(("time=", "level=", "ts="))


# C0 controls JSON strings may not hold raw (but tab, LF, CR, which are also JSON's
# whitespace), left raw by a writer that does not escape them or by a damaged byte.
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# A JSON number past what orjson (and the int64 columns) hold: 20 digits or more.
HUGE_NUMBER = re.compile(r"[:\[,]\s*-?(\d{20,})")


def json_record(text: str) -> tuple[object, str]:
    """(the decoded value, its text as valid JSON) of a JSON record; (None, text) when it is none.
    A raw control byte (a NUL in a message) is escaped as \\u00XX, so the record still reads as JSON.

    >>> json_record('{"msg":"a\\x00b"}')
    ({'msg': 'a\\x00b'}, '{"msg":"a\\\\u0000b"}')
    """
    try:
        return orjson.loads(text), text
    except orjson.JSONDecodeError:
        if not _RAW_CONTROL.search(text):
            return None, text
    escaped = _RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    try:
        return orjson.loads(escaped), escaped
    except orjson.JSONDecodeError:
        return None, text
