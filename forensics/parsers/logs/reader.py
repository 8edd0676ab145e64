"""Logs -> logs, log_files, and the dumps found in them.

Framings, detected from the first lines (:func:`.framing.log_framing`):

- ``cri``: the kubelet's container log files, written by containerd or
  CRI-O: ``<RFC 3339 nano> <stdout|stderr> <F|P> <line>``; P (partial)
  records are joined to the next F record of the same stream;
- ``docker``: Docker's json-file driver, ``{"log", "stream", "time"}`` per
  record, a record without its trailing newline continued by the next;
- ``journald``: ``journalctl -o json``, ``__REALTIME_TIMESTAMP`` (µs),
  ``MESSAGE``, ``PRIORITY``, ``_SYSTEMD_UNIT``;
- ``plain``: lines of JSON, logfmt, Go's log package, klog or RFC 3339-led
  text (see :mod:`.payloads`).

Two passes, so memory stays bounded whatever the size:

1. Framing and JSON payloads go straight to ``logs`` rows. Every other
   payload line is written to a temporary file, with its runtime time in
   front (``<RFC 3339> <line>``, the prefix the dump reader strips) and its
   line number kept aside.
2. The dump reader (:mod:`forensics.parsers.dumps.scanner`) reads that file: panics and goroutine
   dumps on stderr, one log record per line, become dumps with the time of
   their first line and the log's service and pod; their line numbers are
   mapped back to the source's. The lines outside dumps become ``logs``
   rows (logfmt, Go log, klog or plain text).

>>> import io
>>> cri = (b'2026-03-14T11:07:03.1Z stdout F {"level":"error","ts":1773486423.1,"msg":"lease lost"}\\n'
...        b'2026-03-14T11:07:03.2Z stderr F panic: boom\\n2026-03-14T11:07:03.2Z stderr F \\n'
...        b'2026-03-14T11:07:03.2Z stderr F goroutine 1 [running]:\\n'
...        b'2026-03-14T11:07:03.2Z stderr F main.main()\\n'
...        b'2026-03-14T11:07:03.2Z stderr F \\t/app/main.go:5 +0x1d\\n')
>>> out = {}
>>> for table, batch in parse(io.BytesIO(cri)):
...     out.setdefault(table, []).extend(batch.to_pylist())
>>> [(r["level"], r["message"]) for r in out["logs"]], [(d["kind"], d["start_line"]) for d in out["dumps"]]
([('error', 'lease lost')], [('panic', 2)])
"""
from __future__ import annotations

import tempfile
from array import array
from datetime import datetime
from typing import BinaryIO, Iterator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ...db.schema import TABLES
from ...errors import ForensicsError
from ...times import from_ns, rfc3339_ns, rfc3339_text, to_ns
from .. import CHUNK, MAX_LINE, ParseOptions, excerpt, line_batches
from ..dumps import scanner
from ..dumps.patterns import FATAL_PREFIX, PANIC_PREFIX
from . import reader_columnar
from .framing import CRI_LINE, HUGE_NUMBER, is_record, json_record, log_framing
from .payloads import (LEVELS, MAX_NS, PRIORITIES, json_fields, kubernetes_identity,
                       level_of, parse_plain)

BATCH = 65_536
STREAMS = {"stdout": 1, "stderr": 2}
FRAMINGS = ("cri", "docker", "journald", "plain")
STREAM_NAMES = [None, "stdout", "stderr"]
# dump scanner columns holding line numbers of its input (frames.line is a source code line)
_LINE_COLUMNS = {"dumps": ("start_line", "end_line"), "goroutines": ("line",), "ingest_errors": ("line",)}


