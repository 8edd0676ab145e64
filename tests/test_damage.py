"""Crash text as tools leave it: every damaged copy of a real crash
(sample_logs/damaged, made by sample_logs/generate_damaged.py) reads as its
clean original, and so do random combinations of the damages (Hypothesis)."""
from __future__ import annotations

import json
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, parse_bytes, which

sys.path.insert(0, str(SAMPLES))
from damage import BY_NAME, DAMAGES, applies, run_tool  # noqa: E402

MANIFEST = json.loads((SAMPLES / "damaged" / "manifest.json").read_text())


def reading(data: bytes) -> dict:
    """What a postmortem reads from a crash: goroutines, frames and panics
    (ids, states, wait minutes; function, file, line, module, version; kind,
    message, recovered, signature), not where in the file they were."""
    t = parse_bytes(data)
    g = t["goroutines"].to_pylist()
    f = t["frames"].to_pylist()
    p = t["panics"].to_pylist()
    # Row order is not part of the reading (the columnar and line readers
    # emit batches in different orders); None sorts first.
    key = lambda row: tuple((v is not None, v) for v in row)  # noqa: E731
    return {
        "goroutines": sorted(((r["dump_id"], r["seq"], r["goroutine_id"], r["state"], r["wait_minutes"],
                               r["created_by"], r["created_by_file"]) for r in g), key=key),
        "frames": sorted(((r["dump_id"], r["goroutine_seq"], r["depth"], r["function"], r["file"], r["line"],
                           r["module"], r["module_version"]) for r in f), key=key),
        # expand also turns the tabs inside a message into spaces: nothing can
        # tell them from the message's own spaces, so blanks compare as one.
        "panics": sorted(((r["dump_id"], r["kind"], " ".join(r["message"].split()), r["recovered"], r["signature"])
                          for r in p), key=key),
        "dumps": [(r["kind"], r["total_goroutines"], r["signal"]) for r in t["dumps"].to_pylist()],
        "problems": [r["message"] for r in t["ingest_errors"].to_pylist()],
    }


_CLEAN: dict[str, dict] = {}


def clean(source: str) -> dict:
    if source not in _CLEAN:
        _CLEAN[source] = reading((SAMPLES / source).read_bytes())
    return _CLEAN[source]


def assert_same(damaged: dict, original: dict, what: str) -> None:
    for table in ("dumps", "panics", "goroutines", "frames", "problems"):
        assert damaged[table] == original[table], (what, table)


@pytest.mark.parametrize("damage", [d.name for d in DAMAGES])
def test_every_damaged_copy_reads_as_its_original(damage):
    entries = [e for e in MANIFEST if e["damage"] == damage]
    assert entries, damage
    for e in entries:
        got = reading((SAMPLES / "damaged" / e["file"]).read_bytes())
        assert got["goroutines"], e["file"]
        assert_same(got, clean(e["source"]), e["file"])


def test_the_committed_copies_are_what_the_tools_make():
    """Each committed copy is what its tool (or mimic) makes of the source
    today; and each mimic matches its real tool where the tool is here."""
    checked = 0
    for e in MANIFEST:
        damage = BY_NAME[e["damage"]]
        source = (SAMPLES / e["source"]).read_bytes()
        if damage.command and which(damage.command[0]) and damage.command[0] != "ts":
            made, _ = run_tool(damage, source)
            assert made == damage.mimic(source), e["file"]
            assert made == (SAMPLES / "damaged" / e["file"]).read_bytes(), e["file"]
            checked += 1
        elif e["made_by"] == "mimic":
            assert damage.mimic(source) == (SAMPLES / "damaged" / e["file"]).read_bytes(), e["file"]
    if which("sed") and which("expand"):
        assert checked >= 100


SOURCES = sorted({e["source"] for e in MANIFEST})
# A hard wrap whose pieces a later tool prefixes cannot be told from lines of
# their own (each piece looks complete to the eye too): fold-80 is tested
# alone, on every sample, and left out of the combinations.
COMBINABLE = [d for d in DAMAGES if d.only is None and d.name != "fold-80"]


