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

from ..analysis.gather import QUERIES
from ..analysis.latency import interval
from ..analysis.timeline import bucket_seconds
from ..db.store import Store
from . import style

SAMPLES = 400_000  # latencies read per figure (a reservoir sample beyond that)
BUCKETS = 60  # at most this many points per series: 5 min over 4 h, a second over a minute

ERRORS_SQL = """
SELECT service, time_bucket(INTERVAL '{every}', ts) AS bucket, 'spans' AS origin,
       count(*) FILTER (WHERE status_code = 'error') AS errors, count(*) AS total
FROM span_releases WHERE (kind = 'server' OR parent_span_id IS NULL) AND ts IS NOT NULL AND service IS NOT NULL
GROUP BY ALL
UNION ALL
SELECT service, time_bucket(INTERVAL '{every}', ts), 'logs',
       count(*) FILTER (WHERE level IN ('error', 'fatal', 'panic')), count(*)
FROM log_releases WHERE ts IS NOT NULL AND service IS NOT NULL GROUP BY ALL"""


def latency_series(store: Store, services=None, every: str | None = None, since=None, until=None):
    """(latency, errors, every): p50/p99 ms per service and bucket, from spans
    where the service has them else logs; error % per service and bucket,
    from the same origin."""
    import pandas as pd

    lat = store.query(QUERIES["latencies"].replace("{samples}", str(SAMPLES))).df()
    if services is not None:
        lat = lat[lat["service"].isin([services] if isinstance(services, str) else list(services))]
    if since is not None:
        lat = lat[lat["ts"] >= pd.Timestamp(since)]
    if until is not None:
        lat = lat[lat["ts"] <= pd.Timestamp(until)]
    if not len(lat):
        return lat, lat, every
    spans = set(lat.loc[lat["origin"] == "spans", "service"])
    lat = lat[(lat["origin"] == "spans") | ~lat["service"].isin(spans)]
    if every is None:
        every = f"{bucket_seconds(lat['ts'].min(), lat['ts'].max(), BUCKETS, 1)}s"
    bucket = lat["ts"].dt.floor(pd.Timedelta(interval(every)))
    q = lat.groupby(["service", "origin", bucket])["ms"].quantile([0.5, 0.99]).unstack()
    q.columns = ["p50_ms", "p99_ms"]
    errs = store.query(ERRORS_SQL.format(every=interval(every))).df()
    errs = errs[errs["service"].isin(set(lat["service"]))]
    errs = errs[errs["origin"] == errs["service"].map(lambda s: "spans" if s in spans else "logs")]
    errs = errs.assign(error_pct=100 * errs["errors"] / errs["total"]).sort_values("bucket")
    return q.reset_index().rename(columns={"ts": "bucket"}), errs, every


def plot_latency(store: Store, services=None, every: str | None = None, since=None, until=None):
    """p50/p99 latency (ms) and error rate (%) per service over time, deploys
    marked in each service's colour. `every`: the bucket ("5min"; default
    from the window)."""
    fig = style.figure(5.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.6])
    lat, errs, every = latency_series(store, services, every, since, until)
    if not len(lat):
        fig.delaxes(bottom)
        style.empty(top, "no request latencies (server spans or logs with a latency field)")
        return fig
    names = sorted(lat["service"].unique())
    colour = style.colours(names)
    for service in names:
        part = lat[lat["service"] == service]
        dots = "." if len(part) < 12 else None  # a short series still shows
        top.plot(part["bucket"], part["p99_ms"], color=colour[service], linewidth=1.8, marker=dots)
        top.plot(part["bucket"], part["p50_ms"], color=colour[service], linewidth=1.1, linestyle="--", marker=dots)
        e = errs[errs["service"] == service]
        bottom.plot(e["bucket"], e["error_pct"], color=colour[service], linewidth=1.4, drawstyle="steps-post")
    deploys = style.deploys_of(store, names)
    window = (lat["bucket"].min(), lat["bucket"].max())
    deploys = deploys[(deploys["ts"] >= window[0] - (window[1] - window[0]) * 0.02) & (deploys["ts"] <= window[1])]
    by_service = {(d.service, d.version): colour[d.service] for d in deploys.itertuples(index=False)}
    if len(names) == 1:  # one service: its releases shaded, as in the goroutines figure
        releases = style.release_colours(deploys)
        for ax in (top, bottom):
            style.release_shading(ax, deploys, window[1], releases)
        by_service = releases
    style.deploy_lines(top, deploys, colour_of=by_service, with_service=len(names) > 1)
    style.deploy_lines(bottom, deploys, text=False)
    top.set_ylim(bottom=0)
    bottom.set_ylim(bottom=0)
    top.set_ylabel("latency (ms)")
    origins = sorted(set(lat["origin"]))
    bottom.set_ylabel("errors (%)")
    top.grid(True, **style.GRID)
    style.utc_axis(bottom)
    what = f"{names[0]}: request latency and error rate" if len(names) == 1 else \
        "Request latency and error rate per service"
    fig.suptitle(style.label(f"{what}, per {every} (from "
                             f"{' and '.join('server spans' if o == 'spans' else 'request logs' for o in origins)})",
                             120), x=0.01, ha="left")
    handles = [Line2D([], [], color=colour[s], linewidth=2, label=style.label(s, 30)) for s in names]
    handles += [Line2D([], [], color="#444444", linewidth=1.8, label="p99"),
                Line2D([], [], color="#444444", linewidth=1.1, linestyle="--", label="p50"),
                Line2D([], [], color=style.ROLLBACK, linestyle="--", label="rollback")]
    style.legend_below(fig, handles, columns=6)
    return fig
