"""Ids derived from each artefact: the same on any machine, in any order."""
from __future__ import annotations

import shutil

import duckdb
import pytest

import forensics as fx
from forensics.db import dataset
from forensics.db.ids import LOCAL_IDS, source_id

from conftest import SAMPLES

BUNDLE = SAMPLES / "incident" / "bundle"
POD_LOG = next((BUNDLE / "var" / "log" / "pods").glob("shop_orders-*/orders/0.log"), None)
ARTEFACTS = [
    SAMPLES / "go1.27.3" / "default" / "multi.txt",  # several dumps in one file
    SAMPLES / "go1.27.3" / "profiles" / "heap.pb.gz",
    SAMPLES / "go1.27.3" / "profiles" / "goroutine.pb.gz",  # a profile that is also a goroutine snapshot
    BUNDLE / "deploys" / "buildinfo" / "checkout-v1.2.0.txt",  # go version -m: builds
    BUNDLE / "deploys" / "deploys.csv",
    POD_LOG,  # logs with crashes in them, and an origin (pod, container, restart) from the kubelet path
]
TABLES = dataset.tables()


def _rows(db) -> dict[str, list]:
    return {t: db.sql(f"SELECT {_columns(t)} FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def _columns(table: str) -> str:
    """A table's columns but those that say when or where a file was read, not what it holds."""
    return "* EXCLUDE (ingested_at, path, mtime)" if table == "sources" else "*"


def _ingest(path, files, jobs: int = 1):
    db = fx.open(path)
    db.ingest(files, jobs=jobs)
    return db


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    if POD_LOG is None:
        pytest.skip("no sample pod log")
    db = _ingest(tmp_path_factory.mktemp("ids") / "a.duckdb", ARTEFACTS)
    return _rows(db)


def test_the_same_artefacts_get_the_same_ids_in_any_order_and_place(tmp_path, reference):
    copies = tmp_path / "elsewhere"
    copies.mkdir()
    moved = []  # the same bytes at other paths, ingested in reverse order: ids follow content and origin
    for f in reversed(ARTEFACTS):
        if f == POD_LOG or f.suffix == ".csv":
            moved.append(f)  # a pod log's path is its origin; deploy records name build files beside them
        else:
            moved.append(shutil.copy(f, copies / f"copy-{f.name}"))
    got = _rows(_ingest(tmp_path / "b.duckdb", moved))
    assert got == reference
    assert all(got[t] for t in ("dumps", "profiles", "builds", "logs", "events"))
    assert {n for (n,) in fx.open(tmp_path / "b.duckdb").sql(
        "SELECT DISTINCT dump_id - source_id FROM dumps").fetchall()} == {0, 1, 2}


def test_ids_are_the_source_id_plus_the_row_number(tmp_path):
    db = _ingest(tmp_path / "i.duckdb", ARTEFACTS[:4])
    for sid, sha, origin, path in db.sql("SELECT source_id, sha256, origin, path FROM sources").fetchall():
        assert sid == source_id(sha, origin, path) and 0 <= sid < 2 ** 62
    for col, owner in LOCAL_IDS.items():
        local = db.sql(f"SELECT source_id, list({col} - source_id ORDER BY {col}) FROM {owner} GROUP BY ALL").fetchall()
        assert local and all(n == list(range(len(n))) for _, n in local), col


def test_one_crash_in_two_pods_is_two_sources(tmp_path):
    crash = (SAMPLES / "go1.27.3" / "default" / "nil-deref.txt").read_bytes()
    files = []
    for pod in ("orders-7d8f876587-aaaaa", "orders-7d8f876587-bbbbb"):
        where = tmp_path / "var" / "log" / "pods" / f"shop_{pod}_0f0f0f0f-0000-0000-0000-000000000000" / "orders"
        where.mkdir(parents=True)
        (where / "0.log").write_bytes(crash)
        files.append(where / "0.log")
    db = _ingest(tmp_path / "i.duckdb", files)
    ids = db.sql("SELECT source_id, pod FROM sources ORDER BY pod").fetchall()
    assert len({i for i, _ in ids}) == 2 and [p for _, p in ids] == ["orders-7d8f876587-aaaaa",
                                                                      "orders-7d8f876587-bbbbb"]
    assert db.ingest(files).count("duplicate") == 2  # and reading them again adds nothing


def test_databases_made_apart_union_into_the_one_made_together(tmp_path, reference):
    """What lets executors write apart: each half ingested alone, exported,
    and the two datasets' rows together are the rows of one ingest of all."""
    halves = [ARTEFACTS[::2], ARTEFACTS[1::2]]
    parts = []
    for i, files in enumerate(halves):
        db = _ingest(tmp_path / f"{i}.duckdb", files)
        db.export(tmp_path / f"part{i}")
        parts.append(tmp_path / f"part{i}")
    con = duckdb.connect()
    for table in TABLES:
        union = " UNION ALL ".join(f"SELECT * FROM read_parquet('{p}/{table}/**/*.parquet', union_by_name = true, "
                                   f"hive_partitioning = {str(table in dataset.PARTITIONS).lower()})"
                                   for p in parts if any((p / table).rglob("*.parquet")))
        if not union:
            assert reference[table] == [], table
            continue
        columns = ", ".join(f"{c} AS {c}" for c in fx.open(tmp_path / "0.duckdb").sql(
            f"SELECT {_columns(table)} FROM {table} LIMIT 0").columns)
        key = "DISTINCT " if table in ("frame_info", "goroutine_stacks") else ""  # shared: once per key
        if table == "stacks":  # at each depth the smallest frame (frames of other addresses: other builds)
            columns = "stack_id, depth, min(frame_id)"
        group = " GROUP BY stack_id, depth" if table == "stacks" else ""
        rows = con.sql(f"SELECT {key}{columns} FROM ({union}){group} ORDER BY ALL").fetchall()
        assert rows == reference[table], table


PROFILES = sorted((BUNDLE / "profiles").glob("checkout-*/cpu-*.pb.gz"))


def test_a_stack_keeps_the_same_frames_whatever_was_read_first(tmp_path):
    """Two builds' profiles give one stack id frames of other addresses; which the
    stacks table keeps is a rule (at each depth the smallest frame_id), not the
    order of reading, nor whether sources were loaded one by one or together."""
    if len(PROFILES) < 4:
        pytest.skip("no sample incident profiles")
    variants = duckdb.connect()
    for i, f in enumerate(PROFILES):  # each profile alone: the stacks it carries
        with fx.open(tmp_path / f"p{i}.duckdb") as db:
            db.ingest([f])
            rows = db.sql("SELECT stack_id, depth, frame_id FROM stacks").to_arrow_table()
        variants.register(f"p{i}", rows)
    union = " UNION ".join(f"SELECT * FROM p{i}" for i in range(len(PROFILES)))
    [(clashes,)] = variants.sql(f"SELECT count(DISTINCT stack_id) FROM (SELECT stack_id, depth FROM ({union}) "
                                "GROUP BY ALL HAVING count(DISTINCT frame_id) > 1)").fetchall()
    assert clashes  # else this test could not fail
    expected = variants.sql(f"SELECT stack_id, depth, min(frame_id) FROM ({union}) GROUP BY ALL ORDER BY ALL").fetchall()
    for name, files, jobs in (("forward", PROFILES, 1), ("reverse", PROFILES[::-1], 1),
                              ("together", PROFILES[::-1], 2)):
        with fx.open(tmp_path / f"{name}.duckdb") as db:
            if name == "together":
                db.ingest(files, jobs=jobs)  # small sources loaded in one transaction (spool.gathered)
            else:
                for f in files:
                    db.ingest([f])
            assert db.sql("SELECT * FROM stacks ORDER BY ALL").fetchall() == expected, name


def test_a_schema_10_database_is_migrated_to_derived_ids(tmp_path, reference):
    """Before schema 11 ids came from a sequence (sources from 1, dumps from 0
    across the database): opening such a file gives every row its derived ids."""
    path = tmp_path / "old.duckdb"
    _ingest(path, ARTEFACTS).close()
    con = duckdb.connect(str(path))
    con.execute("DROP INDEX sources_artefact")
    con.execute("CREATE TABLE _m AS SELECT source_id AS new, row_number() OVER (ORDER BY path) AS old FROM sources")
    for col, owner in LOCAL_IDS.items():
        con.execute(f"CREATE TABLE _l AS SELECT {col} AS new, row_number() OVER (ORDER BY {col}) - 1 AS old "
                    f"FROM {owner}")
        for table in TABLES:
            if col in [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]:
                con.execute(f"UPDATE {table} SET {col} = _l.old FROM _l WHERE {table}.{col} = _l.new")
        con.execute("DROP TABLE _l")
    for table in TABLES:
        if "source_id" in [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]:
            con.execute(f"UPDATE {table} SET source_id = _m.old FROM _m WHERE {table}.source_id = _m.new")
    con.execute("DROP TABLE _m")
    con.execute("UPDATE meta SET value = '10' WHERE key = 'schema_version'")
    assert con.execute("SELECT min(source_id), max(source_id) FROM sources").fetchall() == [(1, len(ARTEFACTS))]
    con.close()
    with fx.open(path) as db:
        assert _rows(db) == reference
        assert db.ingest(ARTEFACTS).count("duplicate") == len(ARTEFACTS)  # found again by their identity
