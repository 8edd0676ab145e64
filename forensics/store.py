"""The incident database: one DuckDB file. The only module that talks to DuckDB.

Creates and versions the schema declared in :mod:`forensics.schema`, writes
each source in one transaction from the Arrow batches its parser yields, and
runs queries.

>>> import tempfile, os
>>> store = Store(os.path.join(tempfile.mkdtemp(), "incident.duckdb"))
>>> store.query("SELECT count(*) AS n FROM dumps").fetchall()
[(0,)]
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc

from .errors import ForensicsError, StoreError
from .schema import SCHEMA_VERSION, TABLES, VIEWS

# Ids a parser numbers from 0 within its source, and the table that owns
# each: the store rebases them past the largest id already there.
_LOCAL_IDS = {"dump_id": "dumps", "profile_id": "profiles"}
# Tables whose rows are shared by all sources and stored once per key.
_SHARED_KEYS = {"stacks": "stack_id", "frame_info": "frame_id"}
INGEST_MEMORY = "256MB"  # DuckDB's memory while loading a source (it spills to disk beyond)


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


class Store:
    """An open incident database (created if missing)."""

    def __init__(self, path: str = ":memory:", read_only: bool = False):
        self.path = str(path)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
            try:
                self.con.execute("SET enable_progress_bar = false")  # no bars drawn over the CLI's output
            except duckdb.Error:
                pass  # in Jupyter DuckDB refuses to touch the setting without ipywidgets
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        if not read_only:
            self._create_schema()
        self._check_version()

    def close(self) -> None:
        self.con.close()

    # --- schema -----------------------------------------------------------
    def _create_schema(self) -> None:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("CREATE SEQUENCE IF NOT EXISTS source_id_seq START 1")
        found = _one(con, "SELECT max(value) FROM meta WHERE key = 'schema_version'")[0]
        if found is not None and int(found) > SCHEMA_VERSION:
            return  # _check_version says so
        # Every version so far only added tables, columns and views: creating
        # what is missing migrates an older database.
        for table in TABLES.values():
            con.execute(table.ddl())
            for column in table.columns if found is not None and int(found) < SCHEMA_VERSION else ():
                con.execute(f"ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS {column.name} {column.type}")
        if found is not None and int(found) < 4:
            _split_stack_frames(con)
        for _, sql in VIEWS.values():
            con.execute(sql)
        con.execute("CREATE UNIQUE INDEX IF NOT EXISTS sources_sha256 ON sources (sha256)")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])

    def _check_version(self) -> None:
        try:
            row = _one(self.con, "SELECT max(value) FROM meta WHERE key = 'schema_version'")
        except duckdb.Error as exc:
            raise StoreError(f"{self.path} is not a forensics incident database: {exc}") from exc
        found = int(row[0]) if row[0] is not None else None
        if found != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {found}; this forensics reads version {SCHEMA_VERSION}"
            )

    # --- reads ------------------------------------------------------------
    def query(self, sql: str, params: list | None = None) -> duckdb.DuckDBPyRelation:
        """Run SQL; the result has .df(), .arrow(), .fetchall()."""
        try:
            if params:
                return self.con.execute(sql, params)
            return self.con.sql(sql)
        except duckdb.Error as exc:
            raise StoreError(str(exc)) from exc

    def has_content(self, sha256: str) -> bool:
        return _one(self.con, "SELECT count(*) FROM sources WHERE sha256 = ?", [sha256])[0] > 0

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
    ) -> SourceResult:
        """Insert one source and everything its parser yields, atomically.

        The parser's batches are first spooled to disk (see :func:`spool`),
        then loaded with one INSERT per table in one transaction: memory
        stays bounded whatever the size of the source. A parser that stops
        with an error keeps what it yielded before: the source becomes
        `partial` (or `failed` if nothing parsed) with that error recorded.
        A database error rolls the whole source back.
        """
        if spooled is not None:
            return self._bounded_load(path, sha256, size, kind, spooled, service, version, mtime, failure, status)
        with tempfile.TemporaryDirectory(prefix="forensics-spool-") as tmp:
            sp = spool(batches, tmp)
            return self._bounded_load(path, sha256, size, kind, sp, service, version, mtime, failure, status)

    def _bounded_load(self, *args) -> SourceResult:
        """_load with DuckDB's memory capped: loading streams, and without a
        cap DuckDB keeps hundreds of MB of written blocks around, so peak
        memory would grow with the source. Queries get their memory back."""
        try:
            self.con.execute(f"SET memory_limit = '{INGEST_MEMORY}'")
        except duckdb.Error:
            return self._load(*args)
        try:
            return self._load(*args)
        finally:
            self.con.execute("RESET memory_limit")

    def _load(self, path, sha256, size, kind, sp: "Spooled", service, version, mtime, failure, status) -> SourceResult:
        con = self.con
        result = SourceResult(path, "ok", kind, bytes=size, rows=dict(sp.rows))
        try:
            con.execute("BEGIN TRANSACTION")
            source_id = _one(con, "SELECT nextval('source_id_seq')")[0]
            bases = {col: _one(con, f"SELECT coalesce(max({col}) + 1, 0) FROM {owner}")[0]
                     for col, owner in _LOCAL_IDS.items()}
            result.source_id = source_id
            for table, file in sp.files.items():
                self._insert(table, ipc.open_stream(pa.OSFile(file)), source_id, bases)
            if sp.errors:
                con.executemany(
                    "INSERT INTO ingest_errors VALUES (?, ?, ?, ?)", [(source_id, *e) for e in sp.errors]
                )
                result.rows["ingest_errors"] = result.rows.get("ingest_errors", 0) + len(sp.errors)
            result.status, result.error = _status(con, source_id, result, failure, status)
            if result.status == "skipped" and failure is None:
                result.kind = None  # read as text, but nothing in it was recognised
            con.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [source_id, path, sha256, size, result.kind, result.status, result.error, service, version, mtime,
                 _now()],
            )
            con.execute("COMMIT")
        except (duckdb.Error, pa.ArrowException) as exc:
            _rollback(con)
            raise StoreError(f"writing {path}: {exc}") from exc
        except BaseException:
            _rollback(con)
            raise
        return result

    def _insert(self, table: str, rows, source_id: int, bases: dict[str, int]) -> None:
        """One INSERT of a whole table's rows (a RecordBatchReader or Table)."""
        self.con.register("_fx_rows", rows)
        try:
            names = {c.name for c in TABLES[table].columns}
            shifted = [f"{col} + {int(base)} AS {col}" for col, base in bases.items() if col in names]
            columns = f"* REPLACE ({', '.join(shifted)})" if shifted else "*"
            if "source_id" in names:
                columns += f", {int(source_id)} AS source_id"
            where = ""
            if table in _SHARED_KEYS:
                key = _SHARED_KEYS[table]
                where = f" WHERE {key} NOT IN (SELECT {key} FROM {table})"
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT {columns} FROM _fx_rows{where}")
        finally:
            try:
                self.con.unregister("_fx_rows")
            except duckdb.Error:
                pass  # the transaction is aborted: keep the INSERT's own error, not this one


