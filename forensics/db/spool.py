"""Parser output on its way to the store: Arrow IPC files on disk.

A parser's batches are written to one IPC stream file per table (a
*spool*) before the store loads them, because many small INSERTs in one
transaction make DuckDB hold far more memory than one streaming INSERT per
table. No DuckDB here: parser worker processes spool too.

:func:`spool_chunks` runs the parser in a thread and hands over the spool in
chunks of about :data:`CHUNK_BYTES`, so the store loads chunk k while the
parser reads chunk k+1 (DuckDB and Arrow's kernels release the GIL, so on
two cores this hides most of the load time of a big file).

>>> import pyarrow as pa, tempfile
>>> from forensics.db.schema import TABLES
>>> batch = pa.RecordBatch.from_pylist([], schema=TABLES["ingest_errors"].arrow_schema)
>>> sp = spool([("ingest_errors", batch)], tempfile.mkdtemp())
>>> sp.rows, list(sp.files)
({'ingest_errors': 0}, ['ingest_errors'])
"""
from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.ipc as ipc

from ..errors import ForensicsError, SourceError
from .schema import TABLES

CHUNK_BYTES = 64 << 20  # spooled Arrow bytes handed to the store at a time
# Free temp disk needed to start a chunk: the chunk being written and the one being loaded, and a margin.
MIN_FREE_SPOOL = 3 * CHUNK_BYTES
FINAL = object()  # marks the last chunk: the thread's end without it is an error, not a short source


@dataclass
class Spooled:
    """A parsed source (or a chunk of one) waiting to be loaded: one Arrow IPC stream file per table."""

    files: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    errors: list[tuple] = field(default_factory=list)  # what stopped the parser, as ingest_errors rows


class _Writer:
    """Per-table IPC stream files in one directory."""

    def __init__(self, directory: str):
        self.directory, self.spooled, self.bytes = directory, Spooled(), 0
        self._writers: dict[str, ipc.RecordBatchStreamWriter] = {}
        self._schemas: dict[str, pa.Schema] = {}

    def write(self, table: str, batch: pa.RecordBatch) -> bool:
        """Spool one batch; False when it does not fit the table's schema (a parser bug)."""
        if table not in TABLES or not conforms(batch.schema, TABLES[table].arrow_schema):
            self.spooled.errors.append(
                (None, f"internal parser error: a {table!r} batch does not match the schema", None))
            return False
        if table not in self._writers:
            path = self.spooled.files[table] = os.path.join(self.directory, f"{table}.arrows")
            self._writers[table] = ipc.new_stream(path, batch.schema)
            self._schemas[table] = batch.schema
        elif batch.schema != self._schemas[table]:  # a stream has one schema: encode or decode to the first's
            schema = self._schemas[table]
            batch = pa.RecordBatch.from_arrays([c.cast(f.type) for c, f in zip(batch.columns, schema)], schema=schema)
        self._writers[table].write_batch(batch)
        self.spooled.rows[table] = self.spooled.rows.get(table, 0) + batch.num_rows
        self.bytes += batch.nbytes
        return True

    def close(self) -> Spooled:
        for w in self._writers.values():
            w.close()
        self._writers.clear()
        return self.spooled


def spool(batches: Iterable[tuple[str, pa.RecordBatch]], directory: str) -> Spooled:
    """Write a parser's batches to per-table IPC stream files in `directory`."""
    writer = _Writer(directory)
    try:
        for table, batch in guarded(batches, writer.spooled.errors):
            if not writer.write(table, batch):
                break
    finally:
        writer.close()
    return writer.spooled


def spool_chunks(batches: Iterable[tuple[str, pa.RecordBatch]], directory: str,
                 chunk_bytes: int | None = None) -> Iterator[Spooled]:
    """Spool in chunks from a parser running in a thread; each chunk is
    yielded once written. The parser stays at most one chunk ahead of the
    consumer, so disk and memory stay bounded. The errors that stopped the
    parser come with the last chunk. A failure of the thread itself (a full
    disk, which the close of its files raises again) reaches the consumer as
    an exception, never as a quiet end. Closing the generator stops the parser."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def new_writer(n: int) -> _Writer:
        free = shutil.disk_usage(directory).free
        if free < MIN_FREE_SPOOL:
            raise SourceError(f"temp disk nearly full ({free >> 20} MB free in {directory}, "
                              f"{MIN_FREE_SPOOL >> 20} MB needed to spool); set TMPDIR to a larger disk")
        writer = _Writer(os.path.join(directory, f"c{n}"))
        os.makedirs(writer.directory)
        return writer

    def produce() -> None:
        n, writer = 0, None
        errors: list[tuple] = []
        try:
            writer = new_writer(n)
            for table, batch in guarded(batches, errors):
                if stop.is_set() or not writer.write(table, batch):
                    break
                if writer.bytes >= chunk_bytes:
                    if not put(writer.close()):
                        return
                    n += 1
                    writer = new_writer(n)
            last = writer.close()
            last.errors = errors + last.errors
            put((FINAL, last))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            if writer is not None:
                with contextlib.suppress(BaseException):  # a full disk fails the close too: keep the first error
                    writer.close()
            put(exc)
        finally:
            put(done)

    thread = threading.Thread(target=produce, name="forensics-parser", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is done:
                raise SourceError("the parser thread ended without its last chunk")  # never silently short
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, tuple) and item[0] is FINAL:
                yield item[1]
                return
            yield item
    finally:
        stop.set()
        thread.join()


def conforms(schema: pa.Schema, declared: pa.Schema) -> bool:
    """The declared schema, where a column may also come dictionary-encoded:
    parsers send repeated strings (a span's resource) that way, which makes
    the spool and DuckDB's load several times cheaper."""
    if schema.names != declared.names:
        return False
    return all(f.type == d.type or (pa.types.is_dictionary(f.type) and f.type.value_type == d.type)
               for f, d in zip(schema, declared))


def guarded(batches, errors) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Yield the parser's batches; an exception ends the stream as an error row.

    ForensicsError is the parser's way to say the input stopped making sense
    (corrupt compression, limits); anything else is a bug in a parser, still
    recorded against the source so that one file never aborts a batch.
    """
    it = iter(batches)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except ForensicsError as exc:
            errors.append((getattr(exc, "line", None), str(exc), getattr(exc, "excerpt", None)))
            return
        except Exception as exc:  # noqa: BLE001 - recorded, see docstring
            errors.append((None, f"internal parser error ({type(exc).__name__}): {exc}", None))
            return
        yield item
