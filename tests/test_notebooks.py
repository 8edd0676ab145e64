"""The notebooks read the sample incident's database (the README's first
command's) read-only and ingest nothing: each runs top to bottom under
papermill with DB pointed at the session's copy of it, the postmortem template
with its parameters; a missing or empty database fails loudly; and each
executed notebook, rendered to HTML, shows its figures in a browser."""
from __future__ import annotations

import json
import re

import pytest

import forensics as fx
from conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
TEMPLATE = NOTEBOOKS / "postmortem-template.ipynb"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
README_COMMAND = "forensics ingest sample_logs/incident/bundle --db incident.duckdb"
nbformat = pytest.importorskip("nbformat")

# Per notebook: what its outputs must say, its PNG figures (matplotlib) and its SVG ones (flame graphs).
EXPECTED = {
    "01-quickstart": (["go.etcd.io/etcd/client/v3", "v3.5.9", "nil pointer dereference", "257 sources"], 0, 0),
    "02-incident-timeline": (["rollback", "after a crash", "rows, summarised from the"], 2, 0),
    "03-upgrade-regression": (["suspects: go.etcd.io/etcd/client/v3", "goroutines rose at", "growing_sites"], 2, 0),
    "04-goroutines-and-profiles": (["go.etcd.io/etcd/client/v3.(*Client).watchLoop", "progressNotify",
                                    "github.com/acme/ratelimit", "etcd Get"], 2, 1),
    "postmortem-template": (["orders v2.5.0", "suspects: go.etcd.io/etcd/client/v3", "recvKeepAlive", "crashes"],
                            3, 0),
}


def execute(path, out, **parameters):
    """Run a notebook with papermill (its parameters cell overridden) in notebooks/; the executed notebook."""
    papermill = pytest.importorskip("papermill")
    pytest.importorskip("ipykernel")
    papermill.execute_notebook(str(path), str(out), parameters=parameters, kernel_name="python3",
                               cwd=str(NOTEBOOKS), progress_bar=False)
    return nbformat.read(out, as_version=4)


def outputs(nb) -> tuple[str, list]:
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     + str(o.get("data", {}).get("text/markdown", "")) for o in outs)
    return text, outs


def title_of(nb) -> str:
    """What a reader sees as the notebook's title: the first level-1 heading, of a Markdown cell or of an output."""
    for cell in nb.cells:
        texts = [cell.source] if cell.cell_type == "markdown" else [
            o.get("data", {}).get("text/markdown", "") for o in cell.get("outputs", [])]
        for text in texts:
            found = re.search(r"^# (.+)$", text, re.M)
            if found:
                return found.group(1).strip()
    raise AssertionError("no title")


@pytest.fixture(scope="module")
def executed(incident_database, tmp_path_factory):
    """Each notebook executed once on the sample incident (lazily, by stem); the template writes a Markdown report."""
    out = tmp_path_factory.mktemp("notebooks")
    done = {}

    def run(stem: str):
        if stem not in done:
            parameters = {"DB": str(incident_database)}
            if stem == "postmortem-template":
                parameters["REPORT"] = str(out / "report.md")
            done[stem] = execute(NOTEBOOKS / f"{stem}.ipynb", out / f"{stem}.ipynb", **parameters)
        return done[stem]

    run.dir = out
    return run


