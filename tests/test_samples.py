"""Every sample a real Go program produced (sample_logs/manifest.json), parsed
with exact expectations. Counts are checked against what the program itself
logged (``crasher: mode=M goroutines=N``, runtime.NumGoroutine())."""
from __future__ import annotations

import re

import pytest

from conftest import SAMPLES, load_manifest, parse_file

MANIFEST = load_manifest()
GO_VERSIONS = sorted({e["go"] for e in MANIFEST})


def go_at_least(go: str, minor: int) -> bool:
    """go1.27.3 -> at least Go 1.<minor>."""
    return int(go.split(".")[1]) >= minor


def entry_id(e: dict) -> str:
    return e["file"]


# mode -> (dump kinds, [(panic kind, message, recovered)], top_function)
# Messages are exact; None means "checked elsewhere".
EXPECTED = {
    "panic-string": (["panic"], [("panic", "something broke: user 42 has no quota", False)], "main.main.func1"),
    "panic-error": (["panic"], [("panic", "open /etc/app/config.yaml: permission denied", False)], "main.main"),
    "panic-custom-error": (["panic"], [("panic", "order 1000 failed at stage payment", False)], "main.processOrder.func1"),
    "panic-struct": (["panic"], [("panic", re.compile(r"\(main\.Point\) 0x[0-9a-f]+"), False)], "main.main"),
    "repanic": (["panic"], None, "main.main.func4"),
    "panic-named-int": (["panic"], [("panic", "main.Status(503)", False)], "main.main"),
    "panic-multiline": (
        ["panic"],
        [("panic", "first line of the message\nsecond line\n\tindented third line", False)],
        "main.main",
    ),
    "nil-deref": (
        ["panic"],
        [("runtime_error", "runtime error: invalid memory address or nil pointer dereference", False)],
        "main.configName",
    ),
    "index": (["panic"], [("runtime_error", "runtime error: index out of range [5] with length 3", False)], "main.lookup"),
    "recovered-chain": (
        ["panic"],
        [("panic", "first failure", True), ("panic", "cleanup failed after: first failure", False)],
        "main.main.func3",
    ),
    "nested-panic": (
        ["panic"],
        [("panic", "original panic", False), ("panic", "panic in deferred call", False)],
        "main.main.func5",
    ),
    "concurrent-map": (["fatal"], [("fatal", "concurrent map writes", False)], "main.main.func6"),
    "deadlock": (["fatal"], [("fatal", "all goroutines are asleep - deadlock!", False)], "main.main"),
    "stack-overflow": (["fatal"], [("fatal", "stack overflow", False)], "main.recurse"),
    "busy-panic": (["panic"], [("panic", "panic while another goroutine spins", False)], "main.main"),
    "sigquit": (["signal"], [("signal", "SIGQUIT: quit", False)], None),
    "sigabrt": (["signal"], [("signal", "SIGABRT: abort", False)], None),
    "stack": (["goroutines"], [], None),
    "stack-crlf": (["goroutines"], [], None),
    "pprof-goroutine": (["goroutines"], [], None),
    "multi": (["goroutines", "goroutines", "panic"], [("panic", "order 7 failed at stage shipping", False)], "main.main"),
    "race": (["race"], None, None),
}


