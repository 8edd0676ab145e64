"""Legacy profiles `go tool pprof` still reads, read the same way.

- The binary CPU format of gperftools' profilez and of Go before 1.9:
  native-endian 32- or 64-bit words, a header ``0 3 0 period_us 0``,
  samples ``count n pc1..pcn`` and a ``0 1 0`` trailer, then the process's
  /proc/self/maps (pprof profile/legacy_profile.go parseCPU, cpuProfile).
- gperftools thread dumps (``--- threadz N ---``, parseThread).
- The memory map that ends these and the legacy text profiles, read by
  :mod:`.mapping`.

Java's variants (header word 1, ``format = java``) are refused with a
ParseError: forensics reads what Go programs and their C++ neighbours write.

>>> import io, struct
>>> words = [0, 3, 0, 10000, 0, 5, 2, 0x401000, 0x402000, 0, 1, 0]
>>> [t for t, _ in parse(io.BytesIO(struct.pack("<12Q", *words)))][:2]
['profiles', 'profile_samples']
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa
import regex

from ...errors import ParseError
from .. import ParseOptions
from .builder import ProfileBuilder
from .mapping import assign_mappings, is_memory_map_sentinel, parse_memory_map
from .proto import profile_batches

# pprof cpuInts: the word formats tried, in order.
WORDS = [("<u4", "32-bit little-endian"), (">u4", "32-bit big-endian"), ("<u8", "64-bit little-endian"),
         (">u8", "64-bit big-endian")]
# profile/legacy_profile.go: threadzStartRE, threadStartRE.
THREADZ_START = regex.compile(r"--- threadz \d+ ---")
THREAD_START = regex.compile(r"--- Thread ([[:xdigit:]]+) \(name: (.*)/(\d+)\) stack: ---")
_HEX = regex.compile(r"0x[0-9a-f]+")


def binary_cpu_header(head: bytes) -> tuple[str, int, int] | None:
    """(word dtype, period in microseconds, header words' java flag) when
    `head` starts like a binary CPU profile, else None."""
    for dtype, _ in WORDS:
        size = np.dtype(dtype).itemsize
        if len(head) < 5 * size:
            continue
        w = np.frombuffer(head[:5 * size], dtype=dtype)
        if w[0] == 0 and w[1] == 3 and w[2] in (0, 1) and w[3] > 0 and w[4] == 0:
            return dtype, int(w[3]), int(w[2])
    return None


def _cpu_samples(words: np.ndarray, size: int) -> tuple[list[tuple[int, list[int]]], int]:
    """(count, addresses) records after the header (pprof parseCPUSamples),
    and the byte offset where the memory map text starts."""
    samples, i, n = [], 5, len(words)
    while i < n:
        if i + 2 > n:
            raise ParseError(f"binary CPU profile cut inside a sample header at byte {i * size}")
        count, depth = int(words[i]), int(words[i + 1])
        if depth > n - i - 2:
            raise ParseError(f"binary CPU profile: a sample at byte {i * size} has {depth} frames but only "
                             f"{n - i - 2} words follow")
        addrs = [int(a) for a in words[i + 2:i + 2 + depth]]
        i += 2 + depth
        if count == 0 and depth == 1 and addrs[0] == 0:
            return samples, i * size  # end-of-data marker
        samples.append((count, [a if k == 0 else a - 1 for k, a in enumerate(addrs)]))
    return samples, n * size


def _strip_signal_frames(samples: list[tuple[int, list[int]]]) -> None:
    """pprof cpuProfile: a second frame that (nearly) every sample shares
    is the signal handler's; drop it, up to twice."""
    margin = len(samples) // 32
    for _ in range(2):
        counts: dict[int, int] = {}
        for _, addrs in samples:
            if len(addrs) > 1:
                counts[addrs[1]] = counts.get(addrs[1], 0) + 1
        common = next((a for a, c in counts.items() if c >= len(samples) - margin), None)
        if common is None:
            continue
        for _, addrs in samples:
            if len(addrs) > 1 and addrs[1] == common:
                del addrs[1]


def cleanup_duplicate_leaf(addrs: list[int]) -> list[int]:
    """pprof cleanupDuplicateLocations: the leaf twice (the second adjusted by -1)."""
    if len(addrs) > 1 and addrs[0] == addrs[1] + 1:
        return addrs[:1] + addrs[2:]
    return addrs


def _read_all(stream: BinaryIO) -> bytes:
    chunks = []
    while chunk := stream.read(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def parse(stream: BinaryIO, options: ParseOptions | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Parse a binary CPU profile (gperftools, Go before 1.9)."""
    data = _read_all(stream)
    header = binary_cpu_header(data[:40])
    if header is None:
        raise ParseError("not a binary CPU profile: no `0 3 0 period 0` header")
    dtype, period_us, java = header
    if java:
        raise ParseError("a Java CPU profile (legacy binary, Java flavour): not read; forensics reads Go and "
                         "C++ profiles")
    size = np.dtype(dtype).itemsize
    words = np.frombuffer(data[:len(data) - len(data) % size], dtype=dtype)
    samples, end = _cpu_samples(words, size)
    _strip_signal_frames(samples)
    b = ProfileBuilder()
    period = period_us * 1000
    b.types(("cpu", "nanoseconds"), period, ("samples", "count"), ("cpu", "nanoseconds"))
    for count, addrs in samples:
        b.sample([count, count * period], cleanup_duplicate_leaf(addrs), [], {}, {}, adjust=False)
    assign_mappings(b, parse_memory_map(data[end:].decode("utf-8", "replace").splitlines()))
    yield from profile_batches(b.decoded(), options or ParseOptions())


def parse_threadz(lines: list[str]) -> tuple[list[tuple[int, list[int]]], list[str]]:
    """Samples of a `--- threadz N ---` thread dump (pprof parseThread:
    one sample per thread, `same as previous thread` adds to the last one,
    every hex number of a stack's lines is a frame, creator stacks
    included) and the memory map lines after it."""
    i, n = 0, len(lines)
    while i < n and (not lines[i].strip() or lines[i].strip().startswith("#")):
        i += 1
    if i < n and THREADZ_START.search(lines[i]):
        i += 1
        while i < n and not (is_memory_map_sentinel(lines[i]) or lines[i].startswith("-")):
            i += 1
    samples: list[tuple[int, list[int]]] = []
    while i < n and not is_memory_map_sentinel(lines[i]):
        if lines[i].startswith("---- no stack trace for"):
            break
        if not THREAD_START.search(lines[i]):
            raise ParseError(f"line {i + 1}: expected `--- Thread ... stack: ---`, found {lines[i][:200]!r}")
        i += 1
        addrs, same = [], False
        while i < n:
            text = lines[i].strip()
            if text.startswith("---"):
                break
            if "same as previous thread" in text:
                same = True
            elif text:
                addrs += [int(h, 16) for h in _HEX.findall(text)]
            i += 1
        if same or not addrs:
            if samples:
                samples[-1] = (samples[-1][0] + 1, samples[-1][1])
            continue
        samples.append((1, cleanup_duplicate_leaf([a if k == 0 else a - 1 for k, a in enumerate(addrs)])))
    while i < n and not is_memory_map_sentinel(lines[i]):
        i += 1
    return samples, lines[i + 1:]
