"""Stack buckets (:mod:`forensics.analysis.stacks`) as text, JSON, Markdown or HTML.

The text form reads like panicparse's: per dump its panic, then one block per
bucket, ``COUNT: state, wait [goroutine ids]`` and its frames, each
``module@version  file:line  function(args)``, within 100 columns. Markdown
is paste-ready (code blocks, no HTML entities); the HTML page is
self-contained (inline style, no scripts) and escapes every text it shows.
In every form, untrusted text (messages, paths, functions) shows its
control and bidi characters as visible escapes; a field that is one line
(a path, a frame) shows a newline as ``\\n``, so it cannot forge a line;
in Markdown a panic's backticks become quotes in its code spans, and a
stack's code block is fenced with more backticks than any run inside it,
so no text ends either.
"""
from __future__ import annotations

import html
import json
import os

from ..analysis.stacks import Bucket
from ..text import md_fence, md_text, printable, terminal_safe

WIDTH = 100
SHOWN_IDS = 6


def _wait(b: Bucket) -> str:
    if b.wait is None:
        return ""
    lo, hi = b.wait
    return f", {lo} minutes" if lo == hi else f", {lo}~{hi} minutes"


def _ids(b: Bucket) -> str:
    if not b.ids:
        return ""
    shown = ", ".join(str(i) for i in b.ids[:SHOWN_IDS])
    more = b.count - min(len(b.ids), SHOWN_IDS)
    word = "goroutine" if b.count == 1 else "goroutines"
    return f" [{word} {shown}{f' +{more} more' if more > 0 else ''}]"


def headline(b: Bucket) -> str:
    """'12: chan receive, 1~5 minutes, locked [goroutines 6, 7 +10 more]'."""
    if b.count == 0:
        return "(its goroutine was not printed)"
    state = b.state or "(no header: the text starts inside this goroutine)"
    return f"{b.count}: {state}{_wait(b)}{', locked to thread' if b.locked else ''}{_ids(b)}"


def _place(file: str | None, line: int | None, full_path: bool) -> str:
    if file is None:
        return "?"
    shown = file if full_path else os.path.basename(file)
    return f"{shown}:{line}" if line is not None else shown


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def frame_rows(b: Bucket, full_path: bool = False) -> list[tuple[str, str, str]]:
    """(module@version, file:line, call) of each frame, each one line (:func:`terminal_safe`)."""
    rows = [(f.where, _place(f.file, f.line, full_path), f"{f.function or '?'}({f.args if f.args is not None else ''})")
            for f in b.frames]
    if b.created_by:
        rows.append(("created by", _place(b.created_file, b.created_line, full_path), b.created_by))
    return [tuple(terminal_safe(x) for x in row) for row in rows]


def _dumps(buckets: list[Bucket]) -> list[tuple[int, list[Bucket]]]:
    out: dict[int, list[Bucket]] = {}
    for b in buckets:
        out.setdefault(b.dump_id, []).append(b)
    return list(out.items())


def _dump_title(group: list[Bucket]) -> str:
    first = group[0]
    n = sum(b.count for b in group)
    source = f" from {terminal_safe(first.source)}" if first.source else ""  # a path: one line
    return (f"dump {first.dump_id} ({first.dump_kind or 'goroutines'}, {n} goroutine{'s' * (n != 1)} in "
            f"{len(group)} bucket{'s' * (len(group) != 1)}){source}")


def text(buckets: list[Bucket], full_path: bool = False, width: int = WIDTH) -> str:
    """The buckets as panicparse-style text, lines at most `width` columns."""
    out: list[str] = []
    for _, group in _dumps(buckets):
        out.append(_cut(_dump_title(group), width))
        for b in group:
            out.append("")
            if b.panic:
                first, *rest = b.panic.split("\n")
                out.append(_cut(first, width))
                out.extend(_cut(line.replace("\t", "    "), width) for line in rest[:8])
            out.append(_cut(headline(b), width))
            rows = frame_rows(b, full_path)
            w1 = min(max((len(r[0]) for r in rows), default=0), 40)
            w2 = min(max((len(r[1]) for r in rows), default=0), 30)
            for where, place, call in rows:
                out.append(_cut(f"    {_cut(where, w1):<{w1}}  {_cut(place, w2):<{w2}}  {call}", width))
        out.append("")
    return printable("\n".join(out).rstrip("\n") + ("\n" if out else ""))  # (no escape sequence reaches a terminal)


