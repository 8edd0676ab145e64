"""The report as Markdown to paste into a postmortem document. Table cells
go through md_cell (tags and entities defused with backslashes, never as
entities, which paste literally; pipes and newlines escaped);
stacks sit in fenced blocks whose fence is longer than any backtick run
inside them."""
from __future__ import annotations

import re

import pandas as pd

from ..text import md_cell


def _fmt(value) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return value


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    if df is None or not len(df):
        return "_None._\n"
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for r in df.to_dict("records"):
        lines.append("| " + " | ".join(md_cell(_fmt(r.get(c))) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _text(s: str) -> str:
    """A paragraph of evidence text: tags and entities defused, line breaks kept as spaces."""
    return md_cell(s).replace("<br>", " ").replace("\\|", "|")


def _fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}\n"


def render_markdown(d) -> str:
    out = [f"# {_text(d.title)}", "", f"_Generated {d.generated:%Y-%m-%d %H:%M} UTC by forensics._", "",
           "## Summary", ""] + [_text(s) + "\n" for s in d.summary]
    out += ["## Impact", "", _table(d.impact, list(d.impact.columns)), "## Timeline (UTC)", "",
            _table(d.timeline, ["ts", "service", "version", "kind", "severity", "summary"])]
    if d.timeline_total > len(d.timeline):
        out.append(f"_{d.timeline_total - len(d.timeline)} more rows: `forensics timeline --db ...`_\n")
    out += ["## Detection", ""] + ([_text(s) + "\n" for s in d.detection] or ["_No failure in this window._\n"])
    out += ["## Suspected causes", ""]
    causes = d.causes.assign(suspect_modules=d.causes["suspect_modules"].map(", ".join)) if len(d.causes) else d.causes
    out.append(_table(causes, ["rank", "ts", "service", "change", "significant", "score", "suspect_modules"]))
    for r in d.causes.itertuples(index=False) if len(d.causes) else ():
        out.append(f"{r.rank}. {'**' if r.significant else ''}{_text(r.verdict)}{'**' if r.significant else ''}")
    out += ["", "## Panic signatures", ""]
    if not d.signatures:
        out.append("_None._\n")
    for s in d.signatures:
        first = s["message"].splitlines()[0] if s["message"] else ""
        out += [f"### {_text(s['kind'])}: {_text(first)}", "",
                f"{s['count']} times, {_fmt(s['first_seen'])} to {_fmt(s['last_seen'])} UTC; versions "
                f"{_text(', '.join(s['versions']) or '?')}; signature `{s['signature']}`.", "",
                _fence((s["message"] or "") + "\n\n" + "\n".join(s["stack"]))]
    out += ["## Goroutine growth", "",
            _table(d.growth, ["service", "form", "by", "site", "snapshots", "first", "last", "peak", "per_minute"]),
            "## Profile shifts", ""] + ([_text(s) + "\n" for s in d.profile_shifts] or
                                        ["_No CPU profile shift around a deploy._\n"])
    out += ["## Action items", "", "| Action | Owner | Priority | Due | Status |", "| --- | --- | --- | --- | --- |",
            "|  |  |  |  |  |", ""]
    return "\n".join(out)
