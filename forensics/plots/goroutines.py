"""Goroutines over time, one line per instance (a pod's container run),
coloured by the release it ran, with the leaking site's own count drawn
bold, deploys as lines (rollbacks red) and each release's time shaded.

>>> from forensics.db.store import Store
>>> plot_goroutines(Store()).axes[0].texts[0].get_text()
'no goroutine snapshots'
"""
from __future__ import annotations

from matplotlib.lines import Line2D

from ..analysis.leaks import goroutine_growth, instance_series
from ..analysis.signatures import crash_filter
from ..db.store import Store
from ..times import naive_utc
from . import style

# A snapshot form per figure: one instant is often saved as a debug=2 dump and
# goroutine profiles at once, and their stacks differ.
FORMS = ("dump", "profile", "profile_text")


def leaking_site(store: Store, service: str | None = None):
    """The leaking site most worth showing (service, form, by, site), or None:
    the merged row of goroutine_growth with the most growth, creation sites first."""
    growth = goroutine_growth(store, service)
    leaks = growth[growth["leak"] & growth["instance"].isna()] if len(growth) else growth
    if not len(leaks):
        return None
    leaks = leaks.assign(_creation=leaks["by"] != "creation", _form=leaks["form"].map(FORMS.index))
    best = leaks.sort_values(["_form", "_creation", "growth"], ascending=[True, True, False]).iloc[0]
    return best["service"], best["form"], best["by"], best["site"]


def plot_goroutines(store: Store, service: str | None = None, since=None, until=None, leak=...):
    """Goroutines per instance over time for `service` (default: the one
    whose goroutines leak, else the one with most snapshots). `leak`:
    :func:`leaking_site` of that service when the caller has it already."""
    since, until = naive_utc(since), naive_utc(until)
    fig = style.figure(4.2)
    ax = fig.add_subplot()
    if leak is ...:
        leak = leaking_site(store, service)
    if service is None and leak is not None:
        service = leak[0]
    snaps, counts = instance_series(store, service, ("creation",))
    snaps = snaps[snaps["ts"].notna()]
    if since is not None:
        snaps = snaps[snaps["ts"] >= since]
    if until is not None:
        snaps = snaps[snaps["ts"] <= until]
    if service is None and len(snaps):
        service = snaps["service"].value_counts().index[0] or None
        snaps = snaps[snaps["service"] == (service or "")]
    if not len(snaps):
        style.empty(ax, "no goroutine snapshots")
        return fig
    form = next(f for f in FORMS if (snaps["form"] == f).any()) if leak is None or leak[0] != service else leak[1]
    snaps = snaps[snaps["form"] == form]
    totals = counts.groupby("dump_id")["n"].sum()
    site = leak[3] if leak is not None and leak[0] == service and leak[2] == "creation" else None
    at_site = counts[counts["site"] == site].set_index("dump_id")["n"] if site else None
    deploys = style.deploys_of(store, service)
    colour_of = style.release_colours(deploys)
    window = (since, until if until is not None else snaps["ts"].max())
    style.release_shading(ax, deploys, window[1], colour_of, start=since)
    style.deploy_lines(ax, deploys, colour_of=colour_of, window=window)
    for _, run in snaps.groupby("series", sort=False):
        version = run["version"].dropna().iloc[-1] if run["version"].notna().any() else None
        colour = colour_of.get((service, version), style.DEPLOY)
        ax.plot(run["ts"], run["dump_id"].map(totals).fillna(0), color=colour, linewidth=1, alpha=0.6,
                marker=".", markersize=3)
        if at_site is not None:
            ax.plot(run["ts"], run["dump_id"].map(at_site).fillna(0), color=colour, linewidth=2.6)
    where, params = crash_filter(snaps["ts"].min(), snaps["ts"].max(), service)
    crashes = store.query("SELECT d.ts FROM panics p JOIN dumps d USING (dump_id) JOIN dump_releases r "
                          f"USING (dump_id) WHERE {' AND '.join(where)}", params).df() if service else None
    if crashes is not None and len(crashes):  # where a run ended in a crash
        ax.scatter(crashes["ts"], [0] * len(crashes), marker="X", s=70, color=style.BAD, zorder=5, clip_on=False)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("goroutines per instance")
    what = {"dump": "goroutine dumps", "profile": "goroutine profiles", "profile_text": "goroutine profiles (debug=1)"}
    fig.suptitle(style.label(f"{service or 'all services'}: goroutines per instance over time, from "
                             f"{what[form]} ({snaps['series'].nunique()} instances)", 110), x=0.01, ha="left")
    handles = [Line2D([], [], color="#444444", linewidth=1, marker=".", label="all goroutines of an instance")]
    if at_site is not None:
        handles.append(Line2D([], [], color="#444444", linewidth=2.6,
                              label=style.label(f"created by {site} (leaking)", 70)))
    handles += [Line2D([], [], color=colour_of[(service, v)], linewidth=6, alpha=0.5, label=style.label(v, 20))
                for v in dict.fromkeys(deploys["version"]) if (service, v) in colour_of]
    if crashes is not None and len(crashes):
        handles.append(Line2D([], [], marker="X", linestyle="", color=style.BAD, markersize=8, label="crash"))
    handles.append(Line2D([], [], color=style.ROLLBACK, linestyle="--", label="rollback"))
    style.utc_axis(ax)
    style.legend_below(fig, handles)
    return fig


