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
from .tables import frame_key, record_batch, stack_hash

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
    opt = options or ParseOptions()
    chunks = []  # read to the end: a decompression error must surface, not a truncated profile
    while chunk := stream.read(1 << 20):
        chunks.append(chunk)
    p = decode(b"".join(chunks))
    msg = p.msg
    types = [p.s(v.type, "sample_type") for v in msg.sample_type]
    units = [p.s(v.unit, "sample_type unit") for v in msg.sample_type]
    period_type = p.s(msg.period_type.type, "period_type") or None
    period_unit = p.s(msg.period_type.unit, "period_type unit") or None
    default = p.s(msg.default_sample_type, "default_sample_type") or None
    kind = next((name for test, name in _KINDS if test(types, period_type, default)), types[0] if types else None)
    for i, sample in enumerate(msg.sample):
        if len(sample.value) != len(types):
            raise ParseError(f"sample {i} has {len(sample.value)} values for {len(types)} sample types")
    stack_ids, frame_rows = _stacks(p)
    ts = None
    if msg.time_nanos:
        ts = datetime.fromtimestamp(msg.time_nanos / 1e9, tz=timezone.utc).replace(tzinfo=None)
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
        0, kind, ts if opt.ts is None else opt.ts, msg.duration_nanos or None, msg.period or None, period_type,
        period_unit, types, units, default, opt.service, opt.version, comments, len(msg.sample),
    )])
    for start in range(0, len(msg.sample), BATCH_ROWS):
        chunk = msg.sample[start:start + BATCH_ROWS]
        yield "profile_samples", record_batch("profile_samples", [
            (0, start + j, stack_ids[tuple(s.location_id)], list(s.value)) for j, s in enumerate(chunk)])
    for start in range(0, len(labels), BATCH_ROWS):
        yield "profile_labels", record_batch("profile_labels", labels[start:start + BATCH_ROWS])
    for start in range(0, len(frame_rows), BATCH_ROWS):
        yield "stack_frames", record_batch("stack_frames", frame_rows[start:start + BATCH_ROWS])
