"""Distributed-tracing JSON -> spans, span_events, span_links.

Three formats, each read as its producers write it:

- OTLP JSON (opentelemetry-proto's JSON mapping, what the collector's file
  exporter and opentelemetry-exporter-otlp-json-file write): a
  ``{"resourceSpans": [...]}`` document, or JSON lines of them. Ids are hex
  (base64, the generic proto3 mapping, is accepted too), 64-bit integers
  may be strings, enums integers or names, attribute values any AnyValue.
- Jaeger JSON as the UI and query API serve it: ``{"data": [{"traceID",
  "spans", "processes"}]}``; times in microseconds; CHILD_OF gives the
  parent, other references become links; logs become events. Also the
  Elasticsearch span documents (process inline, ``tag`` maps) and the
  api_v2 jsonpb domain model (base64 ids, RFC 3339 times, Go durations,
  vType/vStr tags), so every Jaeger export reads the same.
- Zipkin v2 JSON: a bare array of spans, times in microseconds, timestamp
  and duration optional, annotations as events.

A span that cannot be read (wrong types, missing ids) is reported in
``ingest_errors`` with where it is (line of a JSON-lines file, or trace and
span index) and skipped; the others are kept.

>>> import io
>>> doc = b'[{"traceId": "AB12", "id": "01", "name": "get", "timestamp": 1700000000000000, "duration": 1500}]'
>>> [(t, b.num_rows) for t, b in parse_zipkin(io.BytesIO(doc))]
[('spans', 1)]
"""
from __future__ import annotations

import base64
import binascii
import re
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ParseError
from . import ParseOptions, excerpt, go_duration_ns, json_number, otlp_arrow, rfc3339_ns
from ..schema import TABLES
from .tables import dict_batch