def test_the_notebooks_are_committed_without_outputs():
    for path in ALL:
        cells = json.loads(path.read_text())["cells"]
        assert not [c for c in cells if c.get("outputs") or c.get("execution_count")], path.name


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_each_notebook_opens_the_readme_database_read_only_and_ingests_nothing(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell is papermill's parameters cell"
    assert re.search(r"^DB = '\.\./incident\.duckdb'$", code[0].source, re.M), code[0].source
    assert "README" in code[0].source and README_COMMAND in code[0].source  # a comment says whose database
    assert "fx.open(DB, read_only=True)" in code[1].source
    source = "\n".join(c.source for c in code)
    assert ".ingest(" not in source and "EVIDENCE" not in source
    # The public API only: `import forensics as fx` and the database's methods.
    assert not re.search(r"^\s*(from|import) forensics\b(?! as fx$)", source, re.M), path.name
    assert "fx.plots" not in source and "db.store" not in source


@pytest.mark.parametrize("stem", [p.stem for p in ALL])
def test_notebook_runs(stem, executed):
    nb = executed(stem)
    text, outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    needles, pngs, svgs = EXPECTED[stem]
    for needle in needles:
        assert needle in text, needle
    assert sum("image/png" in o.get("data", {}) for o in outs) == pngs
    assert sum("image/svg+xml" in o.get("data", {}) for o in outs) == svgs


def test_the_template_titles_itself_from_the_data_and_writes_the_report(executed):
    nb = executed("postmortem-template")
    title = title_of(nb)
    assert re.fullmatch(r"Postmortem: orders, 2026-11-22", title), title
    assert "Postmortem: ," not in outputs(nb)[0]
    report = executed.dir / "report.md"
    assert report.exists() and "go.etcd.io/etcd/client/v3" in report.read_text()


def test_the_template_with_a_service_and_a_window(incident_database, tmp_path):
    """Checkout was hit by nothing and no deploy of it is to blame: its title says checkout and
    the day of its first evidence, and orders' crashes are left out."""
    nb = execute(TEMPLATE, tmp_path / "out.ipynb", DB=str(incident_database), SERVICE="checkout",
                 START="2026-11-22 04:00", END="2026-11-22 05:00")
    text, outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    assert title_of(nb) == "Postmortem: checkout, 2026-11-22"
    assert "No deploy made its service significantly worse" in text
    assert "recvKeepAlive" not in text and "deploy checkout v1.3.0" in text  # orders' crashes are not checkout's


@pytest.mark.parametrize("path", [TEMPLATE, NOTEBOOKS / "02-incident-timeline.ipynb"], ids=lambda p: p.stem)
@pytest.mark.parametrize("case", ["missing", "empty"])
def test_a_missing_or_empty_database_fails_loudly(path, case, tmp_path):
    papermill = pytest.importorskip("papermill")
    db = tmp_path / f"{case}.duckdb"
    if case == "empty":
        fx.open(db).close()
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        execute(path, tmp_path / "out.ipynb", DB=str(db))
    message = failure.value.evalue
    assert README_COMMAND in message and "set DB" in message, message
    assert db.name in message
    assert ("There is no incident database" if case == "missing" else "holds no evidence") in message
    assert db.exists() == (case == "empty")  # opening read-only never creates the file


@pytest.mark.parametrize("stem", [p.stem for p in ALL])
def test_the_rendered_notebook_shows_its_figures(stem, executed, browser):
    """As a reader would see the notebook rendered to HTML (nbconvert): its title, and every figure drawn."""
    from nbconvert import HTMLExporter

    nb = executed(stem)
    html, _ = HTMLExporter().from_notebook_node(nb)
    page_path = executed.dir / f"{stem}.html"
    page_path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        # Only the file itself: the template's scripts from CDNs (require.js, MathJax) are not needed.
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                   else route.abort())
        page.goto(page_path.as_uri(), wait_until="load")
        heading = page.locator("h1").first
        assert heading.is_visible() and title_of(nb) in heading.inner_text()
        # nbconvert puts PNG and SVG outputs alike in <img> elements (data: URIs).
        images = page.eval_on_selector_all("img", """els => els.map(e => ({
            type: e.src.slice(0, 20), natural: e.naturalWidth, shown: e.getBoundingClientRect().width}))""")
        _, pngs, svgs = EXPECTED[stem]
        assert len(images) == pngs + svgs, images
        assert sum(i["type"].startswith("data:image/svg+xml") for i in images) == svgs, images
        for image in images:
            assert image["natural"] > 0 and image["shown"] >= 200, image
    finally:
        page.close()