@pytest.mark.parametrize("e", MANIFEST, ids=entry_id)
def test_sample(e):
    t = parse_file(e["file"])
    dumps = t["dumps"].to_pandas()
    panics = t["panics"].to_pandas()
    goroutines = t["goroutines"].to_pandas()
    frames = t["frames"].to_pandas()
    assert t["ingest_errors"].num_rows == 0, t["ingest_errors"].to_pylist()

    kinds, expected_panics, top = EXPECTED[e["mode"]]
    assert list(dumps["kind"]) == kinds
    if expected_panics is not None:
        got = [(r.kind, r.message, r.recovered) for r in panics.itertuples()]
        if e["mode"] == "concurrent-map":
            # Two threads may detect the race and both throw: the runtime then
            # prints the fatal error twice, and both rows are kept.
            got = got[:1] if len(set(got)) == 1 else got
        assert len(got) == len(expected_panics)
        for (kind, msg, rec), (ekind, emsg, erec) in zip(got, expected_panics):
            assert (kind, rec) == (ekind, erec)
            assert emsg.fullmatch(msg) if isinstance(emsg, re.Pattern) else msg == emsg
    if top is not None:
        assert set(panics["top_function"]) == {top}
    # Every dump is dated: by the collector's prefix on its first line, else
    # by the log line the program wrote before it.
    assert list(dumps["ts_source"]) == ["prefix" if e.get("line_prefix") else "log"] * len(dumps)

    # Goroutine counts: what the program reported before each dump.
    if e["mode"] != "race" and (e["gotraceback"] != "single" or kinds[-1] in ("goroutines", "signal")):
        for dump_id, reported in zip(dumps["dump_id"], e["reported_goroutines"]):
            g = goroutines[(goroutines.dump_id == dump_id) & (goroutines.goroutine_id > 0) & ~goroutines.is_system]
            if e["mode"] in ("concurrent-map", "deadlock", "stack-overflow", "busy-panic"):
                continue  # announced before the goroutines that fail were started
            assert g.goroutine_id.nunique() == reported

    # Every frame resolved to a file and line.
    assert frames["file"].notna().all() and frames["line"].notna().all()
    # The stand-in dependency shows with its module path and version.
    dep = frames[frames.package == "github.com/acme/ratelimit"]
    if len(dep):
        assert set(dep.module) == {"github.com/acme/ratelimit"}
        if e["variant"] == "vendor":
            assert dep.module_version.isna().all()
            assert dep.file.str.contains("/vendor/github.com/acme/ratelimit/").all()
        else:
            assert set(dep.module_version) == {e["ratelimit"]}
    if e["variant"] == "trimpath":
        assert not frames.file.str.startswith("/").any()
    std = frames[frames.function.str.startswith(("runtime.", "sync.", "time.", "net.", "internal/"))]
    assert std.is_stdlib.all()
    assert not frames[frames.package.isin(["main", "github.com/acme/ratelimit"])].is_stdlib.any()


