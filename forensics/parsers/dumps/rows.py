"""Rows the dump scanner emits: small tables as tuples, frames through interned locations.

Frames repeat a few thousand locations millions of times, so a location
(function, file, line, inlined) is interned once with its derived package,
module and version, and frame batches take those columns from an Arrow
table of locations instead of building them row by row.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...db.schema import TABLES
from .. import record_batch
from .locations import STACK_MULT, describe, fold, fold_stacks, frame_hash, frame_key, stack_id_of
from .patterns import is_machinery, system_start

LOC_COLUMNS = ["function", "package", "file", "line", "module", "module_version", "is_stdlib", "inlined"]
FLUSH_FRAMES = 1 << 17
FEW_FRAMES = 256  # up to this many frames, a batch is built from Python rows

# frames_id: a 64-bit hash of a goroutine's frames as printed. Each frame's
# (location, args, offset, depth) is mixed into one word, the words are
# summed and the sum mixed again: both readers compute it with frames_ids.
_K = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
_P = np.uint64(0x100000001B3)


def _mix_np(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string of an Array (0 for null): a polynomial of its
    UTF-8 bytes, mixed with its length. Each distinct string is hashed once."""
    if len(arr) > 64:
        enc = arr.dictionary_encode()
        if len(enc.dictionary) < len(arr) // 2:
            return np.append(hash_strings(enc.dictionary), np.uint64(0))[
                enc.indices.fill_null(len(enc.dictionary)).to_numpy()]
    arr = arr.cast(pa.large_binary())
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64)
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    lens = np.diff(offs)
    total = int(offs[-1] - offs[0])
    k0 = np.uint64(_K[0])
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(max(int(lens.max()), 1), _P, dtype=np.uint64))  # P**1, P**2, ...
        pos = np.arange(total) - np.repeat(offs[:-1] - offs[0], lens)
        terms = (data[offs[0]:offs[-1]].astype(np.uint64) + np.uint64(1)) * powers[pos]
        roll = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])
        h = _mix_np(roll[offs[1:] - offs[0]] - roll[offs[:-1] - offs[0]] + lens.astype(np.uint64) * k0 + np.uint64(_K[3]))
    if arr.null_count:
        h[np.asarray(arr.is_null())] = 0
    return h


def frames_ids(loc_hashes: np.ndarray, args_hashes: np.ndarray, offsets: np.ndarray, depths: np.ndarray,
               bounds: np.ndarray) -> np.ndarray:
    """frames_id of each goroutine, its frames at [bounds[g], bounds[g+1]) (int64;
    offsets as uint64, offset + 1 and 0 when absent); only for goroutines with frames."""
    k0, k1, k2, k3 = (np.uint64(k) for k in _K)
    with np.errstate(over="ignore"):
        word = loc_hashes + args_hashes * k0 + offsets * k1 + (depths.astype(np.uint64) + np.uint64(1)) * k2
        roll = np.concatenate([np.zeros(1, np.uint64), np.cumsum(_mix_np(word), dtype=np.uint64)])
        total = roll[bounds[1:]] - roll[bounds[:-1]]
        counts = (bounds[1:] - bounds[:-1]).astype(np.uint64)
        return _mix_np(total + counts * k3).view(np.int64)


def _column(values, type_: pa.DataType, n: int) -> pa.Array:
    """A column given as a list or an Arrow array; missing: all NULL."""
    if values is None:
        return pa.nulls(n, type_)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(type_)
    return pa.array(values, type_)


class Rows:
    """Rows of one table as tuples, flushed as a record batch (transposed once)."""

    def __init__(self, table: str):
        self.table = table
        self.rows: list[tuple] = []

    def add(self, *values) -> None:
        self.rows.append(values)

    def __len__(self) -> int:
        return len(self.rows)

    def take(self) -> pa.RecordBatch:
        rows, self.rows = self.rows, []
        return record_batch(self.table, rows)


