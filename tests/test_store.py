"""The store and the Python API: atomic sources, dedup, partial files, versions."""
from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

import forensics as fx
from forensics.parsers.dumps import scanner
from forensics.db.schema import TABLES
from forensics.db.spool import spool_chunks
from forensics.db.store import Store

from conftest import SAMPLES

PANIC = SAMPLES / "go1.27.3" / "default" / "panic-custom-error.txt"
MULTI = SAMPLES / "go1.19.8" / "default" / "multi.txt"

COUNT_TABLES = ["sources", "dumps", "panics", "goroutines", "frames", "ingest_errors"]


def counts(db) -> dict[str, int]:
    return {t: db.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in COUNT_TABLES}


def test_reingest_same_content_is_a_noop(tmp_path, db):
    copy = tmp_path / "copy-of-multi.log"
    copy.write_bytes(MULTI.read_bytes())
    first = db.ingest([MULTI, PANIC])
    before = counts(db)
    again = db.ingest([MULTI, PANIC, copy])
    assert first.count("ok") == 2
    assert again.count("duplicate") == 3
    assert counts(db) == before


def test_dump_ids_are_unique_across_sources(db):
    db.ingest([MULTI, PANIC])
    rows = db.sql("SELECT source_id, dump_id FROM dumps ORDER BY dump_id").fetchall()
    assert len({d for _, d in rows}) == 4 and len({s for s, _ in rows}) == 2
    # each source's dumps: its id plus their number in it (forensics.db.ids)
    assert sorted(d - s for s, d in rows) == [0, 0, 1, 2]
    # Every goroutine and frame points at an existing dump of the same source.
    orphans = db.sql("""
        SELECT count(*) FROM frames f LEFT JOIN goroutines g
          ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq
        WHERE g.dump_id IS NULL""").fetchall()[0][0]
    assert orphans == 0


def test_partial_file_keeps_good_dumps(tmp_path, db):
    lines = MULTI.read_bytes().split(b"\n")
    # Another writer's log line lands between a frame and its file line,
    # inside the second goroutine dump.
    header = next(i for i, line in enumerate(lines) if line.startswith(b"goroutine ") and i > 200)
    broken = lines[: header + 2] + [b"this is not a file line"] + lines[header + 2 :]
    path = tmp_path / "broken.log"
    path.write_bytes(b"\n".join(broken))
    r = db.ingest(path).results[0]
    assert r.status == "partial"
    assert r.error.startswith(f"1 problem; first: line {header + 3}: ")
    err = db.sql("SELECT line, message, excerpt FROM ingest_errors").fetchall()
    assert err == [(header + 3, err[0][1], "this is not a file line")]
    assert "unexpected line inside the stack of goroutine" in err[0][1]
    # All three dumps and all their goroutines are still there.
    assert db.sql("SELECT count(*) FROM dumps").fetchall()[0][0] == 3
    assert db.sql("SELECT list(total_goroutines ORDER BY dump_id) FROM dumps").fetchall()[0][0] == [16, 16, 16]


