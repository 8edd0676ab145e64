"""Chrome trace-event JSON (and what `go tool trace` serves at /jsontrace)
-> trace_files, trace_events, trace_counters.

Both containers: a bare array of events, possibly unterminated (a tracer
that died mid-write), or an object with `traceEvents` among other keys in
any order. Events are found without loading the whole file as Python
objects: the array is cut at event boundaries (``},{``) into chunks of a few
MB, and each chunk is parsed by orjson as one array. A chunk that does not
parse (a boundary inside a string, or a broken event) is read event by
event, in time linear in its size: an event is parsed up to the next
``},{``, and where that fails one forward scan (strings skipped, brackets
counted) finds where it ends, or where it is broken. A broken event is
reported with its byte offset and line and skipped, the others are kept. An
unterminated array is read up to its last complete event, as Perfetto does.

Per phase: B/E pairs on a thread are matched into one slice (the B row,
with dur_ns), an unmatched B or E is kept with an unknown duration; X keeps
its dur; C becomes one trace_counters row per series; M (names of
processes and threads) is kept with a NULL time; every other phase (i/I,
b/n/e, s/t/f, P, O, ...) is kept as written. `ts` and `dur` are
microseconds, numbers or numeric strings. Times are relative: ts 0 is
anchored to the ingest `ts` argument, else the file's mtime, and
trace_files says which.

>>> import io
>>> data = b'[{"name": "a", "ph": "B", "ts": 1, "pid": 1, "tid": 1}, {"ph": "E", "ts": 3.5, "pid": 1, "tid": 1}'
>>> [(t, b.num_rows) for t, b in parse(io.BytesIO(data))]
[('trace_events', 1), ('trace_files', 1), ('ingest_errors', 1)]
"""
from __future__ import annotations

import re
from datetime import datetime
from itertools import chain
from typing import BinaryIO, Iterator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ...db.schema import TABLES
from ...errors import ParseError
from .. import ParseOptions, dict_batch, json_number
from ...times import to_ns

CHUNK = 4 << 20
_BOUNDARY = re.compile(rb"\}\s*,\s*(?=\{)")  # between two events of the array
_EVENTS_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_WS = b" \t\r\n"
BATCH = 1 << 15


def chrome_container(head: bytes) -> str | None:
    """`array` or `object` when `head` starts a Chrome trace-event file.

    >>> chrome_container(b'[{"ph":"X","ts":1}]'), chrome_container(b'{"traceEvents": []}')
    ('array', 'object')
    """
    text = head.lstrip(b"\xef\xbb\xbf" + _WS)
    if text[:1] == b"{" and _EVENTS_KEY.search(text[:1 << 16]):
        return "object"
    if text[:1] == b"[" and re.search(rb'"ph"\s*:', text[:1 << 16]):
        return "array"
    return None


def _text(value) -> str | None:
    return None if value is None else str(value)


MAX_DUR_US = ((1 << 63) - 1) / 1000  # dur is in microseconds; trace_events.dur_ns is an int64
_EVENT_COLS = ["seq", "pid", "tid", "ph", "name", "cat", "ts_us", "dur_ns", "id", "args"]
_COUNTER_COLS = ["pid", "name", "series", "ts_us", "value"]
_SLOW_PHASES = {"B", "E", "C"}


def _texts(values: list) -> list:
    return [v if v is None or type(v) is str else str(v) for v in values]


