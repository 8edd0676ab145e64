"""What forensics and panicparse recover from damaged crash text.

    python benchmarks/bench_damaged.py [--wild ../shared/wild-dev]

For every damage of sample_logs/damaged (made by sample_logs/generate_damaged.py
from the real crash outputs of both toolchains, race reports aside since
panicparse does not read them), counts what each tool recovers against what
the clean original holds, counted from its text:

- goroutines: goroutine headers of the original;
- frames: frames with their file:line (each goroutine's, as panicparse's
  buckets multiply them);
- messages: first lines of panic, fatal error and signal messages. panicparse
  does not parse messages; it is credited with one wherever it prints it.

Prints one row per damage and a total, as a table. With ``--wild``, the same
counts on real crash pastes from public issue trackers (truth.json there).
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forensics.ingest.pipeline import read  # noqa: E402
from forensics.parsers import ParseOptions  # noqa: E402
from forensics.parsers.dumps import scanner  # noqa: E402

HEADER = re.compile(r"^goroutine \d+ (?:gp=0x[0-9a-f]+ m=\S+ (?:mp=0x[0-9a-f]+ )?)?\[", re.M)
CALL_FILE = re.compile(r"^(?!created by )[^\s].*\)\n\t.+:\d+", re.M)
MESSAGE = re.compile(r"^\t?(?:panic|fatal error): (.*?)(?: \[recovered(?:, repanicked)?\])?$|^(SIG[A-Z]+: .*)$", re.M)
BUCKET = re.compile(r"^(\d+): ", re.M)
PP_FRAME = re.compile(r"^\s+\S+\s+\S+:\d+\s", re.M)


def truth(text: str) -> tuple[int, int, set[str]]:
    messages = {a or b for a, b in MESSAGE.findall(text)}
    return len(HEADER.findall(text)), len(CALL_FILE.findall(text)), messages


def ours(data: bytes) -> tuple[int, int, list[str]]:
    tables: dict[str, list] = {}
    for name, batch in scanner.parse(io.BytesIO(data), ParseOptions()):
        tables.setdefault(name, []).extend(batch.to_pylist())
    race = {d["dump_id"] for d in tables.get("dumps", []) if d["kind"] == "race"}
    goroutines = [g for g in tables.get("goroutines", []) if g["dump_id"] not in race and g["goroutine_id"] is not None
                  and g["goroutine_id"] >= 0]
    frames = [f for f in tables.get("frames", []) if f["dump_id"] not in race and f["file"] is not None
              and f["goroutine_id"] is not None]
    messages = [p["message"].split("\n")[0] for p in tables.get("panics", [])]
    signals = [f"{d['signal']}: " for d in tables.get("dumps", []) if d["kind"] == "signal" and d["signal"]]
    return len(goroutines), len(frames), messages + signals


def theirs(panicparse: str, data: bytes) -> tuple[int, int, str]:
    out = subprocess.run([panicparse, "-no-color"], input=data, capture_output=True, timeout=120).stdout.decode(
        "utf-8", "replace")
    goroutines = frames = 0
    for block in re.split(r"\n(?=\d+: )", out):
        m = BUCKET.match(block)
        if m:
            n = int(m.group(1))
            goroutines += n
            frames += n * len(PP_FRAME.findall(block))
    return goroutines, frames, out


def found(messages: set[str], got) -> int:
    if isinstance(got, str):
        return sum(1 for m in messages if m in got)
    return sum(1 for m in messages if any(g == m or (m.startswith("SIG") and m.startswith(g)) for g in got))


def table(rows: list[tuple], header: tuple) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def fraction(a: int, b: int) -> str:
    return f"{a}/{b}"


def damaged(panicparse: str | None) -> None:
    manifest = json.loads((ROOT / "sample_logs" / "damaged" / "manifest.json").read_text())
    by_damage: dict[str, list] = {}
    for e in manifest:
        if "race" in e["source"]:
            continue
        by_damage.setdefault(e["damage"], []).append(e)
    # the clean originals first, for reference: what each reads with no damage at all
    by_damage = {"none (clean)": [{"source": e["source"], "file": None} for e in by_damage["ts"]], **by_damage}
    rows, total, clean = [], [0] * 9, [0] * 9
    for damage, entries in by_damage.items():
        sums = [0] * 9
        for e in entries:
            g, f, msgs = truth((ROOT / "sample_logs" / e["source"]).read_text())
            data = (ROOT / "sample_logs" / (f"damaged/{e['file']}" if e["file"] else e["source"])).read_bytes()
            og, of, om = ours(data)
            tg, tf, tout = theirs(panicparse, data) if panicparse else (0, 0, "")
            vals = [g, min(og, g), min(tg, g), f, min(of, f), min(tf, f), len(msgs), found(msgs, om), found(msgs, tout)]
            sums = [a + b for a, b in zip(sums, vals)]
        total = [a + b for a, b in zip(total, sums)]
        if not rows:
            clean = sums
        rows.append((damage, len(entries), *_cells(sums)))
    rows.append(("all damaged", sum(r[1] for r in rows[1:]), *_cells([a - b for a, b in zip(total, clean)])))
    print(table(rows, ("damage", "files", "goroutines fx", "pp", "frames fx", "pp", "messages fx", "pp")))


def _cells(s: list[int]) -> tuple:
    return (fraction(s[1], s[0]), fraction(s[2], s[0]), fraction(s[4], s[3]), fraction(s[5], s[3]),
            fraction(s[7], s[6]), fraction(s[8], s[6]))


def wild(folder: Path, panicparse: str | None) -> None:
    entries = json.loads((folder / "truth.json").read_text())
    rows = []
    sums = [0] * 6
    for t in entries:
        data = (folder / t["file"]).read_bytes()
        want = t.get("goroutine_profile_total") or t["goroutine_headers"]
        og, _, om = ours(data)
        if "goroutine_profile_total" in t:  # a ?debug=1 profile: read by the pprof family, as ingest would
            og = sum(g["count"] for g in read([str(folder / t["file"])])["goroutines"])
        tg, _, tout = theirs(panicparse, data) if panicparse else (0, 0, "")
        msgs = set(t["panic_messages"])
        vals = [int(og == want), int(tg == want), len(msgs), found(msgs, om), found(msgs, tout), 1]
        sums = [a + b for a, b in zip(sums, vals)]
    rows.append(("wild-dev", sums[5], fraction(sums[0], sums[5]), fraction(sums[1], sums[5]),
                 fraction(sums[3], sums[2]), fraction(sums[4], sums[2])))
    print(table(rows, ("corpus", "files", "goroutine counts right fx", "pp", "messages fx", "pp")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wild", type=Path, default=ROOT.parent / "shared" / "wild-dev")
    args = ap.parse_args()
    panicparse = shutil.which("panicparse")
    if panicparse is None:
        print("panicparse not installed (apt-get install panicparse): its columns read 0", file=sys.stderr)
    damaged(panicparse)
    if (args.wild / "truth.json").exists():
        print()
        wild(args.wild, panicparse)


if __name__ == "__main__":
    main()
