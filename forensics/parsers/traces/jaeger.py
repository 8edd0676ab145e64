"""Jaeger JSON -> spans, span_events, span_links.

As the UI and query API serve it: ``{"data": [{"traceID", "spans",
"processes"}]}``; times in microseconds; CHILD_OF gives the parent, other
references become links; logs become events. Also the Elasticsearch span
documents (process inline, ``tag`` maps) and the api_v2 jsonpb domain model
(base64 ids, RFC 3339 times, Go durations, vType/vStr tags), so every Jaeger
export reads the same.

>>> import io
>>> doc = b'{"data": [{"traceID": "ab12", "spans": [{"traceID": "ab12", "spanID": "01", "startTime": 1, "duration": 2}]}]}'
>>> [(t, b.num_rows) for t, b in parse_jaeger(io.BytesIO(doc))]
[('spans', 1)]
"""
from __future__ import annotations

import base64
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ...errors import ParseError
from ...times import go_duration_ns, rfc3339_ns
from .. import ParseOptions, json_number
from .spans import SpanRows, hex_id, json_text, load_json, read_all

# The jsonpb (domain model) tag value fields, by vType; proto3 JSON leaves
# out zero values, so a missing field is that type's zero.
_DOMAIN_VALUES = {"string": ("vStr", ""), "bool": ("vBool", False), "int64": ("vInt64", 0),
                  "float64": ("vFloat64", 0.0), "binary": ("vBinary", "")}


def jaeger_tags(tags, binary_base64: bool = True) -> dict:
    """Jaeger tags (or log fields) as a dict with typed values: key/type/value
    as the UI (binary in base64) and Elasticsearch (binary in hex,
    binary_base64=False) write them, or the jsonpb domain model's
    key/vType/vStr|vBool|vInt64|vFloat64|vBinary. Binary values become hex."""
    out = {}
    for tag in tags or []:
        if "type" in tag or "value" in tag:
            value, kind = tag.get("value"), (tag.get("type") or "string").lower()
            if kind == "binary" and binary_base64 and isinstance(value, str):
                value = base64.b64decode(value).hex()
        else:
            kind = (tag.get("vType") or "STRING").lower()
            field, zero = _DOMAIN_VALUES.get(kind, ("vStr", ""))
            value = tag.get(field, zero)
            if kind == "binary":
                value = base64.b64decode(value).hex()
        if kind in ("int64", "int"):
            value = json_number(value, tag.get("key", "tag"), int)
        elif kind in ("float64", "float"):
            value = float(value) if value is not None else None
        elif kind == "bool" and isinstance(value, str):
            value = value.lower() == "true"
        out[tag["key"]] = value
    return out


def _es_tag_map(tag) -> dict:
    """Elasticsearch's `tag` object (tags stored as fields, dots written as @)."""
    return {k.replace("@", "."): v for k, v in tag.items()} if isinstance(tag, dict) else {}


def _status(tags: dict) -> tuple[str, str | None]:
    code = tags.get("otel.status_code")
    if tags.get("error") in (True, "true") or str(code).upper() == "ERROR":
        return "error", tags.get("otel.status_description") or tags.get("error.message")
    return ("ok", None) if str(code).upper() == "OK" else ("unset", None)


