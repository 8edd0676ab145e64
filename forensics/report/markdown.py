"""The report as Markdown to paste into a postmortem document (GitHub,
Confluence, Google Docs). Table cells go through md_cell, sentences,
headings and list items through md_text (tags and entities defused with
backslashes, never as entities, which paste literally; emphasis, link and
image syntax escaped; pipes and newlines escaped in cells; control and bidi
characters as visible escapes); paths sit in code spans and stacks in code
blocks whose delimiters are longer than any backtick run inside them.
Figures are image links to files written beside the report
(``<name>_files/figure-N-key.png|svg``), or data URIs when embedded.
"""
from __future__ import annotations

import base64

import pandas as pd

from ..text import md_cell, md_code, md_text
from . import INSTANCE, RELEASE_COLUMNS
from .stacks import markdown as stacks_markdown


def _fmt(value):
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return "" if value != value else f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return value


def _table(df: pd.DataFrame, columns) -> str:
    """`columns`: names, or (name, heading) pairs."""
    if df is None or not len(df):
        return "_None._\n"
    pairs = [c if isinstance(c, tuple) else (c, c) for c in columns]
    lines = ["| " + " | ".join(md_cell(h) for _, h in pairs) + " |", "| " + " | ".join("---" for _ in pairs) + " |"]
    for r in df.to_dict("records"):
        lines.append("| " + " | ".join(md_cell(_fmt(r.get(c))) for c, _ in pairs) + " |")
    return "\n".join(lines) + "\n"


def _text(s: str) -> str:
    """A sentence of evidence text: tags and entities defused, line breaks as spaces."""
    return md_text(s)


def _code(text: str) -> str:
    """A code span of evidence text (a path): one line, shown as it is."""
    return md_code(text)


def _image(f, figure_dir: str | None, embed: bool) -> str:
    if embed or figure_dir is None:
        target = f"data:{f.mime};base64,{base64.b64encode(f.data).decode()}"
    else:
        target = f"{figure_dir}/{f.filename}"
    return f"![{_text(f.name)}]({target})\n\n{_text(f.titled)}\n"  # no emphasis: names hold * and _


def render_markdown(d, figure_dir: str | None = None, embed: bool = False) -> str:
    s = d.summary
    window = (f"Evidence from {d.window[0]:%Y-%m-%d %H:%M} to {d.window[1]:%Y-%m-%d %H:%M} UTC"
              if d.window[0] is not None else "No dated evidence")
    out = [f"# {_text(d.title)}", "", f"_{window}; services: {_text(', '.join(d.services) or 'none')}. "
           f"Generated {d.generated:%Y-%m-%d %H:%M} UTC by forensics._", "", f"> **{_text(s.headline)}**", "",
           "## Summary", ""]
    out += [f"- **{k}:** {_text(v)}" for k, v in s.lines] + [""]
    out += ["## Key events", "", _table(d.key_events, [("ts", "time (UTC)"), ("service", "service"),
                                                       ("version", "release"), ("kind", "kind"),
                                                       ("what", "what happened"), ("note", "note")]),
            f"_{len(d.timeline)} rows in all: see the appendix._", "", "## Evidence", "", _text(INSTANCE), ""]
    shown: set[str] = set()
    if not d.evidence:
        out.append("_No claim: no deploy is followed by a significant regression._\n")
    for i, b in enumerate(d.evidence, 1):
        out += [f"### {i}. {_text(b.title)}", "", f"**{_text(b.claim)}**", ""]
        fig = d.figure(b.figure) if b.figure else None
        if fig is not None and fig.key not in shown:
            out.append(_image(fig, figure_dir, embed))
            shown.add(fig.key)
        elif fig is not None:
            out.append(f"_Shown in {fig.name}._\n")
        out += [f"- **Test:** {_text(b.statistic)}", f"- **Measured in:** {_text(b.measured)}"]
        if b.onset is not None:
            out.append(f"- **Began:** {b.onset:%Y-%m-%d %H:%M:%S} UTC")
        out.append(f"- **Instances:** {_text(', '.join(b.instances) or 'not recorded')}")
        out.append("- **Files:**" + ("".join(f"\n  - {_code(f)}" for f in b.files)
                                     if b.files else " not recorded"))
        out.append("")
    rest = [f for f in d.figures if f.key not in shown]
    if rest:
        out += ["## Figures", ""] + [_image(f, figure_dir, embed) for f in rest]
    out += ["## Releases", "", _table(d.releases, RELEASE_COLUMNS), "## Crash stacks", ""]
    if not d.crashes:
        out.append("_No crash in this window._\n")
    for heading, buckets in d.crashes:
        out += [f"### {_text(heading)}", "", stacks_markdown(buckets, level=4)]
    causes = d.causes.assign(suspect_modules=d.causes["suspect_modules"].map(", ".join)) if len(d.causes) else d.causes
    out += ["## Every deploy, ranked", "",
            _table(causes, ["rank", "ts", "service", "change", "significant", "score", "suspect_modules"])]
    for r in d.causes.itertuples(index=False) if len(d.causes) else ():
        out.append(f"{r.rank}. {'**' if r.significant else ''}{_text(r.verdict)}{'**' if r.significant else ''}")
    out += ["", "## Action items", "", "| Action | Owner | Priority | Due | Status |", "| --- | --- | --- | --- | --- |",
            "|  |  |  |  |  |", "", "## Appendix: timeline (UTC)", "",
            _table(d.timeline, [("ts", "time (UTC)"), "service", "version", "kind", "severity", "summary", "count"])]
    return "\n".join(out)
