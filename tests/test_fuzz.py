"""Fuzzing the ingest over the real samples (issue 16).

Every case runs in a worker process (tests/fuzz/pool.py: 60 s and 1 GB each, TMPDIR, HOME and cwd
private) and is judged there (tests/fuzz/runner.py):

1. no exception escapes ``db.ingest``;
2. every source has an honest status, the same in ``sources`` and ``ingest_errors`` as in the
   summary, every input is accounted for, nothing holding Go evidence is ``skipped``, and each
   source is what its case expects (bounds named, special files skipped unopened, clean samples
   in containers or under hostile names read as they do loose);
3. no case hangs past 60 s or grows its worker past 1 GB RSS;
4. nothing is written outside the database's directory and TMPDIR, and TMPDIR is empty after;
5. the goroutines, log records and JSON-lines spans of the clean reading that rest wholly outside
   the mutated lines are all in the mutated reading.

The CI list (``fuzz.cases.ci_cases``) covers every sample, mutation, container, bomb, special
file and hostile name once or more; Hypothesis adds edits it draws (derandomized, no database).
Known bugs are pinned by strict xfails (``KNOWN``). By hand, for a longer budget (and
``FORENSICS_FUZZ_EXAMPLES=200 FORENSICS_FUZZ_RANDOM=1`` for Hypothesis to search afresh):
``FORENSICS_FUZZ_CASES=1000 pytest tests/test_fuzz.py -k long``, or ``cd tests && python -m fuzz
--cases 1000`` (also ``benchmarks/fuzz_long.py``), which prints the table.
"""
from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from fuzz import samples
from fuzz.build import FILE_NAMES, WRAPS
from fuzz.cases import (BOMBS, CATEGORIES, HOSTILE, KNOWN, SIGNATURES, SPECIAL, case, ci_cases, explain, is_known,
                        known_bug, known_cases, long_cases, table)
from fuzz.mutate import EDIT_OPS, INF, KINDS, TOKENS, Lines, Mutation, mutate
from fuzz.pool import Pool
from fuzz.reading import lost
from fuzz.runner import changes, snapshot

CI = ci_cases()
LONG = int(os.environ.get("FORENSICS_FUZZ_CASES", 0))


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    # Opening a database waits about as long as it computes: two workers a core keep both busy.
    with Pool(tmp_path_factory.mktemp("fuzz"), n=min(4, 2 * (os.cpu_count() or 1)), timeout=60.0, rss_mb=1024.0) as p:
        yield p


@pytest.fixture(scope="module")
def results(pool) -> dict[str, dict]:
    """The CI list and the known bugs (and the long budget's cases when asked), run once over the workers."""
    cases = CI + known_cases() + (long_cases(LONG, seed=int(os.environ.get("FORENSICS_FUZZ_SEED", 1))) if LONG
                                  else [])
    return {r["id"]: r for r in pool.run_all(cases)}


@pytest.mark.parametrize("cid", [c["id"] for c in CI])
def test_case(results, cid):
    r = results[cid]
    assert not r["violations"], explain(r)


@pytest.mark.parametrize("cid", [pytest.param(c["id"], marks=pytest.mark.xfail(
    strict=True, raises=AssertionError, reason=KNOWN[c["id"]])) for c in known_cases()])
def test_known_bug(results, cid):
    """Fails (as expected) while the bug is there; once fixed, strict makes the pass a failure:
    take the case off KNOWN. A bug that fails some other way now is a plain failure."""
    r = results[cid]
    if cid in SIGNATURES and not all(known_bug(v) == cid for v in r["violations"]):
        pytest.fail("no longer the known bug it pins:\n" + explain(r))
    assert not r["violations"], explain(r)


def test_the_ci_list_covers_every_category_format_and_container():
    kinds = {c["kind"] for c in CI} | {c["kind"] for c in known_cases()}
    assert set(KINDS) <= kinds
    assert {*BOMBS, *SPECIAL} <= kinds
    assert {k for k in HOSTILE if k not in FILE_NAMES} <= kinds  # file-names holds all those
    assert {c["category"] for c in CI} | {"hypothesis edits"} == set(CATEGORIES)
    assert {c["wrap"] for c in CI} - {None} == set(WRAPS)
    assert {c["sample"] for c in CI} >= {s.key for s in samples.CATALOG if s.ci}
    assert {samples.get(c["sample"]).kind for c in CI if c["sample"]} == {s.kind for s in samples.CATALOG}
    assert len({c["id"] for c in CI}) == len(CI)


LINE_CI = [k for k in samples.LINE_SAMPLES if samples.get(k).ci]


@st.composite
def edit_cases(draw) -> dict:
    """Edits Hypothesis draws (flip, insert, delete, duplicate, truncate) inside a few lines of a
    line-oriented sample, loose or packed."""
    key = draw(st.sampled_from(LINE_CI))
    edits = {
        "line": draw(st.floats(0, 1, exclude_max=True)),
        "nlines": draw(st.integers(1, 4)),
        "ops": [(op, frac, n, payload.hex()) for op, frac, n, payload in draw(st.lists(st.tuples(
            st.sampled_from(EDIT_OPS), st.floats(0, 1), st.integers(0, 300),
            st.one_of(st.binary(max_size=40), st.sampled_from(TOKENS))), min_size=1, max_size=4))],
    }
    wrap = draw(st.sampled_from((None, None, None, "gzip", "tgz", "zip")))
    seed = zlib.crc32(repr(edits).encode())
    return case("edits", key, seed, wrap, edits=edits)


