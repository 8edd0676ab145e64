"""The incident database: one DuckDB file. With the rest of :mod:`forensics.db`, the only code that talks to DuckDB.

Creates and versions the schema declared in :mod:`forensics.db.schema`, writes
each source in one transaction from the Arrow batches its parser yields, and
runs queries.

>>> import tempfile, os
>>> store = Store(os.path.join(tempfile.mkdtemp(), "incident.duckdb"))
>>> store.query("SELECT count(*) AS n FROM dumps").fetchall()
[(0,)]
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple

import duckdb

from ..errors import StoreError
from .outcome import decide, first_problem, source_row, source_status  # noqa: F401 - source_status: the API
from .schema import SCHEMA_VERSION, TABLES, VIEWS, arrow_type
from .ids import LOCAL_IDS, source_id as artefact_id
from .migrations import derive_ids, split_goroutine_frames, split_stack_frames
from .views import VIEW_TABLES

if TYPE_CHECKING:  # pyarrow is imported where sources are written: a query needs only DuckDB
    import pyarrow as pa

    from .spool import Spooled

# Tables whose rows are shared by all sources and stored once per key. A stack id hashes
# its frames' functions, files and lines, not their addresses: two builds give one stack
# frames of other addresses (other frame_ids). Which a stack keeps must not depend on what
# was read first (nor on which machine of a Spark job read what): at each depth it keeps
# the smallest frame_id, wherever it came from. frame_info's rows of one frame_id are
# equal (the id hashes them).
_SHARED_KEYS = {"stacks": "stack_id", "frame_info": "frame_id"}
CHECKPOINT_ROWS = 1_000_000  # rows loaded since the last checkpoint that make the store checkpoint (capped)
INGEST_MEMORY = "160MB"  # DuckDB's memory while loading a source (it spills to disk beyond)


class Ingested(NamedTuple):
    """A source already in the database with the same content and origin."""

    source_id: int
    path: str
    status: str
    reader_version: int | None


@dataclass
class SourceResult:
    """What ingesting one source did."""

    path: str
    status: str  # ok | partial | failed | skipped | duplicate
    kind: str | None = None
    source_id: int | None = None
    error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    duplicate_of: int | None = None  # a duplicate's: the source_id of the artefact it repeats


@dataclass
class Pending:
    """A source to write with others in one transaction (:meth:`Store.write_sources`):
    :meth:`Store.write_source`'s arguments, its parser's output in memory
    (:func:`forensics.db.spool.in_memory`; None when nothing was parsed)."""

    path: str
    sha256: str | None
    size: int
    kind: str | None
    spooled: "Spooled | None" = None
    service: str | None = None
    version: str | None = None
    mtime: datetime | None = None
    failure: str | None = None
    status: str = "failed"
    origin: object = None
    replaces: int | None = None
    reader_version: int | None = None


class Store:
    """An open incident database (created if missing)."""

    def __init__(self, path: str = ":memory:", read_only: bool = False):
        self.path = str(path)
        self._unchecked_rows = 0
        self._legacy: bool | None = None
        self.dataset = os.path.isdir(self.path)  # a Parquet dataset (:mod:`.dataset`), read-only
        if self.dataset:
            self._open_dataset()
            return
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
            try:
                self.con.execute("SET enable_progress_bar = false")  # no bars drawn over the CLI's output
            except duckdb.Error:
                pass  # in Jupyter DuckDB refuses to touch the setting without ipywidgets
        except duckdb.Error as exc:
            raise StoreError(_open_error(self.path, exc)) from exc
        if not read_only:
            self._create_schema()
        self._check_version()

    def close(self) -> None:
        self.con.close()

    def _open_dataset(self) -> None:
        from . import dataset

        if not dataset.is_dataset(self.path):
            raise StoreError(f"{self.path} is a directory without {dataset.MANIFEST}: not a forensics dataset "
                             "(give a DuckDB file, or a directory `forensics export` wrote)")
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET enable_progress_bar = false")
        try:
            dataset.attach(self.con, self.path)
        except duckdb.Error as exc:
            self.con.close()
            raise StoreError(f"cannot read the dataset {self.path}: {exc}") from exc

    def export(self, out: str, force: bool = False, written_by: str = "forensics") -> dict:
        """Write the incident as a Parquet dataset at `out` (:func:`forensics.db.dataset.write`)."""
        from . import dataset

        try:
            return dataset.write(self.con, out, force=force, written_by=written_by)
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"cannot export to {out}: {exc}") from exc

    def check_writable(self) -> None:
        """A StoreError when this store cannot take new sources (a dataset)."""
        if self.dataset:
            raise StoreError(f"{self.path} is a Parquet dataset, which is read-only: ingest into a DuckDB file, "
                             "then `forensics export` it")

    # --- schema -----------------------------------------------------------
    def _create_schema(self) -> None:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        found = _schema_version(con)
        if found is not None and found > SCHEMA_VERSION:
            return  # _check_version says so
        digest = _schema_digest()
        if found == SCHEMA_VERSION and _meta(con, "schema_digest") == digest:
            return  # made by this forensics: its 21 views take 0.2 s to create again
        # Every version so far only added tables, columns and views: creating
        # what is missing migrates an older database.
        older = found is not None and found < SCHEMA_VERSION
        if older:
            # DuckDB alters no table an index depends on; version 7 keys sources on (sha256, origin).
            con.execute("DROP INDEX IF EXISTS sources_sha256")
        for table in TABLES.values():
            if table.name in VIEW_TABLES:
                continue
            con.execute(table.ddl())
            for column in table.columns if older else ():
                con.execute(f"ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS {column.name} {column.type}")
        if older and found < 7:
            con.execute("UPDATE sources SET origin = '' WHERE origin IS NULL")  # identity by bytes alone, as then
        if found is not None and found < 4:
            split_stack_frames(con)
        if found is not None and found < 10:
            split_goroutine_frames(con)
        if found is not None and found < 11:
            con.execute("DROP INDEX IF EXISTS sources_artefact")  # DuckDB updates no column an index covers
            derive_ids(con)
        for _, sql in VIEWS.values():
            con.execute(sql)
        con.execute("CREATE UNIQUE INDEX IF NOT EXISTS sources_artefact ON sources (sha256, origin)")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('schema_digest', ?)",
                    [str(SCHEMA_VERSION), digest])

    def _check_version(self) -> None:
        try:
            found = _schema_version(self.con)
        except duckdb.Error as exc:
            raise StoreError(f"{self.path} is not a forensics incident database: {exc}") from exc
        if found is not None and found < SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {found} and was opened read-only; this forensics reads version "
                f"{SCHEMA_VERSION}. Open it read-write once to migrate it (fx.open(path), or any "
                "`forensics ingest --db` into it): the migration keeps every row."
            )
        if found != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {found}; this forensics reads version {SCHEMA_VERSION}"
                + (": it was written by a newer forensics, upgrade this one" if found is not None else "")
            )

    def deny_file_access(self) -> None:
        """From now on, SQL on this connection reads and writes no file but the database
        (no read_text, read_csv, COPY ... TO, ATTACH): for queries a user types.
        A dataset's own directory stays readable: its tables are views of its files."""
        if self.dataset:
            root = os.path.realpath(self.path).replace("'", "''")
            self.con.execute(f"SET allowed_directories = ['{root}']")
        self.con.execute("SET enable_external_access = false")

    # --- reads ------------------------------------------------------------
    def query(self, sql: str, params: list | None = None) -> duckdb.DuckDBPyRelation:
        """Run SQL; the result has .df(), .arrow(), .fetchall()."""
        try:
            if params:
                return self.con.execute(sql, params)
            return self.con.sql(sql)
        except duckdb.Error as exc:
            raise StoreError(str(exc)) from exc

    def ingested(self, sha256: str, origin: str = "") -> Ingested | None:
        """The artefact already ingested with this content and origin, else None."""
        rows = self.con.execute(
            "SELECT source_id, path, status, reader_version FROM sources WHERE sha256 = ? AND origin = ? "
            "ORDER BY source_id DESC LIMIT 1", [sha256, origin]).fetchall()
        return Ingested(*rows[0]) if rows else None

    def ingested_index(self, limit: int = 500_000) -> dict[tuple[str, str], Ingested] | None:
        """Every artefact here, by (sha256, origin), as :meth:`ingested` finds each (the
        latest reading); None past `limit` sources. One query instead of one per source
        (a few ms each) for a batch of many small files."""
        if _one(self.con, "SELECT count(*) FROM sources")[0] > limit:
            return None
        rows = self.con.execute("SELECT sha256, origin, source_id, path, status, reader_version FROM sources "
                                "ORDER BY source_id").fetchall()
        return {(sha, key): Ingested(*rest) for sha, key, *rest in rows}

    @property
    def has_legacy_sources(self) -> bool:
        """Whether sources read before schema 9 are here (keyed by their packed bytes, not their content)."""
        if self._legacy is None:
            self._legacy = _one(self.con, "SELECT count(*) > 0 FROM sources WHERE reader_version IS NULL")[0]
        return self._legacy

    # --- writes -----------------------------------------------------------
    def write_source(
        self,
        path: str,
        sha256: str | None,
        size: int,
        kind: str | None,
        batches: Iterable[tuple[str, pa.RecordBatch]] = (),
        service: str | None = None,
        version: str | None = None,
        mtime: datetime | None = None,
        failure: str | None = None,
        status: str = "failed",
        spooled: "Spooled | None" = None,
        origin=None,
        replaces: int | None = None,
        reader_version: int | None = None,
    ) -> SourceResult:
        """Insert one source and everything its parser yields, atomically.

        The parser's batches are spooled to disk in chunks (see
        :func:`forensics.db.spool.spool_chunks`) by a thread while earlier
        chunks are loaded, with one INSERT per table and chunk, all in one
        transaction: memory stays bounded whatever the size of the source.
        A parser that stops with an error keeps what it yielded before: the
        source becomes `partial` (or `failed` if nothing parsed) with that
        error recorded. When the ingest itself fails (the parser thread, a
        full spool disk, the database load), everything of the source is
        rolled back and it is recorded `failed` with the real error, so a
        later ingest retries it. `spooled` is a source already spooled by a
        worker process; `origin` (a :class:`forensics.ingest.origin.Origin`)
        what its path says of where it came from: its key is part of the
        artefact's identity. `replaces` is the id of an earlier reading of the
        same artefact, deleted in the same transaction.
        """
        args = (path, sha256, size, kind, service, version, mtime, failure, status, origin, replaces, reader_version)
        try:
            if spooled is not None:
                return self._bounded(self._load, [spooled], *args)[0]
            with tempfile.TemporaryDirectory(prefix="forensics-spool-") as tmp:
                from .spool import spool_chunks

                chunks = spool_chunks(batches, tmp)
                try:
                    return self._bounded(self._load, chunks, *args)[0]
                finally:
                    chunks.close()  # stops the parser thread if the load failed
        except Exception as exc:  # noqa: BLE001 - the source fails, the batch goes on; _load rolled back
            why = (f"could not be ingested, nothing of it was kept ({type(exc).__name__}: {exc}); "
                   "ingesting it again retries it")
            return self._bounded(self._load, [], path, sha256, size, kind, service, version, mtime, why, "failed",
                                 origin, replaces, reader_version)[0]

    def write_sources(self, pending: list[Pending]) -> list[SourceResult]:
        """Write many small sources, parsed into memory, in one transaction
        with one INSERT per table: what makes a batch of thousands of small
        files cheap. Each source is still all or nothing: when the batch
        fails, it is rolled back and its sources are written one by one, so
        that only the source at fault fails (recorded as write_source does).

        >>> import tempfile, os
        >>> store = Store(os.path.join(tempfile.mkdtemp(), "i.duckdb"))
        >>> [r.status for r in store.write_sources([Pending("a.txt", "00", 0, None, failure="unreadable")])]
        ['failed']
        """
        if not pending:
            return []
        try:
            return self._bounded(self._load_many, pending)
        except Exception:  # noqa: BLE001 - rolled back: each source alone, the one at fault fails alone
            from .spool import Spooled

            return [self.write_source(p.path, p.sha256, p.size, p.kind, (), p.service, p.version, p.mtime,
                                      p.failure, p.status, p.spooled or Spooled(), p.origin, p.replaces,
                                      p.reader_version) for p in pending]

    def _bounded(self, load, *args) -> list[SourceResult]:
        """A load (_load or _load_many) with DuckDB's memory capped: loading streams, and without a
        cap DuckDB keeps hundreds of MB of written blocks around, so peak
        memory would grow with the source. Queries get their memory back."""
        try:
            self.con.execute(f"SET memory_limit = '{INGEST_MEMORY}'")
        except duckdb.Error:
            return _listed(load(*args))
        try:
            results = _listed(load(*args))
            self._unchecked_rows += sum(sum(r.rows.values()) for r in results)
            if self._unchecked_rows >= CHECKPOINT_ROWS:
                # Else the checkpoint comes at close, uncapped, and doubles peak memory.
                self.con.execute("CHECKPOINT")
                self._unchecked_rows = 0
            return results
        finally:
            self.con.execute("RESET memory_limit")

    def _load(self, chunks: Iterable[Spooled], path, sha256, size, kind, service, version, mtime, failure,
              status, origin, replaces, reader_version) -> SourceResult:
        con = self.con
        result = SourceResult(path, "ok", kind, bytes=size)
        with self._transaction(f"writing {path}"):
            source_id = artefact_id(sha256, origin.key if origin else "", path)
            bases = dict.fromkeys(LOCAL_IDS, source_id)  # the source's own ids: source_id + n
            result.source_id = source_id
            if replaces is not None:
                self._delete_source(replaces)
            if replaces != source_id and _one(con, "SELECT count(*) FROM sources WHERE source_id = ?", [source_id])[0]:
                self._delete_source(source_id)  # a file that could not be read before: its path's id
            # A shared table empty before this source holds only its rows, and its parser gives each
            # key once: its chunks need not be matched against what the chunks before them stored.
            own = {t for t in _SHARED_KEYS if not _one(con, f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1)")[0]}
            errors = []
            for sp in chunks:
                for table, rows in sp.tables():
                    self._insert(table, rows, source_id, bases, own)
                for file in sp.files.values():
                    os.remove(file)  # the disk a big source needs stays at about two chunks
                for table, n in sp.rows.items():
                    result.rows[table] = result.rows.get(table, 0) + n
                errors += sp.errors
            if errors:
                self._insert_rows("ingest_errors", [(source_id, *e) for e in errors])
                result.rows["ingest_errors"] = result.rows.get("ingest_errors", 0) + len(errors)
            first = lambda: _one(con, "SELECT line, message FROM ingest_errors WHERE source_id = ? "  # noqa: E731
                                 "ORDER BY line NULLS LAST LIMIT 1", [source_id])
            decide(result, failure, status, first)
            self._insert_rows("sources", [source_row(result, sha256, service, version, mtime, origin, reader_version)])
        return result

    def _load_many(self, pending: list[Pending]) -> list[SourceResult]:
        """Sources parsed into memory, in one transaction: each source's own ids
        from its id (:func:`forensics.db.spool.gathered`), one INSERT per table for all."""
        from .spool import gathered

        con = self.con
        results, errors, rows = [], [], []
        with self._transaction(f"writing {len(pending)} sources"):
            ids = [artefact_id(p.sha256, p.origin.key if p.origin else "", p.path) for p in pending]
            stored = {r[0] for r in con.execute("SELECT source_id FROM sources WHERE source_id IN (SELECT unnest(?))",
                                                [ids]).fetchall()}
            for old in {p.replaces for p in pending} - {None} | stored:
                self._delete_source(old)
            tables = gathered([p.spooled for p in pending], ids, list(LOCAL_IDS), _SHARED_KEYS)
            for p, source_id in zip(pending, ids):
                result = SourceResult(p.path, "ok", p.kind, source_id=source_id, bytes=p.size)
                found = []  # its problems in load order: its parser's ingest_errors rows, then what stopped it
                if p.spooled is not None:
                    result.rows = dict(p.spooled.rows)
                    for batch in p.spooled.batches.get("ingest_errors", ()):
                        found += zip(batch["line"].to_pylist(), batch["message"].to_pylist())
                    if p.spooled.errors:
                        errors += [(source_id, *e) for e in p.spooled.errors]
                        found += [e[:2] for e in p.spooled.errors]
                        result.rows["ingest_errors"] = result.rows.get("ingest_errors", 0) + len(p.spooled.errors)
                decide(result, p.failure, p.status, functools.partial(first_problem, found))
                rows.append(source_row(result, p.sha256, p.service, p.version, p.mtime, p.origin, p.reader_version))
                results.append(result)
            for table in sorted(tables, key=lambda t: t == "frames"):  # frames find their keys in goroutines
                self._insert(table, tables[table], None, {})
            self._insert_rows("ingest_errors", errors)
            self._insert_rows("sources", rows)
        return results

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """BEGIN ... COMMIT; on any error or interrupt ROLLBACK, a database or Arrow error
        raised again as StoreError saying `what` was being done."""
        import pyarrow as pa

        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self.con.execute("COMMIT")
        except (duckdb.Error, pa.ArrowException) as exc:
            _rollback(self.con)
            raise StoreError(f"{what}: {exc}") from exc
        except BaseException:
            _rollback(self.con)
            raise

    def _insert_rows(self, table: str, rows: list) -> None:
        """Row tuples in the table's column order, in one INSERT through Arrow (executemany
        costs a statement per row)."""
        import pyarrow as pa

        if not rows:
            return
        columns = TABLES[table].columns
        self._insert(table, pa.table([pa.array(values, arrow_type(c.type)) for values, c in zip(zip(*rows), columns)],
                                     names=[c.name for c in columns]), None, {})

    def _delete_source(self, source_id: int) -> None:
        """Delete a source's rows from every table (shared stacks and frames stay): ids a source owns first."""
        con = self.con
        for col, owner in LOCAL_IDS.items():
            for table in TABLES.values():
                names = {c.name for c in table.columns}
                if col in names and "source_id" not in names and table.name not in (*_SHARED_KEYS, *VIEW_TABLES):
                    con.execute(f"DELETE FROM {table.name} WHERE {col} IN "
                                f"(SELECT {col} FROM {owner} WHERE source_id = ?)", [source_id])
        for table in TABLES.values():
            if any(c.name == "source_id" for c in table.columns):
                con.execute(f"DELETE FROM {table.name} WHERE source_id = ?", [source_id])

    def _insert(self, table: str, rows, source_id: int | None, bases: dict[str, int],
                own: set[str] = frozenset()) -> None:
        """One INSERT of a whole table's rows (a RecordBatchReader or Table), their
        local ids shifted by `bases`; `source_id` None: the rows carry theirs. A shared
        table's rows are stored once per key, unless the table is in `own` (its rows are
        all this source's, which has each key once)."""
        if table == "frames":
            return self._insert_frames(rows, bases)
        if table == "stacks" and table not in own and hasattr(rows, "read_all"):
            rows = rows.read_all()  # read twice (a chunk's stacks: bounded by the spool's chunk size)
        self.con.register("_fx_rows", rows)
        try:
            names = {c.name for c in TABLES[table].columns}
            replaced = [f"{col} + {int(base)} AS {col}" for col, base in bases.items() if col in names]
            if table == "goroutines":  # a goroutine profile's frames are keyed by its stack id
                replaced.append(f"{_PROFILE_FRAMES_ID} AS frames_id")
            columns = f"* REPLACE ({', '.join(replaced)})" if replaced else "*"
            if "source_id" in names and source_id is not None:
                columns += f", {int(source_id)} AS source_id"
            where = ""
            if table in _SHARED_KEYS and table not in own:
                key = _SHARED_KEYS[table]
                where = f" WHERE {key} NOT IN (SELECT {key} FROM {table})"
                if table == "stacks":  # a stack stored already takes the smaller frame at each depth
                    self.con.execute("UPDATE stacks SET frame_id = n.frame_id FROM _fx_rows n WHERE "
                                     "stacks.stack_id = n.stack_id AND stacks.depth = n.depth "
                                     "AND n.frame_id < stacks.frame_id")
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT {columns} FROM _fx_rows{where}")
        finally:
            try:
                self.con.unregister("_fx_rows")
            except duckdb.Error:
                pass  # the transaction is aborted: keep the INSERT's own error, not this one

    def _insert_frames(self, rows, bases: dict[str, int]) -> None:
        """Frames rows -> goroutine_stacks, once per frames_id not stored yet: the
        rows of equal keys are equal (frames_id hashes them), and the frames view
        reads them back through goroutines.frames_id."""
        import pyarrow as pa

        batches = iter(rows.to_batches() if isinstance(rows, pa.Table) else rows)
        first = next(batches, None)
        if first is None:
            return
        cols = ", ".join(c.name for c in TABLES["goroutine_stacks"].columns if c.name != "frames_id")
        if first.column("frames_id").null_count:
            # A goroutine profile's rows, keyed by their goroutine's stack id; its
            # stacks may be cut between chunks, so they are matched frame by frame.
            rows = pa.Table.from_batches([first, *batches])
            keys = (f"coalesce(r.frames_id, (SELECT g.frames_id FROM goroutines g WHERE g.dump_id = "
                    f"r.dump_id + {int(bases.get('dump_id', 0))} AND g.seq = r.goroutine_seq))")
            sql = f"""SELECT DISTINCT ON (frames_id, depth) frames_id, {cols} FROM (
                        SELECT r.* REPLACE ({keys} AS frames_id) FROM _fx_rows r) n
                      WHERE frames_id IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM goroutine_stacks s WHERE s.frames_id = n.frames_id AND s.depth = n.depth)"""
        else:  # a dump's: a goroutine's frames come in one batch, its first goroutine's rows are its stack
            rows = pa.RecordBatchReader.from_batches(first.schema, _first_goroutines(first, batches))
            sql = (f"SELECT frames_id, {cols} FROM _fx_rows "
                   "WHERE frames_id NOT IN (SELECT frames_id FROM goroutine_stacks)")
        self.con.register("_fx_rows", rows)
        try:
            self.con.execute(f"INSERT INTO goroutine_stacks BY NAME {sql}")
        finally:
            try:
                self.con.unregister("_fx_rows")
            except duckdb.Error:
                pass


def _first_goroutines(first, batches):
    """The frames of the first goroutine of each frames_id in the batches: the
    others repeat them."""
    import numpy as np
    import pyarrow as pa

    owner: dict[int, tuple[int, int]] = {}  # frames_id -> (dump_id, goroutine_seq) whose rows are kept
    for batch in _chain(first, batches):
        if batch.num_rows == 0:
            continue
        fid = batch.column("frames_id").to_numpy()
        seq, dump = batch.column("goroutine_seq").to_numpy(), batch.column("dump_id").to_numpy()
        keys, at, inverse = np.unique(fid, return_index=True, return_inverse=True)
        dumps, seqs = dump[at], seq[at]  # the first goroutine of each key in the batch...
        for i, k in enumerate(keys.tolist()):
            dumps[i], seqs[i] = owner.setdefault(k, (int(dumps[i]), int(seqs[i])))  # ... unless one came before
        inverse = inverse.reshape(-1)
        keep = (dump == dumps[inverse]) & (seq == seqs[inverse])
        yield batch if keep.all() else batch.filter(pa.array(keep))


def _chain(first, rest):
    yield first
    yield from rest


# goroutines.frames_id of a goroutine profile's goroutine (its parser sends none): from its stack id.
_PROFILE_FRAMES_ID = ("coalesce(frames_id, CASE WHEN stack_id <> 0 THEN xor(stack_id, 2685821657736338717) END)")


def _listed(results) -> list[SourceResult]:
    return results if isinstance(results, list) else [results]


def _open_error(path: str, exc: Exception) -> str:
    """Why a database did not open, said for the one who has to act.

    >>> _open_error("i.duckdb", OSError('Could not set lock on file "i.duckdb": Conflicting lock is held in '
    ...                                 '/usr/bin/python3 (PID 42). See also https://duckdb.org'))[:60]
    'i.duckdb is open in another process (PID 42, /usr/bin/python'
    """
    text = str(exc)
    held = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", text)
    if held is None:
        return f"cannot open {path}: {text}"
    program, pid = held.groups()
    return (f"{path} is open in another process (PID {pid}, {program}: a notebook, or another forensics "
            "command). DuckDB lets one process write a database or several read it: close it there, or open "
            "it there with fx.open(path, read_only=True) so that reading commands can share it.")


@functools.cache
def _schema_digest() -> str:
    """A hash of every statement _create_schema runs: a database whose meta holds it
    has all of them (a view changed within one schema version is made again)."""
    text = "\n".join([*(t.ddl() for t in TABLES.values()), *(sql for _, sql in VIEWS.values())])
    return hashlib.sha256(text.encode()).hexdigest()


def _meta(con, key: str) -> str | None:
    return _one(con, "SELECT any_value(value) FROM meta WHERE key = ?", [key])[0]


def _schema_version(con) -> int | None:
    """The database's schema version, as a number ("10" is after "9")."""
    return _one(con, "SELECT max(TRY_CAST(value AS INTEGER)) FROM meta WHERE key = 'schema_version'")[0]


def _one(con, sql: str, params: list | None = None) -> tuple:
    """The single row of a query, fully fetched (DuckDB refuses new work on a
    connection while a result is still open)."""
    return con.execute(sql, params or []).fetchall()[0]


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass
