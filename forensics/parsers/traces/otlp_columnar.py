"""OTLP JSON lines read column-wise: pyarrow's JSON reader, then Arrow compute.

The common shape (what the SDK and collector file exporters write: hex ids,
int64 as strings, enums as integers, attributes of string, int, double,
bool values and arrays of them, events and links) is read by pyarrow.json with an explicit
schema, and the `spans` columns are computed without a Python loop per span:
the nested lists are flattened with their parent indices, enums mapped with
a take, and attribute objects assembled as JSON text with string kernels.
A block of lines in any other shape returns None, and the caller reads it
with the per-span path (forensics.parsers.spans), which handles everything.

>>> block = (b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},'
...          b'"scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c",'
...          b'"spanId":"b7ad6b7169203331","name":"GET /","kind":2,"startTimeUnixNano":"1000",'
...          b'"endTimeUnixNano":"3000","attributes":[{"key":"n","value":{"intValue":"7"}},'
...          b'{"key":"v","value":{"doubleValue":40.0}},{"key":"q","value":{"stringValue":"say \\\\"hi\\\\""}}],'
...          b'"status":{}}]}]}]}\\n')
>>> batch = dict(spans_of_lines(block, first_line=1))["spans"]
>>> batch.column("attributes").to_pylist(), batch.column("duration_ns").to_pylist()
(['{"n":7,"v":40.0,"q":"say \\\\"hi\\\\""}'], [2000])
"""
from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ...db.schema import TABLES
from .. import arrow_constant

_SCALAR = [("stringValue", pa.string()), ("intValue", pa.string()), ("doubleValue", pa.float64()),
           ("boolValue", pa.bool_())]
# Arrays of scalars are read too; a kvlist or bytes value sends the block to the per-span path.
_VALUE = pa.struct(_SCALAR + [("arrayValue", pa.struct([("values", pa.list_(pa.struct(_SCALAR)))]))])
_ATTRS = pa.list_(pa.struct([("key", pa.string()), ("value", _VALUE)]))
_SPAN = pa.struct([
    ("traceId", pa.string()), ("spanId", pa.string()), ("parentSpanId", pa.string()), ("traceState", pa.string()),
    ("flags", pa.int64()), ("name", pa.string()), ("kind", pa.int64()), ("startTimeUnixNano", pa.string()),
    ("endTimeUnixNano", pa.string()), ("attributes", _ATTRS), ("droppedAttributesCount", pa.int64()),
    ("droppedEventsCount", pa.int64()), ("droppedLinksCount", pa.int64()),
    ("status", pa.struct([("code", pa.int64()), ("message", pa.string())])),
    ("events", pa.list_(pa.struct([("timeUnixNano", pa.string()), ("name", pa.string()), ("attributes", _ATTRS),
                                   ("droppedAttributesCount", pa.int64())]))),
    ("links", pa.list_(pa.struct([("traceId", pa.string()), ("spanId", pa.string()), ("traceState", pa.string()),
                                  ("attributes", _ATTRS), ("droppedAttributesCount", pa.int64()),
                                  ("flags", pa.int64())]))),
])
SCHEMA = pa.schema([("resourceSpans", pa.list_(pa.struct([
    ("resource", pa.struct([("attributes", _ATTRS), ("droppedAttributesCount", pa.int64())])),
    ("schemaUrl", pa.string()),
    ("scopeSpans", pa.list_(pa.struct([
        ("scope", pa.struct([("name", pa.string()), ("version", pa.string())])),
        ("schemaUrl", pa.string()),
        ("spans", pa.list_(_SPAN)),
    ]))),
])))])
_PARSE = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="error", newlines_in_values=False)
_KINDS = (None, "internal", "server", "client", "producer", "consumer")
_CODES = ("unset", "ok", "error")
_HEX_ID = r"^[0-9a-f]{16}([0-9a-f]{16})?$"


def _cat(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


# JSON's two-character escapes, as orjson writes them (backslash first).
_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"),
            ("\f", "\\f")]


