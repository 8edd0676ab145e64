"""Go crash output and goroutine dumps -> dumps, panics, goroutines, frames.

Reads what the Go runtime prints on a crash (``panic:``, ``fatal error:``,
fatal signals, GOTRACEBACK=all/system/crash), on SIGQUIT, from
``runtime.Stack(buf, true)``, ``/debug/pprof/goroutine?debug=2`` and the race
detector, wherever it sits in a log: lines around and between dumps are text.

State machine, one line at a time (``_Parser.state`` names the handler)::

    TEXT --panic:/fatal error:--> MESSAGE --blank--> BETWEEN
    TEXT --SIGxxx: ...----------> SIGNAL ---blank--> BETWEEN
    TEXT --goroutine N [...]:---> STACK (a goroutine dump)
    TEXT --WARNING: DATA RACE---> RACE --==================--> TEXT
    TEXT --http: panic serving, Observed a panic, caught panic...--> WRAPPED
          (a recovered panic a library logged: its stack, bare callers or nothing follow)
    TEXT --a call line then its file line--> STACK (a fragment: the paste starts mid-goroutine)
    STACK --goroutine N [...]:--> STACK (the blank line between goroutines was lost)
    BETWEEN --goroutine N [...]:/runtime stack:--> STACK --blank--> BETWEEN
    BETWEEN --registers, '-----', SIGxxx:, PC=--> BETWEEN (GOTRACEBACK=crash: same dump)
    STACK --register line--> BETWEEN (signal dumps print registers after the stack)
    STACK --unknown line--> HELD: if the next line goes on with the stack, the
          unknown line was another writer's log line (reported, skipped);
          otherwise the dump ended there and both lines are read as TEXT
    BETWEEN --any other line--> end of dump; the line is read again as TEXT

Where a goroutine header starts a run of whole, well-formed goroutine blocks,
:mod:`.scanner_columnar` reads the run column-wise instead (same result; the
tests check both readers agree on every input).

A frame's function line with no file line after it, a truncated message or
race report, and over-long lines are reported as ``ingest_errors`` rows; the
goroutines and dumps around them are kept.

>>> import io
>>> text = b"panic: boom\\n\\ngoroutine 1 [running]:\\nmain.main()\\n\\t/app/main.go:5 +0x1d\\n"
>>> tables = {}
>>> for name, batch in parse(io.BytesIO(text)):
...     tables.setdefault(name, []).extend(batch.to_pylist())
>>> tables["panics"][0]["message"], tables["panics"][0]["top_function"]
('boom', 'main.main')
"""
from __future__ import annotations

import re
from collections import deque
from typing import BinaryIO, Iterator

import pyarrow as pa

from ...errors import ForensicsError
from ...times import prefix_time, utc_now
from .. import ParseOptions, excerpt, line_batches
from .patterns import (
    CREATED_PREFIX, CREATED_RE, ELIDED_RE, FATAL_PREFIX, FILE_RE, HEADER_RE, MAX_ID_DIGITS,
    EVIDENCE_RE, PANIC_PREFIX, PREAMBLE_PREFIXES,
    RACE_BANNER, RACE_START, REGISTER_RE, RUNTIME_STACK, SIGNAL_HEAD_RE, SIGNAL_PC_RE,
    STACK_DIAGNOSTIC_RE, STACK_UNAVAILABLE, TRIGGERS, WAIT_RE, WRAPPED_PANIC_RE,
    is_machinery, log_timestamp, normalize_message, signature, system_start,
)
from .messages import Messages
from .race import RaceReports
from .restore import Restorer
from .rows import FLUSH_FRAMES, Locations, Rows, OpenDump, OpenGoroutine
from .scanner_columnar import Chunk, read_run