BATCH = 1 << 14
_BLOCK = 4 << 20  # JSON lines read per block
_KINDS = {0: None, 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_TEXT_COLUMNS = ("service", "name", "kind", "status_message", "scope")
# kind and status code as integers or enum names, straight to their text.
_KIND_ANY = {**_KINDS, **{f"SPAN_KIND_{v.upper()}": v for v in _KINDS.values() if v}, "SPAN_KIND_UNSPECIFIED": None,
             None: None}
_STATUS_ANY = {**_STATUS, **{f"STATUS_CODE_{v.upper()}": v for v in _STATUS.values()}}
_LOWER_HEX = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


def _json(value) -> str | None:
    return orjson.dumps(value).decode() if value else None


def hex_id(value, what: str = "id") -> str | None:
    """Lowercase hex of a trace or span id given as hex (any case) or base64."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    try:
        int(value, 16)
        return value.lower()
    except ValueError:
        pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} {value[:40]!r} is neither hex nor base64") from None
    return raw.hex() or None


_SPAN_COLUMNS = ["trace_id", "span_id", "parent_span_id", "service", "name", "kind", "start_ns", "duration_ns",
                 "status_code", "status_message", "attributes", "resource", "scope", "format", "line"]


class _Spans:
    """spans rows kept column-wise: appending a span is a list append per
    column, and a batch is one Arrow conversion per column."""

    def __init__(self):
        self.cols: dict[str, list] = {c: [] for c in _SPAN_COLUMNS}
        self._appends = [self.cols[c].append for c in _SPAN_COLUMNS]

    def append(self, row: dict) -> None:
        for col, add in zip(_SPAN_COLUMNS, self._appends):
            add(row.get(col))

    def add(self, *values) -> None:
        """A span given as values in _SPAN_COLUMNS order (the fast path)."""
        for add, value in zip(self._appends, values):
            add(value)

    def __len__(self) -> int:
        return len(self.cols["span_id"])

    def take(self) -> pa.RecordBatch:
        cols, self.cols = self.cols, {c: [] for c in _SPAN_COLUMNS}
        self._appends = [self.cols[c].append for c in _SPAN_COLUMNS]
        for key in _TEXT_COLUMNS:  # text columns hold text, whatever type a producer wrote there
            values = cols[key]
            if not all(v is None or type(v) is str for v in values):
                cols[key] = [v if v is None or type(v) is str else (
                    orjson.dumps(v).decode() if isinstance(v, (dict, list)) else str(v)) for v in values]
        n = len(cols["span_id"])
        schema = TABLES["spans"].arrow_schema
        arrays = [pa.nulls(n, f.type) if f.name == "start_ts" else pa.array(cols[f.name], type=f.type)
                  for f in schema]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _Rows:
    """spans / span_events / span_links rows, flushed as batches."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.spans = _Spans()
        self.events: list[dict] = []
        self.links: list[dict] = []
        self.errors: list[dict] = []

    def error(self, where: str, message: str, line: int | None = None, text: str | None = None) -> None:
        self.errors.append(dict(line=line, message=f"{where}: {message}", excerpt=excerpt(text) if text else None))

    def flush(self, final: bool = False) -> Iterator[tuple[str, pa.RecordBatch]]:
        if len(self.spans) and (final or len(self.spans) >= BATCH):
            yield "spans", _with_times("spans", self.spans.take())
        for table, rows in (("span_events", self.events), ("span_links", self.links)):
            if rows and (final or len(rows) >= BATCH):
                for row in rows:
                    if row.get("name") is not None and not isinstance(row["name"], str):
                        row["name"] = str(row["name"])
                yield table, _with_times(table, dict_batch(table, rows))
                rows.clear()
        if final and self.errors:
            yield "ingest_errors", dict_batch("ingest_errors", self.errors)
            self.errors = []


_TIMES = {"spans": ("start_ts", "start_ns"), "span_events": ("ts", "ts_ns")}


def _with_times(table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
    """The TIMESTAMP column from its nanoseconds column, column-wise."""
    if table not in _TIMES:
        return batch
    ts_col, ns_col = _TIMES[table]
    ns = batch.column(ns_col)
    ts = pc.divide(ns, 1000).cast(pa.timestamp("us"))
    return batch.set_column(batch.schema.get_field_index(ts_col), ts_col, ts)


def _read(stream: BinaryIO) -> bytes:
    chunks = []
    while chunk := stream.read(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _load(data: bytes, what: str):
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON ({what}): {exc}") from None


# --- OTLP ------------------------------------------------------------------

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


def _otlp_document(doc, rows: _Rows, line: int | None) -> None:
    if isinstance(doc, dict) and isinstance(doc.get("result"), dict):
        doc = doc["result"]  # the Jaeger API v3 wraps it
    if not isinstance(doc, dict) or "resourceSpans" not in doc:
        raise ValueError("expected an object with resourceSpans")
    for r, rs in enumerate(doc["resourceSpans"] or []):
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        service, resource_json = resource.get("service.name"), _json(resource)
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


def _otlp_span(span: dict, rows: _Rows, service, resource_json, scope, line) -> None:
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
                                attributes=_json(attributes(ev.get("attributes")))))
    for link in span.get("links") or []:
        rows.links.append(dict(trace_id=trace_id, span_id=span_id, linked_trace_id=hex_id(link.get("traceId")),
                               linked_span_id=hex_id(link.get("spanId")), kind="link",
                               attributes=_json(attributes(link.get("attributes")))))


def parse_otlp(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """OTLP JSON: JSON lines of documents, streamed (when the first line is
    a whole document), else one (pretty-printed) document."""
    rows = _Rows("otlp")
    head = stream.read(1 << 22)
    first = head.split(b"\n", 1)[0]
    try:
        orjson.loads(first)
        lines_mode = True
    except orjson.JSONDecodeError:
        lines_mode = False
    if not lines_mode:
        doc = _load(head + _read(stream), "an OTLP document")
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
        batches = otlp_arrow.spans_of_lines(block if block.endswith(b"\n") else block + b"\n", lineno + 1)
        if batches is not None:  # the common shape, read column-wise
            yield from batches
            lineno += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            continue
        for part in block.split(b"\n")[:-1] if block.endswith(b"\n") else block.split(b"\n"):
            lineno += 1
            _otlp_line(part, lineno, rows)
        yield from rows.flush()
    yield from rows.flush(final=True)


def _otlp_line(part: bytes, lineno: int, rows: _Rows) -> None:
    if not part.strip():
        return
    try:
        _otlp_document(orjson.loads(part), rows, lineno)
    except orjson.JSONDecodeError as exc:
        rows.error(f"line {lineno}", f"not valid JSON: {exc}", lineno, part[:200].decode("utf-8", "replace"))
    except (ValueError, TypeError, AttributeError) as exc:
        rows.error(f"line {lineno}", f"not an OTLP trace document: {exc}", lineno,
                   part[:200].decode("utf-8", "replace"))


# --- Jaeger ----------------------------------------------------------------

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
    doc = _load(_read(stream), "a Jaeger trace")
    traces = _jaeger_traces(doc)
    if traces is None:
        raise ParseError('not a Jaeger trace file: expected {"data": [{"traceID", "spans", "processes"}]}, '
                         'a trace, or spans')
    rows = _Rows("jaeger")
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


def _jaeger_span(span: dict, processes: dict, rows: _Rows) -> None:
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
        attributes=_json(tags), resource=_json(jaeger_tags(process.get("tags"), base64_binary) | _es_tag_map(process.get("tag"))),
        scope=tags.get("otel.scope.name") or tags.get("otel.library.name"), format="jaeger"))
    for log in span.get("logs") or []:
        fields = jaeger_tags(log.get("fields"), base64_binary)
        rows.events.append(dict(trace_id=trace_id, span_id=span_id,
                                ts_ns=_jaeger_time_ns(log.get("timestamp"), "log timestamp"),
                                name=fields.get("event") or "log", attributes=_json(fields)))