@dataclass
class Spooled:
    """A parsed source waiting to be loaded: one Arrow IPC stream file per table."""

    files: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    errors: list[tuple] = field(default_factory=list)  # what stopped the parser, as ingest_errors rows


def spool(batches: Iterable[tuple[str, pa.RecordBatch]], directory: str) -> Spooled:
    """Write a parser's batches to per-table IPC stream files in `directory`.

    Many small INSERTs in one transaction make DuckDB hold far more memory
    than one streaming INSERT per table, so batches go to disk first (no
    DuckDB here: parser worker processes use this too).
    """
    sp = Spooled()
    writers: dict[str, ipc.RecordBatchStreamWriter] = {}
    try:
        for table, batch in _guarded(batches, sp.errors):
            if table not in TABLES or batch.schema != TABLES[table].arrow_schema:
                # A parser bug, recorded against the source like any other.
                sp.errors.append((None, f"internal parser error: a {table!r} batch does not match the schema", None))
                break
            if table not in writers:
                sp.files[table] = os.path.join(directory, f"{table}.arrows")
                writers[table] = ipc.new_stream(sp.files[table], batch.schema)
            writers[table].write_batch(batch)
            sp.rows[table] = sp.rows.get(table, 0) + batch.num_rows
    finally:
        for w in writers.values():
            w.close()
    return sp


def _guarded(batches, errors) -> Iterator[tuple[str, pa.RecordBatch]]:
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


def _status(con, source_id: int, result: SourceResult, failure: str | None, failure_status: str) -> tuple[str, str | None]:
    n_errors = result.rows.get("ingest_errors", 0)
    parsed = sum(n for t, n in result.rows.items() if t != "ingest_errors")
    if failure:
        return failure_status, failure
    if n_errors:
        line, message = _one(
            con,
            "SELECT line, message FROM ingest_errors WHERE source_id = ? ORDER BY line NULLS LAST LIMIT 1",
            [source_id],
        )
        where = f"line {line}: " if line is not None else ""
        summary = f"{n_errors} problem{'s' if n_errors > 1 else ''}; first: {where}{message}"
        return ("partial" if parsed else "failed"), summary
    if not parsed:
        return "skipped", "no Go crash output, goroutine dump or race report found"
    return "ok", None


def _split_stack_frames(con) -> None:
    """Schema 4 keeps stack frames as stacks + frame_info (stack_frames is a
    view now): move an older database's stack_frames table over."""
    kind = _one(con, "SELECT any_value(table_type) FROM information_schema.tables WHERE table_name = 'stack_frames'")[0]
    if kind != "BASE TABLE":
        return
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'stack_frames'").fetchall()}
    wanted = [c.name for c in TABLES["frame_info"].columns if c.name != "frame_id"]
    columns = ", ".join(c if c in have else f"NULL AS {c}" for c in wanted)  # schema 2 lacked some
    con.execute(f"CREATE TEMP TABLE _old_frames AS SELECT stack_id, depth, {columns} FROM stack_frames")
    names = ", ".join(wanted)
    con.execute(f"INSERT INTO frame_info SELECT DISTINCT (hash({names}) >> 1)::BIGINT, {names} FROM _old_frames")
    con.execute(f"INSERT INTO stacks SELECT stack_id, depth, (hash({names}) >> 1)::BIGINT FROM _old_frames")
    con.execute("DROP TABLE _old_frames")
    con.execute("DROP TABLE stack_frames")


def _one(con, sql: str, params: list | None = None) -> tuple:
    """The single row of a query, fully fetched (DuckDB refuses new work on a
    connection while a result is still open)."""
    return con.execute(sql, params or []).fetchall()[0]


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
