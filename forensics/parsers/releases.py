"""What was running: deploy records, Kubernetes events, build info, go.mod, go.sum.

- Deploy records: CSV with a header, or JSON lines, with ``ts``,
  ``service``, ``version`` and optionally ``image`` and ``buildinfo`` (the
  path, relative to the records file, of that release's `go version -m`
  output); other columns are kept as attributes. -> ``events`` (kind
  ``deploy``).
- Kubernetes events, ``kubectl get events -o json`` (an ``EventList``):
  pulls, starts, kills, back-offs, OOM kills and rollouts. -> ``events``
  (kind ``k8s``, the reason in ``summary``).
- ``go version -m`` output (cmd/go/internal/version, the text of
  debug.BuildInfo.String): path, main module, every dep with its version and
  h1: sum, ``=>`` replacements, build settings (vcs.revision, vcs.time,
  -ldflags...) and the Go version. -> ``builds`` and ``build_modules``.
- ``go.mod`` (module, go, toolchain, require, replace) and ``go.sum``.

A row that cannot be read is reported with its line and skipped.

>>> import io
>>> info = b"app: go1.22.1\\n\\tpath\\tex.com/app\\n\\tmod\\tex.com/app\\tv1.2.0\\t\\n\\tdep\\tex.com/lib\\tv0.3.0\\th1:x=\\n"
>>> out = dict(parse_buildinfo(io.BytesIO(info)))
>>> out["builds"].to_pylist()[0]["go_version"], out["build_modules"].column("module").to_pylist()
('go1.22.1', ['ex.com/app', 'ex.com/lib'])
"""
from __future__ import annotations

import csv
import io
import posixpath
import re
from datetime import datetime, timedelta
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ..errors import ParseError
from . import ParseOptions, excerpt, rfc3339_ns
from .tables import dict_batch

# cmd/go/internal/version: "<file>: <go version>", then tab-separated lines of
# runtime/debug.BuildInfo.String(): path, mod, dep, => (replaces the line
# before), build key=value.
BUILDINFO_HEAD = re.compile(rb"^[^\n]*: (go\d+(?:\.\d+)*\S*|devel \S+)\n\t(?:path|mod)\t", re.M)
GO_SUM_LINE = re.compile(r"(\S+) (v\S+?)(/go\.mod)? (h1:[A-Za-z0-9+/=]+)$")
GO_MOD_MODULE = re.compile(rb"^\s*module\s+\"?[^\s\"]+\"?\s*$", re.M)
DEPLOY_KEYS = {"ts": ("ts", "time", "timestamp", "deployed_at", "date"), "service": ("service", "app", "application"),
               "version": ("version", "release", "tag")}


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
        if b'"involvedObject"' in text[:65536] and (b'"EventList"' in text[:4096] or b'"items"' in text[:4096]):
            return "k8s_events"
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
        return "deploys" if isinstance(obj, dict) and _deploy_columns(list(obj)) else None
    lines = [ln for ln in text.decode("utf-8", "replace").split("\n")[:50] if ln.strip()]
    if lines and sum(1 for ln in lines if GO_SUM_LINE.match(ln.strip())) >= 0.9 * len(lines):
        return "go_sum"
    if GO_MOD_MODULE.search(text[:4096]) and all(
            ln.split()[0] in ("module", "go", "toolchain", "require", "replace", "exclude", "retract", "godebug", ")",
                              "//") or ln.startswith(("\t", " ")) for ln in lines[:50]):
        return "go_mod"
    if "," in first and _deploy_columns(next(csv.reader([first]))):
        return "deploys"
    return None


def _deploy_columns(names: list[str]) -> dict[str, str] | None:
    """Which column holds ts, service and version (None unless all three are there)."""
    lower = {n.strip().lower(): n for n in names if isinstance(n, str)}
    found = {}
    for key, options in DEPLOY_KEYS.items():
        hit = next((lower[o] for o in options if o in lower), None)
        if hit is None:
            return None
        found[key] = hit
    return found


