"""Request latency and errors from spans; traces as trees.

>>> import forensics as fx
>>> latency(fx.open().store).empty
True
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

from ..db.store import Store

if TYPE_CHECKING:
    import pandas as pd

_BY = {"service", "version", "pod", "instance", "name", "kind", "format"}
_EVERY = re.compile(r"^\s*(\d+)\s*(s|sec|second|seconds|m|min|minute|minutes|h|hour|hours|d|day|days)\s*$")
_UNITS = {"s": "second", "sec": "second", "m": "minute", "min": "minute", "h": "hour", "d": "day"}


def interval(every: str) -> str:
    """DuckDB INTERVAL text for '5min', '30s', '1h', '1 day'...

    >>> interval("5min"), interval("30 s")
    ('5 minute', '30 second')
    """
    m = _EVERY.match(every)
    if not m:
        raise ValueError(f"every must look like 30s, 5min, 1h or 1d, not {every!r}")
    unit = m.group(2)
    unit = _UNITS.get(unit, unit.rstrip("s"))
    return f"{int(m.group(1))} {unit}"


def latency(store: Store, by: Iterable[str] | str = ("service", "name"), every: str | None = "5min",
            q: Iterable[float] = (0.5, 0.9, 0.99), service: str | None = None, kind: str | None = "server",
            since=None, until=None, version: str | None = None) -> "pd.DataFrame":
    """Latency quantiles (ms) and error rate of spans per `by` columns and
    time bucket (`every`; None: one row per group over all time). By
    default only server spans count (a request's latency as its callers see
    it); kind=None takes every span. `version`, `pod` and `instance` are
    each span's release and origin as span_releases resolves them (its
    resource, its pod, the deploys). Columns: bucket, the by columns,
    requests, errors, error_rate, p50_ms... (one per q), max_ms.

    >>> import forensics as fx
    >>> list(latency(fx.open().store, by=("service", "version"), every=None).columns)[:4]
    ['bucket', 'service', 'version', 'requests']
    """
    by = [by] if isinstance(by, str) else list(by)
    bad = set(by) - _BY
    if bad:
        raise ValueError(f"by must be among {sorted(_BY)}, not {sorted(bad)}")
    qs = [float(x) for x in q]
    where, params = ["duration_ns IS NOT NULL", "start_ts IS NOT NULL"], []
    for column, value in (("service", service), ("kind", kind), ("version", version)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("start_ts >= ?")
        params.append(since)
    if until is not None:
        where.append("start_ts < ?")
        params.append(until)
    bucket = f"time_bucket(INTERVAL '{interval(every)}', start_ts)" if every else "min(start_ts) OVER ()"
    quantiles = ", ".join(f"quantile_cont(duration_ns, {x}) / 1e6 AS p{_pct(x)}_ms" for x in qs)
    keys = ", ".join(by)
    sql = f"""
        SELECT bucket, {keys}, count(*) AS requests, count(*) FILTER (WHERE status_code = 'error') AS errors,
               errors / requests AS error_rate, {quantiles}, max(duration_ns) / 1e6 AS max_ms
        FROM (SELECT *, {bucket} AS bucket FROM (SELECT *, ts AS start_ts FROM span_releases)
              WHERE {' AND '.join(where)})
        GROUP BY bucket, {keys} ORDER BY bucket, {keys}"""
    return store.query(sql, params).df()


def _pct(x: float) -> str:
    text = f"{x * 100:g}"
    return text.replace(".", "_")


def slowest_traces(store: Store, n: int = 10, service: str | None = None, since=None, until=None
                   ) -> "pd.DataFrame":
    """The n longest traces (through `service`, starting from `since` to
    `until` when given): trace_id, root service and name, start, duration
    (the root span's, else the spans' extent), spans, errors."""
    conds, params = [], []
    if service:
        conds.append("trace_id IN (SELECT trace_id FROM spans WHERE service = ?)")
        params.append(service)
    for cond, value in (("trace_id IN (SELECT trace_id FROM spans GROUP BY trace_id HAVING min(start_ts) >= ?)", since),
                        ("trace_id IN (SELECT trace_id FROM spans GROUP BY trace_id HAVING min(start_ts) <= ?)", until)):
        if value is not None:
            conds.append(cond)
            params.append(value)
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    sql = f"""
        SELECT trace_id,
               any_value(service ORDER BY parent_span_id NULLS FIRST, start_ns) AS root_service,
               any_value(name ORDER BY parent_span_id NULLS FIRST, start_ns) AS root_name,
               min(start_ts) AS start,
               coalesce(max(duration_ns) FILTER (WHERE parent_span_id IS NULL),
                        max(start_ns + duration_ns) - min(start_ns)) / 1e6 AS duration_ms,
               count(*) AS spans, count(*) FILTER (WHERE status_code = 'error') AS errors,
               list(DISTINCT service ORDER BY service) AS services
        FROM spans {where} GROUP BY trace_id ORDER BY duration_ms DESC NULLS LAST, trace_id LIMIT {int(n)}"""
    return store.query(sql, params).df()


def trace_tree(store: Store, trace_id: str) -> "pd.DataFrame":
    """One trace as a tree, depth-first in start order: depth, service,
    name (indented by depth), offset from the trace start and duration (ms),
    status, span ids. Spans whose parent is missing are roots."""
    import pandas as pd

    rows = store.query(
        "SELECT span_id, parent_span_id, service, name, kind, start_ns, duration_ns, status_code FROM spans "
        "WHERE trace_id = ? ORDER BY start_ns NULLS LAST, span_id", [trace_id.lower()]).fetchall()
    ids = {r[0] for r in rows}
    children: dict[str | None, list[tuple]] = {}
    for r in rows:
        children.setdefault(r[1] if r[1] in ids else None, []).append(r)
    start = min((r[5] for r in rows if r[5] is not None), default=None)
    out, seen = [], set()

    def walk(parent, depth):
        for r in children.get(parent, []):
            if r[0] in seen:  # a span listed twice (Zipkin shared spans) or a cycle
                continue
            seen.add(r[0])
            out.append((depth, r[2], "  " * depth + (r[3] or ""), r[4],
                        (r[5] - start) / 1e6 if r[5] is not None and start is not None else None,
                        r[6] / 1e6 if r[6] is not None else None, r[7], r[0], r[1]))
            walk(r[0], depth + 1)

    walk(None, 0)
    return pd.DataFrame(out, columns=["depth", "service", "name", "kind", "offset_ms", "duration_ms", "status",
                                      "span_id", "parent_span_id"])
