"""What was running: the views that give every dump, profile, log record and
span its service, pod, instance (pod and container restart) and release.

Resolved when queried, so deploy records or events ingested after the
artefacts change the answer. A release is decided, first that applies:

1. the row's own (`argument`: the version given at ingest; `span`: the
   resource's `service.version`);
2. its pod's (`pod_versions`): a version given at ingest for the pod's
   files, its spans' `service.version`, the image a Kubernetes event names
   for it (matched to a deploy record's image, else its tag), a pod of the
   same ReplicaSet (one pod template, one release), else the deploy record
   in force when the pod started (`deploy record`);
3. by the row's own time from the deploy records (`deploy time`), the last
   resort: during a rolling deploy old and new pods run side by side.

`version_source` says which decided.
"""
from __future__ import annotations

# The deployment and ReplicaSet of a Deployment pod's name, as forensics.ingest.origin.POD_NAME.
_POD = "'^([a-z][-a-z0-9]*?)-([a-z0-9]{5,10})-([a-z0-9]{5})$'"
_SPAN_POD = """json_extract_string(resource, '$."k8s.pod.name"')"""
_SPAN_VERSION = """json_extract_string(resource, '$."service.version"')"""

# name -> (doc, CREATE OR REPLACE statement); created in this order, after deploys and version_at.
ORIGIN_VIEWS: dict[str, tuple[str, str]] = {
    "pod_deployment": (
        "The Deployment of a pod's name (`orders-7c9d8e6f5-x2k9p` -> `orders`), NULL when the name is not shaped so.",
        f"""CREATE OR REPLACE MACRO pod_deployment(p) AS
CASE WHEN regexp_matches(p, {_POD}) AND regexp_matches(regexp_extract(p, {_POD}, 2) || regexp_extract(p, {_POD}, 3), '[0-9]')
     THEN regexp_extract(p, {_POD}, 1) END""",
    ),
    "pod_replica_set": (
        "The ReplicaSet of a Deployment pod's name (`orders-7c9d8e6f5-x2k9p` -> `orders-7c9d8e6f5`): its pods run one pod template, one release.",
        f"""CREATE OR REPLACE MACRO pod_replica_set(p) AS
CASE WHEN pod_deployment(p) IS NOT NULL THEN regexp_extract(p, {_POD}, 1) || '-' || regexp_extract(p, {_POD}, 2) END""",
    ),
    "source_origins": (
        "Whose each source is: service, pod, container and restart from the ingest arguments, its kubelet log path, "
        "a path component shaped like a pod's name, or one naming a known pod or service (`dumps/<pod>/...`). "
        "`origin_source` says which: `argument`, `log path`, `path` (a pod's name), `known name`.",
        """CREATE OR REPLACE VIEW source_origins AS
WITH known AS (
  SELECT pod AS name, service, pod, 2 AS weight FROM log_files WHERE pod IS NOT NULL AND service IS NOT NULL
  UNION SELECT pod, service, pod, 2 FROM events WHERE pod IS NOT NULL AND service IS NOT NULL
  UNION SELECT service, service, NULL, 1 FROM log_files WHERE service IS NOT NULL
  UNION SELECT service, service, NULL, 1 FROM events WHERE service IS NOT NULL
),
parts AS (
  SELECT source_id, unnest(string_split(replace(path, '!', '/'), '/')) AS part FROM sources
),
named AS (
  SELECT p.source_id, arg_max(k.service, k.weight * 1000 + length(k.name)) AS service,
         arg_max(k.pod, k.weight * 1000 + length(k.name)) AS pod
  FROM parts p JOIN known k ON p.part = k.name OR split_part(p.part, '.', 1) = k.name
  GROUP BY p.source_id
),
pod_service AS (
  SELECT pod, any_value(service) AS service FROM (
    SELECT pod, service FROM log_files WHERE pod IS NOT NULL AND service IS NOT NULL
    UNION ALL SELECT pod, service FROM events WHERE pod IS NOT NULL AND service IS NOT NULL)
  GROUP BY pod
)
SELECT s.source_id,
       coalesce(s.service, lf.service, ps.service, pod_deployment(coalesce(s.pod, n.pod)), n.service) AS service,
       coalesce(lf.pod, s.pod, n.pod) AS pod,
       coalesce(lf.container, s.container) AS container,
       coalesce(lf.restart, s.restart) AS restart,
       CASE WHEN s.service IS NOT NULL THEN 'argument' WHEN lf.pod IS NOT NULL OR lf.service IS NOT NULL THEN 'log path'
            WHEN s.pod IS NOT NULL THEN 'path' WHEN n.source_id IS NOT NULL THEN 'known name' END AS origin_source
FROM sources s LEFT JOIN log_files lf USING (source_id) LEFT JOIN named n USING (source_id)
LEFT JOIN pod_service ps ON ps.pod = coalesce(lf.pod, s.pod, n.pod)""",
    ),
    "instances": (
        "One row per container run (instance) known from container logs: pod, container, restart, "
        "`instance` (`<pod>#<restart>`), service, first and last record (rotated files of a run are merged).",
        """CREATE OR REPLACE VIEW instances AS
SELECT pod, container, restart, pod || '#' || restart AS instance, any_value(service) AS service,
       min(first_ts) AS started, max(last_ts) AS ended, list(source_id ORDER BY source_id) AS source_ids
FROM log_files WHERE pod IS NOT NULL AND restart IS NOT NULL AND first_ts IS NOT NULL
GROUP BY pod, container, restart""",
    ),
    "pod_versions": (
        "The release each pod ran (a pod keeps its release for life, so during a rolling deploy old and new pods are told apart), "
        "with `version_source`: `argument` (given at ingest for its files), `span` (its spans' service.version), "
        "`image` (a Kubernetes event naming its image: the deploy record with that image, else the tag), "
        "`replica set` (another pod of its ReplicaSet), `deploy record` (the one in force when it started). "
        "`started`/`ended`: the first and last time anything of it was seen.",
        f"""CREATE OR REPLACE VIEW pod_versions AS
WITH span_pods AS (
  SELECT {_SPAN_POD} AS pod, any_value(service) AS service, min(start_ts) AS first_ts, max(start_ts) AS last_ts
  FROM spans GROUP BY resource
),
seen AS (
  SELECT pod, service, first_ts AS ts FROM log_files WHERE pod IS NOT NULL
  UNION ALL SELECT pod, service, last_ts FROM log_files WHERE pod IS NOT NULL
  UNION ALL SELECT o.pod, o.service, d.ts FROM dumps d JOIN source_origins o USING (source_id) WHERE o.pod IS NOT NULL
  UNION ALL SELECT o.pod, o.service, p.ts FROM profiles p JOIN source_origins o USING (source_id) WHERE o.pod IS NOT NULL
  UNION ALL SELECT pod, service, ts FROM events WHERE pod IS NOT NULL AND kind = 'k8s'
  UNION ALL SELECT pod, service, first_ts FROM span_pods WHERE pod IS NOT NULL
  UNION ALL SELECT pod, service, last_ts FROM span_pods WHERE pod IS NOT NULL
),
pods AS (
  SELECT pod, coalesce(any_value(service) FILTER (WHERE service IS NOT NULL), pod_deployment(pod)) AS service,
         min(ts) AS started, max(ts) AS ended
  FROM seen GROUP BY pod
),
claims AS (
  SELECT o.pod, s.version, 'argument' AS how, 1 AS prio
  FROM sources s JOIN source_origins o USING (source_id) WHERE s.version IS NOT NULL AND o.pod IS NOT NULL
  UNION ALL
  SELECT {_SPAN_POD}, {_SPAN_VERSION}, 'span', 2 FROM (SELECT DISTINCT resource FROM spans)
  UNION ALL
  SELECT e.pod, coalesce(d.version, regexp_extract(e.image, ':([^:@/]*[0-9][^:@/]*)$', 1)), 'image', 3
  FROM events e LEFT JOIN (SELECT image, any_value(version) AS version FROM events
                           WHERE kind = 'deploy' AND image IS NOT NULL GROUP BY image) d USING (image)
  WHERE e.kind = 'k8s' AND e.pod IS NOT NULL AND e.image IS NOT NULL
),
own AS (
  SELECT pod, arg_min(version, prio) AS version, arg_min(how, prio) AS how, min(prio) AS prio
  FROM claims WHERE pod IS NOT NULL AND version IS NOT NULL AND version <> '' GROUP BY pod
),
sibling AS (
  SELECT pod_replica_set(pod) AS replica_set, arg_min(version, prio) AS version
  FROM own WHERE pod_replica_set(pod) IS NOT NULL GROUP BY ALL
)
SELECT p.pod, p.service, pod_replica_set(p.pod) AS replica_set,
       coalesce(own.version, sib.version, version_at(p.service, p.started)) AS version,
       CASE WHEN own.version IS NOT NULL THEN own.how WHEN sib.version IS NOT NULL THEN 'replica set'
            WHEN version_at(p.service, p.started) IS NOT NULL THEN 'deploy record' END AS version_source,
       p.started, p.ended
FROM pods p LEFT JOIN own USING (pod) LEFT JOIN sibling sib ON sib.replica_set = pod_replica_set(p.pod)""",
    ),
    "running_version": (
        "The release a row most likely came from: its pod's (pod_versions) when it has a pod, else the service's deployed at its time.",
        """CREATE OR REPLACE MACRO running_version(svc, p, t) AS
coalesce((SELECT any_value(v.version) FROM pod_versions v WHERE v.pod = p), version_at(svc, t))""",
    ),
}


