"""The seeded mutator: one damage to a sample's bytes, confined to a range of its lines.

``mutate(data, kind, seed)`` is deterministic (``random.Random(seed)``): the same sample, kind and
seed give the same bytes, so a failure is reproduced from its case id. Every mutation says which
lines of the clean file it touched (``touched``, 1-based and inclusive; a truncation or a splice
touches everything from its line on), so the preservation check knows what must have survived, and
what it did (``recipe``), for the report.

Kinds (:data:`KINDS`): ``flip`` (bits of a few bytes), ``insert`` (random bytes or Go-, JSON- and
log-shaped tokens), ``delete``, ``duplicate`` (a range of lines, or of bytes), ``truncate``,
``splice`` (this sample's head, another's tail: :func:`splice`), ``nul`` and ``control`` (NUL,
C0 controls, ANSI escapes, lone CRs, Unicode line separators, BOMs), ``huge-line`` (a line around
and past the readers' 1 MiB line bound, of letters, brackets, quotes or escapes), ``huge-number``
(a number in the line replaced by 20 to 100,000 digits, an exponent, a hex word, NaN),
``repeat`` (one to three lines repeated up to 4 MiB: thousands of goroutine headers, of CRI
partial records, of JSON lines) and ``swap`` (two lines exchanged). :func:`apply_edits` applies an explicit list of
edits (what Hypothesis draws) inside a line range.

>>> m = mutate(b"one\\ntwo\\nthree\\n", "truncate", 3)
>>> m.data == b"one\\ntwo\\nthree\\n"[:len(m.data)], m.touched[1] == INF
(True, True)
>>> mutate(b"one\\ntwo\\nthree\\n", "flip", 3) == mutate(b"one\\ntwo\\nthree\\n", "flip", 3)
True
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

INF = 1 << 62
MAX_LINE = 1 << 20  # forensics.parsers.MAX_LINE: longer lines are cut and reported

TOKENS = (
    b"goroutine 7 [running]:\n", b"goroutine 99 [chan receive, 5 minutes]:", b"panic: ", b"fatal error: ",
    b"\n\n", b"\t", b"\r\n", b"created by main.main in goroutine 1\n", b"main.main()\n\t/x/main.go:1 +0x1d\n",
    b"...additional frames elided...\n", b" [recovered]", b"[signal SIGSEGV: segmentation violation]\n",
    b"SIGQUIT: quit\nPC=0x46b781 m=0 sigcode=0\n", b"WARNING: DATA RACE\n", b"==================\n",
    b"runtime stack:\n", b'{"level":"error","msg":', b'"}', b"{", b"}", b"[", b"]", b",", b'"', b"\\",
    b"\\u0000", b"\xff\xfe", b"\xe2\x80\xae", b"%s%n%x", b"2026-11-22T05:07:14.136852Z stderr F ",
    b"2026-11-22T05:07:14.136852Z stdout P ", b"# runtime.MemStats\n", b"--- mutex:\n", b"@ 0x1 0x2\n",
    b"heap profile: 1: 2 [3: 4] @ heap/1048576\n", b'"traceEvents":[', b'{"ph":"B","ts":"x"}', b"ts,service,version\n",
    b"module example.com/x\n", b"h1:AAAA=\n",
)
CONTROLS = (
    b"\x01", b"\x02", b"\x07", b"\x08", b"\x0b", b"\x0c", b"\x0e", b"\x1a", b"\x1b", b"\x1b[31m", b"\x1b[0m\x1b[2K",
    b"\x7f", b"\r", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9",
    b"\xef\xbb\xbf", b"\x08\x08\x08", b"\xc0\x80", b"\xed\xa0\x80",
)
NUMBERS = (
    "9" * 20, "1" * 40, "9" * 400, "9" * 10_000, "7" * 100_000, "-" + "9" * 30, "18446744073709551616",
    "9223372036854775808", "-9223372036854775809", "1e400", "-1e400", "0x" + "f" * 40, "NaN", "Infinity", "0" * 50,
)
HUGE_FILL = (b"x", b"goroutine 1 [running]: ", b'{"msg":"', b"\t", b" ", b"\\", b"0123456789", b"\xff", b"[", b"{",
             b'{"a":', b'"', b"\\u00")

KINDS = ("flip", "insert", "delete", "duplicate", "truncate", "splice", "nul", "control", "huge-line", "huge-number",
         "repeat", "swap")


@dataclass
class Mutation:
    data: bytes
    touched: tuple[int, int] | None  # lines of the clean file (1-based, inclusive) whose bytes changed
    recipe: str
    tail: tuple[str, int] | None = None  # a splice: (partner sample, its last line before its kept tail)


class Lines:
    """Where each line of `data` starts, for byte offset <-> line number."""

    def __init__(self, data: bytes):
        self.data = data
        self.starts = [0]
        at = data.find(b"\n")
        while at >= 0:
            self.starts.append(at + 1)
            at = data.find(b"\n", at + 1)
        if self.starts[-1] == len(data) and len(self.starts) > 1:
            self.starts.pop()  # no empty line after the final newline
        self.n = len(self.starts)

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Byte range [start, end) of lines a..b, their newlines included."""
        end = self.starts[b] if b < self.n else len(self.data)
        return self.starts[a - 1], end

    def inside(self, a: int) -> tuple[int, int]:
        """Byte range of line a before its newline (insertion points that stay in the line)."""
        start, end = self.span(a, a)
        if end > start and self.data[end - 1:end] == b"\n":
            end -= 1
        return start, end


