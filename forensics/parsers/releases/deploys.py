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
import functools
import itertools
import posixpath
import re
from datetime import datetime, timedelta
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ...errors import ForensicsError, ParseError
from ...times import record_time
from .. import MAX_LINE, ParseOptions, dict_batch, excerpt, record_batch
from .reading import (BATCH, DEPLOYS_MAX, K8S_EVENT_MAX, K8S_EVENTS_MAX, ArrayItems, Capped, Problems, at_line,
                      numbered_lines, short, too_large)

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


@functools.lru_cache(maxsize=4096)
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
    """Deploy records (CSV or JSON lines) -> events of kind deploy, streamed in batches.

    A record that cannot be read is an ingest_errors row (its line, what was
    expected, the line) and the next one is read; a file past DEPLOYS_MAX
    stops there (LimitExceeded), keeping the records before it.
    """
    opt = options or ParseOptions()
    problems = Problems()
    events: list[tuple] = []

    def long_line(n: int, length: int) -> None:
        problems.add(n, f"a line of {length} characters: a deploy record is one short line (only its first "
                        f"{MAX_LINE} are read)")

    lines = numbered_lines(stream, DEPLOYS_MAX, too_large(
        "a deploy record file", DEPLOYS_MAX, "a deploy record is one line per deploy, so this is over 600,000 "
        "deploys: not deploy records, or not only the incident's (split the file, or keep the incident's window)"),
        long_line)
    try:
        head = []
        for n, line in lines:
            line = line.lstrip("\ufeff") if n == 1 else line
            head.append((n, line))
            if line.strip():
                break
        if not head or not head[-1][1].strip():
            raise ParseError("no deploy records")
        records = itertools.chain(head, lines)
        rows = _json_rows(records, problems) if head[-1][1].lstrip().startswith("{") else _csv_rows(records, problems)
        for n, row, text, last, columns in rows:
            event = _deploy(n, row, text, columns, opt, problems, last)
            if event is not None:
                events.append(event)
                if len(events) >= BATCH:
                    yield "events", record_batch("events", events)
                    events = []
    except ForensicsError:  # the bound, a corrupt compressed stream: what was read stays
        if events:
            yield "events", record_batch("events", events)
        yield from problems.batches()
        raise
    if events:
        yield "events", record_batch("events", events)
    yield from problems.batches()


def _json_rows(records, problems: Problems) -> Iterator[tuple[int, dict, str, int, dict | None]]:
    """(line, record, line text, line, its ts/service/version keys) of JSON lines (whose keys may
    change from line to line); lines that are no JSON object are problems."""
    columns = None
    for n, line in records:
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.add(n, f"expected a deploy record as a JSON object: {exc}", line)
            continue
        if not isinstance(obj, dict):
            problems.add(n, f"expected a deploy record as a JSON object, found {type(obj).__name__}", line)
            continue
        if columns is None or not all(c in obj for c in columns.values()):
            columns = deploy_columns(list(obj))
        yield n, obj, line, n, columns


def _csv_rows(records, problems: Problems) -> Iterator[tuple[int, dict, str, int, dict]]:
    """(first line, record, text of its first line, last line, the header's ts/service/version) of CSV with a
    header, by the csv module (a quoted field may hold commas and newlines).
    A record the csv module refuses (csv.Error: a CR in an unquoted field, a
    field over csv.field_size_limit()) or with more fields than the header
    is a problem; a header it refuses is a ParseError."""
    at = [0, "", 1, ""]  # the line the csv reader took last and its text; the record's first line and its text

    def feed() -> Iterator[str]:
        for n, line in records:
            at[0], at[1] = n, line
            if n == at[2]:
                at[3] = line
            yield line + "\n"

    reader = csv.reader(feed())
    header: list[str] | None = None
    while True:
        first = at[2] = at[0] + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if header is None:
                raise ParseError(f"expected a CSV header naming ts, service and version: {_csv_problem(exc)}",
                                 line=at[0], excerpt=excerpt(at[1])) from None
            problems.add(at[0], f"expected a deploy record ({','.join(header)}): {_csv_problem(exc)}", at[1])
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        if header is None:
            header = [f.strip() for f in fields]
            columns = deploy_columns(header)
            if columns is None:
                raise ParseError("expected a CSV header naming ts, service and version (or time/timestamp/deployed_at, "
                                 "app/application, release/tag)", line=first, excerpt=excerpt(at[3]))
            needed = max(header.index(c) for c in columns.values()) + 1  # fields up to the last required one
            continue
        if len(fields) > len(header) or len(fields) < needed:
            why = (f" (a record from line {first} to {at[0]}: an unclosed quote?)" if at[0] > first
                   else " (a comma in an unquoted field?)" if len(fields) > len(header) else "")
            problems.add(first, f"expected {len(header)} fields ({','.join(header)}), found {len(fields)}{why}", at[3])
            continue
        if len(fields) < len(header):
            fields += [""] * (len(header) - len(fields))  # optional trailing fields left out
        yield first, dict(zip(header, fields)), at[3], at[0], columns


