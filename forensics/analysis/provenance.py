"""Where a piece of evidence came from: the raw files (and first lines) behind
an item of the correlation verdict, so a reader can open them.

Panic and goroutine items carry their files already; the others name their
instances, and their files are those instances' sources of the kind the
item was measured from (request logs or spans for latency, logs for errors
and restarts, profiles for profile shifts).

>>> import forensics as fx
>>> evidence_files(fx.open().store, {"kind": "latency", "key": "spans", "instances": []}, "orders", "v2")
[]
"""
from __future__ import annotations

from ..db.store import Store
from .gather import request_ms

MAX_FILES = 10

_FILES_SQL = {
    # (view, extra condition): the rows an item of that kind was measured from
    ("latency", "logs"): ("log_releases", f"x.attributes IS NOT NULL AND {request_ms('x.attributes')} IS NOT NULL"),
    ("latency", "spans"): ("span_releases", "(x.kind = 'server' OR x.parent_span_id IS NULL)"),
    ("errors", None): ("log_releases", "x.level IN ('error', 'fatal', 'panic')"),
    ("restarts", None): ("log_releases", "TRUE"),
    ("profile", None): ("profile_releases", "TRUE"),
}


def evidence_files(store: Store, item: dict, service: str, version: str | None = None) -> list[str]:
    """`path` or `path:line` of the files an evidence item was measured from
    (at most MAX_FILES), the item's own `files` when it has them."""
    if item.get("files"):
        return list(item["files"])[:MAX_FILES]
    key = (item["kind"], item.get("key") if item["kind"] == "latency" else None)
    if key not in _FILES_SQL or not item.get("instances"):
        return []
    view, cond = _FILES_SQL[key]
    instances = list(item["instances"])
    line = "min(x.line)" if view == "log_releases" else "NULL"
    rows = store.query(
        f"SELECT s.path, {line} AS line FROM {view} x JOIN sources s USING (source_id) "
        f"WHERE x.service = ? AND x.instance IN ({', '.join('?' for _ in instances)}) AND {cond} "
        + ("AND x.version = ? " if version is not None else "")
        + f"GROUP BY s.path ORDER BY s.path LIMIT {MAX_FILES}",
        [service, *instances] + ([version] if version is not None else [])).fetchall()
    return [f"{path}:{first}" if first is not None else path for path, first in rows]