STATES_SQL = """
SELECT coalesce(g.state, 'unknown (goroutine profile)') AS state, sum(g.count)::BIGINT AS n
FROM goroutines g WHERE g.dump_id = ? GROUP BY ALL ORDER BY n DESC, state"""


def plot_goroutine_states(store: Store, dump_id: int | None = None, top: int = 15):
    """Goroutines per state in one snapshot (`dump_id`; default: the snapshot
    holding the most goroutines, where a leak is at its peak). States of
    different snapshots are never summed: each counts the same goroutines again."""
    fig = style.figure(3.0, width=8)
    ax = fig.add_subplot()
    if dump_id is None:
        best = store.query("SELECT d.dump_id FROM dumps d JOIN goroutines g USING (dump_id) "
                           "GROUP BY d.dump_id, d.kind ORDER BY d.kind = 'goroutine_profile', sum(g.count) DESC, "
                           "d.dump_id LIMIT 1").fetchall()
        dump_id = best[0][0] if best else None
    df = store.query(STATES_SQL, [dump_id]).df() if dump_id is not None else None
    ax.set_title("Goroutines by state", loc="left")
    if df is None or not len(df):
        style.empty(ax, "no goroutine snapshot")
        return fig
    about = store.query("SELECT r.service, r.pod, d.ts, d.kind FROM dumps d JOIN dump_releases r USING (dump_id) "
                        "WHERE dump_id = ?", [dump_id]).fetchall()[0]
    shown, rest = df.head(top), df.iloc[top:]
    if len(rest):
        shown = shown._append({"state": f"{len(rest)} other states", "n": int(rest["n"].sum())}, ignore_index=True)
    fig.set_figheight(1.4 + 0.28 * len(shown))
    ax.barh([style.label(s, 40) for s in shown["state"][::-1]], shown["n"][::-1], color=style.PALETTE[0])
    for y, n in enumerate(shown["n"][::-1]):
        ax.annotate(f"{n:,}", xy=(n, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("goroutines")
    ax.grid(True, axis="x", **style.GRID)
    when = f"{about[2]:%Y-%m-%d %H:%M:%S} UTC" if about[2] is not None else "time unknown"
    ax.set_title(style.label(f"Goroutines by state in one snapshot: {about[0] or 'service unknown'}"
                             f"{' ' + about[1] if about[1] else ''}, {when} ({int(df['n'].sum()):,} goroutines, "
                             f"snapshot {dump_id})", 110), loc="left", fontsize=10)
    return fig
