"""Third-party fixtures (../shared/conformance: pprof profiles and trace JSON
from google/pprof, jaeger, zipkin, perfetto, catapult, speedscope). None is a
Go crash dump: ingesting them all must record every file, invent no dump and
raise nothing. profile.proto files and Go's text profiles are read
(tests/test_pprof.py checks their totals); legacy C++/Java profiles and
traces wait for their own parsers."""
from __future__ import annotations

import pytest

import forensics as fx

from conftest import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/conformance not present")


def test_foreign_formats_are_recorded_not_mistaken(tmp_path):
    files = [p for p in SHARED.rglob("*") if p.is_file() and p.name not in ("README.md", "SHA256SUMS")]
    db = fx.open(tmp_path / "c.duckdb")
    summary = db.ingest([str(p) for p in files])
    assert len(summary.results) == len(files)
    assert summary.rows("dumps") == 0 and summary.rows("ingest_errors") == 0
    assert summary.count("ok") >= 5  # the profile.proto files
    statuses = {r.status for r in summary.results}
    assert statuses <= {"ok", "skipped", "failed", "duplicate"}
    for r in summary.results:
        if r.status == "ok":
            assert r.kind in ("pprof", "pprof_text"), r
        if r.status == "failed":
            assert r.error.startswith("binary content"), r
        if r.status == "skipped":
            assert r.kind in (None, "empty"), r
