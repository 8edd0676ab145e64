"""Untrusted text in every output: real evidence with hostile text injected
(a panic message, a service name, a file name), rendered as reports, figures
and command-line output. Nothing in it may fail a figure (mathtext, LaTeX),
turn into live Markdown (links, images, emphasis, a closed code fence) or
HTML, reach a page or a terminal as raw escape or bidi bytes, forge a line
of output, or widen the page."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from matplotlib import cbook
from matplotlib.text import Text

import forensics as fx
from forensics.cli import main
from forensics.plots import style
from forensics.report import build, write
from forensics.text import BIDI, md_cell, md_code, md_fence, md_text, printable, terminal_safe

from conftest import SAMPLES

# A real crash of the sample program (Go 1.27.3), its panic message and a source file's name replaced.
CRASH = SAMPLES / "go1.27.3" / "default" / "panic-string.txt"
ORIGINAL = "something broke: user 42 has no quota"
LONG = "W" * 20_000
MESSAGE = ("$\\frac{$ ![t](http://example.invalid/t.png) [click](http://example.invalid/x) <img src=x> **bold** "
           "_em_ `code` \x1b[31mred\x1b[0m \x1b]0;owned\x07 \u202eevil\u202c \u2066iso\u2069 \u200e" + LONG
           # Go 1.23+ prints a multi-line panic value with tab-indented continuation lines; the reader takes
           # three of these six backticks for a paste's fence: ``` is left, a line that would close a code block
           + "\n\t``````\n\t![u](http://example.invalid/u.png)")
FENCE_LINE = "\n```\n![u](http://example.invalid/u.png)"
SERVICE = "svc$\\frac{$[s](http://example.invalid/s)_\u202e"
VERSION = "v1$\u202e"
FILE_NAME = "crash\nfailed: forged.log: \u202egol.txt"
SOURCE_FILE = "src/m```` ```ain.go"  # backtick runs in every frame's file: none may close a code block
# Raw bytes no .md, .html or terminal line may hold: C0 but tab and newline, DEL, C1, bidi controls.
RAW = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{BIDI}]")


def hostile_crash(directory: Path) -> Path:
    """The real crash output with the hostile message and file name, under a hostile file name."""
    text = CRASH.read_text()
    assert "panic: " + ORIGINAL in text and "src/main.go" in text
    path = directory / FILE_NAME
    path.write_text(text.replace("panic: " + ORIGINAL, "panic: " + MESSAGE).replace("src/main.go", SOURCE_FILE))
    return path


@pytest.fixture(scope="module")
def crash_db(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("hostile-crash")
    db = fx.open(work / "h.duckdb")
    summary = db.ingest([str(hostile_crash(work))], service=SERVICE, version=VERSION)
    assert not summary.problems, summary.problems
    (message,), = db.sql("SELECT message FROM panics").fetchall()
    assert message.startswith(MESSAGE.split("\n")[0]) and message.endswith(FENCE_LINE)
    db.close()
    return work / "h.duckdb"


@pytest.fixture(scope="module")
def reports(crash_db, tmp_path_factory) -> dict:
    """`forensics report` of the hostile crash, as .html and .md: what it printed and wrote."""
    out = tmp_path_factory.mktemp("hostile-report")
    got = {}
    for suffix in ("html", "md"):
        r = CliRunner().invoke(main, ["report", "--db", str(crash_db), "-o", str(out / f"r.{suffix}")])
        got[suffix] = (r, (out / f"r.{suffix}").read_text(encoding="utf-8") if (out / f"r.{suffix}").exists()
                       else None)
    got["dir"] = out
    return got


def test_a_report_of_hostile_evidence_is_written(reports):
    for suffix in ("html", "md"):
        result, text = reports[suffix]
        assert result.exit_code == 0, result.output
        assert text and "Crash stacks" in text
        assert len(result.output.splitlines()) == 1 and result.output.startswith("wrote ")
    assert (reports["dir"] / "r_files").is_dir()


def test_reports_hold_no_raw_escape_or_bidi_bytes(reports):
    for suffix in ("html", "md"):
        text = reports[suffix][1]
        assert not RAW.findall(text), suffix
    # shown as visible escapes instead, and the message's words still there
    html = reports["html"][1]
    assert "\\x1b[31mred\\x1b[0m \\x1b]0;owned\\x07 \\u202eevil\\u202c \\u2066iso\\u2069" in html
    assert "\\\\x1b\\[31mred\\\\x1b\\[0m" in reports["md"][1]  # Markdown: the backslash itself escaped


def _tokens(tokens):
    for t in tokens:
        yield t
        yield from _tokens(t.children or [])


def test_markdown_holds_no_live_syntax_from_the_evidence(reports):
    text = reports["md"][1]
    tokens = list(_tokens(MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(text)))
    images = [t.attrGet("src") for t in tokens if t.type == "image"]
    assert images and all(src.startswith("r_files/figure-") for src in images)  # only the report's own figures
    assert not [t for t in tokens if t.type == "link_open"]
    assert not [t for t in tokens if t.type in ("html_inline", "html_block") and t.content != "<br>"]
    assert not [t for t in tokens if t.type == "s_open"]
    shown = "".join(t.content for t in tokens if t.type in ("text", "code_inline", "fence"))
    for words in ("![t](http://example.invalid/t.png) [click](http://example.invalid/x) <img src=x> **bold** _em_",
                  "$\\frac{$[s](http://example.invalid/s)_\\u202e"):  # as text, not as Markdown
        assert words in shown, words
    # Every stack stays inside its code block: each frame's file:line is in a fence, none outside one.
    fences = [t for t in tokens if t.type == "fence"]
    frames = sum(t.content.count("ain.go:") for t in fences)
    assert frames == reports["html"][1].count("ain.go:") > 0  # the HTML shows the same buckets
    assert "ain.go:" not in "".join(t.content for t in tokens if t.type in ("text", "code_inline"))
    panic = [t.content for t in tokens if t.type == "code_inline"]  # a code span per line of the message
    assert panic[0].startswith("panic: $\\frac{$ ![t](") and panic[0].endswith(LONG)
    assert panic[1:3] == ["'''", "![u](http://example.invalid/u.png)"]  # ``` ends nothing; the image is text
    assert "crash\\nfailed: forged.log: \\u202egol.txt" in shown  # the file name on one line, in its heading


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_shows_the_evidence_as_text(reports):
    html = reports["html"][1]
    parser = Tags()
    parser.feed(html)
    tags = parser.tags
    assert {t for t, _ in tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "dl",
                                   "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "figure", "img",
                                   "figcaption", "div", "span", "section", "ul", "li", "a"}
    assert all(a["src"].startswith("data:image/") for t, a in tags if t == "img")  # only the figures
    assert all(a.get("href", "#").startswith("#") for t, a in tags if t == "a")  # links within the page only
    assert "<img src=x" not in html and "&lt;img src=x&gt;" in html


def test_a_long_message_wraps_instead_of_widening_the_page(reports, browser, tmp_path):
    page_file = reports["dir"] / "r.html"
    for width in (1280, 1000):  # (below ~900 px the 13 columns of the releases table overflow, whatever the text)
        page = browser.new_page(viewport={"width": width, "height": 900})
        requests: list[str] = []
        page.on("request", lambda r, seen=requests: seen.append(r.url))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, (width, scroll)
        assert LONG in page.inner_text(".bucket.panic .msg").replace("\n", "")
        if width == 1280:
            page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
        page.close()
        assert all(u.startswith(("file:", "data:")) for u in requests), requests  # nothing fetched


# --- figures -------------------------------------------------------------------

INCIDENT_SERVICE = "ord$\\frac{$ers_[x](http://example.invalid/x)\u202e\x1b[2J"
MATPLOTLIB_MATH = re.compile(r"^\$\\mathdefault\{[^$]*\}\$$")  # matplotlib's own tick labels under usetex


@pytest.fixture(scope="module")
def hostile_incident(incident_database, tmp_path_factory) -> fx.Incident:
    """The sample incident with its orders service renamed to hostile text in every table that names a
    service, its panic messages and a leaking function prefixed with more."""
    path = tmp_path_factory.mktemp("hostile-incident") / "i.duckdb"
    shutil.copy(incident_database, path)
    db = fx.open(path)
    tables = [t for (t,) in db.store.query(
        "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'service' AND table_name IN "
        "(SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')").fetchall()]
    assert {"dumps", "logs", "spans", "events", "builds"} <= set(tables)
    for table in tables:
        db.store.query(f"UPDATE {table} SET service = replace(service, 'orders', ?)", [INCIDENT_SERVICE])
    db.store.query("UPDATE panics SET message = ? || message", ["$\\frac{$ \x1b[31m\u202e "])
    for table in ("goroutine_stacks", "frame_info"):
        db.store.query(f"UPDATE {table} SET function = replace(function, '(*Client).Watch', ?)",
                       ["(*Client).Wa$tch\u202e\x1b[2J"])
    yield db
    db.close()


def test_every_figure_draws_hostile_text_literally_and_never_through_latex(hostile_incident):
    db = hostile_incident
    # LaTeX is not installed: a text drawn with usetex would fail the figure.
    with matplotlib.rc_context({"text.usetex": True}):
        figures = {"timeline": db.plot_timeline(), "goroutines": db.plot_goroutines(),
                   "latency": db.plot_latency(), "crashes": db.plot_crashes(), "waterfall": db.plot_waterfall(),
                   "states": db.plot_goroutine_states()}
        for name, fig in figures.items():
            fig.savefig(io.BytesIO(), format="png")
            texts = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
            assert not [s for s in texts if cbook.is_math_text(s) and not MATPLOTLIB_MATH.match(s)], name
            assert not [s for s in texts if RAW.search(s)], name
    shown = [t.get_text() for f in figures.values() for t in f.findobj(Text)]
    assert any(s.startswith("ord\\$\\frac{\\$ers_[x](http://example.invalid/x)\\u202e\\x1b[2J") for s in shown)


def test_the_flame_graph_shows_hostile_names_as_escapes(hostile_incident):
    svg = hostile_incident.plot_flame({"kind": "cpu"}).svg
    ET.fromstring(svg.encode())  # well-formed
    assert not RAW.findall(svg)


def test_a_report_of_the_hostile_incident_names_its_culprit_safely(hostile_incident, tmp_path):
    data = build(hostile_incident.store)
    assert data.summary.headline.startswith("Root cause: the upgrade of go.etcd.io/etcd/client/v3 from v3.4.27 to "
                                            f"v3.5.9 in {INCIDENT_SERVICE} v2.5.0")
    html, md = write(data, tmp_path / "r.html"), write(data, tmp_path / "r.md")
    for text in (html, md):
        assert not RAW.findall(text)
    assert "ord$\\frac{$ers_[x](http://example.invalid/x)\\u202e\\x1b[2J v2.5.0" in html
    assert "ord\\$\\\\frac{\\$ers\\_\\[x](http://example.invalid/x)\\\\u202e\\\\x1b\\[2J v2.5.0" in md


@given(st.text())
def test_a_label_is_one_line_of_plain_text(text):
    s = style.label(text, 40)
    assert not cbook.is_math_text(s) and not RAW.search(s) and "\n" not in s and len(s) <= 40 + s.count("$")


# --- Markdown helpers: what a CommonMark reader shows is the text itself --------------------------------------

PIECES = list("ab _*[]()!<>&#;`\\|$~:/.\t") + ["\x1b", "\u202e", "&amp;", "&#x41;", "<img", "http://", "snake_case"]
ALPHABET = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
READER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _inline(markdown: str):
    return [c for t in READER.parse(markdown) if t.type == "inline" for c in t.children]


@settings(max_examples=300)
@given(ALPHABET)
def test_md_text_reads_as_the_text(text):
    children = _inline("x " + md_text(text))
    assert {c.type for c in children} <= {"text"}, children
    assert "".join(c.content for c in children) == ("x " + printable(text)).rstrip()


@settings(max_examples=300)
@given(ALPHABET)
def test_md_cell_reads_as_the_text(text):
    children = _inline("| h |\n| --- |\n| " + md_cell(text) + " |\n")
    assert {c.type for c in children} <= {"text"}, children
    assert "".join(c.content for c in children) == "h" + printable(text).strip(" \t")


@settings(max_examples=300)
@given(ALPHABET.filter(lambda s: s.strip()))
def test_md_code_is_one_code_span_of_the_text(text):
    children = _inline("x " + md_code(text))
    assert [c.type for c in children] == ["text", "code_inline"] and children[1].content == terminal_safe(text)


@settings(max_examples=300)
@given(st.lists(ALPHABET, max_size=5).map("\n".join))
def test_md_fence_is_one_code_block_of_the_text(text):
    tokens = READER.parse(md_fence(text) + "\nafter\n")
    assert tokens[0].type == "fence" and tokens[0].content == printable(text) + "\n"
    assert [t.type for t in tokens[1:]] == ["paragraph_open", "inline", "paragraph_close"]


# --- the command line ------------------------------------------------------------------------------------------


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forensics.cli", *map(str, args)], capture_output=True, timeout=300,
                          env={**os.environ, "COLUMNS": "400"})


def assert_terminal_safe(out: str, lines: bool = True) -> None:
    """No raw control or bidi character; with `lines`, no line forged by a newline in a name."""
    assert not RAW.findall(out), out
    assert not lines or not [line for line in out.splitlines() if line.lstrip().startswith("failed:")], out


def test_ingest_lists_a_hostile_file_name_on_one_line(tmp_path):
    cut = "\n".join(CRASH.read_text().splitlines()[:8]) + "\n"  # the real crash, cut after a frame: read in part
    (tmp_path / FILE_NAME).write_text(cut)
    empty_name = "notes\n\u202etxt.md"  # no Go evidence: skipped, and named as the example
    (tmp_path / empty_name).write_text("nothing to read here\n")
    r = run("ingest", tmp_path / FILE_NAME, tmp_path / empty_name, "--db", tmp_path / "i.duckdb")
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert_terminal_safe(out)
    lines = out.splitlines()
    assert len(lines) == 3, out  # the summary, the partial file, the skipped example
    assert lines[1].startswith("  partial: ") and "crash\\nfailed: forged.log: \\u202egol.txt: 1 problem" in lines[1]
    assert "notes\\n\\u202etxt.md" in lines[2]
    # the same names in a table, CSV (whose quoting keeps a newline: it is data) and Markdown
    for fmt in ("table", "csv", "md"):
        r = run("sql", "SELECT path, status FROM sources ORDER BY path", "--db", tmp_path / "i.duckdb", "--format", fmt)
        assert r.returncode == 0
        assert_terminal_safe(r.stdout.decode(), lines=fmt != "csv")
        assert "\\u202egol.txt" in r.stdout.decode()
    table = run("sql", "SELECT path FROM sources", "--db", tmp_path / "i.duckdb").stdout.decode()
    assert sum("forged.log" in line for line in table.splitlines()) == 1  # one row, one line


def test_stacks_and_usage_errors_print_hostile_names_on_one_line(tmp_path):
    crash = hostile_crash(tmp_path)
    r = run("stacks", crash)
    out = r.stdout.decode()
    assert r.returncode == 0 and r.stderr == b""
    assert_terminal_safe(out)
    assert out.startswith("dump ") and "ain.go:155" in out
    cut = tmp_path / ("cut" + FILE_NAME)
    cut.write_text("\n".join(CRASH.read_text().splitlines()[:8]) + "\n")
    r = run("stacks", cut)
    err = r.stderr.decode()
    assert_terminal_safe(err)
    assert len(err.splitlines()) == 1 and "cutcrash\\nfailed: forged.log: \\u202egol.txt: line" in err
    r = run("ingest", tmp_path / "missing\nfailed: \u202e.log", "--db", tmp_path / "x.duckdb")
    err = r.stderr.decode()
    assert r.returncode == 2 and "missing\\nfailed: \\u202e.log" in err
    assert_terminal_safe(err)


def test_terminal_safe_keeps_one_line():
    assert terminal_safe("a\nb\r\x1b[2J\u202e\u2066\t") == "a\\nb\\r\\x1b[2J\\u202e\\u2066\t"
    assert printable("a\nb\u200f") == "a\nb\\u200f"
