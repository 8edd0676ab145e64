"""Goroutine growth across snapshots, per instance: where leaks come from.

Every goroutine snapshot is a dump in `dumps`/`goroutines`/`frames`:
debug=2 dumps, SIGQUIT dumps and GOTRACEBACK=all crash dumps (form `dump`)
and goroutine profiles, debug=0 proto (form `profile`) or debug=1 text
(form `profile_text`). Each snapshot belongs to an instance (a pod's
container run, as `dump_releases` resolves it: a restart starts a new one)
and a release. For each instance and form the snapshots are put in time
order and the goroutines of each are counted per site:

- `creation`: the `created by` function of a dump; a profile does not
  record it, so there its start function (outermost frame) stands in;
- `start`: the goroutine's start function (outermost frame, not goexit);
- `blocking`: the innermost frame outside the runtime, where it waits.

A site leaks in an instance when its count, over at least `min_snapshots`
snapshots, ends above where it started and rises: it never falls and rose
at every step but at most one, or Kendall's trend test says so (p < 0.01),
for sites whose count is noisy. `onset` is the snapshot the rise began
from. Snapshots without a pod (a service's files ingested by hand) form one
series per service, cut where a count falls below half of the snapshot
before (a restart): each run is then an instance of its own (`run 1`...).
Forms are not mixed: their stacks differ (debug=1 hides the runtime frames
a proto keeps) and one instant is often saved in all three.

The first rows merge each site over its instances (`instance` NULL):
how many instances leak, the highest peak, the largest growth.

>>> import forensics as fx
>>> goroutine_growth(fx.open().store).empty
True
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..db.store import Store

if TYPE_CHECKING:
    import pandas as pd

# debug=2 and crash dumps, debug=0 protos and debug=1 texts are separate series.
_FORM = ("CASE WHEN d.kind <> 'goroutine_profile' THEN 'dump' "
         "WHEN src.kind = 'pprof_text' THEN 'profile_text' ELSE 'profile' END")
# Dumps that list every goroutine: a GOTRACEBACK=single panic shows one, a
# race report only the racing ones.
SNAPSHOT = ("(d.kind IN ('goroutines', 'goroutine_profile', 'signal') "
            "OR (d.kind IN ('panic', 'fatal') AND d.total_goroutines > 1))")
_RUNTIME = "(function LIKE 'runtime.%' OR function LIKE 'internal/runtime/%')"

SNAPSHOTS_SQL = f"""
SELECT d.dump_id, d.ts, coalesce(r.service, '') AS service, r.instance, r.version, {_FORM} AS form
FROM dumps d JOIN sources src USING (source_id) JOIN dump_releases r USING (dump_id)
WHERE {SNAPSHOT} {{where}}
"""

SITE_COUNTS_SQL = f"""
WITH snap AS ({SNAPSHOTS_SQL}),
ends AS (
    SELECT dump_id, goroutine_seq,
           arg_max(function, depth) FILTER (WHERE function <> 'runtime.goexit') AS start_function,
           arg_min(function, depth) FILTER (WHERE NOT {_RUNTIME}) AS blocking_function
    FROM frames WHERE dump_id IN (SELECT dump_id FROM snap) GROUP BY ALL
),
g AS (
    SELECT g.dump_id, g.count, e.start_function, e.blocking_function,
           CASE WHEN s.form = 'dump' THEN g.created_by ELSE e.start_function END AS creation
    FROM goroutines g JOIN snap s USING (dump_id)
    LEFT JOIN ends e ON e.dump_id = g.dump_id AND e.goroutine_seq = g.seq
    WHERE NOT g.is_system AND g.goroutine_id IS DISTINCT FROM -1
)
SELECT s.dump_id, site.site_by AS "by", site.site, sum(g.count)::BIGINT AS n
FROM g JOIN snap s USING (dump_id),
     LATERAL (VALUES ('creation', g.creation), ('start', g.start_function), ('blocking', g.blocking_function))
         AS site(site_by, site)
WHERE site.site IS NOT NULL
GROUP BY ALL
"""

COLUMNS = ["service", "instance", "version", "form", "by", "site", "instances", "leaking_instances", "snapshots",
           "first_ts", "last_ts", "first", "last", "peak", "growth", "per_minute", "leak", "onset", "counts"]


def _runs(series: list[int]) -> list[tuple[int, int]]:
    """(start, end) index ranges of the series cut where the count falls
    below half of the snapshot before: a restart (or a fix) starts again."""
    cuts = [i for i in range(1, len(series)) if series[i] < series[i - 1] / 2]
    bounds = [0, *cuts, len(series)]
    return list(zip(bounds, bounds[1:]))


def rises(series: list[int], min_snapshots: int = 3) -> bool:
    """The shape of a leak: ends above its start over enough snapshots, and
    never falls while rising at all steps but one, or trends up (Kendall, p < 0.01).

    >>> rises([40, 80, 120]), rises([448, 448, 448]), rises([500, 300, 310, 320])
    (True, False, False)
    """
    if len(series) < min_snapshots or series[-1] <= series[0]:
        return False
    steps = list(zip(series, series[1:]))
    if all(b >= a for a, b in steps) and sum(b > a for a, b in steps) >= max(min_snapshots - 1, len(steps) - 1):
        return True
    from .evidence import trend_increase  # scipy, only for noisy series

    tau, p = trend_increase(series)
    return tau > 0 and p < 0.01


def rise_start(series: list[int]) -> int:
    """Index of the snapshot the rise began from: the last one at the
    series' lowest level before its peak."""
    peak = max(range(len(series)), key=lambda i: (series[i], i))
    low = min(series[:peak + 1])
    return max(i for i in range(peak + 1) if series[i] == low)


