"""Export round trip: `go tool pprof -raw` of what we write equals that of the original
(and of pprof's own merge and -diff_base)."""
from __future__ import annotations

import gzip
import re

import pytest

from forensics.parsers.pprof.profile import decode

from test_pprof import PROTOS, TEXTS, go_tool
from test_pprof_top import pprof

SAMPLE = re.compile(r"^\s*(-?\d+(?:\s+-?\d+)*):((?:\s+\d+)*)\s*$")
LOCATION = re.compile(r"^\s*(\d+): (0x[0-9a-f]+)(?: M=\d+)?(.*)$")
LINE = re.compile(r"^\s+(\S.*?) (\S+):(\d+):\d+ s=\d+$")


def raw_samples(text: str) -> dict:
    """Samples of `pprof -raw` as {(stack, labels): summed values}, stacks as
    function/file/line frames (addresses when unsymbolized), leaf first;
    ids and location grouping, which an export may renumber, left out."""
    lines = text.splitlines()
    start, locs_at = lines.index("Samples:"), lines.index("Locations")
    locations: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines[locs_at + 1:]:
        if line.startswith("Mappings"):
            break
        m = LOCATION.match(line)
        if m:
            current = locations.setdefault(m.group(1), [])
            frame = LINE.match("  " + m.group(3).strip())
            current.append(" ".join(frame.group(1, 2, 3)) if frame else m.group(2))
        elif LINE.match(line):
            current.append(" ".join(LINE.match(line).group(1, 2, 3)))
    entries: list[list] = []
    for line in lines[start + 2:locs_at]:
        m = SAMPLE.match(line)
        if m:
            stack = tuple(f for loc in m.group(2).split() for f in locations[loc])
            entries.append([tuple(int(v) for v in m.group(1).split()), stack, []])
        elif line.strip() and entries:
            entries[-1][2] += line.split()
    totals: dict = {}
    for values, stack, labels in entries:
        key = (stack, " ".join(sorted(labels)))
        old = totals.get(key, (0,) * len(values))
        totals[key] = tuple(a + b for a, b in zip(old, values))
    return {k: v for k, v in totals.items() if any(v)}


def exported(db, tmp_path, name: str, selection, **options) -> str:
    out = tmp_path / name
    db.export_profile(selection, out, **options)
    decode(gzip.decompress(out.read_bytes()))  # a valid profile.proto
    return str(out)


@pytest.fixture
def go():
    tool = go_tool()
    if tool is None:
        pytest.skip("no go toolchain for go tool pprof")
    return tool


@pytest.mark.parametrize("path", PROTOS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_export_round_trips_through_go_tool_pprof(path, db, tmp_path, go):
    db.ingest(path)
    out = exported(db, tmp_path, "export.pb.gz", str(path))
    want, got = raw_samples(pprof(go, "-raw", str(path))), raw_samples(pprof(go, "-raw", out))
    assert got == want and want


def test_export_of_a_text_profile_reads_in_pprof(db, tmp_path, go):
    """debug=1 text becomes a symbolized profile.proto pprof can read."""
    heap = [p for p in TEXTS if p.name == "heap.txt"][0]
    db.ingest(heap)
    out = exported(db, tmp_path, "heap.pb.gz", str(heap))
    top = pprof(go, "-top", "-sample_index=alloc_space", out)
    assert "runtime/pprof" in top or "compress/flate" in top
    assert sum(v[1] for v in raw_samples(pprof(go, "-raw", out)).values()) == \
        sum(v[1] for v in raw_samples(pprof(go, "-raw", str(heap))).values())


def test_merged_and_diffed_exports_equal_pprofs_own(db, tmp_path, go):
    old, new = sorted(p for p in PROTOS if p.name == "allocs.pb.gz")
    db.ingest([old, new])
    ids = [r[0] for r in db.sql("SELECT profile_id FROM profiles ORDER BY profile_id").fetchall()]
    merged = exported(db, tmp_path, "merged.pb.gz", ids)
    assert raw_samples(pprof(go, "-raw", merged)) == raw_samples(pprof(go, "-raw", str(new), str(old)))
    diff = exported(db, tmp_path, "diff.pb.gz", str(new), base=str(old))
    assert raw_samples(pprof(go, "-raw", diff)) == raw_samples(pprof(go, "-raw", f"-diff_base={old}", str(new)))
    norm = exported(db, tmp_path, "norm.pb.gz", str(new), base=str(old), normalize=True)
    assert raw_samples(pprof(go, "-raw", norm)) == raw_samples(
        pprof(go, "-raw", "-normalize", f"-diff_base={old}", str(new)))


def test_tag_filtered_export(db, tmp_path, go):
    cpu = [p for p in PROTOS if p.name == "cpu.pb.gz" and "go1.27" in str(p)][0]
    db.ingest(cpu)
    out = exported(db, tmp_path, "acme.pb.gz", str(cpu), tagfocus="tenant=acme")
    assert raw_samples(pprof(go, "-raw", out)) == raw_samples(pprof(go, "-raw", "-tagfocus=tenant=acme", str(cpu)))
