from __future__ import annotations

import io
import json
import shutil
import sys

# Tests import sample_logs/generate.py; no __pycache__ may appear among the
# samples (ingesting sample_logs/ would record it as a failed binary file).
sys.dont_write_bytecode = True
from pathlib import Path

import pyarrow as pa
import pytest

import forensics as fx
from forensics.parsers import ParseOptions
from forensics.parsers.dumps import scanner
from forensics.db.schema import TABLES

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
SHARED = ROOT.parent / "shared" / "conformance"


def load_manifest() -> list[dict]:
    """The crash and goroutine-dump samples."""
    return [e for e in json.loads((SAMPLES / "manifest.json").read_text()) if "mode" in e]


def load_profiles() -> list[dict]:
    """The pprof samples (profile.proto and debug=1 text) written by sample_logs/profiler."""
    return [e for e in json.loads((SAMPLES / "manifest.json").read_text()) if e.get("variant") == "profiles"]


def parse_bytes(data: bytes, **opts) -> dict[str, pa.Table]:
    """Run the crash parser; every table it emits, as Arrow tables."""
    batches: dict[str, list] = {}
    for name, batch in scanner.parse(io.BytesIO(data), ParseOptions(**opts)):
        batches.setdefault(name, []).append(batch)
    tables = {}
    for name in ("dumps", "panics", "goroutines", "frames", "race_accesses", "ingest_errors"):
        tables[name] = pa.Table.from_batches(batches.get(name, []), schema=TABLES[name].arrow_schema)
    return tables


def parse_file(rel: str, **opts) -> dict[str, pa.Table]:
    return parse_bytes((SAMPLES / rel).read_bytes(), **opts)


@pytest.fixture
def db(tmp_path):
    incident = fx.open(tmp_path / "incident.duckdb")
    yield incident
    incident.close()


def which(tool: str) -> str | None:
    return shutil.which(tool)


@pytest.fixture(scope="session")
def cluster_database(tmp_path_factory) -> Path:
    """sample_logs/cluster ingested once per session; test modules open copies of it (cluster_copy)."""
    path = tmp_path_factory.mktemp("cluster") / "cluster.duckdb"
    db = fx.open(path)
    summary = db.ingest(SAMPLES / "cluster")
    assert not summary.problems, summary.problems
    db.close()
    return path


def cluster_copy(cluster_database: Path, tmp_path_factory, name: str) -> Path:
    """A private copy of the cluster database (tests may close or change theirs)."""
    dest = tmp_path_factory.mktemp(name) / "c.duckdb"
    shutil.copy(cluster_database, dest)
    return dest


BUNDLE = SAMPLES / "incident" / "bundle"


@pytest.fixture(scope="session")
def incident_database(tmp_path_factory) -> Path:
    """The sample incident (the README's first command's database) ingested once
    per session; tests open it read-only (incident_copy for one they change)."""
    path = tmp_path_factory.mktemp("incident") / "incident.duckdb"
    db = fx.open(path)
    summary = db.ingest(BUNDLE)
    assert not summary.problems, summary.problems
    db.close()
    return path


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
# No background networking: this machine's closed network refuses Chromium's own connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright, to read pages as a reader sees them
    (the installed browser, never one Playwright downloads); skipped without either."""
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