class _Parser(Messages, RaceReports, Locations):
    def __init__(self, options: ParseOptions):
        self.opt = options
        self.state = self._text
        self.lineno = 0
        self.dump: OpenDump | None = None
        self.ndumps = 0
        self.recent: deque[str] = deque(maxlen=8)  # last text lines, for timestamps
        # "runtime: ..." lines seen just before; the runtime prints a few, so a
        # long run of them (a program's own logging) keeps only the last ones.
        self.preamble: deque[str] = deque(maxlen=16)
        self.banner_line = 0
        self.dumps = Rows("dumps")
        self.panics = Rows("panics")
        self.goroutines = Rows("goroutines")
        self.accesses = Rows("race_accesses")
        self.errors = Rows("ingest_errors")
        # Interned locations (function, file, line, inlined): frames refer to
        # them by index and their columns are filled in by one Arrow take.
        self.init_locations()
        self.func_cache: dict[str, tuple] = {}
        self.file_cache: dict[str, tuple | None] = {}
        self.bulk = True
        self.flush_due = False
        self.g: OpenGoroutine | None = None
        self.gseq = 0
        self.pending: tuple | None = None  # function line waiting for its file line
        self.message_lines = 0
        self.indented = False
        self.held: tuple[str, int] | None = None  # unknown line inside a stack, see _stack_held
        self.raw_line: str | None = None  # the current line with its collector prefix, when it had one
        self.orphan: tuple | None = None  # a call line in text: a fragment starts if its file line follows
        self.evidence: tuple[int, str] | None = None  # the first Go crash line seen in text, see finish()

    # --- errors ---------------------------------------------------------
    def error(self, message: str, line: str | None, lineno: int | None = None) -> None:
        self.errors.add(self.lineno if lineno is None else lineno, message, None if line is None else excerpt(line))

    def long_line(self, lineno: int, length: int) -> None:
        self.error(f"line is {length} characters long; kept the first {1 << 20}", None, lineno)

    # --- dumps ----------------------------------------------------------
    def start_dump(self, kind: str, start_line: int | None = None) -> OpenDump:
        if self.dump is not None:
            self.end_dump()
        d = self.dump = OpenDump(self.ndumps, kind, start_line or self.lineno)
        self.ndumps += 1
        self.gseq = 0
        d.preamble = list(self.preamble)
        self.preamble.clear()
        prefixed = None
        if self.raw_line is not None:
            prefixed = log_timestamp(self.raw_line)
            if prefixed is None:  # syslog and klog times have no year: the file's time gives it
                known = self.opt.ts or self.opt.file_time()[0]
                prefixed = prefix_time(self.raw_line, (known or utc_now()).year)
        if self.opt.ts is not None:
            d.ts, d.ts_source = self.opt.ts, "argument"
        elif prefixed is not None:
            d.ts, d.ts_source = prefixed, "prefix"
        else:
            for text in reversed(self.recent):
                ts = log_timestamp(text)
                if ts is not None:
                    d.ts, d.ts_source = ts, "log"
                    break
            else:
                if self.opt.file_time()[0] is not None:
                    d.ts, d.ts_source = self.opt.file_time()
        return d

    def end_dump(self) -> None:
        self.end_goroutine()
        d = self.dump
        if d is None:
            return
        if d.kind == "race":
            self.end_race(d)
        self.dump = None
        opt = self.opt
        gid, functions = d.failing if d.failing else (None, [])
        top = functions[0] if functions else None
        sig_functions = functions if d.sig_functions is None else d.sig_functions
        panics = d.panics
        for seq, (kind, lines, recovered, repanicked) in enumerate(panics):
            message = "\n".join(lines)
            norm = normalize_message(message)
            self.panics.add(
                d.idx, seq, kind, message, norm, recovered, repanicked, gid, top,
                signature(kind, norm, sig_functions), d.ts, opt.service, opt.version,
            )
        message = "\n".join(panics[0][1]) if panics else None
        self.dumps.add(
            d.idx, d.kind, d.ts, d.ts_source, opt.service, opt.version, opt.pod, len([i for i in d.ids if i > 0]),
            message, d.start_line, d.end_line, d.signal, d.signal_code, d.fault_addr, d.fault_pc,
            "\n".join(d.registers) or None, "\n".join(d.preamble) or None,
        )
        if len(self.dumps) >= 4096:
            self.flush_due = True

    # --- goroutines -----------------------------------------------------
    def start_goroutine(self, gid: int, state, wait, locked, gp, m) -> None:
        self.end_goroutine()
        self.g = OpenGoroutine(gid, state, wait, locked, gp, m, self.lineno)
        self.state = self._stack
        if self.dump is not None and gid is not None:
            self.dump.ids.add(gid)

    def end_goroutine(self) -> None:
        g = self.g
        if g is None:
            return
        self.g = None
        if self.pending is not None:
            func, args, inlined = self.pending
            self.pending = None
            self.add_frame(g, func, None, None, args, None, inlined)
        d = self.dump
        locs = g.locs
        seq = self.gseq
        self.gseq += 1
        stack_id = self.stack_id(locs)
        names = self.loc_cols[0]
        self.goroutines.add(
            d.idx, seq, g.id, g.state, g.wait, g.locked, g.created_by, g.created_in, g.created_file, g.created_line, stack_id, 1, g.elided, g.unavailable, g.gp, g.m, g.line,
            (g.id is not None and g.id <= 0) or (g.elided != -1 and system_start([names[i] for i in locs[-2:]])), None, None,
        )
        n = len(locs)
        if n:
            fr = self.fr
            fr[0].extend([d.idx] * n)
            fr[1].extend([seq] * n)
            fr[2].extend([g.id] * n)
            fr[3].extend(g.depths)
            fr[4].extend(locs)
            fr[5].extend(g.args)
            fr[6].extend(g.offsets)
            if len(fr[0]) >= FLUSH_FRAMES:
                self.flush_due = True
        if d.failing is None and (g.id is None or g.id > 0):
            d.failing = (g.id, [names[i] for i in locs if names[i] and not is_machinery(names[i])][:3])

    def add_frame(self, g: OpenGoroutine, func: str, file, line, args, offset, inlined) -> None:
        idx = self.intern(func, file, line, inlined)
        g.depths.append(len(g.locs) + g.skip)
        g.locs.append(idx)
        g.args.append(args)
        g.offsets.append(offset)

    def parse_func(self, line: str) -> tuple | None:
        """'pkg.F(args)' -> (function, args, inlined), or None if not a frame line."""
        hit = self.func_cache.get(line)
        if hit is not None:
            return hit
        if not line or line[-1] != ")" or line[0] in " \t":
            return None
        p = line.rfind("(")
        if p <= 0 or line.find(" ", 0, p) != -1:
            return None
        args = line[p + 1 : -1]
        hit = (line[:p], args, args == "...")
        if len(self.func_cache) > 1 << 17:
            self.func_cache.clear()
        self.func_cache[line] = hit
        return hit

    def parse_file(self, line: str) -> tuple | None:
        try:
            return self.file_cache[line]
        except KeyError:
            pass
        m = FILE_RE.match(line)
        hit = (m.group(1), int(m.group(2)), int(m.group(3), 16) if m.group(3) else None) if m else None
        if len(self.file_cache) > 1 << 17:
            self.file_cache.clear()
        self.file_cache[line] = hit
        return hit

    # --- states ---------------------------------------------------------
    def _text(self, line: str) -> None:
        if not line.startswith(TRIGGERS):
            if line == RACE_BANNER:
                self.banner_line = self.lineno
            elif "anic" in line and line[0] != "{":
                m = WRAPPED_PANIC_RE.search(line)
                if m is not None and '{"' not in line[: m.start()]:  # (not a JSON log record's field)
                    self.wrapped_panic(m)
                    return
            if self.orphan is not None and line[:1] == "\t" and self.fragment(line):
                return
            if self.evidence is None and ("goroutine " in line or "panic: " in line or "fatal error: " in line):
                stripped = line.lstrip(" \t>`\"'")
                if EVIDENCE_RE.search(line) or stripped.startswith((PANIC_PREFIX, FATAL_PREFIX)):
                    self.evidence = (self.lineno, line)
            self.orphan = None
            if line[-1:] == ")":
                hit = self.parse_func(line)
                if hit is not None:
                    self.orphan = (hit, self.lineno)
            self.recent.append(line)
            self.preamble.clear()
            return
        self.orphan = None
        if line.startswith(PANIC_PREFIX):
            self.start_dump("panic").end_line = self.lineno
            self.add_panic(line[len(PANIC_PREFIX) :])
            self.state = self._message
        elif line.startswith(FATAL_PREFIX):
            self.start_dump("fatal")
            self.dump.panics.append(["fatal", [line[len(FATAL_PREFIX) :]], False, False])
            self.message_lines = 0
            self.state = self._message
        elif line.startswith(RACE_START):
            start = self.banner_line if self.banner_line == self.lineno - 1 else self.lineno
            d = self.start_dump("race", start)
            d.panics.append(["race", ["DATA RACE"], False, False])
            self.state = self._race
        elif line == RUNTIME_STACK:
            # A paste that starts at the system stack (its fatal error line cut off).
            self.start_dump("fatal")
            self.start_goroutine(-1, "runtime stack", None, False, None, None)
        elif line.startswith(PREAMBLE_PREFIXES):
            self.preamble.append(line)
        elif line.startswith("goroutine "):
            m = HEADER_RE.match(line)
            if m is None:
                self.recent.append(line)
                return
            self.start_dump("goroutines")
            self.header(m)
        else:
            m = SIGNAL_HEAD_RE.match(line)
            if m is None:
                self.recent.append(line)
                self.preamble.clear()
                return
            d = self.start_dump("signal")
            d.signal = m.group(1)
            d.panics.append(["signal", [line], False, False])
            self.state = self._signal

    def fragment(self, line: str) -> bool:
        """A call line in text followed by its file line: the paste starts
        inside a goroutine. Its frames are a goroutine without a header (id NULL)."""
        loc = self.parse_file(line)
        if loc is None:
            return False
        (func, args, inlined), lineno = self.orphan
        self.orphan = None
        d = self.start_dump("goroutines", lineno)
        self.start_goroutine(None, None, None, False, None, None)
        self.g.line = lineno
        self.add_frame(self.g, func, loc[0], loc[1], args, loc[2], inlined)
        d.end_line = self.lineno
        return True

    def _between(self, line: str) -> None:
        """Inside a dump, between goroutines."""
        d = self.dump
        if not line:
            return
        if line.startswith("goroutine "):
            m = HEADER_RE.match(line)
            if m:
                d.end_line = self.lineno
                self.header(m)
                return
        elif line == RUNTIME_STACK:
            d.end_line = self.lineno
            self.start_goroutine(-1, "runtime stack", None, False, None, None)
            return
        m = REGISTER_RE.match(line)
        if m:
            d.registers.append(f"{m.group(1)}={m.group(2)}")
            d.end_line = self.lineno
            return
        if line == "-----" or SIGNAL_PC_RE.match(line) or (
            line.startswith("SIG") and SIGNAL_HEAD_RE.match(line) and d.kind != "goroutines"
        ):
            # GOTRACEBACK=crash: the SIGABRT and every M's stacks, same dump.
            if line == "-----" and d.registers:
                d.registers.append(line)  # keeps each M's registers apart
            d.end_line = self.lineno
            return
        self.end_dump()
        self.state = self._text
        self._text(line)

    def header(self, m: re.Match) -> None:
        gid, gp, mid, inside = m.groups()
        parts = inside.split(", ")
        state, wait, locked = parts[0], None, False
        for part in parts[1:]:
            w = WAIT_RE.match(part)
            if w:
                wait = int(w.group(1))
            elif part == "locked to thread":
                locked = True
            else:
                state += ", " + part
        if len(gid) > MAX_ID_DIGITS:
            self.error(f"goroutine id of {len(gid)} digits is out of range (at most {MAX_ID_DIGITS}); "
                       "read the goroutine without its id", m.string)
            gid = None
        self.start_goroutine(None if gid is None else int(gid), state, wait, locked, gp, mid)

    def _stack(self, line: str) -> None:
        """Inside a goroutine: frames, created by, elision markers."""
        g = self.g
        if line and line[0] == "\t":
            pending = self.pending
            if pending is not None:
                loc = self.file_cache.get(line) or self.parse_file(line)
                if loc is not None:
                    # add_frame, inlined: this is the hot path of huge dumps.
                    self.pending = None
                    key = (pending[0], loc[0], loc[1], pending[2])
                    idx = self.loc_index.get(key)
                    if idx is None:
                        self.add_frame(g, pending[0], loc[0], loc[1], pending[1], loc[2], pending[2])
                        self.dump.end_line = self.lineno
                        return
                    locs = g.locs
                    g.depths.append(len(locs) + g.skip)
                    locs.append(idx)
                    g.args.append(pending[1])
                    g.offsets.append(loc[2])
                    self.dump.end_line = self.lineno
                    return
            elif line == STACK_UNAVAILABLE:
                g.unavailable = True
                self.dump.end_line = self.lineno
                return
            elif g.created_by is not None and g.created_file is None:
                loc = self.parse_file(line)
                if loc is not None:
                    g.created_file, g.created_line = loc[0], loc[1]
                    self.dump.end_line = self.lineno
                    return
            self.error("expected a frame ('pkg.F(args)' then a tab-indented 'file.go:N +0x..')", line)
            return
        if not line:
            self.drop_pending(line)
            self.end_goroutine()
            self.state = self._between
            return
        hit = self.func_cache.get(line) or self.parse_func(line)
        if hit is not None:
            if self.pending is not None:
                self.drop_pending(line)
            self.pending = hit
            self.dump.end_line = self.lineno
            return
        if line.startswith("goroutine "):
            m = HEADER_RE.match(line)
            if m is not None:  # the blank line before it was lost (journald, a paste)
                self.drop_pending(line)
                self.dump.end_line = self.lineno
                self.header(m)
                return
        elif line.strip() == STACK_UNAVAILABLE[1:]:
            g.unavailable = True
            self.dump.end_line = self.lineno
            return
        elif STACK_DIAGNOSTIC_RE.match(line) and self.pending is None:
            self.dump.end_line = self.lineno  # runtime: unknown pc, stack: frame=, hex words
            return
        m = CREATED_RE.match(line) if line.startswith(CREATED_PREFIX) else None
        if m is not None:
            self.drop_pending(line)
            g.created_by = m.group(1)
            g.created_in = int(m.group(2)) if m.group(2) and len(m.group(2)) <= MAX_ID_DIGITS else None
            if m.group(2) and g.created_in is None:
                self.error(f"creator's goroutine id of {len(m.group(2))} digits is out of range "
                           f"(at most {MAX_ID_DIGITS}); kept the creator without it", line)
            self.dump.end_line = self.lineno
            return
        if line.startswith("..."):
            m = ELIDED_RE.match(line)
            if m:
                if m.group(1):
                    g.elided += int(m.group(1))
                    g.skip += int(m.group(1))
                else:
                    g.elided = -1
                self.dump.end_line = self.lineno
                return
        if self.dump.kind != "goroutines" and REGISTER_RE.match(line):
            # Signal dumps print the registers right after the last stack
            # (at GOTRACEBACK=crash, after every M's g0 stack).
            self.drop_pending(line)
            self.end_goroutine()
            self.state = self._between
            self._between(line)
            return
        # Not stack grammar: either a log line written into the middle of the
        # dump by another writer, or the dump ended without a blank line
        # (runtime.Stack output followed by a log line). The next line decides.
        self.held = (line, self.lineno)
        self.state = self._stack_held

    def drop_pending(self, line: str, lineno: int | None = None) -> None:
        """A frame line was not followed by its file line: keep the frame
        without file and line, and say so."""
        pending = self.pending
        if pending is not None:
            self.pending = None
            self.error(f"frame {pending[0]!r} has no file line; expected a tab-indented 'file.go:N +0x..'", line, lineno)
            self.add_frame(self.g, pending[0], None, None, pending[1], None, pending[2])

    def _stack_held(self, line: str) -> None:
        """One line after an unknown line inside a stack."""
        held, held_no = self.held
        self.held = None
        continues = bool(line) and (
            (line[0] == "\t" and self.pending is not None)
            or line.startswith(CREATED_PREFIX)
            or self.parse_func(line) is not None
        )
        if continues:
            self.error(f"unexpected line inside the stack of goroutine {self.g.id}; skipped it", held, held_no)
            self.state = self._stack
            self._stack(line)
            return
        self.release_held(held, held_no)
        self.state(line)

    def release_held(self, held: str, held_no: int) -> None:
        """The dump ended before `held`: close it and read `held` as text."""
        self.drop_pending(held, held_no)
        self.end_goroutine()
        self.end_dump()
        self.state = self._text
        now, self.lineno = self.lineno, held_no
        self._text(held)
        self.lineno = now

    def drain(self, final: bool = False) -> Iterator[tuple[str, pa.RecordBatch]]:
        self.flush_due = False
        frames = self.frames_batch(self.goroutines) if self.fr[0] else None  # (keys the goroutines too)
        for rows in (self.dumps, self.panics, self.goroutines, self.accesses, self.errors):
            if len(rows) and (final or rows is not self.errors):
                yield rows.table, rows.take()
        if frames is not None:
            yield "frames", frames
        extra, self.extra = self.extra, []
        yield from extra

    def finish(self) -> None:
        """End of input: close what is open, reporting what was cut short."""
        if self.held is not None:
            held, held_no = self.held
            self.held = None
            self.release_held(held, held_no)
        if self.pending is not None:
            func, args, _ = self.pending
            self.error(f"input ended after frame {func!r}; expected a tab-indented 'file.go:N +0x..'", f"{func}({args})")
        if self.state == self._message:
            self.error("input ended after the panic message; expected a blank line and the goroutine stacks", None)
        elif self.state == self._race:
            self.error(f"input ended inside a race report; expected {RACE_BANNER!r}", None)
        self.end_dump()
        if self.ndumps == 0 and self.evidence is not None:
            # Go evidence is never skipped in silence: the source fails, saying where.
            lineno, line = self.evidence
            self.error("Go crash output here, but no dump could be read from it (expected 'panic: ', "
                       "'fatal error: ' or a goroutine header at the start of a line, then the stacks)", line, lineno)


