"""The text profiles Go serves at /debug/pprof/*?debug=1, read as pprof reads them.

Three families, each a small line machine; the header line picks one:

- count profiles (goroutine, threadcreate): ``goroutine profile: total N``
  then groups ``N @ 0x.. 0x..``, each followed by ``# labels: {...}``
  (goroutine labels) and ``#\\t0xPC\\tfunc+0xOFF\\tfile:line`` symbol lines
  (runtime/pprof printCountProfile, printStackRecord);
- heap (heap and allocs): ``heap profile: I: B [AI: AB] @ heap/2*rate``
  then ``I: B [AI: AB] @ 0x..`` samples, and the ``# runtime.MemStats``
  block at the end (runtime/pprof writeHeapInternal);
- contention (block and mutex): ``--- contention:`` / ``--- mutex:``,
  ``cycles/second=`` and ``sampling period=`` attributes, then
  ``cycles count @ 0x..`` samples (runtime/pprof writeProfileInternal).

Values follow pprof's legacy parser (profile/legacy_profile.go), so totals
equal those of `go tool pprof -raw` on the same file: heap samples are
unsampled with the Poisson correction of scaleHeapSample at rate
`heap/N` / 2, contention cycles become nanoseconds and both values are
multiplied by the sampling period. Unlike pprof, which drops them, the
symbol lines give each frame its function, file and line, and goroutine
labels are kept. The result is a profile.proto message handed to
:func:`.proto.profile_batches`, so text and proto
profiles land in the same rows (and a goroutine profile in `goroutines`).
A malformed sample line is reported in ``ingest_errors`` and skipped.

>>> import io
>>> text = b"goroutine profile: total 2\\n2 @ 0x1001\\n#\\t0x1000\\tmain.main+0x10\\t/app/main.go:7\\n"
>>> [t for t, _ in parse(io.BytesIO(text))][:3]
['profiles', 'profile_samples', 'dumps']
"""
from __future__ import annotations

import json
import math
import re
from typing import BinaryIO, Iterator

import pyarrow as pa

from ...errors import ParseError
from .. import ParseOptions, dict_batch, excerpt, line_batches
from .builder import ProfileBuilder
from .legacy import THREADZ_START, parse_threadz
from .mapping import assign_mappings, is_memory_map_sentinel, parse_memory_map
from .proto import profile_batches

