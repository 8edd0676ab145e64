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
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from ..errors import ForensicsError, SourceError
from .schema import TABLES

CHUNK_BYTES = 16 << 20  # spooled Arrow bytes handed to the store at a time (64 MB overlapped parse and load less)
# Free temp disk needed to start a chunk: the chunk being written and the one being loaded, and a margin.
MIN_FREE_SPOOL = 3 * CHUNK_BYTES
FINAL = object()  # marks the last chunk: the thread's end without it is an error, not a short source


@dataclass
class Spooled:
    """A parsed source (or a chunk of one) waiting to be loaded: one Arrow IPC stream file per table,
    or, for a small source (:func:`in_memory`), its batches per table."""

    files: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    errors: list[tuple] = field(default_factory=list)  # what stopped the parser, as ingest_errors rows
    batches: dict[str, list[pa.RecordBatch]] = field(default_factory=dict)

    def __getstate__(self) -> dict:
        """In-memory batches cross to another process as one IPC stream per table: five
        times cheaper than pickling each batch (a worker's small source, see ingest's jobs)."""
        state = dict(self.__dict__)
        state["batches"] = {table: _ipc_bytes(table, batches) for table, batches in self.batches.items()}
        return state

    def __setstate__(self, state: dict) -> None:
        state["batches"] = {table: ipc.open_stream(data).read_all().to_batches()
                            for table, data in state["batches"].items()}
        self.__dict__.update(state)

    def tables(self) -> Iterator[tuple[str, "pa.Table | ipc.RecordBatchStreamReader"]]:
        """(table, rows) to load, in the order the parser first yielded each table: in memory,
        with the declared schema (dictionary-encoded columns decoded), or streamed from the files."""
        for table, batches in self.batches.items():
            yield table, _as_table(table, batches)
        for table, file in self.files.items():
            yield table, ipc.open_stream(pa.OSFile(file))


class Packed:
    """The outputs of several sources (a worker's task), or the text of the error that
    stopped one, crossing to another process together: the in-memory batches of all as
    one IPC stream per table, a tenth of the cost of one stream per table and source.

    >>> import pickle
    >>> b = pa.RecordBatch.from_pylist([{"dump_id": 0}], schema=TABLES["dumps"].arrow_schema)
    >>> back = pickle.loads(pickle.dumps(Packed([Spooled(batches={"dumps": [b]}), "ValueError: x"]))).items
    >>> back[0].batches["dumps"][0].equals(b), back[1]
    (True, 'ValueError: x')
    """

    def __init__(self, items: list[Spooled | str]):
        self.items = items

    def __getstate__(self) -> dict:
        together: dict[str, list[pa.RecordBatch]] = {}
        layout: list = []  # per item: the text of its error, or (its Spooled without batches, batches per table)
        for item in self.items:
            if isinstance(item, str):
                layout.append(item)
                continue
            for table, batches in item.batches.items():
                together.setdefault(table, []).extend(batches)
            layout.append((Spooled(item.files, item.rows, item.errors),
                           {table: len(batches) for table, batches in item.batches.items()}))
        return {"layout": layout, "tables": {t: _ipc_bytes(t, bs) for t, bs in together.items() if bs}}

    def __setstate__(self, state: dict) -> None:
        together = {t: iter(ipc.open_stream(data)) for t, data in state["tables"].items()}  # every batch, empty ones too
        self.items = []
        for entry in state["layout"]:
            if not isinstance(entry, str):
                entry, counts = entry
                entry.batches = {t: [next(together[t]) for _ in range(n)] for t, n in counts.items()}
            self.items.append(entry)


