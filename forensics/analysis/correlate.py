"""Which change broke it: every deploy compared with the release before it.

For each deploy of a service (with what it changed, from the `upgrades`
view) the service's behaviour after it (until the next deploy, or `after`)
is compared with before it (since the deploy before, or `before`), item by
item, each with a one-sided test (:mod:`.evidence`): panics per signature,
restarts, the share of error-level logs, request latency (logs with a
latency field, and server spans), goroutines per creation site, and CPU
profile shares per function. A deploy is flagged when its smallest p-value,
Bonferroni-corrected for the number of items tested, is below `alpha`.
Stacks of worse panics and growing goroutines name suspects: modules (and
the Go toolchain, for runtime frames) that this deploy changed.
Change-point detection on each service's panic, error, p99 and goroutine
series dates when a regression started, whatever the deploys, and links it
to the last deploy of that service before it.

The statistics run on a :class:`Evidence` bundle of plain DataFrames, which
:func:`evidence_from_store` reads with SQL; tests build bundles by hand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from ..db.store import Store
from . import evidence as ev

ALPHA = 0.01
NO_CREATOR = "(no creator)"  # goroutines.created_by is NULL


@dataclass
class Evidence:
    """What correlation looks at, per service, as DataFrames (ts naive UTC):

    - deploys: ts, service, version, previous_version
    - changes: ts, service, kind, module, from_version, to_version (the upgrades view)
    - panics: ts, service, signature, message, top_function, functions (list of frame functions)
    - restarts: ts, service
    - log_counts: ts (start of a second), service, errors, total
    - latencies: ts, service, ms, origin (`logs` or `spans`)
    - goroutines: ts, service, pod, site, count (one row per snapshot and creation site)
    - profile_shares: ts, service, function, samples, total (CPU profiles)
    """

    deploys: pd.DataFrame
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    panics: pd.DataFrame = field(default_factory=pd.DataFrame)
    restarts: pd.DataFrame = field(default_factory=pd.DataFrame)
    log_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    latencies: pd.DataFrame = field(default_factory=pd.DataFrame)
    goroutines: pd.DataFrame = field(default_factory=pd.DataFrame)
    profile_shares: pd.DataFrame = field(default_factory=pd.DataFrame)


def _of(df: pd.DataFrame, service: str, start=None, end=None) -> pd.DataFrame:
    if df is None or df.empty:
        return df if df is not None else pd.DataFrame()
    out = df[df["service"] == service]
    if start is not None:
        out = out[out["ts"] >= start]
    if end is not None:
        out = out[out["ts"] < end]
    return out


def _span(ev_: Evidence, service: str) -> tuple[datetime | None, datetime | None]:
    """First and last time anything is known of a service (a log-count row covers its second)."""
    frames = [_of(d, service) for d in (ev_.panics, ev_.restarts, ev_.log_counts, ev_.latencies, ev_.goroutines,
                                        ev_.profile_shares, ev_.deploys)]
    frames = [f for f in frames if f is not None and not f.empty]
    if not frames:
        return None, None
    lo = min(f["ts"].min() for f in frames)
    hi = max(f["ts"].max() for f in frames)
    logs = _of(ev_.log_counts, service)
    if logs is not None and not logs.empty:
        hi = max(hi, logs["ts"].max() + timedelta(seconds=1))
    return lo, hi


def _bucket_counts(df: pd.DataFrame, service: str, lo, step: timedelta, n: int, weight: str | None = None):
    """Rows (or the sum of `weight`) of a service per bucket of `step` from `lo`, n buckets; None without rows."""
    d = _of(df, service)
    if d is None or d.empty:
        return None
    idx = ((d["ts"] - lo) / step).astype(int).clip(0, n - 1)
    s = (d[weight] if weight else pd.Series(1, index=d.index)).groupby(idx).sum()
    return s.reindex(range(n), fill_value=0).to_numpy()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _items(ev_: Evidence, service: str, b0, t, a1, start=None) -> list[dict]:
    """Evidence items of one deploy: before = [b0, t), after = [t, a1);
    `start`: since when the service is known (a new panic signature was not
    seen in all that time)."""
    tb, ta = (t - b0).total_seconds(), (a1 - t).total_seconds()
    items = []
    # Panics, per signature.
    panics = _of(ev_.panics, service, b0, a1)
    seen_before = set(_of(ev_.panics, service, None, t)["signature"]) if not ev_.panics.empty else set()
    history = (t - start).total_seconds() if start is not None and start < b0 else tb
    for sig, rows in (panics.groupby("signature") if not panics.empty else ()):
        nb, na = int((rows["ts"] < t).sum()), int((rows["ts"] >= t).sum())
        if na == 0:
            continue
        new = sig not in seen_before
        exposure = history if new else tb  # never seen while the service ran: all that time is the baseline
        ratio, p = ev.rate_increase(nb, exposure, na, ta)
        first = rows.iloc[0]
        text = (f"{'new panic' if new else 'panic'} '{first['message'].splitlines()[0][:80]}' in "
                f"{first['top_function']} x{na} in {_duration(ta)} "
                f"({'none' if nb == 0 else f'x{nb}'} in {_duration(exposure)} before, {_p(p)})")
        items.append(dict(kind="panic", key=sig, before=nb, after=na, statistic=ratio, p=p, new=new, text=text,
                          functions=_functions(first)))
    # Restarts.
    restarts = _of(ev_.restarts, service, b0, a1)
    if not restarts.empty:
        nb, na = int((restarts["ts"] < t).sum()), int((restarts["ts"] >= t).sum())
        if na:
            ratio, p = ev.rate_increase(nb, tb, na, ta)
            items.append(dict(kind="restarts", key="restarts", before=nb, after=na, statistic=ratio, p=p,
                              text=f"restarts {nb} → {na} ({_p(p)})"))
    # Share of error-level logs.
    logs = _of(ev_.log_counts, service, b0, a1)
    if not logs.empty:
        b, a = logs[logs["ts"] < t], logs[logs["ts"] >= t]
        kb, nb, ka, na = (int(x) for x in (b["errors"].sum(), b["total"].sum(), a["errors"].sum(), a["total"].sum()))
        if na and nb:
            diff, p = ev.proportion_increase(kb, nb, ka, na)
            items.append(dict(kind="errors", key="error logs", before=kb / nb, after=ka / na, statistic=diff, p=p,
                              text=f"error logs {kb / nb:.1%} → {ka / na:.1%} of records ({_p(p)})"))
    # Latency, from request logs and from spans separately.
    lat = _of(ev_.latencies, service, b0, a1)
    for origin, rows in (lat.groupby("origin") if not lat.empty else ()):
        shift = ev.latency_shift(rows.loc[rows["ts"] < t, "ms"], rows.loc[rows["ts"] >= t, "ms"])
        if shift["n_before"] >= 5 and shift["n_after"] >= 5:
            items.append(dict(kind="latency", key=origin, before=shift["p99_before"], after=shift["p99_after"],
                              statistic=shift["statistic"], p=shift["p"], detail=shift,
                              text=f"p99 {shift['p99_before']:.3g} → {shift['p99_after']:.3g} ms, p50 "
                                   f"{shift['p50_before']:.3g} → {shift['p50_after']:.3g} ms ({origin}, "
                                   f"{_p(shift['p'])})"))
    # Goroutines per creation site: rising after the deploy, snapshot after
    # snapshot of one process (pods are apart; a restart starts a new series).
    gr = _of(ev_.goroutines, service, b0, a1)
    if not gr.empty and "pod" not in gr:
        gr = gr.assign(pod=None)
    for site, rows in (gr.groupby("site") if not gr.empty else ()):
        if site == NO_CREATOR:
            continue  # main and runtime goroutines, and goroutine profiles (which do not say)
        before = rows[rows["ts"] < t]
        top_b = int(before["count"].max()) if len(before) else 0
        best = None
        for _, series in rows[rows["ts"] >= t].groupby(rows["pod"].fillna(""), sort=False):
            series = series.sort_values("ts")
            if len(series) < 3:
                continue
            tau, p = ev.trend_increase(series["count"].to_numpy())
            if best is None or p < best[1]:
                best = (tau, p, int(series["count"].max()), len(series))
        if best is None or best[2] <= top_b:
            continue
        tau, p, top_a, n = best
        items.append(dict(kind="goroutines", key=site, before=top_b, after=top_a, statistic=tau, p=p,
                          functions=[site], text=f"{site} goroutines {top_b} → {top_a} (rising across "
                                                 f"{n} snapshots, {_p(p)})"))
    # CPU profile shares per function.
    prof = _of(ev_.profile_shares, service, b0, a1)
    if not prof.empty:
        b, a = prof[prof["ts"] < t], prof[prof["ts"] >= t]
        if not b.empty and not a.empty:
            nb_total = b.drop_duplicates("ts")["total"].sum()
            na_total = a.drop_duplicates("ts")["total"].sum()
            grown = []
            for fn in set(a["function"]):
                kb, ka = int(b.loc[b["function"] == fn, "samples"].sum()), int(a.loc[a["function"] == fn, "samples"].sum())
                diff, p = ev.proportion_increase(kb, int(nb_total), ka, int(na_total))
                grown.append((p, -diff, fn, kb / nb_total, ka / na_total))
            for p, _, fn, sb, sa in sorted(grown)[:3]:
                if sa > sb:
                    items.append(dict(kind="profile", key=fn, before=sb, after=sa, statistic=sa - sb, p=p,
                                      functions=[fn], text=f"{fn} {sb:.0%} → {sa:.0%} of CPU samples ({_p(p)})"))
    return items


def _functions(panic) -> list[str]:
    """The failing goroutine's frame functions (the top function when the stack is unknown)."""
    fns = panic.get("functions")
    if fns is None or (not isinstance(fns, str) and len(fns) == 0) or (isinstance(fns, float) and math.isnan(fns)):
        return [panic["top_function"]] if isinstance(panic["top_function"], str) else []
    return [f for f in list(fns) if isinstance(f, str)]


