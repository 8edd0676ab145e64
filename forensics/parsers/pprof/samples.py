"""A profile's samples as flat NumPy arrays, decoded without a Python object per sample.

A big profile has hundreds of thousands of samples and few locations: read
one protobuf message per sample and iterating their fields in Python takes
seconds. Every byte of an encoded ``Sample`` belongs to a varint (tags,
lengths, packed ids and values, and its labels' fields are all varints), so
the samples' bytes are decoded here as one varint stream with NumPy, and
their fields walked for all samples at once, one field per step.

A chunk of CHUNK_SAMPLES samples is decoded at a time (:func:`decode_chunk`),
so the per-token arrays stay small whatever the profile's size.

Only the shapes profile.proto writers produce are read this way; anything
else (an unknown field, another wire type, a varint or a length that does
not fit) returns None, and that chunk is decoded by the protobuf library,
which reads what it can and reports what it cannot.

>>> from forensics.parsers.pprof.profile import Profile
>>> msg = Profile()
>>> s = msg.sample.add(location_id=[1, 2], value=[5, -1]); _ = s.label.add(key=1, str=2)
>>> fast = from_encoded([s.SerializeToString()])
>>> fast.loc_ids.tolist(), fast.values.tolist(), fast.labels.tolist()
([1, 2], [5, -1], [[0, 1, 2, 0, 0]])
>>> decode_chunk([s.SerializeToString()], first=7).labels.tolist()  # a later chunk: samples numbered on
[[7, 1, 2, 0, 0]]
>>> slow = from_messages(msg.sample)
>>> slow.loc_ids.tolist(), slow.values.tolist(), slow.labels.tolist()
([1, 2], [5, -1], [[0, 1, 2, 0, 0]])
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

CHUNK_SAMPLES = 1 << 13  # samples decoded at a time: bounds the per-token arrays (about 40 bytes a token)


@dataclass
class Samples:
    """Every sample's location ids and values (flat, with per-sample lengths)
    and its labels as an int64 matrix (sample, key, str, num, num_unit)."""

    n: int
    loc_lengths: np.ndarray  # int64 per sample
    loc_ids: np.ndarray  # uint64, flat
    value_lengths: np.ndarray  # int64 per sample
    values: np.ndarray  # int64, flat
    labels: np.ndarray  # int64 (m, 5)


def from_messages(samples, first: int = 0) -> Samples:
    """Samples of protobuf ``Sample`` messages (a decoded or built profile),
    numbered from `first` in their labels."""
    n = len(samples)
    loc_lengths = np.fromiter((len(s.location_id) for s in samples), dtype=np.int64, count=n)
    value_lengths = np.fromiter((len(s.value) for s in samples), dtype=np.int64, count=n)
    loc_ids = np.fromiter(chain.from_iterable(s.location_id for s in samples), dtype=np.uint64,
                          count=int(loc_lengths.sum()))
    values = np.fromiter(chain.from_iterable(s.value for s in samples), dtype=np.int64,
                         count=int(value_lengths.sum()))
    rows = [(first + i, lab.key, lab.str, lab.num, lab.num_unit) for i, sample in enumerate(samples) for lab in sample.label]
    return Samples(n, loc_lengths, loc_ids, value_lengths, values, np.array(rows, dtype=np.int64).reshape(-1, 5))


class _Unusual(Exception):
    """The encoding is not one this decoder reads: let protobuf decode it."""


def from_encoded(encoded) -> Samples | None:
    """Samples of encoded ``Sample`` messages (a sequence of bytes), or None
    when one is encoded in a way only the protobuf library should judge."""
    parts = [decode_chunk(encoded[lo:lo + CHUNK_SAMPLES], lo) for lo in range(0, len(encoded), CHUNK_SAMPLES)]
    return None if None in parts else joined(parts)


def decode_chunk(encoded, first: int = 0) -> Samples | None:
    """:func:`from_encoded` of one chunk of samples, the first numbered `first`."""
    try:
        return Samples(len(encoded), *_chunk(encoded, first))
    except _Unusual:
        return None


def joined(parts: list[Samples]) -> Samples:
    """Consecutive chunks of samples as one."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Samples(0, empty, empty.astype(np.uint64), empty, empty, np.zeros((0, 5), dtype=np.int64))
    fields = ("loc_lengths", "loc_ids", "value_lengths", "values", "labels")
    return Samples(sum(p.n for p in parts), *(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def _chunk(encoded, first: int) -> tuple:
    sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    n = len(sizes)
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    sample_end = np.cumsum(sizes)
    if not len(buf):
        zeros = np.zeros(n, dtype=np.int64)
        return zeros, np.zeros(0, dtype=np.uint64), zeros, zeros.copy(), np.zeros((0, 5), dtype=np.int64)
    last = buf < 0x80  # a varint's last byte
    nonempty = sizes > 0
    if not last[sample_end[nonempty] - 1].all():
        raise _Unusual  # a varint runs over the end of its sample
    tok_end = np.flatnonzero(last)  # each varint's last byte
    tok_start = np.empty_like(tok_end)
    tok_start[0], tok_start[1:] = 0, tok_end[:-1] + 1
    tok_len = tok_end - tok_start + 1
    if tok_len.max() > 10:
        raise _Unusual
    vals = buf[tok_end].astype(np.uint64)  # a one-byte varint is its byte
    multi = np.flatnonzero(tok_len > 1)
    if len(multi):  # the others, byte by byte
        starts, lens = tok_start[multi], tok_len[multi]
        acc = np.zeros(len(multi), dtype=np.uint64)
        for k in range(int(lens.max())):
            more = lens > k
            acc[more] |= (buf[starts[more] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        vals[multi] = acc
    n_tok = len(tok_start)
    # each sample's tokens: [sample_tok[i], sample_tok[i + 1])
    sample_tok = np.searchsorted(tok_start, np.concatenate([[0], sample_end]))

    def content_end(at: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Token index where the length-delimited content whose length token is `at` ends."""
        end_byte = tok_end[at] + 1 + vals[at].astype(np.int64) if len(at) else at
        if len(at) and ((vals[at] > (1 << 40)).any() or (end_byte > limit).any()):
            raise _Unusual
        j = np.searchsorted(tok_start, end_byte)
        inside = j < n_tok
        if (tok_start[j[inside]] != end_byte[inside]).any() or (end_byte[~inside] != len(buf)).any():
            raise _Unusual  # the content does not end between two varints
        return j

    singles = {1: [], 2: []}  # unpacked location ids and values: (sample, token index)
    ranges = {1: [], 2: [], 3: []}  # packed ones and labels: (sample, first token, end token)
    cur = sample_tok[:-1].copy()
    stop = sample_tok[1:]
    active = np.flatnonzero(cur < stop)
    while len(active):
        at = cur[active]
        if (at + 1 >= stop[active]).any():
            raise _Unusual  # a tag without its value
        tag = vals[at]
        field, wire = tag >> 3, tag & 7
        nxt = np.empty_like(at)
        plain = wire == 0
        if not np.isin(field[plain], (1, 2)).all():
            raise _Unusual
        for f in (1, 2):
            pick = plain & (field == f)
            singles[f].append((active[pick], at[pick] + 1))
        nxt[plain] = at[plain] + 2
        delimited = wire == 2
        if not np.isin(field[delimited], (1, 2, 3)).all() or not (plain | delimited).all():
            raise _Unusual
        d = at[delimited]
        ends = content_end(d + 1, sample_end[active[delimited]])
        for f in (1, 2, 3):
            pick = field[delimited] == f
            ranges[f].append((active[delimited][pick], d[pick] + 2, ends[pick]))
        nxt[delimited] = ends
        cur[active] = nxt
        active = active[nxt < stop[active]]

    def taken(f: int) -> tuple[np.ndarray, np.ndarray]:
        """The field's tokens (a mask) and how many each sample has."""
        mark = np.zeros(n_tok + 1, dtype=np.int8)  # +1 where a packed run starts, -1 where it ends
        for _, lo, hi in ranges[f]:
            mark[lo] += 1  # distinct starts; an empty run ends where it starts
            mark[hi] -= 1
        keep = np.cumsum(mark[:-1], dtype=np.int8).view(bool)
        keep[np.concatenate([at for _, at in singles[f]])] = True
        count = np.bincount(np.concatenate([i for i, _ in singles[f]]), minlength=n)
        for i, lo, hi in ranges[f]:
            count += np.bincount(i, weights=hi - lo, minlength=n).astype(np.int64)
        return keep, count.astype(np.int64)

    (loc_mask, loc_lengths), (value_mask, value_lengths) = taken(1), taken(2)
    labels = _labels(vals, *(np.concatenate([r[k] for r in ranges[3]]) for k in (1, 2, 0)), first)
    return loc_lengths, vals[loc_mask], value_lengths, vals[value_mask].view(np.int64), labels


def _labels(vals: np.ndarray, lo: np.ndarray, hi: np.ndarray, sample: np.ndarray, first: int) -> np.ndarray:
    """(sample, key, str, num, num_unit) of labels whose fields are tokens [lo, hi)."""
    order = np.argsort(lo, kind="stable")  # labels in the order they were written
    lo, hi, sample = lo[order], hi[order], sample[order] + first
    out = np.zeros((len(lo), 5), dtype=np.int64)
    if not len(lo):
        return out
    out[:, 0] = sample
    cur = lo.copy()
    active = np.flatnonzero(cur < hi)
    while len(active):
        at = cur[active]
        if (at + 1 >= hi[active]).any():
            raise _Unusual
        tag = vals[at]
        field, wire = (tag >> 3).astype(np.int64), tag & 7
        if (wire != 0).any() or ((field < 1) | (field > 4)).any():
            raise _Unusual
        out[active, field] = vals[at + 1].view(np.int64)  # a field given twice: the last one, as protobuf
        cur[active] = at + 2
        active = active[cur[active] < hi[active]]
    return out
