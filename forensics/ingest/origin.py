"""Where an artefact came from, read from its path: the part of its identity
that its bytes do not carry.

Two pods that crash with the same output, or a goroutine snapshot that did
not change between two collections, are byte-identical yet distinct
evidence; the same file ingested twice (or once loose and once inside the
bundle's archive) is one. So an artefact is its sha256 plus its origin:
the Kubernetes namespace, pod, container and restart of a log path, a pod
named by a directory or file name (debug-snapshot and profile directories),
a container id, and the time it was taken: the time in the path, else the
time given at ingest. File names and where the bundle was unpacked or which
archive held it are not part of it: a copy of a crash under another name
is the same crash.

>>> o = origin("bundle.tgz!var/log/pods/shop_orders-7c9d8e6f5-x2k9p_0f3e/orders/1.log")
>>> o.pod, o.container, o.restart
('orders-7c9d8e6f5-x2k9p', 'orders', 1)
>>> origin("dumps/orders-7c9d8e6f5-x2k9p/goroutines-20261122T030000Z.txt").key
'pod=orders-7c9d8e6f5-x2k9p;time=2026-11-22T03:00:00'
>>> origin("/tmp/bundle/dumps/crash.txt").key == origin("bundle.tgz!bundle/dumps/crash-copy.txt").key
True
>>> origin("-").key
''
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..parsers.logs.payloads import kubernetes_identity
from ..times import path_time

# A Deployment's pod: <deployment>-<pod-template-hash>-<suffix>, the hash 5 to
# 10 characters and the suffix 5 (k8s.io/apimachinery's rand.SafeEncodeString
# writes them without vowels; hand-named pods in bundles do not always follow).
POD_NAME = re.compile(r"^(?P<deployment>[a-z][-a-z0-9]*?)-(?P<hash>[a-z0-9]{5,10})-(?P<suffix>[a-z0-9]{5})$")
CONTAINER_ID = re.compile(r"(?:^|[/_-])(?P<id>[0-9a-f]{64})(?:[/._-]|$)")


@dataclass(frozen=True)
class Origin:
    """Identity of an artefact beyond its bytes; `key` is '' when the path says nothing."""

    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    restart: int | None = None
    container_id: str | None = None
    time: datetime | None = None

    @property
    def key(self) -> str:
        # What the path says, not the ingest arguments: the same file ingested with or without
        # --service is one artefact.
        parts = [("namespace", self.namespace), ("pod", self.pod),
                 ("container", self.container), ("restart", self.restart), ("container_id", self.container_id),
                 ("time", self.time.isoformat() if self.time else None)]
        return ";".join(f"{k}={v}" for k, v in parts if v is not None)


def pod_parts(name: str) -> tuple[str, str] | None:
    """(deployment, replica set) of a Deployment pod's name, None when it is not one.

    >>> pod_parts("orders-7c9d8e6f5-x2k9p"), pod_parts("goroutines-debug2")
    (('orders', 'orders-7c9d8e6f5'), None)
    """
    m = POD_NAME.match(name)
    if not m or not re.search(r"\d", m["hash"] + m["suffix"]):
        return None  # without a digit it reads as words too often (`orders-backlog-draft`)
    return m["deployment"], f"{m['deployment']}-{m['hash']}"


def origin(path: str | None, ts: datetime | None = None) -> Origin:
    """The origin of the artefact at `path` (`archive!member` paths: the
    member's); `ts`: the time given at ingest, when the path has none."""
    if not path or path == "-":
        return Origin(time=ts)
    inner = path.replace("\\", "/").split("!")[-1]
    k8s = kubernetes_identity(inner)
    pod = k8s.get("pod")
    if pod is None:
        # The innermost directory or file name that is a pod's name.
        for part in reversed(inner.split("/")):
            stem = part.split(".", 1)[0]
            if pod_parts(stem):
                pod = stem
                break
    cid = CONTAINER_ID.search(inner)
    return Origin(namespace=k8s.get("namespace"), pod=pod, container=k8s.get("container"),
                  restart=k8s.get("restart"), container_id=cid["id"] if cid else None,
                  time=path_time(inner) or ts)
