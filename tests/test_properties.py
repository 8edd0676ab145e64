"""Hypothesis: bad input never raises, never loses what parsed, and the
vectorised reader agrees with the line-by-line reader on everything."""
from __future__ import annotations

import gzip
import io
import os

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.parsers import ParseOptions
from forensics.parsers.dumps import scanner
from forensics.db.schema import TABLES

from conftest import SAMPLES, SHARED, load_manifest, load_profiles

FILES = sorted(SAMPLES / e["file"] for e in load_manifest())
SAMPLE_BYTES = {p: p.read_bytes() for p in FILES}
COMPARED = ("dumps", "panics", "goroutines", "frames", "race_accesses", "ingest_errors")
# FX_EXAMPLES=2000 for a deeper search than the suite's default.
SETTINGS = settings(max_examples=int(os.environ.get("FX_EXAMPLES", 60)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def run(data: bytes, vectorized: bool = True) -> dict[str, list[dict]]:
    """Parse; any exception other than ForensicsError fails the test."""
    out: dict[str, list] = {}
    try:
        for name, batch in scanner.parse(io.BytesIO(data), ParseOptions(columnar=vectorized)):
            out.setdefault(name, []).append(batch)
    except fx.ForensicsError:
        pass
    return {
        name: sorted(
            pa.Table.from_batches(out.get(name, []), schema=TABLES[name].arrow_schema).to_pylist(),
            key=lambda r: tuple(str(v) for v in r.values()),
        )
        for name in COMPARED
    }


def both(data: bytes) -> dict[str, list[dict]]:
    fast, slow = run(data, True), run(data, False)
    for name in COMPARED:
        assert fast[name] == slow[name], name
    return fast


def test_vectorised_reader_equals_line_by_line_on_every_sample():
    for path, data in SAMPLE_BYTES.items():
        both(data)


@SETTINGS
@given(st.sampled_from(FILES), st.floats(0, 1))
def test_truncation_keeps_every_complete_goroutine(path, fraction):
    data = SAMPLE_BYTES[path]
    full = both(data)["goroutines"]
    cut = data[: int(len(data) * fraction)]
    cut_lines = cut.count(b"\n")
    got = both(cut)
    kept = {(g["goroutine_id"], g["line"]): g["stack_id"] for g in got["goroutines"]}
    headers = sorted(g["line"] for g in full)
    for g in full:
        later = [h for h in headers if h > g["line"]]
        # A goroutine whose block ended before the cut (the next header is
        # inside the kept text) must be there, with the same stack.
        if later and later[0] <= cut_lines:
            assert kept.get((g["goroutine_id"], g["line"])) == g["stack_id"]


@SETTINGS
@given(st.sampled_from(FILES), st.data())
def test_mutations_never_raise_and_agree(path, data):
    raw = bytearray(SAMPLE_BYTES[path])
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "newline", "tab"]))
        if action == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif action == "insert":
            raw[pos:pos] = data.draw(st.binary(max_size=40))
        elif action == "delete":
            del raw[pos : pos + data.draw(st.integers(1, 200))]
        elif action == "newline":
            raw[pos:pos] = b"\n"
        else:
            raw[pos:pos] = b"\t"
    result = both(bytes(raw))
    for e in result["ingest_errors"]:
        assert e["line"] is None or e["line"] >= 1


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    both(data)


@SETTINGS
@given(st.lists(st.sampled_from([
    "panic: boom", "fatal error: x", "goroutine 1 [running]:", "goroutine 2 [chan receive, 3 minutes]:",
    "main.main()", "main.f(...)", "\t/x.go:1 +0x1", "\t/x.go:2", "created by main.main in goroutine 1",
    "...additional frames elided...", "...5 frames elided...", "", "SIGQUIT: quit", "PC=0x1 m=0 sigcode=0",
    "rax    0x0", "==================", "WARNING: DATA RACE", "Read at 0x01 by goroutine 2:", "  main.f()",
    "      /x.go:3 +0x2", "Goroutine 2 (running) created at:", "runtime stack:", "[signal SIGSEGV: x code=0x1 addr=0x0 pc=0x1]",
    "\tpanic: again", "log line", "\tgoroutine running on other thread; stack unavailable", "-----",
]), max_size=60))
def test_grammar_soup(lines):
    both("\n".join(lines).encode())


