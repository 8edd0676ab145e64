#!/usr/bin/env python3
"""Regenerate the tracing samples under sample_logs/ with real programs.

- ``go<version>/trace/``: sample_logs/tracer built with every Go toolchain
  found records an execution trace (``trace.out``); ``go tool trace`` of the
  same toolchain serves it and its ``/jsontrace`` JSON is saved as
  ``trace.json.gz`` (Go 1.19 and 1.27 have different trace formats and viewers).
- ``spans/otlp/``: a simulated checkout service calling an inventory service,
  instrumented with opentelemetry-sdk and written by
  opentelemetry-exporter-otlp-json-file (one JSON line per exported span).
- ``spans/zipkin/``: the same kind of requests recorded with py_zipkin and
  its V2 JSON encoder (one file per trace, as its transport received it).

    pip install -e '.[samples]'   # opentelemetry-sdk, its OTLP JSON file exporter, py-zipkin
    python sample_logs/generate_traces.py

Entries are recorded in sample_logs/manifest.json (variant ``trace`` or
``spans``).
"""
from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402

TRACER = HERE / "tracer"
SERVING = re.compile(rb"listening on (http://[0-9.:]+)")


def build_tracer(go: str, work: Path) -> Path:
    exe = work / f"tracer-{generate.go_version(go)}"
    subprocess.run([go, "build", "-o", str(exe), "."], cwd=TRACER, env=dict(generate.go_env(work), CGO_ENABLED="0"),
                   check=True)
    return exe


def export_jsontrace(go: str, trace_out: Path, work: Path, out, timeout: float = 300) -> None:
    """Write what `go tool trace` of this toolchain serves at /jsontrace for
    `trace_out` to the binary file `out`."""
    env = {k: v for k, v in generate.go_env(work).items() if k != "GODEBUG"}
    # Its own process group: `go tool trace` runs the trace tool as a child, which killing `go` alone
    # would leave serving.
    server = subprocess.Popen([go, "tool", "trace", "-http=127.0.0.1:0", str(trace_out)],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        url = None
        deadline = time.time() + timeout
        while url is None and time.time() < deadline:
            line = server.stderr.readline()
            if not line:
                break
            m = SERVING.search(line)
            url = m.group(1).decode() if m else None
        if url is None:
            raise RuntimeError(f"go tool trace ({go}) did not start serving")
        with urllib.request.urlopen(url + "/jsontrace", timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
    finally:
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()


def go_trace(go: str, version: str, work: Path) -> list[dict]:
    out = HERE / version / "trace"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    exe = build_tracer(go, work)
    subprocess.run([str(exe), str(out / "trace.out")], env=dict(os.environ, GOMAXPROCS="2"), check=True, timeout=120)
    with gzip.GzipFile(out / "trace.json.gz", "wb", mtime=0) as dest:
        export_jsontrace(go, out / "trace.out", work, dest)
    return [{"file": str(p.relative_to(HERE)), "go": version, "variant": "trace"} for p in sorted(out.iterdir())]


def otlp_spans(out: Path, requests: int = 40) -> None:
    from opentelemetry import propagate
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    def tracer(service: str, version: str):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": version,
                                                            "deployment.environment": "prod"}))
        provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(str(out / f"{service}.jsonl"))))
        return provider, provider.get_tracer("forensics.samples", "1.0")

    rng = random.Random(7)
    checkout_p, checkout = tracer("checkout", "v1.9.0")
    inventory_p, inventory = tracer("inventory", "v3.2.1")
    previous = None
    for i in range(requests):
        links = [Link(previous, {"reason": "retry-of"})] if previous is not None and i % 10 == 0 else []
        with checkout.start_as_current_span("GET /cart", kind=SpanKind.SERVER, links=links, attributes={
                "http.request.method": "GET", "http.route": "/cart", "user.tier": rng.choice(["free", "pro"]),
                "cart.items": rng.randint(1, 9), "cart.value": round(rng.uniform(5, 500), 2),
                "feature.flags": ["new-pricing", "fast-path"], "retry": False}) as server:
            previous = server.get_span_context()
            time.sleep(rng.uniform(0.001, 0.004))
            with checkout.start_as_current_span("inventory.Reserve", kind=SpanKind.CLIENT) as client:
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                with inventory.start_as_current_span("Reserve", kind=SpanKind.SERVER,
                                                     context=propagate.extract(carrier)) as remote:
                    time.sleep(rng.uniform(0.001, 0.01) * (4 if i % 7 == 3 else 1))
                    if i % 9 == 4:
                        remote.add_event("stock.low", {"sku": f"SKU-{i:04d}", "left": 2})
                    if i % 13 == 6:
                        err = TimeoutError("lease keep-alive timed out")
                        remote.record_exception(err)
                        remote.set_status(Status(StatusCode.ERROR, "reservation failed"))
                        client.set_status(Status(StatusCode.ERROR))
                        server.set_attribute("http.response.status_code", 503)
                        server.set_status(Status(StatusCode.ERROR, "upstream error"))
            with checkout.start_as_current_span("render", attributes={"template": "cart.html"}):
                time.sleep(rng.uniform(0.0005, 0.002))
            if server.status.status_code != StatusCode.ERROR:
                server.set_attribute("http.response.status_code", 200)
                server.set_status(Status(StatusCode.OK))
    checkout_p.shutdown()
    inventory_p.shutdown()


def zipkin_spans(out: Path, requests: int = 6) -> None:
    from py_zipkin.encoding import Encoding
    from py_zipkin.transport import BaseTransportHandler
    from py_zipkin.zipkin import Kind, zipkin_span

    class Capture(BaseTransportHandler):
        def __init__(self):
            self.payloads: list[bytes] = []

        def get_max_payload_bytes(self):
            return None

        def send(self, payload):
            self.payloads.append(payload if isinstance(payload, bytes) else payload.encode())

    capture = Capture()
    rng = random.Random(11)
    for i in range(requests):
        with zipkin_span(service_name="checkout", span_name="GET /cart", transport_handler=capture,
                         sample_rate=100.0, encoding=Encoding.V2_JSON, kind=Kind.SERVER,
                         binary_annotations={"http.path": "/cart"}, use_128bit_trace_id=True) as root:
            time.sleep(rng.uniform(0.001, 0.004))
            with zipkin_span(service_name="checkout", span_name="inventory.reserve", kind=Kind.CLIENT) as call:
                time.sleep(rng.uniform(0.001, 0.006))
                if i == 3:
                    call.update_binary_annotations({"error": "lease keep-alive timed out"})
                call.add_annotation("reserved")
            root.update_binary_annotations({"http.status_code": "503" if i == 3 else "200"})
    for n, payload in enumerate(capture.payloads):
        (out / f"trace-{n}.json").write_bytes(payload)


def main() -> int:
    manifest = [e for e in json.loads((HERE / "manifest.json").read_text())
                if e["variant"] not in ("trace", "spans")]
    with tempfile.TemporaryDirectory(prefix="fx-traces-") as tmp:
        for go in generate.find_toolchains():
            manifest += go_trace(go, generate.go_version(go), Path(tmp))
    spans = HERE / "spans"
    if spans.exists():
        shutil.rmtree(spans)
    for name, write in (("otlp", otlp_spans), ("zipkin", zipkin_spans)):
        (spans / name).mkdir(parents=True)
        write(spans / name)
    manifest += [{"file": str(p.relative_to(HERE)), "variant": "spans", "format": p.parent.name}
                 for p in sorted(spans.rglob("*")) if p.is_file()]
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