# --- Zipkin ----------------------------------------------------------------

def parse_zipkin(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Zipkin v2 JSON: a bare array of spans."""
    doc = _load(_read(stream), "Zipkin spans")
    if isinstance(doc, dict) and "traceId" in doc:
        doc = [doc]  # one span
    if not isinstance(doc, list):
        raise ParseError("not a Zipkin v2 file: expected a JSON array of spans")
    rows = _Rows("zipkin")
    for i, span in enumerate(doc):
        try:
            _zipkin_span(span, rows)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            rows.error(f"span {i}", f"skipped: {exc}", None, orjson.dumps(span).decode())
        if len(rows.spans) >= BATCH:
            yield from rows.flush()
    yield from rows.flush(final=True)


def _zipkin_span(span: dict, rows: _Rows) -> None:
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
        attributes=_json(attrs), resource=_json(resource), format="zipkin"))
    for ann in span.get("annotations") or []:
        ts = json_number(ann.get("timestamp"), "annotation timestamp", int)
        rows.events.append(dict(trace_id=trace_id, span_id=span_id, ts_ns=ts * 1000 if ts is not None else None,
                                name=ann.get("value")))


def span_format(head: bytes) -> str | None:
    """`otlp`, `jaeger` or `zipkin` when the start of a JSON file looks like one.

    >>> span_format(b'{"resourceSpans": []}'), span_format(b'[{"traceId": "a", "id": "b"}]')
    ('otlp', 'zipkin')
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text[:1] in (b"{", b"["):
        return None
    if b'"resourceSpans"' in text[:4096]:
        return "otlp"
    if b'"traceID"' in text[:4096] and (b'"spanID"' in text or b'"spans"' in text):
        return "jaeger"
    if b'"traceId"' in text[:4096] and b'"spanId"' in text[:4096] and b'"operationName"' in text[:4096]:
        return "jaeger"  # the jsonpb domain model (api_v2)
    if b'"traceId"' in text[:4096] and b'"id"' in text[:4096] and b'"ph"' not in text[:4096]:
        return "zipkin"
    return None
