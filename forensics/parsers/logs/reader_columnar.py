"""CRI log blocks read column-wise with Arrow compute.

Most lines of a container log are whole records (``F``) holding one JSON
object. For a block of complete lines, Arrow splits the lines, takes the
four CRI fields apart with one regular expression (RE2), and pyarrow's JSON
reader takes level and message out of every payload at once; no Python
runs per line. The other lines (partial records, dump lines, plain text)
are handed back, in order, for the line-by-line reader.

>>> block = (b'2026-03-14T11:07:03.1Z stdout F {"level":"WARN","msg":"slow"}\\n'
...          b'2026-03-14T11:07:03.2Z stderr F panic: boom\\n')
>>> split = split_block(block)
>>> json_records, others = cri_records(split)
>>> json_records["text"].to_pylist(), [o[4] for o in others]
(['{"level":"WARN","msg":"slow"}'], ['panic: boom'])
>>> json_fields(json_records["text"])[0].to_pylist()
['warn']
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .. import MAX_LINE, arrow_constant
from .payloads import LEVELS

# "<RFC 3339 time> <stream> <F|P> <text>": the kubelet's CRI log line
# (k8s.io/cri-client/pkg/logs: parseCRILog). Its time, as both readers check it.
CRI_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
# What the bulk reader takes from a JSON payload; every other field is
# skipped here (it stays in attributes, the payload as written).
_JSON_SCHEMA = pa.schema([(k, pa.string()) for k in ("level", "lvl", "severity", "msg", "message")])


def split_block(block: bytes) -> pa.StringArray | None:
    """The lines of a block of whole lines (it ends with a newline), or None
    when the block is not valid UTF-8 or holds a line over MAX_LINE (the
    line-by-line reader reports those precisely)."""
    lines = pc.split_pattern(pa.array([block], pa.binary()), b"\n")[0].values
    lines = lines.slice(0, len(lines) - 1)  # after the last newline: nothing
    try:
        lines = lines.cast(pa.string())
    except pa.ArrowInvalid:
        return None
    if len(lines) and pc.max(pc.binary_length(lines)).as_py() > MAX_LINE:
        return None
    # CRLF endings: the CR belongs to no record.
    if pc.any(pc.ends_with(lines, "\r")).as_py():
        lines = pc.replace_substring_regex(lines, r"\r$", "")
    return lines


def cri_records(lines: pa.StringArray) -> tuple[dict[str, pa.Array] | None, list[tuple]] | None:
    """({ts, stream, text, index} of the whole-JSON records, the others as
    (index, ts, stream, tag, text) in order: other payloads and lines that
    are no CRI record (ts, stream and tag None, text the line)); None when
    the block holds a partial (P) record, for the line-by-line reader."""
    # Four fields at the first three spaces; a line is a record when they have
    # the right shape (the same as logs.CRI_LINE checks line by line).
    parts = pc.split_pattern(lines, " ", max_splits=3)
    four = pc.equal(pc.list_value_length(parts), 4)
    safe = pc.if_else(four, parts, pa.scalar(["", "", "", ""], parts.type))
    ts, stream, tag, text = (pc.list_element(safe, i) for i in range(4))
    matched = pc.and_(pc.and_(four, pc.is_in(stream, value_set=arrow_constant(("stdout", "stderr")))),
                      pc.and_(pc.is_in(tag, value_set=arrow_constant(("F", "P"))), pc.match_substring_regex(ts, f"^{CRI_TIME}$")))
    if pc.any(pc.and_(matched, pc.equal(tag, "P"))).as_py():
        return None
    is_json = pc.and_(pc.and_(matched, pc.equal(tag, "F")),
                      pc.and_(pc.starts_with(text, "{"), pc.ends_with(text, "}")))
    index = pa.array(range(len(lines)), pa.int64()) if len(lines) else pa.array([], pa.int64())
    others: list[tuple] = []
    rest = pc.invert(is_json)
    if pc.any(rest).as_py():
        idx = pc.filter(index, rest).to_pylist()
        ok = pc.filter(matched, rest).to_pylist()
        cols = [pc.filter(c, rest).to_pylist() for c in (ts, stream, tag, text)]
        raw = pc.filter(lines, rest).to_pylist()
        for i, good, t, st, tg, tx, line in zip(idx, ok, *cols, raw):
            others.append((i, t, st, tg, tx) if good else (i, None, None, None, line))
    if not pc.any(is_json).as_py():
        return None, others
    return {"ts": pc.filter(ts, is_json), "stream": pc.filter(stream, is_json), "text": pc.filter(text, is_json),
            "index": pc.filter(index, is_json)}, others


def json_fields(texts: pa.StringArray) -> tuple[pa.Array, pa.Array] | None:
    """(level, message) of JSON objects, one per string, read by pyarrow's
    JSON reader straight from the strings' buffer; None unless every string
    is one object whose level and message fields (if any) are strings."""
    if len(texts) == 0:
        return pa.array([], pa.string()), pa.array([], pa.string())
    # One object per line: each text with a newline, in one contiguous buffer (a copy in C++).
    lined = pc.binary_join_element_wise(texts, pa.scalar("\n"), pa.scalar(""))
    offsets = np.frombuffer(lined.buffers()[1], np.int32, len(lined) + 1, lined.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    data = lined.buffers()[2].slice(start, end - start)
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=pj.ParseOptions(
            explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(texts):
        return None
    raw = pc.coalesce(*(table.column(k).combine_chunks() for k in ("level", "lvl", "severity")))
    lowered = pc.utf8_lower(raw)
    # slog prints levels between the named ones as ERROR+2 / INFO-4: cut at the sign.
    lowered = pc.replace_substring_regex(lowered, r"(.)[+-]\d+$", r"\1")
    level = arrow_constant(tuple(LEVELS.values())).take(pc.index_in(lowered, value_set=arrow_constant(tuple(LEVELS))))
    message = pc.coalesce(table.column("msg").combine_chunks(), table.column("message").combine_chunks())
    return level, message
