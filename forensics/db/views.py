"""Views and macros of the incident database, created (or replaced) whenever
it is opened, so they follow the tables whatever the version that wrote
them. Documented in docs/schema.md with the tables.
"""
from __future__ import annotations

from .origins import ORIGIN_VIEWS

# name -> (doc, CREATE OR REPLACE statement); created in this order.
VIEWS: dict[str, tuple[str, str]] = {
    "stack_frames": (
        "Profile stacks frame by frame: stacks joined to frame_info (stack_id, depth, then the frame's columns).",
        """CREATE OR REPLACE VIEW stack_frames AS
SELECT s.stack_id, s.depth, f.* EXCLUDE (frame_id) FROM stacks s JOIN frame_info f USING (frame_id)""",
    ),
    "trace_flows": (
        "Flow events (s, t, f) of Chrome traces joined into edges: each start or step to the next step or finish with the same (source, cat, id), "
        "with the slices they bind to (the innermost X or B slice on that thread covering the flow's time). "
        "In go tool trace exports these are `go` (goroutine creation) and `unblock` edges; latency_ns is the wake-up delay.",
        """CREATE OR REPLACE VIEW trace_flows AS
WITH f AS (
  SELECT source_id, id, cat, name, seq, pid, tid, ts, ts_us, ph,
         lead(ph) OVER w AS to_ph, lead(pid) OVER w AS to_pid, lead(tid) OVER w AS to_tid,
         lead(ts) OVER w AS to_ts, lead(ts_us) OVER w AS to_ts_us
  FROM trace_events WHERE ph IN ('s', 't', 'f') AND id IS NOT NULL
  WINDOW w AS (PARTITION BY source_id, coalesce(cat, ''), id ORDER BY ts_us, seq)
)
SELECT f.source_id, f.id, f.name, f.cat,
  f.pid AS from_pid, f.tid AS from_tid, f.ts AS from_ts,
  (SELECT arg_max(x.name, x.ts_us) FROM trace_events x
    WHERE x.source_id = f.source_id AND x.pid = f.pid AND x.tid = f.tid AND x.ph IN ('X', 'B')
      AND x.ts_us <= f.ts_us AND f.ts_us <= x.ts_us + x.dur_ns / 1000.0) AS from_slice,
  f.to_pid, f.to_tid, f.to_ts,
  (SELECT arg_max(x.name, x.ts_us) FROM trace_events x
    WHERE x.source_id = f.source_id AND x.pid = f.to_pid AND x.tid = f.to_tid AND x.ph IN ('X', 'B')
      AND x.ts_us <= f.to_ts_us AND f.to_ts_us <= x.ts_us + x.dur_ns / 1000.0) AS to_slice,
  CAST(round((f.to_ts_us - f.ts_us) * 1000) AS BIGINT) AS latency_ns
FROM f WHERE f.ph <> 'f' AND f.to_ph IN ('t', 'f')""",
    ),
    "profile_values": (
        "profile_samples in long form: one row per sample and sample type.",
        """CREATE OR REPLACE VIEW profile_values AS
SELECT s.profile_id, s.sample_id, unnest(p.sample_types) AS sample_type, unnest(p.sample_units) AS unit,
       unnest(s.values) AS value
FROM profile_samples s JOIN profiles p USING (profile_id)""",
    ),
}

# Deploys, releases and the timeline (docs in each entry).
VIEWS.update({
    "semver_key": (
        "The numbers of a version as a list that sorts like the version: `v1.10.2` -> [1, 10, 2], `go1.22.1` -> [1, 22, 1].",
        """CREATE OR REPLACE MACRO semver_key(v) AS
TRY_CAST(regexp_extract_all(v, '\\d+') AS BIGINT[])""",
    ),
    "deploys": (
        "Deploy records, one per (service, ts, version), with the release before and the time of the next deploy.",
        """CREATE OR REPLACE VIEW deploys AS
WITH d AS (
  SELECT DISTINCT ON (service, ts, version) ts, service, version, image, source_id, line
  FROM events WHERE kind = 'deploy' ORDER BY service, ts, version, source_id, line
)
SELECT ts, service, version, image,
       lag(version) OVER w AS previous_version, lag(image) OVER w AS previous_image,
       lead(ts) OVER w AS until, source_id, line,
       EXISTS (SELECT 1 FROM events e WHERE e.kind = 'deploy' AND e.service = d.service AND e.version = d.version
               AND e.ts < (SELECT max(p.ts) FROM events p WHERE p.kind = 'deploy' AND p.service = d.service
                           AND p.ts < d.ts)) AS rollback
FROM d WINDOW w AS (PARTITION BY service ORDER BY ts, source_id, line)""",
    ),
    "version_at": (
        "The version of a service deployed at a time (the latest deploy record at or before it), or NULL.",
        """CREATE OR REPLACE MACRO version_at(svc, t) AS
(SELECT arg_max(e.version, e.ts) FROM events e WHERE e.kind = 'deploy' AND e.service = svc AND e.ts <= t)""",
    ),
})