def test_database_error_rolls_the_source_back(tmp_path):
    store = Store(str(tmp_path / "x.duckdb"))
    store.query("DROP TABLE goroutine_stacks")  # the insert of frames (into goroutine_stacks) will fail
    batches = scanner.parse(PANIC.open("rb"))
    r = store.write_source("x", "abc", 1, "go_crash", batches)
    # Nothing of it is kept, and its row says why, so that a later ingest retries it.
    assert r.status == "failed" and "goroutine_stacks" in r.error and "ingesting it again retries it" in r.error
    for table in ("dumps", "goroutines", "panics"):
        assert store.query(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
    assert store.query("SELECT status FROM sources").fetchall() == [("failed",)]


def test_batch_with_wrong_schema_is_a_parser_error(tmp_path):
    store = Store(str(tmp_path / "x.duckdb"))
    good = pa.RecordBatch.from_pylist(
        [{"line": 1, "message": "m", "excerpt": "e"}], schema=TABLES["ingest_errors"].arrow_schema)
    bad = pa.RecordBatch.from_pylist([{"nonsense": 1}])
    r = store.write_source("x", "abc", 1, "go_crash", [("ingest_errors", good), ("ingest_errors", bad)])
    assert r.status == "failed"
    msgs = [m for (m,) in store.query("SELECT message FROM ingest_errors ORDER BY line NULLS LAST").fetchall()]
    assert msgs == ["m", "internal parser error: a 'ingest_errors' batch does not match the schema"]


def test_parser_crash_is_recorded_not_raised(tmp_path):
    store = Store(str(tmp_path / "x.duckdb"))

    def exploding():
        yield "ingest_errors", pa.RecordBatch.from_pylist(
            [{"line": 3, "message": "first", "excerpt": None}], schema=TABLES["ingest_errors"].arrow_schema)
        raise RuntimeError("bug in a parser")

    r = store.write_source("x", "abc", 1, "go_crash", exploding())
    assert r.status == "failed"
    msgs = [m for (m,) in store.query("SELECT message FROM ingest_errors ORDER BY line NULLS LAST").fetchall()]
    assert msgs == ["first", "internal parser error (RuntimeError): bug in a parser"]


def test_a_source_loads_in_chunks_while_it_parses(tmp_path, monkeypatch):
    """Tiny chunks: every batch is loaded in its own INSERT while the parser
    thread goes on; the rows, the dictionary-encoded column and the error
    that stopped the parser all arrive, in one source."""
    monkeypatch.setattr("forensics.db.spool.CHUNK_BYTES", 1)
    store = Store(str(tmp_path / "x.duckdb"))
    schema = TABLES["ingest_errors"].arrow_schema

    def parser():
        for i in range(5):
            message = pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array([f"chunk {i}"]))
            yield "ingest_errors", pa.RecordBatch.from_arrays(
                [pa.array([2 * i, 2 * i + 1], pa.int64()), message, pa.array(["x", "y"])],
                schema=pa.schema([schema.field(0), pa.field("message", message.type), schema.field(2)]))
        yield "ingest_errors", pa.RecordBatch.from_pylist([{"line": 10, "message": "plain", "excerpt": None}],
                                                          schema=schema)
        raise fx.ParseError("stopped here")

    chunks = list(spool_chunks(parser(), str(tmp_path)))
    assert [c.rows for c in chunks] == [{"ingest_errors": 2}] * 5 + [{"ingest_errors": 1}, {}]
    assert chunks[-1].errors == [(None, "stopped here", None)]
    r = store.write_source("x", "abc", 1, "go_crash", parser())
    assert r.status == "failed" and r.rows == {"ingest_errors": 12}
    rows = store.query("SELECT line, message FROM ingest_errors ORDER BY line NULLS LAST").fetchall()
    assert rows == [(n, f"chunk {n // 2}") for n in range(10)] + [(10, "plain"), (None, "stopped here")]


def test_schema_version_is_checked(tmp_path):
    path = tmp_path / "old.duckdb"
    fx.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(fx.StoreError, match="schema version 999"):
        fx.open(path)


def test_reopening_a_current_database_creates_nothing_again(tmp_path):
    """A database this forensics made is opened without making its views again (0.2 s);
    one whose schema statements differ (another build, same schema version) gets these."""
    path = tmp_path / "incident.duckdb"
    fx.open(path).close()

    def timeline_replaced(digest: str | None) -> None:
        con = duckdb.connect(str(path))
        con.execute("CREATE OR REPLACE VIEW timeline AS SELECT 1 AS marker")
        if digest is not None:
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_digest'", [digest])
        con.close()

    def columns() -> list[str]:
        with fx.open(path) as db:
            return [d[0] for d in db.sql("SELECT * FROM timeline LIMIT 0").description]

    timeline_replaced(None)
    assert columns() == ["marker"]  # same statements: nothing made again
    timeline_replaced("another build's")
    assert "marker" not in columns() and "ts" in columns()