# CI runs a fixed set of examples (the same on every run); elsewhere they are
# drawn anew each time, and FX_DAMAGE_EXAMPLES asks for more.
@settings(max_examples=int(os.environ.get("FX_DAMAGE_EXAMPLES", 60)), deadline=None,
          derandomize=bool(os.environ.get("CI")), suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES), chain=st.lists(st.sampled_from(COMBINABLE), min_size=2, max_size=3, unique_by=lambda d: d.name))
def test_combined_damages_read_as_the_original(source, chain):
    """A crash copied from a terminal into a tracker, then through a log
    shipper: damages compose."""
    # Damages happen in an order: the program's terminal first (go run's
    # exit status), the Markdown of the tracker it is pasted into last.
    stage = {"go-run": 0, "markdown-fence": 2, "markdown-quote": 2, "markdown-indent": 2}
    chain = sorted(chain, key=lambda d: stage.get(d.name, 1))
    names = [d.name for d in chain]
    data = (SAMPLES / source).read_bytes()
    for d in chain:
        if applies(d, source):
            data = d.mimic(data)
    assert_same(reading(data), clean(source), f"{source} {names}")


def test_go_evidence_is_never_skipped_and_the_exit_status_says_so(tmp_path):
    """Every damaged copy is read (ok, exit 0); text that shows Go crash output
    but holds no readable dump fails, with its line, and exits 1."""
    from test_cli import run

    db = tmp_path / "d.duckdb"
    r = run("ingest", SAMPLES / "damaged" / "klog", SAMPLES / "damaged" / "fold-80", "--db", db)
    assert r.returncode == 0, r.stdout
    assert " 0 partial, 0 failed, 0 skipped" in r.stdout.decode().splitlines()[0]
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"we saw goroutine 7 [running]: in the middle of a sentence\nand nothing else\n")
    r = run("ingest", odd, "--db", tmp_path / "e.duckdb")
    assert r.returncode == 1
    assert b"failed" in r.stdout and b"line 1: Go crash output here" in r.stdout


CLEAN = sorted(str(p.relative_to(SAMPLES)) for d in ("go1.19.8", "go1.27.3") for p in (SAMPLES / d).glob("*/*.txt")
               if "prefixed" not in p.parts)


def test_the_restore_pass_changes_nothing_in_clean_output():
    from forensics.parsers.dumps.restore import Restorer

    for rel in CLEAN:
        lines = (SAMPLES / rel).read_text().split("\n")
        assert Restorer().restore(lines).lines == lines, rel


@settings(max_examples=int(os.environ.get("FX_DAMAGE_EXAMPLES", 60)), deadline=None,
          derandomize=bool(os.environ.get("CI")), suppress_health_check=[HealthCheck.too_slow])
@given(rel=st.sampled_from(CLEAN), pick=st.integers(0, 10_000), width=st.sampled_from([80, 100, 120, 132]))
def test_clean_lines_at_a_console_width_are_not_taken_for_wraps(rel, pick, width):
    """A file line or a panic message exactly as wide as a console (its path or
    text lengthened to that width) is still a line of its own: clean output
    is left as the runtime printed it."""
    from forensics.parsers.dumps.restore import Restorer

    lines = (SAMPLES / rel).read_text().split("\n")
    candidates = [i for i, line in enumerate(lines) if line.startswith(("\t/", "panic: ")) and len(line) < width - 8]
    if not candidates:
        return
    i = candidates[pick % len(candidates)]
    line = lines[i]
    pad = width - len(line.expandtabs(8))
    lines[i] = (line.replace("/", "/" + "x" * pad, 1) if line.startswith("\t") else line + "y" * pad)
    assert Restorer().restore(lines).lines == lines, (rel, i)


