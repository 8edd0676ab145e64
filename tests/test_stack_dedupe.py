"""Goroutine stacks stored once: goroutine_stacks keyed by frames_id, frames a view.

The frames view must give back exactly the rows the parser emits, whatever
the input (identical goroutines, race reports, GOTRACEBACK=crash dumps with
repeated ids, damaged copies), and each distinct printed stack is stored once
across goroutines, dumps and sources.
"""
from __future__ import annotations

import duckdb
import pytest

import forensics as fx
from conftest import SAMPLES, parse_bytes, parse_file
from forensics.db.schema import SCHEMA_VERSION, TABLES

FRAME_COLUMNS = [c.name for c in TABLES["frames"].columns]
ORDER = "ORDER BY dump_id, goroutine_seq, depth"

SAMPLE_FILES = [
    "go1.27.3/default/multi.txt",  # several dumps
    "go1.27.3/default/sigabrt-crash.txt",  # GOTRACEBACK=crash: goroutine ids repeat
    "go1.27.3/default/sigquit-system.txt",
    "go1.27.3/default/stack-crlf.txt",
    "go1.27.3/default/pprof-goroutine.txt",  # debug=2 goroutines
    "go1.27.3/race/race.txt",  # race reports
]


def leak(n: int, gap: str = "\n") -> bytes:
    """A dump of n identical leaked goroutines (and one running main)."""
    block = ("goroutine {id} [chan receive, 3 minutes]:\n"
             "main.(*worker).wait(0xc000012345?, 0x1)\n\t/app/main.go:28 +0x18\n"
             "main.(*worker).process(...)\n\t/app/main.go:31\n"
             "main.leaked(0xc0000a6000)\n\t/app/main.go:34 +0x37\n"
             "created by main.main in goroutine 1\n\t/app/main.go:110 +0x1df\n")
    head = "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:133 +0x469\n"
    return (gap.join([head] + [block.format(id=i) for i in range(7, 7 + n)])).encode()


def view_rows(db, where: str = "") -> list[tuple]:
    """The frames view, dump ids as the parser numbers them (within the source: dump_id - source_id)."""
    columns = ", ".join("f.dump_id - d.source_id AS dump_id" if c == "dump_id" else f"f.{c}" for c in FRAME_COLUMNS)
    return db.sql(f"SELECT {columns} FROM frames f JOIN dumps d USING (dump_id) {where} {ORDER}").fetchall()


def parsed_rows(data: bytes, base: int = 0, **opts) -> list[tuple]:
    rows = parse_bytes(data, **opts)["frames"].to_pylist()
    out = [tuple(r[c] + base if c == "dump_id" else r[c] for c in FRAME_COLUMNS) for r in rows]
    return sorted(out, key=lambda r: (r[0], r[1], r[3]))


def existing(rel: str):
    path = SAMPLES / rel
    if not path.exists():
        pytest.skip(f"no sample {rel}")
    return path


def test_identical_goroutines_are_stored_once_and_read_back_as_before(tmp_path, db):
    data = leak(500)
    path = tmp_path / "leak.txt"
    path.write_bytes(data)
    assert db.ingest(path).count("ok") == 1
    # The view gives exactly the rows the line-by-line reader emits.
    assert view_rows(db) == parsed_rows(data, columnar=False)
    assert db.sql("SELECT count(DISTINCT frames_id), count(*) FROM goroutines").fetchall() == [(2, 501)]
    # One copy of each distinct stack: main's frame and the leaked goroutines' three.
    assert db.sql("SELECT count(*) FROM goroutine_stacks").fetchall() == [(4,)]
    assert db.sql("SELECT count(*) FROM frames").fetchall() == [(1 + 3 * 500,)]


def test_columnar_and_line_readers_key_stacks_alike_and_damage_does_not_change_keys():
    data = leak(50)
    keys = {tuple(parse_bytes(d, columnar=c)["goroutines"].column("frames_id").to_pylist())
            for d in (data, data.replace(b"\n", b"\r\n"), data.replace(b"\t", b"        "))
            for c in (True, False)}
    assert len(keys) == 1
    (ids,) = keys
    assert len(set(ids)) == 2 and None not in ids


def test_distinct_arguments_or_offsets_are_distinct_stacks():
    data = leak(3)
    other = data.replace(b"0xc000012345?", b"0xc000099999?", 1)  # the first leaked goroutine's args
    ids = parse_bytes(other)["goroutines"].column("frames_id").to_pylist()
    assert len(set(ids)) == 3
    offset = data.replace(b"+0x37", b"+0x38", 1)
    assert len(set(parse_bytes(offset)["goroutines"].column("frames_id").to_pylist())) == 3


