"""Release health: one row per service and release, from the instances that ran it.

Sentry's release health counts sessions and crash-free users per release
and marks an issue "first seen" in the release that raised it. Here a
release also carries what a Go postmortem needs: the requests it served
with their latency and error rate (server spans, else request logs: never
both), its panics by signature marked new (never seen in an earlier
release of that service), regressed (more frequent than in the release it
replaced) or resolved (seen there, gone here), restarts, the goroutine peak
of its instances and the sites that grew in them, and the biggest CPU and
heap shifts against the release it replaced.

>>> import forensics as fx
>>> releases(fx.open().store).empty
True
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..db.store import Store

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["service", "version", "previous_version", "deployed", "first_seen", "last_seen", "pods", "instances",
           "requests", "p50_ms", "p99_ms", "error_rate", "panics", "new_signatures", "regressed_signatures",
           "resolved_signatures", "restarts", "goroutine_peak", "growing_sites", "cpu_shift", "heap_shift"]


def releases(store: Store, service: str | None = None, evidence=None) -> "pd.DataFrame":
    """One row per (service, release), in deploy order (see the module doc);
    `evidence`: the incident's Evidence when the caller has read it already."""
    import pandas as pd

    from .evidence import rate_increase
    from .gather import evidence_from_store, profile_shares, rows_of
    from .leaks import goroutine_growth

    ev = evidence if evidence is not None else evidence_from_store(store)
    known = store.query("""
        SELECT service, version, min(ts) AS first_seen, max(ts) AS last_seen,
               count(DISTINCT pod) AS pods, count(DISTINCT instance) AS instances
        FROM (SELECT service, version, ts, pod, instance FROM dump_releases
              UNION ALL SELECT service, version, ts, pod, instance FROM profile_releases
              UNION ALL SELECT service, version, ts, pod, instance FROM span_releases
              UNION ALL SELECT i.service, pv.version, t.ts, i.pod, i.instance
              FROM instances i JOIN pod_versions pv USING (pod), LATERAL (VALUES (i.started), (i.ended)) t(ts))
        WHERE service IS NOT NULL AND version IS NOT NULL GROUP BY ALL""").df()
    deploys = ev.deploys.sort_values("ts")
    firsts = deploys.drop_duplicates(["service", "version"])
    order = pd.concat([firsts[["service", "version", "previous_version", "ts"]].rename(columns={"ts": "deployed"}),
                       known[["service", "version"]]]).drop_duplicates(["service", "version"])
    order = order.merge(known, on=["service", "version"], how="left")
    if service is not None:
        order = order[order["service"] == service]
    growth = goroutine_growth(store, service)
    growing = growth[growth["leak"] & growth["instance"].notna()] if len(growth) else growth
    rows = []
    for r in order.itertuples(index=False):
        svc, ver, prev = r.service, r.version, r.previous_version if isinstance(r.previous_version, str) else None
        spans = rows_of(ev.latencies, svc, ver)
        reqs = spans[spans["origin"] == "spans"] if len(spans) and (spans["origin"] == "spans").any() else spans
        logs = rows_of(ev.log_counts, svc, ver)
        errors = _error_rate(logs)
        panics = rows_of(ev.panics, svc, ver)
        before = ev.panics[(ev.panics["service"] == svc) & (ev.panics["ts"] < (r.deployed if pd.notna(r.deployed)
                                                                              else r.first_seen))] \
            if len(ev.panics) and pd.notna(r.first_seen) else ev.panics.iloc[0:0]
        old = rows_of(ev.panics, svc, prev) if prev else before.iloc[0:0]
        sigs = set(panics["signature"]) if len(panics) else set()
        new = sorted(sigs - set(before["signature"]) - set(old["signature"])) if len(panics) else []
        regressed = []
        span_new, span_old = _span(r), _span_of(order, svc, prev)
        for sig in sorted(sigs - set(new)):
            ratio, p = rate_increase(int((old["signature"] == sig).sum()), span_old,
                                     int((panics["signature"] == sig).sum()), span_new)
            if p < 0.01:
                regressed.append(sig)
        snaps = rows_of(ev.goroutines, svc, ver)
        # per snapshot: a debug=2 dump and a debug=1 profile taken at once are two snapshots, not one
        peak = int(snaps.groupby("dump_id")["count"].sum().max()) if len(snaps) else None  # with a pod or not
        sites = sorted(set(growing.loc[(growing["service"] == svc) & (growing["version"] == ver)
                                       & (growing["by"] == "creation"), "site"])) if len(growing) else []
        rows.append(dict(
            service=svc, version=ver, previous_version=prev, deployed=r.deployed, first_seen=r.first_seen,
            last_seen=r.last_seen, pods=_int(r.pods), instances=_int(r.instances),
            requests=len(reqs) if len(reqs) else None,
            p50_ms=float(reqs["ms"].quantile(0.5)) if len(reqs) else None,
            p99_ms=float(reqs["ms"].quantile(0.99)) if len(reqs) else None,
            error_rate=errors, panics=len(panics), new_signatures=new, regressed_signatures=regressed,
            resolved_signatures=sorted(set(old["signature"]) - sigs) if prev and len(old) else [],
            restarts=len(rows_of(ev.restarts, svc, ver)), goroutine_peak=peak, growing_sites=sites,
            cpu_shift=_shift(ev.profile_shares, svc, ver, prev, "cpu", profile_shares),
            heap_shift=_shift(ev.profile_shares, svc, ver, prev, "heap", profile_shares)))
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("requests", "goroutine_peak"):
        df[col] = df[col].astype("Int64")  # counts, missing where nothing was seen
    return df


def _int(x):
    import pandas as pd

    return int(x) if pd.notna(x) else 0


def _span(r) -> float:
    import pandas as pd

    if pd.isna(r.first_seen) or pd.isna(r.last_seen):
        return 0.0
    return max((r.last_seen - r.first_seen).total_seconds(), 1.0)


def _span_of(order, service, version) -> float:
    mine = order[(order["service"] == service) & (order["version"] == version)]
    return _span(next(mine.itertuples(index=False))) if len(mine) else 0.0


def _error_rate(logs) -> float | None:
    total = int(logs["total"].sum()) if len(logs) else 0
    return int(logs["errors"].sum()) / total if total else None


def _shift(shares, service, version, previous, kind, by_profile) -> str | None:
    """The function whose mean share of `kind` profiles grew most from the
    previous release: `fn +12 pts (8% → 20%)`."""
    if shares is None or shares.empty or previous is None:
        return None
    a = shares[(shares["service"] == service) & (shares["version"] == version) & (shares["kind"] == kind)]
    b = shares[(shares["service"] == service) & (shares["version"] == previous) & (shares["kind"] == kind)]
    if a.empty or b.empty:
        return None
    ma, mb = by_profile(a).mean(), by_profile(b).mean()
    diff = ma.sub(mb, fill_value=0.0).sort_values(ascending=False)
    if diff.empty or diff.iloc[0] <= 0:
        return None
    fn = diff.index[0]
    return f"{fn} +{diff.iloc[0] * 100:.0f} pts ({mb.get(fn, 0.0):.0%} → {ma.get(fn, 0.0):.0%})"
