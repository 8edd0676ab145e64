"""pprof profiles (profile.proto) -> profiles, profile_samples, profile_labels, stack_frames.

Each distinct stack of a profile is expanded once: a location with several
lines stands for inlined calls (its last line is the caller the others were
inlined into), so one location can give several frames. Frames get the
package/module/version/stdlib derivation of goroutine frames
(:mod:`forensics.parsers.golang`), and a stack's id is a hash of its frames,
so the same stack in any profile, source or goroutine dump has the same id
(:func:`forensics.parsers.tables.stack_hash`).

>>> import io
>>> from forensics.parsers.pprof_proto import Profile, ValueType
>>> data = Profile(string_table=[b"", b"samples", b"count"], sample_type=[ValueType(type=1, unit=2)]).SerializeToString()
>>> [name for name, _ in parse(io.BytesIO(data))]
['profiles']
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import BinaryIO, Iterator

import pyarrow as pa

from ..errors import ParseError
from . import ParseOptions
from .golang import describe
from .pprof_proto import Decoded, decode
from .gotraceback import system_start
from .tables import dict_batch, frame_key, record_batch, stack_hash

BATCH_ROWS = 1 << 16
# Go's block and mutex profiles have the same sample types; only their text
# forms ("--- contention:" / "--- mutex:") tell them apart.
_KINDS = [
    (lambda types, period, default: period == "cpu", "cpu"),
    (lambda types, period, default: "inuse_space" in types and default == "alloc_space", "allocs"),
    (lambda types, period, default: "inuse_space" in types, "heap"),
    (lambda types, period, default: types[:1] == ["goroutine"], "goroutine"),
    (lambda types, period, default: types[:1] == ["threadcreate"], "threadcreate"),
    (lambda types, period, default: "contentions" in types and "delay" in types, "contention"),
]


def _stacks(p: Decoded) -> tuple[dict[tuple, int], list[tuple]]:
    """stack_id for each distinct location-id sequence, and the frames rows of those stacks."""
    msg = p.msg
    functions = {f.id: f for f in msg.function}
    locations = {loc.id: loc for loc in msg.location}
    binaries = {m.id: p.s(m.filename, f"mapping {m.id} filename") or None for m in msg.mapping}
    frames_of_location: dict[int, list[tuple]] = {}

    def location_frames(loc_id: int) -> list[tuple]:
        cached = frames_of_location.get(loc_id)
        if cached is not None:
            return cached
        loc = locations.get(loc_id)
        if loc is None:
            raise ParseError(f"a sample refers to location {loc_id}, which the profile does not define")
        out = []
        lines = list(loc.line) or [None]
        for i, ln in enumerate(lines):
            name = system = file = None
            line = start = None
            if ln is not None:
                fn = functions.get(ln.function_id)
                if fn is None:
                    raise ParseError(f"location {loc_id} refers to function {ln.function_id}, which is not defined")
                name = p.s(fn.name, f"function {fn.id} name") or None
                system = p.s(fn.system_name, f"function {fn.id} system_name") or None
                file = p.s(fn.filename, f"function {fn.id} filename") or None
                line = ln.line or None
                start = fn.start_line or None
            inlined = i < len(lines) - 1
            binary = binaries.get(loc.mapping_id)  # mapping_id 0: none, as pprof reads it
            out.append((name, system if system != name else None, file, line, inlined, loc.address, binary, start))
        frames_of_location[loc_id] = out
        return out

    ids: dict[tuple, int] = {}
    emitted: set[int] = set()
    rows: list[tuple] = []
    for sample in msg.sample:
        key = tuple(sample.location_id)
        if key in ids:
            continue
        frames = [f for loc_id in key for f in location_frames(loc_id)]
        sid = stack_hash([frame_key(f[0], f[2], f[3], f[5], f[6]) for f in frames])  # 0: empty, no frames rows
        ids[key] = sid
        if sid in emitted:  # other locations (addresses) with the same lines: one stack
            continue
        emitted.add(sid)
        for depth, (name, system, file, line, inlined, address, binary, start) in enumerate(frames):
            loc = describe(name, file) if name else None
            rows.append((sid, depth, name, system, file, line, inlined, address, binary, start,
                         loc.package if loc else None, loc.module if loc else None,
                         loc.module_version if loc else None, loc.is_stdlib if loc else False))
    return ids, rows


def parse(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Parse one profile.proto (already decompressed) into record batches.

    A malformed profile raises ParseError before any batch is yielded, so a
    broken profile never leaves half its rows behind.
    """
    chunks = []  # read to the end: a decompression error must surface, not a truncated profile
    while chunk := stream.read(1 << 20):
        chunks.append(chunk)
    yield from profile_batches(decode(b"".join(chunks)), options or ParseOptions())