def _show(b: bytes, n: int = 48) -> str:
    return repr(b[:n]) + (f"...({len(b)} bytes)" if len(b) > n else "")


class Mutator:
    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)

    def lines(self, lines: Lines, most: int = 3) -> tuple[int, int]:
        a = self.rng.randint(1, lines.n)
        return a, min(lines.n, a + self.rng.randint(0, most - 1))

    def point(self, lines: Lines, a: int) -> int:
        start, end = lines.inside(a)
        return self.rng.randint(start, end)

    def payload(self) -> bytes:
        r = self.rng
        if r.random() < 0.5:
            return r.randbytes(r.randint(1, 64))
        return b"".join(r.choice(TOKENS) for _ in range(r.randint(1, 3)))

    def region(self, data: bytes) -> tuple[int, int, int, int]:
        """Lines a..b to damage and their byte span [start, end) (empty: nothing to damage there)."""
        lines = Lines(data)
        a, b = self.lines(lines)
        return (a, b, *lines.span(a, b))

    # --- the kinds ---------------------------------------------------------------------------------

    def flip(self, data: bytes) -> Mutation:
        a, b, start, end = self.region(data)
        if end <= start:
            return self.insert(data)
        out = bytearray(data)
        done = []
        for _ in range(self.rng.randint(1, 8)):
            p, x = self.rng.randrange(start, end), self.rng.randint(1, 255)
            out[p] ^= x
            done.append(f"{p}^0x{x:02x}")
        return Mutation(bytes(out), (a, b), f"flip bytes {', '.join(done)} (lines {a}-{b})")

    def insert(self, data: bytes, what: bytes | None = None, label: str = "insert") -> Mutation:
        lines = Lines(data)
        a = self.rng.randint(1, lines.n)
        p = self.point(lines, a)
        what = self.payload() if what is None else what
        return Mutation(data[:p] + what + data[p:], (a, a), f"{label} {_show(what)} at byte {p} (line {a})")

    def delete(self, data: bytes) -> Mutation:
        a, b, start, end = self.region(data)
        if end <= start:
            return self.insert(data)
        p = self.rng.randrange(start, end)
        q = self.rng.randint(p + 1, min(end, p + 1 + self.rng.choice((1, 8, 64, 4096))))
        return Mutation(data[:p] + data[q:], (a, b), f"delete bytes {p}:{q} (lines {a}-{b})")

    def duplicate(self, data: bytes) -> Mutation:
        lines = Lines(data)
        a, b = self.lines(lines, most=12)
        start, end = lines.span(a, b)
        if self.rng.random() < 0.5 or end <= start:  # whole lines, again right after them
            return Mutation(data[:end] + data[start:end] + data[end:], (a, b), f"duplicate lines {a}-{b}")
        p = self.rng.randrange(start, end)
        q = self.rng.randint(p + 1, end)
        return Mutation(data[:q] + data[p:q] + data[q:], (a, b), f"duplicate bytes {p}:{q} in place (lines {a}-{b})")

    def truncate(self, data: bytes) -> Mutation:
        lines = Lines(data)
        a = self.rng.randint(1, lines.n)
        p = self.point(lines, a)
        return Mutation(data[:p], (a, INF), f"truncate at byte {p} of {len(data)} (line {a})")

    def splice(self, data: bytes, other: bytes, other_key: str) -> Mutation:
        """This sample up to a point in one line, then `other` from a point in one of its lines."""
        lines, theirs = Lines(data), Lines(other)
        a = self.rng.randint(1, lines.n)
        p = self.point(lines, a)
        b = self.rng.randint(1, theirs.n)
        q = self.point(theirs, b)
        return Mutation(data[:p] + other[q:], (a, INF),
                        f"splice: bytes :{p} (to line {a}) + {other_key} bytes {q}: (from its line {b})",
                        tail=(other_key, b))

    def nul(self, data: bytes) -> Mutation:
        r = self.rng
        if r.random() < 0.5:
            return self.insert(data, b"\x00" * r.choice((1, 1, 2, 4, 64)), "insert NUL")
        lines = Lines(data)
        a = r.randint(1, lines.n)
        start, end = lines.inside(a)
        if end <= start:
            return self.insert(data, b"\x00", "insert NUL")
        p = r.randrange(start, end)
        return Mutation(data[:p] + b"\x00" + data[p + 1:], (a, a), f"overwrite byte {p} with NUL (line {a})")

    def control(self, data: bytes) -> Mutation:
        what = b"".join(self.rng.choice(CONTROLS) for _ in range(self.rng.randint(1, 4)))
        return self.insert(data, what, "insert control")

    def huge_line(self, data: bytes) -> Mutation:
        r = self.rng
        n = r.choice((MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, MAX_LINE + r.randint(2, 1 << 16), 3 * MAX_LINE))
        fill = r.choice(HUGE_FILL)
        what = (fill * (n // len(fill) + 1))[:n]
        lines = Lines(data)
        a = r.randint(1, lines.n)
        p = self.point(lines, a)
        return Mutation(data[:p] + what + data[p:], (a, a),
                        f"insert a {n}-byte run of {fill!r} at byte {p} (line {a})")

    def repeat(self, data: bytes) -> Mutation:
        lines = Lines(data)
        a, b = self.lines(lines)
        start, end = lines.span(a, b)
        chunk = data[start:end] or b"\n"
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        times = min(self.rng.choice((100, 1000, 10_000, 100_000)), (4 << 20) // len(chunk))
        return Mutation(data[:end] + chunk * times + data[end:], (a, b), f"repeat lines {a}-{b} {times} more times")

    def swap(self, data: bytes) -> Mutation:
        lines = Lines(data)
        a, b = self.lines(lines, most=4)
        if a == b:
            b = min(lines.n, a + 1)
        (sa, ea), (sb, eb) = lines.span(a, a), lines.span(b, b)
        if a == b:
            return self.insert(data)
        first, second = data[sa:ea], data[sb:eb]
        if not second.endswith(b"\n"):  # the last line: keep the file's ending as it was
            second, first = second + b"\n", first[:-1]
        return Mutation(data[:sa] + second + data[ea:sb] + first + data[eb:], (a, b), f"swap lines {a} and {b}")

    def huge_number(self, data: bytes) -> Mutation:
        lines = Lines(data)
        r = self.rng
        first = r.randint(1, lines.n)
        for i in range(lines.n):
            a = (first - 1 + i) % lines.n + 1
            start, end = lines.inside(a)
            runs = _digit_runs(data, start, end)
            if runs:
                p, q = r.choice(runs)
                number = r.choice(NUMBERS).encode()
                return Mutation(data[:p] + number + data[q:], (a, a),
                                f"number {data[p:q][:30]!r} at byte {p} (line {a}) replaced by {_show(number, 24)}")
        return self.insert(data, r.choice(NUMBERS).encode(), "insert number")


def _digit_runs(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    runs, i = [], start
    while i < end:
        if 48 <= data[i] <= 57:
            j = i
            while j < end and 48 <= data[j] <= 57:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def mutate(data: bytes, kind: str, seed: int, partner: tuple[str, bytes] | None = None) -> Mutation:
    """One mutation of `kind` (:data:`KINDS`) of `data`, from `seed`; `partner` (key, bytes) for a splice."""
    m = Mutator(seed)
    if not data:
        data = b"\n"
    if kind == "splice":
        key, other = partner if partner is not None else ("itself", data)
        return m.splice(data, other or b"\n", key)
    fn = getattr(m, kind.replace("-", "_"), None)
    if fn is None or kind not in KINDS:
        raise ValueError(f"unknown mutation {kind!r}; the kinds are {', '.join(KINDS)}")
    return fn(data)


EDIT_OPS = ("flip", "insert", "delete", "duplicate", "truncate")


def apply_edits(data: bytes, line: float, nlines: int, edits: list) -> Mutation:
    """Explicit edits (what Hypothesis draws) inside lines [a, a + nlines - 1], a at fraction `line`
    of the file. Each edit is (op, position fraction within the range, length, payload bytes).

    >>> apply_edits(b"a\\nbb\\nccc\\n", 0.5, 1, [("insert", 0.0, 0, b"X")]).data
    b'a\\nXbb\\nccc\\n'
    """
    lines = Lines(data or b"\n")
    data = lines.data
    a = min(lines.n, max(1, int(line * lines.n) + 1))
    b = min(lines.n, a + max(1, nlines) - 1)
    start, end = lines.span(a, b)
    span = bytearray(data[start:end])
    cut = False
    done = []
    for op, frac, length, payload in edits:
        p = min(len(span), int(frac * (len(span) + 1)))
        if op == "flip" and span:
            p = min(p, len(span) - 1)
            span[p] ^= (length % 255) + 1
        elif op == "insert":
            span[p:p] = payload
        elif op == "delete":
            del span[p:p + max(1, length)]
        elif op == "duplicate":
            span[p:p] = span[p:p + max(1, length)]
        elif op == "truncate":
            del span[p:]
            cut = True
        else:
            continue
        done.append(f"{op}@{p}" + (f" {_show(bytes(payload), 24)}" if op == "insert" else f"/{length}"))
        if cut:
            break
    out = data[:start] + bytes(span) + (b"" if cut else data[end:])
    return Mutation(out, (a, INF if cut else b), f"edits in lines {a}-{b} (bytes {start}:{end}): {'; '.join(done)}")
