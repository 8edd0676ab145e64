"""OTLP JSON -> spans, span_events, span_links.

opentelemetry-proto's JSON mapping, as the collector's file exporter and
opentelemetry-exporter-otlp-json-file write it: a ``{"resourceSpans":
[...]}`` document, or JSON lines of them. Ids are hex (base64, the generic
proto3 mapping, is accepted too), 64-bit integers may be strings, enums
integers or names, attribute values any AnyValue. JSON lines of the common
shape are read column-wise by :mod:`.otlp_columnar`, the rest span by span
here.

>>> import io
>>> doc = (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c",'
...        b' "spanId": "b7ad6b7169203331", "name": "GET", "startTimeUnixNano": "1", "endTimeUnixNano": "5"}]}]}]}')
>>> [(t, b.num_rows) for t, b in parse_otlp(io.BytesIO(doc))]
[('spans', 1)]
"""
from __future__ import annotations

import re
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ...errors import ParseError
from .. import ParseOptions, json_number
from . import otlp_columnar
from .spans import SpanRows, hex_id, json_text, load_json, read_all

_BLOCK = 4 << 20  # JSON lines read per block
_KINDS = {0: None, 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}
# kind and status code as integers or enum names, straight to their text.
_KIND_ANY = {**_KINDS, **{f"SPAN_KIND_{v.upper()}": v for v in _KINDS.values() if v}, "SPAN_KIND_UNSPECIFIED": None,
             None: None}
_STATUS_ANY = {**_STATUS, **{f"STATUS_CODE_{v.upper()}": v for v in _STATUS.values()}}
_LOWER_HEX = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


def any_value(v):
    """An OTLP AnyValue as a plain JSON value."""
    if not isinstance(v, dict):
        return v
    if len(v) == 1 and "stringValue" in v:  # the usual case first
        value = v["stringValue"]
        return value if type(value) is str else (None if value is None else str(value))
    for key, conv in (("stringValue", str), ("boolValue", bool), ("doubleValue", float)):
        if key in v:
            return conv(v[key]) if v[key] is not None else None
    if "intValue" in v:
        return json_number(v["intValue"], "intValue", int)
    if "arrayValue" in v:
        return [any_value(x) for x in (v["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in v:
        return attributes((v["kvlistValue"] or {}).get("values"))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attributes(kvs) -> dict:
    if not kvs:
        return {}
    if not isinstance(kvs, list):
        raise ValueError("attributes is not a list")
    return {kv["key"]: any_value(kv.get("value")) for kv in kvs}


def _enum(value, names: dict[int, str | None], prefix: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.isdigit():
        name = value.removeprefix(prefix).lower()
        return None if name == "unspecified" else name
    return names.get(int(value))


def _otlp_document(doc, rows: SpanRows, line: int | None) -> None:
    if isinstance(doc, dict) and isinstance(doc.get("result"), dict):
        doc = doc["result"]  # the Jaeger API v3 wraps it
    if not isinstance(doc, dict) or "resourceSpans" not in doc:
        raise ValueError("expected an object with resourceSpans")
    for r, rs in enumerate(doc["resourceSpans"] or []):
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        service, resource_json = resource.get("service.name"), json_text(resource)
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            scope = (ss.get("scope") or ss.get("instrumentationLibrary") or {}).get("name")
            for i, span in enumerate(ss.get("spans") or []):
                try:
                    _otlp_span(span, rows, service, resource_json, scope, line)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    rows.error(f"resourceSpans[{r}] span {i}", f"skipped: {exc}", line, orjson.dumps(span).decode())


def _id(value, what: str) -> str | None:
    """hex_id with a fast path for the usual lowercase hex."""
    if type(value) is str and _LOWER_HEX.fullmatch(value):
        return value
    return hex_id(value, what)


def _otlp_span(span: dict, rows: SpanRows, service, resource_json, scope, line) -> None:
    trace_id, span_id = _id(span.get("traceId"), "traceId"), _id(span.get("spanId"), "spanId")
    if not trace_id or not span_id:
        raise ValueError("traceId and spanId are required")
    start, end = span.get("startTimeUnixNano"), span.get("endTimeUnixNano")
    start = None if start is None or start == "" else int(start)
    end = None if end is None or end == "" else int(end)
    status = span.get("status") or {}
    kind = span.get("kind")
    code = status.get("code", 0)
    attrs = span.get("attributes")
    rows.spans.add(
        trace_id, span_id, _id(span.get("parentSpanId"), "parentSpanId"), service, span.get("name"),
        _KIND_ANY[kind] if kind in _KIND_ANY else _enum(kind, _KINDS, "SPAN_KIND_"),
        start, end - start if start is not None and end is not None else None,
        _STATUS_ANY[code] if code in _STATUS_ANY else (_enum(code, _STATUS, "STATUS_CODE_") or "unset"),
        status.get("message") or None, orjson.dumps(attributes(attrs)).decode() if attrs else None,
        resource_json, scope, "otlp", line)
    for ev in span.get("events") or []:
        ts = json_number(ev.get("timeUnixNano"), "timeUnixNano", int)
        rows.events.append(dict(trace_id=trace_id, span_id=span_id, ts_ns=ts, name=ev.get("name"),
                                attributes=json_text(attributes(ev.get("attributes")))))
    for link in span.get("links") or []:
        rows.links.append(dict(trace_id=trace_id, span_id=span_id, linked_trace_id=hex_id(link.get("traceId")),
                               linked_span_id=hex_id(link.get("spanId")), kind="link",
                               attributes=json_text(attributes(link.get("attributes")))))


def parse_otlp(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """OTLP JSON: JSON lines of documents, streamed (when the first line is
    a whole document), else one (pretty-printed) document."""
    opt = options or ParseOptions()
    rows = SpanRows("otlp")
    head = stream.read(1 << 22)
    first = head.split(b"\n", 1)[0]
    try:
        orjson.loads(first)
        lines_mode = True
    except orjson.JSONDecodeError:
        lines_mode = False
    if not lines_mode:
        doc = load_json(head + read_all(stream), "an OTLP document")
        try:
            _otlp_document(doc, rows, None)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ParseError(f"not an OTLP trace document: {exc}") from None
        yield from rows.flush(final=True)
        return
    lineno, carry, chunk = 0, b"", head
    while chunk or carry:
        more = stream.read(_BLOCK) if chunk else b""
        data = carry + chunk
        cut = data.rfind(b"\n") + 1 if more else len(data)
        block, carry = data[:cut], data[cut:]
        chunk = more
        if not block.strip():
            continue
        batches = None if not opt.columnar else otlp_columnar.spans_of_lines(block if block.endswith(b"\n") else block + b"\n", lineno + 1)
        if batches is not None:  # the common shape, read column-wise
            yield from batches
            lineno += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            continue
        for part in block.split(b"\n")[:-1] if block.endswith(b"\n") else block.split(b"\n"):
            lineno += 1
            read_line(part, lineno, rows)
        yield from rows.flush()
    yield from rows.flush(final=True)


def read_line(part: bytes, lineno: int, rows: SpanRows) -> None:
    if not part.strip():
        return
    try:
        _otlp_document(orjson.loads(part), rows, lineno)
    except orjson.JSONDecodeError as exc:
        rows.error(f"line {lineno}", f"not valid JSON: {exc}", lineno, part[:200].decode("utf-8", "replace"))
    except (ValueError, TypeError, AttributeError) as exc:
        rows.error(f"line {lineno}", f"not an OTLP trace document: {exc}", lineno,
                   part[:200].decode("utf-8", "replace"))
