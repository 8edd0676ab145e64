"""The fuzz suite's long budget, by hand: many seeded cases, then a table per category and format.

    .venv/bin/python benchmarks/fuzz_long.py --cases 1500 --seed 1 --workers 3
    .venv/bin/python benchmarks/fuzz_long.py --case 'truncate:log-cri-crash:7@tgz' --keep

The same as ``cd tests && python -m fuzz ...`` (tests/fuzz/__main__.py; ``--help`` for every
option); ``FORENSICS_FUZZ_CASES`` sets the default of ``--cases``. Each row of the table is a
category: cases tried, survived (passed every check of tests/test_fuzz.py) and the first failing
case ids, each of which reruns alone with ``--case ID --keep``. Exits 1 when a case failed.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.dont_write_bytecode = True  # nothing may appear beside the samples or the suite
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
