#!/usr/bin/env python3
"""Benchmark: how `forensics ingest` scales, per family, at 1x, 4x and 16x the input.

For each family an input at three sizes, each made by the real generator the
family's own benchmark uses (imported from it, cached in benchmarks/data/):

* goroutine dumps: sample_logs/crasher ``bigdump`` (bench_goroutine_dump.make_dump),
  25,000 / 100,000 / 400,000 goroutines (about 9.5 / 38 / 152 MB);
* pprof profiles: sample_logs/profiler ``-big N`` (bench_profile.make_profile),
  40,000 / 160,000 / 640,000 distinct stacks (MB/s of the uncompressed
  profile.proto, about 1.4 / 5.8 / 23 MB);
* logs: sample_logs/service framed as CRI log lines (bench_logs.cri_log): the
  first 16 / 64 / 256 MB (whole lines) of one such log (its last runs crash, so
  the 16x input ends in crash dumps);
* traces: OTLP JSON lines from opentelemetry-sdk's file exporter
  (bench_traces.otlp_lines), 62,500 / 250,000 / 1,000,000 spans (about 21 / 86 /
  343 MB).

Each input is ingested into a new database by a fresh ``forensics ingest``
process (wall time, MB/s, peak RSS). Printed per family, then as a Markdown
table for the README (family | 1x | 4x | 16x, with time and RSS, and the 16x/1x
ratios: linear time shows as about 16x less the fixed start-up cost, flat memory
as about 1x; and the MB/s of the MB added from 4x to 16x, the rate without the
fixed cost).

    python benchmarks/bench_scaling.py                       # all four families
    python benchmarks/bench_scaling.py --only dumps logs      # some of them
    python benchmarks/bench_scaling.py --scale 0.1            # a quick check at a tenth of the sizes

Not a test: timings vary with the machine and its load. Needs Go and the
`samples` extra (for the OTLP spans), like the benchmarks it borrows from.
"""
from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH_DATA, FORENSICS, measure, newest_go, print_table, status_note

FACTORS = (1, 4, 16)
# family: (base size at 1x, its unit)
BASES = {"dumps": (25_000, "goroutines"), "profiles": (40_000, "stacks"), "logs": (16, "MB of CRI log"),
         "traces": (62_500, "OTLP spans")}


def log_head(mb: int, top: int) -> Path:
    """The first `mb` MB (whole lines) of the `top` MB CRI log: cri_log's files overshoot their size by the
    crashing runs at their end (about 20 MB), so the sizes are cut from one log to stay in proportion."""
    from bench_logs import cri_log

    dest = BENCH_DATA / f"cri-{top}-head-{mb}.log"
    if not dest.exists():
        with open(cri_log(top), "rb") as src:
            head = src.read(mb * 1_000_000)
        dest.write_bytes(head[:head.rfind(b"\n") + 1])
    return dest


def make_input(family: str, size: int, top: int) -> tuple[Path, float]:
    """The input of `family` at `size` (made once, then cached) and its MB (profiles: uncompressed);
    `top` is the largest size of the run."""
    if family == "dumps":
        from bench_goroutine_dump import make_dump
        path = make_dump(size)
    elif family == "profiles":
        from bench_profile import make_profile
        path = make_profile(newest_go(), size)
        return path, len(gzip.decompress(path.read_bytes())) / 1e6
    elif family == "logs":
        path = log_head(size, top)
    else:
        from bench_traces import otlp_lines
        path = otlp_lines(size)
    return path, path.stat().st_size / 1e6


def ratios(runs: list[tuple[int, float, tuple[float, float, int]]]) -> str:
    """16x/1x time and peak RSS, and the rate of the MB from 4x to 16x (the fixed cost taken out)."""
    (_, mb1, (t1, r1, _)), (_, mb4, (t4, _, _)), (_, mb16, (t16, r16, _)) = runs
    marginal = f"{(mb16 - mb4) / (t16 - t4):.1f} MB/s" if t16 > t4 else "n/a"
    return f"time {t16 / t1:.1f}x, RSS {r16 / r1:.2f}x; 4x to 16x: {marginal}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(BASES), help="families to run (default: all)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every base size (e.g. 0.1 for a quick check)")
    ap.add_argument("--timeout", type=float, default=600, help="stop one ingest after this many seconds")
    opts = ap.parse_args()
    started = time.time()
    results: dict[str, list[tuple[int, float, tuple[float, float, int]]]] = {}
    for family in opts.only or list(BASES):
        base, unit = BASES[family]
        base = max(1, round(base * opts.scale))
        rows = []
        for factor in FACTORS:
            path, size_mb = make_input(family, base * factor, base * FACTORS[-1])
            with tempfile.TemporaryDirectory(prefix="fx-bench-db-") as tmp:
                ours = measure(FORENSICS + ["ingest", str(path), "--db", str(Path(tmp) / "s.duckdb"), "-q"],
                               opts.timeout)
            results.setdefault(family, []).append((base * factor, size_mb, ours))
            dt, rss, rc = ours
            rows.append((f"{factor}x: {path.name}", f"{base * factor:,}", f"{size_mb:.1f}", f"{dt:.2f}",
                         f"{size_mb / dt:.1f}", f"{rss:.0f}{status_note(rc)}"))
        print(f"\n{family} (forensics ingest into a new database, a fresh process each)")
        print_table(("input", unit, "MB", "seconds", "MB/s", "peak RSS MiB"), rows)
        print(f"16x / 1x: {ratios(results[family])} (time linear: 16x once the fixed cost is small; memory flat: 1x)")

    print("\nMarkdown, for the README:\n")
    print("| family | " + " | ".join(f"{f}x" for f in FACTORS) + " | 16x / 1x |")
    print("| --- |" + " --- |" * (len(FACTORS) + 1))
    for family, runs in results.items():
        unit = BASES[family][1]
        cells = [("" if family == "logs" else f"{n:,} {unit}, ") + f"{mb:.1f} MB: {dt:.2f} s, {mb / dt:.1f} MB/s, {rss:.0f} MiB{status_note(rc)}"
                 for n, mb, (dt, rss, rc) in runs]
        print(f"| {family} | " + " | ".join(cells) + f" | {ratios(runs)} |")
    print(f"\n({time.time() - started:.0f} s in all, inputs included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
