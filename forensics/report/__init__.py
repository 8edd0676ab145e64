"""Postmortem reports: the incident database as one HTML file or Markdown,
in the order a postmortem is read:

1. executive summary: the root cause in one sentence (release, module and
   both versions), what happened, impact, detection and mitigation;
2. key events (at most about 30 rows; the whole timeline is the appendix);
3. evidence, one block per claim of the verdict: its figure, its test,
   statistic and p-value, the releases and instances, the files it came from;
4. figures not already shown (the timeline, crashes, the slowest trace);
5. releases (``releases()``), crash stacks grouped as panicparse groups
   them (each frame with module@version), every deploy ranked, action items;
6. appendix: the timeline.

Every text from the evidence (panic messages, log lines, paths) is escaped
where it is rendered.

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
from ..analysis.releases import releases
from ..analysis.signatures import crash_filter
from ..analysis.stacks import Bucket, stacks_from_store
from ..analysis.timeline import timeline
from ..db.store import Store
from ..errors import ForensicsError
from ..times import naive_utc, utc_now
from .figures import ReportFigure, in_reading_order, render_figures
from .narrative import Culprit, EvidenceBlock, Summary, culprit_of, evidence_blocks, key_events, summary

CRASH_SIGNATURES = 5  # crash stacks shown, most frequent first
INSTANCE = ("An instance is one run of a pod's container, named pod#restart: a restart starts a new one, so "
            "two pods that each restarted once are four instances.")
OTHER_BUCKETS = 3     # buckets shown beside the crashing goroutine's, biggest first
# releases() columns shown, with their headings
RELEASE_COLUMNS = [("service", "service"), ("version", "release"), ("deployed", "deployed (UTC)"),
                   ("instances", "instances"), ("requests", "requests (spans, else logs)"), ("p50_ms", "p50 ms"),
                   ("p99_ms", "p99 ms"), ("error_pct", "error logs %"), ("panics", "panics"), ("restarts", "restarts"),
                   ("goroutine_peak", "goroutine peak"), ("growing_sites", "growing goroutine sites"),
                   ("cpu_shift", "biggest CPU shift")]


@dataclass
class ReportData:
    """What a report shows, computed once for both renderers."""

    title: str
    window: tuple[datetime | None, datetime | None]
    services: list[str]
    summary: Summary
    culprit: Culprit | None
    key_events: pd.DataFrame
    evidence: list[EvidenceBlock]
    figures: list[ReportFigure]
    releases: pd.DataFrame
    crashes: list[tuple[str, list[Bucket]]]  # (heading, buckets) per signature
    causes: pd.DataFrame
    timeline: pd.DataFrame
    generated: datetime = field(default_factory=utc_now)

    def figure(self, key: str) -> ReportFigure | None:
        return next((f for f in self.figures if f.key == key), None)


def _releases(store: Store, services, window, bundle) -> pd.DataFrame:
    df = releases(store, evidence=bundle)
    if services is not None:
        df = df[df["service"].isin([services] if isinstance(services, str) else list(services))]
    if window[0] is not None and len(df):
        df = df[(df["last_seen"].isna() | (df["last_seen"] >= window[0]))
                & (df["first_seen"].isna() | (df["first_seen"] <= window[1]))]
    df = df.assign(error_pct=(df["error_rate"] * 100).round(2),
                   growing_sites=df["growing_sites"].map(lambda s: ", ".join(s) if len(s) else ""))
    return df[[c for c, _ in RELEASE_COLUMNS]].reset_index(drop=True)


def _crashes(store: Store, since, until, services) -> list[tuple[str, list[Bucket]]]:
    """The crashing goroutine's bucket and the biggest others of each signature's first crash."""
    where, params = crash_filter(since, until, services)
    sigs = store.query(f"""
        SELECT p.signature, count(*) AS n, arg_min(p.dump_id, d.ts) AS dump_id, min(d.ts) AS first,
               arg_min(coalesce(r.service, '?') || ' ' || coalesce(r.version, '?'), d.ts) AS release
        FROM panics p JOIN dumps d USING (dump_id) JOIN dump_releases r USING (dump_id)
        WHERE {' AND '.join(where)} GROUP BY p.signature ORDER BY n DESC, first LIMIT {CRASH_SIGNATURES}""",
                       params).fetchall()
    out = []
    for sig, n, dump_id, first, release in sigs:
        found = stacks_from_store(store, dump=dump_id)
        crashing = [b for b in found if b.panic]
        others = sorted((b for b in found if not b.panic), key=lambda b: -b.count)[:OTHER_BUCKETS]
        when = f"{pd.Timestamp(first):%Y-%m-%d %H:%M:%S} UTC" if first is not None else "time unknown"
        out.append((f"{sig}: {n} crash{'es' if n != 1 else ''}, first in {release} at {when}", crashing + others))
    return out


def _in_selection(causes: pd.DataFrame, services, since, until) -> pd.DataFrame:
    """The deploys of the selected services whose release ran within the
    window (deployed before its end, replaced after its start), or one of
    whose symptoms began within it: a window that opens after the culprit
    deploy, on its symptoms, still names it."""
    if services is not None:
        causes = causes[causes["service"].isin([services] if isinstance(services, str) else list(services))]
    if len(causes) and (since is not None or until is not None):
        lo, hi = since or pd.Timestamp.min, until or pd.Timestamp.max
        replaced = causes.sort_values("ts").groupby("service")["ts"].shift(-1).reindex(causes.index)
        ran = (causes["ts"] <= hi) & (replaced.isna() | (replaced >= lo))
        began = causes["evidence"].map(lambda items: any(
            (e.get("flagged") or e.get("new")) and e.get("onset") is not None and pd.notna(e["onset"])
            and lo <= pd.Timestamp(e["onset"]) <= hi for e in items))
        causes = causes[ran | began]
    return causes.reset_index(drop=True)


def _scope(services, since, until) -> str:
    """What a report searched, in words: 'the evidence', or the services and window."""
    parts = []
    if services is not None:
        parts.append("of " + ", ".join([services] if isinstance(services, str) else list(services)))
    if since is not None or until is not None:
        parts.append(f"running from {since:%Y-%m-%d %H:%M} UTC" if since is not None else "")
        parts.append(f"until {until:%Y-%m-%d %H:%M} UTC" if until is not None else "")
    return "the evidence" if not parts else "the selection (deploys " + " ".join(p for p in parts if p) + ")"


def build(store: Store, since=None, until=None, services=None, title: str | None = None,
          figures: bool = True) -> ReportData:
    """Everything the report shows, for a time window and services. A
    database with no evidence is an error, not an empty report."""
    if not store.query("SELECT count(*) FROM sources WHERE status IN ('ok', 'partial')").fetchall()[0][0]:
        raise ForensicsError(f"{store.path} holds no evidence yet: ingest artefacts into it first "
                             "(forensics ingest PATH... --db FILE)")
    since, until = naive_utc(since), naive_utc(until)
    bundle = evidence_from_store(store)  # read once: correlation and release health both weigh it
    causes = correlate(bundle)
    tl = timeline(store, since, until, services, verdict=causes)
    window = (tl["ts"].min(), tl["ts"].max()) if len(tl) else (None, None)
    names = sorted(tl["service"].dropna().unique()) if len(tl) else []
    causes = _in_selection(causes, services, since, until)
    culprit = culprit_of(store, causes)
    drawn = render_figures(store, culprit, tl, since, until, services) if figures else []
    evidence = evidence_blocks(store, culprit, {f.key for f in drawn})
    drawn = in_reading_order(drawn, [b.figure for b in evidence if b.figure])
    if title is None:
        day = f"{window[0]:%Y-%m-%d}" if window[0] is not None else "no dated evidence"
        what = (f"{culprit.service} {culprit.version}" if culprit is not None
                else ", ".join(names) if names else "incident")
        title = f"Postmortem: {what}, {day}"
    return ReportData(
        title=title, window=window, services=names, summary=summary(store, culprit, tl, _scope(services, since, until)),
        culprit=culprit,
        key_events=key_events(tl, culprit, causes), evidence=evidence,
        figures=drawn, releases=_releases(store, services, window, bundle),
        crashes=_crashes(store, since, until, services),
        causes=causes, timeline=tl)


def render(data: ReportData, format: str = "html", figure_dir: str | None = None,  # noqa: A002 - as db.report(format=)
           embed: bool = False) -> str:
    """The report as text. Markdown links its figures as files in
    `figure_dir` (written by :func:`write`) unless `embed` puts them inline."""
    if format == "html":
        from .html import render_html

        return render_html(data)
    if format in ("md", "markdown"):
        from .markdown import render_markdown

        return render_markdown(data, figure_dir, embed)
    raise ValueError(f"unknown report format {format!r}: html or md")


def write(data: ReportData, path, format: str | None = None, embed: bool = False) -> str:  # noqa: A002
    """Write the report to `path` (format from its suffix unless given); a
    Markdown report's figures go to `<stem>_files/` beside it unless
    `embed`. Returns the text written."""
    from pathlib import Path

    path = Path(path)
    fmt = format or ("md" if path.suffix.lower() in (".md", ".markdown") else "html")
    figure_dir = None
    if fmt in ("md", "markdown") and not embed and data.figures:
        figure_dir = f"{path.stem}_files"
        (path.parent / figure_dir).mkdir(parents=True, exist_ok=True)
        for f in data.figures:
            (path.parent / figure_dir / f.filename).write_bytes(f.data)
    text = render(data, fmt, figure_dir, embed)
    path.write_text(text, encoding="utf-8")
    return text