VIEWS.update(ORIGIN_VIEWS)  # what was running: source_origins ... span_releases

VIEWS.update({
    "module_versions": (
        "Module versions of each release: build info, go.mod or go.sum rows with the service and version given at ingest or by the deploy record that names the file. `kind` says where a row comes from (main/dep: build info; require/indirect: go.mod; sum: go.sum).",
        """CREATE OR REPLACE VIEW module_versions AS
WITH link AS (
  SELECT s.source_id, any_value(d.service) AS service, any_value(d.version) AS version
  FROM sources s JOIN (SELECT DISTINCT service, version, buildinfo, buildinfo_path FROM events
                       WHERE kind = 'deploy' AND buildinfo IS NOT NULL) d
    ON s.path = d.buildinfo_path OR ends_with(s.path, '/' || d.buildinfo)
  GROUP BY s.source_id
),
owner AS (
  SELECT b.build_id, b.source_id, coalesce(b.service, l.service) AS service, coalesce(b.version, l.version) AS version,
         b.go_version
  FROM builds b LEFT JOIN link l USING (source_id)
)
SELECT o.service, o.version, m.module, m.module_version, m.replaced_by, m.replaced_version, o.go_version,
       m.kind, m.sum, o.build_id, o.source_id
FROM owner o JOIN build_modules m USING (build_id)""",
    ),
    "upgrades": (
        "What changed between consecutive deploys of a service: the release itself (kind `release`), the image, the Go toolchain (`go`) and every module whose version changed, appeared or went (`module`). `direction` is upgrade, downgrade, added or removed (by version numbers); `rollback` marks a deploy back to a version deployed before. Module sets come from each release's build info, else its go.mod, else its go.sum.",
        """CREATE OR REPLACE VIEW upgrades AS
WITH ranked AS (
  SELECT *, CASE WHEN kind IN ('main', 'dep') THEN 1 WHEN kind IN ('require', 'indirect') THEN 2 ELSE 3 END AS pref
  FROM module_versions WHERE service IS NOT NULL AND version IS NOT NULL
),
rel AS (
  SELECT service, version, module, any_value(module_version) AS module_version
  FROM ranked r WHERE pref = (SELECT min(pref) FROM ranked x WHERE x.service = r.service AND x.version = r.version)
    AND kind <> 'main'
  GROUP BY ALL
),
go AS (
  SELECT service, version, arg_min(go_version, CASE WHEN kind IN ('main', 'dep') THEN 1 ELSE 2 END) AS go_version
  FROM module_versions WHERE go_version IS NOT NULL GROUP BY ALL
),
pairs AS (SELECT * FROM deploys WHERE previous_version IS NOT NULL),
changes AS (
  SELECT p.ts, p.service, 'release' AS kind, NULL AS module, p.previous_version AS from_version, p.version AS to_version,
         p.previous_version AS from_release, p.version AS to_release, p.rollback
  FROM pairs p WHERE p.version <> p.previous_version
  UNION ALL
  SELECT p.ts, p.service, 'image', NULL, p.previous_image, p.image, p.previous_version, p.version, p.rollback
  FROM pairs p WHERE p.image IS DISTINCT FROM p.previous_image AND p.image IS NOT NULL AND p.previous_image IS NOT NULL
  UNION ALL
  SELECT p.ts, p.service, 'go', NULL, a.go_version, b.go_version, p.previous_version, p.version, p.rollback
  FROM pairs p JOIN go a ON a.service = p.service AND a.version = p.previous_version
               JOIN go b ON b.service = p.service AND b.version = p.version
  WHERE a.go_version <> b.go_version
  UNION ALL
  SELECT p.ts, p.service, 'module', m.module, a.module_version, b.module_version,
         p.previous_version, p.version, p.rollback
  FROM pairs p
  JOIN (SELECT DISTINCT service, version, module FROM rel) m
    ON m.service = p.service AND m.version IN (p.previous_version, p.version)
  LEFT JOIN rel a ON a.service = p.service AND a.version = p.previous_version AND a.module = m.module
  LEFT JOIN rel b ON b.service = p.service AND b.version = p.version AND b.module = m.module
  -- both releases' module sets must be known: an unknown set is no evidence of additions or removals
  WHERE a.module_version IS DISTINCT FROM b.module_version
    AND EXISTS (SELECT 1 FROM rel x WHERE x.service = p.service AND x.version = p.previous_version)
    AND EXISTS (SELECT 1 FROM rel x WHERE x.service = p.service AND x.version = p.version)
  GROUP BY ALL
)
SELECT ts, service, kind, module, from_version, to_version,
       CASE WHEN from_version IS NULL THEN 'added' WHEN to_version IS NULL THEN 'removed'
            WHEN semver_key(to_version) > semver_key(from_version) THEN 'upgrade'
            WHEN semver_key(to_version) < semver_key(from_version) THEN 'downgrade' ELSE 'changed' END AS direction,
       rollback, from_release, to_release
FROM changes""",
    ),
})