def sample(go: str, mode: str, variant: str = "default") -> dict:
    rel = f"{go}/{variant}/{mode}.txt"
    if not (SAMPLES / rel).exists():
        pytest.skip(f"{rel} not generated")
    return parse_file(rel)


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_goroutine_states_and_headers(go):
    g = sample(go, "stack")["goroutines"].to_pandas()
    states = set(g.state)
    assert {"running", "chan receive", "chan send", "chan receive (nil chan)", "select", "select (no cases)",
            "sleep", "IO wait", "syscall", "sync.Cond.Wait"} <= states
    # A goroutine blocked in sync.Mutex.Lock: Go 1.19 says "semacquire", newer
    # runtimes name the wait ("sync.Mutex.Lock", as Go 1.27 does).
    named = {"go1.19.8": "semacquire", "go1.27.3": "sync.Mutex.Lock"}
    if go in named:
        assert named[go] in states
    else:
        assert {"semacquire", "sync.Mutex.Lock"} & states
    assert g.locked.sum() == 1
    assert g[g.locked].state.iloc[0] == "chan receive"
    created = g[g.created_by.notna()]
    assert (created.created_by == "main.park.func1").sum() == 15
    if go_at_least(go, 21):  # "created by X in goroutine N"
        assert set(created.created_by_goroutine.dropna()) == {1}
    else:
        assert created.created_by_goroutine.isna().all()
    assert created.created_by_file.str.endswith("main.go").all()


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_deep_stacks_are_elided_with_true_depths(go):
    t = sample(go, "pprof-goroutine")
    g = t["goroutines"].to_pandas()
    f = t["frames"].to_pandas()
    per_goroutine = f[f.function == "main.deep"].groupby("goroutine_seq").size()
    seq = per_goroutine.idxmax()
    row = g[g.seq == seq].iloc[0]
    frames = f[f.goroutine_seq == seq]
    if not go_at_least(go, 21):
        # Go 1.19's goroutine dumps stop near 100 frames without saying so
        # (the recursion is 150 deep).
        assert row.frames_elided == 0 and 90 <= len(frames) <= 100
        assert list(frames.depth) == list(range(len(frames)))
    else:
        assert len(frames) == 100
        # 50 innermost + 50 outermost frames printed; depths after the gap skip it.
        assert row.frames_elided > 0
        assert frames.depth.max() == 99 + row.frames_elided
        assert frames.function.iloc[-1] == "main.park.func1.1"


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_inlined_frames_and_args(go):
    f = sample(go, "stack")["frames"].to_pandas()
    inlined = f[f.inlined]
    assert "github.com/acme/ratelimit.Call" in set(inlined.function)
    assert (inlined.args == "...").all()
    wait = f[f.function == "github.com/acme/ratelimit.(*Limiter).Wait"]
    assert len(wait) == 1 and re.fullmatch(r"0x[0-9a-f]+\??, 0x[0-9a-f]+\??", wait.args.iloc[0])


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_repanic(go):
    p = sample(go, "repanic")["panics"].to_pandas()
    if not go_at_least(go, 23):
        assert [(r.message, r.recovered, r.repanicked) for r in p.itertuples()] == [
            ("connection reset by peer", True, False), ("connection reset by peer", False, False)]
    else:  # Go 1.23+: "panic: X [recovered, repanicked]" printed once
        assert [(r.message, r.recovered, r.repanicked) for r in p.itertuples()] == [
            ("connection reset by peer", True, True)]


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_signal_details(go):
    d = sample(go, "nil-deref")["dumps"].to_pylist()[0]
    assert (d["signal"], d["signal_code"], d["fault_addr"]) == ("SIGSEGV", "0x1", "0x0")
    assert re.fullmatch(r"0x[0-9a-f]+", d["fault_pc"])
    q = sample(go, "sigquit")["dumps"].to_pylist()[0]
    assert q["signal"] == "SIGQUIT"
    assert re.fullmatch(r"0x[0-9a-f]+", q["fault_pc"])
    regs = dict(line.split("=") for line in q["registers"].splitlines())
    assert {"rax", "rip", "rsp", "rflags"} <= set(regs)


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_stack_overflow_preamble_and_runtime_stack(go):
    t = sample(go, "stack-overflow")
    d = t["dumps"].to_pylist()[0]
    assert d["preamble"].startswith("runtime: goroutine stack exceeds 1000000000-byte limit")
    g = t["goroutines"].to_pandas()
    assert g.iloc[0].goroutine_id == -1 and g.iloc[0].state == "runtime stack"
    main = g[g.goroutine_id == 1].iloc[0]
    assert main.frames_elided != 0


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_goroutine_running_on_other_thread(go):
    g = sample(go, "busy-panic")["goroutines"].to_pandas()
    assert g.stack_unavailable.sum() == 1
    assert g[g.stack_unavailable].state.iloc[0] == "running"


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_gotraceback_system_and_crash(go):
    t = sample(go, "panic-string-system")
    f = t["frames"].to_pandas()
    assert "runtime.goexit" in set(f.function)  # runtime frames shown at level system
    g = t["goroutines"].to_pandas()
    if go_at_least(go, 22):
        assert g.gp.notna().all()  # Go 1.22+ gp= headers at GOTRACEBACK=system
    c = sample(go, "panic-string-crash")
    cd = c["dumps"].to_pylist()
    assert len(cd) == 1 and cd[0]["kind"] == "panic"


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_crlf_dump_matches_lf_dump(go):
    lf = sample(go, "stack")["goroutines"].to_pandas()
    crlf = sample(go, "stack-crlf")["goroutines"].to_pandas()
    assert sorted(lf.state) == sorted(crlf.state)
    assert not crlf.state.str.contains("\r").any()


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_race_report(go):
    t = sample(go, "race", variant="race")
    d = t["dumps"].to_pylist()
    assert [x["kind"] for x in d] == ["race"]
    acc = t["race_accesses"].to_pandas()
    assert sorted(acc.previous) == [False, True]
    assert set(acc.op) <= {"read", "write"} and len(acc) == 2
    g = t["goroutines"].to_pandas()
    assert set(g.goroutine_id) == set(acc.goroutine_id)
    assert set(g.created_by) == {"main.main"}
    p = t["panics"].to_pylist()[0]
    assert p["kind"] == "race" and p["top_function"].startswith("main.main.func")