def _declared(table: str, batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    """The batches in the table's declared schema (dictionary-encoded columns decoded)."""
    declared = TABLES[table].arrow_schema
    return [b if b.schema == declared else b.cast(declared) for b in batches]


def _as_table(table: str, batches: list[pa.RecordBatch]) -> pa.Table:
    """The batches as one table of the declared schema."""
    declared = TABLES[table].arrow_schema
    try:  # most often every batch has it already: Arrow checks that in one call
        return pa.Table.from_batches(batches, schema=declared)
    except pa.ArrowInvalid:
        return pa.Table.from_batches(_declared(table, batches), schema=declared)


def _ipc_bytes(table: str, batches: list[pa.RecordBatch]) -> bytes:
    sink = pa.BufferOutputStream()
    if any(batch.schema != batches[0].schema for batch in batches):  # a stream has one schema: the declared one
        batches = _declared(table, batches)
    with ipc.new_stream(sink, batches[0].schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _mismatch(table: str, batch: pa.RecordBatch, errors: list[tuple]) -> bool:
    """True (with an error row) when a batch does not fit its table's schema: a parser bug."""
    if table in TABLES and conforms(batch.schema, TABLES[table].arrow_schema):
        return False
    errors.append((None, f"internal parser error: a {table!r} batch does not match the schema", None))
    return True


class _Writer:
    """Per-table IPC stream files in one directory."""

    def __init__(self, directory: str):
        self.directory, self.spooled, self.bytes = directory, Spooled(), 0
        self._writers: dict[str, ipc.RecordBatchStreamWriter] = {}
        self._schemas: dict[str, pa.Schema] = {}

    def write(self, table: str, batch: pa.RecordBatch) -> bool:
        """Spool one batch; False when it does not fit the table's schema (a parser bug)."""
        if _mismatch(table, batch, self.spooled.errors):
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


def in_memory(batches: Iterable[tuple[str, pa.RecordBatch]]) -> Spooled:
    """A small source's parser output kept in memory, no files: the store
    loads many such sources in one transaction (:meth:`Store.write_sources`)."""
    sp = Spooled()
    for table, batch in guarded(batches, sp.errors):
        if _mismatch(table, batch, sp.errors):
            break
        sp.batches.setdefault(table, []).append(batch)
        sp.rows[table] = sp.rows.get(table, 0) + batch.num_rows
    return sp


def gathered(spooled: list[Spooled | None], source_ids: list[int], local: list[str],
             shared: dict[str, str] | None = None) -> dict[str, pa.Table]:
    """The in-memory output of several sources (:func:`in_memory`) as one table
    each, for one INSERT: every row with its source's id, and each id that a
    parser numbers from 0 within its source (the columns `local`) moved to its
    source's id plus that number (:mod:`forensics.db.ids`). A table shared by
    all sources (`shared`: table -> key) keeps each key's rows from the first
    source that has it, as loading them one by one would; a stack, at each
    depth, the smallest frame_id of any source. Whole columns at a
    time: a batch of thousands of small sources costs a few Arrow calls per
    table, not per source.

    >>> b = pa.RecordBatch.from_pylist([{"dump_id": 0}, {"dump_id": 1}], schema=TABLES["dumps"].arrow_schema)
    >>> tables = gathered([Spooled(batches={"dumps": [b]})] * 2, [700, 800], ["dump_id"])
    >>> tables["dumps"]["dump_id"].to_pylist(), tables["dumps"]["source_id"].to_pylist()
    ([700, 701, 800, 801], [700, 700, 800, 800])
    """
    import numpy as np

    parts: dict[str, tuple[list[pa.RecordBatch], list[int]]] = {}
    for i, sp in enumerate(spooled):
        for table, batches in (sp.batches.items() if sp is not None else ()):
            got, owners = parts.setdefault(table, ([], []))
            got += batches
            owners += [i] * len(batches)
    tables, owner = {}, {}
    for table, (got, owners) in parts.items():
        tables[table] = _as_table(table, got).combine_chunks()
        owner[table] = np.repeat(np.array(owners, dtype=np.int64), [b.num_rows for b in got])
    ids = np.array(source_ids, dtype=np.int64)
    for col in local:
        for table, t in tables.items():
            if col in t.column_names:
                moved = pc.add(t[col], pa.array(ids[owner[table]], t[col].type))
                tables[table] = t.set_column(t.schema.get_field_index(col), col, moved)
    if "stacks" in tables and "stacks" in (shared or {}):  # at each depth the smallest frame (Store._insert)
        t = tables["stacks"].group_by(["stack_id", "depth"], use_threads=False).aggregate([("frame_id", "min")])
        tables["stacks"] = pa.table([t["stack_id"], t["depth"], t["frame_id_min"]], schema=tables["stacks"].schema)
    for table, key in (shared or {}).items():
        if table in tables and tables[table].num_rows and table != "stacks":
            keys = tables[table][key].to_numpy(zero_copy_only=False)
            _, first, where = np.unique(keys, return_index=True, return_inverse=True)
            keep = owner[table] == owner[table][first][where.reshape(-1)]
            tables[table], owner[table] = tables[table].filter(pa.array(keep)), owner[table][keep]
    for table, t in tables.items():
        if any(c.name == "source_id" for c in TABLES[table].columns):
            tables[table] = t.append_column("source_id", pa.array(ids[owner[table]]))
    return tables


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
    if schema.equals(declared):  # the common case, in one call
        return True
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
