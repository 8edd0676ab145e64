"""Damaged copies of the real crash outputs: every transformation of
sample_logs/damage.py applied to each crash below, for both toolchains.

    python sample_logs/generate_damaged.py

writes sample_logs/damaged/<damage>/<go>-<variant>-<crash>.txt and
sample_logs/damaged/manifest.json (source, damage, what made it: the real
tool's command line where it is installed, else 'mimic'). The tests compare
what forensics reads from each copy with what it reads from the clean
original; benchmarks/bench_damaged.py compares forensics with panicparse.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from damage import DAMAGES, applies, run_tool  # noqa: E402

# One of each kind the runtime prints: panics (plain, runtime error, nested,
# recovered and re-panicked, multi-line), fatal errors, a signal dump, a
# deadlock, a stack overflow, runtime.Stack output, a race report.
CRASHES = (
    "default/panic-string", "default/nil-deref", "default/index", "default/concurrent-map",
    "default/deadlock", "default/recovered-chain", "default/repanic", "default/panic-multiline",
    "default/nested-panic", "default/stack", "default/sigquit", "default/stack-overflow",
    "race/race", "trimpath/panic-string",
)
TOOLCHAINS = ("go1.19.8", "go1.27.3")


def main() -> None:
    out = HERE / "damaged"
    shutil.rmtree(out, ignore_errors=True)
    manifest = []
    for damage in DAMAGES:
        (out / damage.name).mkdir(parents=True)
        for go in TOOLCHAINS:
            for crash in CRASHES:
                source = HERE / go / f"{crash}.txt"
                if not source.exists() or not applies(damage, crash):
                    continue
                data, made_by = run_tool(damage, source.read_bytes())
                name = f"{go}-{crash.replace('/', '-')}.txt"
                (out / damage.name / name).write_bytes(data)
                manifest.append({"file": f"{damage.name}/{name}", "source": f"{go}/{crash}.txt",
                                 "damage": damage.name, "what": damage.what, "made_by": made_by})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest)} damaged copies in {out}")


if __name__ == "__main__":
    main()