@pytest.mark.parametrize("text, messages", [
    (b'panic: failed to connect to "localhost:5432"\n\ngoroutine 1 [running]:\nmain.main()\n\t/a/m.go:5 +0x1\n',
     ['failed to connect to "localhost:5432"']),
    (b"panic: config errors:\nmissing key a\nmissing key b\n\ngoroutine 1 [running]:\nmain.main()\n\t/a/m.go:5 +0x1\n",
     ["config errors:\nmissing key a\nmissing key b"]),
    (b"2026/03/14 listening with recovered panic middleware\nstats: panic recovered 0 times\n", []),
    (b"20240101: job finished\n", []),
])
def test_text_that_only_looks_damaged_is_read_as_written(text, messages):
    """Found by review: quotes, colons and prose that the restore pass or the
    logged-panic patterns must leave alone (the messages come from real
    programs' panics; the prose from real middleware logs)."""
    assert [p["message"] for p in parse_bytes(text)["panics"].to_pylist()] == messages


def log_before(data: bytes, n: int) -> bytes:
    """A service's log before its crash: the paste's first line (a log record
    the collector prefixed like the rest) n more times before it."""
    first = data.split(b"\n", 1)[0]
    return (first + b"\n") * n + data


@pytest.mark.parametrize("damage", ["ts", "github-actions", "github-actions-cut", "docker-compose", "journald", "klog"])
@pytest.mark.parametrize("n", [1996, 30_000])
def test_a_prefixed_crash_after_a_long_log_reads_as_its_original(damage, n):
    """Found by the fuzz suite (repeat:pasted-github:643188500): the prefix was
    found from a paste's first 2000 lines only, so Go lines starting later
    kept it and were lost (ok, no frames, no panic). 1996 lines put the panic
    at the sample's end; 30,000 put the whole crash past it."""
    for e in MANIFEST:
        if e["damage"] == damage and e["file"].endswith(("go1.27.3-default-deadlock.txt", "-default-stack.txt")):
            got = reading(log_before((SAMPLES / "damaged" / e["file"]).read_bytes(), n))
            assert got["frames"], e["file"]
            assert_same(got, clean(e["source"]), f"{e['file']} after {n} log lines")


def test_kubectl_timestamps_crash_after_a_long_log_keeps_its_frames_and_panic():
    source = "go1.27.3/prefixed/kubectl-panic-string.txt"
    assert len(clean(source)["frames"]) == 153
    assert_same(reading(log_before((SAMPLES / source).read_bytes(), 1996)), clean(source), source)


def race_cut_by_system_stack() -> bytes:
    """A race report cut inside its second access's stack, spliced onto a
    GOTRACEBACK=system stack overflow from inside goroutine 1's frames
    (fp= sp= pc=): a log that lost lines between two crashes."""
    race = (SAMPLES / "go1.27.3" / "race" / "race.txt").read_bytes().split(b"\n")
    overflow = (SAMPLES / "go1.19.8" / "default" / "stack-overflow.txt").read_bytes().split(b"\n")
    cut = next(i for i, line in enumerate(race) if line.startswith(b"Previous write at ")) + 2
    inside = next(i for i, line in enumerate(overflow) if b" fp=0x" in line) + 40
    return b"\n".join(race[:cut] + overflow[inside:])


def test_a_goroutine_header_ends_a_race_report_cut_short():
    """Found by the fuzz suite (splice:crash-1.27-race:837327740): the
    goroutine after the cut was swallowed by the unfinished race report."""
    t = parse_bytes(race_cut_by_system_stack())
    want = {(r["goroutine_id"], r["state"]) for r in parse_bytes((SAMPLES / "go1.19.8" / "default" / "stack-overflow.txt")
                                                                  .read_bytes())["goroutines"].to_pylist()
            if r["goroutine_id"] > 1}  # (the runtime stack and goroutine 1 were before the cut)
    got = {(r["goroutine_id"], r["state"]) for r in t["goroutines"].to_pylist()}
    assert want and want <= got
    problems = [r["message"] for r in t["ingest_errors"].to_pylist()]
    assert any(m.startswith("race report cut short") for m in problems), problems
    races = [d for d in t["dumps"].to_pylist() if d["kind"] == "race"]
    assert len(races) == 1
