"""What was built: `go version -m` output, go.mod and go.sum -> builds, build_modules.

- ``go version -m`` output (cmd/go/internal/version, the text of
  debug.BuildInfo.String): path, main module, every dep with its version and
  h1: sum, ``=>`` replacements, build settings (vcs.revision, vcs.time,
  -ldflags...) and the Go version.
- ``go.mod`` (module, go, toolchain, require, replace) and ``go.sum``.

A line that cannot be read is reported with its number and skipped. Each
is read line by line up to its bound (:mod:`.reading`).

>>> import io
>>> info = b"app: go1.22.1\\n\\tpath\\tex.com/app\\n\\tmod\\tex.com/app\\tv1.2.0\\t\\n\\tdep\\tex.com/lib\\tv0.3.0\\th1:x=\\n"
>>> out = dict(parse_buildinfo(io.BytesIO(info)))
>>> out["builds"].to_pylist()[0]["go_version"], out["build_modules"].column("module").to_pylist()
('go1.22.1', ['ex.com/app', 'ex.com/lib'])
"""
from __future__ import annotations

import re
from typing import BinaryIO, Iterator

import orjson
import pyarrow as pa

from ...errors import ForensicsError, ParseError
from ...times import record_time
from .. import MAX_LINE, ParseOptions, dict_batch
from .reading import BATCH, BUILDINFO_MAX, GO_MOD_MAX, GO_SUM_MAX, Problems, numbered_lines, too_large

# cmd/go/internal/version: "<file>: <go version>", then tab-separated lines of
# runtime/debug.BuildInfo.String(): path, mod, dep, => (replaces the line
# before), build key=value.
BUILDINFO_HEAD = re.compile(rb"^[^\n]*: (go\d+(?:\.\d+)*\S*|devel \S+)\n\t(?:path|mod)\t", re.M)
GO_SUM_LINE = re.compile(r"(\S+) (v\S+?)(/go\.mod)? (h1:[A-Za-z0-9+/=]+)$")
GO_MOD_MODULE = re.compile(rb"^\s*module\s+\"?[^\s\"]+\"?\s*$", re.M)


def _lines(stream: BinaryIO, limit: int, what: str, advice: str, problems: Problems) -> Iterator[tuple[int, str]]:
    def long_line(n: int, length: int) -> None:
        problems.add(n, f"a line of {length} characters: {what} has short lines (only its first {MAX_LINE} are "
                        "read)")
    return numbered_lines(stream, limit, too_large(what, limit, advice), long_line)


