"""What was deployed: deploy records and Kubernetes events -> events.

- Deploy records: CSV with a header, or JSON lines, with ``ts``,
  ``service``, ``version`` and optionally ``image`` and ``buildinfo`` (the
  path, relative to the records file, of that release's `go version -m`
  output); other columns are kept as attributes. -> ``events`` (kind
  ``deploy``).
- Kubernetes events, ``kubectl get events -o json`` (an ``EventList``):
  pulls, starts, kills, back-offs, OOM kills and rollouts. -> ``events``
  (kind ``k8s``, the reason in ``summary``).

A row that cannot be read is reported with its line and skipped.

>>> import io
>>> rows = dict(parse_deploys(io.BytesIO(b"ts,service,version\\n2026-03-14T11:00:00Z,api,v1\\n")))["events"].to_pylist()
>>> [(r["kind"], r["service"], r["version"]) for r in rows]
[('deploy', 'api', 'v1')]
"""
from __future__ import annotations

import csv
import io
import posixpath
import re
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ...errors import ParseError
from ...times import record_time
from .. import ParseOptions, dict_batch, excerpt

DEPLOY_KEYS = {"ts": ("ts", "time", "timestamp", "deployed_at", "date"), "service": ("service", "app", "application"),
               "version": ("version", "release", "tag")}


def deploy_columns(names: list[str]) -> dict[str, str] | None:
    """Which column holds ts, service and version (None unless all three are there)."""
    lower = {n.strip().lower(): n for n in names if isinstance(n, str)}
    found = {}
    for key, options in DEPLOY_KEYS.items():
        hit = next((lower[o] for o in options if o in lower), None)
        if hit is None:
            return None
        found[key] = hit
    return found


def _resolve(records_path: str | None, rel: str | None) -> str | None:
    """A buildinfo path as the source names it: relative to the records file."""
    if not rel:
        return None
    if records_path is None or rel.startswith("/"):
        return posixpath.normpath(rel)
    prefix, _, inner = records_path.rpartition("!")  # an archive member: resolve inside the archive
    base = posixpath.dirname(inner.replace("\\", "/"))
    resolved = posixpath.normpath(posixpath.join(base, rel))
    return f"{prefix}!{resolved}" if prefix else resolved


def parse_deploys(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Deploy records (CSV or JSON lines) -> events of kind deploy."""
    opt = options or ParseOptions()
    text = stream.read().decode("utf-8", "replace").lstrip("\ufeff")
    events, errors = [], []
    first = text.lstrip().split("\n", 1)[0].strip()
    if first.startswith("{"):
        rows = []
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                rows.append((n, obj))
            except (orjson.JSONDecodeError, ValueError) as exc:
                errors.append((n, f"expected a deploy record as a JSON object: {exc}", excerpt(line)))
    else:
        reader = csv.DictReader(io.StringIO(text))
        rows = [(reader.line_num, row) for row in reader]
    if not rows and not errors:
        raise ParseError("no deploy records")
    columns = deploy_columns(list(rows[0][1])) if rows else None
    for n, row in rows:
        cols = columns if columns and all(c in row for c in columns.values()) else deploy_columns(list(row))
        try:
            if cols is None:
                raise ValueError("a deploy record needs ts, service and version")
            ts = record_time(row[cols["ts"]])
            service, version = (str(row[cols[k]]).strip() if row[cols[k]] is not None else "" for k in
                                ("service", "version"))
            if not service or not version:
                raise ValueError("service and version must not be empty")
        except (ValueError, TypeError) as exc:
            errors.append((n, f"deploy record skipped: {exc}", excerpt(str(row))))
            continue
        image = row.get("image") or None
        buildinfo = row.get("buildinfo") or None
        extra = {k: v for k, v in row.items() if k not in cols.values() and k not in ("image", "buildinfo")
                 and v not in (None, "")}
        events.append(dict(ts=ts, kind="deploy", service=opt.service or service, version=version,
                           summary=f"deploy {service} {version}" + (f" ({image})" if image else ""),
                           attributes=orjson.dumps(extra).decode() if extra else None, pod=None, image=image,
                           buildinfo=buildinfo, buildinfo_path=_resolve(opt.path, buildinfo), line=n))
    if events:
        yield "events", dict_batch("events", events)
    if errors:
        yield "ingest_errors", dict_batch("ingest_errors", [dict(line=n, message=m, excerpt=e) for n, m, e in errors])


# Event reasons (kubelet's events.go, the deployment and ReplicaSet controllers).
K8S_REASONS = {"Killing": "kill", "BackOff": "crashloop", "OOMKilling": "oom", "Started": "start",
               "Pulled": "pull", "Pulling": "pull", "Created": "create", "Unhealthy": "unhealthy",
               "ScalingReplicaSet": "rollout", "SuccessfulCreate": "create", "SuccessfulDelete": "delete",
               "Failed": "failed", "Evicted": "evicted", "FailedScheduling": "failed"}
_IMAGE = re.compile(r'image "([^"]+)"')


def parse_k8s_events(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """kubectl get events -o json -> events of kind k8s."""
    opt = options or ParseOptions()
    try:
        doc = orjson.loads(stream.read())
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON: {exc}") from None
    items = doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ParseError('expected a Kubernetes EventList: {"kind": "EventList", "items": [...]}')
    events, errors = [], []
    for i, ev in enumerate(items):
        try:
            obj = ev.get("involvedObject") or ev.get("regarding") or {}
            when = ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp") or \
                (ev.get("metadata") or {}).get("creationTimestamp")
            ts = record_time(when)
            reason = ev.get("reason") or ""
            message = ev.get("message") or ev.get("note") or ""
        except (AttributeError, ValueError, TypeError) as exc:
            errors.append((None, f"items[{i}]: event skipped: {exc}", excerpt(orjson.dumps(ev).decode())))
            continue
        kind, name = obj.get("kind"), obj.get("name")
        pod = name if kind == "Pod" else None
        service = opt.service or _owner(name, kind)
        image = _IMAGE.search(message)
        attrs = {"reason": reason, "type": ev.get("type"), "object": f"{kind}/{name}",
                 "namespace": obj.get("namespace"), "count": ev.get("count"), "message": message,
                 "fieldPath": obj.get("fieldPath")}
        events.append(dict(ts=ts, kind="k8s", service=service, version=None,
                           summary=f"{K8S_REASONS.get(reason, reason.lower())}: {kind}/{name}: {message}"[:500],
                           attributes=orjson.dumps({k: v for k, v in attrs.items() if v is not None}).decode(),
                           pod=pod, image=image.group(1) if image else None, buildinfo=None, buildinfo_path=None,
                           line=i))
    if events:
        yield "events", dict_batch("events", events)
    if errors:
        yield "ingest_errors", dict_batch("ingest_errors", [dict(line=n, message=m, excerpt=e) for n, m, e in errors])


def _owner(name: str | None, kind: str | None) -> str | None:
    """The workload of a Pod or ReplicaSet name: orders-7d4b9c8f5-q9w2n -> orders."""
    if not name:
        return None
    parts = name.split("-")
    if kind == "Pod" and len(parts) >= 3:
        return "-".join(parts[:-2])
    if kind == "ReplicaSet" and len(parts) >= 2:
        return "-".join(parts[:-1])
    return name
