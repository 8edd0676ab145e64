"""What the runtime prints above the stacks, inside the crash-dump parser.

The MESSAGE and SIGNAL states (runtime/panic.go printpanics: a panic chain,
each "panic: " value on its line, "[recovered]" marks, multi-line values,
"fatal error: "; runtime/signal_unix.go: "SIGQUIT: quit" and its PC= line)
and the WRAPPED state: a panic a library recovered and logged before its
stack, or instead of it (patterns.WRAPPED_PANIC_RE).
"""
from __future__ import annotations

import re

from .patterns import (
    BARE_CALLER_RE, CHAINED_PANIC_PREFIX, FATAL_PREFIX, HEADER_RE, MAX_MESSAGE_LINES, OBSERVED_VALUE_RE,
    PANIC_PREFIX, PANIC_SUFFIX_RE, RUNTIME_STACK, SIGNAL_LINE_RE, SIGNAL_PC_RE,
)

def panic_kind(value: str) -> str:
    """panics.kind of a panic value: runtime errors apart (runtime/error.go's "runtime error: " prefix)."""
    return "runtime_error" if value.startswith("runtime error: ") else "panic"


MAX_MATCHED = 4096  # longer values are kept whole, not taken apart by a backtracking pattern


class Messages:
    """Mixin of the crash-dump parser: the MESSAGE, SIGNAL and WRAPPED states."""

    def add_panic(self, text: str) -> None:
        m = PANIC_SUFFIX_RE.search(text)
        recovered = repanicked = False
        if m:
            text = text[: m.start()]
            recovered, repanicked = True, bool(m.group(1))
        self.dump.panics.append([panic_kind(text), [text], recovered, repanicked])
        self.message_lines = 0

    def _message(self, line: str) -> None:
        """After 'panic:'/'fatal error:': chained panics, message continuation, [signal ...]."""
        d = self.dump
        if not line:
            self.state = self._between
            return
        d.end_line = self.lineno
        if line.startswith(CHAINED_PANIC_PREFIX) or line.lstrip().startswith(PANIC_PREFIX):
            # runtime/panic.go printpanics: each panic of the chain on its own
            # line, tab-indented (spaces, or nothing, once pasted).
            self.add_panic(line.lstrip()[len(PANIC_PREFIX) :])
        elif line.startswith(FATAL_PREFIX):
            d.panics.append(["fatal", [line[len(FATAL_PREFIX) :]], False, False])
            self.message_lines = 0
        elif line.startswith("[signal "):
            m = SIGNAL_LINE_RE.match(line)
            if m:
                d.signal = m.group(1).split(":", 1)[0]
                d.signal_code, d.fault_addr, d.fault_pc = m.group(2), m.group(3), m.group(4)
            else:
                self.error("malformed signal line; expected '[signal SIG...: ... code=0x.. addr=0x.. pc=0x..]'", line)
        elif (line.startswith("goroutine ") and HEADER_RE.match(line)) or line == RUNTIME_STACK:
            self.state = self._between  # the blank line before the stacks was lost
            self._between(line)
        else:
            self.message_lines += 1
            if self.message_lines > MAX_MESSAGE_LINES:
                self.error(f"panic message longer than {MAX_MESSAGE_LINES} lines; expected a blank line before the goroutines", line)
                self.end_dump()
                self.state = self._text
                return
            # Go 1.23+ indents continuation lines by one tab, older releases do
            # not: the first continuation line tells which this message is.
            lines = d.panics[-1][1]
            if len(lines) == 1:
                self.indented = line[0] == "\t"
            lines.append(line[1:] if self.indented and line[0] == "\t" else line)

    def _signal(self, line: str) -> None:
        """After 'SIGQUIT: quit': the PC= line, then a blank line and goroutines."""
        d = self.dump
        m = SIGNAL_PC_RE.match(line)
        if m:
            d.fault_pc = d.fault_pc or m.group(1)
            d.signal_code = d.signal_code or m.group(3)
            d.end_line = self.lineno
        elif line:
            self.end_dump()
            self.state = self._text
            self._text(line)
            return
        self.state = self._between

    def wrapped_panic(self, m: re.Match) -> None:
        """A recovered panic a library logged (WRAPPED_PANIC_RE): a panic dump
        whose stack, if any, follows."""
        if m.group(1) is not None:
            value = error_text = re.sub(r"\\(.)", r"\1", m.group(1))
        else:
            value = m.group(2).rstrip()
            if '\\"' in value:  # the line sits in a quoted log field: its quotes are escaped
                value = value.replace('\\"', '"')
            if value.endswith('"') and value.count('"') % 2:
                value = value[:-1]  # the closing quote of a log field holding the line
            error_text = value  # what the kind is told from: the (%v) of HandleCrash's '%#v (%v)'
            observed = OBSERVED_VALUE_RE.match(value) if len(value) <= MAX_MATCHED else None
            if observed is not None:
                # A Go string's quoted value (an error's text without
                # "runtime error: "), else the error's own text.
                error_text = observed.group(1)
                value = re.sub(r'\\(.)', r'\1', value[1:value.index('" (')]) if value.startswith('"') else error_text
        self.start_dump("panic").end_line = self.lineno
        self.dump.panics.append([panic_kind(error_text), [value], True, False])
        self.state = self._wrapped

    def _wrapped(self, line: str) -> None:
        """After a logged recovered panic: its goroutine, HandleCrash's bare
        callers, a user's elision mark; anything else ends the dump."""
        d = self.dump
        caller = BARE_CALLER_RE.match(line) if line else None
        if caller is not None:
            if self.g is None:
                self.start_goroutine(None, None, None, False, None, None)
                self.state = self._wrapped
            self.add_frame(self.g, "", caller.group(1), int(caller.group(2)), None, None, False)
            d.end_line = self.lineno
        elif not line.strip(" ."):  # blank, or the user's ". . ." / "..." elision
            d.end_line = self.lineno if line else d.end_line
        elif line.startswith("goroutine ") and HEADER_RE.match(line):
            self.end_goroutine()
            self.state = self._between
            self._between(line)
        elif line[0] == "\t" and self.g is None and (loc := self.parse_file(line)) is not None:
            # A file line with its call elided by the user (". . ." above it).
            self.start_goroutine(None, None, None, False, None, None)
            self.add_frame(self.g, "", loc[0], loc[1], None, loc[2], False)
            self.state = self._stack
        else:
            self.end_goroutine()
            self.end_dump()
            self.state = self._text
            self._text(line)