def _suspects(items: list[dict], changes: pd.DataFrame) -> list[str]:
    """Changed modules whose code is on the stacks of new or worse panics,
    growing goroutines or growing CPU shares; the Go toolchain when the
    innermost frame of a crash is the runtime's."""
    if changes is None or changes.empty:
        return []
    modules = [m for m in changes.loc[changes["kind"] == "module", "module"].dropna()]
    go = changes[changes["kind"] == "go"]
    found: list[str] = []
    for item in items:
        if not item.get("flagged") and not item.get("new"):  # a new panic signature counts even when rare
            continue
        for fn in item.get("functions") or []:
            for m in modules:
                if (fn == m or fn.startswith(m + ".") or fn.startswith(m + "/")) and m not in found:
                    found.append(m)
        # A crash inside the runtime itself (its innermost frame) points at a toolchain change.
        top = (item.get("functions") or [""])[0]
        if not go.empty and item["kind"] == "panic" and top.startswith("runtime.") and "go" not in found:
            found.append("go")
    return found


def _what_changed(changes: pd.DataFrame) -> str:
    """The module and Go toolchain changes of a deploy, `; `-separated ("" when none are known)."""
    parts = []
    for c in changes.itertuples(index=False) if changes is not None and not changes.empty else ():
        if c.kind == "module":
            parts.append(f"{c.module} {c.from_version or '(none)'} → {c.to_version or '(none)'}")
        elif c.kind == "go":
            parts.append(f"Go {c.from_version} → {c.to_version}")
    return "; ".join(parts)