def _csv_problem(exc: csv.Error) -> str:
    """What the csv module's error means for a deploy record file."""
    text = str(exc)
    if "new-line character seen in unquoted field" in text:
        return "a carriage return (CR) inside an unquoted field; quote the field, or end lines with LF or CRLF"
    if "field larger than field limit" in text:
        return f"a field over {csv.field_size_limit()} characters (an unclosed quote?)"
    return text


def _deploy(n: int, row: dict, text: str, cols: dict | None, opt: ParseOptions, problems: Problems,
            last: int) -> tuple | None:
    """One deploy record as an events row (a tuple in the table's column order);
    None (a problem) when it cannot be read."""
    span = f" (a record from line {n} to {last}: an unclosed quote?)" if last > n else ""
    if cols is None:
        problems.add(n, f"deploy record skipped: expected ts, service and version fields{span}", text)
        return None
    value = row[cols["ts"]]
    try:
        ts = _deploy_time(value)
    except (ValueError, TypeError, OverflowError) as exc:
        problems.add(n, f"deploy record skipped: {cols['ts']} {short(value)}: expected an RFC 3339 time or epoch "
                        f"seconds ({exc}){span}", text)
        return None
    service, version = row[cols["service"]], row[cols["version"]]
    service = service.strip() if type(service) is str else _text(service)
    version = version.strip() if type(version) is str else _text(version)
    if not service or not version:
        missing = " and ".join(cols[k] for k, v in (("service", service), ("version", version)) if not v)
        problems.add(n, f"deploy record skipped: {missing} must not be empty{span}", text)
        return None
    image, buildinfo = row.get("image"), row.get("buildinfo")
    image = (image.strip() or None) if type(image) is str else _text(image)
    buildinfo = (buildinfo.strip() or None) if type(buildinfo) is str else _text(buildinfo)
    extra = None
    if len(row) > 3 + ("image" in row) + ("buildinfo" in row):
        named = cols.values()
        extra = {k: v for k, v in row.items() if k not in named and k not in ("image", "buildinfo")
                 and v not in (None, "")}
    return (ts, "deploy", opt.service or service, version,
            f"deploy {service} {version}" + (f" ({image})" if image else ""),
            orjson.dumps(extra).decode() if extra else None, None, image, buildinfo,
            _resolve(opt.path, buildinfo), n)


# The usual record time, RFC 3339 with 0, 3 or 6 fraction digits, which
# datetime.fromisoformat reads (faster than times.record_time, same result).
_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6})?)([Zz]|[+-]\d\d:\d\d)?")


def _deploy_time(value) -> datetime:
    """A deploy record's time as naive UTC, as :func:`forensics.times.record_time` reads it.

    >>> _deploy_time("2026-03-14T12:00:00.5+01:00") == record_time("2026-03-14T12:00:00.5+01:00")
    True
    >>> _deploy_time("2026-03-14 11:00:00.123Z"), _deploy_time(1773486000)
    (datetime.datetime(2026, 3, 14, 11, 0, 0, 123000), datetime.datetime(2026, 3, 14, 11, 0))
    """
    m = _ISO_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None:
        return record_time(value)
    ts = datetime.fromisoformat(m.group(1))
    zone = m.group(2)
    if zone and zone not in "Zz":
        sign = 1 if zone[0] == "+" else -1
        ts -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return ts


def _text(value) -> str | None:
    """A field as text: strings stripped, JSON values as JSON, empty as None.

    >>> _text(" v1 "), _text(3), _text(None), _text({"a": 1})
    ('v1', '3', None, '{"a":1}')
    """
    if value is None:
        return None
    if not isinstance(value, str):
        value = orjson.dumps(value).decode()
    return value.strip() or None