# pprof profile/legacy_profile.go: countStartRE, countRE, heapHeaderRE,
# heapSampleRE, contentionSampleRE.
COUNT_HEADER = re.compile(r"^(\S+) profile: total (\d+)$")
# Unlike countRE, no address is needed: Go 1.19 writes `4 @` for threads
# created with no stack, which pprof rejects as malformed.
COUNT_SAMPLE = re.compile(r"^(\d{1,18}) @((?: 0x[0-9a-f]+)*)$")
HEAP_HEADER = re.compile(r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *(heap[_a-z0-9]*)/?(\d*)")
# growthHeaderRE, fragmentationHeaderRE: gperftools' growthz / fragmentationz (sampling period 1).
OTHER_HEAP_HEADER = re.compile(r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] @ (?:growth|fragmentation)z?")
HEAP_SAMPLE = re.compile(r"^(-?\d{1,18}): *(-?\d{1,18}) *\[ *(\d{1,18}): *(\d{1,18}) *\] @([ x0-9a-f]*)$")
CONTENTION_HEADER = re.compile(r"^--- (?:mutex:|contention:|contentionz )")
# pprof's contentionSampleRE: the two numbers apart by spaces (`\d+ *\d+` splits a long run of digits
# every way: quadratic). Numbers are bounded as an int64 holds them, here as in the samples above.
CONTENTION_SAMPLE = re.compile(r"^(\d{1,18}) +(\d{1,18}) @([ x0-9a-f]*)$")
HEX = re.compile(r"0x[0-9a-f]+")
# runtime/pprof printStackRecord: "#\t%#x\t%s+%#x\t%s:%d" (tabwriter may add tabs).
SYMBOL = re.compile(r"^#\t(0x[0-9a-f]+)\t(.+?)\+0x[0-9a-f]+\t+(.*):(\d+)$")
# runtime/pprof printCountProfile: "# labels: {"k":"v", ...}" (keys and values %q-quoted).
LABELS = re.compile(r"^# labels: \{(.*)\}$")
LABEL_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)":"((?:[^"\\]|\\.)*)"')


def text_profile_kind(head: bytes) -> str | None:
    """`count`, `heap` or `contention` when the first line is such a header.

    >>> text_profile_kind(b"heap profile: 1: 2 [3: 4] @ heap/1024\\n"), text_profile_kind(b"panic: x")
    ('heap', None)
    """
    first = head.lstrip(b"\r\n").split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    if COUNT_HEADER.match(first):
        return "count"
    if HEAP_HEADER.match(first) or OTHER_HEAP_HEADER.match(first):
        return "heap"
    if CONTENTION_HEADER.match(first):
        return "contention"
    if THREADZ_START.match(first):
        return "threadz"
    if first.startswith("--- heapz "):
        return "java"  # parse() says it is not read
    return None


def scale_heap_sample(count: int, size: int, rate: int) -> tuple[int, int]:
    """pprof scaleHeapSample: undo the runtime's Poisson sampling at `rate`."""
    if count == 0 or size == 0:
        return 0, 0
    if rate <= 1:
        return count, size
    scale = 1 / (1 - math.exp(-(size / count) / rate))
    return int(count * scale), int(size * scale)


class _TextProfile:
    """Line machine: header, attributes, then sample lines each followed by
    comment lines (labels, symbols) that belong to it."""

    def __init__(self, family: str):
        self.family = family
        self.b = ProfileBuilder()
        self.errors: list[dict] = []
        self.comments: list[str] = []
        self.pending: tuple | None = None  # (values, addresses, num labels) waiting for its # lines
        self.symbols: list[tuple] = []
        self.labels: dict[str, str] = {}
        self.state = "header"
        self.map_lines: list[str] = []  # the /proc/self/maps section, if any
        self.lines: list[str] = []  # a threadz dump, kept whole
        self.cpu_hz = 0
        self.rate = 0
        self.sampling = ""
        self.has_alloc = False

    def error(self, lineno: int, message: str, line: str) -> None:
        self.errors.append(dict(line=lineno, message=message, excerpt=excerpt(line)))

    def flush(self) -> None:
        if self.pending is not None:
            values, addresses, num = self.pending
            self.b.sample(values, addresses, self.symbols, self.labels, num)
        self.pending, self.symbols, self.labels = None, [], {}

    def header(self, lineno: int, line: str) -> None:
        b = self.b
        if self.family == "count":
            kind = COUNT_HEADER.match(line).group(1)
            b.types((kind, "count"), 1, (kind, "count"))
        elif self.family == "heap":
            m = HEAP_HEADER.match(line)
            if m is None:  # growthz / fragmentationz
                self.sampling, self.rate, self.has_alloc = "", 1, False
            else:
                rate = int(m.group(6)) if m.group(6) else 0
                self.sampling, self.rate = {"heapz_v2": ("v2", rate), "heap_v2": ("v2", rate),
                                            "heapprofile": ("", 1), "heap": ("v2", rate // 2)}.get(m.group(5), ("", 0))
                self.has_alloc = (m.group(3) != m.group(1) and m.group(3) != "0") or (
                    m.group(4) != m.group(2) and m.group(4) != "0")
            types = [("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"),
                     ("inuse_space", "bytes")] if self.has_alloc else [("objects", "count"), ("space", "bytes")]
            b.types(("space", "bytes"), self.rate, *types)
        else:
            b.types(("contentions", "count"), 1, ("contentions", "count"), ("delay", "nanoseconds"))
            self.comments.append(line.strip())
        self.state = "attributes" if self.family == "contention" else "samples"

    def line(self, lineno: int, line: str) -> None:
        if self.family == "threadz":  # read whole by legacy.parse_threadz
            self.lines.append(line)
            return
        stripped = line.strip()
        if self.state == "header":
            if stripped:
                self.header(lineno, stripped)
            return
        if self.state == "attributes":
            key, eq, value = stripped.partition("=")
            if not stripped or stripped.startswith("#"):
                return
            if eq and key.strip() in ("cycles/second", "sampling period", "ms since reset", "discarded samples"):
                self.attribute(lineno, key.strip(), value.strip(), line)
                return
            if eq and key.strip() in ("format", "resolution"):  # only Java's contentionz has these
                raise ParseError(f"line {lineno}: a Java contention profile ({excerpt(stripped)}): not read; "
                                 "forensics reads Go and C++ profiles")
            self.state = "samples"
        if self.state == "memstats":
            if stripped.startswith("# "):
                self.comments.append(stripped[2:])
            return
        if self.state == "maps":
            self.map_lines.append(line)
            return
        if is_memory_map_sentinel(line):
            self.flush()
            self.state = "maps"
            return
        if not stripped:
            self.flush()
            return
        if stripped.startswith("#"):
            self.comment(lineno, line, stripped)
            return
        if stripped.startswith("---"):
            self.flush()
            self.state = "done"  # another profile's section: pprof stops there too
            return
        if self.state == "done":
            return
        self.flush()
        self.sample_line(lineno, stripped, line)

    def attribute(self, lineno: int, key: str, value: str, line: str) -> None:
        try:
            number = int(value, 0)
        except ValueError:
            self.error(lineno, f"expected a number after {key}=", line)
            return
        if key == "cycles/second":
            self.cpu_hz = number
        elif key == "sampling period":
            self.b.msg.period = number
        elif key == "ms since reset":
            self.b.msg.duration_nanos = number * 1_000_000

    def comment(self, lineno: int, line: str, stripped: str) -> None:
        if stripped == "# runtime.MemStats":
            self.flush()
            self.state = "memstats"
            self.comments.append("runtime.MemStats")
            return
        m = SYMBOL.match(line.rstrip())
        if m and self.pending is not None:
            self.symbols.append((int(m.group(1), 16), m.group(2), m.group(3), int(m.group(4))))
            return
        m = LABELS.match(stripped)
        if m and self.pending is not None:
            for k, v in LABEL_PAIR.findall(m.group(1)):
                self.labels[_unquote(k)] = _unquote(v)

    def sample_line(self, lineno: int, stripped: str, line: str) -> None:
        if self.family == "count":
            m = COUNT_SAMPLE.match(stripped)
            if not m:
                return self.error(lineno, "expected a count profile sample `N @ 0x...`", line)
            self.pending = ([int(m.group(1))], _addresses(m.group(2)), {})
        elif self.family == "heap":
            m = HEAP_SAMPLE.match(stripped)
            if not m:
                return self.error(lineno, "expected a heap profile sample `inuse: bytes [allocs: bytes] @ 0x...`",
                                  line)
            values: list[int] = []
            block = 0
            pairs = [(m.group(3), m.group(4)), (m.group(1), m.group(2))] if self.has_alloc else [(m.group(1), m.group(2))]
            for count_text, size_text in pairs:
                count, size = int(count_text), int(size_text)
                if count == 0 and size != 0:
                    return self.error(lineno, f"count is 0 but bytes is {size}", line)
                if count:
                    quotient = abs(size) // abs(count)  # Go's / truncates toward zero
                    block = quotient if (size >= 0) == (count > 0) else -quotient
                    if self.sampling == "v2":
                        count, size = scale_heap_sample(count, size, self.rate)
                values += [count, size]
            self.pending = (values, _addresses(m.group(5)), {"bytes": block})
        else:
            m = CONTENTION_SAMPLE.match(stripped)
            if not m:
                return self.error(lineno, "expected a contention sample `cycles count @ 0x...`", line)
            cycles, count = int(m.group(1)), int(m.group(2))
            period = self.b.msg.period
            if period > 0:
                if self.cpu_hz > 0:
                    cycles = int(cycles * period / (self.cpu_hz / 1e9))
                count *= period
            self.pending = ([count, cycles], _addresses(m.group(3)), {})


def _addresses(text: str) -> list[int]:
    return [int(h, 16) for h in HEX.findall(text)]


def _unquote(text: str) -> str:
    try:
        return json.loads(f'"{text}"')
    except ValueError:
        return text


def parse(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Parse one debug=1 text profile into the rows of a profile.proto."""
    opt = options or ParseOptions()
    machine: _TextProfile | None = None
    errors: list[dict] = []
    lineno = 0

    def long_line(n: int, length: int) -> None:
        errors.append(dict(line=n, message=f"line of {length} characters cut to the first 1 MiB", excerpt=None))

    for lines in line_batches(stream, long_line):
        for line in lines:
            lineno += 1
            if machine is None:
                if not line.strip():
                    continue
                family = text_profile_kind(line.encode())
                if family is None:
                    raise ParseError(f"line {lineno}: expected a text profile header, found {excerpt(line)!r}")
                if family == "java":
                    raise ParseError(f"line {lineno}: a Java heap profile ({excerpt(line)}): not read; "
                                     "forensics reads Go and C++ profiles")
                machine = _TextProfile(family)
            machine.line(lineno, line)
    if machine is None:
        raise ParseError("no text profile header found")
    machine.flush()
    b = machine.b
    if machine.family == "threadz":
        samples, machine.map_lines = parse_threadz(machine.lines)
        b.types(("thread", "count"), 1, ("thread", "count"))
        for count, addrs in samples:
            b.sample([count], addrs, [], {}, {}, adjust=False)
    assign_mappings(b, parse_memory_map(machine.map_lines))
    for comment in machine.comments:
        b.msg.comment.append(b.s(comment))
    yield from profile_batches(b.decoded(), opt)
    errors += machine.errors
    if errors:
        yield "ingest_errors", dict_batch("ingest_errors", errors)
