"""Real crash pastes from public issue trackers (../shared/wild-dev, with
truth.json; skipped when absent): every file's goroutines, messages and kinds
of crash are recovered, and none is skipped."""
from __future__ import annotations

import json

import pytest

import forensics as fx
from conftest import ROOT

WILD = ROOT.parent / "shared" / "wild-dev"
TRUTH = json.loads((WILD / "truth.json").read_text()) if (WILD / "truth.json").exists() else []
pytestmark = pytest.mark.skipif(not TRUTH, reason=f"{WILD} not present")


def _kinds(db) -> set[str]:
    """truth.json's kinds, from what was stored."""
    found = set()
    for kind, recovered, message, signal, dkind in db.sql(
            "SELECT p.kind, p.recovered, p.message, d.signal, d.kind FROM dumps d LEFT JOIN panics p USING (dump_id)"
    ).fetchall():
        if dkind == "race":
            found.add("race")
        if dkind in ("goroutines", "goroutine_profile", "signal"):
            found.add("goroutine_dump")
        if signal is not None or dkind == "signal":
            found.add("signal")
        if kind in ("panic", "runtime_error"):
            found.add("recovered_panic" if recovered else "panic")
        if kind == "fatal":
            found.add("fatal_error")
            text = (message or "").lower()
            found |= {k for k, word in (("oom", "out of memory"), ("oom", "cannot map pages"),
                                        ("stack_overflow", "stack overflow"), ("deadlock", "deadlock")) if word in text}
    return found


@pytest.mark.parametrize("case", TRUTH, ids=[t["file"][:3] for t in TRUTH])
def test_real_paste_is_read_whole(case, tmp_path):
    db = fx.open(tmp_path / "wild.duckdb")
    db.ingest(WILD / case["file"], progress=lambda r: None)
    (status, error), = db.sql("SELECT status, error FROM sources").fetchall()
    assert status in ("ok", "partial"), (status, error)
    if "goroutine_profile_total" in case:
        want, sql = case["goroutine_profile_total"], "SELECT sum(count) FROM goroutines"
    else:
        want = case["goroutine_headers"]
        sql = ("SELECT count(*) FROM goroutines g JOIN dumps d USING (dump_id) "
               "WHERE d.kind <> 'race' AND g.goroutine_id >= 0")
    assert db.sql(sql).fetchall()[0][0] == want
    messages = [m.split("\n")[0] for (m,) in db.sql("SELECT message FROM panics").fetchall()]
    signals = {s for (s,) in db.sql("SELECT panics.message FROM panics WHERE kind = 'signal'").fetchall()}
    for message in case["panic_messages"]:
        assert message in messages or message in signals, (message, messages)
    assert set(case["kinds"]) <= _kinds(db), (case["kinds"], _kinds(db))
    db.close()


def test_no_frame_loses_its_file_line_where_the_paste_has_one(tmp_path):
    """Frames whose function line is followed by its file line keep it, in
    every paste: the count of frames without a file is the count of calls
    the paste cut off (reported as ingest errors)."""
    lost = 0
    for case in TRUTH:
        db = fx.open(tmp_path / f"{case['file'][:3]}.duckdb")
        db.ingest(WILD / case["file"], progress=lambda r: None)
        # (a goroutine profile's unsymbolized PC has neither function nor file)
        no_file = db.sql("SELECT count(*) FROM frames WHERE file IS NULL AND function IS NOT NULL").fetchall()[0][0]
        reported = db.sql("SELECT count(*) FROM ingest_errors WHERE message LIKE '%no file line%' "
                          "OR message LIKE 'input ended after frame%'").fetchall()[0][0]
        lost += max(0, no_file - reported)
        db.close()
    assert lost == 0


def test_real_pastes_damaged_once_more_read_as_before():
    """Each paste put through each damage of sample_logs/damage.py (a second
    damage on top of its own) reads as the paste did: same goroutines and
    messages, no frame losing its file line. Pastes already hard-wrapped,
    double-spaced or held as an escaped string are let off: a wrap whose
    pieces a later tool prefixed or spaced out looks like lines of its own."""
    import io
    import sys

    from conftest import SAMPLES
    from forensics.parsers import ParseOptions
    from forensics.parsers.dumps import scanner

    sys.path.insert(0, str(SAMPLES))
    from damage import DAMAGES

    def reading(data: bytes) -> tuple:
        t: dict[str, list] = {}
        for name, batch in scanner.parse(io.BytesIO(data), ParseOptions()):
            t.setdefault(name, []).extend(batch.to_pylist())
        race = {d["dump_id"] for d in t.get("dumps", []) if d["kind"] == "race"}
        goroutines = sum(1 for g in t.get("goroutines", []) if g["dump_id"] not in race
                         and g["goroutine_id"] is not None and g["goroutine_id"] >= 0)
        frames = sum(1 for f in t.get("frames", []) if f["file"] is not None)
        return goroutines, frames, sorted(p["message"].split("\n")[0] for p in t.get("panics", []))

    def undoable(case) -> bool:
        """Its own damage is a wrap, an escaped string or double spacing, which a second damage confounds."""
        own = case["damaged"]
        return any(word in own for word in ("wrap", "escape", "literal", "double", "after every line"))

    pairs, differ = 0, []
    for case in TRUTH:
        if "goroutine_profile_total" in case:
            continue
        data = (WILD / case["file"]).read_bytes()
        base = reading(data)
        for damage in DAMAGES:
            if damage.only:
                continue
            pairs += 1
            g, f, m = reading(damage.mimic(data))
            if (g != base[0] or m != base[2] or f < base[1]) and not undoable(case):
                differ.append((case["file"][:3], damage.name))
    assert pairs > 1000
    assert differ == []
