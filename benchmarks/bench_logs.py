#!/usr/bin/env python3
"""Benchmark: 1 GB of CRI-framed JSON logs, next to the floor of reading them in Python.

The input is real: sample_logs/service (the orders service, JSON logs like
zap's) serves requests flat out; its stdout and stderr are framed as the
kubelet's CRI log files are (``<RFC 3339 nano> <stream> F <line>``, lines over
16 KiB cut into P records), as sample_logs/generate_logs.py does, streamed to
benchmarks/data/cri-<MB>.log until the size is reached; the last run panics,
so the file ends with crash dumps (as a container restarted after crashes would
hold, were its files concatenated). Then it measures, each in a fresh process
(wall time, MB/s, peak RSS):

- ``forensics ingest`` into a new DuckDB file (parse, load, checkpoint);
- the floor for reading such a file in Python: each line split into its four
  CRI fields and its JSON payload parsed with ``orjson.loads``, nothing kept.

Target (issue 5): at least 50 MB/s, peak RSS under 1 GB whatever the size.

    python benchmarks/bench_logs.py [--mb 1024]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import ingest_beside_floor, newest_go

import generate  # noqa: E402  (sample_logs, on the path through common)
import generate_logs  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
FLOOR = (
    "import orjson, sys\n"
    "for line in open(sys.argv[1], 'rb'):\n"
    "    parts = line.split(b' ', 3)\n"
    "    if len(parts) == 4 and parts[2] == b'F' and parts[3][:1] == b'{':\n"
    "        try:\n"
    "            orjson.loads(parts[3])\n"
    "        except orjson.JSONDecodeError:\n"
    "            pass  # the tail of a record the runtime split\n"
)


def cri_log(mb: int) -> Path:
    dest = DATA / f"cri-{mb}.log"
    if dest.exists():
        return dest
    DATA.mkdir(exist_ok=True)
    target = mb * 1_000_000
    with tempfile.TemporaryDirectory(prefix="fx-bench-logs-") as tmp:
        work = Path(tmp)
        generate.write_proxy(work / "proxy")
        exe = generate_logs.build_release(newest_go(), work, "v1.9.0", "v1.6.0", keep=False)
        part = dest.with_suffix(".part")
        with open(part, "wb") as out:
            seed = 0
            while out.tell() < target:
                seed += 1
                # Runs flat out to 95% of the size, then runs that crash near their end.
                last = out.tell() > target * 0.95
                argv = [str(exe), "-requests", "100000" if last else "2000000", "-pause", "0s",
                        "-seed", str(seed)] + (["-panic-at", "99990"] if last else [])
                frame(argv, out, None if last else int(target * 0.95))
        part.rename(dest)
    return dest


def frame(argv: list[str], out, stop_at: int | None) -> None:
    """Run the service and write its lines as CRI records as they arrive (until `stop_at` bytes)."""
    def write(now, stream: str, line: bytes) -> bool:
        out.writelines(generate_logs.cri_lines([(now, stream, line)]))
        return stop_at is None or out.tell() < stop_at

    generate_logs.stream_lines(argv, write)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1024, help="size of the CRI log in MB")
    opts = ap.parse_args()
    started = time.time()
    size_mb, ours, floor = ingest_beside_floor("CRI-framed JSON logs (sample_logs/service)", cri_log(opts.mb), FLOOR,
                                               "split + orjson.loads floor", ok=(0, 3))
    print(f"ratio forensics / floor: {ours[0] / floor[0]:.2f}x time; target 50 MB/s: "
          f"{'met' if size_mb / ours[0] >= 50 else 'NOT met'}; peak RSS under 1 GiB: "
          f"{'yes' if ours[1] < 1024 else 'NO'}")
    print(f"\n({time.time() - started:.0f} s in all, inputs included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
