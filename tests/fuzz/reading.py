"""What a source's reading holds, line by line, and what a mutation must have left of it.

A reading is, per kind of record, the records' keys with the block of lines each one rests on:

- goroutines: ``(goroutine id, state, frames' functions)``, resting on their header line up to the
  line before the next goroutine of the dump (the last one, up to the dump's end); the first one
  also on its dump's preamble (a damaged ``panic:`` or ``SIGQUIT:`` line may change the dump); a
  race report's, on the whole report (they are read from its sections together);
- log records: ``message``, resting on their first line up to the line before the next record
  (continuation lines, and any dump cut out of the log, count as theirs);
- spans of JSON lines: ``(trace id, span id, name)``, resting on their line.

:func:`lost` takes the clean reading and the lines a mutation touched, widened by one line on each
side (a deleted newline joins a line to the next; a damaged line may be read as the previous
one's continuation), and returns the records resting wholly outside that are missing from the
mutated reading (compared as multisets: a record may appear several times).
"""
from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path

from .mutate import INF, Mutation

Item = tuple[tuple, int, int]  # key, first line, last line
Reading = dict[str, list[Item]]


def reading(con, source_id: int) -> Reading:
    """The goroutines, log records and spans of one source, with the lines each rests on."""
    out: Reading = {"goroutines": [], "logs": [], "spans": []}
    rows = con.execute(
        """
        SELECT d.dump_id, d.start_line, d.end_line, d.kind = 'race', g.goroutine_id, g.state, g.line,
               list(f.function ORDER BY f.depth) FILTER (WHERE f.function IS NOT NULL)
        FROM dumps d JOIN goroutines g ON g.dump_id = d.dump_id
        LEFT JOIN frames f ON f.dump_id = g.dump_id AND f.goroutine_seq = g.seq
        WHERE d.source_id = ?
        GROUP BY d.dump_id, d.start_line, d.end_line, d.kind, g.seq, g.goroutine_id, g.state, g.line
        ORDER BY d.dump_id, g.line NULLS LAST, g.seq
        """, [source_id]).fetchall()
    by_dump: dict[int, list] = {}
    for r in rows:
        by_dump.setdefault(r[0], []).append(r)
    for gs in by_dump.values():
        for i, (_, start, end, race, gid, state, line, funcs) in enumerate(gs):
            key = (gid, state, tuple(funcs or ()))
            if line is None:
                out["goroutines"].append((key, 1, INF))
                continue
            if race:  # a race report's goroutines are its sections: each rests on the whole report
                out["goroutines"].append((key, start or 1, end or INF))
                continue
            first = min(start, line) if (i == 0 and start is not None) else line
            nxt = gs[i + 1][6] if i + 1 < len(gs) else None
            last = nxt - 1 if nxt is not None else (end if end is not None else INF)
            out["goroutines"].append((key, first, max(first, last)))
    out["logs"] = _blocks(con.execute("SELECT line, message FROM logs WHERE source_id = ? ORDER BY line NULLS LAST",
                                      [source_id]).fetchall())
    spans = con.execute("SELECT line, trace_id, span_id, name FROM spans WHERE source_id = ?", [source_id]).fetchall()
    out["spans"] = [((t, s, n), line or 1, line or INF) for line, t, s, n in spans]
    return out


def _blocks(rows: list[tuple]) -> list[Item]:
    items = []
    for i, (line, *key) in enumerate(rows):
        if line is None:
            items.append((tuple(key), 1, INF))
            continue
        nxt = next((r[0] for r in rows[i + 1:] if r[0] is not None and r[0] > line), None)
        items.append((tuple(key), line, nxt - 1 if nxt is not None else INF))
    return items


def outside(items: list[Item], lo: int, hi: int) -> Counter:
    return Counter(key for key, first, last in items if last < lo or first > hi)


def lost(clean: Reading, m: Mutation, got: Reading, partner: Reading | None = None) -> dict[str, list]:
    """Per kind, the records wholly outside the mutated lines (one line of margin) that are gone."""
    a, b = m.touched or (1, INF)
    missing = {}
    for kind, items in clean.items():
        want = outside(items, a - 1, b + 1 if b < INF else INF)
        if partner is not None and m.tail is not None:
            want += outside(partner.get(kind, []), -1, m.tail[1] + 1)
        have = Counter(key for key, _, _ in got.get(kind, []))
        gone = want - have
        if gone:
            missing[kind] = sorted(gone.elements(), key=repr)
    return missing


def show_key(kind: str, key: tuple) -> str:
    if kind == "goroutines":
        gid, state, funcs = key
        return f"goroutine {gid} [{state}] {' < '.join(funcs[:3])}{' ...' if len(funcs) > 3 else ''}"
    return repr(key)[:160]


# --- a source's bytes, as forensics would have read them (for the Go evidence check) ------------

CAP = 64 << 20


def decompress(data: bytes) -> bytes:
    """gzip, bzip2 or xz undone as far as the data allows (best effort, bounded)."""
    if data[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(47)
    elif data[:3] == b"BZh":
        d = bz2.BZ2Decompressor()
    elif data[:6] == b"\xfd7zXZ\x00":
        d = lzma.LZMADecompressor()
    else:
        return data
    try:
        return d.decompress(data, CAP)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError):
        return b""


def member_bytes(archive: bytes, member: str) -> bytes | None:
    try:
        if archive[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(archive)) as z:
                return z.read(member)
        with tarfile.open(fileobj=io.BytesIO(decompress(archive)), ignore_zeros=True) as tf:
            f = tf.extractfile(tf.getmember(member))
            return f.read(CAP) if f else None
    except Exception:  # noqa: BLE001 - best effort: a damaged archive's member may not be found
        return None


def content_of(name: str) -> bytes | None:
    """The decompressed bytes a source name stands for: a file, or `archive!member!member`; None
    when not a regular file or not found."""
    parts = name.split("!")
    path = Path(parts[0])
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            data = f.read(CAP)
    except OSError:
        return None
    for member in parts[1:]:
        data = member_bytes(data, member)
        if data is None:
            return None
    return decompress(data)