class _Logs:
    """logs rows as tuples (transposed once per batch); times as RFC 3339
    strings (runtime times, converted in bulk by Arrow) or nanoseconds
    (parsed payload times). Row: ts_text, ts_ns, service, stream, level,
    message, attributes, format, line."""

    def __init__(self, opt: ParseOptions, identity: dict):
        self.opt, self.identity = opt, identity
        self.service = opt.service or identity.get("container")
        self.rows: list[tuple] = []
        # Whole-JSON CRI records found column-wise (reader_columnar): (ts, stream, text, line) arrays.
        self.json_parts: list[tuple[pa.Array, ...]] = []
        self.json_count = 0
        self.records, self.first_ns, self.last_ns = 0, None, None
        self.errors: list[tuple] = []  # (line, message, excerpt): times past what the ts column holds

    def add_json(self, ts: pa.Array, stream: pa.Array, text: pa.Array, line: pa.Array) -> None:
        self.json_parts.append((ts, stream, text, line))
        self.json_count += len(line)

    def add(self, ts_text, ts_ns, stream, level, message, attributes, fmt, line, service=None) -> None:
        self.rows.append((ts_text, ts_ns, service, stream, level, message, attributes, fmt, line))

    def __len__(self) -> int:
        return len(self.rows) + self.json_count

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self.json_parts:
            yield from self._json_batches()
        if self.rows:
            rows, self.rows = self.rows, []
            yield self._batch(*zip(*rows))

    def _json_batches(self) -> Iterator[pa.RecordBatch]:
        parts, self.json_parts, self.json_count = self.json_parts, [], 0
        ts, stream, text, line = (pa.concat_arrays([p[i] for p in parts]) for i in range(4))
        fields = reader_columnar.json_fields(text)
        if fields is None:  # not all plain objects with string fields: one by one
            for t, st, tx, ln in zip(ts.to_pylist(), stream.to_pylist(), text.to_pylist(), line.to_pylist()):
                obj, tx = json_record(tx)
                if type(obj) is dict:
                    self.rows.append((t, None, None, st, _level(obj), _message(obj), tx, "json", ln))
                else:  # looked like JSON, is not: a plain line
                    self.rows.append((t, None, None, st, None, tx, None, "text", ln))
            return
        level, message = fields
        n = len(line)
        yield self._batch(ts, None, None, _dictionary(stream), level, message, text, _constant("json", n), line)

    def _batch(self, ts_text, ts_ns, service, stream, level, message, attributes, fmt, line) -> pa.RecordBatch:
        n = len(line)
        if ts_ns is not None and any(t is not None and not -MAX_NS <= t <= MAX_NS for t in ts_ns):
            ts_ns = [t if t is None or -MAX_NS <= t <= MAX_NS else None for t in ts_ns]
        ns = pa.array(ts_ns, pa.int64()) if ts_ns is not None else pa.nulls(n, pa.int64())
        if isinstance(ts_text, pa.Array) or any(t is not None for t in ts_text):
            ns = pc.coalesce(_rfc3339_column(ts_text, line, self.errors), ns)
        if self.opt.ts is not None:  # the ingest's ts overrides times in the text, as for dumps
            ns = pa.array([to_ns(self.opt.ts)] * n, pa.int64())
        valid = pc.drop_null(ns)
        if len(valid):
            lo, hi = pc.min_max(valid).values()
            self.first_ns = lo.as_py() if self.first_ns is None else min(self.first_ns, lo.as_py())
            self.last_ns = hi.as_py() if self.last_ns is None else max(self.last_ns, hi.as_py())
        self.records += n
        identity = self.identity
        services = pa.array(service, pa.string()) if service is not None else pa.nulls(n, pa.string())
        if self.service is not None:
            services = pc.fill_null(services, self.service)
        arrays = {
            "ts": pc.divide(ns, 1000).cast(pa.timestamp("us")),
            "service": services,
            "pod": _constant(identity.get("pod"), n), "container": _constant(identity.get("container"), n),
            "stream": _strings(stream), "level": _strings(level), "message": _strings(message),
            "attributes": _strings(attributes), "format": _strings(fmt), "version": _constant(self.opt.version, n),
            "source_id": pa.nulls(n, pa.int64()), "line": pa.array(line, pa.int64()),
        }
        schema = TABLES["logs"].arrow_schema
        return pa.RecordBatch.from_arrays([arrays[f.name] for f in schema], schema=schema)


def _strings(values) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, pa.string())


def _dictionary(values: pa.Array) -> pa.Array:
    """A column of few distinct strings (stdout/stderr) as a dictionary."""
    return pc.dictionary_encode(values) if len(values) else values