@settings(max_examples=int(os.environ.get("FORENSICS_FUZZ_EXAMPLES", 10)),
          derandomize=not os.environ.get("FORENSICS_FUZZ_RANDOM"), database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(edit_cases())
def test_hypothesis_edits_keep_what_they_do_not_touch(pool, c):
    r = pool.run(c)
    # An example that only meets known bugs (each pinned above) is passed over, so the search goes
    # on for new ones; FORENSICS_FUZZ_IGNORE=word,... passes over more while searching by hand.
    ignored = [w for w in os.environ.get("FORENSICS_FUZZ_IGNORE", "").split(",") if w]
    if r["violations"] and all(known_bug(v) or any(w in v for w in ignored) for v in r["violations"]):
        reject()
    assert not r["violations"], explain(r)


@pytest.mark.skipif(not LONG, reason="the long budget: FORENSICS_FUZZ_CASES=N")
def test_long(results, capsys):
    drawn = long_cases(LONG, seed=int(os.environ.get("FORENSICS_FUZZ_SEED", 1)))
    got = [results[c["id"]] for c in drawn]
    with capsys.disabled():
        print("\n" + table(got) + "\n\n" + table(got, "format"))
    failed = [r for r in got if r["violations"] and not is_known(r)]
    assert not failed, "\n\n".join(explain(r) for r in failed[:10])


# --- the harness itself (in process, no ingest) ---------------------------------------------------

@pytest.mark.parametrize("kind", [k for k in KINDS if k != "splice"])
def test_each_mutation_is_seeded_and_stays_in_the_lines_it_names(kind):
    """What the preservation check relies on: the lines before a mutation's range are a prefix of
    the mutated bytes, the lines after it a suffix, and the same seed gives the same bytes."""
    for key in ("crash-1.27-multi", "log-cri-crash", "otlp-jsonl"):
        data = samples.get(key).content()
        lines = Lines(data)
        for seed in range(12):
            m = mutate(data, kind, seed)
            assert m.data == mutate(data, kind, seed).data
            a, b = m.touched
            head = data[:lines.span(1, a - 1)[1]] if a > 1 else b""
            assert m.data.startswith(head), (kind, seed, m.recipe)
            if b < INF and b < lines.n:
                tail = data[lines.span(b + 1, lines.n)[0]:]
                assert m.data.endswith(tail), (kind, seed, m.recipe)
            else:
                assert b == INF or b == lines.n


def test_lost_names_records_outside_the_touched_lines_and_only_those():
    g = ((7, "running", ("main.main",)), 10, 20)
    h = ((8, "chan receive", ("main.worker",)), 21, 30)
    clean = {"goroutines": [g, h], "logs": [(("started",), 1, 9)]}
    m = Mutation(b"", (12, 12), "")
    assert lost(clean, m, {"goroutines": [g]}) == {"goroutines": [h[0]], "logs": [("started",)]}
    assert lost(clean, m, {"goroutines": [h], "logs": [(("started",), 1, 1)]}) == {}  # 7 was touched
    assert lost(clean, Mutation(b"", (22, INF), ""), {"goroutines": [], "logs": []}) == {
        "goroutines": [g[0]], "logs": [("started",)]}  # 8 touched by the cut; 7 ends at 20 < 21


def test_go_evidence_is_what_the_readme_calls_it():
    assert samples.go_evidence(b'{"log":"x"}\n2026 stderr F goroutine 1 [running]:\n')
    assert samples.go_evidence(b"\tpanic: boom\n") and samples.go_evidence(b"fatal error: all goroutines are asleep")
    assert samples.go_evidence(b"the goroutine 12 leaked\nno panic: here\n") is None


def test_a_jaeger_sample_is_the_otlp_sample_converted(tmp_path):
    import forensics as fx

    spans = []
    for key in ("otlp-jsonl", "jaeger"):
        path = tmp_path / key
        path.write_bytes(samples.get(key).content())
        db = fx.open()
        assert db.ingest([path]).results[0].kind == samples.get(key).kind
        spans.append(db.sql("SELECT trace_id, span_id, parent_span_id, name, start_ns // 1000, duration_ns // 1000 "
                            "FROM spans ORDER BY ALL").fetchall())
    assert spans[0] and len(spans[0]) == len(spans[1])
    assert {s[:4] for s in spans[0]} == {s[:4] for s in spans[1]}


def test_a_write_anywhere_in_the_workers_tree_is_seen(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "crash.txt").write_text("panic: boom\n")
    before = snapshot(tmp_path)
    (tmp_path / "in" / "crash.txt.tmp").write_text("x")
    (tmp_path / "in" / "crash.txt").write_text("panic: boom, again\n")
    assert sorted(w.split(":")[0] for w in changes(before, snapshot(tmp_path))) == ["changed", "new"]
