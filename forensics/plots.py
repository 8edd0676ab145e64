"""Figures for notebooks and reports (matplotlib, no pyplot state).

Every figure takes the incident's :class:`~forensics.db.store.Store`
(``db.store`` of an :class:`~forensics.Incident`).

>>> fig = goroutine_states(Store())  # an empty incident still draws
>>> fig.axes[0].get_title()
'Goroutines by state'
"""
from __future__ import annotations

import matplotlib.dates as mdates
from matplotlib.figure import Figure

from .analysis.timeline import timeline, timeline_filter
from .db.store import Store


def goroutine_states(store: Store, dump_id: int | None = None, top: int = 15) -> Figure:
    """Horizontal bars: goroutines per state (one dump, or all dumps)."""
    where = "WHERE dump_id = ?" if dump_id is not None else ""
    df = store.query(
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


def goroutines_over_time(store: Store, service: str | None = None) -> Figure:
    """Goroutine count of each dump against its time: a leak climbs."""
    where = "WHERE ts IS NOT NULL" + (" AND service = ?" if service else "")
    df = store.query(
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


# Marker and colour of each timeline kind; panics get one colour per signature.
_KIND_STYLE = {"deploy": ("v", "#2a9d8f"), "upgrade": ("d", "#8ab17d"), "restart": ("X", "#f4a261"),
               "k8s": (".", "#7f7f7f"), "goroutines": ("s", "#457b9d"), "profile": ("P", "#a8dadc"),
               "race": ("*", "#9b2226")}
_SIGNATURE_COLOURS = ["#d62828", "#6a040f", "#e85d04", "#9d0208", "#dc2f02", "#370617"]


def plot_timeline(store: Store, since=None, until=None, services=None, rows=None) -> Figure:
    """The incident on one page: a lane per service with deploys (rollbacks
    hollow), upgrades, restarts, panics coloured by signature, dumps and
    profiles; below, each service's error-level logs per time bucket.
    `rows`: the timeline of that selection when the caller has it already."""
    everything = rows if rows is not None else timeline(store, since, until, services)
    df = everything[everything["service"].notna()]
    lanes = sorted(df["service"].unique())
    fig = Figure(figsize=(11, 1.1 + 0.55 * max(len(lanes), 1) + 2.4))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [max(len(lanes), 1) * 0.55 + 0.6, 2.2]})
    lane_of = {s: i for i, s in enumerate(lanes)}
    panic_rows = df[df["kind"] == "panic"]
    sig_of = panic_rows["summary"].str.extract(r"\[([0-9a-f]+)\]$")[0]
    signatures = list(dict.fromkeys(sig_of.dropna()))
    for kind, part in df[df["kind"] != "panic"].groupby("kind"):
        marker, colour = _KIND_STYLE.get(kind, ("o", "#333333"))
        if kind == "errors":
            continue  # drawn below as a rate
        y = part["service"].map(lane_of)
        face = ["none" if "rollback" in s else colour for s in part["summary"]] if kind == "deploy" else colour
        top.scatter(part["ts"], y, marker=marker, s=70 if kind in ("deploy", "restart") else 40,
                    facecolors=face, edgecolors=colour, label=kind, zorder=3)
    for i, sig in enumerate(signatures):
        rows = panic_rows[sig_of == sig]
        label = rows["summary"].iloc[0].split(" [", 1)[0]
        top.scatter(rows["ts"], rows["service"].map(lane_of), marker="o", s=80,
                    color=_SIGNATURE_COLOURS[i % len(_SIGNATURE_COLOURS)],
                    label=("panic " + sig + ": " + label)[:70], zorder=4)
    top.set_yticks(range(len(lanes)), lanes)
    top.set_ylim(-0.6, max(len(lanes), 1) - 0.4)
    top.grid(axis="x", alpha=0.3)
    top.set_title("Incident timeline (UTC)")
    if len(df):
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    # Error rate: error-level logs per bucket, per service.
    where, params = timeline_filter(since, until, services)
    if len(everything):
        seconds = max((everything["ts"].max() - everything["ts"].min()).total_seconds(), 1.0)
        bucket = max(1, int(seconds / 60))
        rates = store.query(
            f"SELECT service, time_bucket(INTERVAL '{bucket} seconds', ts) AS t, count(*) AS n FROM logs "
            f"WHERE level IN ('error', 'fatal', 'panic') AND service IS NOT NULL AND {where} GROUP BY ALL ORDER BY t",
            params).df()
        for service, part in rates.groupby("service"):
            bottom.plot(part["t"], part["n"], drawstyle="steps-post", marker=".", label=service)
        bottom.set_ylabel(f"error logs / {bucket} s")
        if len(rates):
            bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    bottom.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.tight_layout()
    return fig
