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
CHROME_TRACE = Format("chrome_trace", "Chrome trace-event JSON (go tool trace's /jsontrace)",
                      sniff=lambda head: "chrome_trace" if chrome.chrome_container(head) else None,
                      parse=chrome.parse)

FORMATS = (GO_TRACE, OTLP, JAEGER, ZIPKIN, CHROME_TRACE)
