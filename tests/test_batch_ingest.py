"""Batched ingest (issue 17): many small sources per transaction and parser
processes change nothing in the database. The sample incident (logs, dumps,
profiles, spans, deploys, events) and damaged crash files are ingested one
source per transaction (every source past the small-source bound), in
batches, in batches of three, and with two parser processes; every table is
then the same, row for row. A failing batch falls back to one source at a
time, so the source at fault fails alone."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

import forensics as fx
from forensics.db.store import Store
from forensics.ingest import files, pipeline

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Path:
    """The sample incident, real crashes and their damaged copies, cut crashes (partial, small and
    gzipped), a profile's first 200 bytes (failed) and a skipped file: every kind of source."""
    root = tmp_path_factory.mktemp("evidence")
    shutil.copytree(SAMPLES / "incident" / "bundle", root / "bundle")
    shutil.copytree(SAMPLES / "go1.27.3" / "default", root / "crashes")
    shutil.copytree(SAMPLES / "damaged" / "crlf", root / "damaged")
    (root / "cut").mkdir()
    for name in ("multi.txt", "deadlock.txt", "busy-panic.txt"):
        text = (SAMPLES / "go1.27.3" / "default" / name).read_bytes()
        (root / "cut" / name).write_bytes(text[: len(text) // 2])  # `head -c`: a copy cut short
        (root / "cut" / f"{name}.gz").write_bytes(gzip.compress(text)[: len(gzip.compress(text)) * 2 // 3])
    (root / "cut" / "heap.pb.gz").write_bytes((SAMPLES / "go1.27.3" / "profiles" / "heap.pb.gz").read_bytes()[:200])
    (root / "cut" / "notes.txt").write_bytes(b"nothing of Go here\n")
    return root


def rows_of(db: Path) -> dict[str, list[tuple]]:
    """Every base table's rows, sorted; the time of ingestion left out."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        for table in tables:
            cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                              "ORDER BY ordinal_position", [table]).fetchall() if r[0] != "ingested_at"]
            got = con.execute(f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in cols)} FROM {table}").fetchall()
            out[table] = sorted(got, key=repr)
        return out
    finally:
        con.close()


def ingest(evidence: Path, db: Path, jobs: int) -> fx.IngestSummary:
    with fx.open(db) as incident:
        return incident.ingest([evidence], jobs=jobs)


@pytest.fixture(scope="module")
def one_by_one(evidence, tmp_path_factory):
    """The reference: no source is small, so each is spooled and written in its own transaction."""
    db = tmp_path_factory.mktemp("ref") / "ref.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "SMALL_SOURCE", -1)
        summary = ingest(evidence, db, jobs=1)
    assert summary.count("ok") > 100 and summary.count("partial") >= 4 and summary.count("failed") >= 1
    assert summary.count("skipped") >= 1
    return db, summary


@pytest.mark.parametrize("jobs, batch", [(1, None), (1, 3), (2, None), (2, 3)])
def test_batches_and_jobs_store_the_same_rows(evidence, one_by_one, tmp_path, monkeypatch, jobs, batch):
    ref_db, ref = one_by_one
    if batch is not None:  # many transactions, worker tasks of two sources
        monkeypatch.setattr(pipeline, "BATCH_SOURCES", batch)
        monkeypatch.setattr(pipeline, "TASK_SOURCES", 2)
    monkeypatch.setattr(pipeline, "POOL_AFTER", 2)  # workers whatever the sources are
    summary = ingest(evidence, tmp_path / "b.duckdb", jobs)
    assert [(r.path, r.status, r.error, r.rows) for r in summary.results] == \
        [(r.path, r.status, r.error, r.rows) for r in ref.results]
    expected, got = rows_of(ref_db), rows_of(tmp_path / "b.duckdb")
    assert got.keys() == expected.keys()
    for table in expected:
        assert got[table] == expected[table], table
    assert sum(len(v) for v in got.values()) > 50_000


def test_reingest_of_a_batch_is_a_no_op(evidence, tmp_path):
    db = tmp_path / "i.duckdb"
    ingest(evidence / "crashes", db, jobs=2)
    again = ingest(evidence / "crashes", db, jobs=2)
    assert {r.status for r in again.results} == {"duplicate"}


def test_a_failing_batch_fails_only_its_source(evidence, tmp_path, monkeypatch):
    """The batch's transaction fails on one source's panic (index.txt's): it is rolled back, the
    sources are written one at a time, and only that one fails, recorded with the database's error."""
    crashes = sorted((evidence / "crashes").iterdir())[:6]
    assert crashes[3].name == "index.txt"
    insert = Store._insert

    def failing(self, table, rows, *args):
        if table == "panics" and any("index out of range" in m for m in rows.column("message").to_pylist()):
            raise duckdb.ConstraintException("injected failure")
        return insert(self, table, rows, *args)

    monkeypatch.setattr(Store, "_insert", failing)
    db = tmp_path / "i.duckdb"
    with fx.open(db) as incident:
        summary = incident.ingest([str(p) for p in crashes], jobs=1)
    statuses = [r.status for r in summary.results]
    assert statuses[3] == "failed" and "injected failure" in summary.results[3].error
    assert statuses[:3] + statuses[4:] == ["ok"] * 5
    with fx.open(db, read_only=True) as incident:
        kept = incident.sql("SELECT s.path, count(d.dump_id) FROM sources s LEFT JOIN dumps d USING (source_id) "
                            "GROUP BY 1 ORDER BY 1").fetchall()
    assert len(kept) == 6 and [p.endswith("index.txt") for p, n in kept if n == 0] == [True]
