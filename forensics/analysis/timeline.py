"""The incident timeline: the `timeline` view, filtered and summarised into
what a postmortem reads.

By default (:func:`timeline`) deploys and their upgrades, crashes, restarts,
the onset of each regression correlation found, bursts of error logs and
Kubernetes warnings are rows of their own; goroutine snapshots and profiles
are summarised per service, release and time bucket, and routine Kubernetes
events (scheduled, pulled, started) are left out. ``every_row=True`` gives
every row of the view.

>>> import forensics as fx
>>> list(timeline(fx.open().store).columns)
['ts', 'kind', 'service', 'version', 'pod', 'severity', 'summary', 'signature', 'count', 'until', 'ref_table', 'ref_id']
"""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Iterable

from ..db.store import Store
from ..text import md_cell
from ..times import naive_utc

if TYPE_CHECKING:
    import pandas as pd

SEVERITIES = ("critical", "error", "warning", "info")
COLUMNS = ["ts", "kind", "service", "version", "pod", "severity", "summary", "signature", "count", "until",
           "ref_table", "ref_id"]
# Bucket sizes (seconds), the smallest giving at most `buckets` over a window:
# 12 for summarised rows, more for the figures' series.
NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
BUCKETS = 12
ERROR_BURST_GAP = timedelta(minutes=5)  # error minutes closer than this are one burst
REPEATS = 5  # more than this many crashes (restarts, warnings) of one kind in one bucket become one row
# What the onset of each kind of regression is called.
ONSET_OF = {"latency": "latency regression", "goroutines": "goroutine leak", "panic": "new crash",
            "errors": "error-rate rise", "restarts": "restart loop", "profile": "profile shift"}


def timeline_filter(start=None, end=None, services: str | Iterable[str] | None = None,
                    kinds: Iterable[str] | None = None, min_severity: str | None = None) -> tuple[str, list]:
    """WHERE clause and parameters of a timeline selection."""
    where, params = ["TRUE"], []
    if start is not None:
        where.append("ts >= ?")
        params.append(naive_utc(start))
    if end is not None:
        where.append("ts <= ?")
        params.append(naive_utc(end))
    if services is not None:
        services = [services] if isinstance(services, str) else list(services)
        # Deploys of other services stay out; rows with no service (unattributed logs) too.
        where.append(f"service IN ({', '.join('?' for _ in services)})")
        params += services
    if kinds is not None:
        kinds = list(kinds)
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        params += kinds
    if min_severity is not None:
        if min_severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}")
        keep = SEVERITIES[: SEVERITIES.index(min_severity) + 1]
        # Deploys and upgrades are what every other row is read against: no
        # severity filter hides them.
        where.append(f"(severity IN ({', '.join('?' for _ in keep)}) OR kind IN ('deploy', 'upgrade'))")
        params += list(keep)
    return " AND ".join(where), params


def timeline(store: Store, start=None, end=None, services=None, kinds=None, min_severity=None,
             every_row: bool = False, onsets: bool = True, verdict: "pd.DataFrame | None" = None) -> "pd.DataFrame":
    """Timeline rows in time order (ties: deploys and upgrades before what
    followed them), summarised unless `every_row`; `onsets` adds the onset of
    each regression :func:`~forensics.analysis.correlate.correlate` found (in
    `verdict`, its result, when the caller has it already)."""
    import pandas as pd

    where, params = timeline_filter(start, end, services, kinds, min_severity)
    rows = store.query(f"SELECT *, CAST(NULL AS TIMESTAMP) AS until FROM timeline WHERE {where}", params).df()
    found = _onsets(store, start, end, services, kinds, min_severity, verdict) if onsets else None
    if found is not None and len(found):
        rows = pd.concat([rows, found.astype({"ts": rows["ts"].dtype})], ignore_index=True)
    if not every_row and len(rows):
        rows = summarise(_sorted(rows))  # a summary row is its group's first: in time order, whatever the scan's
    return _sorted(rows)[COLUMNS].reset_index(drop=True)


