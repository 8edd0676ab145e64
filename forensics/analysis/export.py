"""Write profiles back out as gzipped profile.proto: merged, diffed, filtered.

What `go tool pprof -proto a b` (merge) or `-proto -diff_base=b a` would
write, from the tables: every sample type, samples with their labels,
stacks rebuilt into locations (a run of inlined frames and the frame they
were inlined into share one location, as in the original), one mapping per
binary. A diff negates the base's samples and labels them
`pprof::base=true`, as pprof does, so `go tool pprof -diff_base`-aware
viewers (pprof, Pyroscope) show it as a diff.

>>> import forensics as fx, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "merged.pb.gz")
>>> export_profile(fx.open().store, {"kind": "cpu"}, path)
0
"""
from __future__ import annotations

import gzip
from pathlib import Path

from ..db.store import Store
from ..parsers.pprof.profile import Profile
from .profiles import Selector, id_marks, select_profiles
from .tagfilter import tag_filters


class _Strings:
    def __init__(self, msg):
        self.msg, self.index = msg, {}
        self("")

    def __call__(self, text: str | None) -> int:
        text = text or ""
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.index)
            self.msg.string_table.append(text.encode())
        return i


def _header(store: Store, ids: list[int], msg, s: _Strings) -> list[str]:
    rows = store.query(
        f"SELECT sample_types, sample_units, period_type, period_unit, period, default_sample_type, "
        f"epoch_ns(ts), duration_ns, comments FROM profiles WHERE profile_id IN ({id_marks(ids)}) "
        f"ORDER BY ts NULLS LAST, profile_id", ids).fetchall()
    shapes = {tuple(r[0]) for r in rows}
    if len(shapes) > 1:
        raise ValueError(f"cannot merge profiles with different sample types: {sorted(shapes)}")
    types, units, ptype, punit, period, default, _, _, _ = rows[0]
    for t, u in zip(types, units):
        msg.sample_type.add(type=s(t), unit=s(u))
    msg.period_type.type, msg.period_type.unit = s(ptype), s(punit)
    msg.period = period or 0
    if default:
        msg.default_sample_type = s(default)
    starts = [r[6] for r in rows if r[6] is not None]
    msg.time_nanos = min(starts) if starts else 0
    msg.duration_nanos = sum(r[7] or 0 for r in rows)
    for comment in dict.fromkeys(c for r in rows if r[8] for c in r[8].split("\n")):
        msg.comment.append(s(comment))
    return list(types)


def export_profile(
    store: Store,
    profiles: Selector,
    path: str | Path,
    base: Selector = None,
    normalize: bool = False,
    tagfocus=None,
    tagignore=None,
    kind: str | None = None,
) -> int:
    """Write the selected profiles, merged (minus `base`, as a diff) and
    label-filtered, to `path` as gzipped profile.proto. Returns the number
    of samples written.
    """
    ids = select_profiles(store, profiles, kind)
    base_ids = select_profiles(store, base, kind) if base is not None else []
    msg = Profile()
    s = _Strings(msg)
    if not ids:
        Path(path).write_bytes(gzip.compress(msg.SerializeToString()))
        return 0
    types = _header(store, ids + base_ids, msg, s)
    ratios = [1.0] * len(types)
    if normalize and base_ids:
        totals = {}
        for group, group_ids in (("new", ids), ("base", base_ids)):
            sums = dict(store.query(
                f"SELECT i, sum(v) FROM (SELECT unnest(values) AS v, unnest(range(len(values))) AS i "
                f"FROM profile_samples WHERE profile_id IN ({id_marks(group_ids)})) GROUP BY i", group_ids).fetchall())
            totals[group] = [sums.get(i, 0) for i in range(len(types))]
        ratios = [float(b) / float(n) if n else 0.0 for n, b in zip(totals["new"], totals["base"])]
    tag_sql, tag_params = tag_filters(tagfocus, tagignore)
    all_ids = ids + base_ids
    samples = store.query(
        f"SELECT profile_id, sample_id, stack_id, values FROM profile_samples s "
        f"WHERE profile_id IN ({id_marks(all_ids)}) AND {tag_sql} ORDER BY profile_id, sample_id",
        all_ids + tag_params).fetchall()
    labels: dict[tuple[int, int], list] = {}
    for pid, sid, key, text, num, unit in store.query(
            f"SELECT profile_id, sample_id, key, str, num, num_unit FROM profile_labels "
            f"WHERE profile_id IN ({id_marks(all_ids)}) ORDER BY profile_id, sample_id", all_ids).fetchall():
        labels.setdefault((pid, sid), []).append((key, text, num, unit))
    locations = _Locations(store, msg, s, {r[2] for r in samples if r[2]})
    base_set = set(base_ids)
    written = 0
    for pid, sid, stack_id, values in samples:
        if pid in base_set:
            values = [-v for v in values]
        elif normalize and base_ids:
            values = [round_half_away(v * r) for v, r in zip(values, ratios)]
            if not any(values):
                continue  # pprof's ScaleN drops samples scaled to nothing
        sample = msg.sample.add(location_id=locations.of(stack_id), value=values)
        for key, text, num, unit in labels.get((pid, sid), ()):
            if text is not None:
                sample.label.add(key=s(key), str=s(text))
            else:
                sample.label.add(key=s(key), num=num, num_unit=s(unit) if unit else 0)
        if pid in base_set:
            sample.label.add(key=s("pprof::base"), str=s("true"))
        written += 1
    Path(path).write_bytes(gzip.compress(msg.SerializeToString()))
    return written