def _constant(value: str | None, n: int) -> pa.Array:
    """One string n times, as a dictionary (the store takes it as it is)."""
    if value is None:
        return pa.nulls(n, pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def _rfc3339_column(texts, lines=None, errors: list | None = None) -> pa.Array:
    """Nanoseconds of RFC 3339 strings, in bulk; one by one when some do not parse.
    A time out of the int64 nanosecond range (past 2262) is NULL, and said in `errors`
    (``(line, message, excerpt)``, at the line of `lines` it is in)."""
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    try:
        return arr.cast(pa.timestamp("ns", "UTC")).cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for i, t in enumerate(arr.to_pylist()):
            try:
                ns = rfc3339_ns(t) if t is not None else None
            except ValueError:
                ns = None
            if ns is not None and not -MAX_NS <= ns <= MAX_NS:
                if errors is not None and len(errors) < 1000:
                    where = None if lines is None else lines[i]
                    errors.append((where.as_py() if isinstance(where, pa.Scalar) else where,
                                   "log time out of range (before 1677 or after 2262): kept the record without it",
                                   excerpt(t)))
                ns = None
            out.append(ns)
        return pa.array(out, pa.int64())


class _Reader:
    """Pass 1: framing and JSON payloads; other lines to the dump file."""

    def __init__(self, opt: ParseOptions, framing: str, logs: _Logs):
        self.opt, self.framing, self.logs = opt, framing, logs
        self.errors: list[tuple] = []
        self.spill = tempfile.TemporaryFile()
        self.line_of = array("q")  # source line of each spilled line
        self.stream_of = bytearray()  # STREAMS code of each spilled line
        self.prefixed = framing != "plain"
        self.partial: dict[str, tuple[str, int, list[str]]] = {}  # stream -> (ts, first line, parts)
        self.lineno = 0
        self.dump_lines = 0
        self.in_message = False  # plain: the last spilled lines are a panic's message (see plain)

    def error(self, message: str, line: int | None, text: str | None = None) -> None:
        if len(message) > MAX_MESSAGE:  # (an exception quoting a long value)
            message, text = message[:MAX_MESSAGE] + "…", message if text is None else text
        if len(self.errors) < 1000:
            self.errors.append((line, message, excerpt(text) if text is not None else None))

    def long_line(self, lineno: int, length: int) -> None:
        self.error(f"line of {length} characters: only its first {MAX_LINE} are read", lineno)

    def payload(self, ts_text, ts_ns, stream: str | None, text: str, line: int, level=None, service=None) -> None:
        """One record's payload: a JSON object goes to logs, anything else to the dump file."""
        if text[:1] == "{":
            obj, json_text = json_record(text)
            if isinstance(obj, dict):
                own_ts, own_level, message = json_fields(obj)
                self.logs.add(ts_text, ts_ns if ts_text or ts_ns else own_ts, stream, own_level or level,
                              message, json_text, "json", line, service)
                return
            huge = HUGE_NUMBER.search(text) if obj is None else None
            if huge:  # JSON no decoder reads to 64 bits: the line is kept as text, and said
                self.error(f"JSON record with a number of {len(huge.group(1))} digits, past 64 bits; "
                           "kept the line as text", line, text)
        if self.prefixed:
            stamp = ts_text if ts_text is not None else _rfc3339(ts_ns)
            self.spill.write(f"{stamp} {text}\n".encode())
        else:
            self.spill.write(text.encode() + b"\n")
        self.line_of.append(line)
        self.stream_of.append(STREAMS.get(stream, 0) if level is None else 3 + _LEVEL_CODES.index(level))

    def read(self, stream: BinaryIO) -> Iterator[pa.RecordBatch]:
        if self.framing == "cri":
            stream = yield from self._cri_blocks(stream)
        handler = {"cri": self.cri, "docker": self.docker, "journald": self.journald, "plain": self.plain}[self.framing]
        for lines in line_batches(stream, self.long_line) if stream is not None else ():
            handler(lines)
            if len(self.logs) >= BATCH:
                yield from self.logs.batches()
        for stream_name, (ts, first, parts) in self.partial.items():  # a P record never finished
            text = "".join(parts)
            self.error(f"the {stream_name} record started here has no final (F) part; kept as it is", first, text)
            self.own_record(ts, stream_name, text, first)
        self.partial.clear()

    def own_record(self, ts_text: str | None, stream: str | None, text: str, line: int) -> None:
        """A record read on its own, never by the dump reader (whose open dump, of another stream
        maybe, it would join): a JSON object as payload() takes it, other text as a plain line."""
        if text[:1] == "{" and isinstance(json_record(text)[0], dict):
            self.payload(ts_text, None, stream, text, line)
            return
        _, level, message, attrs, fmt = parse_plain(text)
        self.logs.add(ts_text, None, stream, level, message, attrs, fmt, line)

    def _cri_blocks(self, stream: BinaryIO):
        """Blocks of whole lines, column-wise where they allow it (reader_columnar).
        Returns None at the end, or the rest of the stream for the
        line-by-line reader when a line has no end in sight (over MAX_LINE)."""
        carry = b""
        while True:
            raw = stream.read(CHUNK)
            data = carry + raw if carry else raw
            if raw:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if len(data) > 2 * MAX_LINE:
                        return _Prepended(data, stream)
                    carry = data
                    continue
                block, carry = data[:cut], data[cut:]
            else:
                block, carry = (data + b"\n" if data else b""), b""
            if block:
                self._cri_block(block)
            if len(self.logs) >= BATCH:
                yield from self.logs.batches()
            if not raw:
                return None

    def _cri_block(self, block: bytes) -> None:
        lines = reader_columnar.split_block(block)
        records = reader_columnar.cri_records(lines) if lines is not None and not self.partial and self.opt.columnar else None
        if records is None:
            # Odd bytes, a line over MAX_LINE or partial records: line by line.
            text = block.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")[:-1]
            for i, line in enumerate(text):
                if len(line) > MAX_LINE:
                    self.long_line(self.lineno + i + 1, len(line))
                    text[i] = line[:MAX_LINE]
            self.cri(text)
            return
        base = self.lineno + 1
        found, others = records
        if found is not None:
            self.logs.add_json(found["ts"], found["stream"], found["text"], pc.add(found["index"], base))
        for i, ts, stream, _, text in others:
            if ts is None:
                if text:
                    self.error("expected a CRI log record: <RFC 3339 time> <stdout|stderr> <F|P> <text>",
                               base + i, text)
                continue
            self.payload(ts, None, stream, text, base + i)
        self.lineno += len(lines)

    def hold(self, stream: str | None, ts, lineno: int, part: str) -> None:
        """A record the runtime cut (CRI P record, Docker line over 16 KiB): kept until its stream's next whole one."""
        self.partial.setdefault(stream, (ts, lineno, []))[2].append(part)

    def joined(self, stream: str | None, ts, lineno: int, text: str) -> tuple:
        """(time, first line, text) of a whole record, with the parts held before it on its stream."""
        if stream not in self.partial:
            return ts, lineno, text
        ts, first, parts = self.partial.pop(stream)
        parts.append(text)
        return ts, first, "".join(parts)

    def cri(self, lines: list[str]) -> None:
        lineno = self.lineno
        for line in lines:
            lineno += 1
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[1] not in STREAMS or parts[2] not in ("F", "P") or not CRI_LINE.match(line):
                if line:
                    self.error("expected a CRI log record: <RFC 3339 time> <stdout|stderr> <F|P> <text>", lineno, line)
                continue
            ts, stream, tag = parts[0], parts[1], parts[2]
            text = parts[3] if len(parts) == 4 else ""
            if tag == "P":
                self.hold(stream, ts, lineno, text)
                continue
            ts, first, text = self.joined(stream, ts, lineno, text)
            self.payload(ts, None, stream, text, first)
        self.lineno = lineno

    def docker(self, lines: list[str]) -> None:
        lineno = self.lineno
        for line in lines:
            lineno += 1
            if not line:
                continue
            try:
                rec = orjson.loads(line)
                text, stream, ts = rec["log"], rec.get("stream"), rec["time"]
                if not isinstance(text, str) or not isinstance(ts, str):
                    raise TypeError("log and time must be strings")
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                self.error(f'expected a Docker json-file record {{"log", "stream", "time"}}: {exc}', lineno, line)
                continue
            if not text.endswith("\n"):  # a record cut at 16 KiB: the line goes on in the next
                self.hold(stream, ts, lineno, text)
                continue
            ts, first, text = self.joined(stream, ts, lineno, text)
            self.payload(ts, None, stream, text[:-1], first)
        self.lineno = lineno

    def journald(self, lines: list[str]) -> None:
        lineno = self.lineno
        for line in lines:
            lineno += 1
            if not line:
                continue
            try:
                rec = orjson.loads(line)
                micros = int(rec["__REALTIME_TIMESTAMP"])
                text = rec.get("MESSAGE")
                if isinstance(text, list):  # journald exports non-UTF-8 messages as byte arrays
                    text = bytes(text).decode("utf-8", "replace")
                if not isinstance(text, str):
                    raise TypeError("MESSAGE is not text")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                self.error(f"expected a journalctl -o json record with __REALTIME_TIMESTAMP and MESSAGE: {exc}",
                           lineno, line)
                continue
            unit = rec.get("_SYSTEMD_UNIT") or ""
            service = self.opt.service or (unit.rsplit(".", 1)[0] if unit else rec.get("SYSLOG_IDENTIFIER"))
            if self.logs.service is None:
                self.logs.service = service  # the export's (first) unit: that of lines read in pass 2
            for part in text.split("\n"):
                self.payload(None, micros * 1000, None, part, lineno, PRIORITIES.get(str(rec.get("PRIORITY"))),
                             service)
        self.lineno = lineno

    def plain(self, lines: list[str]) -> None:
        """Every line to payload(). A 'panic: ' line the runtime wrote is followed by its message,
        a blank line and the stacks; one followed by log records is no crash (or one cut short):
        its message ends at the next record (a blank line spilled before it), not at the end of input."""
        lineno = self.lineno
        for line in lines:
            lineno += 1
            if self.in_message and line and is_record(line):
                self.spill.write(b"\n")
                self.line_of.append(lineno)
                self.stream_of.append(0)
                self.in_message = False
            self.payload(None, None, None, line, lineno)
            if line.startswith(_MESSAGE_STARTS):
                self.in_message = True
            elif not line or line.startswith("goroutine "):
                self.in_message = False
        self.lineno = lineno


_LEVELS_SEEN: dict = {}  # raw level value -> normalized, for the values a log repeats


def _level(obj: dict) -> str | None:
    raw = obj.get("level")
    if raw is None:
        raw = obj.get("lvl", obj.get("severity"))
        if raw is None:
            return None
    try:
        return _LEVELS_SEEN[raw]
    except (KeyError, TypeError):
        level = level_of(raw)
        if len(_LEVELS_SEEN) < 4096 and isinstance(raw, (str, int)):
            _LEVELS_SEEN[raw] = level
        return level


def _message(obj: dict) -> str | None:
    msg = obj.get("msg")
    if msg is None:
        msg = obj.get("message")
    if msg is None or type(msg) is str:
        return msg
    return orjson.dumps(msg).decode()


# Lines a Go crash's message follows.
_MESSAGE_STARTS = (PANIC_PREFIX, FATAL_PREFIX)
# ingest_errors.message is a sentence, bounded: the text it quotes goes in excerpt.
MAX_MESSAGE = 300

# Levels a framing gave to spilled lines (journald PRIORITY), coded after the streams.
_LEVEL_CODES = sorted(set(LEVELS.values()))


def _rfc3339(ns: int | None) -> str:
    return "0001-01-01T00:00:00Z" if ns is None else rfc3339_text(ns)


def parse(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Parse a log stream: yields logs, log_files, the dump tables and ingest_errors."""
    opt = options or ParseOptions()
    framing = opt.variant if opt.variant in FRAMINGS else None
    if framing is None:  # not sniffed by the registry (a direct call, or --as log): find the framing here
        head, broken = b"", None
        try:
            while len(head) < 65536 and (piece := stream.read(8192)):
                head += piece
        except ForensicsError as exc:  # a stream cut short: read what came, then report it
            broken = exc
        framing = log_framing(head) or "plain"
        stream = _Prepended(head, stream, broken)
    identity = kubernetes_identity(opt.path)
    logs = _Logs(opt, identity)
    reader = _Reader(opt, framing, logs)
    try:
        try:
            for batch in reader.read(stream):
                yield "logs", batch
        except ForensicsError as exc:  # corrupt compression, a size limit: keep what was read
            reader.errors.append((reader.lineno + 1, f"reading stopped after line {reader.lineno}: {exc}", None))
        yield from _spilled(reader, logs, identity)
        for batch in logs.batches():
            yield "logs", batch
        yield "log_files", _log_file(reader, logs, identity, reader.dump_lines)
        reader.errors += logs.errors[:max(0, 1000 - len(reader.errors))]
        if reader.errors:
            yield "ingest_errors", pa.RecordBatch.from_pylist(
                [{"line": line, "message": m, "excerpt": e} for line, m, e in reader.errors],
                schema=TABLES["ingest_errors"].arrow_schema)
    finally:
        reader.spill.close()


def _spilled(reader: _Reader, logs: _Logs, identity: dict) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Pass 2: dumps in the spilled lines, then the other spilled lines as logs rows."""
    if not reader.line_of:
        return
    spill, opt = reader.spill, reader.opt
    spill.seek(0)
    line_of = pa.array(reader.line_of, pa.int64())
    dump_opt = ParseOptions(service=logs.service, version=opt.version, ts=opt.ts, mtime=opt.mtime,
                            path_ts=opt.path_ts, path=opt.path, pod=identity.get("pod"), columnar=opt.columnar)
    ranges: list[tuple[int, int]] = []
    for table, batch in scanner.parse(spill, dump_opt):
        if table == "dumps":
            ranges += zip(batch.column("start_line").to_pylist(), batch.column("end_line").to_pylist())
        if table == "ingest_errors":
            batch = _bounded_messages(batch)
        yield table, _map_lines(batch, line_of, _LINE_COLUMNS.get(table, ()))
    reader.dump_lines = sum(e - s + 1 for s, e in ranges if s is not None and e is not None)
    spill.seek(0)
    ranges.sort()
    r, n = 0, 0
    year = (opt.path_ts or opt.mtime or datetime.now()).year
    last_ns = None
    for lines in line_batches(spill, lambda *_: None):
        for text in lines:
            n += 1
            while r < len(ranges) and (ranges[r][1] or 0) < n:
                r += 1
            if r < len(ranges) and ranges[r][0] is not None and ranges[r][0] <= n:
                continue  # a dump line
            code = reader.stream_of[n - 1]
            ts_text = None
            if reader.prefixed:
                ts_text, _, text = text.partition(" ")
            ts, level, message, attrs, fmt = parse_plain(text, year)
            if reader.prefixed:
                ts = None  # the runtime's time comes first
            elif ts is None:
                ts = last_ns  # a line without a time of its own: that of the record before
            last_ns = ts if ts is not None else last_ns
            if code >= 3:
                level = level or _LEVEL_CODES[code - 3]
            if not message and not attrs and level is None:
                continue  # blank lines between records are not records
            logs.add(ts_text, ts, STREAM_NAMES[code] if code < 3 else None, level, message, attrs, fmt,
                     reader.line_of[n - 1])
            if len(logs) >= BATCH:
                for batch in logs.batches():
                    yield "logs", batch


class _Prepended:
    """A stream whose first bytes were already read (to sniff the framing)."""

    def __init__(self, head: bytes, rest: BinaryIO, broken: Exception | None = None):
        self.head, self.rest, self.broken = head, rest, broken

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = (self.head, b"") if n < 0 or n >= len(self.head) else (self.head[:n], self.head[n:])
            return out
        if self.broken is not None:
            raise self.broken
        return self.rest.read(n)


def _map_lines(batch: pa.RecordBatch, line_of: pa.Array, mapped: tuple[str, ...]) -> pa.RecordBatch:
    """The dump reader's line numbers (of the spilled file) as the source's."""
    if not mapped:
        return batch
    columns = []
    for name, col in zip(batch.schema.names, batch.columns):
        if name in mapped:
            col = line_of.take(pc.subtract(col, 1)).cast(col.type)
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _bounded_messages(batch: pa.RecordBatch) -> pa.RecordBatch:
    """ingest_errors whose message quotes a long line (the dump reader's 'input ended after frame
    <10 KB>'): the message cut to MAX_MESSAGE characters, the whole of it the excerpt if it had none."""
    messages = batch.column("message")
    if not len(messages) or (pc.max(pc.utf8_length(messages)).as_py() or 0) <= MAX_MESSAGE:
        return batch
    rows = batch.to_pylist()
    for row in rows:
        message = row["message"]
        if message is not None and len(message) > MAX_MESSAGE:
            row["message"] = message[:MAX_MESSAGE] + "…"
            if row["excerpt"] is None:
                row["excerpt"] = excerpt(message)
    return pa.RecordBatch.from_pylist(rows, schema=batch.schema)


def _log_file(reader: _Reader, logs: _Logs, identity: dict, dump_lines: int) -> pa.RecordBatch:
    def ts(ns):
        return None if ns is None else from_ns(ns)

    row = {"framing": reader.framing, "service": logs.service, "namespace": identity.get("namespace"),
           "pod": identity.get("pod"), "container": identity.get("container"), "restart": identity.get("restart"),
           "rotated": identity.get("rotated"), "records": logs.records, "dump_lines": dump_lines,
           "first_ts": ts(logs.first_ns), "last_ts": ts(logs.last_ns)}
    return pa.RecordBatch.from_pylist([row], schema=TABLES["log_files"].arrow_schema)


__all__ = ["parse", "log_framing", "level_of"]
