"""Traces -> spans, span_events, span_links; trace_events, trace_counters, trace_files.

- :mod:`.spans`: the rows the span readers share;
- :mod:`.otlp` and its fast path :mod:`.otlp_columnar`: OTLP JSON;
- :mod:`.jaeger`: Jaeger's UI/API JSON, Elasticsearch documents, the api_v2 domain model;
- :mod:`.zipkin`: Zipkin v2 JSON;
- :mod:`.chrome`: Chrome trace-event JSON, as go tool trace serves it.

A Go execution trace (the runtime's binary format) is recognised only to
say which file to ingest instead.
"""
from __future__ import annotations

import re

from .. import Format, classified_as
from . import chrome, jaeger, otlp, zipkin
from .spans import span_format

# runtime/trace's header: "go 1.19 trace\x00\x00\x00" (and later versions).
GO_TRACE_HEADER = re.compile(rb"go 1\.\d+ trace\x00")


GO_TRACE = Format("go_trace", "Go execution traces (binary): recorded as skipped, with a pointer to their JSON",
                  sniff=lambda head: "go_trace" if GO_TRACE_HEADER.match(head) else None,
                  reason=lambda head: ("a Go execution trace (binary): forensics reads the JSON that `go tool trace` "
                                       "serves at /jsontrace, ingest that instead"))
OTLP = Format("otlp", "OTLP JSON spans (a resourceSpans document or JSON lines of them)",
              sniff=classified_as(span_format, "otlp"), parse=otlp.parse_otlp)
JAEGER = Format("jaeger", "Jaeger JSON (UI/API, Elasticsearch documents, api_v2)",
                sniff=classified_as(span_format, "jaeger"), parse=jaeger.parse_jaeger)
ZIPKIN = Format("zipkin", "Zipkin v2 JSON spans", sniff=classified_as(span_format, "zipkin"),
                parse=zipkin.parse_zipkin)
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')
_EVENTS_VALUE = re.compile(rb'\s*:\s*\[')
_ARRAY_START = re.compile(rb'\[\s*(?:\{|\])')
_SCAN = 1 << 16


def chrome_trace(head: bytes) -> str | None:
    """`chrome_trace` when `head` starts a Chrome trace-event file: an
    object with the key `traceEvents` (an array) at its top level, within
    the first 64 KiB and before the object ends (JSON lines of other
    objects, one of them holding the text `"traceEvents":[` somewhere, are
    not), or an array of events.

    >>> chrome_trace(b'{"displayTimeUnit": "ns", "traceEvents": [{"ph": "X"}]}'), chrome_trace(b'[{"ph":"X"}]')
    ('chrome_trace', 'chrome_trace')
    >>> chrome_trace(b'{"MESSAGE": "a"}\\n{"MESSAGE": "b \\\\"traceEvents\\\\":[ c"}\\n')
    >>> chrome_trace(b'{"args": {"traceEvents": []}}')
    """
    kind = chrome.chrome_container(head)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:_SCAN]
    if kind == "array":
        return "chrome_trace" if _ARRAY_START.match(text) else None
    if kind != "object":
        return None
    depth = 0
    for token in _TOKEN.finditer(text):
        t = token.group()
        if t in (b"{", b"["):
            depth += 1
        elif t in (b"}", b"]"):
            depth -= 1
            if depth <= 0:
                return None  # the top-level object ended without it
        elif depth == 1 and t == b'"traceEvents"' and _EVENTS_VALUE.match(text, token.end()):
            return "chrome_trace"
    return None


CHROME_TRACE = Format("chrome_trace", "Chrome trace-event JSON (go tool trace's /jsontrace)",
                      sniff=chrome_trace,
                      parse=chrome.parse)

FORMATS = (GO_TRACE, OTLP, JAEGER, ZIPKIN, CHROME_TRACE)
