"""What was running: deploy records, Kubernetes events (:mod:`.deploys`); build info, go.mod, go.sum (:mod:`.builds`)."""
from __future__ import annotations

import csv

import orjson

from .. import Format, classified_as
from .builds import BUILDINFO_HEAD, GO_MOD_MODULE, GO_SUM_LINE, parse_buildinfo, parse_go_mod, parse_go_sum
from .deploys import deploy_columns, parse_deploys, parse_k8s_events


def release_format(head: bytes) -> str | None:
    """`buildinfo`, `go_mod`, `go_sum`, `deploys` or `k8s_events`, from the first bytes.

    >>> release_format(b"ts,service,version\\n2026-03-14T11:00:00Z,api,v1\\n")
    'deploys'
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if BUILDINFO_HEAD.match(text):
        return "buildinfo"
    first = text.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if first.startswith("{") or first.startswith("["):
        if b'"involvedObject"' in text[:65536] and (b'"EventList"' in text[:4096] or b'"items"' in text[:4096]
                                                    or first.startswith("[")):  # (jq .items of one)
            return "k8s_events"
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
        return "deploys" if isinstance(obj, dict) and deploy_columns(list(obj)) else None
    lines = [ln for ln in text.decode("utf-8", "replace").split("\n")[:50] if ln.strip()]
    if lines and sum(1 for ln in lines if GO_SUM_LINE.match(ln.strip())) >= 0.9 * len(lines):
        return "go_sum"
    if GO_MOD_MODULE.search(text[:4096]) and all(
            ln.split()[0] in ("module", "go", "toolchain", "require", "replace", "exclude", "retract", "godebug", ")",
                              "//") or ln.startswith(("\t", " ")) for ln in lines[:50]):
        return "go_mod"
    if "," in first and deploy_columns(_header(first)):
        return "deploys"
    return None


def _header(line: str) -> list[str]:
    """The names of a CSV header line; split at commas when the csv module refuses
    it (a CR inside: the deploy reader reports it with its line).

    >>> _header('ts,"service",version'), _header("ts,serv\\rice,version")
    (['ts', 'service', 'version'], ['ts', 'serv\\rice', 'version'])
    """
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return line.split(",")


BUILDINFO = Format("buildinfo", "`go version -m` output", sniff=classified_as(release_format, "buildinfo"),
                   parse=parse_buildinfo)
K8S_EVENTS = Format("k8s_events", "Kubernetes events (kubectl get events -o json)",
                    sniff=classified_as(release_format, "k8s_events"),
                    parse=parse_k8s_events)
GO_SUM = Format("go_sum", "go.sum", sniff=classified_as(release_format, "go_sum"), parse=parse_go_sum)
GO_MOD = Format("go_mod", "go.mod", sniff=classified_as(release_format, "go_mod"), parse=parse_go_mod)
DEPLOYS = Format("deploys", "deploy records (CSV or JSON lines: ts, service, version[, image, buildinfo])",
                 sniff=classified_as(release_format, "deploys"), parse=parse_deploys)

FORMATS = (BUILDINFO, K8S_EVENTS, GO_SUM, GO_MOD, DEPLOYS)
