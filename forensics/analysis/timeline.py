"""The incident timeline: the `timeline` view, filtered, as a DataFrame.

>>> import forensics as fx
>>> list(timeline(fx.open().store).columns)
['ts', 'kind', 'service', 'version', 'pod', 'severity', 'summary', 'ref_table', 'ref_id']
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from ..db.store import Store
from ..text import md_cell
from ..times import naive_utc

if TYPE_CHECKING:
    import pandas as pd

SEVERITIES = ("critical", "error", "warning", "info")


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


def timeline(store: Store, start=None, end=None, services=None, kinds=None, min_severity=None) -> "pd.DataFrame":
    """Timeline rows in time order (ties: deploys and upgrades before what followed them)."""
    where, params = timeline_filter(start, end, services, kinds, min_severity)
    order = ("CASE kind WHEN 'deploy' THEN 0 WHEN 'upgrade' THEN 1 ELSE 2 END")
    return store.query(f"SELECT * FROM timeline WHERE {where} ORDER BY ts, {order}, service, summary",
                       params).df()


def timeline_markdown(df: "pd.DataFrame") -> str:
    """A timeline as a Markdown table (UTC times; cells escaped for Markdown and HTML)."""
    out = ["| time (UTC) | service | version | kind | severity | what |", "| --- | --- | --- | --- | --- | --- |"]
    for r in df.itertuples(index=False):
        ts = r.ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if r.ts is not None else ""
        out.append("| " + " | ".join(md_cell(v) for v in (ts, r.service, r.version, r.kind, r.severity,
                                                             r.summary)) + " |")
    return "\n".join(out) + "\n"
