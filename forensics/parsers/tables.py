"""Rows a parser emits: small tables as tuples, frames through interned locations.

Frames repeat a few thousand locations millions of times, so a location
(function, file, line, inlined) is interned once with its derived package,
module and version, and frame batches take those columns from an Arrow
table of locations instead of building them row by row.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from ..schema import TABLES
from .golang import describe
from .gotraceback import is_machinery, system_start

LOC_COLUMNS = ["function", "package", "file", "line", "module", "module_version", "is_stdlib", "inlined"]
FLUSH_FRAMES = 1 << 17


def record_batch(table: str, rows: list[tuple]) -> pa.RecordBatch:
    """Row tuples in the table's column order -> one batch of its parser schema."""
    schema = TABLES[table].arrow_schema
    cols = list(zip(*rows)) if rows else [()] * len(schema)
    return pa.RecordBatch.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema)], schema=schema)


def dict_batch(table: str, rows: list[dict]) -> pa.RecordBatch:
    """Rows as dicts (missing columns are NULL) -> one batch of the table's parser schema."""
    schema = TABLES[table].arrow_schema
    return pa.RecordBatch.from_arrays([pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema],
                                      schema=schema)


def frame_key(function: str | None, file: str | None, line: int | None, address: int = 0,
              binary: str | None = None) -> str:
    """What identifies a frame in a stack hash (binary and address when unsymbolized)."""
    return f"{function}\t{file}\t{line}" if function else f"{binary or ''}@{address:x}"


# Stack ids fold per-frame hashes leaf first, Horner-style modulo 2**64:
# h = h * STACK_MULT + frame_hash. A fold can be continued, so a profile
# location (several inlined frames) folds into (M**k, partial hash) once and
# stacks of locations fold with NumPy, column-wise (fold_stacks).
STACK_MULT = 0x9E3779B97F4A7C15  # odd: multiplication mod 2**64 is invertible
_MASK = (1 << 64) - 1


def frame_hash(key: str) -> int:
    """64-bit hash of one frame key (unsigned)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def fold(hashes, start: int = 0) -> int:
    """Continue the stack fold over frame hashes (unsigned 64-bit)."""
    h = start
    for fh in hashes:
        h = (h * STACK_MULT + fh) & _MASK
    return h


def stack_id_of(folded: int) -> int:
    """The signed stack id of a non-empty stack's fold (never 0)."""
    return (folded - (1 << 64) if folded >= 1 << 63 else folded) or 1


def stack_hash(frame_keys: list[str]) -> int:
    """Stack id shared by goroutine and profile stacks: a fold of the frame
    keys' hashes, leaf first; 0 is the empty stack and no other stack gets 0."""
    if not frame_keys:
        return 0
    return stack_id_of(fold(frame_hash(k) for k in frame_keys))


def fold_stacks(mult: np.ndarray, add: np.ndarray, items: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Stack ids of many stacks at once: stack i is items[o_i:o_i+lengths[i]]
    (indexes into mult/add, each item a run of frames folded as h*mult+add).
    Equal to stack_hash of the stacks' frame keys; 0 for empty stacks."""
    n = len(lengths)
    h = np.zeros(n, dtype=np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
    with np.errstate(over="ignore"):
        for depth in range(int(lengths.max()) if n else 0):
            live = np.nonzero(lengths > depth)[0]
            item = items[starts[live] + depth]
            h[live] = h[live] * mult[item] + add[item]
    ids = h.view(np.int64).copy()
    ids[(ids == 0) & (lengths > 0)] = 1
    return ids


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
        self.loc_np = (np.zeros(0, np.uint64), np.zeros(0, bool), np.zeros(0, bool))  # see loc_arrays
        self.stack_ids: dict[tuple, int] = {}
        self.extra: list[tuple[str, pa.RecordBatch]] = []  # batches built by goroutine_runs
        # Frame columns: dump, goroutine seq, goroutine id, depth, loc, args, offset.
        self.fr: list[list] = [[] for _ in range(7)]

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

    def add_frames(self, dump_ids, seqs, gids, depths, locs, args, offsets) -> None:
        """Frames given as columns (from the vectorised reader)."""
        if not len(locs):
            return
        self.extra.append(("frames", self.frames_from(dump_ids, seqs, gids, depths, locs, args, offsets)))
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

    def frames_from(self, dump_ids, seqs, gids, depths, locs, args, offsets) -> pa.RecordBatch:
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
        }
        cols = [arrays[n] if n in arrays else taken.column(n).combine_chunks() for n in schema.names]
        return pa.RecordBatch.from_arrays(cols, schema=schema)

    def frames_batch(self) -> pa.RecordBatch:
        fr, self.fr = self.fr, [[] for _ in range(7)]
        return self.frames_from(fr[0], fr[1], fr[2], fr[3], fr[4], fr[5], fr[6])
