"""Goroutine growth across snapshots: where leaks come from.

Every goroutine snapshot is a dump in `dumps`/`goroutines`/`frames`:
debug=2 dumps, SIGQUIT dumps and GOTRACEBACK=all crash dumps (form `dump`) and goroutine profiles, debug=0
proto (form `profile`) or debug=1 text (form `profile_text`). For each service and form, the
snapshots are put in time order (ties by ingest order) and the goroutines
of each are counted per site:

- `creation`: the `created by` function of a dump; a profile does not
  record it, so there its start function (outermost frame) stands in;
- `start`: the goroutine's start function (outermost frame, not goexit);
- `blocking`: the innermost frame outside the runtime, where it waits.

A site whose count never falls and rises at least `min_snapshots` - 1
times grows monotonically: the shape of a leak (one step up is a new
code path or a burst, not yet a leak). A fall below half the previous
count is read as a restart: the series is cut there and each run of
snapshots is judged on its own, so a leak that restarts keep resetting
is still found.
Forms are not mixed, because their stacks differ (debug=1 hides the
runtime frames a proto keeps) and one instant is often saved in all three.

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
_SNAPSHOT = ("(d.kind IN ('goroutines', 'goroutine_profile', 'signal') "
             "OR (d.kind IN ('panic', 'fatal') AND d.total_goroutines > 1))")
_RUNTIME = "(function LIKE 'runtime.%' OR function LIKE 'internal/runtime/%')"

SITE_COUNTS_SQL = f"""
WITH snap AS (
    SELECT dump_id, d.ts, coalesce(d.service, ss.service, '') AS service, {_FORM} AS form
    FROM dumps d JOIN sources src USING (source_id)
    LEFT JOIN source_services ss ON ss.source_id = d.source_id  -- dumps/<pod>/...: whose the file is
    WHERE {_SNAPSHOT} {{where}}
),
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
SELECT s.service, s.form, s.dump_id, s.ts, site.site_by AS "by", site.site, sum(g.count)::BIGINT AS n
FROM g JOIN snap s USING (dump_id),
     LATERAL (VALUES ('creation', g.creation), ('start', g.start_function), ('blocking', g.blocking_function))
         AS site(site_by, site)
WHERE site.site IS NOT NULL
GROUP BY ALL
"""


def _runs(series: list[int]) -> list[list[int]]:
    """The series cut where the count falls below half of the snapshot
    before: a restart (or a fix) starts counting again."""
    runs = [[series[0]]]
    for prev, cur in zip(series, series[1:]):
        if cur < prev / 2:
            runs.append([])
        runs[-1].append(cur)
    return runs


def _grows(run: list[int], min_snapshots: int) -> bool:
    steps = list(zip(run, run[1:]))
    return (len(run) >= min_snapshots and all(b >= a for a, b in steps)
            and sum(b > a for a, b in steps) >= min_snapshots - 1)


def goroutine_growth(store: Store, service: str | None = None, min_snapshots: int = 3,
                     by: tuple[str, ...] = ("creation", "blocking")) -> "pd.DataFrame":
    """One row per (service, form, by, site): goroutine counts over the
    snapshots (`counts`, with `snapshots` and `first_ts`/`last_ts`), first,
    last and peak count, growth, growth per minute, and `leak` (True when
    the count never falls and rose at least `min_snapshots` - 1 times, in
    some run of snapshots between restarts).
    Leaking sites first, then by growth.
    """
    import pandas as pd

    where, params = ("AND coalesce(d.service, ss.service) = ?", [service]) if service is not None else ("", None)
    counts = store.query(SITE_COUNTS_SQL.format(where=where), params).df()
    snaps = store.query(
        f"SELECT coalesce(d.service, ss.service, '') AS service, {_FORM} AS form, dump_id, d.ts FROM dumps d "
        f"JOIN sources src USING (source_id) LEFT JOIN source_services ss ON ss.source_id = d.source_id "
        f"WHERE {_SNAPSHOT} "
        f"{where} ORDER BY d.ts NULLS FIRST, dump_id", params).df()
    columns = ["service", "form", "by", "site", "snapshots", "first_ts", "last_ts", "first", "last", "peak",
               "growth", "per_minute", "leak", "counts"]
    rows = []
    counts = counts[counts["by"].isin(by)]
    for (svc, form), group in snaps.groupby(["service", "form"], sort=True):
        order = list(group["dump_id"])
        times = list(group["ts"])
        mine = counts[(counts["service"] == svc) & (counts["form"] == form)]
        for (site_by, site), part in mine.groupby(["by", "site"], sort=True):
            per_dump = dict(zip(part["dump_id"], part["n"]))
            series = [int(per_dump.get(d, 0)) for d in order]
            first, last = series[0], series[-1]
            leak = any(_grows(run, min_snapshots) for run in _runs(series))
            minutes = (times[-1] - times[0]).total_seconds() / 60 if len(times) > 1 and pd.notna(times[0]) \
                and pd.notna(times[-1]) else 0.0
            rows.append((svc or None, form, site_by, site, len(series), times[0], times[-1], first, last,
                         max(series), last - first, (last - first) / minutes if minutes > 0 else None,
                         leak, series))
    df = pd.DataFrame(rows, columns=columns)
    if len(df):
        df = df.sort_values(["leak", "growth", "last"], ascending=[False, False, False], kind="stable")
    return df.reset_index(drop=True)
