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

import io
import re
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ...errors import ParseError
from .. import ParseOptions, json_number
from . import otlp_columnar
from .spans import SpanRows, hex_id, json_text, load_json, read_all

_HEAD = 4 << 20  # read first, to tell JSON lines from a document
# JSON lines read per block after the head: 2 MB keeps the parser's own peak
# about 35 MB lower than 4 MB did, at no cost in time on the SDK's 700 KB lines.
_BLOCK = 2 << 20
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
    """OTLP KeyValues as a dict; ValueError for one that is not an object
    with a string `key`."""
    if not kvs:
        return {}
    if not isinstance(kvs, list):
        raise ValueError("attributes is not a list")
    try:
        return {kv["key"]: any_value(kv.get("value")) for kv in kvs}
    except (KeyError, TypeError, AttributeError):
        pass
    for i, kv in enumerate(kvs):  # say which one is wrong
        if not isinstance(kv, dict) or type(kv.get("key")) is not str:
            raise ValueError(f"attribute {i} is not an object with a string 'key': {excerpt_json(kv)}")
    return {kv["key"]: any_value(kv.get("value")) for kv in kvs}


def excerpt_json(value, limit: int = 80) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, bytes) else value.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "..."


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
    resource_spans = doc["resourceSpans"] or []
    if not isinstance(resource_spans, list):
        raise ValueError("resourceSpans is not a list")
    for r, rs in enumerate(resource_spans):
        try:
            _resource_spans(r, rs, rows, line)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # its resource or scopes: none of its spans
            rows.error(f"resourceSpans[{r}]", f"skipped: {exc}", line, excerpt_json(rs, 200))


def _resource_spans(r: int, rs: dict, rows: SpanRows, line: int | None) -> None:
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
    attrs = orjson.dumps(attributes(attrs)).decode() if attrs else None
    # events and links before the span is added: a span that cannot be read is skipped whole
    events = [dict(trace_id=trace_id, span_id=span_id, ts_ns=json_number(ev.get("timeUnixNano"), "timeUnixNano", int),
                   name=ev.get("name"), attributes=json_text(attributes(ev.get("attributes"))))
              for ev in span.get("events") or []]
    links = [dict(trace_id=trace_id, span_id=span_id, linked_trace_id=hex_id(link.get("traceId")),
                  linked_span_id=hex_id(link.get("spanId")), kind="link",
                  attributes=json_text(attributes(link.get("attributes"))))
             for link in span.get("links") or []]
    rows.spans.add(
        trace_id, span_id, _id(span.get("parentSpanId"), "parentSpanId"), service, span.get("name"),
        _KIND_ANY[kind] if kind in _KIND_ANY else _enum(kind, _KINDS, "SPAN_KIND_"),
        start, end - start if start is not None and end is not None else None,
        _STATUS_ANY[code] if code in _STATUS_ANY else (_enum(code, _STATUS, "STATUS_CODE_") or "unset"),
        status.get("message") or None, attrs, resource_json, scope, "otlp", line)
    rows.events.extend(events)
    rows.links.extend(links)


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
        return True
    except orjson.JSONDecodeError:
        return False


def _json_lines(head: bytes) -> bool | None:
    """Whether a file starting with `head` is JSON lines (True) or one
    document (False); None when only the whole file can tell.

    The first line a whole JSON value: lines. Else another line that starts
    with `{` (a pretty-printed document's nested lines are indented) and
    parses: lines, its first line damaged. Else, when other lines start with
    `{`, a document if the whole file parses, lines if not."""
    first, _, rest = head.partition(b"\n")
    if _is_json(first):
        return True
    complete = rest.rsplit(b"\n", 1)[0] if rest.endswith(b"\n") or len(head) >= _HEAD else rest
    starts = [line for line in complete.split(b"\n") if line.startswith(b"{")]
    if not starts:  # one document, unless its first line is longer than the head
        return None if b"\n" not in head and len(head) >= _HEAD else False
    if any(_is_json(line) for line in starts[:16]):
        return True
    return None


def parse_otlp(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """OTLP JSON: JSON lines of documents, streamed, else one (pretty-printed)
    document (see _json_lines). A line that cannot be read is an error row
    with its line number, the other lines are kept."""
    opt = options or ParseOptions()
    rows = SpanRows("otlp")
    head = stream.read(_HEAD)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    lines_mode = _json_lines(head)
    if not lines_mode:
        data = head + read_all(stream)
        if lines_mode is None:  # a damaged first line, or a document? the document if it parses whole
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                stream = io.BytesIO(data)  # read in blocks all the same: the columnar reader's memory stays bounded
                lines_mode, head = True, stream.read(_HEAD)
        else:
            doc = load_json(data, "an OTLP document")
    if not lines_mode:
        try:
            _otlp_document(doc, rows, None)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
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
        if not block or block.isspace():  # (bytes.strip's whitespace, without copying the block)
            continue
        for part, valid in _utf8_parts(block if block.endswith(b"\n") else block + b"\n"):
            batches = otlp_columnar.spans_of_lines(part, lineno + 1) if opt.columnar and valid else None
            if batches is not None:  # the common shape, read column-wise
                yield from batches
                lineno += part.count(b"\n")
                continue
            for line in part.split(b"\n")[:-1]:
                lineno += 1
                read_line(line, lineno, rows)
            yield from rows.flush()
    pa.default_memory_pool().release_unused()  # what the blocks' Arrow memory held goes back before the store's load ends
    yield from rows.flush(final=True)


def _utf8_parts(block: bytes) -> Iterator[tuple[bytes, bool]]:
    """A block of whole lines as runs of lines, each with whether it is
    valid UTF-8: the columnar reader does not check, the per-line reader
    does (and reads a line of invalid UTF-8 with U+FFFD)."""
    if block.isascii():  # the usual case, checked without decoding
        yield block, True
        return
    while block:
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = block.rfind(b"\n", 0, exc.start) + 1
            end = block.find(b"\n", exc.start) + 1 or len(block)
            if bad:
                yield block[:bad], True
            yield block[bad:end], False
            block = block[end:]
            continue
        yield block, True
        return


def read_line(part: bytes, lineno: int, rows: SpanRows) -> None:
    if not part.strip():
        return
    try:
        doc = orjson.loads(part)
    except orjson.JSONDecodeError as exc:
        try:
            part.decode("utf-8")
        except UnicodeDecodeError as bad:
            # invalid UTF-8: read it with U+FFFD in place of the bad bytes, and say so
            text = part.decode("utf-8", "replace")
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                rows.error(f"line {lineno}", f"not valid JSON (and not valid UTF-8 at byte {bad.start}): {exc}",
                           lineno, text[:200])
                return
            rows.error(f"line {lineno}", f"not valid UTF-8 at byte {bad.start}: read with U+FFFD in its place",
                       lineno, text[max(0, bad.start - 100):bad.start + 100])
        else:
            rows.error(f"line {lineno}", f"not valid JSON: {exc}", lineno, part[:200].decode("utf-8", "replace"))
            return
    try:
        _otlp_document(doc, rows, lineno)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        rows.error(f"line {lineno}", f"not an OTLP trace document: {exc}", lineno,
                   part[:200].decode("utf-8", "replace"))
