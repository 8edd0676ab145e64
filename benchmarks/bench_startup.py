#!/usr/bin/env python3
"""Benchmark: start-up time of the command line, next to `import duckdb`.

A command that answers a question from a database should cost little more
than starting Python and DuckDB. In one run, each the best of 5 fresh child
processes (wall time and that run's peak RSS):

* ``python -c "import duckdb"``: the reference, the least any command costs;
* ``python -m forensics.cli --help`` and the installed console script
  ``forensics --help`` (.venv/bin/forensics, when present);
* ``forensics panic-signatures --db small.duckdb``, a database made by
  ingesting one real crash (sample_logs/go1.27.3/default/nil-deref.txt);
* ``python -c "import forensics, sys; assert 'pandas' not in sys.modules
  and 'scipy' not in sys.modules"`` (exit 1 when the assert fails).

Each is printed with its ratio to ``import duckdb`` and the targets of issue
17 (--help at most 1.5x, panic-signatures at most 3x); then which heavy
modules ``import forensics`` and the CLI's start-up load.

    python benchmarks/bench_startup.py [--runs 5]

Not a test: timings vary with the machine and its load.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from common import FORENSICS, best_of, print_table, status_note

ROOT = Path(__file__).resolve().parent.parent
CRASH = ROOT / "sample_logs" / "go1.27.3" / "default" / "nil-deref.txt"
HEAVY = ("pandas", "scipy", "matplotlib", "pyarrow.pandas_compat", "IPython", "ipywidgets", "pyarrow", "numpy")
IMPORT_CHECK = "import forensics, sys; assert 'pandas' not in sys.modules and 'scipy' not in sys.modules"
RUN_CLI = ("import sys\nfrom forensics.cli import main\nsys.argv = ['forensics', 'panic-signatures', '--db', {!r}]\n"
           "try:\n    main()\nexcept SystemExit:\n    pass\n")
LOADED = "import sys\n{}\nprint('\\nloaded:', ' '.join(m for m in sys.argv[1:] if m in sys.modules))\n"


def loaded_modules(statement: str) -> str:
    """Which of HEAVY are in sys.modules after `statement`, in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", LOADED.format(statement), *HEAVY], capture_output=True, text=True,
                         cwd=ROOT)
    last = out.stdout.rsplit("\nloaded:", 1)[-1]  # a command's own output comes first
    return (last.strip() or "none") if out.returncode == 0 else f"(failed: {out.stderr.strip()[-200:]})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each command; the best is kept")
    opts = ap.parse_args()
    script = Path(sys.executable).with_name("forensics")
    with tempfile.TemporaryDirectory(prefix="fx-bench-startup-") as tmp:
        db = Path(tmp) / "small.duckdb"
        made = subprocess.run(FORENSICS + ["ingest", str(CRASH), "--db", str(db), "-q"], capture_output=True, text=True)
        if made.returncode != 0:
            sys.exit(f"ingesting {CRASH.name} failed (exit {made.returncode}): {made.stderr.strip()[-500:]}")
        commands = {
            "python -c 'import duckdb' (reference)": [sys.executable, "-c", "import duckdb"],
            "python -m forensics.cli --help": FORENSICS + ["--help"],
        }
        if script.exists():
            commands["forensics --help (console script)"] = [str(script), "--help"]
        commands["forensics panic-signatures --db small.duckdb"] = FORENSICS + ["panic-signatures", "--db", str(db)]
        commands["import forensics (no pandas, no scipy)"] = [sys.executable, "-c", IMPORT_CHECK]
        results = {name: best_of(argv, opts.runs) for name, argv in commands.items()}
        statements = (("import duckdb", "import duckdb"), ("import forensics", "import forensics"),
                      ("import forensics.cli", "import forensics.cli"),
                      ("forensics panic-signatures", RUN_CLI.format(str(db))))
        heavy = [(label, loaded_modules(statement)) for label, statement in statements]

    ref = results["python -c 'import duckdb' (reference)"][0]
    targets = {"--help": 1.5, "panic-signatures": 3.0}
    rows = []
    for name, (dt, rss, rc) in results.items():
        target = next((t for key, t in targets.items() if key in name), None)
        verdict = "" if target is None else f"<= {target}x: {'met' if dt / ref <= target else 'NOT met'}"
        note = status_note(rc) + ("  (the assert failed: pandas or scipy loaded)" if "import forensics" in name
                                  and rc == 1 else "")
        rows.append((name, f"{dt:.3f}", f"{dt / ref:.2f}x", f"{rss:.0f}", verdict + note))
    print(f"best of {opts.runs} fresh processes each ({sys.executable})")
    print_table(("command", "seconds", "ratio", "peak RSS MiB", "target"), rows)

    print("\nheavy modules loaded (of " + ", ".join(HEAVY) + "):")
    for label, modules in heavy:
        print(f"  {label:28} {modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