VIEWS.update({
    "source_services": (
        "Whose each source is (service and pod): source_origins, kept under its former name.",
        """CREATE OR REPLACE VIEW source_services AS SELECT source_id, service, pod FROM source_origins""",
    ),
    "timeline": (
        "The incident timeline: deploys and what each changed (upgrades), restarts (a container log numbered above 0, noting the crash that ended the run before), Kubernetes events, panics and fatal errors (one row each; `signature` is the panic signature), races, error-level logs (counted per service, pod and minute), goroutine dumps and profiles. `version` is the row's release, resolved as in dump_releases (its own, its pod's, else the service's at that time). `count` is what the row counts: error logs, goroutines in a snapshot, samples in a profile (1 for a single event). `ref_table`/`ref_id` point at the row it came from; `db.timeline()` summarises this view (every row with `every_row=True`).",
        """CREATE OR REPLACE VIEW timeline AS
WITH crash AS (
  SELECT d.source_id, any_value(d.message) AS message FROM dumps d
  WHERE d.kind IN ('panic', 'fatal', 'signal') GROUP BY d.source_id
),
rows AS (
  SELECT ts, 'deploy' AS kind, service, version, NULL AS pod,
         CASE WHEN rollback THEN 'warning' ELSE 'info' END AS severity,
         'deploy ' || service || ' ' || version || coalesce(' (was ' || previous_version || ')', '')
           || CASE WHEN rollback THEN ', a rollback' ELSE '' END AS summary,
         NULL AS signature, 1 AS count, 'events' AS ref_table, source_id || ':' || line AS ref_id
  FROM deploys
  UNION ALL
  SELECT ts, 'upgrade', service, to_release, NULL, 'info',
         CASE kind WHEN 'module' THEN module || ' ' || coalesce(from_version, '(none)') || ' → ' || coalesce(to_version, '(none)')
                   WHEN 'go' THEN 'Go ' || from_version || ' → ' || to_version
                   ELSE kind || ' ' || from_version || ' → ' || to_version END || ' (' || direction || ')',
         NULL, 1, 'upgrades', service || ':' || to_release || ':' || kind || ':' || coalesce(module, '')
  FROM upgrades WHERE kind <> 'release'
  UNION ALL
  SELECT i.started, 'restart', i.service, NULL, i.pod,
         CASE WHEN any_value(c.message) IS NOT NULL THEN 'error' ELSE 'warning' END,
         'restart ' || i.restart || ' of ' || i.pod || '/' || i.container
           || coalesce(' after a crash: ' || any_value(c.message), ''),
         NULL, 1, 'log_files', CAST(i.source_ids[1] AS VARCHAR)
  FROM instances i
  -- the run before may span rotated files: one restart row whatever their number
  LEFT JOIN log_files prev ON prev.pod = i.pod AND prev.container = i.container AND prev.restart = i.restart - 1
  LEFT JOIN crash c ON c.source_id = prev.source_id
  WHERE i.restart > 0
  GROUP BY i.started, i.service, i.pod, i.restart, i.container, i.source_ids
  UNION ALL
  SELECT ts, 'k8s', service, version, pod,
         CASE WHEN json_extract_string(attributes, '$.type') = 'Warning' THEN 'warning' ELSE 'info' END,
         summary, NULL, 1, 'events', source_id || ':' || coalesce(CAST(line AS VARCHAR), '')
  FROM events WHERE kind = 'k8s'
  UNION ALL
  SELECT d.ts, CASE WHEN p.kind = 'race' THEN 'race' ELSE 'panic' END, r.service, r.version,
         r.pod, CASE WHEN p.kind = 'race' THEN 'error' ELSE 'critical' END,
         CASE p.kind WHEN 'runtime_error' THEN 'panic' WHEN 'fatal' THEN 'fatal error' ELSE p.kind END || ': '
           || left(split_part(p.message, chr(10), 1), 200) || coalesce(' in ' || p.top_function, ''),
         p.signature, 1, 'dumps', CAST(d.dump_id AS VARCHAR)
  FROM panics p JOIN dumps d USING (dump_id) JOIN dump_releases r USING (dump_id)
  WHERE p.seq = 0
  UNION ALL
  SELECT min(l.ts), 'errors', l.service, l.version, l.pod, 'error',
         count(*) || ' ' || CASE WHEN count(*) = 1 THEN 'error log' ELSE 'error logs' END
           || ', first: ' || left(arg_min(l.message, l.ts), 200),
         NULL, count(*), 'logs', arg_min(l.source_id || ':' || l.line, l.ts)
  FROM log_releases l
  WHERE l.level IN ('error', 'fatal', 'panic') AND l.ts IS NOT NULL
  GROUP BY l.service, l.version, l.pod, time_bucket(INTERVAL 1 minute, l.ts)
  UNION ALL
  SELECT d.ts, 'goroutines', r.service, r.version, r.pod, 'info',
         CASE d.kind WHEN 'goroutine_profile' THEN 'goroutine profile: ' ELSE 'goroutine dump: ' END
           || g.n || ' goroutines',
         NULL, g.n, 'dumps', CAST(d.dump_id AS VARCHAR)
  FROM dumps d JOIN dump_releases r USING (dump_id)
  JOIN (SELECT dump_id, sum(count) AS n FROM goroutines GROUP BY dump_id) g USING (dump_id)
  WHERE d.kind IN ('goroutines', 'goroutine_profile')
  UNION ALL
  SELECT pr.ts, 'profile', r.service, r.version, r.pod, 'info',
         pr.kind || ' profile, ' || pr.n_samples || ' samples'
           || coalesce(', ' || round(pr.duration_ns / 1e9, 1) || ' s', ''),
         NULL, pr.n_samples, 'profiles', CAST(pr.profile_id AS VARCHAR)
  FROM profiles pr JOIN profile_releases r USING (profile_id)
)
SELECT ts, kind, service, coalesce(version, running_version(service, pod, ts)) AS version, pod, severity, summary,
       signature, CAST(count AS BIGINT) AS count, ref_table, ref_id
FROM rows WHERE ts IS NOT NULL""",
    ),
})

# Goroutine frames: stored once per distinct printed stack (goroutine_stacks), read per goroutine.
VIEWS.update({
    "frames": (
        "Stack frames of goroutines, as parsers emit them: goroutines joined to goroutine_stacks on frames_id "
        "(see the `frames` table above for the columns).",
        """CREATE OR REPLACE VIEW frames AS
SELECT g.dump_id, g.seq AS goroutine_seq, g.goroutine_id, s.depth, s.function, s.package, s.file, s.line, s.module,
       s.module_version, s.is_stdlib, s.inlined, s.args, s.pc_offset, g.frames_id
FROM goroutines g JOIN goroutine_stacks s ON s.frames_id = g.frames_id""",
    ),
})
# Tables parsers emit that the database keeps as views of others (created by the store as views, not tables).
VIEW_TABLES = ("frames",)
