"""The real samples the fuzzer starts from: one or more per format forensics reads.

Every entry is a file committed under ``sample_logs/`` (see ``sample_logs/README.md`` and its
``manifest.json``), named by a short key. ``rel`` is where it sits there, and where its copies are
written under a case's input directory, so the path says what it said (a kubelet log path names
its pod, a rotated log its rotation). The one exception is Jaeger JSON, of which the samples have
none: ``jaeger`` is the OTLP sample ``spans/otlp/inventory.jsonl`` converted span by span into the
Jaeger UI's ``{"data": [...]}`` document (:func:`otlp_to_jaeger`).

``family`` groups samples a splice may join (the same framing: two crash pastes, two CRI logs);
``lines`` marks the line-oriented ones, whose goroutines, log records and JSON-lines spans the
preservation check compares (:mod:`.reading`); ``ci`` marks the ones small enough for the CI list.
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_logs"

_POD = "var/log/pods/shop_orders-7d4b9c8f5-q9w2n_d2fb68a2-53df-5c8f-b58a-4c8b14c05569/orders"
_POD2 = "var/log/pods/shop_orders-5c8f7d6b9-k2x7p_5003e8a5-c298-578e-989b-3057aa2bf41b/orders"
_POD3 = "var/log/pods/shop_orders-5c8f7d6b9-m4n8r_0641d471-40d2-5366-bdae-0a0852e19094/orders"
_DOCKER = ("var/log/containers/payments-6b8d9f7c4-z8x2v_shop_payments-"
           "9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f.log")
_DUMPS = "incident/bundle/dumps/orders-5cf4b974d7-d9wfp"


@dataclass(frozen=True)
class Sample:
    key: str
    rel: str  # under sample_logs/
    kind: str  # the format it is read as (sources.kind)
    family: str  # what it may be spliced with
    lines: bool = False  # line-oriented: what lies outside a mutation must survive it
    ci: bool = True  # in the CI list (small enough)

    @property
    def path(self) -> Path:
        return SAMPLES / self.rel

    @property
    def packed(self) -> bool:
        """Stored gzipped (a rotated log, profile.proto, a go tool trace export)."""
        return self.rel.endswith(".gz")

    def content(self) -> bytes:
        """The decompressed bytes, as forensics reads them."""
        return sample_content(self.key)


CATALOG: tuple[Sample, ...] = (
    # Go crash output and goroutine dumps, both toolchains.
    Sample("crash-1.19-panic", "go1.19.8/default/panic-string.txt", "go_crash", "crash", True),
    Sample("crash-1.27-panic", "go1.27.3/default/panic-custom-error.txt", "go_crash", "crash", True),
    Sample("crash-1.27-sigquit", "go1.27.3/default/sigquit.txt", "go_crash", "crash", True),
    Sample("crash-1.19-sigabrt", "go1.19.8/default/sigabrt.txt", "go_crash", "crash", True, ci=False),
    Sample("crash-1.27-multi", "go1.27.3/default/multi.txt", "go_crash", "crash", True),
    Sample("crash-1.19-overflow", "go1.19.8/default/stack-overflow.txt", "go_crash", "crash", True),
    Sample("crash-1.27-repanic", "go1.27.3/default/repanic.txt", "go_crash", "crash", True),
    Sample("crash-1.27-concurrent-map", "go1.27.3/default/concurrent-map.txt", "go_crash", "crash", True, ci=False),
    Sample("crash-1.19-race", "go1.19.8/race/race.txt", "go_crash", "crash", True),
    Sample("crash-1.27-race", "go1.27.3/race/race.txt", "go_crash", "crash", True, ci=False),
    Sample("crash-1.27-trimpath", "go1.27.3/trimpath/panic-string.txt", "go_crash", "crash", True, ci=False),
    Sample("crash-1.19-vendor", "go1.19.8/vendor/stack.txt", "go_crash", "crash", True, ci=False),
    Sample("dump-1.19-leak", "go1.19.8/leak/goroutine-2.dump.txt", "go_crash", "crash", True),
    Sample("dump-1.27-pprof-debug2", "go1.27.3/default/pprof-goroutine.txt", "go_crash", "crash", True, ci=False),
    Sample("dump-incident-debug2", f"{_DUMPS}/goroutines-debug2-20261122T025204Z.txt", "go_crash", "crash", True),
    # Crash text as people share it (sample_logs/damaged, and logs around dumps).
    Sample("pasted-compose", "damaged/docker-compose/go1.27.3-default-panic-string.txt", "go_crash", "compose", True),
    Sample("pasted-journald", "damaged/journald/go1.19.8-default-sigquit.txt", "go_crash", "journald", True),
    Sample("pasted-nl", "damaged/nl/go1.19.8-default-panic-string.txt", "go_crash", "nl", True),
    Sample("pasted-fold", "damaged/fold-80/go1.27.3-default-stack.txt", "go_crash", "fold", True, ci=False),
    Sample("pasted-expand", "damaged/expand-4/go1.19.8-default-repanic.txt", "go_crash", "expand", True, ci=False),
    Sample("pasted-crlf", "damaged/crlf/go1.27.3-default-nil-deref.txt", "go_crash", "crlf", True, ci=False),
    Sample("pasted-github", "damaged/github-actions/go1.27.3-default-deadlock.txt", "log", "github", True, ci=False),
    Sample("pasted-kubectl", "go1.27.3/prefixed/kubectl-panic-string.txt", "log", "kubectl", True),
    Sample("pasted-cri-multi", "go1.19.8/prefixed/cri-multi.txt", "log", "cri", True),
    # Logs: the kubelet's CRI files (one with a crash and restarts), a rotation, Docker, journald, plain.
    Sample("log-cri", f"cluster/{_POD3}/0.log", "log", "cri", True),
    Sample("log-cri-crash", f"cluster/{_POD}/1.log", "log", "cri", True),
    Sample("log-cri-crash-2", f"cluster/{_POD}/3.log", "log", "cri", True, ci=False),
    Sample("log-cri-rotated", f"cluster/{_POD2}/0.log.20261122-050658.gz", "log", "cri", True),
    Sample("log-docker", f"cluster/{_DOCKER}", "log", "docker", True),
    Sample("log-journal", "cluster/journal/inventory.json", "log", "journal", True),
    Sample("log-plain", "cluster/hosts/node-3/inventory.log", "log", "plain", True),
    Sample("log-incident-crash",
           "incident/bundle/var/log/pods/shop_orders-7d8f876587-mrgwf_46710eef-35c9-5913-a550-5f6afc99b380/"
           "orders/0.log", "log", "cri", True, ci=False),
    # pprof: profile.proto (gzipped as served) and the debug=1 text forms.
    Sample("pprof-cpu", "go1.27.3/profiles/cpu.pb.gz", "pprof", "pprof"),
    Sample("pprof-heap", "go1.19.8/profiles/heap.pb.gz", "pprof", "pprof", ci=False),
    Sample("pprof-goroutine", "go1.27.3/leak/goroutine-4.pb.gz", "pprof", "pprof"),
    Sample("pprof-text-heap", "go1.27.3/profiles/heap.txt", "pprof_text", "pprof_text"),
    Sample("pprof-text-mutex", "go1.19.8/profiles/mutex.txt", "pprof_text", "pprof_text"),
    Sample("pprof-text-block", "go1.27.3/profiles/block.txt", "pprof_text", "pprof_text", ci=False),
    Sample("pprof-text-goroutine", f"{_DUMPS}/goroutines-debug1-20261122T020202Z.txt", "pprof_text", "pprof_text"),
    Sample("pprof-text-threadcreate", "go1.19.8/profiles/threadcreate.txt", "pprof_text", "pprof_text", ci=False),
    # Spans: OTLP JSON lines (the collector's file exporter, and one document), Zipkin v2, Jaeger.
    Sample("otlp-jsonl", "spans/otlp/inventory.jsonl", "otlp", "otlp", True),
    Sample("otlp-document", "incident/bundle/spans/payments-7898d6d48c-dxczj.jsonl", "otlp", "otlp", ci=False),
    Sample("zipkin", "spans/zipkin/trace-3.json", "zipkin", "zipkin"),
    Sample("jaeger", "spans/jaeger/inventory.json", "jaeger", "jaeger"),
    # go tool trace's /jsontrace (Chrome trace-event JSON), and a binary trace (skipped, with a pointer).
    Sample("chrome-incident", "incident/bundle/trace/orders-trace-20261122T030000Z.json.gz", "chrome_trace", "chrome"),
    Sample("chrome-1.27", "go1.27.3/trace/trace.json.gz", "chrome_trace", "chrome", ci=False),
    Sample("go-trace-binary", "go1.27.3/trace/trace.out", "go_trace", "go_trace"),
    # Release records: deploys, Kubernetes events, go version -m, go.mod, go.sum.
    Sample("deploys-csv", "cluster/deploys/deploys.csv", "deploys", "deploys"),
    Sample("deploys-incident", "incident/bundle/deploys/deploys.csv", "deploys", "deploys", ci=False),
    Sample("k8s-events", "cluster/k8s/events.json", "k8s_events", "k8s_events"),
    Sample("buildinfo", "cluster/deploys/buildinfo/orders-v1.9.0.txt", "buildinfo", "buildinfo"),
    Sample("go-mod", "cluster/deploys/buildinfo/orders-v1.9.0.go.mod", "go_mod", "go_mod"),
    Sample("go-sum", "cluster/deploys/buildinfo/orders-v1.9.0.go.sum", "go_sum", "go_sum"),
)
BY_KEY: dict[str, Sample] = {s.key: s for s in CATALOG}
LINE_SAMPLES = tuple(s.key for s in CATALOG if s.lines)
CRASH = "crash-1.27-panic"  # the content of the special-file and hostile-name cases


def get(key: str) -> Sample:
    return BY_KEY[key]


@lru_cache(maxsize=None)
def sample_content(key: str) -> bytes:
    sample = BY_KEY[key]
    if key == "jaeger":
        return otlp_to_jaeger((SAMPLES / "spans/otlp/inventory.jsonl").read_bytes())
    raw = sample.path.read_bytes()
    return gzip.decompress(raw) if sample.packed else raw


def family_of(key: str) -> list[str]:
    """The samples a splice of `key` may take its tail from (itself included)."""
    fam = BY_KEY[key].family
    return [s.key for s in CATALOG if s.family == fam]


def otlp_to_jaeger(jsonl: bytes) -> bytes:
    """OTLP JSON lines as the Jaeger UI's JSON (``{"data": [trace...]}``): each span with its
    operation, CHILD_OF reference, microsecond times, kind and status as tags, events as logs,
    and the resource as its process.

    >>> doc = json.loads(otlp_to_jaeger(b'{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", '
    ...     b'"value": {"stringValue": "inv"}}]}, "scopeSpans": [{"spans": [{"traceId": "ab", "spanId": "01", '
    ...     b'"name": "Get", "kind": 2, "startTimeUnixNano": "3000", "endTimeUnixNano": "5000"}]}]}]}'))
    >>> span = doc["data"][0]["spans"][0]
    >>> span["operationName"], span["startTime"], span["duration"], doc["data"][0]["processes"][span["processID"]]
    ('Get', 3, 2, {'serviceName': 'inv', 'tags': []})
    """
    traces: dict[str, dict] = {}
    kinds = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            attrs = {a["key"]: _otlp_value(a.get("value", {})) for a in rs.get("resource", {}).get("attributes", [])}
            service = str(attrs.pop("service.name", "unknown"))
            process = {"serviceName": service, "tags": [_tag(k, v) for k, v in sorted(attrs.items())]}
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    trace = traces.setdefault(span["traceId"], {"traceID": span["traceId"], "spans": [],
                                                                 "processes": {}})
                    pid = next((p for p, v in trace["processes"].items() if v == process), None)
                    if pid is None:
                        pid = f"p{len(trace['processes']) + 1}"
                        trace["processes"][pid] = process
                    start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
                    tags = [_tag(a["key"], _otlp_value(a.get("value", {}))) for a in span.get("attributes", [])]
                    if span.get("kind") in kinds:
                        tags.append(_tag("span.kind", kinds[span["kind"]]))
                    status = span.get("status", {})
                    if status.get("code") == 2:
                        tags += [_tag("error", True), _tag("otel.status_code", "ERROR")]
                        if status.get("message"):
                            tags.append(_tag("otel.status_description", status["message"]))
                    refs = ([{"refType": "CHILD_OF", "traceID": span["traceId"], "spanID": span["parentSpanId"]}]
                            if span.get("parentSpanId") else [])
                    logs = [{"timestamp": int(e["timeUnixNano"]) // 1000,
                             "fields": [_tag("event", e.get("name", ""))] +
                             [_tag(a["key"], _otlp_value(a.get("value", {}))) for a in e.get("attributes", [])]}
                            for e in span.get("events", [])]
                    trace["spans"].append({
                        "traceID": span["traceId"], "spanID": span["spanId"], "operationName": span["name"],
                        "references": refs, "startTime": start // 1000, "duration": (end - start) // 1000,
                        "tags": tags, "logs": logs, "processID": pid, "warnings": None,
                    })
    return json.dumps({"data": list(traces.values()), "total": 0, "limit": 0, "offset": 0,
                       "errors": None}).encode()


def _otlp_value(value: dict):
    for field in ("stringValue", "boolValue", "doubleValue"):
        if field in value:
            return value[field]
    if "intValue" in value:
        return int(value["intValue"])
    return json.dumps(value)


def _tag(key: str, value) -> dict:
    kind = ("bool" if isinstance(value, bool) else "int64" if isinstance(value, int)
            else "float64" if isinstance(value, float) else "string")
    return {"key": key, "type": kind, "value": value}


# Go evidence, as the README defines it: a goroutine header (anywhere in a line: prefixes are
# restored), or a line starting `panic: ` or `fatal error: `. A source holding one is never
# `skipped` as "no Go crash output".
EVIDENCE = re.compile(rb"goroutine \d+ (?:gp=0x[0-9a-f]+ m=\S+ (?:mp=0x[0-9a-f]+ )?)?\[[^\]\n]*\]:"
                      rb"|^[ \t]*(?:panic|fatal error): ", re.M)


def go_evidence(data: bytes) -> str | None:
    """The first Go evidence line in `data`, or None.

    >>> go_evidence(b"x\\n  goroutine 7 [chan receive]:\\n"), go_evidence(b"no panic: here")
    ('  goroutine 7 [chan receive]:', None)
    """
    m = EVIDENCE.search(data)
    if m is None:
        return None
    start = data.rfind(b"\n", 0, m.start()) + 1
    end = data.find(b"\n", m.end())
    return data[start:end if end >= 0 else len(data)][:200].decode("utf-8", "replace")