def onsets(ev_: Evidence, bucket: timedelta | None = None) -> pd.DataFrame:
    """When each service's series first rose, whatever the deploys: panics and
    error logs per bucket (Poisson), p99 latency per bucket and goroutines per
    snapshot (mean shift). `bucket` defaults to a hundredth of what is known
    of the service, between 1 s and 5 min. Columns: service, series, onset, llr."""
    rows = []
    services = set(ev_.deploys["service"]) if not ev_.deploys.empty else set()
    for service in sorted(services):
        lo, hi = _span(ev_, service)
        if lo is None:
            continue
        step = bucket or min(max((hi - lo) / 100, timedelta(seconds=1)), timedelta(minutes=5))
        n = max(int((hi - lo) / step) + 1, 1)
        edges = [lo + i * step for i in range(n + 1)]

        # Exposure: panics per bucket the service was seen running (it logged), errors per log record.
        total = _bucket_counts(ev_.log_counts, service, lo, step, n, "total")
        alive = (total > 0).astype(float) if total is not None else None
        series = []
        if (c := _bucket_counts(ev_.panics, service, lo, step, n)) is not None:
            series.append(("panics", c, "poisson", edges, alive if alive is not None and alive[c > 0].all() else None))
        if (c := _bucket_counts(ev_.log_counts, service, lo, step, n, "errors")) is not None:
            series.append(("error logs", c, "poisson", edges, total))
        lat = _of(ev_.latencies, service)
        if lat is not None and not lat.empty:
            idx = ((lat["ts"] - lo) / step).astype(int).clip(0, n - 1)
            p99 = lat["ms"].groupby(idx).quantile(0.99)
            series.append(("p99", p99.to_numpy(), "mean", [edges[i] for i in p99.index] + [hi], None))
        gr = _of(ev_.goroutines, service)
        if gr is not None and not gr.empty:
            snap = gr.groupby("ts")["count"].sum().sort_index()
            series.append(("goroutines", snap.to_numpy(), "mean", list(snap.index) + [hi], None))
        for name, values, kind, times, exposure in series:
            k, llr = ev.change_point(values, kind, exposure=exposure)
            if k is not None:
                rows.append(dict(service=service, series=name, onset=times[k], llr=llr))
    return pd.DataFrame(rows, columns=["service", "series", "onset", "llr"])


