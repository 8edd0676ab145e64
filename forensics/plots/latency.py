"""Request latency (p50 dashed, p99 solid) and error rate over time per
service, with each service's deploys marked.

Latency comes from server spans where a service has them, else from log
records with a latency field (`latency_ms`, `duration_ms`...); the error
rate is the share of spans with error status, else of error-level log
records.

>>> from forensics.db.store import Store
>>> plot_latency(Store()).axes[0].texts[0].get_text()
'no request latencies (server spans or logs with a latency field)'
"""
from __future__ import annotations

from matplotlib.lines import Line2D

from ..analysis.gather import LATENCY_ROWS
from ..analysis.latency import interval
from ..analysis.timeline import bucket_seconds, timeline_filter
from ..db.store import Store
from . import style

SAMPLES = 400_000  # latencies read per figure (a reservoir sample beyond that)
BUCKETS = 60  # at most this many points per series: 5 min over 4 h, a second over a minute

ERRORS_SQL = """
SELECT service, time_bucket(INTERVAL '{every}', ts) AS bucket, 'spans' AS origin,
       count(*) FILTER (WHERE status_code = 'error') AS errors, count(*) AS total
FROM span_releases
WHERE (kind = 'server' OR parent_span_id IS NULL) AND ts IS NOT NULL AND service IS NOT NULL AND {where}
GROUP BY ALL
UNION ALL
SELECT service, time_bucket(INTERVAL '{every}', ts), 'logs',
       count(*) FILTER (WHERE level IN ('error', 'fatal', 'panic')), count(*)
FROM log_releases WHERE ts IS NOT NULL AND service IS NOT NULL AND {where} GROUP BY ALL"""


def latency_series(store: Store, services=None, every: str | None = None, since=None, until=None):
    """(latency, errors, every): p50/p99 ms per service and bucket, from spans
    where the service has them else logs; error % per service and bucket,
    from the same origin. The window and services are selected before the
    latencies are sampled."""
    import pandas as pd

    where, params = timeline_filter(since, until, services)
    lat = store.query(f"SELECT * FROM ({LATENCY_ROWS}) WHERE ms IS NOT NULL AND {where} "
                      f"USING SAMPLE reservoir({SAMPLES} ROWS) REPEATABLE (7)", params).df()
    if not len(lat):
        return lat, lat, every
    spans = set(lat.loc[lat["origin"] == "spans", "service"])
    lat = lat[(lat["origin"] == "spans") | ~lat["service"].isin(spans)]
    if every is None:
        seconds = bucket_seconds(lat["ts"].min(), lat["ts"].max(), BUCKETS, 1)
        every = f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s"
    bucket = lat["ts"].dt.floor(pd.Timedelta(interval(every)))
    q = lat.groupby(["service", "origin", bucket])["ms"].quantile([0.5, 0.99]).unstack()
    q.columns = ["p50_ms", "p99_ms"]
    errs = store.query(ERRORS_SQL.format(every=interval(every), where=where), params * 2).df()
    errs = errs[errs["service"].isin(set(lat["service"]))]
    errs = errs[errs["origin"] == errs["service"].map(lambda s: "spans" if s in spans else "logs")]
    errs = errs.assign(error_pct=100 * errs["errors"] / errs["total"]).sort_values("bucket")
    return q.reset_index().rename(columns={"ts": "bucket"}), errs, every


def plot_latency(store: Store, services=None, every: str | None = None, since=None, until=None):
    """p50/p99 latency (ms) over time, one panel per service with its releases
    shaded and its deploys marked; below, the error rate (%) of each service.
    `every`: the bucket ("5min"; default from the window)."""
    lat, errs, every = latency_series(store, services, every, since, until)
    if not len(lat):
        fig = style.figure(2.2)
        style.empty(fig.add_subplot(), "no request latencies (server spans or logs with a latency field)")
        return fig
    names = sorted(lat["service"].unique())
    if services is not None and not isinstance(services, str):
        names = [s for s in services if s in set(names)]  # the caller's order: the culprit first
    fig = style.figure(1.4 + 1.9 * len(names) + 1.5)
    axes = fig.subplots(len(names) + 1, 1, sharex=True, height_ratios=[2] * len(names) + [1.5])
    colour = style.colours(names)
    window = (lat["bucket"].min(), lat["bucket"].max())
    margin = (window[1] - window[0]) * 0.02
    every_deploy = style.deploys_of(store, names)  # read once for all panels
    for ax, service in zip(axes, names):
        part = lat[lat["service"] == service]
        deploys = every_deploy[every_deploy["service"] == service]
        releases = style.release_colours(deploys)
        style.release_shading(ax, deploys, window[1], releases, start=window[0] - margin)
        style.deploy_lines(ax, deploys, colour_of=releases, inside=True, window=(window[0] - margin, window[1]))
        dots = "." if len(part) < 12 else None  # a short series still shows
        ax.plot(part["bucket"], part["p99_ms"], color=colour[service], linewidth=1.8, marker=dots)
        ax.plot(part["bucket"], part["p50_ms"], color=colour[service], linewidth=1.1, linestyle="--", marker=dots)
        ax.set_ylim(0, max(part["p99_ms"].max() * 1.25, 1))
        ax.set_ylabel("ms")
        ax.set_title(style.label(f"{service} ({'server spans' if part['origin'].iloc[0] == 'spans' else 'request logs'})",
                                 60), loc="left", fontsize=9)
        ax.grid(True, **style.GRID)
    bottom = axes[-1]
    for service in names:
        e = errs[errs["service"] == service]
        bottom.plot(e["bucket"], e["error_pct"], color=colour[service], linewidth=1.4, drawstyle="steps-post")
    bottom.set_ylim(0, max(1.0, errs["error_pct"].max() * 1.15) if len(errs) else 1.0)  # 0 to 1 %: none failed
    bottom.set_ylabel("errors (%)")
    bottom.set_title("failed requests per service (error spans, else error-level logs), % per bucket", loc="left",
                     fontsize=9)
    style.utc_axis(bottom)
    what = f"{names[0]}: request latency and error rate" if len(names) == 1 else \
        "Request latency per service and error rate"
    fig.suptitle(style.label(f"{what}, per {every} bucket", 120), x=0.01, ha="left")
    handles = [Line2D([], [], color="#444444", linewidth=1.8, label="p99"),
               Line2D([], [], color="#444444", linewidth=1.1, linestyle="--", label="p50")]
    handles += [Line2D([], [], color=colour[s], linewidth=2, label=style.label(s, 30)) for s in names]
    handles.append(Line2D([], [], color=style.ROLLBACK, linestyle="--", label="rollback"))
    style.legend_below(fig, handles, columns=6)
    return fig
