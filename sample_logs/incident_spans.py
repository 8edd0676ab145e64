"""What the sample incident's generator writes from the requests its pods
logged (sample_logs/generate_incident.py runs the pods): OTLP spans by
opentelemetry-sdk's file exporter, and what the finished bundle shows per
release (requests, 5xx, latency, goroutine peaks) for story.json.
"""
from __future__ import annotations

import gzip
import json
import random
from datetime import datetime, timezone
from pathlib import Path

import generate_logs as gl

NS = gl.NAMESPACE
SCALE = 60  # a real second stands for a simulated minute, as in generate_incident
SAMPLE_RATIO = 0.25  # checkout's TraceIdRatioBased sampling; OpenTelemetry's bound for it is 2**62


def requests_of(pod):
    """The request records a pod logged: (record, restart)."""
    for restart, records in pod.runs:
        for _, stream, line in records:
            if stream == "stdout" and line.startswith(b"{"):
                rec = json.loads(line)
                if "latency_ms" in rec:
                    yield rec, restart


def write_spans(cluster, out: Path) -> None:
    """OTLP JSON by opentelemetry-sdk's file exporter, of the requests the pods logged, with the ids
    they logged: checkout's server span, its client span calling orders, orders' server span (a child
    of that client span, in another service) and its etcd read; payments' server spans. Sampled as
    the programs propagated it: ParentBased(TraceIdRatioBased(0.25)) decides on the trace id.

    Compressed time stretches the gaps between spans by SCALE but not their lengths, so a trace is
    laid out from its root: checkout's logged end time and latency; a call is centred in its parent
    by the durations logged on both sides."""
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from opentelemetry.trace import (NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags,
                                     set_span_in_context)

    class Logged(IdGenerator):
        """The ids the programs logged, handed out in the order spans are started."""

        def __init__(self):
            self.trace_id = self.span_id = 0
            self.rng = random.Random(3)

        def generate_trace_id(self) -> int:
            return self.trace_id

        def generate_span_id(self) -> int:
            span_id, self.span_id = self.span_id or self.rng.getrandbits(64), 0
            return span_id

    ns = lambda seconds: int(round(seconds * 1e9))  # noqa: E731
    # Where checkout placed each call to orders: (trace id, client span id) -> (start, end) in ns.
    calls: dict[tuple[str, str], tuple[int, int]] = {}
    out.mkdir(parents=True, exist_ok=True)
    order = {"checkout": 0, "orders": 1, "payments": 2}
    ids = Logged()
    for pod in sorted(cluster.pods, key=lambda p: order[p.service]):
        provider = TracerProvider(
            resource=Resource.create({"service.name": pod.service, "service.version": pod.release,
                                      "k8s.pod.name": pod.name, "k8s.namespace.name": NS,
                                      "k8s.node.name": pod.node}),
            sampler=ParentBased(TraceIdRatioBased(SAMPLE_RATIO)), id_generator=ids)
        provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(str(out / f"{pod.name}.jsonl")),
                                                       max_queue_size=1 << 16, schedule_delay_millis=60_000))
        tracer = provider.get_tracer("forensics.samples.incident", "1.0")
        for rec, restart in requests_of(pod):
            end = ns(rec["ts"])
            start = end - ns(rec["latency_ms"] / 1e3)
            attrs = {"http.request.method": rec["method"], "http.route": rec["path"],
                     "http.response.status_code": rec["status"], "request.id": rec.get("request_id", "")}
            if pod.service == "orders" and rec.get("parent_span_id"):
                call = calls.get((rec["trace_id"], rec["parent_span_id"]))
                if call is not None:  # centred in checkout's call
                    length = end - start
                    start = call[0] + max(0, (call[1] - call[0] - length) // 2)
                    end = start + length
                flags = TraceFlags(TraceFlags.SAMPLED if int(rec["trace_id"][16:], 16) < 2 ** 62 else 0)
                parent = set_span_in_context(NonRecordingSpan(SpanContext(
                    int(rec["trace_id"], 16), int(rec["parent_span_id"], 16), is_remote=True, trace_flags=flags)))
            else:
                ids.trace_id, parent = int(rec["trace_id"], 16), None
            ids.span_id = int(rec["span_id"], 16)
            span = tracer.start_span(f"{rec['method']} {rec['path']}", context=parent, kind=SpanKind.SERVER,
                                     start_time=start, attributes=attrs)
            inner = None
            if pod.service == "checkout" and "client_span_id" in rec:
                length = ns(rec["orders_latency_ms"] / 1e3)
                cstart = start + max(0, (end - start - length) // 2)
                calls[(rec["trace_id"], rec["client_span_id"])] = (cstart, cstart + length)
                ids.span_id = int(rec["client_span_id"], 16)
                route = "/orders" if rec["path"] == "/checkout" else "/orders/{id}"
                inner = tracer.start_span(f"{'POST' if route == '/orders' else 'GET'} {route}",
                                          context=set_span_in_context(span), kind=SpanKind.CLIENT, start_time=cstart,
                                          attributes={"server.address": rec["orders_pod"], "peer.service": "orders",
                                                      "http.response.status_code": rec["orders_status"]})
                if rec["status"] >= 500:
                    inner.set_status(Status(StatusCode.ERROR, rec.get("error", rec["msg"])))
                inner.end(end_time=cstart + length)
            elif pod.service == "orders":
                length = ns(rec["etcd_ms"] / 1e3)
                estart = start + min(ns(50e-6), max(0, end - start - length))
                inner = tracer.start_span("etcd Get", context=set_span_in_context(span), kind=SpanKind.CLIENT,
                                          start_time=estart, attributes={"db.system": "etcd",
                                                                         "db.operation.name": "Get"})
                if rec["status"] == 504:
                    inner.set_status(Status(StatusCode.ERROR, rec["msg"]))
                inner.end(end_time=estart + length)
            if rec["status"] >= 500:
                span.set_status(Status(StatusCode.ERROR, rec["msg"]))
            span.end(end_time=end)
        provider.shutdown()


def observed(bundle: Path, releases: dict[str, str]) -> dict:
    """What the bundle shows per service and release (`releases`: pod -> release): requests logged,
    5xx answers, latency quantiles (real ms), the first and last 5xx, and per orders release the
    largest goroutine count a snapshot saw."""
    lat: dict[tuple, list] = {}
    errors: dict[tuple, list] = {}
    for log in sorted((bundle / "var" / "log" / "pods").glob("*/*/*.log*")):
        pod = log.parts[-3].split("_")[1]
        key = (log.parts[-2], releases[pod])
        data = gzip.decompress(log.read_bytes()) if log.suffix == ".gz" else log.read_bytes()
        for line in data.splitlines():
            _, stream, _, text = line.split(b" ", 3)
            if stream != b"stdout" or not text.startswith(b"{"):
                continue
            rec = json.loads(text)
            if "latency_ms" in rec:
                lat.setdefault(key, []).append(rec["latency_ms"])
                if rec["status"] >= 500:
                    errors.setdefault(key, []).append(rec["ts"])
    out: dict = {}
    for (service, release), values in sorted(lat.items()):
        values.sort()
        errs = sorted(errors.get((service, release), []))
        out.setdefault(service, {})[release] = {
            "requests": len(values), "errors_5xx": len(errs),
            "p50_ms": values[len(values) // 2], "p99_ms": values[int(len(values) * 0.99)],
            "first_5xx": gl.rfc3339nano(datetime.fromtimestamp(errs[0], timezone.utc)) if errs else None,
            "last_5xx": gl.rfc3339nano(datetime.fromtimestamp(errs[-1], timezone.utc)) if errs else None}
    for dump in (bundle / "dumps").glob("*/goroutines-debug1-*.txt"):
        head = dump.read_text().split("\n", 1)[0]  # goroutine profile: total N
        row = out["orders"][releases[dump.parent.name]]
        row["goroutine_peak"] = max(row.get("goroutine_peak", 0), int(head.rsplit(" ", 1)[1]))
    return out