def parse(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Parse Go crash output / goroutine dumps from a byte stream.

    Yields ``(table, RecordBatch)`` for the tables dumps, panics, goroutines,
    frames, race_accesses and ingest_errors (schemas in forensics.db.schema),
    in batches of bounded size: memory does not grow with the input.
    ``options.columnar=False`` reads goroutine runs line by line too.
    """
    opt = options or ParseOptions()
    p = _Parser(opt)
    p.bulk = opt.columnar
    restorer = Restorer()
    consumed = 0  # source lines read so far
    try:
        for lines in line_batches(stream, p.long_line):
            n_source = len(lines)
            restored = restorer.restore(lines)
            lines, raw, numbers = restored.lines, restored.raw, restored.numbers
            bulk = p.bulk and numbers is None  # the columnar reader counts lines itself
            p.raw_line = None
            chunk = None
            i, n = 0, len(lines)
            while i < n:
                line = lines[i]
                if numbers is None:
                    p.lineno += 1
                else:
                    p.lineno = consumed + numbers[i] + 1
                if raw is not None:
                    p.raw_line = raw[i]
                if bulk and line.startswith("goroutine ") and (p.state == p._between or p.state == p._text):
                    # A run of whole goroutine blocks: read it column-wise.
                    chunk = chunk or Chunk(lines)
                    end = chunk.run_end(i)
                    if end > i:
                        if p.state == p._text:
                            p.start_dump("goroutines")
                        read_run(p, chunk, i, end, p.lineno)
                        p.lineno += end - i - 1
                        p.state = p._between
                        i = end
                        continue
                p.state(line)
                i += 1
            consumed += n_source
            p.lineno = consumed
            if p.flush_due:
                yield from p.drain()
    except ForensicsError as exc:
        # The stream broke (corrupt compression, a size limit): keep everything
        # read so far, and say where reading stopped.
        p.error(f"reading stopped after line {p.lineno}: {exc}", None, p.lineno + 1)
    p.finish()
    yield from p.drain(final=True)
