"""Golden tests: input files + SQL -> expected rows (tests/golden/NAME.sql, NAME.csv).

Each .sql file names its inputs (paths under sample_logs/) on an
``-- inputs:`` line; they are ingested in that order into a new database,
the query runs, and its rows must equal NAME.csv. ``FX_UPDATE_GOLDENS=1``
rewrites the CSVs (review the diff before committing).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import forensics as fx

from conftest import SAMPLES

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.sql"))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden(case, tmp_path):
    sql = case.read_text()
    inputs = re.search(r"^-- inputs: (.+)$", sql, re.M).group(1).split()
    db = fx.open(tmp_path / "golden.duckdb")
    for rel in inputs:
        assert db.ingest(SAMPLES / rel, service="crasher").count("ok") == 1, rel
    got = db.sql(sql).df().to_csv(index=False, lineterminator="\n")
    expected = case.with_suffix(".csv")
    if os.environ.get("FX_UPDATE_GOLDENS"):
        expected.write_text(got)
    assert got == expected.read_text()
