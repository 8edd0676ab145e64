"""The report as one self-contained HTML file: inline CSS, the timeline
figure as an embedded PNG, no scripts and no network fetches; every text
from the evidence escaped with html.escape. Prints cleanly (print CSS)."""
from __future__ import annotations

import base64
from html import escape

import pandas as pd

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.7em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }
.meta { color: #666; } table { border-collapse: collapse; width: 100%; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: #f4f5f7; } tr.critical td { background: #fdecea; } tr.error td { background: #fff4e5; }
tr.warning td { background: #fffbe6; } pre { background: #f6f8fa; padding: .7em; overflow-x: auto; font-size: 12px; }
img { max-width: 100%; } .verdict { font-weight: 600; } .muted { color: #777; }
@media print { body { max-width: none; margin: 0; } h2 { page-break-after: avoid; } tr, pre, img { page-break-inside: avoid; } }
"""


def _e(value) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return escape(value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
    return escape(str(value))


def _table(df: pd.DataFrame, columns: list[str], row_class: str | None = None) -> str:
    if df is None or not len(df):
        return '<p class="muted">None.</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for r in df.to_dict("records"):
        cls = f' class="{escape(str(r.get(row_class)))}"' if row_class else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{_e(r.get(c))}</td>" for c in columns) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(d) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(d.title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{escape(d.title)}</h1>",
           f'<p class="meta">Generated {d.generated:%Y-%m-%d %H:%M} UTC by forensics. Services: '
           f"{escape(', '.join(d.services) or 'none')}.</p>",
           "<h2>Summary</h2>", "".join(f"<p>{escape(s)}</p>" for s in d.summary)]
    if d.figure_png:
        out.append('<img alt="Incident timeline" src="data:image/png;base64,'
                   + base64.b64encode(d.figure_png).decode() + '">')
    out += ["<h2>Impact</h2>", _table(d.impact, list(d.impact.columns))]
    out += ["<h2>Timeline (UTC)</h2>",
            _table(d.timeline, ["ts", "service", "version", "kind", "severity", "summary"], row_class="severity")]
    if d.timeline_total > len(d.timeline):
        out.append(f'<p class="muted">{d.timeline_total - len(d.timeline)} more rows: '
                   f"<code>forensics timeline --db ...</code></p>")
    out += ["<h2>Detection</h2>", "".join(f"<p>{escape(s)}</p>" for s in d.detection) or
            '<p class="muted">No failure in this window.</p>']
    out.append("<h2>Suspected causes</h2>")
    causes = d.causes.assign(suspect_modules=d.causes["suspect_modules"].map(", ".join)) if len(d.causes) else d.causes
    out.append(_table(causes, ["rank", "ts", "service", "change", "significant", "score", "suspect_modules"]))
    for r in d.causes.itertuples(index=False) if len(d.causes) else ():
        cls = "verdict" if r.significant else "muted"
        out.append(f'<p class="{cls}">{r.rank}. {escape(r.verdict)}</p>')
        flagged = [e for e in r.evidence if e.get("flagged") or e.get("new")]
        if flagged:
            out.append("<ul>" + "".join(f"<li>{escape(e['text'])} (adjusted p = {e['p_adjusted']:.2g})</li>"
                                        for e in flagged) + "</ul>")
    out.append("<h2>Panic signatures</h2>")
    if not d.signatures:
        out.append('<p class="muted">None.</p>')
    for s in d.signatures:
        out.append(f"<h3>{escape(s['kind'])}: {escape(s['message'].splitlines()[0] if s['message'] else '')}</h3>")
        out.append(f"<p>{s['count']} times, {_e(s['first_seen'])} to {_e(s['last_seen'])} UTC; versions "
                   f"{escape(', '.join(s['versions']) or '?')}; services {escape(', '.join(s['services']) or '?')};"
                   f" signature <code>{escape(s['signature'])}</code>, top function "
                   f"<code>{escape(s['top_function'] or '')}</code>.</p>")
        out.append(f"<pre>{escape(s['message'] or '')}\n\n" + escape("\n".join(s["stack"])) + "</pre>")
    out += ["<h2>Goroutine growth</h2>",
            _table(d.growth, ["service", "form", "by", "site", "snapshots", "first", "last", "peak", "per_minute"])]
    out += ["<h2>Profile shifts</h2>", "".join(f"<p>{escape(s)}</p>" for s in d.profile_shifts) or
            '<p class="muted">No CPU profile shift around a deploy.</p>']
    out += ["<h2>Action items</h2>",
            "<table><thead><tr><th>Action</th><th>Owner</th><th>Priority</th><th>Due</th><th>Status</th></tr>"
            "</thead><tbody>" + "<tr><td>&nbsp;</td><td></td><td></td><td></td><td></td></tr>" * 3 +
            "</tbody></table>", "</body></html>"]
    return "\n".join(out)
