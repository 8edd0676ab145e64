"""Third-party fixtures (../shared/conformance: pprof profiles and trace JSON
from google/pprof, jaeger, zipkin, perfetto, catapult, speedscope). None is a
Go crash dump: ingesting them all must record every file, invent no dump and
raise nothing. Profiles are checked against go tool pprof in test_pprof*.py
(Java's are refused by name), traces in test_traces.py."""
from __future__ import annotations

import pytest

import forensics as fx

from conftest import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/conformance not present")


def test_every_corpus_file_is_recorded_and_none_mistaken(tmp_path):
    files = [p for p in SHARED.rglob("*") if p.is_file() and p.name not in ("README.md", "SHA256SUMS")]
    db = fx.open(tmp_path / "c.duckdb")
    summary = db.ingest([str(p) for p in files])
    assert len(summary.results) == len(files)
    assert summary.rows("dumps") == 0  # no Go crash invented out of JSON or profiles
    assert summary.count("ok") >= 80
    by_status: dict[str, list] = {}
    for r in summary.results:
        by_status.setdefault(r.status, []).append(r)
    assert set(by_status) <= {"ok", "partial", "skipped", "failed", "duplicate"}
    for r in by_status.get("ok", []):
        assert r.kind in ("pprof", "pprof_text", "pprof_legacy", "chrome_trace", "otlp", "jaeger", "zipkin"), r
    # Only the traces the corpus cut short on purpose are partial.
    assert sorted(r.path.rsplit("/", 1)[-1] for r in by_status.get("partial", [])) == [
        "simple-partial-trailing-comma.json", "simple-partial-whitespace.json", "simple-partial.json"]
    # The corpus's invalid-on-purpose traces (its README lists them) fail with a precise error.
    failed = {r.path.rsplit("/", 1)[-1]: r.error for r in by_status.get("failed", [])}
    for name, error in failed.items():
        assert name.startswith(("java.", "trace_")) or error.startswith("binary content"), (name, error)
    assert {"trace_invalid_json.json", "trace_scan_error.json"} <= set(failed)
    assert "trailing comma" in failed["trace_scan_error.json"]
    for r in by_status.get("skipped", []):
        assert r.kind in (None, "empty"), r
