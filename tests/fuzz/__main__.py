"""By hand: many seeded cases, then a table per category (tried, survived, first failures).

    cd tests && ../.venv/bin/python -m fuzz --cases 1000 --seed 1 --workers 2
    ../.venv/bin/python -m fuzz --case truncate:log-cri-crash:7@tgz --keep   # one case, files kept
    ../.venv/bin/python -m fuzz --ci                                         # the CI list

(``benchmarks/fuzz_long.py`` is the same from the repository root.) ``FORENSICS_FUZZ_CASES`` is
the default of ``--cases``. Failures are written in full to ``--out`` (JSON lines).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .cases import ci_cases, from_id, long_cases, table
from .pool import Pool


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=int(os.environ.get("FORENSICS_FUZZ_CASES", 500)))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a case may take")
    p.add_argument("--rss-mb", type=float, default=1024.0)
    p.add_argument("--case", action="append", help="run this case id (repeatable)")
    p.add_argument("--ci", action="store_true", help="run the CI list")
    p.add_argument("--keep", action="store_true", help="keep each case's files (with --case)")
    p.add_argument("--out", type=Path, help="failures as JSON lines (default: a file in the work dir)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--slowest", type=int, default=0, help="list the N slowest cases")
    args = p.parse_args(argv)
    if args.case:
        cases = [dict(from_id(c), keep=args.keep) for c in args.case]
    elif args.ci:
        cases = ci_cases()
    else:
        cases = long_cases(args.cases, args.seed)
    work = Path(tempfile.mkdtemp(prefix="forensics-fuzz-"))
    out = args.out or work / "failures.jsonl"
    t0 = time.monotonic()
    done = []

    def progress(r: dict) -> None:
        done.append(r)
        if r["violations"] and not args.quiet:
            print(f"FAIL {r['id']}: {r['violations'][0][:300]}", file=sys.stderr)
        elif not args.quiet and len(done) % 50 == 0:
            print(f"... {len(done)}/{len(cases)} in {time.monotonic() - t0:.0f} s", file=sys.stderr)

    with Pool(work / "workers", args.workers, args.timeout, args.rss_mb) as pool:
        results = pool.run_all(cases, progress)
    elapsed = time.monotonic() - t0
    with open(out, "w") as f:
        for r in results:
            if r["violations"] or args.case:
                f.write(json.dumps(r) + "\n")
    print(table(results))
    print()
    print(table(results, "format"))
    slow = max(results, key=lambda r: r["seconds"] or 0)
    rss = max((r["maxrss_mb"] or 0) for r in results)
    print(f"\n{len(results)} cases in {elapsed:.0f} s with {args.workers} workers; slowest {slow['id']} "
          f"{slow['seconds']:.1f} s; peak worker RSS {rss:.0f} MB; {sum(r.get('checked', 0) for r in results)} "
          f"records outside the mutated lines checked present; details: {out}")
    if args.slowest:
        print("\nslowest:", ", ".join(f"{r['id']} {r['seconds']:.1f}s" for r in
                                     sorted(results, key=lambda r: -(r["seconds"] or 0))[:args.slowest]))
    if args.case:
        for r in results:
            print(json.dumps(r, indent=1))
    return 1 if any(r["violations"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