def _sorted(rows: "pd.DataFrame") -> "pd.DataFrame":
    """Rows in time order, deploys and upgrades first among equal times, then by
    what they say: the same rows give the same order however they were read."""
    rows = rows.assign(_tie=rows["kind"].map({"deploy": 0, "upgrade": 1}).fillna(2))
    keys = ["ts", "_tie", "service", "summary", "version", "pod", "ref_table", "ref_id"]
    return rows.sort_values([k for k in keys if k in rows.columns], kind="stable", na_position="last")


def bucket_seconds(first, last, buckets: int = BUCKETS, at_least: int = 60) -> int:
    """The bucket size (seconds, at least `at_least`) giving at most `buckets`
    buckets from `first` to `last`.

    >>> import pandas as pd
    >>> bucket_seconds(pd.Timestamp("2026-01-01 02:00"), pd.Timestamp("2026-01-01 06:15"))
    1800
    >>> bucket_seconds(pd.Timestamp("2026-01-01 05:06:48"), pd.Timestamp("2026-01-01 05:07:27"), 60, 1)
    1
    """
    span = (last - first).total_seconds() if first is not None and last is not None else 0
    return next((x for x in NICE_SECONDS if x >= at_least and span / x <= buckets), NICE_SECONDS[-1])


def summarise(rows: "pd.DataFrame") -> "pd.DataFrame":
    """What matters of timeline rows: routine Kubernetes events out; snapshots
    and profiles per service, release and bucket; error minutes as bursts;
    repeated crashes, restarts and warnings of one kind per bucket as one row."""
    import pandas as pd

    rows = rows[(rows["kind"] != "k8s") | (rows["severity"] != "info")]
    if not len(rows):
        return rows
    bucket = rows["ts"].dt.floor(f"{bucket_seconds(rows['ts'].min(), rows['ts'].max())}s")
    parts = [rows[~rows["kind"].isin(["goroutines", "profile", "errors", "panic", "race", "restart", "k8s"])]]
    for keys, g in rows[rows["kind"].isin(["goroutines", "profile"])].groupby(
            ["kind", "service", "version", bucket], dropna=False, sort=False):
        parts.append(_summary_row(g, _snapshots(g) if keys[0] == "goroutines" else _profiles(g), count=len(g)))
    parts.append(_bursts(rows[rows["kind"] == "errors"]))
    repeated = rows[rows["kind"].isin(["panic", "race", "restart", "k8s"])]
    # what repeats: a crash's signature, a restart's pod and container, a warning's reason
    restarted = repeated["summary"].str.extract(r"^restart \d+ of (\S+)")[0]
    key = repeated["signature"].fillna(restarted).fillna(repeated["summary"].str.split(":").str[0])
    for _, g in repeated.groupby([repeated["kind"], repeated["service"], key, bucket], dropna=False, sort=False):
        if len(g) <= REPEATS:
            parts.append(g)
        else:
            first = g.iloc[0]
            parts.append(_summary_row(g, f"{len(g)}× {first['summary']}", severity=first["severity"]))
    return pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else rows.head(0)


def _pods(g) -> str:
    n = g["pod"].nunique()
    return f" of {n} pods" if n > 1 else (f" of {g['pod'].dropna().iloc[0]}" if n else "")


def _snapshots(g) -> str:
    lo, hi = int(g["count"].min()), int(g["count"].max())
    span = f"{lo:,} goroutines" if lo == hi else f"{lo:,} to {hi:,} goroutines"
    return f"{len(g)} goroutine snapshot{'s' if len(g) > 1 else ''}{_pods(g)}: {span}"


def _profiles(g) -> str:
    kinds = g["summary"].str.extract(r"^(\S+) profile")[0].fillna("other").value_counts()
    each = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    return f"{len(g)} profile{'s' if len(g) > 1 else ''}{_pods(g)} ({each})"


def _summary_row(g, summary: str, severity: str = "info", count: int | None = None) -> "pd.DataFrame":
    """One row standing for `g`: its first time, `until` its last; `count`
    what it counts (default: the rows' counts summed: error logs, crashes)."""
    first = g.iloc[0]
    pods = g["pod"].dropna().unique()
    return g.head(1).assign(summary=summary, severity=severity,
                            count=count if count is not None else int(g["count"].fillna(1).sum()),
                            until=g["ts"].max(), pod=pods[0] if len(pods) == 1 else None,
                            signature=first["signature"])


