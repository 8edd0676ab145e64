"""Postmortem reports: the incident database as one HTML file or Markdown.

Sections follow the usual SRE postmortem template: summary, impact, timeline
(UTC), detection, suspected causes (the correlation verdict with its
evidence), panic signatures with a representative stack, goroutine growth,
profile shifts and an empty action-items table. Every text that came from
the evidence (panic messages, log lines, paths) is escaped where it is
rendered.

A database with no evidence gives no report:

>>> from forensics.db.store import Store
>>> try:
...     build(Store())
... except ForensicsError as exc:
...     print(str(exc)[:38])
:memory: holds no evidence yet: ingest
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from ..analysis.correlate import correlate, evidence_from_store
from ..analysis.leaks import goroutine_growth
from ..analysis.signatures import panic_signatures
from ..analysis.timeline import timeline, timeline_filter
from ..db.store import Store
from ..errors import ForensicsError
from ..times import utc_now

MAX_TIMELINE_ROWS = 300


@dataclass
class ReportData:
    """What a report shows, computed once for both renderers."""

    title: str
    window: tuple[datetime | None, datetime | None]
    services: list[str]
    summary: list[str]
    impact: pd.DataFrame
    timeline: pd.DataFrame
    timeline_total: int
    detection: list[str]
    causes: pd.DataFrame
    signatures: list[dict]
    growth: pd.DataFrame
    profile_shifts: list[str]
    figure_png: bytes | None = None
    generated: datetime = field(default_factory=utc_now)


def _stack(store: Store, dump_id: int, goroutine_id: int | None) -> list[str]:
    rows = store.query("""
        SELECT f.function, f.file, f.line FROM frames f JOIN goroutines g
          ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq
        WHERE g.dump_id = ? AND g.goroutine_id = coalesce(?, g.goroutine_id)
          AND g.seq = (SELECT min(seq) FROM goroutines x WHERE x.dump_id = ?
                       AND x.goroutine_id = coalesce(?, x.goroutine_id))
        ORDER BY f.depth LIMIT 40""", [dump_id, goroutine_id, dump_id, goroutine_id]).fetchall()
    return [f"{fn}\n\t{file}:{line}" for fn, file, line in rows]


def _impact(store: Store, where: str, params: list) -> pd.DataFrame:
    return store.query(f"""
        WITH t AS (SELECT * FROM timeline WHERE {where})
        SELECT s.service,
               (SELECT count(*) FROM t WHERE t.service = s.service AND kind = 'panic') AS panics,
               (SELECT count(DISTINCT regexp_extract(summary, '\\[([0-9a-f]+)\\]$', 1)) FROM t
                 WHERE t.service = s.service AND kind = 'panic') AS signatures,
               (SELECT count(*) FROM t WHERE t.service = s.service AND kind = 'restart') AS restarts,
               (SELECT count(*) FROM t WHERE t.service = s.service AND kind = 'deploy') AS deploys,
               (SELECT count(*) FROM logs l WHERE l.service = s.service AND l.level IN ('error', 'fatal', 'panic')
                  AND l.ts BETWEEN (SELECT min(ts) FROM t) AND (SELECT max(ts) FROM t)) AS error_logs,
               (SELECT count(*) FROM logs l WHERE l.service = s.service
                  AND l.ts BETWEEN (SELECT min(ts) FROM t) AND (SELECT max(ts) FROM t)) AS log_records,
               (SELECT round(quantile_cont(TRY_CAST(json_extract_string(l.attributes, '$.latency_ms') AS DOUBLE),
                  0.99), 1) FROM logs l WHERE l.service = s.service
                  AND l.ts BETWEEN (SELECT min(ts) FROM t) AND (SELECT max(ts) FROM t)) AS p99_ms
        FROM (SELECT DISTINCT service FROM t WHERE service IS NOT NULL) s ORDER BY panics DESC, service""",
        params).df()


def build(store: Store, since=None, until=None, services=None, title: str | None = None,
          figure: bool = True) -> ReportData:
    """Everything the report shows, for a time window and services. A
    database with no evidence is an error, not an empty report."""
    if not store.query("SELECT count(*) FROM sources WHERE status IN ('ok', 'partial')").fetchall()[0][0]:
        raise ForensicsError(f"{store.path} holds no evidence yet: ingest artefacts into it first "
                             "(forensics ingest PATH... --db FILE)")
    where, params = timeline_filter(since, until, services)
    tl = timeline(store, since, until, services)
    window = (tl["ts"].min(), tl["ts"].max()) if len(tl) else (None, None)
    names = sorted(s for s in tl["service"].dropna().unique()) if len(tl) else []
    causes = correlate(evidence_from_store(store))
    if services is not None:
        wanted = [services] if isinstance(services, str) else list(services)
        causes = causes[causes["service"].isin(wanted)]
    if window[0] is not None:
        causes = causes[(causes["ts"] >= window[0]) & (causes["ts"] <= window[1])]
    impact = _impact(store, where, params)
    sig = panic_signatures(store)
    if window[0] is not None and len(sig):
        sig = sig[(sig["last_seen"] >= window[0]) & (sig["first_seen"] <= window[1])]
    if services is not None and len(sig):
        sig = sig[sig["services"].map(lambda s: bool(set(s) & set(wanted)))]
    signatures = []
    for r in sig.head(10).itertuples(index=False):
        gid = store.query("SELECT goroutine_id FROM panics WHERE dump_id = ? ORDER BY seq LIMIT 1",
                     [int(r.example_dump)]).fetchall()
        signatures.append(dict(signature=r.signature, kind=r.kind, message=r.example_message, count=int(r.count),
                               top_function=r.top_function, first_seen=r.first_seen, last_seen=r.last_seen,
                               versions=list(r.versions), services=list(r.services),
                               stack=_stack(store, int(r.example_dump), gid[0][0] if gid else None)))
    growth = goroutine_growth(store)
    if len(growth) and "leak" in growth:
        growth = growth[growth["leak"] & growth["instance"].isna()]  # one row per site, over its instances
    summary, detection = _narrative(tl, causes, impact)
    shifts = [e["text"] for row in causes.itertuples(index=False) for e in row.evidence if e["kind"] == "profile"]
    png = None
    if figure and len(tl):
        import io

        from ..plots import plot_timeline

        fig = plot_timeline(store, since, until, services, rows=tl)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        png = buf.getvalue()
    return ReportData(
        title=title or ("Postmortem: " + (", ".join(names) if names else "incident")),
        window=window, services=names, summary=summary, impact=impact,
        timeline=tl.head(MAX_TIMELINE_ROWS), timeline_total=len(tl), detection=detection, causes=causes,
        signatures=signatures, growth=growth, profile_shifts=shifts, figure_png=png)


def _narrative(tl: pd.DataFrame, causes: pd.DataFrame, impact: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Summary and detection sentences (plain text; renderers escape them)."""
    summary, detection = [], []
    if not len(tl):
        return ["No evidence in this window."], []
    summary.append(f"Window: {tl['ts'].min():%Y-%m-%d %H:%M:%S} to {tl['ts'].max():%Y-%m-%d %H:%M:%S} UTC.")
    if len(impact):
        total = impact[["panics", "restarts", "error_logs"]].sum()
        summary.append(f"{int(total['panics'])} panics, {int(total['restarts'])} restarts and "
                       f"{int(total['error_logs'])} error-level log records across {len(impact)} services.")
    flagged = causes[causes["significant"]] if len(causes) else causes
    if len(flagged):
        summary.append("Most likely cause: " + flagged.iloc[0]["verdict"])
    else:
        summary.append("No deploy in this window is followed by a significant regression.")
    first_bad = tl[tl["severity"].isin(["critical", "error"]) & (tl["kind"] != "errors")]
    if len(first_bad):
        row = first_bad.iloc[0]
        detection.append(f"First failure: {row['ts']:%Y-%m-%d %H:%M:%S} UTC, {row['kind']} in "
                         f"{row['service']}: {row['summary']}")
        before = tl[(tl["kind"] == "deploy") & (tl["service"] == row["service"]) & (tl["ts"] <= row["ts"])]
        if len(before):
            d = before.iloc[-1]
            detection.append(f"{(row['ts'] - d['ts']).total_seconds():.0f} s after the deploy of "
                             f"{d['service']} {d['version']} at {d['ts']:%H:%M:%S} UTC.")
    for row in causes.itertuples(index=False) if len(causes) else ():
        if row.onset:
            detection.append(f"{row.service} {row.version}: {row.onset} (change-point detection).")
    return summary, detection


def render(data: ReportData, format: str = "html") -> str:  # noqa: A002 - as db.report(format=)
    if format == "html":
        from .html import render_html

        return render_html(data)
    if format in ("md", "markdown"):
        from .markdown import render_markdown

        return render_markdown(data)
    raise ValueError(f"unknown report format {format!r}: html or md")
