"""Every notebook runs top to bottom in a fresh kernel on sample_logs/, and
the postmortem template runs under papermill with its parameters."""
from __future__ import annotations

import json

import pytest

from conftest import ROOT, SAMPLES

NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if p.name != "postmortem-template.ipynb")
nbformat = pytest.importorskip("nbformat")


def run(path, **parameters):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def outputs(nb) -> tuple[str, list]:
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outs)
    return text, outs


def test_the_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS + [ROOT / "notebooks" / "postmortem-template.ipynb"]:
        cells = json.loads(path.read_text())["cells"]
        assert not [c for c in cells if c.get("outputs") or c.get("execution_count")], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    nb = run(path)
    text, outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    expected = {
        "01-quickstart": ["go.etcd.io/etcd/client/v3", "v3.5.9", "nil pointer dereference"],
        "02-incident-timeline": ["rollback", "after a crash"],
        "03-upgrade-regression": ["suspects: go.etcd.io/etcd/client/v3", "goroutines"],
        "04-goroutines-and-profiles": ["main.lookup", "github.com/acme/ratelimit"],
    }[path.stem]
    for needle in expected:
        assert needle in text, needle
    if path.stem in ("02-incident-timeline", "04-goroutines-and-profiles"):
        assert any("image/png" in o.get("data", {}) for o in outs)
    if path.stem == "01-quickstart":  # ingest shows a progress bar (a tqdm widget) in a notebook
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)


def test_the_template_runs_with_papermill(tmp_path):
    papermill = pytest.importorskip("papermill")
    pytest.importorskip("ipykernel")
    out = tmp_path / "out.ipynb"
    report = tmp_path / "report.md"
    papermill.execute_notebook(str(ROOT / "notebooks" / "postmortem-template.ipynb"), str(out), kernel_name="python3",
                               parameters={"DB": str(tmp_path / "i.duckdb"),
                                           "EVIDENCE": str(SAMPLES / "incident" / "bundle"),
                                           "SERVICE": "orders", "REPORT": str(report)}, progress_bar=False)
    text, outs = outputs(nbformat.read(out, as_version=4))
    assert "orders v2.5.0" in text and "suspects: go.etcd.io/etcd/client/v3" in text
    assert report.exists() and "## Suspected causes" in report.read_text()