def test_no_frames_no_key():
    data = b"goroutine 5 [running]:\n\tgoroutine running on other thread; stack unavailable\n\n"
    g = parse_bytes(data)["goroutines"].to_pylist()
    assert [r["frames_id"] for r in g] == [None]


@pytest.mark.parametrize("rel", SAMPLE_FILES)
def test_frames_view_is_the_parsed_frames(rel, db):
    path = existing(rel)
    db.ingest(path)
    assert view_rows(db) == parsed_rows(path.read_bytes())
    # Every stored stack is one goroutine's frames, each once.
    dup = db.sql("SELECT count(*) FROM (SELECT frames_id, depth FROM goroutine_stacks GROUP BY ALL "
                 "HAVING count(*) > 1)").fetchall()
    assert dup == [(0,)]


def test_stacks_are_shared_across_sources_and_survive_replacing_one(tmp_path, db):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(leak(20))
    b.write_bytes(leak(30))
    db.ingest([a, b])
    assert db.sql("SELECT count(*) FROM goroutine_stacks").fetchall() == [(4,)]
    before = view_rows(db)
    db.ingest([a], force=True)  # read again: its rows are replaced, shared stacks stay
    assert db.sql("SELECT count(*) FROM goroutine_stacks").fetchall() == [(4,)]
    assert len(view_rows(db)) == len(before)
    assert db.sql("SELECT count(*) FROM frames f JOIN dumps d USING (dump_id)").fetchall() == [(len(before),)]


def test_race_accesses_still_find_their_frames(db):
    path = existing("go1.27.3/race/race.txt")
    db.ingest(path)
    n = db.sql("""SELECT count(*) FROM race_accesses a JOIN frames f
                  ON f.dump_id = a.dump_id AND f.goroutine_seq = a.goroutine_seq""").fetchall()[0][0]
    assert n > 0


def test_goroutine_profiles_keep_their_frames(db):
    path = existing("go1.27.3/leak/goroutine-0.pb.gz")
    db.ingest(path)
    rows = db.sql("SELECT count(*) FROM frames").fetchall()[0][0]
    parsed = db.sql("SELECT count(*) FROM goroutines WHERE stack_id <> 0").fetchall()[0][0]
    assert rows > 0 and parsed > 0
    assert db.sql("SELECT count(*) FROM goroutines WHERE stack_id <> 0 AND frames_id IS NULL").fetchall() == [(0,)]


def test_schema_9_frames_table_is_migrated(tmp_path):
    """Before schema 10 every goroutine's frames were rows of a frames table;
    opening such a database moves them into goroutine_stacks, frames reads the same."""
    path = tmp_path / "old.duckdb"
    samples = [existing("go1.27.3/default/multi.txt"), existing("go1.27.3/default/sigabrt-crash.txt")]
    with fx.open(path) as db:
        db.ingest(samples)
        want = view_rows(db)
    con = duckdb.connect(str(path))
    cols = ", ".join(c for c in FRAME_COLUMNS if c != "frames_id")
    con.execute(f"CREATE TABLE old_frames AS SELECT {cols} FROM frames")
    con.execute("DROP VIEW frames")
    con.execute("ALTER TABLE old_frames RENAME TO frames")
    con.execute("DROP TABLE goroutine_stacks")
    con.execute("ALTER TABLE goroutines DROP COLUMN frames_id")
    con.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    con.close()
    with fx.open(path) as db:
        assert [r[:-1] for r in view_rows(db)] == [r[:-1] for r in want]  # frames_id aside: keyed anew
        assert db.sql("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(SCHEMA_VERSION),)]
        kinds = dict(db.sql("SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_name IN ('frames', 'goroutine_stacks')").fetchall())
        assert kinds == {"frames": "VIEW", "goroutine_stacks": "BASE TABLE"}
        # Stacks read after the migration are added beside the moved ones.
        db.ingest([samples[0]], force=True)
        assert len(view_rows(db)) == len(want)


def test_parse_file_helper_sees_frames_id():
    t = parse_file("go1.27.3/default/multi.txt")
    assert t["frames"].num_rows and t["frames"].column("frames_id").null_count == 0


def test_a_goroutine_cut_between_batches_keeps_all_its_frames(db):
    """The store keeps the rows of the first goroutine of each stack, whichever
    batches its frames come in."""
    data = leak(4)
    tables = parse_bytes(data)
    frames = tables["frames"]
    batches = [("dumps", b) for b in tables["dumps"].to_batches()]
    batches += [("goroutines", b) for b in tables["goroutines"].to_batches()]
    batches += [("frames", frames.slice(i, 2).combine_chunks().to_batches()[0]) for i in range(0, frames.num_rows, 2)]
    r = db.store.write_source("cut.txt", "0" * 64, len(data), "go_crash", batches, status="ok")
    assert r.status == "ok"
    assert view_rows(db) == parsed_rows(data)
