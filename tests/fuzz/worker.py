"""The worker process: reads cases (JSON lines) on stdin, runs each (:mod:`.runner`), writes
each result as one JSON line on its stdout; anything else printed goes to stderr.

Started by :mod:`.pool` as ``python -m fuzz.worker ROOT`` with TMPDIR, HOME and the working
directory private to it under ROOT. Once warm (forensics imported, one sample read), it caps its
address space at what it then maps plus :data:`HEADROOM`, so a case that tries to allocate a
gigabyte more fails with MemoryError instead of taking the machine; the parent checks peak RSS.
"""
from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

HEADROOM = 1 << 30


def vm_peak() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmPeak:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str]) -> int:
    root = Path(argv[0])
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # prints from the code under test go to the log, not into the results
    from .runner import Runner
    from . import samples

    runner = Runner(root)
    runner.ref(samples.CRASH)  # warm: every module imported, DuckDB started
    limit = vm_peak() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    out.write(json.dumps({"ready": os.getpid(), "vm_limit_mb": limit >> 20}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        try:
            result = runner.run_case(case)
        except MemoryError:
            result = {"id": case["id"], "category": case["category"], "format": case.get("format", ""),
                      "recipe": "", "statuses": [],
                      "violations": ["MemoryError outside the ingest (building or checking the case)"],
                      "seconds": 0.0, "maxrss_mb": 0.0}
        out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
