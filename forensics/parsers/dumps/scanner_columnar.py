"""Vectorised reading of runs of well-formed goroutine blocks.

A goroutine dump of 100,000 goroutines is a million lines of one regular
shape. :mod:`.scanner` reads input line by line; when it
meets a goroutine header it hands the rest of the current chunk to
:func:`read_run`, which classifies every line with Arrow compute (RE2), keeps
the longest prefix that the line-by-line reader would read the same way (by a
table of allowed transitions between line types), and turns it into
goroutines and frames columns without a Python step per line. Anything
unusual (errors, ``runtime stack:``, signal sections, interleaved log lines)
stops the run there and the line-by-line reader carries on, so both paths
give identical tables; tests check that on every sample.

Identical goroutines (a leak) print identical frame blocks: a chunk's blocks
are grouped by their bytes (:func:`_repeats`), and only the first of each
group is classified and split; its repeats take its results. Both readers key
each goroutine's frames with the same ``frames_id`` (:func:`.rows.frames_ids`),
by which the store keeps each distinct stack once.
"""
from __future__ import annotations


import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .rows import frames_ids, hash_strings

# Line types.
OTHER, HEADER, FUNC, FILE, CREATED, CFILE, ELIDED, UNAVAILABLE, BLANK = range(9)

# RE2 forms of the line-by-line reader's patterns (patterns.HEADER_RE etc.);
# each accepts a subset of what that reader accepts, numbers as bounded as there.
HEADER_RE2 = (
    r"^goroutine (?P<id>\d{1,18})(?: gp=(?P<gp>0x[0-9a-f]+) m=(?P<m>\d+|nil)(?: mp=0x[0-9a-f]+)?)? "
    r"\[(?P<state>[^,\]]*)(?:, (?P<minutes>\d{1,9}) minutes)?(?P<locked>, locked to thread)?(?P<rest>(?:, [^\]]*)?)\]:$"
)
FUNC_RE2 = r"^(?P<func>[^\s(][^ ]*)\((?P<args>[^()]*)\)$"
FILE_RE2 = (
    r"^\t(?P<file>.+):(?P<line>\d{1,9})(?: \+0x(?P<off>[0-9a-f]{1,16}))?"
    r"(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+)?$"
)
CREATED_RE2 = r"^created by (?P<func>[^ ]+?)(?: in goroutine (?P<gid>\d{1,18}))?$"
ELIDED_RE2 = r"^\.\.\.(?:(?P<n>\d{1,9}) frames|additional frames) elided\.\.\.$"
UNAVAILABLE_LINE = "\tgoroutine running on other thread; stack unavailable"

# ALLOWED[prev, cur]: transitions the line-by-line reader handles without
# errors or lookahead, and reads exactly as this module does.
ALLOWED = np.zeros((9, 9), dtype=bool)
for _prev, _curs in {
    HEADER: (FUNC, UNAVAILABLE, CREATED, ELIDED, BLANK),
    FUNC: (FILE,),
    FILE: (FUNC, ELIDED, CREATED, BLANK),
    ELIDED: (FUNC, CREATED, BLANK),
    UNAVAILABLE: (CREATED, BLANK),
    CREATED: (CFILE,),
    CFILE: (BLANK,),
    BLANK: (HEADER, BLANK),
}.items():
    ALLOWED[_prev, list(_curs)] = True

_P = np.uint64(0x100000001B3)  # FNV prime: the rolling key that groups equal stacks


def _reverse(arr: pa.Array) -> pa.Array:
    """Byte-wise reversal: the pieces are reversed back after splitting at
    ASCII characters, so multi-byte characters come out intact."""
    return pc.binary_reverse(arr.cast(pa.binary()))


def _split_call(lines: pa.Array) -> tuple[pa.Array, pa.Array]:
    """'pkg.F(args)' -> (function, args), split at the last '('."""
    rev = pc.split_pattern(_reverse(lines), b"(", max_splits=1)
    args = _reverse(pc.list_element(rev, 0)).cast(pa.string())
    return _reverse(pc.list_element(rev, 1)).cast(pa.string()), pc.utf8_slice_codeunits(args, 0, -1)