def profile_batches(p: Decoded, opt: ParseOptions, kind: str | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The rows of a decoded profile (from profile.proto or a text form).

    A goroutine profile is also a goroutine snapshot: a `dumps` row of kind
    `goroutine_profile`, one `goroutines` row per sample (count = the
    goroutines it stands for, labels kept) and their `frames`.
    """
    msg = p.msg
    types = [p.s(v.type, "sample_type") for v in msg.sample_type]
    units = [p.s(v.unit, "sample_type unit") for v in msg.sample_type]
    period_type = p.s(msg.period_type.type, "period_type") or None
    period_unit = p.s(msg.period_type.unit, "period_type unit") or None
    default = p.s(msg.default_sample_type, "default_sample_type") or None
    kind = kind or next((name for test, name in _KINDS if test(types, period_type, default)),
                        types[0] if types else None)
    for i, sample in enumerate(msg.sample):
        if len(sample.value) != len(types):
            raise ParseError(f"sample {i} has {len(sample.value)} values for {len(types)} sample types")
    stack_ids, frame_rows = _stacks(p)
    ts, ts_source = None, None
    if opt.ts is not None:
        ts, ts_source = opt.ts, "argument"
    elif msg.time_nanos:
        ts, ts_source = datetime.fromtimestamp(msg.time_nanos / 1e9, tz=timezone.utc).replace(tzinfo=None), "profile"
    elif opt.mtime is not None:
        ts, ts_source = opt.mtime, "mtime"
    comments = "\n".join(p.s(c, "comment") for c in msg.comment) or None
    labels = []
    for i, sample in enumerate(msg.sample):
        for lab in sample.label:
            key = p.s(lab.key, f"sample {i} label key")
            if lab.str:
                labels.append((0, i, key, p.s(lab.str, f"sample {i} label value"), None, None))
            else:
                labels.append((0, i, key, None, lab.num, p.s(lab.num_unit, f"sample {i} label unit") or None))
    yield "profiles", record_batch("profiles", [(
        0, kind, ts, msg.duration_nanos or None, msg.period or None, period_type, period_unit, types, units,
        default, opt.service, opt.version, comments, len(msg.sample), ts_source,
    )])
    for start in range(0, len(msg.sample), BATCH_ROWS):
        chunk = msg.sample[start:start + BATCH_ROWS]
        yield "profile_samples", record_batch("profile_samples", [
            (0, start + j, stack_ids[tuple(s.location_id)], list(s.value)) for j, s in enumerate(chunk)])
    for start in range(0, len(labels), BATCH_ROWS):
        yield "profile_labels", record_batch("profile_labels", labels[start:start + BATCH_ROWS])
    if kind == "goroutine":
        yield from _goroutine_snapshot(msg, stack_ids, frame_rows, labels, ts, ts_source, opt)
    for start in range(0, len(frame_rows), BATCH_ROWS):
        yield "stack_frames", record_batch("stack_frames", frame_rows[start:start + BATCH_ROWS])


def _goroutine_snapshot(msg, stack_ids, frame_rows, labels, ts, ts_source, opt) -> Iterator[tuple[str, pa.RecordBatch]]:
    """dumps/goroutines/frames rows for a goroutine profile (debug=0 or 1)."""
    by_stack: dict[int, list[tuple]] = {}
    for row in frame_rows:
        by_stack.setdefault(row[0], []).append(row)
    labels_of: dict[int, dict[str, str]] = {}
    for _, i, key, value, num, _unit in labels:
        labels_of.setdefault(i, {})[key] = value if value is not None else str(num)
    total = sum(s.value[0] for s in msg.sample if s.value)
    yield "dumps", dict_batch("dumps", [dict(
        dump_id=0, kind="goroutine_profile", ts=ts, ts_source=ts_source, service=opt.service, version=opt.version,
        total_goroutines=total, message=f"goroutine profile: total {total}")])
    goroutines, frames = [], []
    for seq, sample in enumerate(msg.sample):
        sid = stack_ids[tuple(sample.location_id)]
        stack = by_stack.get(sid, [])
        names = [r[2] for r in stack if r[2]]
        goroutines.append(dict(
            dump_id=0, seq=seq, stack_id=sid, count=sample.value[0] if sample.value else 1,
            is_system=system_start(names[-2:]), labels=labels_of.get(seq, {}) or None, frames_elided=0,
            stack_unavailable=False, locked=False))
        for (_, depth, name, _sys, file, line, inlined, _addr, _obj, _start, package, module, version,
             stdlib) in stack:
            frames.append(dict(dump_id=0, goroutine_seq=seq, depth=depth, function=name, package=package,
                               file=file, line=line, module=module, module_version=version, is_stdlib=stdlib,
                               inlined=inlined))
    for start in range(0, len(goroutines), BATCH_ROWS):
        yield "goroutines", dict_batch("goroutines", goroutines[start:start + BATCH_ROWS])
    for start in range(0, len(frames), BATCH_ROWS):
        yield "frames", dict_batch("frames", frames[start:start + BATCH_ROWS])