def _json_string(values: pa.Array, escapes: bool = True) -> pa.Array | None:
    """Strings as JSON string literals, escaped as orjson escapes them;
    None when one holds another control character (written as \\u00XX).
    `escapes` False: the block they come from holds no backslash, so no
    string holds a quote, backslash or control character (JSON writes them
    escaped, and the reader refuses them raw): nothing to escape."""
    if not escapes:
        return _cat('"', values, '"')
    if pc.any(pc.match_substring_regex(values, r"[\x00-\x07\x0b\x0e-\x1f]")).as_py():
        return None
    if pc.any(pc.match_substring_regex(values, r'["\\\x08-\x0a\x0c\x0d]')).as_py():
        for raw, escaped in _ESCAPES:
            values = pc.replace_substring(values, raw, escaped)
    return _cat('"', values, '"')


def _scalars_json(values: pa.StructArray, escapes: bool = True) -> pa.Array | None:
    """OTLP scalar AnyValues (string, int, double, bool) as JSON texts,
    written as orjson writes them; None when one cannot be. A kind no value
    has costs nothing."""
    n = len(values)
    sv, iv, dv, bv = (values.field(k) for k in ("stringValue", "intValue", "doubleValue", "boolValue"))
    parts = []
    if sv.null_count < n:
        str_json = _json_string(sv, escapes)
        if str_json is None:
            return None
        parts.append(str_json)
    if iv.null_count < n:
        if pc.any(pc.invert(pc.match_substring_regex(iv, r"^-?[0-9]+$"))).as_py():
            return None
        parts.append(pc.cast(pc.cast(iv, pa.int64()), pa.string()))
    if dv.null_count < n:
        if pc.any(pc.is_inf(dv)).as_py() or pc.any(pc.is_nan(dv)).as_py():
            return None
        double = pc.cast(dv, pa.string())
        # Arrow writes 40.0 as "40": keep it a double in the JSON, as orjson writes it.
        parts.append(pc.if_else(pc.match_substring_regex(double, r"^-?[0-9]+$"), _cat(double, ".0"), double))
    if bv.null_count < n:
        parts.append(pc.if_else(bv, "true", "false"))
    if not parts:
        return pa.nulls(n, pa.string())
    return pc.coalesce(*parts) if len(parts) > 1 else parts[0]


def _list_json(lists: pa.ListArray, items: pa.Array, open_: str, close: str) -> pa.Array:
    """Per list, its items' JSON texts joined as `open_ ... close`."""
    offsets = lists.offsets
    if len(offsets) and offsets[0].as_py():  # a slice: its offsets point into a larger child array
        offsets = pc.subtract(offsets, offsets[0])
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, items), ",")
    return _cat(open_, pc.fill_null(joined, ""), close)


def _attributes_json(attrs: pa.ListArray, escapes: bool = True) -> pa.Array | None:
    """Each span's attribute list as a JSON object text (NULL when empty)."""
    flat = attrs.flatten()
    if len(flat) == 0:
        return pa.nulls(len(attrs), pa.string())
    keys, values = flat.field("key"), flat.field("value")
    if keys.null_count:  # an attribute without a key: the per-span path says so
        return None
    key_json, scalar_json = _json_string(keys, escapes) if escapes else keys, _scalars_json(values, escapes)
    if key_json is None or scalar_json is None:
        return None
    value_json = pc.coalesce(scalar_json, pa.scalar("null"))
    arrays = values.field("arrayValue")
    if arrays.null_count < len(arrays):  # some array values: their JSON where the scalars have none
        items = arrays.field("values")
        item_json = _scalars_json(items.flatten(), escapes)
        if item_json is None:
            return None
        array_json = pc.if_else(pc.is_valid(arrays), _list_json(items, pc.fill_null(item_json, "null"), "[", "]"),
                                pa.nulls(len(arrays), pa.string()))
        value_json = pc.coalesce(scalar_json, array_json, pa.scalar("null"))
    pairs = _cat(key_json, ":", value_json) if escapes else _cat('"', keys, '":', value_json)  # one pass, not two
    joined = _list_json(attrs, pairs, "{", "}")
    return pc.if_else(pc.greater(pc.list_value_length(attrs), 0), joined, pa.nulls(len(attrs), pa.string()))


