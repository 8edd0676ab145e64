"""Third-party fixtures (../shared/conformance: pprof profiles and trace JSON
from google/pprof, jaeger, zipkin, perfetto, catapult, speedscope). None is a
Go crash dump: ingesting them all must record every file, invent no dump and
raise nothing. profile.proto files and the Go and C++ legacy profiles are
read (tests/test_pprof.py and test_pprof_top.py check them against
go tool pprof), Java's are refused by name, traces wait for their parser."""
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
    # No dump invented; the only errors are the refused (Java) profiles, one each.
    assert summary.rows("dumps") == 0 and summary.rows("ingest_errors") <= summary.count("failed")
    assert summary.count("ok") >= 5  # the profile.proto files
    statuses = {r.status for r in summary.results}
    assert statuses <= {"ok", "skipped", "failed", "duplicate"}
    for r in summary.results:
        if r.status == "ok":
            assert r.kind in ("pprof", "pprof_text", "pprof_legacy"), r
        if r.status == "failed":
            assert r.error.startswith("binary content") or "Java" in r.error, r
        if r.status == "skipped":
            assert r.kind in (None, "empty"), r
