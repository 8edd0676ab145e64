"""Reading release records within bounds: every reader here streams, or stops at its format's bound.

Deploy records, go.sum and build info are read line by line
(:func:`numbered_lines`), Kubernetes events one element of ``items`` at a
time (:class:`ArrayItems`); memory stays bounded by a chunk and one record
whatever the input's size. Each format also has a size bound far past any
real file of its kind: a file over it (a decompression bomb, a log named
``deploys.csv``) stops with :class:`~forensics.errors.LimitExceeded` naming
the bound and the line reached; what was read before it is kept.

- :data:`DEPLOYS_MAX`, 64 MiB: a deploy record is one line of about 100
  bytes per deploy, so 64 MiB is over 600,000 deploys, more than a thousand
  a day for over a year; an incident needs the deploys of its window.
- :data:`K8S_EVENTS_MAX`, 256 MiB: ``kubectl get events -o json`` writes
  about 1.3 KB per event and the API server keeps events for an hour
  (``--event-ttl``), so 256 MiB is some 200,000 events of one hour.
  :data:`K8S_EVENT_MAX`, 4 MiB, bounds one event: the API server stores no
  object over etcd's request limit, 1.5 MiB by default.
- :data:`BUILDINFO_MAX`, 64 MiB: ``go version -m`` prints 10 to 50 KB per
  binary, so this is over a thousand binaries in one file.
- :data:`GO_MOD_MAX`, 16 MiB: the go command's own bound on a go.mod
  (``MaxGoMod`` in cmd/go's modfetch/codehost and x/mod/zip); real ones are a few KB.
- :data:`GO_SUM_MAX`, 32 MiB: two lines of about 90 bytes per module
  version, so over 180,000 module versions; Kubernetes' go.sum is 100 KB.

Problems are kept up to :data:`MAX_PROBLEMS` rows (then one row counting
the rest), so a file of bad lines costs no more memory than a good one.
"""
from __future__ import annotations

import re
from typing import BinaryIO, Callable, Iterator, NamedTuple

import pyarrow as pa

from ...errors import ForensicsError, LimitExceeded
from .. import dict_batch, excerpt, line_batches

MiB = 1 << 20
DEPLOYS_MAX = 64 * MiB
K8S_EVENTS_MAX = 256 * MiB
K8S_EVENT_MAX = 4 * MiB
BUILDINFO_MAX = 64 * MiB
GO_MOD_MAX = 16 * MiB
GO_SUM_MAX = 32 * MiB
BATCH = 8192  # rows per yielded batch: a few MB of Python rows at a time
MAX_PROBLEMS = 1000
READ_CHUNK = 1 << 20  # bytes of a JSON array read at a time: its elements are decoded a chunk at a time


class Capped:
    """A read-only stream that raises LimitExceeded with `too_large` once more than `limit` bytes were read.

    >>> import io
    >>> s = Capped(io.BytesIO(b"abcdef"), 4, "too large for a test file (over 4 bytes)")
    >>> s.read(3)
    b'abc'
    >>> s.read(3)
    Traceback (most recent call last):
    forensics.errors.LimitExceeded: too large for a test file (over 4 bytes)
    """

    def __init__(self, stream: BinaryIO, limit: int, too_large: str):
        self.stream, self.limit, self.too_large, self.count = stream, limit, too_large, 0

    def read(self, n: int = -1) -> bytes:
        room = self.limit + 1 - self.count  # one byte past the bound tells a file of exactly `limit` bytes apart
        data = self.stream.read(room if n is None or n < 0 else min(n, room))
        self.count += len(data)
        if self.count > self.limit:
            raise LimitExceeded(self.too_large)
        return data


def too_large(what: str, limit: int, advice: str) -> str:
    """The message of a file over its format's bound.

    >>> too_large("a go.mod", GO_MOD_MAX, "the go command reads none so large")
    'too large for a go.mod (over 16 MiB); the go command reads none so large'
    """
    return f"too large for {what} (over {limit // MiB} MiB); {advice}"


def at_line(exc: ForensicsError, line: int) -> ForensicsError:
    """`exc` saying the line it stopped reading at (as ingest_errors.line), unless it says one already."""
    if getattr(exc, "line", None) is None:
        exc.line = line
    return exc


