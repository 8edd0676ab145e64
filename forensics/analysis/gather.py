"""The evidence correlation weighs, read from an incident database per
instance and release.

Every row carries the service, the instance (a pod's container run) and
the release that produced it, as the `*_releases` views resolve them, so
correlation can compare releases by the instances that ran them, whenever
they ran. Stacks carry module versions (`module@version` per frame, from
module-cache paths), so a symptom can be traced to the deploy that brought
that code in. Tests build :class:`Evidence` bundles by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..db.store import Store
from .leaks import SNAPSHOT

NO_CREATOR = "(no creator)"  # goroutines.created_by is NULL


@dataclass
class Evidence:
    """What correlation looks at, as DataFrames (ts naive UTC). `instance`
    and `version` may be missing from any frame (then the service's
    release by time and one instance per release stand in):

    - deploys: ts, service, version, previous_version
    - changes: ts, service, kind, module, from_version, to_version (the upgrades view)
    - modules: service, version, module, module_version (each release's modules; `go` for the toolchain)
    - instances: service, instance, version, started, ended (how long each ran)
    - panics: ts, service, instance, version, signature, message, top_function, functions (frame
      functions, innermost first), modules (`module@version` per frame, None outside modules), where
    - restarts: ts, service, instance, version
    - log_counts: ts (start of a second), service, instance, version, errors, total
    - latencies: ts, service, instance, version, ms, origin (`logs` or `spans`)
    - calls: ts, service, version, ms, callee, callee_ms (server spans and the time spent in calls to
      another service's server spans under them)
    - goroutines: dump_id, ts, service, instance, version, site, count, modules, where (one row per
      snapshot and creation site)
    - profile_shares: ts, service, instance, version, kind, function, modules, samples, total, duration_ns
      (CPU and heap profiles: each function's flat value, the profile's total and how long it sampled)
    """

    deploys: pd.DataFrame
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    panics: pd.DataFrame = field(default_factory=pd.DataFrame)
    restarts: pd.DataFrame = field(default_factory=pd.DataFrame)
    log_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    latencies: pd.DataFrame = field(default_factory=pd.DataFrame)
    goroutines: pd.DataFrame = field(default_factory=pd.DataFrame)
    profile_shares: pd.DataFrame = field(default_factory=pd.DataFrame)
    modules: pd.DataFrame = field(default_factory=pd.DataFrame)
    instances: pd.DataFrame = field(default_factory=pd.DataFrame)
    calls: pd.DataFrame = field(default_factory=pd.DataFrame)


# module@version of a module-cache path (`.../pkg/mod/<module>@<version>/file.go`), NULL elsewhere.
_FILE_MODULE = ("nullif(regexp_extract({f}, '(?:^|/)pkg/mod/([^@]+@[^/]+)/', 1), '')")
_FRAME_MODULE = "CASE WHEN {m} IS NOT NULL THEN {m} || coalesce('@' || {v}, '') END"

# A request's latency in a log record: the field a request log carries (ms), NULL
# for other records. Correlation, the latency figure, the report's impact and the
# evidence's files all read requests from logs by this one rule.
def request_ms(attributes: str = "attributes") -> str:
    """The SQL of a log record's request latency (ms) from its `attributes` column, NULL for other records.

    >>> request_ms("l.attributes").count("l.attributes")
    5
    """
    fields = [("latency_ms", ""), ("duration_ms", ""), ("elapsed_ms", ""), ("latency", "1000 * "),
              ("duration", "1000 * ")]
    return "coalesce(" + ", ".join(f"{scale}TRY_CAST(json_extract_string({attributes}, '$.{name}') AS DOUBLE)"
                                   for name, scale in fields) + ")"


REQUEST_MS = request_ms()
# Every request's latency with its time, service, instance and release: server
# spans (or roots) and request logs.
LATENCY_ROWS = f"""
    SELECT ts, service, instance, version, {REQUEST_MS} AS ms, 'logs' AS origin
    FROM log_releases WHERE attributes IS NOT NULL AND ts IS NOT NULL AND service IS NOT NULL
    UNION ALL
    SELECT ts, service, instance, version, duration_ns / 1e6, 'spans' FROM span_releases
    WHERE (kind = 'server' OR parent_span_id IS NULL) AND duration_ns IS NOT NULL AND ts IS NOT NULL"""

QUERIES = {
    "deploys": "SELECT ts, service, version, previous_version, rollback FROM deploys",
    "changes": "SELECT ts, service, kind, module, from_version, to_version FROM upgrades",
    "modules": """
        WITH ranked AS (
          SELECT *, CASE WHEN kind IN ('main', 'dep') THEN 1 WHEN kind IN ('require', 'indirect') THEN 2 ELSE 3 END
                    AS pref
          FROM module_versions WHERE service IS NOT NULL AND version IS NOT NULL)
        SELECT DISTINCT service, version, module, coalesce(replaced_version, module_version) AS module_version
        FROM ranked r WHERE kind <> 'main'
          AND pref = (SELECT min(pref) FROM ranked x WHERE x.service = r.service AND x.version = r.version)
        UNION ALL
        SELECT DISTINCT service, version, 'go', go_version FROM module_versions WHERE go_version IS NOT NULL""",
    "instances": """
        SELECT service, instance, any_value(version) AS version, min(ts) AS started, max(ts) AS ended FROM (
          SELECT i.service, i.instance, pv.version, i.started AS ts FROM instances i LEFT JOIN pod_versions pv USING (pod)
          UNION ALL SELECT i.service, i.instance, pv.version, i.ended FROM instances i LEFT JOIN pod_versions pv USING (pod)
          UNION ALL SELECT service, instance, version, ts FROM dump_releases WHERE instance IS NOT NULL
          UNION ALL SELECT service, instance, version, ts FROM profile_releases WHERE instance IS NOT NULL)
        WHERE service IS NOT NULL AND ts IS NOT NULL GROUP BY ALL""",
    "panics": f"""
        SELECT d.ts, r.service, r.instance, r.version, p.signature, p.message, p.top_function,
               (SELECT list(f.function ORDER BY f.depth) FROM goroutines g JOIN frames f
                  ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq
                WHERE g.dump_id = p.dump_id AND g.goroutine_id = p.goroutine_id) AS functions,
               (SELECT list({_FRAME_MODULE.format(m='f.module', v='f.module_version')} ORDER BY f.depth)
                FROM goroutines g JOIN frames f ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq
                WHERE g.dump_id = p.dump_id AND g.goroutine_id = p.goroutine_id) AS modules,
               s.path || ':' || d.start_line AS "where"
        FROM panics p JOIN dumps d USING (dump_id) JOIN dump_releases r USING (dump_id)
        JOIN sources s ON s.source_id = d.source_id
        WHERE p.seq = 0 AND d.ts IS NOT NULL AND p.kind <> 'race'""",
    "restarts": """
        SELECT i.started AS ts, i.service, i.instance, pv.version
        FROM instances i LEFT JOIN pod_versions pv USING (pod) WHERE i.restart > 0""",
    "log_counts": """
        SELECT time_bucket(INTERVAL 1 second, ts) AS ts, service, instance, version,
               count(*) FILTER (WHERE level IN ('error', 'fatal', 'panic')) AS errors, count(*) AS total
        FROM log_releases WHERE ts IS NOT NULL AND service IS NOT NULL GROUP BY ALL""",
    "latencies": f"""
        SELECT * FROM ({LATENCY_ROWS}) WHERE ms IS NOT NULL USING SAMPLE reservoir({{samples}} ROWS) REPEATABLE (7)""",
    # Time each server span spent waiting on another service: the server spans of
    # that service among its descendants (directly, or under its client spans).
    "calls": """
        WITH s AS (SELECT trace_id, span_id, parent_span_id, service, version, kind, ts, duration_ns
                   FROM span_releases WHERE duration_ns IS NOT NULL),
        callee AS (
          SELECT c.trace_id, coalesce(mid.parent_span_id, c.parent_span_id) AS caller_span, c.service AS callee,
                 c.duration_ns
          FROM s c LEFT JOIN s mid ON mid.trace_id = c.trace_id AND mid.span_id = c.parent_span_id
                                  AND mid.kind = 'client' AND mid.service <> c.service
          WHERE c.kind = 'server' AND c.parent_span_id IS NOT NULL)
        SELECT p.ts, p.service, p.version, p.duration_ns / 1e6 AS ms, k.callee, sum(k.duration_ns) / 1e6 AS callee_ms
        FROM s p JOIN callee k ON k.trace_id = p.trace_id AND k.caller_span = p.span_id
        WHERE p.kind = 'server' AND k.callee <> p.service
        GROUP BY ALL USING SAMPLE reservoir({samples} ROWS) REPEATABLE (7)""",
    "goroutines": f"""
        WITH snap AS (
          SELECT d.dump_id, d.ts, r.service, r.instance, r.version, src.path AS "where"
          FROM dumps d JOIN dump_releases r USING (dump_id) JOIN sources src ON src.source_id = d.source_id
          WHERE {SNAPSHOT} AND d.ts IS NOT NULL),
        g AS (
          SELECT s.*, coalesce(g.created_by, '{NO_CREATOR}') AS site, g.count, g.seq, g.created_by_file
          FROM snap s JOIN goroutines g USING (dump_id) WHERE NOT g.is_system AND g.goroutine_id IS DISTINCT FROM -1),
        example AS (  -- one goroutine of each site in each snapshot: the modules on its stack, and its creator's
          SELECT dump_id, site, min(seq) AS seq, any_value({_FILE_MODULE.format(f='created_by_file')}) AS creator_module
          FROM g GROUP BY dump_id, site),
        mods AS (
          SELECT e.dump_id, e.site,
                 list_distinct(list_prepend(any_value(e.creator_module),
                               list({_FRAME_MODULE.format(m='f.module', v='f.module_version')} ORDER BY f.depth))) AS modules
          FROM example e LEFT JOIN frames f ON f.dump_id = e.dump_id AND f.goroutine_seq = e.seq GROUP BY e.dump_id, e.site)
        SELECT g.dump_id, g.ts, g.service, g.instance, g.version, g.site, sum(g.count) AS count,
               any_value(m.modules) AS modules,  -- list_distinct dropped the NULLs of frames outside modules
               any_value(g."where") AS "where"
        FROM g LEFT JOIN mods m USING (dump_id, site) GROUP BY g.dump_id, g.ts, g.service, g.instance, g.version, g.site""",
    "profile_shares": f"""
        WITH prof AS (
          SELECT pr.profile_id, pr.ts, pr.kind, pr.duration_ns, r.service, r.instance, r.version,
                 CASE pr.kind WHEN 'cpu' THEN list_position(pr.sample_types, 'samples')
                              WHEN 'heap' THEN list_position(pr.sample_types, 'inuse_space') END AS i
          FROM profiles pr JOIN profile_releases r USING (profile_id) WHERE pr.kind IN ('cpu', 'heap') AND pr.ts IS NOT NULL),
        s AS (SELECT c.*, s.stack_id, s.values[c.i] AS v FROM prof c JOIN profile_samples s USING (profile_id)
              WHERE c.i IS NOT NULL),
        totals AS (SELECT profile_id, sum(v) AS total FROM s GROUP BY profile_id)
        SELECT s.ts, s.service, s.instance, s.version, s.kind, sf.function,
               list_distinct(list({_FRAME_MODULE.format(m='sf.module', v='sf.module_version')})
                             FILTER (WHERE sf.module IS NOT NULL)) AS modules,
               sum(s.v) AS samples, any_value(t.total) AS total, any_value(s.duration_ns) AS duration_ns
        FROM s JOIN stack_frames sf ON sf.stack_id = s.stack_id AND sf.depth = 0 JOIN totals t USING (profile_id)
        WHERE t.total > 0 GROUP BY s.profile_id, s.ts, s.service, s.instance, s.version, s.kind, sf.function""",
}


# When each release of a service was first seen running, from what rows say of
# themselves or their pods (not from deploy records, which this stands in for).
FIRST_SEEN_SQL = """
SELECT service, version, min(ts) AS ts FROM (
  SELECT service, version, ts, version_source FROM dump_releases
  UNION ALL SELECT service, version, ts, version_source FROM profile_releases
  UNION ALL SELECT service, version, ts, version_source FROM span_releases
  UNION ALL SELECT service, version, ts, version_source FROM log_releases)
WHERE service IS NOT NULL AND version IS NOT NULL AND ts IS NOT NULL
  AND version_source NOT IN ('deploy record', 'deploy time')
GROUP BY ALL"""


def evidence_from_store(store: Store, samples: int = 200_000) -> Evidence:
    """The Evidence bundle of an incident database (latency and calls sampled
    to `samples` rows). A service without deploy records gets one deploy per
    release its rows name (spans' service.version, images in Kubernetes
    events, versions given at ingest), at the time it was first seen."""
    frames = {}
    for name, sql in QUERIES.items():
        df = store.query(sql.replace("{samples}", str(int(samples)))).df()
        for col in ("ts", "started", "ended"):
            if col in df:
                df[col] = pd.to_datetime(df[col])
        frames[name] = df
    frames["deploys"] = with_inferred_deploys(frames["deploys"], store.query(FIRST_SEEN_SQL).df())
    return Evidence(**frames)


def with_inferred_deploys(deploys: pd.DataFrame, first_seen: pd.DataFrame) -> pd.DataFrame:
    """Deploy records, and for each service that has none, a deploy of each
    release its rows name at the time it was first seen (FIRST_SEEN_SQL)."""
    known = set(deploys["service"]) if len(deploys) else set()
    rows = []
    for service, group in first_seen[~first_seen["service"].isin(known)].groupby("service"):
        previous = None
        for r in group.sort_values("ts").itertuples(index=False):
            rows.append(dict(ts=pd.Timestamp(r.ts), service=service, version=r.version, previous_version=previous,
                             rollback=False))
            previous = r.version
    if not rows:
        return deploys
    inferred = pd.DataFrame(rows)
    return inferred if deploys.empty else pd.concat([deploys, inferred], ignore_index=True)


def rows_of(df: pd.DataFrame, service: str, version: str | None) -> pd.DataFrame:
    """The rows of an Evidence frame that one release of a service produced (none for version None)."""
    if df is None or df.empty:
        return df if df is not None else pd.DataFrame()
    return df[(df["service"] == service) & (df["version"] == version)]


def profile_shares(rows: pd.DataFrame, absolute: bool = False) -> pd.DataFrame:
    """One row per profile (ts, instance) of `Evidence.profile_shares` rows, one
    column per function: its share of the profile's total, or (`absolute`)
    its own cost: CPU per second sampled (a share grows when others shrink:
    a fix makes the rest look worse), bytes in use for heap profiles."""
    if absolute:
        per = rows["duration_ns"].where(rows["duration_ns"] > 0) / 1e9 if "duration_ns" in rows else None
        value = rows["samples"] / per if per is not None and rows["kind"].eq("cpu").all() else rows["samples"]
    else:
        value = rows["samples"] / rows["total"].where(rows["total"] > 0)
    return rows.assign(value=value.fillna(0.0)).pivot_table(index=["ts", "instance"], columns="function",
                                                            values="value", aggfunc="sum", fill_value=0.0)
