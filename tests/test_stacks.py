"""`forensics stacks` and db.stacks(): goroutines bucketed by identical stack,
from a file, standard input or a database, in every --similar mode and format."""
from __future__ import annotations

import json

import pytest

import forensics as fx
from forensics.analysis.stacks import SIMILAR, buckets
from test_cli import run
from conftest import SAMPLES, parse_file

LEAK = "incident/bundle/dumps/orders-66b68b8b88-xcxxq/goroutines-debug2-20261122T034202Z.txt"
CRASHES = ["go1.19.8/default/sigquit.txt", "go1.27.3/default/nil-deref.txt", "go1.27.3/default/recovered-chain.txt",
           "go1.19.8/default/deadlock.txt", "go1.27.3/default/stack.txt", LEAK]


@pytest.mark.parametrize("rel", CRASHES)
@pytest.mark.parametrize("similar", list(SIMILAR))
def test_bucket_counts_equal_the_goroutines_table(rel, similar):
    out = run("stacks", SAMPLES / rel, "--similar", similar, "--format", "json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    goroutines = parse_file(rel)["goroutines"]
    assert sum(b["count"] for b in found) == goroutines.num_rows
    assert sorted(i for b in found for i in b["goroutine_ids"]) == sorted(goroutines["goroutine_id"].to_pylist())


def test_similar_modes_merge_more_as_they_ignore_more():
    counts = {m: len(fx.stacks(SAMPLES / LEAK, similar=m)) for m in SIMILAR}
    assert counts["exact"] > counts["ignore-args"] >= counts["ignore-wait"] >= 1
    # the leak: hundreds of watch goroutines, one bucket once arguments are ignored
    df = fx.stacks(SAMPLES / LEAK, similar="ignore-args").sort_values("count", ascending=False)
    assert df.iloc[0]["count"] > 300 and "watchLoop" in json.dumps(df.iloc[0]["frames"])


def test_wait_minutes_become_a_range_only_when_ignored():
    g = [{"dump_id": 0, "seq": i, "goroutine_id": 10 + i, "state": "select", "wait_minutes": w, "count": 1}
         for i, w in enumerate([3, 7, None])]
    f = [{"dump_id": 0, "goroutine_seq": i, "depth": 0, "function": "main.loop", "file": "/app/main.go", "line": 12,
          "args": "0x1"} for i in range(3)]
    assert [b.wait for b in buckets(g, f, [], [], "ignore-wait")] == [(3, 7)]
    assert sorted(b.count for b in buckets(g, f, [], [], "ignore-args")) == [1, 1, 1]


def test_stdin_and_file_give_the_same_buckets_and_the_panic_sits_above_its_goroutine():
    data = (SAMPLES / "go1.27.3/default/nil-deref.txt").read_bytes()
    piped = run("stacks", "-", stdin=data)
    named = run("stacks", SAMPLES / "go1.27.3/default/nil-deref.txt")
    assert piped.returncode == named.returncode == 0
    assert piped.stdout.split(b"\n", 1)[1] == named.stdout.split(b"\n", 1)[1]  # the title names the source
    lines = piped.stdout.decode().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("panic: runtime error: invalid memory"))
    assert lines[at + 1].startswith("1: running [goroutine 1]")
    assert "main.go:" in lines[at + 2]
    assert max(len(line) for line in lines) <= 100


def test_damaged_text_gives_the_clean_buckets():
    clean = run("stacks", SAMPLES / "go1.19.8/default/sigquit.txt", "--format", "json")
    damaged = run("stacks", SAMPLES / "damaged/journald-de/go1.19.8-default-sigquit.txt", "--format", "json")
    strip = lambda out: [{k: v for k, v in b.items() if k != "source"} for b in json.loads(out.stdout)]  # noqa: E731
    assert strip(damaged) == strip(clean)


def test_frames_carry_module_and_version():
    found = fx.stacks(SAMPLES / LEAK, fmt="table")
    assert "go.etcd.io/etcd/client/v3@v3.5.9" in found


def test_markdown_and_html(tmp_path):
    md = run("stacks", SAMPLES / "go1.27.3/default/panic-string.txt", "--format", "md").stdout.decode()
    assert md.startswith("### dump 0") and "```" in md and "&lt;" not in md and "&amp;" not in md
    assert "`panic: something broke" in md
    out = tmp_path / "stacks.html"
    r = run("stacks", SAMPLES / "go1.27.3/default/panic-string.txt", "--format", "html", "-o", out)
    assert r.returncode == 0
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page
    hostile = b'panic: <script>alert(1)</script>\n\ngoroutine 1 [running]:\nmain.main()\n\t/a/<b>.go:5 +0x1\n'
    page = run("stacks", "-", "--format", "html", stdin=hostile).stdout.decode()
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;.go:5" in page


def test_from_a_database_as_from_the_file(tmp_path):
    db = fx.open(tmp_path / "i.duckdb")
    db.ingest(SAMPLES / LEAK)
    from_db = db.stacks(similar="ignore-args")
    db.close()
    from_file = fx.stacks(SAMPLES / LEAK, similar="ignore-args")
    assert from_db["count"].tolist() == from_file["count"].tolist()
    r = run("stacks", "--db", tmp_path / "i.duckdb", "--dump", str(int(from_db["dump_id"].iloc[0])))
    assert r.returncode == 0 and b"watchLoop" in r.stdout


def test_usage_errors():
    assert run("stacks").returncode == 2
    assert run("stacks", SAMPLES / LEAK, "--similar", "nonsense").returncode == 2


def test_what_could_not_be_read_is_said_and_fails_the_command(tmp_path):
    r = run("stacks", tmp_path / "nope.txt")
    assert r.returncode == 1 and b"no such file or directory" in r.stderr
    r = run("stacks", "-", stdin=b"we saw goroutine 7 [running]: mid sentence\n")
    assert r.returncode == 1 and b"no dump could be read" in r.stderr
    assert run("stacks", SAMPLES / LEAK, "--dump", "1").returncode == 2  # --dump selects from --db


def test_a_panic_without_its_goroutine_still_shows():
    out = run("stacks", "-", stdin=b"http: panic serving 10.0.0.1:5555: runtime error: index out of range\n")
    assert out.returncode == 0 and b"panic: runtime error: index out of range [recovered]" in out.stdout
    assert b"its goroutine was not printed" in out.stdout


def test_untrusted_text_reaches_no_terminal_or_markdown_raw():
    hostile = (b"panic: x\n\ngoroutine 1 [<img src=x onerror=alert(1)>]:\nmain.ma\x1b]0;owned\x07in()\n"
               b"\t/a/m.go:5 +0x1\n")
    text = run("stacks", "-", stdin=hostile).stdout
    assert b"\x1b" not in text and b"\x07" not in text and b"\\x1b]0;owned" in text
    md = run("stacks", "-", "--format", "md", stdin=hostile).stdout.decode()
    assert "<img" not in md.replace("\\<img", "")
