"""profile.proto files -> profiles, profile_samples, profile_labels, stacks, frame_info.

Each distinct stack of a profile is expanded once: a location with several
lines stands for inlined calls (its last line is the caller the others were
inlined into), so one location can give several frames. Frames get the
package/module/version/stdlib derivation of goroutine frames
(:mod:`forensics.parsers.dumps.locations`), and a stack's id is a hash of its frames,
so the same stack in any profile, source or goroutine dump has the same id
(:func:`forensics.parsers.dumps.locations.stack_hash`, folded per location here).

>>> import io
>>> from forensics.parsers.pprof.profile import Profile, ValueType
>>> data = Profile(string_table=[b"", b"samples", b"count"], sample_type=[ValueType(type=1, unit=2)]).SerializeToString()
>>> [name for name, _ in parse(io.BytesIO(data))]
['profiles']
"""
from __future__ import annotations

import hashlib
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa

from ...db.schema import TABLES
from ...errors import ParseError
from ...times import from_seconds
from .. import ParseOptions, dict_batch, record_batch
from ..dumps.locations import STACK_MULT, describe, fold, fold_stacks, frame_hash, frame_key
from ..dumps.patterns import system_start
from .profile import Decoded, decode, varint

# profile.proto fields by number: their wire type (0 varint, 2 length-delimited).
# comment (13) is a repeated int64: packed (2) or not (0).
_PROFILE_WIRE = {1: {2}, 2: {2}, 3: {2}, 4: {2}, 5: {2}, 6: {2}, 7: {0}, 8: {0}, 9: {0}, 10: {0}, 11: {2},
                 12: {0}, 13: {0, 2}, 14: {0}, 15: {0}}
_TEXT_CONTROLS = bytes(range(0x09)) + bytes(range(0x0e, 0x20))


def sniff_proto(head: bytes) -> str | None:
    """`pprof` when `head` is binary and walks as profile.proto fields.

    >>> from forensics.parsers.pprof.profile import Profile, ValueType
    >>> sniff_proto(Profile(string_table=[b"", b"samples"], sample_type=[ValueType(type=1)]).SerializeToString())
    'pprof'
    """
    start = head[:8192]
    if len(start.translate(None, _TEXT_CONTROLS)) < len(start) and looks_like_profile(head):  # holds a control byte
        return "pprof"
    return None


def looks_like_profile(head: bytes) -> bool:
    """The first bytes walk as profile.proto fields (right numbers and wire
    types). Junk after 8 good fields is a corrupt profile, for the profile
    parser to report precisely, not an unknown binary."""
    i = fields = 0
    try:
        while i < len(head) and fields < 256:
            tag, i = varint(head, i)
            number, wire = tag >> 3, tag & 7
            if wire not in _PROFILE_WIRE.get(number, ()):
                return fields >= 8
            value, i = varint(head, i)
            if wire == 2:
                i += value
            fields += 1
    except ValueError:
        return i >= len(head) and fields > 0  # cut off mid-field by the sniff window
    return fields > 0


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


