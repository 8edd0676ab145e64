"""One input file: its bytes (decompressed, bounded), its identity, its limits.

A :class:`Source` is one file's content with a display name
(``bundle.tgz!logs/app.log`` for an archive member, ``-`` for stdin).
gzip, bzip2 and xz are undone transparently and every decompressed byte is
counted against :class:`Limits`: a bomb costs at most those bytes.

>>> import gzip, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.log"
>>> _ = p.write_bytes(b"hello"); g = p.with_suffix(".log.gz"); _ = g.write_bytes(gzip.compress(b"hello"))
>>> Source("a.log", p).sha256() == Source("a.log.gz", g).sha256()  # identity is the content, not its packing
True
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import math
import os
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from ..errors import LimitExceeded, SourceError
from ..times import from_seconds

GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZIP_MAGIC = b"PK\x03\x04"
SNIFF_BYTES = 1 << 16
# Sources whose decoded content is at most this are read once, when hashed, and kept in memory for the
# sniff and the parser: a batch of many small files costs one read (and one decompression) each.
SMALL_SOURCE = 1 << 20
COPY_CHUNK = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Bounds on decompression and extraction (bytes), sized for a laptop or a CI runner.

    Raise them for bigger evidence: ``fx.open(db).ingest(paths, limits=Limits(max_source_bytes=16 << 30))``
    or ``forensics ingest --max-source-size 16GiB``. A source past a bound keeps what was read
    before it and is recorded ``partial`` with the bound in its error.
    """

    max_source_bytes: int = 4 * GiB  # decompressed size of any one source
    max_extract_bytes: int = 16 * GiB  # all archive members of one call together
    min_free_disk: int = 1 * GiB  # never fill the temp disk past this
    max_members: int = 1_000_000
    max_depth: int = 3  # archives inside archives
    # Decompressed / compressed size past which a source is a bomb, once past ratio_floor bytes:
    # logs compress 10-50x, repetitive goroutine dumps a few hundred; a 156 KB xz of 1 GiB is 6,700x.
    max_ratio: int = 1000
    ratio_floor: int = 256 << 20

    def check_ratio(self, name: str, size: int, packed: int | None) -> None:
        """LimitExceeded when `size` decompressed bytes from `packed` compressed ones look like a bomb."""
        if packed and size > self.ratio_floor and size > self.max_ratio * packed:
            raise LimitExceeded(f"{name}: expands more than {self.max_ratio} times ({packed} bytes to over {size}); "
                                "a decompression bomb, or raise Limits.max_ratio (--max-ratio)")


@dataclass
class Source:
    """One input file: a display name and where its bytes are.

    ``open()`` gives the decompressed content (gzip, bzip2 and xz are undone
    transparently, bounded by Limits). ``error`` is set when the source could
    not be read at all; ``status`` is then what it is recorded as (``failed``,
    or ``skipped`` for what is not a file to read, ``partial`` for a damaged
    archive whose other members were read).
    """

    name: str
    path: Path | None
    size: int = 0
    mtime: datetime | None = None
    error: str | None = None
    limits: Limits = field(default_factory=Limits)
    status: str = "failed"
    temporary: bool = False  # a file of ours (an archive member, stdin's copy): removed by release()
    _sha256: str | None = None
    _content: bytes | None = field(default=None, repr=False)  # a small source's decoded bytes, once hashed

    def __post_init__(self):
        self.name = display_name(self.name)

    def sha256(self) -> str:
        """The hash of the decoded content: a log and its gzipped rotation are one artefact."""
        if self._sha256 is None:
            try:
                with self.open() as f:
                    head = f.read(SMALL_SOURCE + 1)
                    sha = _hash(f, head)  # reads to the end: a corrupt stream raises here
                self._content = head if len(head) <= SMALL_SOURCE else None
                self._sha256 = sha
            except SourceError:  # corrupt or past a bound: its packed bytes are what is known of it
                self._content = None
                self._sha256 = packed_sha256(self.path)
        return self._sha256

    @property
    def small(self) -> bool:
        """Whether the decoded content is in memory (hashed, and at most SMALL_SOURCE bytes)."""
        return self._content is not None

    def open(self) -> BinaryIO:
        if self._content is not None:
            return io.BytesIO(self._content)
        raw = open(self.path, "rb")
        head = raw.read(6)
        raw.seek(0)
        if head.startswith(GZIP_MAGIC):
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        elif head.startswith(BZ2_MAGIC):
            stream = bz2.BZ2File(raw)
        elif head.startswith(XZ_MAGIC):
            stream = lzma.LZMAFile(raw)
        else:
            return raw
        return _Bounded(stream, raw, self.limits, self.name, os.fstat(raw.fileno()).st_size)

    def release(self) -> None:
        """Remove the file when it is ours (an archive member): the temp disk holds one member at a time."""
        if self.temporary and self.path is not None:
            self.path.unlink(missing_ok=True)


