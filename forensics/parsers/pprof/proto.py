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
import io
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
from .samples import Samples

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
NARROW_LOCATIONS = 1 << 16  # a profile with at most this many locations keeps them as uint16
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
    many (millions, in a big heap profile) and come a chunk at a time
    (:meth:`fold`): each chunk's stack ids are folded with NumPy, and only
    the stacks not seen before keep their locations (2 bytes an entry when a
    profile has at most 65,536 locations, as most have; else 4), so
    memory follows the distinct stacks, not the samples' entries.
    """

    def __init__(self, p: Decoded):
        msg = p.msg
        functions = {f.id: f for f in msg.function}
        binaries = {m.id: p.s(m.filename, f"mapping {m.id} filename") or None for m in msg.mapping}
        cols: dict[str, list] = {c: [] for c in _FRAME_COLUMNS}
        n_loc = len(msg.location)
        self.loc_ids = np.empty(n_loc, dtype=np.uint64)
        self.loc_first = np.empty(n_loc, dtype=np.int64)  # first interned frame of each location
        self.loc_frames = np.empty(n_loc, dtype=np.int64)  # and how many
        self.mult = np.empty(n_loc, dtype=np.uint64)
        self.add = np.empty(n_loc, dtype=np.uint64)
        for k, loc in enumerate(msg.location):
            self.loc_ids[k], self.loc_first[k] = loc.id, len(cols["function"])
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
            self.mult[k], self.add[k] = pow(STACK_MULT, len(lines), 1 << 64), fold(hashes)
        schema = TABLES["frame_info"].arrow_schema
        ids = [_frame_id(row) for row in zip(*(cols[c] for c in _FRAME_COLUMNS[:8]))]
        self.frame_ids = np.array(ids, dtype=np.int64)
        unique = sorted({fid: i for i, fid in enumerate(ids)}.values())  # a frame twice (two locations): once
        self.frame_info = pa.RecordBatch.from_arrays(
            [pa.array(self.frame_ids[unique])] + [pa.array([cols[c][i] for i in unique], type=schema.field(c).type)
                                                  for c in _FRAME_COLUMNS], schema=schema)
        self.kept_dtype = np.uint16 if n_loc <= NARROW_LOCATIONS else np.int32  # dense location indexes
        self.seen = np.zeros(0, dtype=np.int64)  # the stack ids kept so far, sorted
        self.kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (ids, lengths, flat locations)

    def fold(self, samples: Samples) -> np.ndarray:
        """The chunk's stack id per sample (0: no stack); keeps the new stacks."""
        lengths = samples.loc_lengths
        locs = _dense(self.loc_ids, samples.loc_ids)  # dense location index per entry
        sample_stack = fold_stacks(self.mult, self.add, locs, lengths)
        ids, first = np.unique(sample_stack, return_index=True)
        at = np.searchsorted(self.seen, ids)
        new = ids != 0
        known = at < len(self.seen)
        new[known] &= self.seen[at[known]] != ids[known]
        if new.any():
            ids, first, at = ids[new], first[new], at[new]
            starts = np.cumsum(lengths) - lengths
            kept = locs[_ragged(starts[first], lengths[first])].astype(self.kept_dtype, copy=False)
            self.kept.append((ids, lengths[first], kept))
            self.seen = np.insert(self.seen, at, ids)
        return sample_stack

    def stacks(self) -> Iterator[pa.RecordBatch]:
        """`stacks` batches (stack_id, depth, frame_id) for the distinct stacks."""
        schema = TABLES["stacks"].arrow_schema
        step = BATCH_ROWS // 8
        one_frame = bool((self.loc_frames == 1).all())  # no inlined calls: a location is a frame
        for hashes, lengths, flat in self.kept:
            starts = np.cumsum(lengths) - lengths
            for lo in range(0, len(hashes), step):
                stack_len = lengths[lo:lo + step]
                locs = flat[_ragged(starts[lo:lo + step], stack_len)]
                if one_frame:
                    take, per_stack = self.loc_first[locs], stack_len
                else:
                    n_frames = self.loc_frames[locs]
                    take = _ragged(self.loc_first[locs], n_frames)
                    per_stack = np.add.reduceat(n_frames, np.cumsum(stack_len) - stack_len)
                depth = np.arange(len(take), dtype=np.int64) - np.repeat(np.cumsum(per_stack) - per_stack, per_stack)
                yield pa.RecordBatch.from_arrays([
                    pa.array(np.repeat(hashes[lo:lo + step], per_stack)), pa.array(depth.astype(np.int32)),
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
    whole = io.BytesIO()  # read to the end: a decompression error must surface, not a truncated profile
    while chunk := stream.read(1 << 20):
        whole.write(chunk)  # one growing buffer: joining a list of chunks would hold the profile twice
    with whole.getbuffer() as data:
        decoded = decode(data)
    whole = None  # the message holds its own copy
    yield from profile_batches(decoded, options or ParseOptions())


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
    stacks = _Stacks(p)
    n_types, n = len(types), 0
    sample_stack, values, label_rows = [], [], []  # per chunk of samples; nothing is yielded before all are read
    for chunk in p.sample_chunks():
        if (chunk.value_lengths != n_types).any():
            bad = int(np.argmax(chunk.value_lengths != n_types))
            raise ParseError(f"sample {n + bad} has {chunk.value_lengths[bad]} values for {n_types} sample types")
        sample_stack.append(stacks.fold(chunk))
        values.append(chunk.values.reshape(chunk.n, n_types))
        label_rows.append(_checked_labels(chunk.labels, len(p.strings)))
        n += chunk.n
    ts, ts_source = None, None
    if opt.ts is not None:
        ts, ts_source = opt.ts, "argument"
    elif p.time_nanos:
        ts, ts_source = from_seconds(p.time_nanos / 1e9), "profile"
    else:
        ts, ts_source = opt.file_time()
    comments = "\n".join(p.s(c, "comment") for c in msg.comment) or None
    yield "profiles", record_batch("profiles", [(
        0, kind, ts, msg.duration_nanos or None, msg.period or None, period_type, period_unit, types, units,
        default, opt.service, opt.version, comments, n, ts_source,
    )])
    schema = TABLES["profile_samples"].arrow_schema
    start = 0
    for ids, vals in zip(sample_stack, values):
        for lo in range(0, len(ids), BATCH_ROWS):
            k = min(BATCH_ROWS, len(ids) - lo)
            offsets = pa.array(np.arange(k + 1, dtype=np.int32) * n_types)
            yield "profile_samples", pa.RecordBatch.from_arrays([
                pa.array(np.zeros(k, dtype=np.int64)), pa.array(np.arange(start, start + k, dtype=np.int64)),
                pa.array(ids[lo:lo + k]), pa.ListArray.from_arrays(offsets, pa.array(vals[lo:lo + k].ravel())),
            ], schema=schema)
            start += k
    strings = pa.array(p.strings, type=pa.string())
    label_batches = (_labels(m, strings) for m in label_rows if len(m))  # converted as they are yielded...
    if kind == "goroutine":
        label_batches = list(label_batches)  # ... or once, kept for the snapshot's goroutines
    for batch in label_batches:
        yield "profile_labels", batch
    if kind == "goroutine":
        labels = pa.Table.from_batches(label_batches, schema=_labels(np.zeros((0, 5), np.int64), strings).schema)
        stack_batches = list(stacks.stacks())
        first = [int(v) for v in np.concatenate([v[:, 0] for v in values])] if n_types else [None] * n
        yield from _goroutine_snapshot(first, np.concatenate(sample_stack) if n else np.zeros(0, np.int64),
                                       stack_batches, stacks.frame_info, labels, ts, ts_source, opt)
    for batch in stack_batches if kind == "goroutine" else stacks.stacks():
        yield "stacks", batch
    if stacks.frame_info.num_rows:
        yield "frame_info", stacks.frame_info


def _checked_labels(m: np.ndarray, n_strings: int) -> np.ndarray:
    """`m`, label rows (sample, key, str, num, num_unit), once their string
    indexes are checked against a table of `n_strings`."""
    for col, what in ((1, "key"), (2, "value"), (4, "unit")):
        bad = np.nonzero((m[:, col] < 0) | (m[:, col] >= n_strings))[0]
        if len(bad):
            i = bad[0]
            raise ParseError(f"sample {m[i, 0]} label {what} refers to string {m[i, col]}, but the string table "
                             f"has {n_strings} entries")
    return m


def _labels(m: np.ndarray, strings: pa.Array) -> pa.RecordBatch:
    """profile_labels rows of checked label rows, strings dictionary-encoded."""
    def text(col: int, keep: np.ndarray) -> pa.Array:  # the string table's entries, dictionary-encoded
        return pa.DictionaryArray.from_arrays(pa.array(m[:, col], mask=~keep), strings)

    is_str = m[:, 2] != 0
    schema = TABLES["profile_labels"].arrow_schema
    words = pa.dictionary(pa.int64(), pa.string())
    schema = pa.schema([f.with_type(words) if f.type == pa.string() else f for f in schema])
    return pa.RecordBatch.from_arrays([
        pa.array(np.zeros(len(m), dtype=np.int64)), pa.array(m[:, 0]), text(1, np.ones(len(m), dtype=bool)),
        text(2, is_str), pa.array(m[:, 3], mask=is_str), text(4, ~is_str & (m[:, 4] != 0)),
    ], schema=schema)


_GOROUTINE_FRAME = ["depth", "function", "package", "file", "line", "module", "module_version", "is_stdlib", "inlined"]


def _goroutine_snapshot(first, sample_stack, stack_batches, frame_info, labels, ts, ts_source, opt
                        ) -> Iterator[tuple[str, pa.RecordBatch]]:
    """dumps/goroutines/frames rows for a goroutine profile (debug=0 or 1);
    `first`: each sample's first value (its goroutine count), or None."""
    info = {row["frame_id"]: row for row in frame_info.to_pylist()}
    by_stack: dict[int, list[dict]] = {}
    for batch in stack_batches:
        for row in batch.to_pylist():
            by_stack.setdefault(row["stack_id"], []).append(dict(info[row["frame_id"]], depth=row["depth"]))
    labels_of: dict[int, dict[str, str]] = {}
    for row in labels.to_pylist():
        labels_of.setdefault(row["sample_id"], {})[row["key"]] = (
            row["str"] if row["str"] is not None else str(row["num"]))
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
