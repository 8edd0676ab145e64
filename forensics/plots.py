"""Figures for notebooks and reports (matplotlib, no pyplot state).

>>> import forensics as fx
>>> fig = goroutine_states(fx.open())  # an empty incident still draws
>>> fig.axes[0].get_title()
'Goroutines by state'
"""
from __future__ import annotations

from matplotlib.figure import Figure

from .store import Store


def _store(db) -> Store:
    return db.store if hasattr(db, "store") else db


def goroutine_states(db, dump_id: int | None = None, top: int = 15) -> Figure:
    """Horizontal bars: goroutines per state (one dump, or all dumps)."""
    where = "WHERE dump_id = ?" if dump_id is not None else ""
    df = _store(db).query(
        # goroutine profiles (debug=0/1) do not say what a goroutine waits on
        f"SELECT coalesce(state, 'unknown (goroutine profile)') AS state, sum(count) AS n FROM goroutines {where} "
        f"GROUP BY ALL ORDER BY n DESC, state LIMIT {int(top)}",
        [dump_id] if dump_id is not None else None,
    ).df()
    fig = Figure(figsize=(7, 0.35 * max(len(df), 3) + 1))
    ax = fig.add_subplot()
    ax.barh(df["state"][::-1], df["n"][::-1], color="#4c72b0")
    ax.set_xlabel("goroutines")
    ax.set_title("Goroutines by state" + (f" (dump {dump_id})" if dump_id is not None else ""))
    fig.tight_layout()
    return fig


def goroutines_over_time(db, service: str | None = None) -> Figure:
    """Goroutine count of each dump against its time: a leak climbs."""
    where = "WHERE ts IS NOT NULL" + (" AND service = ?" if service else "")
    df = _store(db).query(
        f"SELECT ts, total_goroutines, kind FROM dumps {where} ORDER BY ts", [service] if service else None
    ).df()
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    for kind, part in df.groupby("kind"):
        ax.plot(part["ts"], part["total_goroutines"], marker="o", linestyle="-" if kind == "goroutines" else "",
                label=kind)
    ax.set_ylabel("goroutines")
    ax.set_title("Goroutines per dump" + (f" ({service})" if service else ""))
    if len(df):
        ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