def test_not_a_database(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("hello")
    with pytest.raises(fx.StoreError):
        fx.open(path)


def test_service_version_ts_arguments(db):
    db.ingest(PANIC, service="checkout", version="v2.3.1", ts="2026-11-21T10:00:00+01:00")
    row = db.sql("SELECT service, version, ts, ts_source FROM dumps").fetchall()[0]
    assert row[:2] == ("checkout", "v2.3.1")
    assert str(row[2]) == "2026-11-21 09:00:00" and row[3] == "argument"
    p = db.sql("SELECT service, version FROM panics").fetchall()
    assert p == [("checkout", "v2.3.1")]


def test_jobs_give_the_same_database(tmp_path):
    files = sorted(str(p) for p in SAMPLES.glob("go1.*/default/*.txt"))
    files[3:3] = [str(SAMPLES / "crasher" / "main.go"), "no-such-file.log"]  # a skipped and a failed source
    one = fx.open(tmp_path / "one.duckdb")
    two = fx.open(tmp_path / "two.duckdb")
    one.ingest(files)
    two.ingest(files, jobs=2)
    q = "SELECT * EXCLUDE (ingested_at) FROM sources ORDER BY source_id"
    assert one.sql(q).fetchall() == two.sql(q).fetchall()
    for t in ("dumps", "panics", "goroutines", "frames"):
        qt = f"SELECT * FROM {t} ORDER BY ALL"
        assert one.sql(qt).fetchall() == two.sql(qt).fetchall(), t


def test_panic_signatures(db):
    db.ingest(sorted(SAMPLES.glob("go1.*/default/index.txt")), version="v1")
    db.ingest(sorted(SAMPLES.glob("go1.*/ratelimit-v1.6.0/index.txt")), version="v2")
    db.ingest(sorted(SAMPLES.glob("go1.*/default/nil-deref.txt")), version="v2")
    df = db.panic_signatures()
    assert list(df.columns[:8]) == ["signature", "kind", "message", "top_function", "count",
                                    "first_seen", "last_seen", "versions"]
    top = df.iloc[0]
    assert (top.kind, top.message, top.top_function, top["count"]) == (
        "runtime_error", "runtime error: index out of range [N] with length N", "main.lookup", 4)
    assert top.versions == ["v1", "v2"]
    assert top.first_seen <= top.last_seen
    assert df.iloc[1].versions == ["v2"] and df.iloc[1]["count"] == 2
    assert db.sql(f"SELECT count(*) FROM dumps WHERE dump_id = {int(top.example_dump)}").fetchall()[0][0] == 1


def test_schema_3_stack_frames_table_is_migrated(tmp_path):
    """Schema 3 stored profile stacks in a stack_frames table; opening such a
    database moves them into stacks + frame_info and top reads the same."""
    import duckdb

    from test_pprof import PROTOS

    path = tmp_path / "old.duckdb"
    cpu = [p for p in PROTOS if p.name == "cpu.pb.gz"][0]
    with fx.open(path) as db:
        db.ingest(cpu)
        want = fx.top_text(db.top(str(cpu)))
        frames = db.sql("SELECT count(*) FROM stack_frames").fetchall()
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE old AS SELECT * FROM stack_frames")
    con.execute("DROP VIEW stack_frames")
    con.execute("ALTER TABLE old RENAME TO stack_frames")
    con.execute("DROP TABLE stacks")
    con.execute("DROP TABLE frame_info")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()
    with fx.open(path) as db:
        assert db.sql("SELECT count(*) FROM stack_frames").fetchall() == frames
        assert fx.top_text(db.top(str(cpu))) == want


def test_profile_stacks_are_stored_once_however_the_chunks_fall(tmp_path, monkeypatch):
    """Stacks and frames shared by profiles are stored once per key: when a big profile's
    stacks come in many chunks (into an empty table, or one holding another profile's
    stacks) and when two profiles share them. The reference: each profile in one chunk."""
    from forensics.db import spool
    from forensics.ingest import files
    from forensics.parsers.pprof import proto

    profiles = [SAMPLES / "go1.27.3" / "profiles" / name for name in ("heap.pb.gz", "allocs.pb.gz", "cpu.pb.gz")]
    monkeypatch.setattr(files, "SMALL_SOURCE", -1)  # each profile through the chunked path
    monkeypatch.setattr(proto, "BATCH_ROWS", 64)  # stacks 8 to a batch: with 1 KB chunks, a batch a chunk

    def stored(chunk_bytes: int, name: str) -> dict[str, list]:
        monkeypatch.setattr(spool, "CHUNK_BYTES", chunk_bytes)
        with fx.open(tmp_path / name) as db:
            for p in profiles:  # one at a time: the first into empty tables, the others into filled ones
                assert db.ingest([p]).count("ok") == 1
            return {t: db.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("stacks", "frame_info")}

    whole, chunked = stored(64 << 20, "whole.duckdb"), stored(1 << 10, "chunked.duckdb")
    assert whole == chunked
    assert len(whole["stacks"]) == len({(s, d) for s, d, _ in whole["stacks"]})  # (stack_id, depth) once
    assert len(whole["frame_info"]) == len({row[0] for row in whole["frame_info"]})
