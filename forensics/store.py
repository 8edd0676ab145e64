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

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator

import duckdb
import pyarrow as pa

from .errors import ForensicsError, StoreError
from .schema import SCHEMA_VERSION, TABLES

INSERT_ROWS = 1 << 17
# Tables whose parser output carries source-local dump ids.
_DUMP_TABLES = {"dumps", "panics", "goroutines", "frames", "race_accesses"}


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
        for table in TABLES.values():
            con.execute(table.ddl())
        con.execute("CREATE UNIQUE INDEX IF NOT EXISTS sources_sha256 ON sources (sha256)")
        con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING", [str(SCHEMA_VERSION)]
        )

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
        batches: Iterable[tuple[str, pa.RecordBatch]],
        service: str | None = None,
        version: str | None = None,
        mtime: datetime | None = None,
        failure: str | None = None,
        status: str = "failed",
    ) -> SourceResult:
        """Insert one source and everything its parser yields, atomically.

        A parser that stops with an error keeps what it yielded before: the
        source becomes `partial` (or `failed` if nothing parsed) with that
        error recorded. A database error rolls the whole source back.
        """
        con = self.con
        result = SourceResult(path, "ok", kind, bytes=size)
        errors: list[tuple[int | None, str, str | None]] = []
        try:
            con.execute("BEGIN TRANSACTION")
            source_id = _one(con, "SELECT nextval('source_id_seq')")[0]
            base = _one(con, "SELECT coalesce(max(dump_id) + 1, 0) FROM dumps")[0]
            result.source_id = source_id
            # Batches are coalesced per table (bounded): one INSERT per ~256k
            # rows costs far less than one per parser batch.
            pending: dict[str, list[pa.RecordBatch]] = {}
            sizes: dict[str, int] = {}
            for table, batch in _guarded(batches, errors):
                pending.setdefault(table, []).append(batch)
                sizes[table] = sizes.get(table, 0) + batch.num_rows
                result.rows[table] = result.rows.get(table, 0) + batch.num_rows
                if sizes[table] >= INSERT_ROWS:
                    self._insert(table, pa.Table.from_batches(pending.pop(table)), source_id, base)
                    sizes[table] = 0
            for table, parts in pending.items():
                self._insert(table, pa.Table.from_batches(parts), source_id, base)
            if errors:
                con.executemany(
                    "INSERT INTO ingest_errors VALUES (?, ?, ?, ?)", [(source_id, *e) for e in errors]
                )
                result.rows["ingest_errors"] = result.rows.get("ingest_errors", 0) + len(errors)
            result.status, result.error = _status(con, source_id, result, failure, status)
            con.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [source_id, path, sha256, size, kind, result.status, result.error, service, version, mtime, _now()],
            )
            con.execute("COMMIT")
        except (duckdb.Error, pa.ArrowException) as exc:
            _rollback(con)
            raise StoreError(f"writing {path}: {exc}") from exc
        except BaseException:
            _rollback(con)
            raise
        return result

    def _insert(self, table: str, batch: pa.Table, source_id: int, base: int) -> None:
        self.con.register("_fx_batch", batch)
        try:
            if table in _DUMP_TABLES:
                sql = (
                    f"INSERT INTO {table} BY NAME SELECT * REPLACE (dump_id + {int(base)} AS dump_id), "
                    f"{int(source_id)} AS source_id FROM _fx_batch"
                )
                if "source_id" not in {c.name for c in TABLES[table].columns}:
                    sql = f"INSERT INTO {table} BY NAME SELECT * REPLACE (dump_id + {int(base)} AS dump_id) FROM _fx_batch"
            else:
                sql = f"INSERT INTO {table} BY NAME SELECT *, {int(source_id)} AS source_id FROM _fx_batch"
            self.con.execute(sql)
        finally:
            self.con.unregister("_fx_batch")


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
