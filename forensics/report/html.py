"""The report as one self-contained HTML file: inline CSS, figures embedded
as data URIs (PNG, and the flame graph as SVG), no scripts and no network
fetches; every text from the evidence escaped (:func:`escape`: entities,
and control and bidi characters shown as visible escapes such as ``\\x1b``
and ``\\u202e``, never raw); long words (paths, function names) and long
messages wrap instead of widening the page. Prints cleanly (print CSS: no
page break inside a figure, a table row or a stack)."""
from __future__ import annotations

import base64
import html

import pandas as pd

from ..text import printable
from . import INSTANCE, RELEASE_COLUMNS
from .stacks import STYLE as STACK_STYLE
from .stacks import html_fragment


def escape(value) -> str:
    """Text for HTML: control characters (but tab and newline) and bidi
    controls as visible escapes, then ``& < > " '`` as entities.

    >>> escape("<b>\\x1b[31m\\u202eexe.txt")
    '&lt;b&gt;\\\\x1b[31m\\\\u202eexe.txt'
    """
    return html.escape(printable(str(value)))

CSS = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; overflow-wrap: anywhere; }
h1 { font-size: 1.75em; margin-bottom: .1em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin: 1.4em 0 .4em; } .meta { color: #666; margin-top: 0; }
.headline { font-size: 1.15em; font-weight: 600; background: #fdf3f2; border-left: 5px solid #c0392b;
            padding: .7em 1em; margin: 1em 0; }
.headline.none { background: #f4f5f7; border-color: #888; }
dl.summary { display: grid; grid-template-columns: 9em 1fr; gap: .35em 1em; margin: 0; }
dl.summary dt { font-weight: 600; color: #444; } dl.summary dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: #f4f5f7; overflow-wrap: normal; } table.key-events th { white-space: nowrap; } td.num { text-align: right; white-space: nowrap; }
td.time, td.short { white-space: nowrap; }
tr.critical td, tr.panic td { background: #fdecea; } tr.error td, tr.onset td { background: #fff4e5; }
tr.warning td { background: #fffbe6; } tr.culprit td { background: #fdecea; font-weight: 600; }
.note { display: inline-block; padding: 0 .45em; border-radius: 3px; font-size: 12px; font-weight: 600; color: #fff;
        background: #c0392b; } .note.mitigation { background: #2e7d32; } .note.cleared { background: #8a8f98; }
figure { margin: 1em 0 1.6em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 13px; margin-top: .3em; }
section.evidence { border: 1px solid #e3e3e3; border-radius: 4px; padding: .2em 1em 1em; margin: 1em 0 1.5em; }
section.evidence h3 { margin-top: .8em; } .claim { font-weight: 600; }
table.kv th { width: 9em; background: #fafafa; } ul.files { margin: 0; padding-left: 1.2em; font: 12px ui-monospace,
  monospace; } pre { background: #f6f8fa; padding: .7em; overflow-x: auto; font-size: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.muted { color: #777; } .verdict { font-weight: 600; } code { font-size: 12.5px; }
@media print { body { max-width: none; margin: 0; font-size: 12px; } h2, h3 { break-after: avoid; }
  table { font-size: 10.5px; } tr, figure, .bucket { break-inside: avoid; }
  section.evidence { border: 0; padding: 0; } }
"""

NOTE_CLASS = {"mitigation": "mitigation", "no regression found": "cleared"}  # the root cause: the default, red
SHORT = 24  # cells this short (names, versions) never wrap: long ones (messages, paths) do
KEY_EVENT_COLUMNS = [("ts", "time (UTC)"), ("service", "service"), ("version", "release"), ("kind", "kind"),
                     ("what", "what happened")]


def _e(value) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return escape(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, float):
        return escape(f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}")
    if isinstance(value, (list, tuple)):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def _cell(value) -> str:
    text = _e(value)
    cls = " class='time'" if isinstance(value, pd.Timestamp) else \
        " class='num'" if isinstance(value, (int, float)) and not isinstance(value, bool) else \
        " class='short'" if len(text) <= SHORT else ""
    return f"<td{cls}>{text}</td>"


def _table(df: pd.DataFrame, columns, row_class=None) -> str:
    """`columns`: names, or (name, heading) pairs. `row_class(record)`: a CSS class per row."""
    if df is None or not len(df):
        return '<p class="muted">None.</p>'
    pairs = [c if isinstance(c, tuple) else (c, c) for c in columns]
    head = "".join(f"<th>{escape(h)}</th>" for _, h in pairs)
    rows = []
    for r in df.to_dict("records"):
        cls = row_class(r) if row_class else ""
        rows.append(f"<tr{f' class={chr(34)}{escape(cls)}{chr(34)}' if cls else ''}>"
                    + "".join(_cell(r.get(c)) for c, _ in pairs) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure(f) -> str:
    data = base64.b64encode(f.data).decode()
    return (f'<figure id="{escape(f.key)}"><img alt="{escape(f.titled)}" src="data:{f.mime};base64,{data}">'
            f"<figcaption>{escape(f.titled)}</figcaption></figure>")


def _key_events(d) -> str:
    if not len(d.key_events):
        return '<p class="muted">No dated evidence.</p>'
    rows = []
    for r in d.key_events.to_dict("records"):
        note = r.get("note") or ""
        badge = f' <span class="note {NOTE_CLASS.get(note, "")}">{escape(note)}</span>' if note else ""
        cls = "culprit" if note == "root cause" else r["kind"]
        cells = "".join(_cell(r.get(c)) for c, _ in KEY_EVENT_COLUMNS[:-1])
        rows.append(f'<tr class="{escape(cls)}">{cells}<td>{_e(r["what"])}{badge}</td></tr>')
    head = "".join(f"<th>{escape(h)}</th>" for _, h in KEY_EVENT_COLUMNS)
    return f'<table class="key-events"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _evidence(d, shown: set[str]) -> str:
    if not d.evidence:
        return '<p class="muted">No claim: no deploy is followed by a significant regression.</p>'
    out = []
    for i, b in enumerate(d.evidence, 1):
        out.append(f'<section class="evidence"><h3>{i}. {escape(b.title)}</h3><p class="claim">{escape(b.claim)}</p>')
        fig = d.figure(b.figure) if b.figure else None
        if fig is not None and fig.key not in shown:
            out.append(_figure(fig))
            shown.add(fig.key)
        elif fig is not None:
            out.append(f'<p class="muted">Shown in <a href="#{escape(fig.key)}">'
                       f"{escape(fig.name)}</a>.</p>")
        files = "".join(f"<li>{escape(f)}</li>" for f in b.files) or "<li class='muted'>not recorded</li>"
        out.append('<table class="kv">'
                   f"<tr><th>Test</th><td>{escape(b.statistic)}</td></tr>"
                   f"<tr><th>Measured in</th><td>{escape(b.measured)}</td></tr>"
                   + (f"<tr><th>Began</th><td>{_e(b.onset)} UTC</td></tr>" if b.onset is not None else "")
                   + f"<tr><th>Instances</th><td>{escape(', '.join(b.instances) or 'not recorded')}</td></tr>"
                   f'<tr><th>Files</th><td><ul class="files">{files}</ul></td></tr></table></section>')
    return "".join(out)


def render_html(d) -> str:
    s = d.summary
    window = (f"Evidence from {d.window[0]:%Y-%m-%d %H:%M} to {d.window[1]:%Y-%m-%d %H:%M} UTC"
              if d.window[0] is not None else "No dated evidence")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(d.title)}</title><style>{CSS}{STACK_STYLE}</style></head><body>",
           f"<h1>{escape(d.title)}</h1>",
           f'<p class="meta">{window}; services: {escape(", ".join(d.services) or "none")}. Generated '
           f"{d.generated:%Y-%m-%d %H:%M} UTC by forensics.</p>",
           f'<p class="headline{"" if d.culprit is not None else " none"}">{escape(s.headline)}</p>',
           '<h2>Summary</h2><dl class="summary">'
           + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in s.lines) + "</dl>",
           f"<h2>Key events</h2>{_key_events(d)}"
           f'<p class="muted">{len(d.timeline)} rows in all: see the appendix.</p>']
    shown: set[str] = set()
    out.append(f'<h2>Evidence</h2><p class="muted">{escape(INSTANCE)}</p>{_evidence(d, shown)}')
    rest = [f for f in d.figures if f.key not in shown]
    if rest:
        out.append("<h2>Figures</h2>" + "".join(_figure(f) for f in rest))
    out.append("<h2>Releases</h2>" + _table(d.releases, RELEASE_COLUMNS, lambda r: "culprit" if d.culprit
               is not None and r["service"] == d.culprit.service and r["version"] == d.culprit.version else ""))
    out.append("<h2>Crash stacks</h2>")
    if not d.crashes:
        out.append('<p class="muted">No crash in this window.</p>')
    for heading, buckets in d.crashes:
        out.append(f"<h3>{escape(heading)}</h3>{html_fragment(buckets)}")
    causes = d.causes.assign(suspect_modules=d.causes["suspect_modules"].map(", ".join)) if len(d.causes) else d.causes
    out.append("<h2>Every deploy, ranked</h2>" + _table(causes, ["rank", "ts", "service", "change", "significant",
                                                                   "score", "suspect_modules"]))
    for r in d.causes.itertuples(index=False) if len(d.causes) else ():
        out.append(f'<p class="{"verdict" if r.significant else "muted"}">{r.rank}. {escape(r.verdict)}</p>')
    out += ["<h2>Action items</h2>",
            "<table><thead><tr><th>Action</th><th>Owner</th><th>Priority</th><th>Due</th><th>Status</th></tr>"
            "</thead><tbody>" + "<tr><td>&nbsp;</td><td></td><td></td><td></td><td></td></tr>" * 3 + "</tbody></table>",
            "<h2>Appendix: timeline (UTC)</h2>",
            _table(d.timeline, [("ts", "time (UTC)"), "service", "version", "kind", "severity", "summary", "count"],
                   lambda r: r["severity"]),
            "</body></html>"]
    return "\n".join(out)