class _Events:
    """Columns of one file's events: matching B/E, splitting counters.

    A chunk of events goes in column-wise (list comprehensions and Arrow
    conversions, no per-event Python function): only B, E and C events,
    and every event of a chunk with a value of the wrong type, take the
    per-event path, which says precisely what is wrong."""

    def __init__(self, anchor: datetime | None):
        self.anchor_ns = None if anchor is None else to_ns(anchor)
        self.ev: dict[str, list] = {c: [] for c in _EVENT_COLS}
        self.ctr: dict[str, list] = {c: [] for c in _COUNTER_COLS}
        self.errors: list[dict] = []
        self.ready: list[tuple[str, pa.RecordBatch]] = []  # batches built column-wise
        self.open: dict[tuple, list[list]] = {}  # (pid, tid) -> begun slices, as rows
        self.seq = 0
        self._line = (0, 1)  # (offset, its line): see line()

    def line(self, data: bytes, offset: int) -> int:
        """The line of `offset`, counted on from the last offset asked
        about: errors come in file order, so counting from the start of the
        file each time would make many errors quadratic."""
        at, line = self._line
        if offset >= at:
            line += data.count(b"\n", at, offset)
        else:
            line -= data.count(b"\n", offset, at)
        self._line = (offset, line)
        return line

    def add_chunk(self, evs: list, offset: int | list[int], data: bytes) -> None:
        """A chunk of parsed events, column-wise when it is well-formed;
        `offset` is the chunk's, or each event's."""
        offsets = offset if isinstance(offset, list) else [offset] * len(evs)
        try:
            if not all(type(e) is dict for e in evs):
                raise TypeError("not all objects")
            ph = [e.get("ph") for e in evs]
            if not all(type(p) is str and p for p in ph):
                raise TypeError("a phase is missing")
            ts = pa.array([e.get("ts") for e in evs], pa.float64())
            dur = pa.array([e.get("dur") for e in evs], pa.float64())
            if dur.null_count < len(dur) and not pc.max(pc.abs(dur)).as_py() <= MAX_DUR_US:
                raise TypeError("a dur past int64 nanoseconds")  # the per-event path makes it an error row
        except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
            for ev, at in zip(evs, offsets):
                self.add(ev, at, data)
            return
        base = self.seq
        self.seq += len(evs)
        slow = [i for i, p in enumerate(ph) if p in _SLOW_PHASES]
        counters = [i for i in slow if ph[i] == "C"]
        if counters and self._counters([evs[i] for i in counters], ts.take(pa.array(counters))):
            done = set(counters)
            slow = [i for i in slow if i not in done]
        keep = None
        if slow or counters:
            skip = set(slow) | set(counters)
            keep = [i for i in range(len(evs)) if i not in skip]
        picked = evs if keep is None else [evs[i] for i in keep]
        if picked:
            take = None if keep is None else pa.array(keep)
            ts_k = ts if take is None else ts.take(take)
            dur_k = dur if take is None else dur.take(take)
            dur_ns = pc.round(pc.multiply(dur_k, 1000)).cast(pa.int64())
            seq = np.arange(base, base + len(evs)) if keep is None else base + np.array(keep, dtype=np.int64)
            cols = {
                "seq": pa.array(seq, pa.int64()), "pid": _texts([e.get("pid") for e in picked]),
                "tid": _texts([e.get("tid") for e in picked]), "ph": ph if keep is None else [ph[i] for i in keep],
                "name": _texts([e.get("name") for e in picked]), "cat": _texts([e.get("cat") for e in picked]),
                "ts_us": ts_k, "dur_ns": dur_ns, "id": [_ident(e) for e in picked],
                "args": [orjson.dumps(a).decode() if a else None for a in (e.get("args") for e in picked)],
            }
            self.ready.append(("trace_events", _batch("trace_events", cols, self._absolute(ts_k))))
        for i in slow:
            self.add(evs[i], offsets[i], data, seq=base + i)

    def _counters(self, evs: list, ts: pa.Array) -> bool:
        """C events column-wise: one row per numeric series; False (nothing
        added) when a value is not a plain number, for the per-event path."""
        args = [e.get("args") or {} for e in evs]
        if not all(type(a) is dict for a in args):  # `"args": 5`: len() and .values() would raise
            return False
        lens = np.fromiter((len(a) for a in args), dtype=np.int64, count=len(args))
        try:
            values = pa.array(list(chain.from_iterable(a.values() for a in args)), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, AttributeError):
            return False
        if any(type(v) is bool for a in args for v in a.values()):
            return False
        take = pa.array(np.repeat(np.arange(len(args)), lens))
        cols = {"pid": pa.array(_texts([e.get("pid") for e in evs]), pa.string()).take(take),
                "name": pa.array(_texts([e.get("name") for e in evs]), pa.string()).take(take),
                "series": pa.array(list(chain.from_iterable(args)), pa.string()),
                "ts_us": ts.take(take), "value": values}
        self.ready.append(("trace_counters", _batch("trace_counters", cols, self._absolute(cols["ts_us"]))))
        return True

    def add(self, ev, offset: int, data: bytes, seq: int | None = None) -> None:
        if seq is None:
            seq, self.seq = self.seq, self.seq + 1
        try:
            if not isinstance(ev, dict):
                raise ValueError(f"an event must be an object, not {type(ev).__name__}")
            ph = ev.get("ph")
            if not isinstance(ph, str) or not ph:
                raise ValueError("no ph (phase)")
            ts = json_number(ev.get("ts"), "ts")
            dur = json_number(ev.get("dur"), "dur")
            if dur is not None and not abs(dur) <= MAX_DUR_US:
                raise ValueError(f"dur {dur!r} is past what int64 nanoseconds hold")
            pid, tid = _text(ev.get("pid")), _text(ev.get("tid"))
            args = ev.get("args")
            if ph == "C":
                name = _text(ev.get("name"))
                for series, value in (args or {}).items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        for col, v in zip(_COUNTER_COLS, (pid, name, series, ts, float(value))):
                            self.ctr[col].append(v)
                return
            row = [seq, pid, tid, ph, _text(ev.get("name")), _text(ev.get("cat")), ts,
                   round(dur * 1000) if dur is not None else None, _ident(ev),
                   orjson.dumps(args).decode() if args not in (None, {}) else None]
        except (ValueError, TypeError, AttributeError) as exc:
            self.errors.append(dict(line=self.line(data, offset),
                                    message=f"event {seq} at byte {offset}: {exc}; skipped",
                                    excerpt=orjson.dumps(ev).decode()[:200] if ev is not None else None))
            return
        if ph == "B":
            self.open.setdefault((pid, tid), []).append(row)
            return
        if ph == "E":
            stack = self.open.get((pid, tid))
            if stack:
                begun = stack.pop()
                if ts is not None and begun[6] is not None:
                    begun[7] = round((ts - begun[6]) * 1000)
                row = begun
        for col, v in zip(_EVENT_COLS, row):
            self.ev[col].append(v)

    def _absolute(self, ts_us) -> pa.Array:
        if self.anchor_ns is None:
            return pa.nulls(len(ts_us), pa.timestamp("us"))
        if isinstance(ts_us, (pa.Array, pa.ChunkedArray)):
            arr = ts_us.to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            arr = np.array([np.nan if t is None else t for t in ts_us], dtype=np.float64)
        mask = np.isnan(arr)
        ns = self.anchor_ns + np.round(np.where(mask, 0, arr) * 1000).astype(np.int64)
        return pa.array(ns // 1000, type=pa.timestamp("us"), mask=mask)

    def batches(self, final: bool = False) -> Iterator[tuple[str, pa.RecordBatch]]:
        ready, self.ready = self.ready, []
        yield from ready
        if final:
            for stack in self.open.values():
                for row in stack:  # begun, never ended: unknown duration
                    for col, v in zip(_EVENT_COLS, row):
                        self.ev[col].append(v)
            self.open.clear()
        if self.ev["seq"] and (final or len(self.ev["seq"]) >= BATCH):
            cols, self.ev = self.ev, {c: [] for c in _EVENT_COLS}
            yield "trace_events", _batch("trace_events", cols, self._absolute(cols["ts_us"]))
        if self.ctr["pid"] and (final or len(self.ctr["pid"]) >= BATCH):
            cols, self.ctr = self.ctr, {c: [] for c in _COUNTER_COLS}
            yield "trace_counters", _batch("trace_counters", cols, self._absolute(cols["ts_us"]))


def _ident(ev: dict):
    ident = ev.get("id", ev.get("id2", ev.get("bind_id")))
    if ident is None or type(ident) is str:
        return ident
    return orjson.dumps(ident).decode() if isinstance(ident, dict) else str(ident)


def _batch(table: str, cols: dict, ts: pa.Array) -> pa.RecordBatch:
    schema = TABLES[table].arrow_schema
    return pa.RecordBatch.from_arrays(
        [ts if f.name == "ts" else (cols[f.name].cast(f.type) if isinstance(cols[f.name], pa.Array)
                                    else pa.array(cols[f.name], type=f.type)) for f in schema], schema=schema)


def _first_event(data: bytes, start: int) -> tuple[int, bool]:
    """Offset of the first event after the array's `[` at `start`, and
    whether the array is empty (`[]`)."""
    i = start + 1
    while i < len(data) and data[i] in _WS:
        i += 1
    return i, i < len(data) and data[i:i + 1] == b"]"


# Where an event ends is found by one forward scan, never by parsing the text
# up to each `}` in turn (quadratic in the size of a damaged region): strings
# are skipped whole (a `}` or `},{` inside one is text) and brackets are
# counted. A string must be followed by `:` `,` `}` or `]` and holds no raw
# newline, so a lost or stray quote shows where it is, instead of pairing
# every later quote wrongly. `,{` inside an object, where a key must come, is
# where the next event begins after one whose `}` was lost; `},{` inside an
# array is too when the object after it is an event (it has a phase): the
# array's `]` was lost, and the events after it would be read as its items.
_TOKEN = re.compile(rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"(?=\s*[:,}\]])|[{}\[\]]|,\s*\{|"')
_QUOTE, _COMMA, _LBRACE, _RBRACE, _LBRACKET, _RBRACKET = b'",{}[]'
_LOOKBACK = 1 << 16  # a chunk ends at the last event boundary this close to its nominal end
_TAIL_TRIES = 16  # `]`s tried as the end of the array by the last chunk's fast path


def _object_end(data: bytes, pos: int) -> tuple[int | None, int | None]:
    """Scan the object starting at data[pos] (a `{`): (the offset after its
    `}`, None); or (None, where it is certainly broken); or (None, None)
    when the file ends first."""
    open_ = bytearray()  # the brackets open, innermost last
    for m in _TOKEN.finditer(data, pos):
        at = m.start()
        c = data[at]
        if c == _QUOTE:
            if m.end() - at == 1:
                return None, at  # a quote that opens no well-formed string
        elif c == _LBRACE or c == _LBRACKET:
            open_.append(c)
        elif c == _COMMA:  # `,{`
            if open_[-1] == _LBRACE or _starts_event(data, at, m.end() - 1):
                return None, m.end() - 1
            open_.append(_LBRACE)
        elif open_.pop() != (_LBRACE if c == _RBRACE else _LBRACKET):
            return None, at
        elif not open_:
            return m.end(), None
    return None, None


def _starts_event(data: bytes, comma: int, brace: int) -> bool:
    """Whether the `{` at `brace`, an item of an array inside an event,
    follows a `}` and reads as an event on its own, up to the next `},{`
    (where the next such item starts: no text is parsed twice)."""
    i = comma - 1
    while i > 0 and data[i] in _WS:
        i -= 1
    if data[i] != _RBRACE:
        return False
    nxt = _BOUNDARY.search(data, brace)
    if nxt is None:
        return False
    try:
        item = orjson.loads(data[brace:nxt.start() + 1])
    except orjson.JSONDecodeError:
        return False
    return type(item) is dict and "ph" in item


def _skip_ws(data: bytes, pos: int) -> int:
    n = len(data)
    while pos < n and data[pos] in _WS:
        pos += 1
    return pos


def _bad(data: bytes, offset: int, sink: _Events, why: str) -> None:
    sink.errors.append(dict(line=sink.line(data, offset), message=f"event at byte {offset}: {why}; skipped",
                            excerpt=data[offset:offset + 200].decode("utf-8", "replace")))
    sink.seq += 1


def _resume(data: bytes, broken: int) -> int | None:
    """Where reading goes on after damage at `broken`: there when an event
    visibly begins there, else after the next `},{` boundary (None: none)."""
    if broken < len(data) and data[broken] == _LBRACE:
        return broken
    resync = _BOUNDARY.search(data, broken)
    return None if resync is None else resync.end()


def _read_events(data: bytes, pos: int, stop: int, sink: _Events, last: bool) -> tuple[int, int | None, bool]:
    """Events one at a time from `pos`: a region the fast path could not
    parse (up to `stop`), or the array's last chunk. Text is parsed at most
    twice (the quick try below, then once its end is known) and scanned
    once, so the work is linear in the region (but for an object that never
    closes: it is scanned to the end of the file, and what follows it may be
    scanned again). A broken event is reported and reading resumes at the
    next one. Returns where the next chunk starts (an event may run past
    `stop` when a chunk was cut inside a string) and, in the last chunk, the
    offset of the array's `]` (None if the file ends first) and whether the
    array ended cleanly."""
    n = len(data)
    good: list = []  # parsed events not yet in the sink, with their offsets: they go
    offsets: list[int] = []  # in column-wise, in runs between the broken ones, keeping their order

    def flush() -> None:
        nonlocal good, offsets
        if good:
            sink.add_chunk(good, offsets, data)
            good, offsets = [], []

    close, complete = None, False
    quick_from = pos  # the quick try failed on the text before this: no second try there
    while True:
        pos = _skip_ws(data, pos)
        if pos >= n or (not last and pos >= stop):
            break
        if last and data[pos] == _RBRACKET:
            close, complete = pos, True
            break
        if pos >= quick_from and data[pos] == _LBRACE:
            # Quick try: most events end at the next `},{`, found by one regex
            # search (in C), where scanning token by token in Python is slower.
            nxt = _BOUNDARY.search(data, pos)
            if nxt is not None:
                try:
                    good.append(orjson.loads(data[pos:nxt.start() + 1]))
                except orjson.JSONDecodeError:
                    pass
                else:
                    offsets.append(pos)
                    pos = nxt.end()
                    continue
            quick_from = n if nxt is None else nxt.end()
        end, broken = _object_end(data, pos) if data[pos] == _LBRACE else (None, None)
        if end is None:
            if last and _BOUNDARY.search(data, pos) is None and data.find(b"]", pos) < 0:
                break  # the last event was cut short
            flush()
            _bad(data, pos, sink, "not a complete JSON object" if data[pos] == _LBRACE else "not a JSON object")
            pos = _resume(data, pos + 1 if broken is None else broken)  # past pos: no loop
            if pos is None:  # no event after it: nothing more is read (and the caller moves on)
                pos = n
                break
            continue
        try:
            good.append(orjson.loads(data[pos:end]))
            offsets.append(pos)
        except orjson.JSONDecodeError:
            flush()
            _bad(data, pos, sink, "not valid JSON")
        pos = _skip_ws(data, end)
        if pos < n and data[pos] == _COMMA:
            pos += 1
        elif pos < n and last and data[pos] == _RBRACKET:
            close, complete = pos, True
            break
        elif pos < n and (last or pos < stop):
            flush()
            _bad(data, pos, sink, "expected `,` or `]` after an event")
            pos = _resume(data, pos)
            if pos is None:
                pos = n
                break
    flush()
    return pos, close, complete


def _whole_tail(data: bytes, pos: int, sink: _Events) -> int | None:
    """Fast path for the last chunk of a well-formed file: the events up to
    one of the last `]`s parse as one array; that `]` closes it."""
    close = len(data)
    for _ in range(_TAIL_TRIES):
        close = data.rfind(b"]", pos, close)
        if close < 0:
            return None
        try:
            events = orjson.loads(b"[" + data[pos:close] + b"]")
        except orjson.JSONDecodeError as exc:
            # Any later `]` gives the same text up to the error, and the same
            # error: only a `]` before it can close the array. exc.pos counts
            # characters, not bytes: after non-ASCII text the right `]` may be
            # passed over, and the slow path reads the chunk instead.
            close = min(close, pos + exc.pos)
            continue
        sink.add_chunk(events, pos, data)
        return close
    return None


def _events(data: bytes, pos: int, sink: _Events):
    """Feed every event of the array from `pos` to `sink`, yielding its full
    batches; return the offset of the array's closing bracket (None when it
    is missing) and whether the array ended cleanly."""
    n = len(data)
    while True:
        cut = None
        if n - pos > CHUNK:  # the chunk ends at the last boundary near its nominal end
            end = pos + CHUNK
            for cut in _BOUNDARY.finditer(data, max(pos, end - _LOOKBACK), end):
                pass
            if cut is None:
                for cut in _BOUNDARY.finditer(data, pos, end):
                    pass
            if cut is None:  # one event bigger than a chunk: the chunk grows to its end
                cut = _BOUNDARY.search(data, end)
        if cut is None:  # the last chunk: events, then `]` (and the object's other keys), or the file ends
            close = _whole_tail(data, pos, sink)
            if close is not None:
                yield from sink.batches()
                return close, True
            _, close, complete = _read_events(data, pos, n, sink, last=True)
            yield from sink.batches()
            return close, complete
        stop = cut.start() + 1
        try:
            sink.add_chunk(orjson.loads(b"[" + data[pos:stop] + b"]"), pos, data)
            pos = cut.end()
        except orjson.JSONDecodeError:
            pos = _read_events(data, pos, stop, sink, last=False)[0]
        yield from sink.batches()


def parse(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Parse one Chrome trace-event file (already decompressed)."""
    opt = options or ParseOptions()
    data = bytearray()  # grown in place: joining chunks would hold the file twice
    while chunk := stream.read(1 << 22):
        data += chunk
    body = data[:1 << 16].lstrip(b"\xef\xbb\xbf" + _WS)
    skipped = min(len(data), 1 << 16) - len(body)
    if body[:1] == b"[":
        container, array_at = "array", skipped
    elif body[:1] == b"{":
        m = _EVENTS_KEY.search(data)
        if m is None:
            raise ParseError("a JSON object without traceEvents: not a Chrome trace")
        container, array_at = "object", m.end() - 1
    else:
        raise ParseError("not a Chrome trace: expected a JSON array or an object with traceEvents")
    anchor, ts_source = (opt.ts, "argument") if opt.ts is not None else opt.file_time()
    sink = _Events(anchor)
    first, empty = _first_event(data, array_at)
    close, complete = (first, True) if empty else (None, False)
    if not empty:
        close, complete = yield from _events(data, first, sink)
    metadata = unit = None
    if container == "object" and close is not None:
        try:
            doc = orjson.loads(data[:array_at] + b"[]" + data[close + 1:])
            unit = doc.pop("displayTimeUnit", None)
            doc.pop("traceEvents", None)
            metadata = orjson.dumps(doc).decode() if doc else None
        except (orjson.JSONDecodeError, AttributeError):
            complete = False
    if not complete:
        sink.errors.append(dict(line=data.count(b"\n") + 1, message=(
            f"the trace ends before its event array does (cut short?): read the {sink.seq} complete events"),
            excerpt=data[-200:].decode("utf-8", "replace")))
    yield from sink.batches(final=True)
    yield "trace_files", dict_batch("trace_files", [dict(
        anchor=anchor, ts_source=ts_source, display_time_unit=_text(unit), container=container, complete=complete,
        events=sink.seq, metadata=metadata)])
    if sink.errors:
        yield "ingest_errors", dict_batch("ingest_errors", sink.errors)
