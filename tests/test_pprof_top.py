"""db.top / db.diff against `go tool pprof -top`: same rows, values, order and header lines."""
from __future__ import annotations

import gzip
import subprocess

import pytest

import forensics as fx
from forensics.parsers.pprof.profile import decode

from conftest import SAMPLES, SHARED, load_profiles
from test_pprof import PROTOS, go_tool


def pprof_env() -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PPROF_TMPDIR": "/tmp", "TZ": "UTC",
            "GOTOOLCHAIN": "local", "PPROF_BINARY_PATH": "/nonexistent"}


def pprof(go: str, *args: str) -> str:
    out = subprocess.run([go, "tool", "pprof", *args], capture_output=True, text=True, timeout=300, env=pprof_env())
    assert out.returncode == 0, out.stderr
    return out.stdout


def report_lines(text: str) -> list[str]:
    """The part of a -top report both tools print the same way: the
    Showing/Dropped lines, the column header and the rows (pprof's profile
    header lines, File/Build ID/Time/Duration, differ between its versions)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Showing nodes accounting"))
    return lines[start:]


def ours(db, path, *flags) -> str:
    opts = {"n": 20}
    for flag in flags:
        name, _, value = flag.lstrip("-").partition("=")
        if name == "sample_index":
            opts["sample_type"] = value
        elif name == "cum":
            opts["cum"] = True
        elif name in ("tagfocus", "tagignore"):
            opts[name] = value
        elif name == "diff_base":
            opts["base"] = value
        elif name == "normalize":
            opts["normalize"] = True
        elif name == "nodecount":
            opts["n"] = int(value)
        elif name in ("lines", "files"):
            opts["by"] = name[:-1]
    return fx.top_text(db.top(str(path), **opts))


def sample_types(path) -> list[str]:
    p = decode(gzip.decompress(path.read_bytes()))
    return [p.strings[v.type] for v in p.msg.sample_type]


CASES = [(p, f"-sample_index={t}") for p in PROTOS for t in sample_types(p)]
CASES += [(p, "-cum") for p in PROTOS if p.name in ("cpu.pb.gz", "heap.pb.gz")]
CASES += [(p, "-lines") for p in PROTOS if p.name in ("cpu.pb.gz", "mutex.pb.gz")]
CASES += [(p, "-files") for p in PROTOS if p.name in ("allocs.pb.gz",)]


@pytest.mark.parametrize("path,flag", CASES, ids=lambda c: str(c.relative_to(SAMPLES)) if hasattr(c, "relative_to") else c)
def test_top_equals_go_tool_pprof(path, flag, db):
    go = go_tool()
    if go is None:
        pytest.skip("no go toolchain for go tool pprof")
    db.ingest(path)
    want = report_lines(pprof(go, "-top", "-nodecount=20", flag, str(path)))
    got = report_lines(ours(db, path, flag))
    if flag == "-files":
        # pprof keys file nodes on the function's start line too, and
        # leaves rows with equal names in map order: compare them as sets.
        got, want = sorted(got), sorted(want)
    assert got == want


JAVA = {"java.cpu", "java.heap", "java.contention"}


def test_aliases_and_default_sample_type(db):
    heap = [p for p in PROTOS if p.name == "heap.pb.gz"][0]
    allocs = [p for p in PROTOS if p.name == "allocs.pb.gz"][0]
    db.ingest([heap, allocs])
    assert db.top(str(heap)).attrs["sample_type"] == "inuse_space"  # last type
    assert db.top(str(allocs)).attrs["sample_type"] == "alloc_space"  # default_sample_type
    assert db.top(str(heap), "alloc_objects").attrs["sample_type"] == "alloc_objects"
    assert db.top(str(heap), 0).attrs["sample_type"] == "alloc_objects"
    with pytest.raises(ValueError, match="must be one of"):
        db.top(str(heap), "wall")


@pytest.mark.skipif(not (SHARED / "pprof").is_dir(), reason="../shared/conformance not present")
def test_conformance_top_equals_goldens(tmp_path):
    """Every profile of the corpus with a .top.txt golden (go1.19's pprof, -nodecount=20): profile.proto,
    Go and C++ legacy text and binary profiles; the Java ones are refused, by name."""
    db = fx.open(tmp_path / "c.duckdb")
    checked = []
    for golden in sorted((SHARED / "pprof").rglob("*.top.txt")):
        source = golden.with_name(golden.name[: -len(".top.txt")])
        r = db.ingest(source).results[0]
        if source.name in JAVA:
            assert r.status == "failed" and "Java" in r.error, r
            continue
        assert r.status in ("ok", "duplicate"), (source, r.error)
        got = report_lines(fx.top_text(db.top(str(source))))
        assert got == report_lines(golden.read_text()), source
        checked.append(source.name)
    assert len(checked) >= 18, checked


def test_tag_filters_select_samples_like_pprof(db):
    cpu = [p for p in PROTOS if p.name == "cpu.pb.gz" and "go1.27" in str(p)][0]
    db.ingest(cpu)
    go = go_tool()
    total = db.top(str(cpu)).attrs["selected"]
    acme = db.top(str(cpu), tagfocus="tenant=acme").attrs["selected"]
    rest = db.top(str(cpu), tagignore="tenant=acme").attrs["selected"]
    assert 0 < acme < total and acme + rest == total
    assert db.top(str(cpu), tagfocus={"tenant": "acme|globex|initech"}).attrs["selected"] <= total
    if go is None:
        pytest.skip("no go toolchain for go tool pprof")
    for flag in ("-tagfocus=tenant=acme", "-tagignore=tenant=acme", "-tagfocus=acme,worker"):
        assert report_lines(ours(db, cpu, flag)) == report_lines(pprof(go, "-top", "-nodecount=20", flag, str(cpu)))


def test_numeric_tag_ranges_match_pprof(db):
    go = go_tool()
    heap = [p for p in PROTOS if p.name == "allocs.pb.gz" and "go1.27" in str(p)][0]
    db.ingest(heap)
    assert 0 < db.top(str(heap), tagfocus="bytes=1kb:").attrs["selected"] < db.top(str(heap)).attrs["selected"]
    if go is None:
        pytest.skip("no go toolchain for go tool pprof")
    for flag in ("-tagfocus=bytes=1kb:", "-tagfocus=bytes=:512", "-tagignore=bytes=16:64kb"):
        assert report_lines(ours(db, heap, flag)) == report_lines(
            pprof(go, "-top", "-nodecount=20", flag, str(heap))), flag


def test_diff_and_merge_match_pprof(db):
    go = go_tool()
    cpus = sorted(p for p in PROTOS if p.name in ("allocs.pb.gz",))
    assert len(cpus) == 2
    new, old = cpus[1], cpus[0]  # go1.27 vs go1.19 builds of the same program
    db.ingest([new, old])
    diff = db.diff(str(new), str(old))
    assert diff.attrs["base"] and (diff["flat"] < 0).any()
    merged = db.top([*fx_ids(db)], "alloc_space")
    assert merged.attrs["total"] == sum(db.top(str(p), "alloc_space").attrs["total"] for p in cpus)
    if go is None:
        pytest.skip("no go toolchain for go tool pprof")
    assert report_lines(ours(db, new, f"-diff_base={old}")) == report_lines(
        pprof(go, "-top", "-nodecount=20", f"-diff_base={old}", str(new)))
    assert report_lines(ours(db, new, f"-diff_base={old}", "-normalize")) == report_lines(
        pprof(go, "-top", "-nodecount=20", "-normalize", f"-diff_base={old}", str(new)))
    assert report_lines(fx.top_text(db.top([*fx_ids(db)], "alloc_space"))) == report_lines(
        pprof(go, "-top", "-nodecount=20", "-sample_index=alloc_space", str(new), str(old)))


def fx_ids(db) -> list[int]:
    return [r[0] for r in db.sql("SELECT profile_id FROM profiles ORDER BY profile_id").fetchall()]


def test_empty_selection_is_an_empty_table(db):
    assert db.top({"kind": "cpu"}).empty
    with pytest.raises(ValueError, match="unknown profile filter"):
        db.top({"colour": "red"})
    assert load_profiles()  # the samples exist