def instance_series(store: Store, service: str | None = None, by: tuple[str, ...] = ("creation", "blocking")):
    """(snapshots, counts) DataFrames: each snapshot with its instance
    (`run N` when it has no pod) and each site's count in it."""
    import pandas as pd

    where, params = ("AND r.service = ?", [service]) if service is not None else ("", None)
    # equal times (files of one mtime): in file order, then within a file
    snaps = store.query(SNAPSHOTS_SQL.format(where=where) + " ORDER BY d.ts NULLS FIRST, src.path, d.start_line, "
                        "d.dump_id", params).df()
    counts = store.query(SITE_COUNTS_SQL.format(where=where), params).df()
    counts = counts[counts["by"].isin(by)]
    if snaps.empty:
        return snaps.assign(series=pd.Series(dtype=str)), counts
    # Snapshots without a pod: one series per service and form, cut at restarts into runs.
    totals = counts[counts["by"] == by[0]].groupby("dump_id")["n"].sum()
    snaps["series"] = snaps["instance"]
    for (svc, form), group in snaps[snaps["instance"].isna()].groupby(["service", "form"]):
        series = [int(totals.get(d, 0)) for d in group["dump_id"]]
        runs = _runs(series)
        for k, (a, b) in enumerate(runs, 1):
            snaps.loc[group.index[a:b], "series"] = f"run {k}" if len(runs) > 1 else "(no pod)"
    return snaps, counts


def goroutine_growth(store: Store, service: str | None = None, min_snapshots: int = 3,
                     by: tuple[str, ...] = ("creation", "blocking")) -> "pd.DataFrame":
    """Goroutines per site and instance across its snapshots: one row per
    (service, instance, release, form, by, site) with the counts shown
    (`counts`), first, last, peak, growth (last - first), growth per
    minute, `leak` and its `onset`; above them one row per (service, form,
    by, site) merging its instances (`instance` NULL). Leaks first, then by growth.
    """
    import pandas as pd

    snaps, counts = instance_series(store, service, by)
    per_dump = {(d, b, s): int(n) for d, b, s, n in counts[["dump_id", "by", "site", "n"]].itertuples(index=False)}
    rows = []
    for (svc, form, inst), group in snaps.groupby(["service", "form", "series"], sort=True):
        ids, times = list(group["dump_id"]), list(group["ts"])
        version = group["version"].dropna().iloc[-1] if group["version"].notna().any() else None
        mine = counts[counts["dump_id"].isin(ids)]
        for (site_by, site), _ in mine.groupby(["by", "site"], sort=True):
            series = [per_dump.get((d, site_by, site), 0) for d in ids]
            leak = rises(series, min_snapshots)
            minutes = (times[-1] - times[0]).total_seconds() / 60 if len(times) > 1 and pd.notna(times[0]) \
                and pd.notna(times[-1]) else 0.0
            growth = series[-1] - series[0]
            rows.append(dict(service=svc or None, instance=inst, version=version, form=form, by=site_by, site=site,
                             instances=1, leaking_instances=int(leak), snapshots=len(series), first_ts=times[0],
                             last_ts=times[-1], first=series[0], last=series[-1], peak=max(series), growth=growth,
                             per_minute=growth / minutes if minutes > 0 else None, leak=leak,
                             onset=times[rise_start(series)] if leak else None, counts=series))
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df
    merged = []
    for (svc, form, site_by, site), part in df.groupby(["service", "form", "by", "site"], sort=True, dropna=False):
        best = part.sort_values(["leak", "growth", "peak"], ascending=False).iloc[0]
        merged.append(dict(best, instance=None, version=None, instances=len(part),
                           leaking_instances=int(part["leak"].sum()), snapshots=int(part["snapshots"].sum()),
                           first_ts=part["first_ts"].min(), last_ts=part["last_ts"].max(), peak=int(part["peak"].max()),
                           leak=bool(part["leak"].any()),
                           onset=part["onset"].dropna().min() if part["leak"].any() else None))
    order = dict(by=["leak", "growth", "last"], ascending=[False, False, False], kind="stable")
    return pd.concat([pd.DataFrame(merged, columns=COLUMNS).sort_values(**order),
                      df.sort_values(**order)], ignore_index=True)