def _bursts(errors: "pd.DataFrame") -> "pd.DataFrame":
    """Error-log minutes of a service and release merged into bursts (gaps
    under ERROR_BURST_GAP), each with its count, length and first message."""
    import pandas as pd

    out = []
    for _, g in errors.sort_values("ts").groupby(["service", "version"], dropna=False, sort=False):
        burst = (g["ts"].diff() > ERROR_BURST_GAP).cumsum()
        for _, b in g.groupby(burst):
            n = int(b["count"].sum())
            first = b.iloc[0]["summary"].split(", first: ", 1)
            minutes = max(1, round((b["ts"].max() - b["ts"].min()).total_seconds() / 60) + 1)
            text = (f"{n} error log{'s' if n > 1 else ''} in {minutes} min{_pods(b)}"
                    + (f", first: {first[1]}" if len(first) > 1 else ""))
            out.append(_summary_row(b, text, severity="error"))
    return pd.concat(out, ignore_index=True) if out else errors.head(0)


def _onsets(store: Store, start, end, services, kinds, min_severity, verdict) -> "pd.DataFrame":
    """One row per regression of each significant deploy: when it began."""
    import pandas as pd

    from .correlate import correlate, evidence_from_store

    if (kinds is not None and "onset" not in kinds) or min_severity == "critical":
        return pd.DataFrame(columns=COLUMNS)
    wanted = None if services is None else ({services} if isinstance(services, str) else set(services))
    found = {}
    if verdict is None:
        verdict = correlate(evidence_from_store(store))
    for row in verdict.itertuples(index=False):
        if not row.significant or (wanted is not None and row.service not in wanted):
            continue
        for kind, first, shown in regression_onsets(row.evidence):
            found[(row.service, kind, shown["key"])] = dict(
                ts=first["onset"], kind="onset", service=row.service, version=first.get("measured_in", row.version),
                pod=None, severity="error", signature=shown["key"] if kind == "panic" else None, count=1,
                summary=f"{ONSET_OF.get(kind, kind)} begins, blamed on {row.service} {row.version}: {first['text']}"
                + ("" if first is shown else f"; significant later, in {shown.get('measured_in')}"),
                until=None, ref_table="correlate", ref_id=f"{row.service}:{row.version}:{kind}")
    out = pd.DataFrame(list(found.values()), columns=COLUMNS)
    if start is not None:
        out = out[out["ts"] >= naive_utc(start)]
    if end is not None:
        out = out[out["ts"] <= naive_utc(end)]
    return out


def regression_onsets(evidence: list[dict]) -> list[tuple[str, dict, dict]]:
    """(kind, first, claimed) per regression a verdict row claims (flagged
    items and new crashes; latency from logs and spans counts once), earliest
    first: `first` is the item dated earliest among those of the same symptom
    (a leak starts small, before it is significant), `claimed` the one claimed.

    >>> item = dict(kind="goroutines", key="f", onset=1, flagged=True)
    >>> [k for k, _, _ in regression_onsets([item, dict(item, onset=0, flagged=False)])]
    ['goroutines']
    """
    by_key: dict = {}
    for e in evidence:
        by_key.setdefault((e["kind"], e["key"] if e["kind"] != "latency" else ""), []).append(e)
    out = []
    for (kind, _), items in by_key.items():
        claimed = [e for e in items if e.get("flagged") or e.get("new")]
        dated = [e for e in items if e.get("onset") is not None and e["onset"] == e["onset"]]
        if claimed and dated:
            out.append((kind, min(dated, key=lambda e: e["onset"]), claimed[0]))
    return sorted(out, key=lambda x: x[1]["onset"])


def timeline_markdown(df: "pd.DataFrame") -> str:
    """A timeline as a Markdown table (UTC times; cells escaped for Markdown and HTML)."""
    out = ["| time (UTC) | service | version | kind | severity | what |", "| --- | --- | --- | --- | --- | --- |"]
    for r in df.itertuples(index=False):
        ts = r.ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if r.ts is not None else ""
        out.append("| " + " | ".join(md_cell(v) for v in (ts, r.service, r.version, r.kind, r.severity,
                                                             r.summary)) + " |")
    return "\n".join(out) + "\n"
