"""Zipkin v2 JSON -> spans, span_events: a bare array of spans (or one),
times in microseconds, timestamp and duration optional, annotations as events.

>>> import io
>>> doc = b'[{"traceId": "AB12", "id": "01", "name": "get", "timestamp": 1700000000000000, "duration": 1500}]'
>>> [(t, b.num_rows) for t, b in parse_zipkin(io.BytesIO(doc))]
[('spans', 1)]
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ...errors import ParseError
from .. import ParseOptions, json_number
from .spans import BATCH, SpanRows, hex_id, json_text, load_json, read_all

def parse_zipkin(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Zipkin v2 JSON: a bare array of spans."""
    doc = load_json(read_all(stream), "Zipkin spans")
    if isinstance(doc, dict) and "traceId" in doc:
        doc = [doc]  # one span
    if not isinstance(doc, list):
        raise ParseError("not a Zipkin v2 file: expected a JSON array of spans")
    rows = SpanRows("zipkin")
    for i, span in enumerate(doc):
        try:
            _zipkin_span(span, rows)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            rows.error(f"span {i}", f"skipped: {exc}", None, orjson.dumps(span).decode())
        if len(rows.spans) >= BATCH:
            yield from rows.flush()
    yield from rows.flush(final=True)


def _zipkin_span(span: dict, rows: SpanRows) -> None:
    trace_id, span_id = hex_id(span.get("traceId"), "traceId"), hex_id(span.get("id"), "id")
    if not trace_id or not span_id:
        raise ValueError("traceId and id are required")
    tags = span.get("tags") or {}
    if not isinstance(tags, dict):
        raise ValueError("tags is not an object")
    start = json_number(span.get("timestamp"), "timestamp", int)
    start_ns = start * 1000 if start is not None else None
    duration = json_number(span.get("duration"), "duration", int)
    local, remote = span.get("localEndpoint") or {}, span.get("remoteEndpoint") or {}
    error = "error" in tags
    resource = {k: v for k, v in (("localEndpoint", local), ("remoteEndpoint", remote)) if v}
    attrs = dict(tags)
    if span.get("shared"):
        attrs["zipkin.shared"] = True
    rows.spans.append(dict(
        trace_id=trace_id, span_id=span_id, parent_span_id=hex_id(span.get("parentId"), "parentId"),
        service=local.get("serviceName"), name=span.get("name"),
        kind=span["kind"].lower() if isinstance(span.get("kind"), str) else None,
        start_ns=start_ns, duration_ns=duration * 1000 if duration is not None else None,
        status_code="error" if error else "unset", status_message=(tags.get("error") or None) if error else None,
        attributes=json_text(attrs), resource=json_text(resource), format="zipkin"))
    for ann in span.get("annotations") or []:
        ts = json_number(ann.get("timestamp"), "annotation timestamp", int)
        rows.events.append(dict(trace_id=trace_id, span_id=span_id, ts_ns=ts * 1000 if ts is not None else None,
                                name=ann.get("value")))
