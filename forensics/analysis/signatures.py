"""Crash signatures: the same bug, counted across dumps, versions and time."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..db.store import Store

if TYPE_CHECKING:
    import pandas as pd

PANIC_SIGNATURES_SQL = """
SELECT
    p.signature,
    any_value(p.kind ORDER BY p.dump_id) AS kind,
    any_value(p.normalized_message ORDER BY p.dump_id) AS message,
    any_value(p.top_function ORDER BY p.dump_id) AS top_function,
    count(DISTINCT p.dump_id) AS count,
    min(p.ts) AS first_seen,
    max(p.ts) AS last_seen,
    coalesce(list(DISTINCT p.version ORDER BY p.version) FILTER (WHERE p.version IS NOT NULL), []) AS versions,
    coalesce(list(DISTINCT p.service ORDER BY p.service) FILTER (WHERE p.service IS NOT NULL), []) AS services,
    min(p.dump_id) AS example_dump,
    any_value(s.path ORDER BY p.dump_id) AS example_source,
    any_value(p.message ORDER BY p.dump_id) AS example_message
FROM panics p
JOIN dumps d USING (dump_id)
JOIN sources s ON s.source_id = d.source_id
GROUP BY p.signature
ORDER BY count DESC, first_seen NULLS LAST, p.signature
"""


def panic_signatures(store: Store) -> "pd.DataFrame":
    """One row per distinct crash: signature, kind, message (numbers
    normalised), top_function, count of dumps, first/last seen, versions,
    services and an example dump.
    """
    df = store.query(PANIC_SIGNATURES_SQL).df()
    for col in ("versions", "services"):
        df[col] = df[col].apply(list)
    return df
