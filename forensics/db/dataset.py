"""An incident as a Parquet dataset: one directory, a subdirectory per table.

What a DuckDB file holds, laid out so that DuckDB, Spark SQL, Trino or
Athena can read it, and so that datasets written by several machines can
sit side by side::

    DIR/manifest.json                           schema version, tables, sources
    DIR/sources/data_0.parquet                  a table without service and time
    DIR/dumps/service=api/date=2026-11-22/...   Hive partitions where a table has both

Partition values are escaped (``a%2Fb``) and a missing one is
``__HIVE_DEFAULT_PARTITION__``, as Hive and Spark write them. Opening a
dataset (:func:`attach`) makes every table a view over ``read_parquet``
with the declared column types (or, for a small dataset, a copy in memory),
so the analyses and reports read it as they read a database; it is read-only.

>>> import duckdb, os, tempfile
>>> from forensics.db.store import Store
>>> out = os.path.join(tempfile.mkdtemp(), "incident")
>>> write(Store().con, out)["tables"]["dumps"]
{'rows': 0, 'partitioned_by': ['service', 'date']}
>>> Store(out).query("SELECT count(*) FROM panics").fetchall()
[(0,)]
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from ..errors import StoreError
from .schema import SCHEMA_VERSION, TABLES, VIEWS
from .views import VIEW_TABLES

MANIFEST = "manifest.json"
FORMAT = "forensics-dataset"
# Tables partitioned by service and day: (service column, the time its day is taken from).
# The others are small (sources, builds) or children of these (goroutines of a dump).
PARTITIONS = {"dumps": ("service", "ts"), "panics": ("service", "ts"), "profiles": ("service", "ts"),
              "logs": ("service", "ts"), "events": ("service", "ts"), "spans": ("service", "start_ts")}
_HIVE_TYPES = "{'service': 'VARCHAR', 'date': 'DATE'}"
COPY_BYTES = 64 << 20  # a dataset up to this much Parquet is read into memory when opened


def is_dataset(path: str | os.PathLike) -> bool:
    """`path` is a directory with a dataset manifest."""
    return os.path.isfile(os.path.join(path, MANIFEST))


def tables() -> list[str]:
    """The tables a dataset holds: every table of the schema, views aside."""
    return [name for name in TABLES if name not in VIEW_TABLES]


def write(con, out: str | os.PathLike, force: bool = False, written_by: str = "forensics") -> dict:
    """Write the incident `con` holds as a dataset at `out`; returns the manifest
    (`written_by`: the program and version it names).

    Written beside `out` and renamed into place, so a failed export leaves
    nothing at `out`; an existing dataset there is replaced only with `force`.
    """
    out = Path(out)
    if out.exists() and not (out.is_dir() and (is_dataset(out) or not any(out.iterdir()))):
        raise StoreError(f"{out} exists and is not a forensics dataset: choose a new directory")
    if is_dataset(out) and not force:
        raise StoreError(f"{out} is already a dataset: give force=True (--force) to replace it")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        manifest = _write_tables(con, partial, written_by)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            partial.rename(out)
            shutil.rmtree(old)
        else:
            partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _write_tables(con, into: Path, written_by: str) -> dict:
    entries = {}
    for name in tables():
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        target = str(into / name).replace("'", "''")
        part = PARTITIONS.get(name)
        if part is None:
            (into / name).mkdir()
            con.execute(f"COPY {name} TO '{target}/data_0.parquet' (FORMAT parquet, COMPRESSION zstd)")
        elif rows:  # DuckDB writes no file for a partitioned copy of no rows; the reader knows the table empty
            service, ts = part
            con.execute(f"COPY (SELECT *, CAST({ts} AS DATE) AS date FROM {name}) TO '{target}' "
                        f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({service}, date))")
        entries[name] = {"rows": rows, "partitioned_by": [part[0], "date"] if part else []}
    statuses = dict(con.execute("SELECT status, count(*) FROM sources GROUP BY status ORDER BY status").fetchall())
    return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "written_by": written_by,
            "written_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sources": {"count": sum(statuses.values()), "by_status": statuses}, "tables": entries}


def read_manifest(directory: str | os.PathLike) -> dict:
    """The manifest of the dataset at `directory`; StoreError when it is not one this forensics reads."""
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{directory} is not a readable forensics dataset ({MANIFEST}: {exc})") from exc
    found = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"{path} is not a forensics dataset manifest (no \"format\": \"{FORMAT}\")")
    if found != SCHEMA_VERSION:
        newer = isinstance(found, int) and found > SCHEMA_VERSION
        raise StoreError(f"{directory} is a dataset of schema version {found}; this forensics reads version "
                         f"{SCHEMA_VERSION}: " + ("upgrade forensics" if newer else
                                                  "export it again from its database with this forensics"))
    return manifest


def attach(con, directory: str | os.PathLike) -> dict:
    """Make `con` (an in-memory database) read the dataset at `directory`:
    each table a view over its Parquet files, then the schema's views. A
    dataset of at most COPY_BYTES of Parquet (one incident's) is copied into
    memory instead, where every query runs as fast as on its DuckDB file."""
    manifest = read_manifest(directory)
    root = Path(directory).resolve()
    found = {name: sorted((root / name).rglob("*.parquet")) if (root / name).is_dir() else []
             for name in tables()}
    copied = sum(f.stat().st_size for files in found.values() for f in files) <= COPY_BYTES
    con.execute("SET TimeZone = 'UTC'")  # a TIMESTAMPTZ column (Spark's) cast to TIMESTAMP stays UTC
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('schema_version', ?), ('dataset', ?), ('dataset_tables', ?)",
                [str(SCHEMA_VERSION), str(root), "copied" if copied else "views"])
    listed = manifest.get("tables", {})
    for name, files in found.items():
        columns = TABLES[name].columns
        where = root / name
        if not files:
            typed = ", ".join(f"CAST(NULL AS {c.type}) AS {c.name}" for c in columns)
            con.execute(f"CREATE VIEW {name} AS SELECT {typed} WHERE false")
            continue
        hive = bool(listed.get(name, {}).get("partitioned_by")) or name in PARTITIONS
        pattern = str(where / ("**/*.parquet" if hive else "*.parquet")).replace("'", "''")
        options = f", hive_partitioning = true, hive_types = {_HIVE_TYPES}" if hive else ", hive_partitioning = false"
        typed = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in columns)
        con.execute(f"CREATE {'TABLE' if copied else 'VIEW'} {name} AS SELECT {typed} "
                    f"FROM read_parquet('{pattern}', union_by_name = true{options})")
    for _, sql in VIEWS.values():
        con.execute(sql)
    return manifest