class _Bounded:
    """A read-only stream that raises LimitExceeded past the limits, and
    SourceError (not zlib/EOF errors) on corrupt compressed data."""

    def __init__(self, stream, raw, limits: Limits, name: str, packed: int):
        self.stream, self.raw, self.limits, self.name, self.packed = stream, raw, limits, name, packed
        self.limit, self.count = limits.max_source_bytes, 0
        self.failure: SourceError | None = None

    def read(self, n: int = -1) -> bytes:
        """Up to n bytes. Data decoded before a corruption or a bound is
        returned first; the error comes with the next call."""
        if self.failure is not None:
            raise self.failure
        if n is None or n < 0:
            n = self.limit + 1 - self.count
        n = min(n, self.limit + 1 - self.count)
        chunks, got = [], 0
        while got < n and self.failure is None:
            try:
                data = self.stream.read1(min(n - got, 1 << 16))
            except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
                at = self.count + got
                self.failure = SourceError(f"{self.name}: corrupt compressed data after {at} bytes: {exc}")
                break
            if not data:
                break
            chunks.append(data)
            got += len(data)
        if not chunks and self.failure is not None:
            raise self.failure
        data = b"".join(chunks)
        if self.count + len(data) > self.limit:  # what came before the bound is returned; the error comes next
            data = data[: self.limit - self.count]
            self.failure = LimitExceeded(f"{self.name}: decompressed size exceeds {self.limit} bytes "
                                         "(raise Limits.max_source_bytes, --max-source-size)")
        self.count += len(data)
        if self.failure is None:
            try:
                self.limits.check_ratio(self.name, self.count, self.packed)
            except LimitExceeded as exc:
                self.failure = exc
        if not data and self.failure is not None:
            raise self.failure
        return data

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def display_name(name: str) -> str:
    """A path as text: bytes that are not UTF-8 (which Python keeps as lone surrogates) written as \\xNN.

    >>> display_name(b"crash-\\xff.txt".decode("utf-8", "surrogateescape"))
    'crash-\\\\xff.txt'
    """
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _hash(stream, head: bytes = b"") -> str:
    """The sha256 of `head` and the rest of `stream`."""
    h = hashlib.sha256(head)
    with stream as f:
        while chunk := f.read(COPY_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def packed_sha256(path: Path) -> str:
    """The sha256 of a file's bytes as stored (compressed or not): the identity sources had before schema 9."""
    return _hash(open(path, "rb"))


def file_time(ts: float | None) -> datetime | None:
    """A file's mtime as a UTC datetime, cut to the millisecond (what Hadoop file
    systems report, so a file read by a Spark job has the same time); None when
    absent or out of range.

    >>> file_time(1700000000.1234567)
    datetime.datetime(2023, 11, 14, 22, 13, 20, 123000)
    """
    if ts is None:
        return None
    try:
        return from_seconds(math.floor(ts * 1000) / 1000)
    except (OverflowError, OSError, ValueError):
        return None