def _split_file_line(lines: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """'\tfile:line +0xoff fp=..' -> (file, line, off or "")."""
    rev = pc.split_pattern(_reverse(pc.utf8_slice_codeunits(lines, 1)), b":", max_splits=1)
    tail = _reverse(pc.list_element(rev, 0)).cast(pa.string())  # 'line +0xoff fp=..'
    file = _reverse(pc.list_element(rev, 1)).cast(pa.string())
    words = pc.split_pattern(tail, " ", max_splits=2)
    line = pc.list_element(words, 0)
    off = pc.utf8_slice_codeunits(_second_or_empty(words), 3)  # '+0x1d' -> '1d'
    return file, line, off


def _second_or_empty(lists: pa.Array) -> pa.Array:
    """Element 1 of each list, "" where a list has one element."""
    padded = pc.list_slice(lists, 1, 2)
    return pc.binary_join(padded, "")


def _second_or_null(lists: pa.Array) -> pa.Array:
    """Element 1 of each list, null where a list has one element."""
    return _null_if_empty(_second_or_empty(lists))


def _scatter(n: int, at: np.ndarray, values: pa.Array, type_: pa.DataType) -> pa.Array:
    """An array of n nulls with values placed at positions `at`."""
    idx = np.full(n, -1, dtype=np.int64)
    idx[at] = np.arange(len(at))
    return values.cast(type_).take(pa.array(idx, mask=idx < 0))


def _null_if_empty(arr: pa.Array) -> pa.Array:
    """Optional fields come back as "": make them null."""
    empty = pc.equal(arr, "")
    if pc.all(empty).as_py():
        return pa.nulls(len(arr), pa.string())
    return pc.if_else(empty, pa.scalar(None, pa.string()), arr)


def _repeats(data: bytes, arr: pa.Array, blank: np.ndarray, head: np.ndarray) -> np.ndarray:
    """For each line, the line it repeats: a line of a goroutine's frame block
    (the lines after its header, up to a blank line or the next header) whose
    whole block, byte for byte, came earlier in the chunk points at the same
    line of that earlier block; any other line points at itself."""
    n = len(blank)
    src = np.arange(n)
    heads = np.flatnonzero(head)
    if len(heads) < 2:
        return src
    stops = np.flatnonzero(blank | head)
    k = np.searchsorted(stops, heads + 1)
    ends = np.where(k < len(stops), stops[np.minimum(k, len(stops) - 1)], n)  # exclusive
    starts = np.zeros(n + 1, dtype=np.int64)  # byte offset of each line in data
    np.cumsum(pc.binary_length(arr).to_numpy(zero_copy_only=False) + 1, out=starts[1:])
    starts = np.minimum(starts, len(data))
    # The chunk's bytes as (before, then per block: header, body, after) elements:
    # Arrow's hash of the body elements groups equal blocks.
    nb = len(heads)
    offsets = np.empty(2 + 3 * nb, dtype=np.int64)
    offsets[0], offsets[1] = 0, starts[heads[0]]
    offsets[2::3] = starts[heads + 1]
    offsets[3::3] = starts[ends]
    offsets[4::3] = np.append(starts[heads[1:]], len(data))
    pieces = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1,
                                              [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    codes = pieces.take(pa.array(np.arange(2, len(offsets) - 1, 3))).dictionary_encode().indices.to_numpy()
    # Codes are numbered in order of first appearance: a block whose code is
    # above all before it is the first of its kind.
    new = codes > np.maximum.accumulate(np.concatenate([[-1], codes[:-1]]))
    first = np.empty(int(codes.max()) + 1, dtype=np.int64)
    first[codes[new]] = np.flatnonzero(new)
    origin = first[codes]  # the first block with the same body
    rep = np.flatnonzero((origin != np.arange(nb)) & (ends > heads + 1))
    if not len(rep):
        return src
    lens = ends[rep] - heads[rep] - 1
    within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    src[np.repeat(heads[rep] + 1, lens) + within] = np.repeat(heads[origin[rep]] + 1, lens) + within
    return src


class Chunk:
    """One chunk of lines, classified once, read in runs."""

    def __init__(self, lines: list[str]):
        # One buffer split by Arrow: far cheaper than converting a Python list
        # (or even one big Python str) element by element.
        data = "\n".join(lines).encode("utf-8", "surrogateescape")
        whole = pa.LargeStringArray.from_buffers(
            1, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data)
        )
        arr = pc.split_pattern(whole, "\n").flatten()
        split = len(arr) == len(lines)
        arr = arr.cast(pa.string()) if split else pa.array(lines, pa.string())
        self.lines = arr
        n = len(lines)
        blank = pc.equal(arr, "").to_numpy(zero_copy_only=False)
        # Identical goroutines print identical frame blocks: each distinct block
        # is classified and split once, its repeats point at it (src).
        head = pc.starts_with(arr, "goroutine ").to_numpy(zero_copy_only=False)
        self.src = src = _repeats(data, arr, blank, head) if split else np.arange(n)
        # Each pattern is tried on the distinct lines it may match: headers on
        # lines starting "goroutine ", the others on the rest but blank lines.
        t = np.full(n, OTHER, dtype=np.int8)
        t[blank] = BLANK
        own = src == np.arange(n)
        for where, patterns in ((own & head, ((HEADER, HEADER_RE2),)),
                                (own & ~head & ~blank, ((FUNC, FUNC_RE2), (FILE, FILE_RE2), (CREATED, CREATED_RE2),
                                                        (ELIDED, ELIDED_RE2), (UNAVAILABLE, None)))):
            at = np.flatnonzero(where)
            sub = arr if len(at) == n else arr.take(pa.array(at))
            for code, pattern in patterns:
                hit = pc.equal(sub, UNAVAILABLE_LINE) if pattern is None else pc.match_substring_regex(sub, pattern)
                t[at[hit.to_numpy(zero_copy_only=False)]] = code
        t = t[src]
        # A file line after "created by" is the creation site, not a frame.
        cfile = np.zeros(len(t), dtype=bool)
        cfile[1:] = (t[1:] == FILE) & (t[:-1] == CREATED)
        t[cfile] = CFILE
        self.types = t
        ok = np.zeros(len(t), dtype=bool)  # ok[k]: the step from line k-1 to line k is allowed
        ok[1:] = ALLOWED[t[:-1], t[1:]]
        self.bad = np.flatnonzero(~ok)  # sorted positions where a run must stop
        self.blank = np.flatnonzero(t == BLANK)

    def run_end(self, start: int) -> int:
        """End (exclusive) of the run of whole goroutine blocks starting at
        `start` (a header line); `start` when there is none."""
        if self.types[start] != HEADER:
            return start
        k = np.searchsorted(self.bad, start + 1)
        stop = int(self.bad[k]) if k < len(self.bad) else len(self.types)
        b = np.searchsorted(self.blank, stop) - 1  # last blank line before the stop
        if b < 0 or self.blank[b] <= start:
            return start
        return int(self.blank[b]) + 1


def read_run(parser, chunk: Chunk, start: int, end: int, first_lineno: int) -> None:
    """Add the goroutines of lines [start, end) to the parser's current dump.

    `first_lineno` is the 1-based line number of line `start`.
    """
    lines = chunk.lines.slice(start, end - start)
    t = chunk.types[start:end]
    n = len(t)
    is_h = t == HEADER
    gidx = np.cumsum(is_h) - 1  # goroutine of each line, within the run
    h_pos = np.flatnonzero(is_h)
    ng = len(h_pos)

    # Headers: 'goroutine <id> <rest>', the rests (state, wait...) read once each.
    parts = pc.split_pattern(lines.filter(pa.array(is_h)), " ", max_splits=2)
    gid = pc.cast(pc.list_element(parts, 1), pa.int64()).to_numpy()
    rest = pc.list_element(parts, 2).dictionary_encode()
    hdr = pc.extract_regex(pc.binary_join_element_wise("goroutine 0", rest.dictionary, " "), HEADER_RE2)
    each = rest.indices
    state = pc.binary_join_element_wise(hdr.field("state"), hdr.field("rest"), "").take(each)
    wait = pc.cast(_null_if_empty(hdr.field("minutes")), pa.int32()).take(each)
    locked = pc.not_equal(hdr.field("locked"), "").take(each)
    gp = _null_if_empty(hdr.field("gp")).take(each)
    m = _null_if_empty(hdr.field("m")).take(each)

    # Frames: each FUNC line and the FILE line after it. The lines already
    # matched FUNC_RE2 / FILE_RE2; splitting them is much faster than RE2
    # submatch extraction.
    # Repeated frame blocks are read once: the distinct lines (f_u), then per frame (f_inv).
    f_pos = np.flatnonzero(t == FUNC)
    f_u, f_inv = np.unique(chunk.src[f_pos + start], return_inverse=True)
    f_inv = f_inv.reshape(-1)
    func, args_u = _split_call(chunk.lines.take(pa.array(f_u)))
    file, line_s, off = _split_file_line(chunk.lines.take(pa.array(f_u + 1)))
    inlined = pc.equal(args_u, "...")
    f_g = gidx[f_pos]

    # Depth: rank within the goroutine plus frames elided before it.
    is_f = (t == FUNC).astype(np.int64)
    cum_f = np.cumsum(is_f)
    rank = cum_f[f_pos] - cum_f[h_pos][f_g] - 1  # frames before it in its goroutine
    e_pos = np.flatnonzero(t == ELIDED)
    elided_n = np.zeros(n, dtype=np.int64)
    g_elided = np.zeros(ng, dtype=np.int32)
    if len(e_pos):
        ex = pc.extract_regex(lines.take(pa.array(e_pos)), ELIDED_RE2).field("n").to_pylist()
        for p, v in zip(e_pos, ex):
            g = gidx[p]
            if v:
                elided_n[p] = int(v)
                if g_elided[g] != -1:
                    g_elided[g] += int(v)
            else:
                g_elided[g] = -1
    cum_e = np.cumsum(elided_n)
    depth = rank + cum_e[f_pos] - cum_e[h_pos][f_g]

    # Created by.
    c_pos = np.flatnonzero(t == CREATED)
    c_g = gidx[c_pos]
    c_u, c_inv = np.unique(chunk.src[c_pos + start], return_inverse=True)
    c_inv = pa.array(c_inv.reshape(-1))
    c_lines = pc.utf8_slice_codeunits(chunk.lines.take(pa.array(c_u)), len("created by "))
    c_parts = pc.split_pattern(c_lines, " in goroutine ", max_splits=1).take(c_inv)
    c_file, c_line, _ = _split_file_line(chunk.lines.take(pa.array(c_u + 1)))
    c_file, c_line = c_file.take(c_inv), c_line.take(c_inv)
    created_by = _scatter(ng, c_g, pc.list_element(c_parts, 0), pa.string())
    c_in = _second_or_null(c_parts)
    created_in = _scatter(ng, c_g, pc.cast(c_in, pa.int64()), pa.int64())
    created_file = _scatter(ng, c_g, c_file, pa.string())
    created_line = _scatter(ng, c_g, pc.cast(c_line, pa.int32()), pa.int32())
    unavailable = np.zeros(ng, dtype=bool)
    unavailable[gidx[t == UNAVAILABLE]] = True

    # Intern locations: one Python step per distinct (function, file, line,
    # inlined), found from the columns' dictionary codes.
    fenc, ienc = func.dictionary_encode(), file.dictionary_encode()
    fdict, idict = fenc.dictionary.to_pylist(), ienc.dictionary.to_pylist()
    lines_n = pc.cast(line_s, pa.int64()).to_numpy()
    parts = [fenc.indices.to_numpy().astype(np.int64), ienc.indices.to_numpy().astype(np.int64),
             lines_n, inlined.to_numpy(zero_copy_only=False).astype(np.int64)]
    radix = [len(fdict), len(idict), int(lines_n.max(initial=0)) + 1, 2]
    if np.prod([float(r) for r in radix]) < 2.0**62:
        combined = ((parts[0] * radix[1] + parts[1]) * radix[2] + parts[2]) * 2 + parts[3]
        _, first, codes = np.unique(combined, return_index=True, return_inverse=True)
    else:
        _, first, codes = np.unique(np.stack(parts, axis=1), axis=0, return_index=True, return_inverse=True)
    codes = codes.reshape(-1)
    mapping = np.empty(len(first), dtype=np.int64)
    for u, k in enumerate(first.tolist()):
        mapping[u] = parser.intern(fdict[parts[0][k]], idict[parts[1][k]], int(lines_n[k]), bool(parts[3][k]))
    loc = mapping[codes][f_inv]

    # Offsets (+0x..) as integers; arguments and offsets of every frame.
    off_enc = off.dictionary_encode()  # (few distinct offsets)
    off_d = [int(x, 16) if x else None for x in off_enc.dictionary.to_pylist()]
    off_u = pa.array(off_d, pa.int64()).take(off_enc.indices)
    off1 = np.array([0 if x is None else x + 1 for x in off_d] or [0], dtype=np.uint64)[
        off_enc.indices.to_numpy()][f_inv]
    args_h = hash_strings(args_u)[f_inv]
    take = pa.array(f_inv)
    offsets, args = off_u.take(take), args_u.take(take)

    # Per-goroutine stack ids: a rolling key groups equal stacks, then one
    # blake2b per distinct stack, the same id the line-by-line reader gives.
    counts = np.bincount(f_g, minlength=ng)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    hashes, goexit, runtime_start = parser.loc_arrays()
    lh = hashes[loc]
    powers = np.ones(len(loc), dtype=np.uint64)
    if len(loc):
        base = np.cumprod(np.full(int(counts.max()) if ng else 1, _P, dtype=np.uint64))
        r = rank.astype(np.int64)
        powers = np.where(r > 0, base[np.maximum(r - 1, 0)], np.uint64(1))
    with np.errstate(over="ignore"):
        roll = np.cumsum(lh * powers, dtype=np.uint64)
    roll = np.concatenate([np.zeros(1, dtype=np.uint64), roll])
    with np.errstate(over="ignore"):
        gkey = roll[bounds[1:]] - roll[bounds[:-1]] + counts.astype(np.uint64)
    uniq_keys, first_g, inverse = np.unique(gkey, return_index=True, return_inverse=True)
    stack_ids = parser.stack_ids_of(loc, bounds, first_g)[inverse.reshape(-1)]
    fids = frames_ids(lh, args_h, off1, depth, bounds)  # frames_id, by the line-by-line reader's formula

    # runtime.isSystemGoroutine: start function (outermost, under runtime.goexit).
    is_system = gid <= 0
    if len(loc):
        has = counts > 0
        last = np.where(has, bounds[1:] - 1, 0)
        start_fn = np.where(has & goexit[loc[last]] & (counts >= 2), last - 1, last)
        is_system = is_system | (has & runtime_start[loc[start_fn]] & (g_elided != -1))

    d = parser.dump
    seq0 = parser.gseq
    parser.gseq += ng
    parser.add_batch("goroutines", {
        "dump_id": pa.array(np.full(ng, d.idx, dtype=np.int64)),
        "seq": pa.array(np.arange(seq0, seq0 + ng, dtype=np.int32)),
        "goroutine_id": pa.array(gid),
        "state": state,
        "wait_minutes": wait,
        "locked": locked,
        "created_by": created_by,
        "created_by_goroutine": created_in,
        "created_by_file": created_file,
        "created_by_line": created_line,
        "stack_id": pa.array(stack_ids),
        "count": pa.array(np.ones(ng, dtype=np.int64)),
        "frames_elided": pa.array(g_elided),
        "stack_unavailable": pa.array(unavailable),
        "gp": gp,
        "m": m,
        "line": pa.array(h_pos.astype(np.int64) + first_lineno),
        "is_system": pa.array(is_system),
        "frames_id": pa.array(fids, mask=counts == 0),
    })
    parser.add_frames(
        np.full(len(loc), d.idx, dtype=np.int64), (f_g + seq0).astype(np.int32), gid[f_g],
        depth.astype(np.int32), loc, args, offsets, fids[f_g],
    )
    d.ids.update(gid.tolist())
    d.end_line = first_lineno + int(np.flatnonzero(t != BLANK)[-1])
    if d.failing is None:
        for g in range(ng):
            if gid[g] > 0:
                parser.set_failing(int(gid[g]), loc[bounds[g]:bounds[g + 1]].tolist())
                break