class Locations:
    """Mixin: interned locations, stack ids and the frames/extra batches."""

    def init_locations(self) -> None:
        self.loc_index: dict[tuple, int] = {}
        self.loc_cols: list[list] = [[] for _ in LOC_COLUMNS]
        self.loc_arrow: pa.Table | None = None
        self.loc_hash: list[int] = []
        self.loc_frame_hash: list[int] = []  # frame_hash of each location's frame key
        self.loc_fh_np = np.zeros(0, np.uint64)  # the same, as an array
        self.loc_np = (np.zeros(0, np.uint64), np.zeros(0, bool), np.zeros(0, bool))  # see loc_arrays
        self.stack_ids: dict[tuple, int] = {}
        self.extra: list[tuple[str, pa.RecordBatch]] = []  # batches built by scanner_columnar
        # Frame columns: dump, goroutine seq, goroutine id, depth, loc, args, offset.
        self.fr: list[list] = [[] for _ in range(7)]

    def stack_ids_of(self, loc: np.ndarray, bounds: np.ndarray, goroutines: np.ndarray) -> np.ndarray:
        """stack_id of the given goroutines, goroutine g's frames at loc[bounds[g]:bounds[g+1]]
        (what stack_id gives, folded with NumPy)."""
        fh = self.loc_frame_hash
        if len(fh) < len(self.loc_cols[0]):
            c = self.loc_cols
            fh += [frame_hash(frame_key(c[0][i], c[2][i], c[3][i])) for i in range(len(fh), len(c[0]))]
        if len(self.loc_fh_np) < len(fh):
            self.loc_fh_np = np.concatenate([self.loc_fh_np, np.array(fh[len(self.loc_fh_np):], dtype=np.uint64)])
        lens = bounds[goroutines + 1] - bounds[goroutines]
        within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        items = loc[np.repeat(bounds[goroutines], lens) + within]
        mult = np.full(len(fh), STACK_MULT, dtype=np.uint64)
        return fold_stacks(mult, self.loc_fh_np, items, lens)

    def stack_id(self, locs: list[int]) -> int:
        key = tuple(locs)
        sid = self.stack_ids.get(key)
        if sid is None:
            fh = self.loc_frame_hash
            if len(fh) < len(self.loc_cols[0]):
                c = self.loc_cols
                fh += [frame_hash(frame_key(c[0][i], c[2][i], c[3][i])) for i in range(len(fh), len(c[0]))]
            sid = stack_id_of(fold(fh[i] for i in locs)) if locs else 0
            if len(self.stack_ids) > 1 << 18:
                self.stack_ids.clear()
            self.stack_ids[key] = sid
        return sid

    def intern(self, func: str, file, line, inlined: bool) -> int:
        """Index of a location (function, file, line, inlined), added if new."""
        key = (func, file, line, inlined)
        idx = self.loc_index.get(key)
        if idx is None:
            idx = len(self.loc_index)
            self.loc_index[key] = idx
            loc = describe(func, file)
            for col, v in zip(self.loc_cols, (func, loc.package, file, line, loc.module, loc.module_version, loc.is_stdlib, inlined)):
                col.append(v)
            digest = hashlib.blake2b(f"{func}\t{file}\t{line}\t{inlined}".encode(), digest_size=8).digest()
            self.loc_hash.append(int.from_bytes(digest, "little"))
        return idx

    def loc_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per interned location, as NumPy arrays: 64-bit hash (for grouping
        equal stacks), is runtime.goexit, is a runtime start function
        (isSystemGoroutine). Extended, not rebuilt, as locations are added."""
        have = len(self.loc_np[0])
        if len(self.loc_hash) > have:
            names = self.loc_cols[0][have:]
            new = (
                np.array(self.loc_hash[have:], dtype=np.uint64),
                np.array([f == "runtime.goexit" for f in names], dtype=bool),
                np.array([system_start([f]) for f in names], dtype=bool),
            )
            self.loc_np = tuple(np.concatenate([old, add]) for old, add in zip(self.loc_np, new))
        return self.loc_np

    def set_failing(self, gid: int, locs: list[int]) -> None:
        names = self.loc_cols[0]
        self.dump.failing = (gid, [names[i] for i in locs if not is_machinery(names[i])][:3])

    def add_batch(self, table: str, columns: dict) -> None:
        schema = TABLES[table].arrow_schema
        n = len(next(iter(columns.values())))
        batch = pa.RecordBatch.from_arrays([_column(columns.get(f.name), f.type, n) for f in schema], schema=schema)
        self.extra.append((table, batch))
        self.flush_due = True

    def add_frames(self, dump_ids, seqs, gids, depths, locs, args, offsets, fids) -> None:
        """Frames given as columns (from the vectorised reader)."""
        if not len(locs):
            return
        self.extra.append(("frames", self.frames_from(dump_ids, seqs, gids, depths, locs, args, offsets, fids)))
        self.flush_due = True

    def loc_table(self) -> pa.Table:
        """The interned locations as an Arrow table, extended when new ones appeared."""
        c = self.loc_cols
        have = 0 if self.loc_arrow is None else self.loc_arrow.num_rows
        if len(c[0]) > have:
            schema = TABLES["frames"].arrow_schema
            new = pa.table({n: pa.array(col[have:], type=schema.field(n).type) for n, col in zip(LOC_COLUMNS, c)})
            self.loc_arrow = new if self.loc_arrow is None else pa.concat_tables([self.loc_arrow, new]).combine_chunks()
        return self.loc_arrow

    def frames_from(self, dump_ids, seqs, gids, depths, locs, args, offsets, fids) -> pa.RecordBatch:
        """A frames batch: per-frame columns plus an Arrow take from the interned locations."""
        taken = self.loc_table().take(pa.array(locs, type=pa.int64()))
        schema = TABLES["frames"].arrow_schema
        arrays = {
            "dump_id": pa.array(dump_ids, pa.int64()),
            "goroutine_seq": pa.array(seqs, pa.int32()),
            "goroutine_id": pa.array(gids, pa.int64()),
            "depth": pa.array(depths, pa.int32()),
            "args": args if isinstance(args, pa.Array) else pa.array(args, pa.string()),
            "pc_offset": offsets if isinstance(offsets, pa.Array) else pa.array(offsets, pa.int64()),
            "frames_id": pa.array(fids, pa.int64()),
        }
        cols = [arrays[n] if n in arrays else taken.column(n).combine_chunks() for n in schema.names]
        return pa.RecordBatch.from_arrays(cols, schema=schema)

    def frames_batch(self, goroutines: Rows) -> pa.RecordBatch:
        """The frames read line by line, keyed: their goroutines' rows (the
        last column of each, frames_id) get the key too."""
        fr, self.fr = self.fr, [[] for _ in range(7)]
        dump, seq = np.array(fr[0], dtype=np.int64), np.array(fr[1], dtype=np.int64)
        starts = np.ones(len(dump), dtype=bool)
        starts[1:] = (dump[1:] != dump[:-1]) | (seq[1:] != seq[:-1])
        first = np.flatnonzero(starts)
        args, offsets = pa.array(fr[5], pa.string()), pa.array(fr[6], pa.int64())
        off1 = pc.add(offsets, 1).fill_null(0).to_numpy().view(np.uint64)
        fids = frames_ids(self.loc_arrays()[0][np.array(fr[4], dtype=np.int64)], hash_strings(args), off1,
                          np.array(fr[3], dtype=np.int64), np.append(first, len(dump)))
        keyed = dict(zip(zip(dump[first].tolist(), seq[first].tolist()), fids.tolist()))
        goroutines.rows = [r[:-1] + (keyed.get((r[0], r[1])),) for r in goroutines.rows]
        each = np.repeat(fids, np.diff(np.append(first, len(dump))))  # each frame's goroutine's key
        if len(dump) <= FEW_FRAMES:  # a small file's: rows in Python, no Arrow table of locations
            cols = dict(zip(LOC_COLUMNS, ([col[i] for i in fr[4]] for col in self.loc_cols)))
            cols.update(dump_id=fr[0], goroutine_seq=fr[1], goroutine_id=fr[2], depth=fr[3], args=fr[5],
                        pc_offset=fr[6], frames_id=each.tolist())
            return record_batch("frames", list(zip(*(cols[n] for n in TABLES["frames"].arrow_schema.names))))
        return self.frames_from(fr[0], fr[1], fr[2], fr[3], fr[4], args, offsets, each)


class OpenDump:
    __slots__ = (
        "idx kind start_line end_line ts ts_source panics signal signal_code fault_addr fault_pc "
        "registers preamble ids failing sig_functions race_goroutines race_accesses race_section race_created".split()
    )

    def __init__(self, idx: int, kind: str, start_line: int):
        self.idx, self.kind, self.start_line, self.end_line = idx, kind, start_line, start_line
        self.ts = self.ts_source = None
        self.panics: list[list] = []  # [kind, message lines, recovered, repanicked]
        self.signal = self.signal_code = self.fault_addr = self.fault_pc = None
        self.registers: list[str] = []
        self.preamble: list[str] = []
        self.ids: set[int] = set()
        self.failing: tuple[int, list[str]] | None = None  # goroutine id, its non-machinery functions
        self.sig_functions: list[str] | None = None  # signature input when not the failing stack
        self.race_goroutines: list[dict] = []
        self.race_accesses: list[tuple] = []
        self.race_section: dict | None = None
        self.race_created: list[dict] = []  # "Goroutine N (...) created at:" sections


class OpenGoroutine:
    """The goroutine being read: its header, created-by line and frames so far."""

    __slots__ = (
        "id state wait locked gp m line created_by created_in created_file created_line "
        "elided unavailable locs args offsets depths skip".split()
    )

    def __init__(self, gid: int, state, wait, locked, gp, m, line: int):
        self.id, self.state, self.wait, self.locked, self.gp, self.m, self.line = gid, state, wait, locked, gp, m, line
        self.created_by = self.created_in = self.created_file = self.created_line = None
        self.elided = 0  # frames_elided: N, or -1 for "...additional frames elided..."
        self.unavailable = False
        self.locs: list[int] = []  # interned location of each frame
        self.args: list[str | None] = []
        self.offsets: list[int | None] = []
        self.depths: list[int] = []
        self.skip = 0  # frames elided so far: added to the depth of the frames after
