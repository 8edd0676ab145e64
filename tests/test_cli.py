"""End-to-end: the forensics command as a user runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import SAMPLES

PANIC = SAMPLES / "go1.27.3" / "default" / "panic-custom-error.txt"


def run(*args, stdin: bytes | None = None, columns: int | None = None) -> subprocess.CompletedProcess:
    """The CLI in a subprocess; `columns` widens piped tables (100 by default) where a test greps cells."""
    env = {**os.environ, "COLUMNS": str(columns)} if columns else None
    return subprocess.run(
        [sys.executable, "-m", "forensics.cli", *map(str, args)], input=stdin, capture_output=True, timeout=300,
        env=env,
    )


@pytest.mark.parametrize("command", [[], ["ingest"], ["panics"], ["sql"], ["top"], ["diff"], ["leaks"], ["latency"], ["trace"]])
def test_help_everywhere(command):
    r = run(*command, "--help")
    assert r.returncode == 0
    assert b"Usage: " in r.stdout


def test_usage_errors_exit_2(tmp_path):
    assert run("ingest", PANIC).returncode == 2  # --db missing
    assert run("ingest", "--db", tmp_path / "x.duckdb").returncode == 2  # no paths
    assert run("ingest", PANIC, "--db", tmp_path / "x.duckdb", "--jobs", "0").returncode == 2
    assert run("nonsense").returncode == 2


def test_ingest_samples_then_panics(tmp_path):
    db = tmp_path / "incident.duckdb"
    r = run("ingest", SAMPLES, "--db", db, "--service", "crasher", "--version", "v1.5.0")
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    first = out.splitlines()[0]
    assert " 0 partial, 0 failed, " in first and "skipped" in first
    r = run("panics", "--db", db, "--format", "json")
    rows = json.loads(r.stdout)
    by_message = {row["message"]: row for row in rows}
    idx = by_message["runtime error: index out of range [N] with length N"]
    assert idx["top_function"] == "main.lookup" and idx["count"] >= 2 and idx["versions"] == ["v1.5.0"]
    table = run("panics", "--db", db, columns=400).stdout.decode()
    assert "main.lookup" in table
    again = run("ingest", SAMPLES, "--db", db)
    assert again.returncode == 0 and "already ingested" in again.stdout.decode()
    assert " 0 ok," in again.stdout.decode()


def test_problems_exit_1_and_are_listed(tmp_path):
    bad = tmp_path / "cut.log"
    text = PANIC.read_text().splitlines()
    bad.write_text("\n".join(text[:6]) + "\n")  # ends after a frame line, before its file line
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02" * 100)
    r = run("ingest", bad, junk, PANIC, "--db", tmp_path / "i.duckdb")
    out = r.stdout.decode()
    assert r.returncode == 1  # a file failed
    assert "1 ok, 1 partial, 1 failed" in out
    assert f"partial: {bad}: 1 problem; first: line 6: input ended after frame" in out
    assert f"failed: {junk}: binary content" in out
    # partial alone is read, with its problems listed: exit 0, unless --strict
    r = run("ingest", bad, "--db", tmp_path / "p.duckdb")
    assert r.returncode == 0 and b"partial: " in r.stdout
    assert run("ingest", bad, "--db", tmp_path / "s.duckdb", "--strict").returncode == 1


def test_a_missing_path_is_a_usage_error_and_makes_no_database(tmp_path):
    r = run("ingest", tmp_path / "nope.txt", "--db", tmp_path / "i.duckdb")
    assert r.returncode == 2 and b"no such file or directory" in r.stderr
    assert not (tmp_path / "i.duckdb").exists()


def test_a_locked_database_says_who_holds_it(tmp_path):
    import forensics as fx

    holder = fx.open(tmp_path / "i.duckdb")
    try:
        r = run("panic-signatures", "--db", tmp_path / "i.duckdb")
    finally:
        holder.close()
    err = r.stderr.decode()
    assert r.returncode == 1 and "is open in another process (PID" in err and "read_only=True" in err
    assert "Traceback" not in err


def test_ingest_exits_3_when_the_database_cannot_be_written(tmp_path):
    import forensics as fx

    holder = fx.open(tmp_path / "i.duckdb")
    try:
        locked = run("ingest", PANIC, "--db", tmp_path / "i.duckdb")
    finally:
        holder.close()
    assert locked.returncode == 3 and b"is open in another process" in locked.stderr
    notdb = tmp_path / "notes.duckdb"
    notdb.write_bytes(PANIC.read_bytes())  # not a database at all
    bad = run("ingest", PANIC, "--db", notdb)
    assert bad.returncode == 3 and b"Traceback" not in bad.stderr


def test_force_reads_again_and_replaces(tmp_path):
    db = tmp_path / "i.duckdb"
    assert run("ingest", PANIC, "--db", db).returncode == 0
    assert b"1 already ingested" in run("ingest", PANIC, "--db", db).stdout
    forced = run("ingest", PANIC, "--db", db, "--force")
    assert forced.returncode == 0 and b"1 ok" in forced.stdout
    count = run("sql", "SELECT count(*) AS n FROM sources", "--db", db, "--format", "csv")
    assert count.stdout.decode().split() == ["n", "1"]


def test_sql_reads_the_database_and_no_other_file(tmp_path):
    db = tmp_path / "i.duckdb"
    assert run("ingest", PANIC, "--db", db).returncode == 0
    for query in (f"SELECT * FROM read_text('{PANIC}')", f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
                  f"ATTACH '{tmp_path / 'other.duckdb'}' AS other"):
        r = run("sql", query, "--db", db)
        assert r.returncode == 1 and b"disabled" in r.stderr, query
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_stdin_and_sql(tmp_path):
    db = tmp_path / "i.duckdb"
    r = run("ingest", "-", "--db", db, stdin=PANIC.read_bytes())
    assert r.returncode == 0
    r = run("sql", "SELECT path, status FROM sources", "--db", db, "--format", "csv")
    assert r.stdout.decode().splitlines() == ["path,status", "-,ok"]
    bad = run("sql", "SELECT nope FROM sources", "--db", db)
    assert bad.returncode == 1 and b"nope" in bad.stderr


def test_terminal_output_escapes_untrusted_text(tmp_path):
    evil = tmp_path / "evil.log"
    evil.write_bytes(b"panic: \x1b[2J\x1b]0;owned\x07 [red]boom[/red]\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1\n")
    db = tmp_path / "i.duckdb"
    assert run("ingest", evil, "--db", db).returncode == 0
    out = run("panics", "--db", db, "-n", "5", columns=400).stdout
    assert b"\x1b" not in out and b"\x07" not in out
    assert b"\\x1b[" in out and b"[red]boom[/red]" in out


def test_ingesting_the_directory_that_holds_the_database(tmp_path):
    (tmp_path / "crash.log").write_bytes(PANIC.read_bytes())
    db = tmp_path / "incident.duckdb"
    assert run("ingest", tmp_path, "--db", db).returncode == 0
    r = run("ingest", tmp_path, "--db", db)
    assert r.returncode == 0
    assert f"held nothing to read, e.g. {db}: the incident database itself" in r.stdout.decode()


def test_top_diff_and_leaks(tmp_path):
    db = tmp_path / "incident.duckdb"
    for version in ("go1.19.8", "go1.27.3"):
        r = run("ingest", SAMPLES / version / "profiles", SAMPLES / version / "leak", "--db", db,
                "--service", "profiler", "--version", version)
        assert r.returncode == 0, r.stdout + r.stderr
    r = run("top", "--db", db, "--kind", "heap", "--version", "go1.27.3", "--source", "go1.27.3/profiles/heap.pb.gz",
            "-t", "alloc_space", "-n", "5")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert out.startswith("Type: alloc_space\nShowing nodes accounting for ")
    assert len([line for line in out.splitlines() if line.endswith(("%", ")")) or "  " in line]) >= 5
    r = run("diff", "--db", db, "--kind", "contention", "--version", "go1.27.3", "--base-version", "go1.19.8",
            "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and {"function", "flat", "cum", "flat_pct"} <= set(rows[0])
    merged = tmp_path / "merged.pb.gz"
    r = run("top", "--db", db, "--kind", "cpu", "-o", merged)
    assert r.returncode == 0 and b"wrote" in r.stderr, r.stderr
    r = run("ingest", merged, "--db", tmp_path / "again.duckdb")  # the export reads back as a profile
    assert r.returncode == 0 and b"1 ok" in r.stdout, r.stdout
    assert run("diff", "--db", db, "--kind", "cpu").returncode == 2  # no base
    assert run("top", "--db", db, "--kind", "nonesuch").returncode == 1
    r = run("leaks", "--db", db, "--format", "json")
    assert r.returncode == 0, r.stderr
    leaks = json.loads(r.stdout)
    assert {(x["by"], x["site"]) for x in leaks} == {("blocking", "main.watch"), ("creation", "main.handle"),
                                                     ("creation", "main.watch")}
    # Text snapshots carry no time: mtime orders them (checkout order in a fresh clone), so only the peak is sure.
    assert all(x["service"] == "profiler" and x["peak"] == 240 for x in leaks)


def test_latency(tmp_path):
    db = tmp_path / "incident.duckdb"
    assert run("ingest", SAMPLES / "spans", "--db", db).returncode == 0
    r = run("latency", "--db", db, "--every", "all", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {(x["service"], x["name"]): x for x in json.loads(r.stdout)}
    assert rows[("inventory", "Reserve")]["requests"] == 40 and rows[("checkout", "GET /cart")]["requests"] == 46
    assert {"p50_ms", "p90_ms", "p99_ms", "error_rate"} <= set(rows[("inventory", "Reserve")])
    table = run("latency", "--db", db, "--slowest", "2", columns=400).stdout.decode()
    assert "GET /cart" in table and "trace_id" in table
    assert run("latency", "--db", db, "--every", "sometimes").returncode == 2
    slowest = json.loads(run("sql", "--db", db, "--format", "json",
                             "SELECT trace_id FROM spans ORDER BY duration_ns DESC LIMIT 1").stdout)
    tree = run("trace", slowest[0]["trace_id"], "--db", db, "--format", "json")
    assert tree.returncode == 0, tree.stderr
    spans = json.loads(tree.stdout)
    assert spans[0]["depth"] == 0 and spans[0]["parent_span_id"] is None and len(spans) >= 2
    assert run("trace", "0" * 32, "--db", db).returncode == 1


@pytest.mark.parametrize("args, option", [
    (["latency", "--q", "99"], "--q"),
    (["latency", "--q", "nan"], "--q"),
    (["latency", "--q", "1e400"], "--q"),
    (["ingest", PANIC, "--max-source-size", "lots"], "--max-source-size"),
    (["correlate", "--alpha", "2"], "--alpha"),
    (["timeline", "--since", "yesterday"], "--since"),
    (["report", "-o", "/nonexistent/dir/r.html"], "--output"),
    (["stacks", "--format", "html", "-o", "/nonexistent/s.html"], "--output"),
])
def test_a_bad_option_value_is_a_usage_error_naming_it(tmp_path, args, option):
    db = tmp_path / "i.duckdb"
    assert run("ingest", PANIC, "--db", db).returncode == 0
    r = run(*args, "--db", db)
    err = r.stderr.decode()
    assert r.returncode == 2 and option in err and "Traceback" not in err


def test_tables_fit_100_columns_when_piped(tmp_path):
    db = tmp_path / "i.duckdb"
    assert run("ingest", SAMPLES / "go1.27.3" / "default", "--db", db).returncode == 0
    for command in (["panic-signatures"], ["timeline"], ["releases"], ["correlate"], ["goroutine-growth", "--all"]):
        out = run(*command, "--db", db).stdout.decode()
        assert max(map(len, out.splitlines()), default=0) <= 100, command
    times = run("timeline", "--db", db, "--format", "csv").stdout.decode().splitlines()[1]
    assert times.split(",")[0].endswith("Z")


def test_a_report_of_an_empty_database_is_an_error(tmp_path):
    import forensics as fx

    fx.open(tmp_path / "empty.duckdb").close()
    r = run("report", "--db", tmp_path / "empty.duckdb", "-o", tmp_path / "r.html")
    assert r.returncode == 1 and b"holds no evidence yet" in r.stderr and not (tmp_path / "r.html").exists()