def parse_jaeger(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Jaeger UI/API JSON: {"data": [trace, ...]}."""
    doc = load_json(read_all(stream), "a Jaeger trace")
    traces = _jaeger_traces(doc)
    if traces is None:
        raise ParseError('not a Jaeger trace file: expected {"data": [{"traceID", "spans", "processes"}]}, '
                         'a trace, or spans')
    rows = SpanRows("jaeger")
    for t, trace in enumerate(traces):
        if not isinstance(trace, dict):
            rows.error(f"data[{t}]", "skipped: not an object")
            continue
        processes = trace.get("processes") or {}
        for i, span in enumerate(trace.get("spans") or []):
            try:
                _jaeger_span(span, processes, rows)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                rows.error(f"data[{t}].spans[{i}]", f"skipped: {exc}", None, orjson.dumps(span).decode())
        yield from rows.flush()
    yield from rows.flush(final=True)


def _jaeger_traces(doc) -> list | None:
    """The traces of what the UI and API serve ({"data": [...]}), of the
    api_v2 JSON ({"result": {"spans": [...]}}), of one trace, of a list of
    spans or of one span (an Elasticsearch document)."""
    if isinstance(doc, dict):
        if isinstance(doc.get("data"), list):
            return doc["data"]
        if isinstance(doc.get("result"), dict):
            doc = doc["result"]
        if isinstance(doc.get("spans"), list):
            return [doc]
        if "spanID" in doc or "spanId" in doc:
            return [{"spans": [doc]}]
    if isinstance(doc, list) and all(isinstance(x, dict) for x in doc):
        if all("spans" in x for x in doc):
            return doc
        if all("spanID" in x or "spanId" in x for x in doc):
            return [{"spans": doc}]
    return None


def _jaeger_trace_id(value) -> str | None:
    """Jaeger prints a 128-bit trace id whose high half is zero as 16 hex
    digits (model.TraceID.String), which is how the UI JSON carries it."""
    trace_id = hex_id(value, "traceId")
    if trace_id and len(trace_id) == 32 and trace_id.startswith("0" * 16):
        return trace_id[16:]
    return trace_id


def _jaeger_time_ns(value, what: str) -> int | None:
    """UI/ES times are microseconds since the epoch, the domain model's RFC 3339."""
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return rfc3339_ns(value)
    micros = json_number(value, what, int)
    return micros * 1000 if micros is not None else None


def _jaeger_duration_ns(value) -> int | None:
    """UI/ES durations are microseconds, the domain model's Go durations ("5000ns")."""
    if isinstance(value, str) and value.strip()[-1:].isalpha():
        return go_duration_ns(value)
    micros = json_number(value, "duration", int)
    return micros * 1000 if micros is not None else None


def _jaeger_span(span: dict, processes: dict, rows: SpanRows) -> None:
    trace_id = _jaeger_trace_id(span.get("traceID", span.get("traceId")))
    span_id = hex_id(span.get("spanID", span.get("spanId")), "spanID")
    if not trace_id or not span_id:
        raise ValueError("traceID and spanID are required")
    process = span.get("process") or processes.get(span.get("processID")) or {}
    # Elasticsearch documents (process inline, not by processID) hold binary tags in hex, the UI in base64.
    base64_binary = not ("process" in span and "processID" not in span)
    tags = jaeger_tags(span.get("tags"), base64_binary) | _es_tag_map(span.get("tag"))
    parent = hex_id(span.get("parentSpanID"), "parentSpanID")
    for ref in span.get("references") or []:
        kind = (ref.get("refType") or "child_of").lower()  # jsonpb leaves out CHILD_OF, enum 0
        ref_trace = _jaeger_trace_id(ref.get("traceID", ref.get("traceId")))
        ref_span = hex_id(ref.get("spanID", ref.get("spanId")))
        if kind == "child_of" and parent is None and ref_trace == trace_id:
            parent = ref_span
        else:
            rows.links.append(dict(trace_id=trace_id, span_id=span_id, linked_trace_id=ref_trace,
                                   linked_span_id=ref_span, kind=kind))
    code, message = _status(tags)
    rows.spans.append(dict(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, service=process.get("serviceName"),
        name=span.get("operationName"), kind=tags.get("span.kind"),
        start_ns=_jaeger_time_ns(span.get("startTime"), "startTime"),
        duration_ns=_jaeger_duration_ns(span.get("duration")), status_code=code, status_message=message,
        attributes=json_text(tags), resource=json_text(jaeger_tags(process.get("tags"), base64_binary) | _es_tag_map(process.get("tag"))),
        scope=tags.get("otel.scope.name") or tags.get("otel.library.name"), format="jaeger"))
    for log in span.get("logs") or []:
        fields = jaeger_tags(log.get("fields"), base64_binary)
        rows.events.append(dict(trace_id=trace_id, span_id=span_id,
                                ts_ns=_jaeger_time_ns(log.get("timestamp"), "log timestamp"),
                                name=fields.get("event") or "log", attributes=json_text(fields)))