def test_huge_line_is_cut_and_reported():
    data = b"x" * ((1 << 20) + 100) + b"\n" + SAMPLE_BYTES[FILES[0]]
    out = both(data)
    assert out["ingest_errors"][0]["line"] == 1
    assert "characters long" in out["ingest_errors"][0]["message"]
    assert out["dumps"]


PROFILE_FILES = sorted(SAMPLES / e["file"] for e in load_profiles())
PROFILE_BYTES = {p: p.read_bytes() for p in PROFILE_FILES}


@SETTINGS
@given(st.sampled_from(PROFILE_FILES), st.data())
def test_damaged_profiles_are_recorded_never_raised(tmp_path_factory, path, data):
    """Truncated, spliced or bit-flipped profiles (proto or text): the ingest
    records a status and an error, keeps what a text profile still holds,
    and never raises."""
    raw = PROFILE_BYTES[path]
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    cut = data.draw(st.integers(0, len(raw)))
    junk = data.draw(st.binary(max_size=64))
    flips = data.draw(st.lists(st.integers(0, max(len(raw) - 1, 0)), max_size=4))
    damaged = bytearray(raw[:cut] + junk + raw[cut:])
    for i in flips:
        if i < len(damaged):
            damaged[i] ^= 0x5A
    target = tmp_path_factory.mktemp("p") / path.name.replace(".gz", "")
    target.write_bytes(bytes(damaged))
    db = fx.open()
    r = db.ingest(target).results[0]
    assert r.status in ("ok", "partial", "failed", "skipped"), r
    if r.status in ("partial", "failed"):
        assert r.error
    if r.kind == "pprof_text" and r.status != "failed":
        assert db.sql("SELECT count(*) FROM profiles").fetchall() == [(1,)]


LEGACY = sorted((SHARED / "pprof").rglob("*")) if SHARED.is_dir() else []
LEGACY = [p for p in LEGACY if p.is_file() and p.suffix not in (".txt", ".string") and "." in p.name
          and not p.name.startswith("java.")]


@SETTINGS
@given(st.data())
def test_damaged_legacy_profiles_are_recorded_never_raised(tmp_path_factory, data):
    """The same for the corpus's legacy binary and text profiles (skipped without ../shared)."""
    if not LEGACY:
        return
    path = data.draw(st.sampled_from(LEGACY))
    raw = path.read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    flips = data.draw(st.lists(st.integers(0, max(len(raw) - 1, 0)), max_size=4))
    damaged = bytearray(raw[:cut])
    for i in flips:
        if i < len(damaged):
            damaged[i] ^= 0xA5
    target = tmp_path_factory.mktemp("l") / path.name
    target.write_bytes(bytes(damaged))
    r = fx.open().ingest(target).results[0]
    assert r.status in ("ok", "partial", "failed", "skipped"), r
    if r.status in ("partial", "failed"):
        assert r.error


TRACE_FILES = sorted((SAMPLES / "spans").rglob("*.json*")) + sorted(SAMPLES.glob("go1.*/trace/trace.json.gz"))
TRACE_BYTES = {p: gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes() for p in TRACE_FILES}


@SETTINGS
@given(st.sampled_from(TRACE_FILES), st.data())
def test_damaged_trace_json_is_recorded_never_raised(tmp_path_factory, path, data):
    """Cut, spliced or byte-flipped OTLP, Zipkin and go tool trace JSON: the
    ingest records a status, keeps what still parses, never raises."""
    raw = TRACE_BYTES[path]
    if len(raw) > 200_000:  # the Go traces: damage a slice around a random point, keep the start
        start = data.draw(st.integers(0, len(raw) - 100_000))
        raw = raw[:start + 100_000]
    cut = data.draw(st.integers(0, len(raw)))
    junk = data.draw(st.sampled_from([b"", b"}", b"]", b",", b'{"ph":', b"\x00\xff", b'"ts":"x"', b"\n{}\n"]))
    damaged = bytearray(raw[:cut] + junk + raw[cut:])
    for i in data.draw(st.lists(st.integers(0, max(len(damaged) - 1, 0)), max_size=3)):
        damaged[i] = data.draw(st.sampled_from(list(b'{}[],:"0x \n')))
    target = tmp_path_factory.mktemp("t") / path.name.replace(".gz", "")
    target.write_bytes(bytes(damaged))
    r = fx.open().ingest(target).results[0]
    assert r.status in ("ok", "partial", "failed", "skipped"), r
    if r.status in ("partial", "failed"):
        assert r.error
