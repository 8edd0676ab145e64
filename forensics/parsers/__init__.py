"""Parsers: pure functions from a byte stream to Arrow record batches.

One subpackage per format family, each exporting ``FORMATS``, the records
the ingest registry (:mod:`forensics.ingest.registry`) loops over:

- :mod:`.dumps`: Go crash output, goroutine dumps and race reports;
- :mod:`.pprof`: profile.proto, the ``?debug=1`` text profiles and the legacy forms pprof reads;
- :mod:`.logs`: container, journald and plain logs (and the dumps inside them);
- :mod:`.traces`: OTLP, Jaeger and Zipkin spans, Chrome trace-event JSON (go tool trace);
- :mod:`.releases`: deploy records, Kubernetes events, build info, go.mod and go.sum.

A parser never sees the database. It yields ``(table, pyarrow.RecordBatch)``
pairs whose schemas are declared in :mod:`forensics.db.schema`; ids it emits
(``dump_id``) are local to the source and the store rebases them. Problems
with the input are not raised: they are yielded as ``ingest_errors`` rows
(line, message, excerpt) and parsing goes on with the next block. Where a
family has a columnar fast path, it sits beside its line-by-line twin as
``<twin>_columnar.py`` and ``ParseOptions.columnar`` switches it off (the
tests compare both).
"""
from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Callable, Iterator

import pyarrow as pa

from ..db.schema import TABLES

# Bumped whenever a reader's output changes (a new column filled, a format read that was skipped):
# re-ingest reads again every source an older version read (sources.reader_version).
READER_VERSION = 1
MAX_LINE = 1 << 20  # longer lines are cut here; the rest of the line is skipped
CHUNK = 1 << 22
EXCERPT = 200

Batches = Iterator[tuple[str, pa.RecordBatch]]


@dataclass(frozen=True)
class ParseOptions:
    """What the caller knows about a source that its content may not say."""

    service: str | None = None
    version: str | None = None
    ts: datetime | None = None  # overrides times found in the text
    mtime: datetime | None = None  # the source's modification time: the last resort for ts
    path_ts: datetime | None = None  # an ISO 8601 time in the source's path: before mtime
    path: str | None = None  # the source's name (a path, or archive!member): Kubernetes log paths say whose it is
    pod: str | None = None  # the pod of the log a dump was cut from
    # What the registry's sniff found in the first bytes (a log framing); None: the parser finds it.
    variant: str | None = None
    columnar: bool = True  # the columnar fast path where the input allows it; False: line by line only

    def file_time(self) -> tuple[datetime | None, str | None]:
        """The time of a source that says nothing of its own: the path's, else its mtime."""
        if self.path_ts is not None:
            return self.path_ts, "path"
        if self.mtime is not None:
            return self.mtime, "mtime"
        return None, None


@dataclass(frozen=True)
class Format:
    """One input format, as every family exports it for the ingest registry.

    ``sniff(head)`` looks at the first bytes of decompressed content and
    returns None when they are not this format, else the variant it found
    (a log framing; the format's own name when it has none), which the
    parser receives as ``ParseOptions.variant``. ``parse(stream, options)``
    yields ``(table, batch)`` pairs. A format without a parser is
    recognised only to be recorded with ``reason``: skipped (nothing to
    read, or its readable form is another file) or, with ``refused``,
    failed.
    """

    name: str  # sources.kind, and the name `--as` takes
    doc: str  # one line, for --help
    sniff: Callable[[bytes], str | None]
    parse: Callable[[BinaryIO, "ParseOptions"], Batches] | None = None
    reason: Callable[[bytes], str] | None = None
    refused: bool = False


def classified_as(classify: Callable[[bytes], str | None], name: str) -> Callable[[bytes], str | None]:
    """A Format's sniff from a family's classifier, which names one of several formats:
    `name` where the classifier says `name`, else None.

    >>> classified_as(lambda head: "b" if head else None, "b")(b"x")
    'b'
    """
    classified = _last_answer(classify)

    def sniff(head: bytes) -> str | None:
        return name if classified(head) == name else None
    return sniff


@functools.cache
def _last_answer(classify: Callable[[bytes], str | None]) -> Callable[[bytes], str | None]:
    # The registry asks a classifier once per format it names, about the same head:
    # the head's answer is kept until the next head.
    return functools.lru_cache(maxsize=1)(classify)