def _frame_id(row: tuple) -> int:
    """frame_info.frame_id: a hash of everything that describes the frame."""
    digest = hashlib.blake2b("\t".join("" if v is None else str(v) for v in row).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


_FRAME_COLUMNS = ["function", "system_name", "file", "line", "inlined", "address", "object_file", "start_line",
                  "package", "module", "module_version", "is_stdlib"]


class _Stacks:
    """The stacks of a profile, built column-wise.

    Locations are few (thousands) and are expanded in Python, once each,
    into interned frames and a fold step (:func:`fold_stacks`); samples are
    many (millions, in a big heap profile), so their location ids are read
    into one flat array and every sample's stack id is folded with NumPy.
    Each distinct stack's frames are then taken from the interned frames.
    """

    def __init__(self, p: Decoded):
        msg = p.msg
        functions = {f.id: f for f in msg.function}
        binaries = {m.id: p.s(m.filename, f"mapping {m.id} filename") or None for m in msg.mapping}
        cols: dict[str, list] = {c: [] for c in _FRAME_COLUMNS}
        n_loc = len(msg.location)
        loc_ids = np.empty(n_loc, dtype=np.uint64)
        self.loc_first = np.empty(n_loc, dtype=np.int64)  # first interned frame of each location
        self.loc_frames = np.empty(n_loc, dtype=np.int64)  # and how many
        mult = np.empty(n_loc, dtype=np.uint64)
        add = np.empty(n_loc, dtype=np.uint64)
        for k, loc in enumerate(msg.location):
            loc_ids[k], self.loc_first[k] = loc.id, len(cols["function"])
            lines = list(loc.line) or [None]
            binary = binaries.get(loc.mapping_id)  # mapping_id 0: none, as pprof reads it
            hashes = []
            for i, ln in enumerate(lines):
                name = system = file = line = start = None
                if ln is not None:
                    fn = functions.get(ln.function_id)
                    if fn is None:
                        raise ParseError(f"location {loc.id} refers to function {ln.function_id}, which is not defined")
                    name = p.s(fn.name, f"function {fn.id} name") or None
                    system = p.s(fn.system_name, f"function {fn.id} system_name") or None
                    file = p.s(fn.filename, f"function {fn.id} filename") or None
                    line, start = ln.line or None, fn.start_line or None
                where = describe(name, file) if name else None
                for c, v in zip(_FRAME_COLUMNS, (
                        name, system if system != name else None, file, line, i < len(lines) - 1, loc.address, binary,
                        start, where.package if where else None, where.module if where else None,
                        where.module_version if where else None, where.is_stdlib if where else False)):
                    cols[c].append(v)
                hashes.append(frame_hash(frame_key(name, file, line, loc.address, binary)))
            self.loc_frames[k] = len(lines)
            mult[k], add[k] = pow(STACK_MULT, len(lines), 1 << 64), fold(hashes)
        schema = TABLES["frame_info"].arrow_schema
        ids = [_frame_id(row) for row in zip(*(cols[c] for c in _FRAME_COLUMNS[:8]))]
        self.frame_ids = np.array(ids, dtype=np.int64)
        unique = sorted({fid: i for i, fid in enumerate(ids)}.values())  # a frame twice (two locations): once
        self.frame_info = pa.RecordBatch.from_arrays(
            [pa.array(self.frame_ids[unique])] + [pa.array([cols[c][i] for i in unique], type=schema.field(c).type)
                                                  for c in _FRAME_COLUMNS], schema=schema)

        lengths = p.samples.loc_lengths
        self.locs = _dense(loc_ids, p.samples.loc_ids)  # dense location index per entry
        self.sample_stack = fold_stacks(mult, add, self.locs, lengths)
        ids, first = np.unique(self.sample_stack, return_index=True)
        keep = ids != 0
        self.hashes, first = ids[keep], first[keep]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else lengths
        self.stack_start, self.stack_len = starts[first], lengths[first]

    def stacks(self) -> Iterator[pa.RecordBatch]:
        """`stacks` batches (stack_id, depth, frame_id) for the distinct stacks."""
        schema = TABLES["stacks"].arrow_schema
        step = BATCH_ROWS // 8
        one_frame = bool((self.loc_frames == 1).all())  # no inlined calls: a location is a frame
        for lo in range(0, len(self.hashes), step):
            locs = self.locs[_ragged(self.stack_start[lo:lo + step], self.stack_len[lo:lo + step])]
            if one_frame:
                take, per_stack = self.loc_first[locs], self.stack_len[lo:lo + step]
            else:
                n_frames = self.loc_frames[locs]
                take = _ragged(self.loc_first[locs], n_frames)
                per_stack = np.add.reduceat(n_frames,
                                            np.concatenate([[0], np.cumsum(self.stack_len[lo:lo + step])[:-1]]))
            depth = np.arange(len(take), dtype=np.int64) - np.repeat(np.cumsum(per_stack) - per_stack, per_stack)
            yield pa.RecordBatch.from_arrays([
                pa.array(np.repeat(self.hashes[lo:lo + step], per_stack)), pa.array(depth.astype(np.int32)),
                pa.array(self.frame_ids[take])], schema=schema)


def _dense(loc_ids: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Each of `flat`'s location ids as its index in `loc_ids` (int32); a
    ParseError for an id no location has. Ids are usually 1..n (a table
    lookup), else looked up by binary search."""
    n_loc = len(loc_ids)
    if not len(flat):
        return np.zeros(0, dtype=np.int32)
    top = int(flat.max())
    if n_loc and top <= 4 * n_loc + (1 << 20) and len(np.unique(loc_ids)) == n_loc:
        table = np.full(max(top, int(loc_ids.max())) + 1, -1, dtype=np.int32)
        table[loc_ids] = np.arange(n_loc, dtype=np.int32)
        locs = table[flat]
        if locs.min() >= 0:
            return locs
        missing = int(flat[np.argmin(locs)])
        raise ParseError(f"a sample refers to location {missing}, which the profile does not define")
    order = np.argsort(loc_ids, kind="stable")
    pos = np.searchsorted(loc_ids[order], flat)
    found = pos < n_loc
    found[found] = loc_ids[order][pos[found]] == flat[found]
    if not found.all():
        missing = int(flat[np.argmin(found)])
        raise ParseError(f"a sample refers to location {missing}, which the profile does not define")
    return order[pos].astype(np.int32)


def _ragged(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges [starts[i], starts[i] + lengths[i])."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


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
    n_types = len(types)
    samples = p.samples
    values = samples.values
    if (samples.value_lengths != n_types).any():
        bad = int(np.argmax(samples.value_lengths != n_types))
        raise ParseError(f"sample {bad} has {samples.value_lengths[bad]} values for {n_types} sample types")
    stacks = _Stacks(p)
    ts, ts_source = None, None
    if opt.ts is not None:
        ts, ts_source = opt.ts, "argument"
    elif p.time_nanos:
        ts, ts_source = from_seconds(p.time_nanos / 1e9), "profile"
    else:
        ts, ts_source = opt.file_time()
    comments = "\n".join(p.s(c, "comment") for c in msg.comment) or None
    labels = _labels(p)
    yield "profiles", record_batch("profiles", [(
        0, kind, ts, msg.duration_nanos or None, msg.period or None, period_type, period_unit, types, units,
        default, opt.service, opt.version, comments, samples.n, ts_source,
    )])
    schema = TABLES["profile_samples"].arrow_schema
    for start in range(0, samples.n, BATCH_ROWS):
        n = min(BATCH_ROWS, samples.n - start)
        offsets = pa.array(np.arange(n + 1, dtype=np.int32) * n_types)
        yield "profile_samples", pa.RecordBatch.from_arrays([
            pa.array(np.zeros(n, dtype=np.int64)), pa.array(np.arange(start, start + n, dtype=np.int64)),
            pa.array(stacks.sample_stack[start:start + n]),
            pa.ListArray.from_arrays(offsets, pa.array(values[start * n_types:(start + n) * n_types])),
        ], schema=schema)
    for start in range(0, len(labels), BATCH_ROWS):
        yield "profile_labels", pa.RecordBatch.from_arrays(
            [labels.column(f.name).slice(start, BATCH_ROWS).combine_chunks() for f in labels.schema],
            schema=labels.schema)
    if kind == "goroutine":
        stack_batches = list(stacks.stacks())
        yield from _goroutine_snapshot(samples, stacks.sample_stack, stack_batches, stacks.frame_info, labels, ts,
                                       ts_source, opt)
    for batch in stack_batches if kind == "goroutine" else stacks.stacks():
        yield "stacks", batch
    if stacks.frame_info.num_rows:
        yield "frame_info", stacks.frame_info


def _labels(p: Decoded) -> pa.Table:
    """profile_labels rows, read as one int64 matrix (sample, key, str,
    num, num_unit; strings as string-table indexes) and resolved at once."""
    m = p.samples.labels
    strings = pa.array(p.strings, type=pa.string())
    for col, what in ((1, "key"), (2, "value"), (4, "unit")):
        bad = np.nonzero((m[:, col] < 0) | (m[:, col] >= len(p.strings)))[0]
        if len(bad):
            i = bad[0]
            raise ParseError(f"sample {m[i, 0]} label {what} refers to string {m[i, col]}, but the string table "
                             f"has {len(p.strings)} entries")

    def text(col: int, keep: np.ndarray) -> pa.Array:  # the string table's entries, dictionary-encoded
        return pa.DictionaryArray.from_arrays(pa.array(m[:, col], mask=~keep), strings)

    is_str = m[:, 2] != 0
    schema = TABLES["profile_labels"].arrow_schema
    words = pa.dictionary(pa.int64(), pa.string())
    schema = pa.schema([f.with_type(words) if f.type == pa.string() else f for f in schema])
    return pa.table([
        pa.array(np.zeros(len(m), dtype=np.int64)), pa.array(m[:, 0]), text(1, np.ones(len(m), dtype=bool)),
        text(2, is_str), pa.array(m[:, 3], mask=is_str), text(4, ~is_str & (m[:, 4] != 0)),
    ], schema=schema)


_GOROUTINE_FRAME = ["depth", "function", "package", "file", "line", "module", "module_version", "is_stdlib", "inlined"]


def _goroutine_snapshot(samples, sample_stack, stack_batches, frame_info, labels, ts, ts_source, opt
                        ) -> Iterator[tuple[str, pa.RecordBatch]]:
    """dumps/goroutines/frames rows for a goroutine profile (debug=0 or 1)."""
    info = {row["frame_id"]: row for row in frame_info.to_pylist()}
    by_stack: dict[int, list[dict]] = {}
    for batch in stack_batches:
        for row in batch.to_pylist():
            by_stack.setdefault(row["stack_id"], []).append(dict(info[row["frame_id"]], depth=row["depth"]))
    labels_of: dict[int, dict[str, str]] = {}
    for row in labels.to_pylist():
        labels_of.setdefault(row["sample_id"], {})[row["key"]] = (
            row["str"] if row["str"] is not None else str(row["num"]))
    starts = np.cumsum(samples.value_lengths) - samples.value_lengths
    first = [int(samples.values[i]) if k else None for i, k in zip(starts, samples.value_lengths)]
    total = sum(v for v in first if v is not None)
    yield "dumps", dict_batch("dumps", [dict(
        dump_id=0, kind="goroutine_profile", ts=ts, ts_source=ts_source, service=opt.service, version=opt.version,
        total_goroutines=total, message=f"goroutine profile: total {total}")])
    goroutines, frames = [], []
    for seq, value in enumerate(first):
        sid = int(sample_stack[seq])
        stack = by_stack.get(sid, [])
        names = [r["function"] for r in stack if r["function"]]
        goroutines.append(dict(
            dump_id=0, seq=seq, stack_id=sid, count=value if value is not None else 1,
            is_system=system_start(names[-2:]), labels=labels_of.get(seq, {}) or None, frames_elided=0,
            stack_unavailable=False, locked=False))
        for f in stack:
            frames.append(dict(dump_id=0, goroutine_seq=seq, **{k: f[k] for k in _GOROUTINE_FRAME}))
    for start in range(0, len(goroutines), BATCH_ROWS):
        yield "goroutines", dict_batch("goroutines", goroutines[start:start + BATCH_ROWS])
    for start in range(0, len(frames), BATCH_ROWS):
        yield "frames", dict_batch("frames", frames[start:start + BATCH_ROWS])