def numbered_lines(stream: BinaryIO, limit: int, too_large_message: str,
                   on_long_line: Callable[[int, int], None]) -> Iterator[tuple[int, str]]:
    """(line number, line) of a text stream, decoded as :func:`forensics.parsers.line_batches`
    decodes it (lines cut at MAX_LINE), stopping with LimitExceeded past `limit` bytes.
    A read that fails (the bound, corrupt compression) says the line it stopped at."""
    n = 0
    try:
        for lines in line_batches(Capped(stream, limit, too_large_message), on_long_line):
            for line in lines:
                n += 1
                yield n, line
    except ForensicsError as exc:
        raise at_line(exc, n + 1) from None


class Problems:
    """ingest_errors rows, the first MAX_PROBLEMS of them kept and the rest counted."""

    def __init__(self, cap: int = MAX_PROBLEMS):
        self.cap, self.rows, self.more = cap, [], 0

    def add(self, line: int | None, message: str, text: str | None = None) -> None:
        if len(self.rows) < self.cap:
            self.rows.append(dict(line=line, message=message, excerpt=excerpt(text) if text is not None else None))
        else:
            self.more += 1

    def batches(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        """The rows (and one counting those left out), once; then nothing until more are added."""
        rows, self.rows = self.rows, []
        if self.more:
            rows.append(dict(line=None, message=f"{self.more} more problems like those above: only the first "
                                                f"{self.cap} are recorded", excerpt=None))
            self.more = 0
        if rows:
            yield "ingest_errors", dict_batch("ingest_errors", rows)


def short(value, n: int = 40) -> str:
    """A field's value for a message: its repr, cut, with its length when cut.

    >>> short("1" * 10_000), short("v1.2.3")
    ("'111111111111111111111111111111111111111… (10000 characters)", "'v1.2.3'")
    """
    try:
        text = repr(value)
    except ValueError:  # an int over sys.get_int_max_str_digits()
        return f"a number of {value.bit_length()} bits"
    if len(text) <= n:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[:n] + "…" + size


class Item(NamedTuple):
    """One element of a streamed JSON array: its index, the line it starts at, and its bytes."""

    index: int
    line: int
    raw: bytes


# A JSON string (escapes included), or a bracket; a lone quote is a string the buffer cut.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|["\[\]{}]', re.S)
# What comes up to the next bracket, strings skipped whole (unrolled: no nested quantifier
# backtracks); no match when the buffer ends first.
_NEXT_BRACKET = re.compile(rb'[^"\[\]{}]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"\[\]{}]*)*([\[\]{}])', re.S)
_GAP = re.compile(rb"\s*,?\s*\Z")
_WS = re.compile(rb"[\s\xef\xbb\xbf]*")  # whitespace and a UTF-8 byte order mark
_LOOKAHEAD = 64  # bytes after a key that say whether its value is the array
_ARRAY_VALUE = re.compile(rb"\s*:\s*\[")


class ArrayItems:
    """The elements of a JSON document's array, streamed: the document itself
    when it is an array, else the array under top-level `key`. Each element is
    cut out by its brackets (strings skipped whole) and handed over as bytes,
    in lists (one per chunk read) of :class:`Item`; no document is parsed
    whole, so memory is a chunk and one element, whatever the size.

    An element over `max_item` bytes is skipped with a problem; the reading
    stops at the end of the array. ``problems`` collects (line, message,
    excerpt) of what is not an element (a document cut short, junk between
    elements); ``found`` stays False for a document with no such array.

    >>> import io
    >>> doc = b'{"kind": "EventList", "items": [\\n {"a": "]"},\\n {"b": [1, {}]}\\n], "metadata": {}}'
    >>> [(i.index, i.line, i.raw) for batch in ArrayItems(io.BytesIO(doc), "items") for i in batch]
    [(0, 2, b'{"a": "]"}'), (1, 3, b'{"b": [1, {}]}')]
    """

    def __init__(self, stream: BinaryIO, key: str, max_item: int = K8S_EVENT_MAX, chunk: int = READ_CHUNK):
        self.stream, self.key, self.max_item, self.chunk, self.what = stream, key.encode(), max_item, chunk, key
        self.problems: list[tuple[int | None, str, str | None]] = []
        self.found = False  # the array was reached
        self.line = 1  # where the reading is (the line a failed read stopped at)

    def __iter__(self) -> Iterator[list[Item]]:
        buf, pos = b"", 0  # what is kept of the input; where the next token is looked for
        base_line, nl_pos, nl_count = 0, 0, 0  # newlines before buf; a cursor: newlines in buf[:nl_pos]
        mode, depth, items_depth = "start", 0, 0  # start, seek (the key), items (between elements), item, done
        start, gap, index = None, 0, 0  # the open element's offset (None: skipped), where the bytes since the
        key = b'"' + self.key + b'"'    # last element began, the next element's index

        def line_at(off: int) -> int:
            nonlocal nl_pos, nl_count
            if off >= nl_pos:
                nl_count += buf.count(b"\n", nl_pos, off)
            else:
                nl_count -= buf.count(b"\n", off, nl_pos)
            nl_pos = off
            return base_line + nl_count + 1

        while True:
            cut = start if mode == "item" and start is not None else gap if mode == "items" else pos
            line_at(cut)
            base_line += nl_count
            buf, pos, gap = buf[cut:], pos - cut, max(gap - cut, 0)
            start = start - cut if start is not None else None
            nl_pos = nl_count = 0
            data = self.stream.read(self.chunk)
            final = not data
            buf += data
            if mode == "start":
                pos = _WS.match(buf).end()
                if pos == len(buf):
                    if final:
                        break
                    pos = 0
                    continue
                top = buf[pos:pos + 1]
                if top not in (b"[", b"{"):
                    break
                mode, depth, items_depth = ("items", 1, 1) if top == b"[" else ("seek", 1, 0)
                self.found = mode == "items"
                pos = gap = pos + 1
            out: list[Item] = []
            while mode == "seek":  # strings one by one, for the key at depth 1
                m = _TOKEN.search(buf, pos)
                if m is None:
                    pos = len(buf)
                    break
                tok = m.group()
                if tok == b'"' or (tok == key and not final and len(buf) - m.end() < _LOOKAHEAD):
                    pos = m.start()  # a string the chunk cut, or a key whose value is not read yet
                    break
                pos = m.end()
                if tok in b"{[":
                    depth += 1
                elif tok in b"}]":
                    depth -= 1
                    if depth == 0:
                        mode = "done"
                elif depth == 1 and tok == key and (value := _ARRAY_VALUE.match(buf, pos)):
                    mode, depth, items_depth, self.found = "items", 2, 2, True
                    pos = gap = value.end()
            while mode in ("items", "item"):  # bracket to bracket, strings skipped whole
                m = _NEXT_BRACKET.match(buf, pos)
                if m is None:
                    break  # no bracket in what is read yet (or a string the chunk cut)
                pos = m.end()
                tok = m.group(1)
                if mode == "item":
                    if tok in b"{[":
                        depth += 1
                    else:
                        depth -= 1
                        if depth == items_depth:
                            if start is not None:
                                out.append(Item(index, line_at(start), buf[start:pos]))
                            mode, start, gap, index = "items", None, pos, index + 1
                    continue
                self._junk(buf[gap:pos - 1], line_at(gap), index)
                if tok in b"{[":
                    mode, start, depth = "item", pos - 1, depth + 1
                    line_at(start)
                else:
                    mode = "done"
            if mode == "item" and start is not None and len(buf) - start > self.max_item:
                self.problems.append((line_at(start), f"{self.what}[{index}]: over {self.max_item // MiB} MiB, "
                                      "skipped", excerpt(buf[start:start + 200].decode("utf-8", "replace"))))
                start = None
            elif mode == "items" and len(buf) - gap > self.max_item:
                self._junk(buf[gap:gap + 200], line_at(gap), index)
                mode = "done"
            self.line = line_at(pos)
            if out:
                yield out
            if final or mode == "done":
                break
        if mode == "item":
            self.problems.append((line_at(start) if start is not None else None,
                                  f"{self.what}[{index}]: the file ends inside it (cut short?)", None))
        elif mode == "items":
            self.problems.append((line_at(len(buf)), "the file ends inside the array (cut short?)", None))

    def _junk(self, between: bytes, line: int, index: int) -> None:
        if not _GAP.match(between):
            self.problems.append((line, f"{self.what}[{index}]: expected an object here",
                                  excerpt(between.strip().decode("utf-8", "replace"))))