def as_json(buckets: list[Bucket]) -> str:
    return json.dumps([b.as_dict() for b in buckets], indent=1)


def markdown(buckets: list[Bucket], full_path: bool = False, level: int = 3) -> str:
    """Paste-ready Markdown: a heading per dump (at `level`), a code block per bucket."""
    out: list[str] = []
    for _, group in _dumps(buckets):
        out.append(f"{'#' * level} {md_text(_dump_title(group))}")
        for b in group:
            out.append("")
            if b.panic:  # each line a code span: its own backticks as quotes, so none ends it
                out.extend(f"`{terminal_safe(line.strip()).replace('`', chr(39))}`  " for line in b.panic.split("\n")[:8]
                           if line.strip())
                out.append("")
            out.append(f"**{md_text(headline(b))}**")
            out.append("")
            rows = frame_rows(b, full_path)
            w1 = max((len(r[0]) for r in rows), default=0)
            w2 = max((len(r[1]) for r in rows), default=0)
            out.append(md_fence("\n".join(f"{where:<{w1}}  {place:<{w2}}  {call}" for where, place, call in rows)))
        out.append("")
    return "\n".join(out)


_PAGE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h2{font-size:1.1em;margin-top:2em;border-bottom:1px solid #ccc}"""
STYLE = """.bucket{margin:1em 0;padding:.5em 1em;border-left:4px solid #4a7bd0;background:#f6f8fb}
.bucket.panic{border-color:#c0392b;background:#fdf3f2}
.bucket .head{font-weight:600;overflow-wrap:anywhere}
.bucket .msg{color:#c0392b;font-weight:600;white-space:pre-wrap;overflow-wrap:anywhere}
.bucket table{border-collapse:collapse;font:12.5px ui-monospace,monospace;width:auto;margin:0}
.bucket td{padding:1px 12px 1px 0;vertical-align:top;border:0;overflow-wrap:anywhere}
.bucket td.where{color:#555}.bucket td.place{color:#2c6e2c}
@media print{.bucket{break-inside:avoid}}"""


def _e(text) -> str:
    """Text for HTML: control and bidi characters visible, then entities."""
    return html.escape(printable(str(text)))


def html_page(buckets: list[Bucket], title: str = "Goroutine stacks", full_path: bool = False) -> str:
    """One self-contained page (inline style, no scripts); every text escaped."""
    e = _e
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
            f"<style>{_PAGE}{STYLE}</style></head><body><h1>{e(title)}</h1>"
            + html_fragment(buckets, full_path, dump_titles=True) + "</body></html>")


def html_fragment(buckets: list[Bucket], full_path: bool = False, dump_titles: bool = False) -> str:
    """The buckets as HTML to place in a page whose style includes STYLE."""
    e = _e
    parts = []
    for _, group in _dumps(buckets):
        if dump_titles:
            parts.append(f"<h2>{e(_dump_title(group))}</h2>")
        for b in group:
            parts.append(f"<div class='bucket{' panic' if b.panic else ''}'>")
            if b.panic:
                parts.append(f"<div class='msg'>{e(b.panic)}</div>")
            parts.append(f"<div class='head'>{e(headline(b))}</div><table>")
            for where, place, call in frame_rows(b, full_path):
                parts.append(f"<tr><td class='where'>{e(where)}</td><td class='place'>{e(place)}</td>"
                             f"<td>{e(call)}</td></tr>")
            parts.append("</table></div>")
    return "".join(parts)


def render(buckets: list[Bucket], fmt: str = "table", full_path: bool = False, title: str = "Goroutine stacks") -> str:
    """`fmt`: table (text), json, md or html."""
    if fmt == "json":
        return as_json(buckets)
    if fmt == "md":
        return markdown(buckets, full_path)
    if fmt == "html":
        return html_page(buckets, title, full_path)
    return text(buckets, full_path)