# Up to this many rows, a batch is converted as one struct array: one conversion call
# instead of one a column, whose fixed cost dominates the few rows of a small file.
FEW_ROWS = 64


@functools.cache
def _row_type(table: str) -> pa.StructType:
    return pa.struct(TABLES[table].arrow_schema)


def _few_rows(table: str, rows: list) -> pa.RecordBatch | None:
    """A batch of up to FEW_ROWS rows (tuples or dicts) in one conversion; None for more, or none."""
    if 0 < len(rows) <= FEW_ROWS:
        return pa.RecordBatch.from_struct_array(pa.array(rows, type=_row_type(table)))
    return None


@functools.cache
def arrow_constant(values: tuple, type_: pa.DataType | None = None) -> pa.Array:
    """A parser's constant array, built on first use rather than at import, so that a
    worker's imports convert no list (see forensics.lazy.arrow_without_pandas).

    >>> arrow_constant(("F", "P")).to_pylist()
    ['F', 'P']
    """
    return pa.array(values, type_)


def record_batch(table: str, rows: list[tuple]) -> pa.RecordBatch:
    """Row tuples in the table's column order -> one batch of its parser schema."""
    schema = TABLES[table].arrow_schema
    few = _few_rows(table, rows)
    if few is not None:
        return few
    cols = list(zip(*rows)) if rows else [()] * len(schema)
    return pa.RecordBatch.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema)], schema=schema)


def dict_batch(table: str, rows: list[dict]) -> pa.RecordBatch:
    """Rows as dicts (missing columns are NULL) -> one batch of the table's parser schema."""
    schema = TABLES[table].arrow_schema
    few = _few_rows(table, rows)
    if few is not None:
        return few
    return pa.RecordBatch.from_arrays([pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema],
                                      schema=schema)


def json_number(value, what: str, cast=float):
    """A number of a JSON document written as a number or a numeric string
    (proto3 JSON writes int64 as strings, Chrome traces may quote ts), as
    `cast`; None for null or ""; ValueError naming `what` otherwise.

    >>> json_number("1795316780460547309", "start", int), json_number(2, "ts")
    (1795316780460547309, 2.0)
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} has type {type(value).__name__}")
    return cast(value)


def excerpt(line: str) -> str:
    return line if len(line) <= EXCERPT else line[:EXCERPT] + "…"


def line_batches(stream: BinaryIO, on_long_line) -> Iterator[list[str]]:
    """Decode a byte stream to lists of lines without their line ends.

    Invalid UTF-8 becomes U+FFFD; CRLF and LF both end lines (a lone CR does
    not). A line longer than MAX_LINE characters is cut to MAX_LINE and
    ``on_long_line(lineno, length)`` is called; memory stays bounded by
    CHUNK + MAX_LINE whatever the input.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    carry = ""  # start of an unfinished line
    carry_len = 0  # its true length, which may exceed len(carry)
    lineno = 0
    while True:
        raw = stream.read(CHUNK)
        text = decoder.decode(raw, final=not raw)
        if text:
            parts = text.replace("\r\n", "\n").split("\n")
            last = parts.pop()
            if parts:
                if carry_len:
                    full_len = carry_len + len(parts[0])
                    parts[0] = (carry + parts[0])[:MAX_LINE]
                    if full_len > MAX_LINE:
                        on_long_line(lineno + 1, full_len)
                    carry, carry_len = "", 0
                if max(map(len, parts)) > MAX_LINE:
                    for i, line in enumerate(parts):
                        if len(line) > MAX_LINE:
                            on_long_line(lineno + i + 1, len(line))
                            parts[i] = line[:MAX_LINE]
                if parts[0].endswith("\r"):  # a CRLF split across chunks
                    parts[0] = parts[0][:-1]
                lineno += len(parts)
                yield parts
            if carry_len < MAX_LINE + 1:
                carry += last[: MAX_LINE + 1 - len(carry)]
            carry_len += len(last)
        if not raw:
            break
    if carry_len:
        lineno += 1
        if carry_len > MAX_LINE:
            on_long_line(lineno, carry_len)
        line = carry[:MAX_LINE]
        yield [line[:-1] if line.endswith("\r") else line]
