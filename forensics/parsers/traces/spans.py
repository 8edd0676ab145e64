"""Distributed-tracing JSON -> spans, span_events, span_links: what the readers share.

Three formats, each read as its producers write it (:mod:`.otlp`,
:mod:`.jaeger`, :mod:`.zipkin`), into the same rows (:class:`SpanRows`). A
span that cannot be read (wrong types, missing ids) is reported in
``ingest_errors`` with where it is (line of a JSON-lines file, or trace and
span index) and skipped; the others are kept.

>>> span_format(b'{"resourceSpans": []}'), span_format(b'[{"traceId": "a", "id": "b"}]')
('otlp', 'zipkin')
"""
from __future__ import annotations

import base64
import binascii
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ...db.schema import TABLES
from ...errors import ParseError
from .. import dict_batch, excerpt

BATCH = 1 << 14
_TEXT_COLUMNS = ("service", "name", "kind", "status_message", "scope")


def json_text(value) -> str | None:
    """A JSON value as text; None for an empty one."""
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


class SpanColumns:
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


class SpanRows:
    """spans / span_events / span_links rows, flushed as batches."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.spans = SpanColumns()
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


def read_all(stream: BinaryIO) -> bytes:
    chunks = []
    while chunk := stream.read(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def load_json(data: bytes, what: str):
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON ({what}): {exc}") from None


def span_format(head: bytes) -> str | None:
    """`otlp`, `jaeger` or `zipkin` when the start of a JSON file looks like one."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] not in (b"{", b"["):
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