def _releases(name: str, doc: str, table: str, key: str, own_service: str, own_version: str, ts: str,
              source_pod: str = "o.pod") -> tuple[str, tuple[str, str]]:
    """A view giving each row of `table` its service, pod, instance and release (see the module doc)."""
    sql = f"""CREATE OR REPLACE VIEW {name} AS
WITH r AS (
  SELECT {key}, t.source_id, {ts} AS ts, coalesce({own_service}, o.service) AS service, {source_pod} AS pod,
         o.restart AS path_restart, {own_version} AS own_version
  FROM {table} t LEFT JOIN source_origins o USING (source_id)
),
deployed AS (SELECT service, ts, version FROM deploys)
SELECT r.* EXCLUDE (path_restart, own_version, service, pod), coalesce(r.service, pv.service) AS service, r.pod,
       coalesce(r.path_restart, i.restart) AS restart,
       r.pod || coalesce('#' || coalesce(r.path_restart, i.restart), '') AS instance,
       coalesce(r.own_version, pv.version, dv.version) AS version,
       CASE WHEN r.own_version IS NOT NULL THEN {"'span'" if table == "spans" else "'argument'"}
            WHEN pv.version IS NOT NULL THEN pv.version_source
            WHEN dv.version IS NOT NULL THEN 'deploy time' END AS version_source
FROM r LEFT JOIN pod_versions pv ON pv.pod = r.pod
ASOF LEFT JOIN instances i ON i.pod = r.pod AND r.ts >= i.started
ASOF LEFT JOIN deployed dv ON dv.service = coalesce(r.service, pv.service) AND r.ts >= dv.ts"""
    return name, (doc, sql)


ORIGIN_VIEWS.update([
    _releases("dump_releases", "Each dump's service, pod, instance and release (`version_source` says which source decided).",
              "dumps", "t.dump_id", "t.service", "t.version", "t.ts"),
    _releases("profile_releases", "Each profile's service, pod, instance and release.",
              "profiles", "t.profile_id", "t.service", "t.version", "t.ts"),
    _releases("log_releases", "Each log record's service, pod, instance and release (key: source_id, line).",
              "logs", "t.line, t.level, t.message, t.attributes", "t.service", "t.version", "t.ts"),
    _releases("span_releases", "Each span's service, pod, instance and release: its resource's service.version, "
              "else its pod's (resource k8s.pod.name), else by time (key: source_id, trace_id, span_id).",
              "spans", "t.trace_id, t.span_id, t.parent_span_id, t.name, t.kind, t.duration_ns, t.status_code, t.format",
              "t.service", _SPAN_VERSION.replace("resource", "t.resource"), "t.start_ts",
              f"coalesce({_SPAN_POD.replace('resource', 't.resource')}, o.pod)"),
])
