"""Crash signatures: the same bug, counted across dumps, versions and time."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..db.store import Store

if TYPE_CHECKING:
    import pandas as pd

# Each signature's example: its first crash (by time, then file and place in it: ids follow no order).
_FIRST = "ORDER BY p.ts NULLS LAST, s.path, d.start_line, p.dump_id"
PANIC_SIGNATURES_SQL = f"""
SELECT
    p.signature,
    any_value(p.kind {_FIRST}) AS kind,
    any_value(p.normalized_message {_FIRST}) AS message,
    any_value(p.top_function {_FIRST}) AS top_function,
    count(DISTINCT p.dump_id) AS count,
    min(p.ts) AS first_seen,
    max(p.ts) AS last_seen,
    coalesce(list(DISTINCT r.version ORDER BY semver_key(r.version), r.version) FILTER (WHERE r.version IS NOT NULL),
             []) AS versions,
    arg_min(r.version, p.ts) AS first_seen_version,
    coalesce(list(DISTINCT r.service ORDER BY r.service) FILTER (WHERE r.service IS NOT NULL), []) AS services,
    count(DISTINCT r.instance) AS instances,
    any_value(p.dump_id {_FIRST}) AS example_dump,
    any_value(s.path {_FIRST}) AS example_source,
    any_value(p.message {_FIRST}) AS example_message
FROM panics p
JOIN dumps d USING (dump_id)
JOIN dump_releases r USING (dump_id)  -- the release that ran: from the row, its pod, the deploys
JOIN sources s ON s.source_id = d.source_id
GROUP BY p.signature
ORDER BY count DESC, first_seen NULLS LAST, p.signature
"""


def panic_signatures(store: Store) -> "pd.DataFrame":
    """One row per distinct crash: signature, kind, message (numbers
    normalised), top_function, count of dumps, first/last seen, the
    releases it was seen in (`versions`, resolved as in dump_releases) and
    the first (`first_seen_version`), services, instances and an example dump.

    >>> import forensics as fx
    >>> list(panic_signatures(fx.open().store).columns)[:6]
    ['signature', 'kind', 'message', 'top_function', 'count', 'first_seen']
    """
    df = store.query(PANIC_SIGNATURES_SQL).df()
    for col in ("versions", "services"):
        df[col] = df[col].apply(list)
    return df


def crash_filter(since=None, until=None, services=None) -> tuple[list[str], list]:
    """Conditions and parameters selecting crashes (a dump's first panic, not
    a data race) by time and service, on `panics p JOIN dumps d JOIN
    dump_releases r`: what the report's crash stacks and the crash figures select.

    >>> crash_filter(services="orders")
    (['p.seq = 0', "p.kind <> 'race'", 'r.service IN (?)'], ['orders'])
    """
    where, params = ["p.seq = 0", "p.kind <> 'race'"], []
    for cond, value in (("d.ts >= ?", since), ("d.ts <= ?", until)):
        if value is not None:
            where.append(cond)
            params.append(value)
    if services is not None:
        wanted = [services] if isinstance(services, str) else list(services)
        where.append(f"r.service IN ({', '.join('?' for _ in wanted)})")
        params += wanted
    return where, params