def round_half_away(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round goes to even)."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


class _Locations:
    """Stacks from stack_frames turned back into locations, functions and mappings."""

    def __init__(self, store: Store, msg, s: _Strings, stack_ids: set[int]):
        self.msg, self.s = msg, s
        self.functions: dict[tuple, int] = {}
        self.mappings: dict[str | None, int] = {}
        self.locations: dict[tuple, int] = {}
        self.stacks: dict[int, list[int]] = {0: []}
        frames: dict[int, list[tuple]] = {}
        if stack_ids:
            ids = sorted(stack_ids)
            for row in store.query(
                    f"SELECT stack_id, function, system_name, file, line, inlined, address, object_file, start_line "
                    f"FROM stack_frames WHERE stack_id IN ({id_marks(ids)}) ORDER BY stack_id, depth", ids).fetchall():
                frames.setdefault(row[0], []).append(row[1:])
        for stack_id, rows in frames.items():
            self.stacks[stack_id] = self._stack(rows)

    def of(self, stack_id: int) -> list[int]:
        return self.stacks.get(stack_id, [])

    def _stack(self, rows: list[tuple]) -> list[int]:
        out, pending = [], []
        for frame in rows:
            pending.append(frame)
            if not frame[4]:  # not inlined: this frame closes the location
                out.append(self._location(pending))
                pending = []
        if pending:
            out.append(self._location(pending))
        return out

    def _location(self, frames: list[tuple]) -> int:
        key = tuple(frames)
        lid = self.locations.get(key)
        if lid is None:
            lid = self.locations[key] = len(self.locations) + 1
            address, binary = frames[-1][5] or 0, frames[-1][6]
            loc = self.msg.location.add(id=lid, address=address, mapping_id=self._mapping(binary, frames))
            for function, system, file, line, _inl, _addr, _obj, start in frames:
                if function:
                    loc.line.add(function_id=self._function(function, system, file, start), line=line or 0)
        return lid

    def _function(self, name, system, file, start) -> int:
        key = (name, system, file, start)
        fid = self.functions.get(key)
        if fid is None:
            fid = self.functions[key] = len(self.functions) + 1
            s = self.s
            self.msg.function.add(id=fid, name=s(name), system_name=s(system or name), filename=s(file),
                                  start_line=start or 0)
        return fid

    def _mapping(self, binary: str | None, frames: list[tuple]) -> int:
        mid = self.mappings.get(binary)
        if mid is None:
            mid = self.mappings[binary] = len(self.mappings) + 1
            symbolized = any(f[0] for f in frames)
            self.msg.mapping.add(id=mid, filename=self.s(binary), has_functions=symbolized,
                                 has_filenames=symbolized, has_line_numbers=symbolized, has_inline_frames=symbolized)
        return mid