def spans_of_lines(block: bytes, first_line: int) -> list[tuple[str, pa.RecordBatch]] | None:
    """`spans` (and span_events, span_links) batches of a block of complete
    OTLP JSON lines, or None when the block is not in the common shape (the
    caller then reads it span by span)."""
    table = _read(block)
    if table is None or table.num_rows == 0 or table.num_rows != block.count(b"\n"):
        return None  # blank lines (or of spaces), which pyarrow skips: line numbers it does not report would shift
    escapes = b"\\" in block  # else no string in it needs escaping (see _json_string)
    out, line = [], first_line
    for rs in table.column("resourceSpans").chunks:  # (one chunk: one block of the reader's)
        batches = _spans_of_chunk(rs, line, escapes)
        if batches is None:
            return None
        out += batches
        line += len(rs)
    return out


def _read(block: bytes) -> pa.Table | None:
    """The block read with SCHEMA, or None when it is not in the common
    shape. In one block of the reader's, on this thread: no line is too
    long for its blocks, and on two cores its threads cost more than they
    give (the store loads the previous chunk meanwhile)."""
    try:
        return pj.read_json(pa.BufferReader(block), read_options=pj.ReadOptions(use_threads=False,
                                                                         block_size=len(block) + 1),
                            parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _spans_of_chunk(rs: pa.ListArray, first_line: int, escapes: bool) -> list[tuple[str, pa.RecordBatch]] | None:
    """spans_of_lines of one chunk of lines read (their resourceSpans)."""
    if rs.null_count:  # a line without resourceSpans (an error row) or with null (none): the per-span path
        return None
    line_of_rs = pc.list_parent_indices(rs)
    rs_flat = rs.flatten()
    ss = rs_flat.field("scopeSpans")
    rs_of_ss = pc.list_parent_indices(ss)
    ss_flat = ss.flatten()
    sp = ss_flat.field("spans")
    ss_of_span = pc.list_parent_indices(sp)
    spans = sp.flatten()
    n = len(spans)
    if n == 0:
        return None
    rs_of_span = rs_of_ss.take(ss_of_span)
    # Resources are few: their JSON and service name in Python, then taken per span.
    resources, services = [], []
    for attrs in rs_flat.field("resource").field("attributes").to_pylist():
        obj = {}
        for kv in attrs or []:
            if kv["key"] is None:
                return None
            v = kv["value"] or {}
            obj[kv["key"]] = next((v[k] for k in ("stringValue", "boolValue", "doubleValue") if v.get(k) is not None),
                                  int(v["intValue"]) if v.get("intValue") is not None else None)
        resources.append(orjson.dumps(obj).decode() if obj else None)
        services.append(obj.get("service.name"))
    ids = {}
    for name in ("traceId", "spanId", "parentSpanId"):
        col = ids[name] = _hex_ids(spans.field(name))
        if col is None:
            return None
    if ids["traceId"].null_count or ids["spanId"].null_count:
        return None
    kind = spans.field("kind")
    code = spans.field("status").field("code")
    if pc.any(pc.or_(pc.less(kind, 0), pc.greater(kind, 5))).as_py() or \
            pc.any(pc.or_(pc.less(code, 0), pc.greater(code, 2))).as_py():
        return None
    attributes = _attributes_json(spans.field("attributes"), escapes)
    if attributes is None:
        return None
    try:
        start = pc.cast(spans.field("startTimeUnixNano"), pa.int64())
        end = pc.cast(spans.field("endTimeUnixNano"), pa.int64())
    except pa.ArrowInvalid:
        return None
    message = spans.field("status").field("message")
    cols = {
        "trace_id": ids["traceId"], "span_id": ids["spanId"], "parent_span_id": ids["parentSpanId"],
        "service": _repeated(rs_of_span, pa.array(services, pa.string())), "name": spans.field("name"),
        "kind": _repeated(pc.fill_null(kind, 0), arrow_constant(_KINDS, pa.string())),
        "start_ts": pc.divide(start, 1000).cast(pa.timestamp("us")),
        "start_ns": start, "duration_ns": pc.subtract(end, start),
        "status_code": _repeated(pc.fill_null(code, 0), arrow_constant(_CODES, pa.string())),
        "status_message": pc.if_else(pc.equal(message, ""), pa.nulls(n, pa.string()), message),
        "attributes": attributes, "resource": _repeated(rs_of_span, pa.array(resources, pa.string())),
        "scope": _repeated(ss_of_span, ss_flat.field("scope").field("name")),
        "format": _repeated(pa.nulls(n, pa.int32()).fill_null(0), pa.array(["otlp"])),
        "line": pc.add(line_of_rs.take(rs_of_span).cast(pa.int64()), first_line),
    }
    out = [("spans", _batch("spans", cols))]
    for table, batch in (("span_events", _events(spans.field("events"), ids, escapes)),
                         ("span_links", _links(spans.field("links"), ids, escapes))):
        if batch is False:
            return None
        if batch is not None:
            out.append((table, batch))
    return out


def _hex_ids(raw: pa.Array) -> pa.Array | None:
    """Ids as lowercase hex, "" as NULL; None when one is not 16 or 32 hex
    digits (base64 and the like: the per-span path reads them)."""
    if pc.all(pc.match_substring_regex(raw, _HEX_ID)).as_py() is not False:
        return raw  # the usual case: lowercase hex or NULL already
    col = pc.utf8_lower(raw)
    col = pc.if_else(pc.equal(col, ""), pa.nulls(len(col), pa.string()), col)
    if not pc.all(pc.or_kleene(pc.is_null(col), pc.match_substring_regex(col, _HEX_ID))).as_py():
        return None
    return col


def _batch(table: str, cols: dict) -> pa.RecordBatch:
    """The table's batch; dictionary columns stay dictionaries (the store takes them as they are)."""
    fields = [f if pa.types.is_dictionary(cols[f.name].type) else f for f in TABLES[table].arrow_schema]
    arrays = [cols[f.name] if pa.types.is_dictionary(cols[f.name].type) else cols[f.name].cast(f.type) for f in fields]
    fields = [pa.field(f.name, a.type) for f, a in zip(fields, arrays)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _repeated(indices: pa.Array, values: pa.Array) -> pa.DictionaryArray:
    """values taken at indices, as a dictionary: a resource's JSON is written once, not once per span."""
    return pa.DictionaryArray.from_arrays(indices.cast(pa.int32()), values)


def _children(lists: pa.ListArray, ids: dict, escapes: bool):
    """The flattened events or links of the spans, their span's ids and
    their attributes as JSON; None when there are none, False when the
    attributes are not in the common shape."""
    flat = lists.flatten()
    if len(flat) == 0:
        return None
    parent = pc.list_parent_indices(lists)
    attributes = _attributes_json(flat.field("attributes"), escapes)
    if attributes is None:
        return False
    owner = {"trace_id": ids["traceId"].take(parent), "span_id": ids["spanId"].take(parent), "attributes": attributes}
    return flat, owner


def _events(events: pa.ListArray, ids: dict, escapes: bool):
    """span_events of the spans (None: there are none; False: not in the common shape)."""
    found = _children(events, ids, escapes)
    if not found:
        return found
    flat, owner = found
    try:
        ts = pc.cast(flat.field("timeUnixNano"), pa.int64())
    except pa.ArrowInvalid:
        return False
    return _batch("span_events", {**owner, "ts": pc.divide(ts, 1000).cast(pa.timestamp("us")), "ts_ns": ts,
                                  "name": flat.field("name")})


def _links(links: pa.ListArray, ids: dict, escapes: bool):
    """span_links of the spans (None: there are none; False: not in the common shape)."""
    found = _children(links, ids, escapes)
    if not found:
        return found
    flat, owner = found
    linked = {k: pc.utf8_lower(flat.field(k)) for k in ("traceId", "spanId")}
    if not all(pc.all(pc.match_substring_regex(v, _HEX_ID)).as_py() for v in linked.values()):
        return False
    return _batch("span_links", {**owner, "linked_trace_id": linked["traceId"], "linked_span_id": linked["spanId"],
                                 "kind": pa.array(["link"] * len(flat), pa.string())})