def _time(value) -> datetime | None:
    """A deploy time: RFC 3339 (a space for the T is fine) or epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime(1970, 1, 1) + timedelta(seconds=float(value))
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return datetime(1970, 1, 1) + timedelta(seconds=float(text))
        ns = rfc3339_ns(text)
        return datetime(1970, 1, 1) + timedelta(microseconds=ns // 1000)
    raise ValueError(f"no time in {value!r}")


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
    columns = _deploy_columns(list(rows[0][1])) if rows else None
    for n, row in rows:
        cols = columns if columns and all(c in row for c in columns.values()) else _deploy_columns(list(row))
        try:
            if cols is None:
                raise ValueError("a deploy record needs ts, service and version")
            ts = _time(row[cols["ts"]])
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
            ts = _time(when)
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


def parse_buildinfo(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """`go version -m` output (one or several binaries) -> builds, build_modules."""
    opt = options or ParseOptions()
    builds, modules, errors = [], [], []
    current = None
    for n, raw in enumerate(stream.read().decode("utf-8", "replace").split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if not line.startswith("\t"):
            binary, sep, go = line.rpartition(": ")
            if not sep:
                errors.append((n, "expected `<binary>: <go version>` or a tab-indented build info line", line))
                current = None
                continue
            current = dict(build_id=len(builds), executable=binary, go_version=go.strip(), service=opt.service,
                           version=opt.version, kind="buildinfo", settings={}, line=n)
            builds.append(current)
            continue
        fields = line[1:].split("\t")
        if current is None:
            errors.append((n, "build info line before any `<binary>: <go version>` line", line))
            continue
        key = fields[0]
        if key == "path" and len(fields) >= 2:
            current["path"] = fields[1]
        elif key in ("mod", "dep") and len(fields) >= 3:
            modules.append(dict(build_id=current["build_id"], module=fields[1], module_version=fields[2],
                                sum=fields[3] if len(fields) > 3 and fields[3] else None,
                                kind="main" if key == "mod" else "dep", line=n))
            if key == "mod":
                current["main_module"], current["main_version"] = fields[1], fields[2]
        elif key == "=>" and len(fields) >= 2 and modules and modules[-1]["build_id"] == current["build_id"]:
            modules[-1]["replaced_by"] = fields[1]
            modules[-1]["replaced_version"] = fields[2] if len(fields) > 2 and fields[2] else None
            modules[-1]["sum"] = fields[3] if len(fields) > 3 and fields[3] else modules[-1]["sum"]
        elif key == "build" and len(fields) >= 2:
            k, _, v = fields[1].partition("=")
            current["settings"][k] = v
        else:
            errors.append((n, f"unknown build info line {key!r}: expected path, mod, dep, => or build", line))
    if not builds:
        raise ParseError("no `<binary>: <go version>` line: not go version -m output")
    yield from _build_batches(builds, modules, errors)


def _build_batches(builds, modules, errors) -> Iterator[tuple[str, pa.RecordBatch]]:
    rows = []
    for b in builds:
        s = b.pop("settings", {})
        b["settings"] = orjson.dumps(s).decode() if s else None
        b["vcs_revision"], b["vcs_modified"] = s.get("vcs.revision"), s.get("vcs.modified") == "true" if s else None
        try:
            b["vcs_time"] = _time(s["vcs.time"]) if s.get("vcs.time") else None
        except ValueError:
            b["vcs_time"] = None
        rows.append(b)
    yield "builds", dict_batch("builds", rows)
    if modules:
        yield "build_modules", dict_batch("build_modules", modules)
    if errors:
        yield "ingest_errors", dict_batch("ingest_errors", [dict(line=n, message=m, excerpt=excerpt(e))
                                                             for n, m, e in errors])


def parse_go_mod(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """go.mod -> builds (kind go.mod: module, go version) and build_modules (require, replace)."""
    opt = options or ParseOptions()
    build = dict(build_id=0, kind="go.mod", service=opt.service, version=opt.version, line=1)
    modules, errors, block, replaces = [], [], None, {}
    for n, raw in enumerate(stream.read().decode("utf-8", "replace").split("\n"), 1):
        line = raw.split("//", 1)[0].strip()
        indirect = "// indirect" in raw
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
                continue
            verb, rest = block, line
        else:
            verb, _, rest = line.partition(" ")
            rest = rest.strip()
            if rest == "(":
                block = verb
                continue
        words = rest.replace('"', "").split()
        if verb == "module" and words:
            build["main_module"] = build["path"] = words[0]
        elif verb == "go" and words:
            build["go_version"] = build.get("go_version") or f"go{words[0]}"
        elif verb == "toolchain" and words:
            build["go_version"] = words[0]  # the toolchain that builds it, when newer than `go`
        elif verb == "require" and len(words) >= 2:
            modules.append(dict(build_id=0, module=words[0], module_version=words[1],
                                kind="indirect" if indirect else "require", line=n))
        elif verb == "replace" and "=>" in words:
            i = words.index("=>")
            old, new = words[:i], words[i + 1:]
            if old and new:
                replaces[(old[0], old[1] if len(old) > 1 else None)] = (new[0], new[1] if len(new) > 1 else None)
        elif verb in ("exclude", "retract", "godebug", "tool", "ignore"):
            pass
        else:
            errors.append((n, f"unexpected go.mod line: {verb!r}", raw))
    for m in modules:
        rep = replaces.get((m["module"], m["module_version"])) or replaces.get((m["module"], None))
        if rep:
            m["replaced_by"], m["replaced_version"] = rep
    if "main_module" not in build:
        raise ParseError("no module line: not a go.mod file")
    yield from _build_batches([build], modules, errors)


def parse_go_sum(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """go.sum -> build_modules (kind sum: the module versions whose code was hashed)."""
    opt = options or ParseOptions()
    modules, errors = [], []
    for n, raw in enumerate(stream.read().decode("utf-8", "replace").split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        m = GO_SUM_LINE.match(line)
        if not m:
            errors.append((n, "expected `<module> <version>[/go.mod] h1:<hash>`", raw))
            continue
        if m.group(3) is None:  # /go.mod lines hash only the go.mod of modules in the graph
            modules.append(dict(build_id=0, module=m.group(1), module_version=m.group(2), sum=m.group(4),
                                kind="sum", line=n))
    build = dict(build_id=0, kind="go.sum", service=opt.service, version=opt.version, line=1)
    yield from _build_batches([build], modules, errors)


PARSERS = {"deploys": parse_deploys, "k8s_events": parse_k8s_events, "buildinfo": parse_buildinfo,
           "go_mod": parse_go_mod, "go_sum": parse_go_sum}