@pytest.mark.parametrize("go", GO_VERSIONS)
@pytest.mark.parametrize("mode", ["panic-string", "panic-custom-error"])
def test_signature_stable_across_builds(go, mode):
    """Same crash: same signature across dependency versions, trimpath and Go releases."""
    sigs = set()
    for variant in ("default", "ratelimit-v1.6.0", "trimpath"):
        p = sample(go, mode, variant)["panics"].to_pandas()
        sigs |= set(p.signature)
    assert len(sigs) == 1
    other = sample(go, "index")["panics"].to_pandas()
    assert set(other.signature).isdisjoint(sigs)
    # Lines moved between ratelimit v1.5.0 and v1.6.0; the signature did not.
    f5 = sample(go, mode)["frames"].to_pandas()
    f6 = sample(go, mode, "ratelimit-v1.6.0")["frames"].to_pandas()
    do5 = f5[f5.function == "github.com/acme/ratelimit.(*Limiter).Do"].line.iloc[0]
    do6 = f6[f6.function == "github.com/acme/ratelimit.(*Limiter).Do"].line.iloc[0]
    assert do6 == do5 + 3


def test_signature_same_across_go_releases():
    sigs = {tuple(sorted(set(sample(go, "index")["panics"].to_pandas().signature))) for go in GO_VERSIONS}
    assert len(sigs) == 1


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_long_waits_report_minutes(go):
    rel = f"{go}/default/pprof-goroutine-65.txt"
    if not (SAMPLES / rel).exists():
        pytest.skip("slow sample not generated")
    g = parse_file(rel)["goroutines"].to_pandas()
    assert (g.wait_minutes == 1).sum() >= 10


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_crash_level_signal_dump_is_one_dump(go):
    """kill -ABRT at GOTRACEBACK=crash: every M prints its g0 stack and
    registers after '-----' and 'SIGQUIT: quit'; all of it is one dump."""
    t = sample(go, "sigabrt-crash")
    d = t["dumps"].to_pylist()
    assert [x["kind"] for x in d] == ["signal"] and d[0]["signal"] == "SIGABRT"
    blocks = d[0]["registers"].split("\n-----\n")
    assert len(blocks) >= 2 and all("rip=" in b for b in blocks)
    g = t["goroutines"].to_pandas()
    assert (g.goroutine_id == 0).sum() >= 2  # every M's g0
    assert g.seq.is_unique


@pytest.mark.parametrize("go", GO_VERSIONS)
def test_container_log_prefixes_are_read_through(go):
    """The same crash as a plain log, as `kubectl logs --timestamps` and as a
    CRI log file: same dumps, dated by the prefix of their first line."""
    plain = sample(go, "panic-string")
    kubectl = sample(go, "kubectl-panic-string", variant="prefixed")
    for t in (kubectl,):
        assert t["panics"].to_pylist()[0]["signature"] == plain["panics"].to_pylist()[0]["signature"]
        assert t["goroutines"].num_rows == plain["goroutines"].num_rows
    d = kubectl["dumps"].to_pylist()[0]
    first = (SAMPLES / f"{go}/prefixed/kubectl-panic-string.txt").read_text().splitlines()[d["start_line"] - 1]
    assert first.endswith("Z panic: something broke: user 42 has no quota")
    assert d["ts"].isoformat() == first.split("Z ", 1)[0][:26]
    cri = sample(go, "cri-multi", variant="prefixed")
    assert [x["kind"] for x in cri["dumps"].to_pylist()] == ["goroutines", "goroutines", "panic"]
    assert cri["ingest_errors"].num_rows == 0
