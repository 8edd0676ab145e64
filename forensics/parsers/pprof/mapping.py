"""Memory maps: the mappings (binary, libraries) that legacy profiles end with.

After ``MAPPED_LIBRARIES:`` or ``--- Memory map: ---``, legacy text and
binary profiles list the process's /proc/self/maps; each location gets the
mapping its address falls in, as pprof's ParseMemoryMap, massageMappings and
remapMappingIDs do (profile/legacy_profile.go), so unsymbolized frames show
as ``[binary]`` in reports as they do in pprof. Used by the text and legacy
readers alike, below both.

>>> [(hex(m.start), m.file) for m in parse_memory_map(["00400000-00452000 r-xp 00000000 08:02 173521 /app/server"])]
[('0x400000', '/app/server')]
"""
from __future__ import annotations

from dataclasses import dataclass

import regex

# profile/legacy_profile.go: procMapsRE, briefMapsRE, logInfoRE.
_HEX_RANGE = r"\s*(?:0x)?([[:xdigit:]]+)[\s-]?\s*(?:0x)?([[:xdigit:]]+):?"
_PERM = r"(?:\s+([-rwxp]+))?"
PROC_MAPS = regex.compile(r"^" + _HEX_RANGE + _PERM + r"(?:\s+([[:xdigit:]]+))?\s+[[:xdigit:]]+:[[:xdigit:]]+"
                          r"\s+[[:digit:]]+(?:\s+(\S+))?")
BRIEF_MAPS = regex.compile(r"^" + _HEX_RANGE + _PERM + r"(?:\s+(\S+))?(?:\s+\(@([[:xdigit:]]+)\))?"
                           r"(?:\s+([[:xdigit:]]+))?")
LOG_PREFIX = regex.compile(r"^[^\[\]]+:[0-9]+]\s")
MEMORY_MAP = ("--- Memory map: ---", "MAPPED_LIBRARIES:")  # pprof memoryMapSentinels
_LIB = regex.compile(r"([.]so$|[.]so[._][0-9]+)")


def is_memory_map_sentinel(line: str) -> bool:
    return any(s in line for s in MEMORY_MAP)


@dataclass
class Mapping:
    start: int
    limit: int
    offset: int = 0
    file: str = ""
    build_id: str = ""


def parse_memory_map(lines: list[str]) -> list[Mapping]:
    """Executable mappings of /proc/self/maps-like lines (pprof
    parseProcMapsFromScanner: `name=value` lines define $name for later
    lines; other unrecognised lines are skipped)."""
    out, attrs = [], []
    for raw in lines:
        line = raw
        for name, value in attrs:
            line = line.replace(name, value)
        m = LOG_PREFIX.match(line)
        if m:
            line = line[m.end():]
        mapping = _mapping_entry(line)
        if mapping is False:
            name, eq, value = line.partition("=")
            if eq:
                attrs.append(("$" + name.strip(), value.strip()))
            continue
        if mapping is not None:
            out.append(mapping)
    return _massage(out)


def _mapping_entry(line: str):
    """A Mapping, None for a non-executable one, False when not a mapping line."""
    m = PROC_MAPS.match(line)
    if m:
        start, end, perm, offset, file, build_id = m.group(1, 2, 3, 4, 5) + ("",)
    else:
        m = BRIEF_MAPS.match(line)
        if not m:
            return False
        start, end, perm, file, offset, build_id = m.group(1, 2, 3, 4, 5, 6)
    if perm and "x" not in perm:
        return None
    try:
        return Mapping(int(start, 16), int(end, 16), int(offset, 16) if offset else 0, file or "", build_id or "")
    except ValueError:
        return False


def _massage(mappings: list[Mapping]) -> list[Mapping]:
    """pprof massageMappings: merge split regions, main binary first."""
    merged: list[Mapping] = []
    for m in mappings:
        last = merged[-1] if merged else None
        if last is not None and _adjacent(last, m):
            last.limit = m.limit
            last.file = m.file or last.file
            last.build_id = m.build_id or last.build_id
            continue
        merged.append(m)
    for i, m in enumerate(merged):
        file = m.file.replace("(deleted)", "").strip()
        if file and not _LIB.search(file) and not file.startswith("["):
            merged[0], merged[i] = merged[i], merged[0]
            break
    return merged


def _adjacent(a: Mapping, b: Mapping) -> bool:
    if a.file and b.file and a.file != b.file:
        return False
    if a.build_id and b.build_id and a.build_id != b.build_id:
        return False
    if a.limit != b.start:
        return False
    return not (a.offset and b.offset and a.offset + (a.limit - a.start) != b.offset)


def assign_mappings(builder, mappings: list[Mapping]) -> None:
    """Give each location of `builder` its mapping by address (pprof
    remapMappingIDs, fake mapping included) and add the mappings."""
    if mappings and mappings[0].file.startswith("/anon_hugepage") and len(mappings) > 1 \
            and mappings[0].limit == mappings[1].start:
        mappings = mappings[1:]
    if mappings and mappings[0].start - mappings[0].offset == 0x400000:
        mappings[0].start, mappings[0].offset = 0x400000, 0
    fake = None
    owner: list[int | None] = []
    for loc in builder.msg.location:
        a, found = loc.address, None
        if a:
            found = next((i for i, m in enumerate(mappings) if m.start <= a < m.limit), None)
            if found is None:
                for i, m in enumerate(mappings):
                    if m.offset and m.start - m.offset <= a < m.start:
                        m.start, m.offset, found = m.start - m.offset, 0, i
                        break
            if found is None:
                if fake is None:
                    mappings = mappings + [Mapping(0, (1 << 64) - 1)]
                    fake = len(mappings) - 1
                found = fake
        owner.append(found)
    for i, m in enumerate(mappings):
        builder.msg.mapping.add(id=i + 1, memory_start=m.start, memory_limit=m.limit, file_offset=m.offset,
                                filename=builder.s(m.file), build_id=builder.s(m.build_id))
    for loc, i in zip(builder.msg.location, owner):
        if i is not None:
            loc.mapping_id = i + 1