def correlate(ev_: Evidence, before: timedelta | None = None, after: timedelta | None = None,
              alpha: float = ALPHA) -> pd.DataFrame:
    """The ranked verdict table: one row per deploy (see module docstring)."""
    cols = ["rank", "ts", "service", "version", "previous_version", "change", "suspect_modules", "significant",
            "score", "p_value", "onset", "evidence", "verdict"]
    deploys = ev_.deploys.sort_values(["service", "ts"]).reset_index(drop=True) if not ev_.deploys.empty else None
    if deploys is None:
        return pd.DataFrame(columns=cols)
    found_onsets = onsets(ev_)
    out = []
    for service, group in deploys.groupby("service"):
        lo, hi = _span(ev_, service)
        times = list(group["ts"])
        for i, row in enumerate(group.itertuples(index=False)):
            t = row.ts
            b0 = times[i - 1] if i > 0 else (lo if lo is not None and lo < t else t)
            a1 = times[i + 1] if i + 1 < len(times) else (hi if hi is not None and hi > t else t)
            if before is not None:
                b0 = max(b0, t - before)
            if after is not None:
                a1 = min(a1, t + after)
            changes = _of(ev_.changes, service)
            changes = changes[changes["ts"] == t] if changes is not None and not changes.empty else changes
            items = _items(ev_, service, b0, t, a1, lo) if a1 > t and t > b0 else []
            m = max(len(items), 1)
            for item in items:
                item["p_adjusted"] = min(item["p"] * m, 1.0)
                item["flagged"] = item["p_adjusted"] < alpha
            items.sort(key=lambda x: x["p"])
            significant = any(x["flagged"] for x in items)
            suspects = _suspects(items, changes)
            score = sum(min(-math.log10(max(x["p_adjusted"], 1e-300)), 12) for x in items if x["flagged"])
            score += 3 * len(suspects) if significant else 0
            onset = None
            if not found_onsets.empty:
                mine = found_onsets[(found_onsets["service"] == service) & (found_onsets["onset"] >= t)
                                    & (found_onsets["onset"] < (times[i + 1] if i + 1 < len(times) else pd.Timestamp.max))]
                if not mine.empty:
                    first = mine.sort_values("onset").iloc[0]
                    onset = f"{first['series']} rose at {pd.Timestamp(first['onset']).isoformat()}"
            what = _what_changed(changes)
            release = f"{row.previous_version} → {row.version}" if isinstance(row.previous_version, str) \
                else row.version
            change = release + (f" ({what})" if what else "")
            head = f"{service} {row.version} ({what})" if what else f"{service} {release}"
            if significant:
                said = "; ".join(x["text"] for x in items if x["flagged"] or x.get("new"))
                verdict = f"{head}: {said}" + (f"; suspects: {', '.join(suspects)}" if suspects else "")
            else:
                note = f" (most notable: {items[0]['text']})" if items else ""
                verdict = f"{head}: no significant change{note}"
            out.append(dict(ts=t, service=service, version=row.version, previous_version=row.previous_version,
                            change=change, suspect_modules=suspects, significant=significant,
                            score=round(score, 2), p_value=min((x["p_adjusted"] for x in items), default=1.0),
                            onset=onset, evidence=[{k: v for k, v in x.items() if k not in ("functions",)}
                                                   for x in items], verdict=verdict))
    df = pd.DataFrame(out)
    df = df.sort_values(["significant", "score", "p_value", "ts"], ascending=[False, False, True, True])
    df.insert(0, "rank", range(1, len(df) + 1))
    return df.reset_index(drop=True)[cols]