def parse_buildinfo(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """`go version -m` output (one or several binaries) -> builds, build_modules.

    Read line by line, builds and modules yielded in batches; a file past
    BUILDINFO_MAX stops there (LimitExceeded), keeping what was read before it."""
    opt = options or ParseOptions()
    problems = Problems()
    builds, modules = [], []  # read and not yet yielded
    current, count = None, 0  # the build being read; builds so far
    lines = _lines(stream, BUILDINFO_MAX, "`go version -m` output", "it prints 10 to 50 KB per binary, so this is "
                   "over a thousand binaries: ingest those of the incident's services", problems)
    try:
        for n, raw in lines:
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            if not line.startswith("\t"):
                if current is not None:
                    builds.append(current)
                    if len(builds) >= BATCH:
                        yield "builds", _builds_batch(builds)
                        builds = []
                binary, sep, go = line.rpartition(": ")
                if not sep:
                    problems.add(n, "expected `<binary>: <go version>` or a tab-indented build info line", line)
                    current = None
                    continue
                current = dict(build_id=count, executable=binary, go_version=go.strip(), service=opt.service,
                               version=opt.version, kind="buildinfo", settings={}, line=n)
                count += 1
                continue
            fields = line[1:].split("\t")
            if current is None:
                problems.add(n, "build info line before any `<binary>: <go version>` line", line)
                continue
            key = fields[0]
            if key == "path" and len(fields) >= 2:
                current["path"] = fields[1]
            elif key in ("mod", "dep") and len(fields) >= 3:
                if len(modules) > BATCH:  # all but the last, which a `=>` line may still replace
                    yield "build_modules", dict_batch("build_modules", modules[:-1])
                    del modules[:-1]
                modules.append(dict(build_id=current["build_id"], module=fields[1], module_version=fields[2],
                                    sum=fields[3] if len(fields) > 3 and fields[3] else None,
                                    kind="main" if key == "mod" else "dep", line=n))
                if key == "mod":
                    current["main_module"], current["main_version"] = fields[1], fields[2]
            elif key == "=>" and len(fields) >= 2 and modules and modules[-1]["build_id"] == current["build_id"]:
                modules[-1]["replaced_by"] = fields[1]
                modules[-1]["replaced_version"] = fields[2] if len(fields) > 2 and fields[2] else None
                modules[-1]["sum"] = fields[3] if len(fields) > 3 and fields[3] else modules[-1]["sum"]
            elif key == "build" and len(fields) >= 2:
                k, _, v = fields[1].partition("=")
                current["settings"][k] = v
            else:
                problems.add(n, f"unknown build info line {key!r}: expected path, mod, dep, => or build", line)
    except ForensicsError:
        yield from _build_batches(builds + [current] * (current is not None), modules, problems)
        raise
    if not count:
        raise ParseError("no `<binary>: <go version>` line: not go version -m output")
    yield from _build_batches(builds + [current] * (current is not None), modules, problems)


def _builds_batch(builds: list[dict]) -> pa.RecordBatch:
    for b in builds:
        s = b.pop("settings", {})
        b["settings"] = orjson.dumps(s).decode() if s else None
        b["vcs_revision"], b["vcs_modified"] = s.get("vcs.revision"), s.get("vcs.modified") == "true" if s else None
        try:
            b["vcs_time"] = record_time(s["vcs.time"]) if s.get("vcs.time") else None
        except (ValueError, OverflowError):
            b["vcs_time"] = None
    return dict_batch("builds", builds)


def _build_batches(builds, modules, problems: Problems) -> Iterator[tuple[str, pa.RecordBatch]]:
    if builds:
        yield "builds", _builds_batch(builds)
    if modules:
        yield "build_modules", dict_batch("build_modules", modules)
    yield from problems.batches()


def parse_go_mod(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """go.mod -> builds (kind go.mod: module, go version) and build_modules (require, replace).

    Read line by line up to GO_MOD_MAX, the go command's own bound on a go.mod
    (replacements apply to the whole file, so its rows are kept until the end)."""
    opt = options or ParseOptions()
    problems = Problems()
    build = dict(build_id=0, kind="go.mod", service=opt.service, version=opt.version, line=1)
    modules, replaces = [], {}
    lines = _lines(stream, GO_MOD_MAX, "a go.mod", "the go command reads none over 16 MiB (MaxGoMod)",
                   problems)
    try:
        _read_go_mod(lines, build, modules, replaces, problems)
    except ForensicsError:
        if "main_module" in build:
            yield from _build_batches([build], _replaced(modules, replaces), problems)
        else:
            yield from problems.batches()
        raise
    if "main_module" not in build:
        raise ParseError("no module line: not a go.mod file")
    yield from _build_batches([build], _replaced(modules, replaces), problems)


def _read_go_mod(lines, build: dict, modules: list, replaces: dict, problems: Problems) -> None:
    block = None
    for n, raw in lines:
        line = raw.split("//", 1)[0].strip()
        indirect = "// indirect" in raw
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
                continue
            verb, rest = block, line
        else:
            verb, _, rest = line.partition(" ")
            rest = rest.strip()
            if rest == "(":
                block = verb
                continue
        words = rest.replace('"', "").split()
        if verb == "module" and words:
            build["main_module"] = build["path"] = words[0]
        elif verb == "go" and words:
            build["go_version"] = build.get("go_version") or f"go{words[0]}"
        elif verb == "toolchain" and words:
            build["go_version"] = words[0]  # the toolchain that builds it, when newer than `go`
        elif verb == "require" and len(words) >= 2:
            modules.append(dict(build_id=0, module=words[0], module_version=words[1],
                                kind="indirect" if indirect else "require", line=n))
        elif verb == "replace" and "=>" in words:
            i = words.index("=>")
            old, new = words[:i], words[i + 1:]
            if old and new:
                replaces[(old[0], old[1] if len(old) > 1 else None)] = (new[0], new[1] if len(new) > 1 else None)
        elif verb in ("exclude", "retract", "godebug", "tool", "ignore"):
            pass
        else:
            problems.add(n, f"unexpected go.mod line: {verb!r}", raw)


def _replaced(modules: list[dict], replaces: dict) -> list[dict]:
    for m in modules:
        rep = replaces.get((m["module"], m["module_version"])) or replaces.get((m["module"], None))
        if rep:
            m["replaced_by"], m["replaced_version"] = rep
    return modules


def parse_go_sum(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """go.sum -> build_modules (kind sum: the module versions whose code was hashed), streamed in batches;
    a file past GO_SUM_MAX stops there (LimitExceeded), keeping the lines before it."""
    opt = options or ParseOptions()
    problems = Problems()
    modules = []
    build = dict(build_id=0, kind="go.sum", service=opt.service, version=opt.version, line=1)
    lines = _lines(stream, GO_SUM_MAX, "a go.sum", "it holds two lines per module version, so this is over "
                   "180,000 of them", problems)
    try:
        for n, raw in lines:
            line = raw.strip()
            if not line:
                continue
            m = GO_SUM_LINE.match(line)
            if not m:
                problems.add(n, "expected `<module> <version>[/go.mod] h1:<hash>`", raw)
                continue
            if m.group(3) is None:  # /go.mod lines hash only the go.mod of modules in the graph
                modules.append(dict(build_id=0, module=m.group(1), module_version=m.group(2), sum=m.group(4),
                                    kind="sum", line=n))
                if len(modules) >= BATCH:
                    yield "build_modules", dict_batch("build_modules", modules)
                    modules = []
    except ForensicsError:
        yield from _build_batches([build], modules, problems)
        raise
    yield from _build_batches([build], modules, problems)