# Event reasons (kubelet's events.go, the deployment and ReplicaSet controllers).
K8S_REASONS = {"Killing": "kill", "BackOff": "crashloop", "OOMKilling": "oom", "Started": "start",
               "Pulled": "pull", "Pulling": "pull", "Created": "create", "Unhealthy": "unhealthy",
               "ScalingReplicaSet": "rollout", "SuccessfulCreate": "create", "SuccessfulDelete": "delete",
               "Failed": "failed", "Evicted": "evicted", "FailedScheduling": "failed"}
_IMAGE = re.compile(r'image "([^"]+)"')


def parse_k8s_events(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """kubectl get events -o json -> events of kind k8s, one element of ``items`` at a time.

    An event that is not valid JSON (a number past a double's range) or
    lacks a time is an ingest_errors row with its line; the others are kept.
    A file past K8S_EVENTS_MAX stops there (LimitExceeded), keeping the
    events before it.
    """
    opt = options or ParseOptions()
    problems = Problems()
    capped = Capped(stream, K8S_EVENTS_MAX, too_large(
        "a Kubernetes events file", K8S_EVENTS_MAX, "the API server keeps an hour of events, and this is over "
        "200,000 of them: ingest the namespace or the window of the incident"))
    items = ArrayItems(capped, "items", K8S_EVENT_MAX)
    try:
        for batch in items:
            events = []
            for item, ev in _decoded(batch, problems):
                event = _k8s_event(item, ev, opt, problems)
                if event is not None:
                    events.append(event)
            if events:
                yield "events", dict_batch("events", events)
    except ForensicsError as exc:
        for n, m, e in items.problems:
            problems.add(n, m, e)
        yield from problems.batches()
        raise at_line(exc, items.line) from None
    if not items.found:
        raise ParseError('expected a Kubernetes EventList: {"kind": "EventList", "items": [...]} (or a JSON array of '
                         "events)")
    for n, m, e in items.problems:
        problems.add(n, m, e)
    yield from problems.batches()


def _decoded(batch, problems: Problems) -> Iterator[tuple]:
    """(item, decoded object) of a chunk's elements: parsed at once, or one by one when one of them is no JSON."""
    try:
        docs = orjson.loads(b"[" + b",".join(item.raw for item in batch) + b"]")
    except orjson.JSONDecodeError:
        docs = None
    if docs is not None and len(docs) == len(batch):
        yield from zip(batch, docs)
        return
    for item in batch:
        try:
            yield item, orjson.loads(item.raw)
        except orjson.JSONDecodeError as exc:
            around = item.raw[max(exc.pos - 60, 0):exc.pos + 60].decode("utf-8", "replace")
            problems.add(item.line + exc.lineno - 1, f"items[{item.index}]: event skipped: not valid JSON: {exc.msg} "
                         f"(column {exc.colno} of that line)", around)


def _k8s_event(item, ev, opt: ParseOptions, problems: Problems) -> dict | None:
    """One Kubernetes event as an events row; None (a problem) when it has no readable time."""
    try:
        obj = ev.get("involvedObject") or ev.get("regarding") or {}
        when = ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp") or \
            (ev.get("metadata") or {}).get("creationTimestamp")
        ts = record_time(when)
        reason = ev.get("reason") or ""
        message = ev.get("message") or ev.get("note") or ""
        kind, name = obj.get("kind"), obj.get("name")
        if not isinstance(reason, str) or not isinstance(message, str):
            raise TypeError("reason and message must be strings")
    except (AttributeError, ValueError, TypeError, OverflowError) as exc:
        problems.add(item.line, f"items[{item.index}]: event skipped: {exc}", item.raw[:400].decode("utf-8", "replace"))
        return None
    pod = name if kind == "Pod" else None
    service = opt.service or _owner(name if isinstance(name, str) else None, kind)
    image = _IMAGE.search(message)
    attrs = {"reason": reason, "type": ev.get("type"), "object": f"{kind}/{name}",
             "namespace": obj.get("namespace"), "count": ev.get("count"), "message": message,
             "fieldPath": obj.get("fieldPath")}
    return dict(ts=ts, kind="k8s", service=service, version=None,
                summary=f"{K8S_REASONS.get(reason, reason.lower())}: {kind}/{name}: {message}"[:500],
                attributes=orjson.dumps({k: v for k, v in attrs.items() if v is not None}).decode(),
                pod=_text(pod), image=image.group(1) if image else None, buildinfo=None, buildinfo_path=None,
                line=item.index)


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