def evidence_from_store(store: Store, latency_samples: int = 200_000) -> Evidence:
    """The Evidence bundle of an incident database."""
    q = lambda sql: store.query(sql).df()  # noqa: E731
    deploys = q("SELECT ts, service, version, previous_version FROM deploys")
    changes = q("SELECT ts, service, kind, module, from_version, to_version FROM upgrades")
    panics = q("""
        SELECT d.ts, coalesce(d.service, ss.service) AS service, p.signature, p.message, p.top_function,
               (SELECT list(f.function ORDER BY f.depth) FROM goroutines g JOIN frames f
                  ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq
                WHERE g.dump_id = p.dump_id AND g.goroutine_id = p.goroutine_id) AS functions
        FROM panics p JOIN dumps d USING (dump_id) LEFT JOIN source_services ss ON ss.source_id = d.source_id
        WHERE p.seq = 0 AND d.ts IS NOT NULL AND p.kind <> 'race'""")
    restarts = q("SELECT first_ts AS ts, service FROM log_files WHERE restart > 0 AND first_ts IS NOT NULL")
    log_counts = q("""
        SELECT time_bucket(INTERVAL 1 second, l.ts) AS ts, coalesce(l.service, ss.service) AS service,
               count(*) FILTER (WHERE l.level IN ('error', 'fatal', 'panic')) AS errors, count(*) AS total
        FROM logs l LEFT JOIN source_services ss ON ss.source_id = l.source_id AND l.service IS NULL
        WHERE l.ts IS NOT NULL GROUP BY ALL""")
    latencies = q(f"""
        SELECT * FROM (
          SELECT ts, service, coalesce(
                   TRY_CAST(json_extract_string(attributes, '$.latency_ms') AS DOUBLE),
                   TRY_CAST(json_extract_string(attributes, '$.duration_ms') AS DOUBLE),
                   TRY_CAST(json_extract_string(attributes, '$.elapsed_ms') AS DOUBLE),
                   1000 * TRY_CAST(json_extract_string(attributes, '$.latency') AS DOUBLE),
                   1000 * TRY_CAST(json_extract_string(attributes, '$.duration') AS DOUBLE)) AS ms,
                 'logs' AS origin
          FROM logs WHERE attributes IS NOT NULL AND ts IS NOT NULL AND service IS NOT NULL
          UNION ALL
          SELECT start_ts, service, duration_ns / 1e6, 'spans' FROM spans
          WHERE (kind = 'server' OR parent_span_id IS NULL) AND duration_ns IS NOT NULL AND start_ts IS NOT NULL
        ) WHERE ms IS NOT NULL USING SAMPLE reservoir({int(latency_samples)} ROWS) REPEATABLE (7)""")
    goroutines = q("""
        SELECT d.ts, coalesce(d.service, ss.service) AS service, coalesce(d.pod, ss.pod) AS pod,
               coalesce(g.created_by, '(no creator)') AS site, sum(g.count) AS count
        FROM dumps d JOIN goroutines g USING (dump_id) LEFT JOIN source_services ss ON ss.source_id = d.source_id
        WHERE d.kind IN ('goroutines', 'goroutine_profile', 'signal') AND d.ts IS NOT NULL AND NOT g.is_system
        GROUP BY ALL""")
    profile_shares = q("""
        WITH cpu AS (
          SELECT pr.profile_id, pr.ts, coalesce(pr.service, ss.service) AS service,
                 list_position(pr.sample_types, 'samples') AS i
          FROM profiles pr LEFT JOIN source_services ss ON ss.source_id = pr.source_id
          WHERE pr.kind = 'cpu' AND pr.ts IS NOT NULL
        ),
        s AS (
          SELECT c.ts, c.service, s.stack_id, s.values[c.i] AS v, c.profile_id
          FROM cpu c JOIN profile_samples s USING (profile_id) WHERE c.i IS NOT NULL
        )
        SELECT s.ts, s.service, sf.function, sum(s.v) AS samples,
               (SELECT sum(x.v) FROM s x WHERE x.profile_id = s.profile_id) AS total
        FROM s JOIN stack_frames sf ON sf.stack_id = s.stack_id AND sf.depth = 0
        GROUP BY s.ts, s.service, sf.function, s.profile_id""")
    for df in (deploys, changes, panics, restarts, log_counts, latencies, goroutines, profile_shares):
        if "ts" in df:
            df["ts"] = pd.to_datetime(df["ts"])
    return Evidence(deploys, changes, panics, restarts, log_counts, latencies, goroutines, profile_shares)
