"""Go execution traces, as `go tool trace` exports them to JSON.

Its trace-viewer JSON draws each stretch a goroutine ran on a P as an X
slice named ``G<id> <start function>`` (Go 1.19 and 1.27 alike), GC phases
as slices named ``GC ...``, ``MARK ASSIST``, ``SWEEP`` and the like, and
the Goroutines, Heap and Threads counters as C events.

>>> import forensics as fx
>>> goroutine_time(fx.open().store).empty
True
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..db.store import Store

if TYPE_CHECKING:
    import pandas as pd

_GOROUTINE = r"^G(\d+) (.+)$"
# GC work as both viewers name it: "GC (dedicated)", "GC mark assist", "GC incremental sweep",
# "MARK ASSIST", "SWEEP", "STW...".
_GC = "name LIKE 'GC%' OR name LIKE 'MARK ASSIST%' OR name = 'SWEEP' OR name LIKE 'STW%'"


def _source_filter(source_id: int | None) -> tuple[str, list]:
    return ("AND source_id = ?", [source_id]) if source_id is not None else ("", [])


def goroutine_time(store: Store, source_id: int | None = None) -> "pd.DataFrame":
    """Running time per goroutine start function: function, goroutines,
    slices, running_ms, share (of all goroutine running time), per file."""
    where, params = _source_filter(source_id)
    sql = f"""
        SELECT source_id, regexp_extract(name, '{_GOROUTINE}', 2) AS function,
               count(DISTINCT regexp_extract(name, '{_GOROUTINE}', 1)) AS goroutines, count(*) AS slices,
               sum(dur_ns) / 1e6 AS running_ms,
               sum(dur_ns) / sum(sum(dur_ns)) OVER (PARTITION BY source_id) AS share
        FROM trace_events WHERE ph = 'X' AND regexp_matches(name, '{_GOROUTINE}') {where}
        GROUP BY source_id, function ORDER BY source_id, running_ms DESC, function"""
    return store.query(sql, params).df()


def gc_time(store: Store, source_id: int | None = None) -> "pd.DataFrame":
    """Time in GC slices per kind (GC, mark assist, sweep...) per file: name,
    slices, total_ms, and the file's traced span (trace_ms)."""
    where, params = _source_filter(source_id)
    sql = f"""
        WITH extent AS (SELECT source_id, (max(ts_us + coalesce(dur_ns, 0) / 1e3) - min(ts_us)) / 1e3 AS trace_ms
                        FROM trace_events WHERE ts_us IS NOT NULL GROUP BY source_id)
        SELECT source_id, name, count(*) AS slices, sum(dur_ns) / 1e6 AS total_ms, any_value(trace_ms) AS trace_ms
        FROM trace_events JOIN extent USING (source_id)
        WHERE ph = 'X' AND ({_GC}) {where} GROUP BY ALL ORDER BY source_id, total_ms DESC"""
    return store.query(sql, params).df()


def counter_series(store: Store, name: str = "Goroutines", source_id: int | None = None) -> "pd.DataFrame":
    """A counter over time, one column per series (e.g. Heap: Allocated,
    NextGC), indexed by absolute time."""
    where, params = _source_filter(source_id)
    df = store.query(f"SELECT source_id, ts, series, value FROM trace_counters WHERE name = ? {where} "
                     f"ORDER BY source_id, ts_us", [name, *params]).df()
    if df.empty:
        return df
    return df.pivot_table(index=["source_id", "ts"], columns="series", values="value", aggfunc="last")
