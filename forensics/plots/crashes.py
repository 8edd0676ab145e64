"""Crashes over time, one lane per panic signature, each crash a marker
coloured by the release that crashed, with the affected services' deploys.

>>> from forensics.db.store import Store
>>> plot_crashes(Store()).axes[0].texts[0].get_text()
'no crashes'
"""
from __future__ import annotations

from matplotlib.lines import Line2D

from ..analysis.signatures import crash_filter
from ..db.store import Store
from ..times import naive_utc
from . import style

CRASHES_SQL = """
SELECT d.ts, r.service, r.version, p.signature, p.kind,
       split_part(p.message, chr(10), 1) AS message, p.top_function
FROM panics p JOIN dumps d USING (dump_id) JOIN dump_releases r USING (dump_id)
WHERE d.ts IS NOT NULL {where}
ORDER BY d.ts"""


def plot_crashes(store: Store, since=None, until=None, services=None, top: int = 8):
    """Crashes per signature over time (the `top` most frequent signatures),
    coloured by release."""
    since, until = naive_utc(since), naive_utc(until)
    where, params = crash_filter(since, until, services)
    df = store.query(CRASHES_SQL.format(where="".join(f" AND {w}" for w in where)), params or None).df()
    if not len(df):
        fig = style.figure(2.0)
        style.empty(fig.add_subplot(), "no crashes")
        return fig
    df = df.fillna({"service": "?", "version": "?"})  # a crash whose release is unknown still draws
    counts = df["signature"].value_counts()
    shown = list(counts.index[:top])
    df = df[df["signature"].isin(shown)]
    fig = style.figure(1.9 + 0.55 * len(shown))
    ax = fig.add_subplot()
    lane = {s: i for i, s in enumerate(reversed(shown))}  # the most frequent on top
    deploys = style.deploys_of(store, sorted(df["service"].unique()))
    colour_of = style.release_colours(deploys)
    if df["service"].nunique() == 1:
        style.release_shading(ax, deploys, until if until is not None else max(df["ts"].max(), deploys["ts"].max()),
                              colour_of, start=since)
    style.deploy_lines(ax, deploys, colour_of=colour_of, with_service=df["service"].nunique() > 1,
                       window=(since, until))
    releases = list(dict.fromkeys(zip(df["service"], df["version"])))
    spare = style.colours(releases)
    for (service, version), part in df.groupby(["service", "version"], dropna=False, sort=False):
        colour = colour_of.get((service, version)) or spare[(service, version)]
        ax.scatter(part["ts"], part["signature"].map(lane), s=70, color=colour, edgecolors="white", linewidths=0.8,
                   zorder=3)
    for sig in shown:  # each lane named above its markers: the time axis keeps the whole width
        first = df[df["signature"] == sig].iloc[0]
        where = f" in {first['top_function']}" if first["top_function"] else ""
        ax.text(0.005, lane[sig] + 0.22, style.label(f"{first['service']}: ×{counts[sig]}  {first['message']}{where}",
                                                     150),
                transform=ax.get_yaxis_transform(), fontsize=8, va="bottom", ha="left", color="#333333")
    ax.set_yticks(range(len(shown)), [style.label(s[:8]) for s in reversed(shown)], fontsize=7, family="monospace")
    ax.set_ylim(-0.5, len(shown) - 0.1)
    ax.set_ylabel("signature")
    if since is not None and until is not None and since < until:  # the whole window: no crash after a rollback shows
        ax.set_xlim(since, until)
    style.utc_axis(ax)
    many = "s" if len(shown) > 1 else ""
    fig.suptitle(style.label(f"Crashes over time by panic signature, coloured by release ({len(df)} crash"
                             f"{'es' if len(df) > 1 else ''}, {len(shown)} signature{many})", 110), x=0.01, ha="left")
    handles = [Line2D([], [], marker="o", linestyle="", markersize=8,
                      color=colour_of.get(r) or spare[r], label=style.label(f"{r[0]} {r[1]}", 40)) for r in releases]
    handles.append(Line2D([], [], color=style.ROLLBACK, linestyle="--", label="rollback"))
    style.legend_below(fig, handles, columns=5)
    return fig
