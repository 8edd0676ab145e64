#!/usr/bin/env python3
"""Benchmark: `forensics spark-ingest` on local[1] and local[2] against
single-process `forensics ingest` (issue 18 item 5).

The input is bench_many_files.py's --mixed set: a few thousand artefacts of
the sample incident's kinds (crash and goroutine dumps, pprof profiles, CRI
pod logs, OTLP spans), each copy a distinct pod and time. In one run, each a
fresh child process (wall time, peak RSS of its largest process: for Spark,
the JVM or a Python worker):

* ``forensics ingest DIR --db new.duckdb -q -j 1`` (one process) and ``-j 2``;
* ``forensics spark-ingest DIR --out new-dataset --master local[1]`` and
  ``local[2]`` (a JVM starting, the job, its Python workers).

It prints seconds, files/s, MB/s, peak RSS and the speed-up of each against
single-process ingest and of local[2] against local[1], then the rows each
run stored (the datasets must hold what the database holds).

    python benchmarks/bench_spark.py                 # 3,000 files
    python benchmarks/bench_spark.py --files 6000

Needs the spark extra and Java 17. Not a test: timings vary with the machine.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench_many_files import build
from common import FORENSICS, MAIN_TABLES, measure, print_table, status_note


def dataset_counts(out: Path) -> dict[str, int]:
    """Rows of the main tables of a dataset (as fx.open reads it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import forensics as fx

    if not out.exists():
        return {}
    with fx.open(out) as db:
        return {t: db.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in MAIN_TABLES}


def db_counts(db: Path) -> dict[str, int]:
    from common import row_counts

    return row_counts(db) if db.exists() else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=3000, help="artefacts to build (default 3,000)")
    ap.add_argument("--timeout", type=float, default=3600, help="stop a measured command after this many seconds")
    opts = ap.parse_args()
    root = build(opts.files, True, 2048)
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"input: {root.name}: {len(paths)} files, {size_mb:.1f} MB (distinct copies of the sample incident's "
          f"kinds)")
    results, counts = {}, {}
    with tempfile.TemporaryDirectory(prefix="fx-bench-spark-") as tmp:
        for jobs in ("1", "2"):
            db = Path(tmp) / f"j{jobs}.duckdb"
            name = f"forensics ingest -j {jobs}"
            results[name] = measure(FORENSICS + ["ingest", str(root), "--db", str(db), "-q", "-j", jobs],
                                    opts.timeout)
            counts[name] = db_counts(db)
        for cores in ("1", "2"):
            out = Path(tmp) / f"local{cores}"
            name = f"forensics spark-ingest local[{cores}]"
            results[name] = measure(FORENSICS + ["spark-ingest", str(root), "--out", str(out), "-q",
                                                 "--master", f"local[{cores}]"], opts.timeout)
            counts[name] = dataset_counts(out)
    base = results["forensics ingest -j 1"][0]
    rows = [(name, f"{dt:.1f}", f"{len(paths) / dt:.0f}", f"{size_mb / dt:.2f}", f"{rss:.0f}",
             f"{base / dt:.2f}x{status_note(rc)}") for name, (dt, rss, rc) in results.items()]
    print_table(("command", "seconds", "files/s", "MB/s", "peak RSS MiB", "vs ingest -j 1"), rows, first=36)
    one, two = results["forensics spark-ingest local[1]"][0], results["forensics spark-ingest local[2]"][0]
    print(f"speed-up of local[2] over local[1]: {one / two:.2f}x; "
          f"of ingest -j 2 over -j 1: {base / results['forensics ingest -j 2'][0]:.2f}x")
    print("\nrows stored (each run a new database or dataset):")
    print_table(("run", *MAIN_TABLES), [(name, *(f"{c.get(t, '-')}" for t in MAIN_TABLES))
                                        for name, c in counts.items()], first=36)
    same = len({tuple(sorted(c.items())) for c in counts.values() if c}) == 1
    print("every run stored the same rows" if same else "RUNS DIFFER in rows stored")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
