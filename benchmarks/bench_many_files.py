#!/usr/bin/env python3
"""Benchmark: a fleet's worth of small crash files, next to panicparse run once per file.

The inputs are the real Go crash outputs of sample_logs/go1.19.8 and
sample_logs/go1.27.3 (panics, fatal errors, deadlocks, race reports,
goroutine dumps; those up to --max-bytes, 2 KB by default: about 700 bytes a
file), copied the way a fleet makes them: each copy is one pod's crash, in its
own pod directory, with what differs between processes of one binary changed
(log time stamps, pid, heap and stack addresses, a leak's goroutine count), so
every file's bytes differ and content hashing does not fold them together.
Cached in benchmarks/data/many-files-N/. In one run, each a fresh child process
(wall time, peak RSS):

* ``forensics ingest DIR --db new.duckdb -q`` with ``-j 1``, the default jobs
  and ``-j 2``, each into a new database (then the main tables' row counts);
* panicparse (Debian's) run once per file, ``panicparse -no-color FILE``, the
  files one after another from one shell loop.

It prints seconds, files/s, ms per file, MB/s, peak RSS and the ratio of each
to panicparse (issue 17 targets: forensics at least 2x faster than panicparse
per file; 20,000 files well under a minute).

``--mixed`` (issue 17 item 5) builds instead a few thousand files of mixed
kinds, a quarter each: crash and goroutine dumps (sample_logs/go1.*/ and the
incident bundle's dumps), pprof profiles (every sample .pb.gz, a distinct
collection time written into each copy), CRI log files (100-line windows of
the sample pods' logs, times shifted) and OTLP JSON spans (50-span batches of
the sample spans, trace and span ids and times shifted), and ingests them with
``-j 1`` and ``-j 2``, printing the speed-up and the row counts of both.

    python benchmarks/bench_many_files.py                  # 2,000 files (~1 MB)
    python benchmarks/bench_many_files.py --files 20000    # the big run
    python benchmarks/bench_many_files.py --mixed [--files 3000]

Not a test: timings vary with the machine and its load.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from common import BENCH_DATA, FORENSICS, measure, print_table, row_counts, status_note

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
GO_DIRS = ("go1.19.8", "go1.27.3")
SECONDS_APART = 37  # one pod's crash to the next

STAMP = re.compile(rb"\b\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\b")
ISO = re.compile(rb"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
EPOCH = re.compile(rb'"ts":(\d{10})\.')
NANOS = re.compile(rb'"(start|end|time)(TimeUnixNano)":"(\d+)"')
IDS = re.compile(rb'"(traceId|spanId|parentSpanId)":"([0-9a-f]+)"')
LONG_HEX = re.compile(rb"\b0x([0-9a-f]{10,16})\b")
PID = re.compile(rb"\bpid=(\d+)")
LEAK = re.compile(rb"^goroutine profile: total (\d+)\n(\d+) @", re.M)


def shift_times(data: bytes, k: int) -> bytes:
    """Log times (Go's log package, RFC 3339, epoch seconds, OTLP nanoseconds) k pods later."""
    dt = timedelta(seconds=k * SECONDS_APART)
    data = STAMP.sub(lambda m: (datetime.strptime(m[0].decode(), "%Y/%m/%d %H:%M:%S") + dt)
                     .strftime("%Y/%m/%d %H:%M:%S").encode(), data)
    data = ISO.sub(lambda m: (datetime.strptime(m[0].decode(), "%Y-%m-%dT%H:%M:%S") + dt)
                   .strftime("%Y-%m-%dT%H:%M:%S").encode(), data)
    data = EPOCH.sub(lambda m: b'"ts":%d.' % (int(m[1]) + k * SECONDS_APART), data)
    return NANOS.sub(lambda m: b'"%s%s":"%d"' % (m[1], m[2], int(m[3]) + k * SECONDS_APART * 10**9), data)


def vary_crash(data: bytes, k: int) -> bytes:
    """Pod k's copy of a Go crash: its own times, pid, addresses (ASLR, heap) and leak size."""
    data = shift_times(data, k)
    data = PID.sub(lambda m: b"pid=%d" % ((int(m[1]) + 7 * k) % 4_194_304 or 1), data)
    data = LONG_HEX.sub(lambda m: b"0x%0*x" % (len(m[1]), (int(m[1], 16) + k * 0x1000) % 16 ** len(m[1])), data)
    return LEAK.sub(lambda m: b"goroutine profile: total %d\n%d @" % (int(m[1]) + k, int(m[2]) + k), data)


def vary_spans(data: bytes, k: int) -> bytes:
    """Pod k's spans: other trace and span ids (mapped alike, so parents still match), later times."""
    def new_id(m: re.Match) -> bytes:
        width = len(m[2])
        return b'"%s":"%0*x"' % (m[1], width, (int(m[2], 16) + k * 0x9E3779B1) % 16 ** width)
    return IDS.sub(new_id, shift_times(data, k))


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not out[-1] & 0x80:
            return bytes(out)


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value, at, shift = value | (byte & 0x7F) << shift, at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def vary_profile(data: bytes, k: int) -> bytes:
    """Pod k's profile: profile.proto with its time_nanos (field 9) moved k pods later, in place."""
    raw, at, out, moved = gzip.decompress(data), 0, bytearray(), False
    while at < len(raw):
        start = at
        tag, at = read_varint(raw, at)
        if tag >> 3 == 9 and tag & 7 == 0:
            value, at = read_varint(raw, at)
            out += varint(tag) + varint(value + k * SECONDS_APART * 10**9)
            moved = True
            continue
        if tag & 7 == 0:
            at = read_varint(raw, at)[1]
        elif tag & 7 == 2:
            length, at = read_varint(raw, at)
            at += length
        else:
            at += 8 if tag & 7 == 1 else 4
        out += raw[start:at]
    if not moved:  # no time_nanos (0): write one
        out += varint(9 << 3) + varint(1_795_312_800 * 10**9 + k * SECONDS_APART * 10**9)
    return gzip.compress(bytes(out), compresslevel=6, mtime=0)


def crash_sources(max_bytes: int | None) -> list[tuple[str, bytes]]:
    """The real crash outputs (not profiles or traces), those up to max_bytes."""
    found = []
    for go in GO_DIRS:
        for path in sorted((SAMPLES / go).rglob("*.txt")):
            if path.parent.name not in ("profiles", "trace") and (max_bytes is None or path.stat().st_size <= max_bytes):
                found.append((f"{go}-{path.parent.name}-{path.name}", path.read_bytes()))
    return found


def mixed_sources() -> dict[str, list[tuple[str, bytes]]]:
    bundle = SAMPLES / "incident" / "bundle"
    crashes = crash_sources(None) + [(f"{p.parent.name}-{p.name}", p.read_bytes())
                                     for p in sorted((bundle / "dumps").rglob("*.txt"))]
    profiles = [(p.name, p.read_bytes()) for d in (*(SAMPLES / go for go in GO_DIRS), bundle / "profiles")
                for p in sorted(d.rglob("*.pb.gz"))]
    logs = []
    for path in sorted([*(bundle / "var").rglob("*.log"), *(SAMPLES / "cluster" / "var" / "log" / "pods").rglob("*.log")]):
        lines = path.read_bytes().splitlines(keepends=True)
        logs += [(f"{path.parent.name}-{i}.log", b"".join(lines[i:i + 100])) for i in range(0, len(lines), 100)]
    spans = []
    for path in sorted([*(bundle / "spans").glob("*.jsonl"), *(SAMPLES / "spans" / "otlp").glob("*.jsonl")]):
        for line in path.read_bytes().splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for i in range(0, len(ss["spans"]), 50):
                        doc = {"resourceSpans": [{"resource": rs["resource"], "scopeSpans": [
                            {"scope": ss.get("scope", {}), "spans": ss["spans"][i:i + 50]}]}]}
                        spans.append((f"{path.stem}-{len(spans)}.jsonl", json.dumps(doc, separators=(",", ":"))
                                      .encode() + b"\n"))
    return {"crash": crashes, "profile": profiles, "log": logs, "spans": spans}


def build(files: int, mixed: bool, max_bytes: int) -> Path:
    dest = BENCH_DATA / (f"mixed-{files}" if mixed else f"many-files-{files}-{max_bytes}")
    done = dest.with_name(dest.name + ".complete")  # beside, not in, the directory ingested
    if done.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    if mixed:
        kinds = mixed_sources()
        vary = {"crash": vary_crash, "profile": vary_profile, "log": shift_times, "spans": vary_spans}
        names = list(kinds)  # round robin over the kinds, and over each kind's pieces
        plan = [(names[i % 4], kinds[names[i % 4]][(i // 4) % len(kinds[names[i % 4]])]) for i in range(files)]
    else:
        pool = crash_sources(max_bytes)
        plan = [("crash", pool[i % len(pool)]) for i in range(files)]
        vary = {"crash": vary_crash}
    seen = set()
    for i, (kind, (name, data)) in enumerate(plan):
        body = vary[kind](data, i + 1)
        digest = hashlib.sha256(gzip.decompress(body) if kind == "profile" else body).digest()
        if digest in seen:
            sys.exit(f"copy {i} of {name} is not distinct: the variation does not change it")
        seen.add(digest)
        out = dest / f"pod-{i:05d}" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
    done.write_text(f"{files}\n")
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, help="files to build (default 2,000; 3,000 with --mixed)")
    ap.add_argument("--mixed", action="store_true", help="crash dumps, profiles, logs and spans, -j 1 vs -j 2")
    ap.add_argument("--max-bytes", type=int, default=2048, help="largest crash sample copied (not --mixed)")
    ap.add_argument("--timeout", type=float, default=3600, help="stop a measured command after this many seconds")
    opts = ap.parse_args()
    files = opts.files or (3000 if opts.mixed else 2000)
    root = build(files, opts.mixed, opts.max_bytes)
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"input: {root.name}: {len(paths)} files in {len(paths)} pod directories, {size_mb:.1f} MB "
          f"(distinct copies of real Go output)")

    runs = {"forensics ingest -j 1": ["-j", "1"], "forensics ingest (default jobs)": [], "forensics ingest -j 2":
            ["-j", "2"]}
    if opts.mixed:
        del runs["forensics ingest (default jobs)"]
    results, counts = {}, {}
    with tempfile.TemporaryDirectory(prefix="fx-bench-db-") as tmp:
        for n, (name, jobs) in enumerate(runs.items()):
            db = Path(tmp) / f"new-{n}.duckdb"
            results[name] = measure(FORENSICS + ["ingest", str(root), "--db", str(db), "-q", *jobs], opts.timeout)
            counts[name] = row_counts(db) if db.exists() else {}
        if not opts.mixed:
            panicparse = shutil.which("panicparse")
            if panicparse:
                listing = Path(tmp) / "files.txt"
                listing.write_text("".join(f"{p}\n" for p in paths))
                loop = f'while IFS= read -r f; do {panicparse} -no-color "$f" >/dev/null 2>&1; done < {listing}'
                results["panicparse -no-color FILE, once per file"] = measure(["sh", "-c", loop], opts.timeout)
            else:
                print("panicparse not found (apt-get install panicparse): no peer figure")

    peer = results.get("panicparse -no-color FILE, once per file", results["forensics ingest -j 1"])[0]
    peer_name = "panicparse" if len(results) > len(runs) else "-j 1"
    rows = [(name, f"{dt:.2f}", f"{len(paths) / dt:.0f}", f"{1000 * dt / len(paths):.2f}", f"{size_mb / dt:.2f}",
             f"{rss:.0f}", f"{peer / dt:.2f}x{status_note(rc)}") for name, (dt, rss, rc) in results.items()]
    print_table(("command", "seconds", "files/s", "ms/file", "MB/s", "peak RSS MiB", f"speed vs {peer_name}"), rows)
    if opts.mixed:
        print(f"speed-up of -j 2 over -j 1: {results['forensics ingest -j 1'][0] / results['forensics ingest -j 2'][0]:.2f}x")
    else:
        best = min(dt for name, (dt, _, _) in results.items() if name.startswith("forensics"))
        if peer_name == "panicparse":
            print(f"target forensics >= 2x faster than panicparse per file: "
                  f"{'met' if peer / best >= 2 else 'NOT met'} ({peer / best:.2f}x, best forensics run)")
        print(f"best forensics run at this rate for 20,000 files: {best * 20_000 / len(paths):.0f} s "
              f"(target: well under a minute)")
    print("\nrows stored (each run a new database):")
    tables = next((list(c) for c in counts.values() if c), [])
    print_table(("run", *tables), [(name, *(f"{c.get(t, '-')}" for t in tables)) for name, c in counts.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
