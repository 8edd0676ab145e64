"""`forensics top FILE` and `forensics diff FILE --base FILE`: one command, as `go tool pprof -top FILE` is."""
from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from datetime import datetime

import numpy as np
import pytest

import forensics as fx
from forensics.errors import ParseError
from forensics.parsers import ParseOptions
from forensics.parsers.pprof import proto, samples
from forensics.parsers.pprof.profile import Decoded, Profile, RawProfile, decode

from conftest import SAMPLES

PROFILES = SAMPLES / "go1.27.3" / "profiles"
OLD = SAMPLES / "go1.19.8" / "profiles"


def run(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forensics.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("name", ["cpu.pb.gz", "heap.pb.gz", "mutex.pb.gz", "goroutine.pb.gz"])
def test_top_of_a_file_is_ingest_then_top(tmp_path, name):
    db = tmp_path / "i.duckdb"
    assert run("ingest", PROFILES / name, "--db", db).returncode == 0
    expected = run("top", "--db", db, "-n", "0")
    assert expected.returncode == 0, expected.stderr
    direct = run("top", PROFILES / name, "-n", "0")
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == expected.stdout and direct.stdout.startswith("Type: ")


def test_the_temporary_database_is_removed(tmp_path):
    r = run("top", PROFILES / "cpu.pb.gz", env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes((PROFILES / "heap.pb.gz").read_bytes()[:300])
    run("top", bad, env={"TMPDIR": str(tmp_path)})
    assert list(tmp_path.iterdir()) == [bad]


def test_a_named_database_keeps_the_profile(tmp_path):
    db = tmp_path / "kept.duckdb"
    first = run("top", PROFILES / "heap.pb.gz", "--db", db, "-t", "alloc_space")
    assert first.returncode == 0, first.stderr
    with fx.open(db, read_only=True) as incident:
        assert incident.sql("SELECT count(*) FROM profiles").fetchall()[0][0] == 1
    # the same file again: read before, the same report; the database holds it once
    again = run("top", PROFILES / "heap.pb.gz", "--db", db, "-t", "alloc_space")
    assert again.returncode == 0 and again.stdout == first.stdout
    # another file: its report is of that file only, and both stay
    cpu = run("top", PROFILES / "cpu.pb.gz", "--db", db)
    assert cpu.returncode == 0 and cpu.stdout.startswith("Type: cpu")
    with fx.open(db, read_only=True) as incident:
        assert incident.sql("SELECT count(*) FROM profiles").fetchall()[0][0] == 2
    assert run("top", "--db", db, "--kind", "cpu").stdout == cpu.stdout


def test_options_still_choose_among_the_files(tmp_path):
    r = run("top", PROFILES, "--kind", "heap", "-t", "inuse_space", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert run("top", PROFILES, "--kind", "nonesuch").returncode == 1


@pytest.mark.parametrize("content, says", [
    (b"\x1f\x8b\x08\x00broken gzip", "cannot read"),
    (b"hello, this is not a profile\n", "no profile in"),
])
def test_a_damaged_or_other_file_is_a_clear_error(tmp_path, content, says):
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(content)
    r = run("top", bad)
    assert r.returncode == 1 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stdout == ""


def test_a_cut_profile_is_a_clear_error(tmp_path):
    cut = tmp_path / "cut.pb"
    cut.write_bytes(gzip.decompress((PROFILES / "cpu.pb.gz").read_bytes())[:-7])
    r = run("top", cut)
    assert r.returncode == 1 and "cannot read" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_usage_errors():
    assert run("top").returncode == 2  # neither files nor --db
    assert run("top", "/nonexistent/cpu.pb.gz").returncode == 2
    assert run("top", "--db", "/nonexistent/x.duckdb").returncode == 2
    assert run("diff", PROFILES / "cpu.pb.gz").returncode == 2  # no base


def test_diff_of_two_files_is_diff_of_two_sources(tmp_path):
    db = tmp_path / "i.duckdb"
    assert run("ingest", PROFILES / "heap.pb.gz", OLD / "heap.pb.gz", "--db", db).returncode == 0
    expected = run("diff", "--db", db, "--source", "go1.27.3/profiles/heap.pb.gz",
                   "--base-source", "go1.19.8/profiles/heap.pb.gz", "-n", "0")
    assert expected.returncode == 0, expected.stderr
    direct = run("diff", PROFILES / "heap.pb.gz", "--base", OLD / "heap.pb.gz", "-n", "0")
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == expected.stdout


# --- the vectorised sample decoder agrees with protobuf -----------------------

def _same(a: samples.Samples, b: samples.Samples) -> None:
    assert a.n == b.n
    for k in ("loc_lengths", "loc_ids", "value_lengths", "values", "labels"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and np.array_equal(x, y), k


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.pb.gz")) + sorted(OLD.glob("*.pb.gz")), ids=str)
def test_fast_samples_equal_protobuf_samples_on_real_profiles(path):
    data = gzip.decompress(path.read_bytes())
    fast = decode(data)
    assert samples.from_encoded(fast.msg.sample) is not None  # Go's encoding is read the fast way
    msg = Profile()
    msg.ParseFromString(data)
    _same(samples.joined(list(fast.sample_chunks())), samples.from_messages(msg.sample))


def test_fast_samples_handle_unusual_but_valid_encodings():
    msg = Profile()
    msg.sample.add(location_id=[1, 300, 2 ** 63 + 5], value=[-1, 0, 2 ** 62])
    msg.sample.add()  # empty
    s = msg.sample.add(location_id=[7])
    s.label.add(key=1, str=2)
    s.label.add(key=3, num=-9, num_unit=4)
    encoded = [x.SerializeToString() for x in msg.sample]
    # unpacked repeated fields (proto2 style), also mixed with packed ones: the same values, in order
    unpacked = bytes([0x08, 0x09, 0x08, 0x0A, 0x0A, 0x01, 0x0B, 0x10, 0x05])
    encoded.append(unpacked)
    expected = Profile()
    for e in encoded:
        expected.sample.add().ParseFromString(e)
    _same(samples.from_encoded(encoded), samples.from_messages(expected.sample))
    assert samples.from_encoded(encoded).loc_ids[-3:].tolist() == [9, 10, 11]
    # a field the decoder does not know: left to protobuf
    assert samples.from_encoded([bytes([0x20, 0x01])]) is None
    assert samples.from_encoded([bytes([0x0A, 0x05, 0x01])]) is None  # packed run past the sample's end


def test_many_samples_cross_chunks(monkeypatch):
    monkeypatch.setattr(samples, "CHUNK_SAMPLES", 3)
    msg = Profile()
    for i in range(10):
        s = msg.sample.add(location_id=list(range(1, i + 2)), value=[i * 1000, -i])
        s.label.add(key=1, num=i)
    fast = samples.from_encoded([x.SerializeToString() for x in msg.sample])
    _same(fast, samples.from_messages(msg.sample))


def test_a_big_profile_reads_the_same_either_way():
    """A profile of many samples: the decoded tables equal those read through
    protobuf's messages (the former reader)."""
    msg = Profile(string_table=[b"", b"alloc_space", b"bytes", b"main.f", b"f.go", b"k", b"v"])
    msg.sample_type.add(type=1, unit=2)
    for i in range(1, 6):
        msg.function.add(id=i, name=3, filename=4, start_line=i)
        msg.location.add(id=i, line=[dict(function_id=i, line=10 * i)])
    rng = np.random.default_rng(1)
    for i in range(5000):
        s = msg.sample.add(location_id=rng.integers(1, 6, size=rng.integers(1, 8)).tolist(),
                           value=[int(rng.integers(0, 10 ** 6))])
        if i % 3 == 0:
            s.label.add(key=5, str=6)
    data = msg.SerializeToString()
    fast = decode(data)
    assert samples.from_encoded(fast.msg.sample) is not None
    slow = Decoded(msg, fast.strings)
    opt = ParseOptions(ts=datetime(2026, 1, 1))
    a = list(proto.profile_batches(fast, opt))
    b = list(proto.profile_batches(slow, opt))
    assert [n for n, _ in a] == [n for n, _ in b]
    for (_, x), (_, y) in zip(a, b):
        assert x.equals(y)


# --- the report's two ways of counting a node once per stack agree ------------

@pytest.mark.parametrize("name", ["cpu.pb.gz", "mutex.pb.gz", "block.pb.gz", "goroutine.pb.gz"])
def test_bitmask_and_list_node_sets_give_the_same_report(monkeypatch, name):
    from forensics.analysis import profiles

    db = fx.open()
    db.ingest([PROFILES / name, OLD / name])
    new, old = (ids for (ids,) in db.sql("SELECT list(profile_id ORDER BY profile_id) FROM profiles "
                                         "GROUP BY source_id ORDER BY source_id").fetchall())
    reports, mask_nodes = {}, profiles.MASK_NODES
    for limit in (mask_nodes, 0):  # 0: every report takes the list path
        monkeypatch.setattr(profiles, "MASK_NODES", limit)
        reports[limit] = [db.top(new, by=by, n=None).to_dict("records") for by in ("function", "file", "line")]
        reports[limit] += [db.diff(new, old, by=by, n=None).to_dict("records") for by in ("function", "line")]
    assert reports[mask_nodes] == reports[0] and all(reports[0])
    n_nodes = db.sql(f"SELECT count(DISTINCT {profiles._NODE['function']}) FROM frame_info f").fetchall()[0][0]
    assert n_nodes <= mask_nodes  # the bitmask path was taken


def _inlining_profile(n_samples: int, bad_location_at: int | None = None) -> bytes:
    """A profile whose locations include inlined calls (several lines), and
    whose samples repeat stacks across chunks and bring new ones late."""
    msg = Profile(string_table=[b"", b"alloc_space", b"bytes", b"main.f", b"f.go", b"k", b"v", b"main.g"])
    msg.sample_type.add(type=1, unit=2)
    for i in range(1, 9):
        msg.function.add(id=i, name=3 if i % 2 else 7, filename=4, start_line=i)
        lines = [dict(function_id=i, line=10 * i)] + ([dict(function_id=i + 1, line=3)] if i % 3 == 0 else [])
        msg.location.add(id=i, line=lines)
    rng = np.random.default_rng(7)
    for i in range(n_samples):
        # a growing range of locations: later chunks bring stacks no earlier one had
        locs = rng.integers(1, 2 + min(7, i // 10), size=rng.integers(1, 6)).tolist()
        if i == bad_location_at:
            locs.append(99)
        s = msg.sample.add(location_id=locs, value=[i])
        if i % 4 == 0:
            s.label.add(key=5, str=6)
    return msg.SerializeToString()


def _tables(data: bytes) -> dict[str, list]:
    out: dict[str, list] = {}
    for name, batch in proto.profile_batches(decode(data), ParseOptions(ts=datetime(2026, 1, 1))):
        out.setdefault(name, []).extend(batch.to_pylist())
    return {name: sorted(rows, key=repr) for name, rows in out.items()}


@pytest.mark.parametrize("narrow", [True, False], ids=["uint16 locations", "int32 locations"])
def test_a_profile_read_in_chunks_gives_the_same_rows(monkeypatch, narrow):
    """Samples come a chunk at a time and only unseen stacks are kept: the
    rows equal those of one chunk, every stack once."""
    data = _inlining_profile(120)
    whole = _tables(data)
    monkeypatch.setattr(samples, "CHUNK_SAMPLES", 7)
    monkeypatch.setattr(proto, "NARROW_LOCATIONS", 1 << 16 if narrow else 2)
    chunked = _tables(data)
    assert chunked == whole
    assert len(whole["profile_samples"]) == 120 and len(whole["profile_labels"]) == 30
    stack_ids = {r["stack_id"] for r in whole["profile_samples"]}
    assert {r["stack_id"] for r in whole["stacks"]} == stack_ids
    assert len({(r["stack_id"], r["depth"]) for r in chunked["stacks"]}) == len(chunked["stacks"])
    assert any(r["inlined"] for r in whole["frame_info"])


def test_a_bad_sample_in_a_late_chunk_fails_before_any_row(monkeypatch):
    """A profile is read whole before its first row: a sample in the last
    chunk naming a missing location leaves nothing half-written."""
    monkeypatch.setattr(samples, "CHUNK_SAMPLES", 7)
    batches = proto.profile_batches(decode(_inlining_profile(60, bad_location_at=57)), ParseOptions())
    with pytest.raises(ParseError, match="location 99"):
        next(batches)


def test_a_sample_protobuf_cannot_read_is_named():
    """A sample the NumPy decoder leaves to protobuf, and protobuf cannot
    parse either (a packed run past its end): the error names the sample."""
    good = Profile(sample=[dict(location_id=[1], value=[1])]).sample[0].SerializeToString()
    data = RawProfile(string_table=[b""], sample=[good, good, bytes([0x0A, 0x05, 0x01])]).SerializeToString()
    with pytest.raises(ParseError, match=r"sample 2 \(3 bytes\) is not a valid profile.proto Sample"):
        next(proto.parse(io.BytesIO(data)))
