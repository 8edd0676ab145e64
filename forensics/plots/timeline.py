"""The incident on one page: a lane per service with its releases as bands,
deploys (rollbacks red), crashes, restarts, the onset of each regression
and Kubernetes warnings as markers, goroutine snapshots and profiles as a
thin rug (summarised, not a marker each); below, error logs per minute of
each service, from zero.

>>> from forensics.db.store import Store
>>> [ax.get_ylabel() for ax in plot_timeline(Store()).axes]
['', 'error logs / min']
"""
from __future__ import annotations

from matplotlib.lines import Line2D

from ..analysis.timeline import bucket_seconds, timeline, timeline_filter
from ..db.store import Store
from . import style

# Marker, colour, size and legend text of each kind of row drawn in a lane.
MARKS = {
    "deploy": ("v", "#333333", 70, "deploy"),
    "rollback": ("v", style.ROLLBACK, 80, "rollback"),
    "panic": ("o", style.BAD, 70, "crash (panic, fatal error)"),
    "race": ("*", "#9b2226", 80, "data race"),
    "restart": ("X", "#E69F00", 70, "restart"),
    "onset": ("*", "#6A1B9A", 150, "regression begins (correlation)"),
    "k8s": ("^", "#B8860B", 45, "Kubernetes warning"),
}
RUG = "#9E9E9E"  # goroutine snapshots and profiles
ERROR_BUCKETS = 80  # buckets of the error-rate panel over the window (one a minute over a few hours)
# Height of each kind within its lane, so that a crash, its restart and the
# regression it belongs to, often within a minute, stay apart.
OFFSET = {"deploy": 0.2, "rollback": 0.2, "onset": 0.2, "restart": -0.2, "k8s": -0.2}


def plot_timeline(store: Store, since=None, until=None, services=None, rows=None):
    """The timeline figure. `rows`: the summarised timeline of that selection
    when the caller has it already (it is computed otherwise)."""
    rows = rows if rows is not None else timeline(store, since, until, services)
    rows = rows[rows["service"].notna()]
    lanes = sorted(rows["service"].unique())
    fig = style.figure(2.6 + 0.55 * max(len(lanes), 1))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[0.55 * max(len(lanes), 1) + 0.5, 1.7])
    if not len(rows):
        style.empty(top, "no evidence with a time in this window")
        bottom.set_ylabel("error logs / min")
        return fig
    lane = {s: i for i, s in enumerate(reversed(lanes))}  # first service on top
    start, end = rows["ts"].min(), max(rows["ts"].max(), rows["until"].max() if rows["until"].notna().any()
                                       else rows["ts"].max())
    _release_bands(top, style.deploys_of(store, lanes), lane, start, end)
    evidence = rows[rows["kind"].isin(["goroutines", "profile"])]
    for r in evidence.itertuples(index=False):  # a rug of what was sampled, under the markers
        stop = r.until if r.until is not None and r.until == r.until else r.ts
        top.hlines(lane[r.service] - 0.34, r.ts, stop, color=RUG, linewidth=3, zorder=2)
        top.plot([r.ts], [lane[r.service] - 0.34], marker="|", color=RUG, markersize=7, zorder=2)
    drawn = []
    for kind in ("deploy", "rollback", "k8s", "restart", "race", "panic", "onset"):
        if kind in ("deploy", "rollback"):
            part = rows[(rows["kind"] == "deploy")
                        & (rows["summary"].str.endswith(", a rollback") == (kind == "rollback"))]
        else:
            part = rows[rows["kind"] == kind]
        if not len(part):
            continue
        marker, colour, size, _ = MARKS[kind]
        y = part["service"].map(lane) + OFFSET.get(kind, 0.0)
        sizes = [size * (1.6 if c > 1 and kind not in ("deploy", "rollback") else 1) for c in part["count"].fillna(1)]
        top.scatter(part["ts"], y, marker=marker, s=sizes, color=colour, edgecolors="white", linewidths=0.6,
                    zorder=4 if kind != "onset" else 5)
        drawn.append(kind)
    top.set_yticks(range(len(lanes)), [style.label(s, 20) for s in reversed(lanes)])
    top.set_ylim(-0.6, len(lanes) - 0.4)
    top.grid(True, axis="x", **style.GRID)
    _error_rates(bottom, store, since, until, services, lanes, start, end)
    style.utc_axis(bottom)
    fig.suptitle(f"Incident timeline, {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC: releases, deploys, crashes, "
                 "restarts and regressions per service", x=0.01, ha="left", fontsize=11)
    handles = [Line2D([], [], marker=MARKS[k][0], linestyle="", color=MARKS[k][1], markersize=8, label=MARKS[k][3])
               for k in drawn]
    if len(evidence):
        handles.append(Line2D([], [], color=RUG, linewidth=3, label="goroutine snapshots, profiles"))
    handles.append(Line2D([], [], color="#888888", linewidth=8, alpha=0.3, label="a release (name at its start)"))
    style.legend_below(fig, handles, columns=4)
    return fig


def _release_bands(ax, deploys, lane: dict, start, end) -> None:
    """Each release of a service as a band in its lane, named at its start
    (or the window's, for the release in force when it opens)."""
    colour_of = style.release_colours(deploys)
    for service, version, begin, stop in style.release_spans(deploys[deploys["service"].isin(list(lane))], start,
                                                              end):
        colour = colour_of[(service, version)]
        ax.broken_barh([(begin, stop - begin)], (lane[service] - 0.42, 0.84), color=colour, alpha=0.16,
                       linewidth=0, zorder=0)
        ax.annotate(style.label(version, 16), xy=(begin, lane[service] + 0.42), xytext=(7, -2),
                    textcoords="offset points", va="top", ha="left", fontsize=7.5, color=colour, zorder=1)


def _error_rates(ax, store: Store, since, until, services, lanes, start, end) -> None:
    """Error-level log records per minute of each service (buckets sized to the
    window, counts divided by their minutes), from zero."""
    where, params = timeline_filter(since, until, services)
    seconds = bucket_seconds(start, end, ERROR_BUCKETS, 1)
    rates = store.query(
        f"SELECT service, time_bucket(INTERVAL '{seconds} seconds', ts) AS t, count(*) * 60 / {seconds} AS per_minute "
        f"FROM log_releases WHERE level IN ('error', 'fatal', 'panic') AND service IS NOT NULL AND {where} "
        "GROUP BY ALL ORDER BY t", params).df()
    if not len(rates):
        ax.text(0.5, 0.5, "no error-level logs", transform=ax.transAxes, ha="center", va="center", color="#777777")
    colour = style.colours(lanes)
    import pandas as pd

    grid = pd.date_range(pd.Timestamp(start).floor(f"{seconds}s"), end, freq=f"{seconds}s")
    lines = []
    for service, part in rates.groupby("service"):
        series = part.set_index("t")["per_minute"].reindex(grid, fill_value=0)  # quiet buckets are zeros, not gaps
        lines += ax.plot(series.index, series.values, drawstyle="steps-post", color=colour.get(service, "#333333"),
                         linewidth=1.4, label=style.label(service, 20))
    ax.set_ylim(bottom=0)
    ax.set_ylabel("error logs / min")
    if lines:  # handles given: a service named "_x" is not taken for a hidden artist
        ax.legend(handles=lines, loc="upper left", fontsize=8, frameon=False, ncol=min(len(lanes), 6))
