"""Where input comes from: paths, directories, globs, stdin, compressed files and archives.

:func:`open_sources` turns what a user names on the command line into
:class:`Source` objects, each one file's bytes with a display name
(``bundle.tgz!logs/app.log`` for an archive member, ``-`` for stdin).

Archives (tar, tar.gz/bz2/xz, zip, nested up to :attr:`Limits.max_depth`) are
unpacked into a private temporary directory under names the code chooses
(``m000001``), never under member names, so no member can be written
elsewhere, whatever its path says. Every decompression is counted and stops
at :class:`Limits`: a gzip or zip bomb costs at most those bytes of disk.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.log").write_text("hello")
>>> with open_sources([str(d)]) as sources:
...     [s.name.endswith("a.log") for s in sources]
[True]
"""
from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import hashlib
import lzma
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import LimitExceeded, SourceError
from ..times import from_seconds

GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZIP_MAGIC = b"PK\x03\x04"
SNIFF_BYTES = 1 << 16
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on decompression and extraction (bytes)."""

    max_source_bytes: int = 16 << 30  # decompressed size of any one source
    max_extract_bytes: int = 32 << 30  # all archive members of one call together
    min_free_disk: int = 1 << 30  # never fill the temp disk past this
    max_members: int = 1_000_000
    max_depth: int = 3  # archives inside archives


@dataclass
class Source:
    """One input file: a display name and where its bytes are.

    ``open()`` gives the decompressed content (gzip, bzip2 and xz are undone
    transparently, bounded by Limits.max_source_bytes).
    """

    name: str
    path: Path | None
    size: int = 0
    mtime: datetime | None = None
    error: str | None = None  # set when the source could not be read at all
    limits: Limits = field(default_factory=Limits)
    _sha256: str | None = None

    def sha256(self) -> str:
        if self._sha256 is None:
            h = hashlib.sha256()
            with open(self.path, "rb") as f:
                while chunk := f.read(COPY_CHUNK):
                    h.update(chunk)
            self._sha256 = h.hexdigest()
        return self._sha256

    def open(self) -> BinaryIO:
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
        return _Bounded(stream, self.limits.max_source_bytes, self.name)


class _Bounded:
    """A read-only stream that raises LimitExceeded past `limit` bytes, and
    SourceError (not zlib/EOF errors) on corrupt compressed data."""

    def __init__(self, stream, limit: int, name: str):
        self.stream, self.limit, self.name, self.count = stream, limit, name, 0
        self.failure: SourceError | None = None

    def read(self, n: int = -1) -> bytes:
        """Up to n bytes. Data decoded before a corruption is returned first;
        the error comes with the next call."""
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
        self.count += len(data)
        if self.count > self.limit:
            raise LimitExceeded(f"{self.name}: decompressed size exceeds {self.limit} bytes")
        return data

    def close(self) -> None:
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _mtime(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return from_seconds(ts)
    except (OverflowError, OSError, ValueError):
        return None


def _expand(paths: list[str]) -> Iterator[tuple[str, Path | None, str | None]]:
    """(display name, real path, error) for every file named by paths."""
    for p in paths:
        if p == "-":
            yield "-", None, None
            continue
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    full = Path(root) / f
                    yield str(full), full, None
        elif path.exists():
            yield p, path, None
        elif any(c in p for c in "*?["):
            matches = sorted(glob.glob(p, recursive=True))
            if not matches:
                yield p, None, "no file matches this pattern"
            for m in matches:
                yield from _expand([m]) if Path(m).is_dir() else [(m, Path(m), None)]
        else:
            yield p, None, "no such file or directory"


class _Extractor:
    """Unpacks archives into one temp directory, counting every byte."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.dir = Path(tempfile.mkdtemp(prefix="forensics-"))
        self.n = 0
        self.total = 0

    def new_path(self) -> Path:
        self.n += 1
        if self.n > self.limits.max_members:
            raise LimitExceeded(f"more than {self.limits.max_members} archive members")
        return self.dir / f"m{self.n:06d}"

    def copy(self, src: BinaryIO, name: str) -> tuple[Path, int]:
        dest = self.new_path()
        size = 0
        free_floor = self.limits.min_free_disk
        with open(dest, "wb") as out:
            while True:
                try:
                    chunk = src.read(COPY_CHUNK)
                except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError, ValueError) as exc:
                    raise SourceError(f"{name}: corrupt data after {size} bytes: {exc}") from exc
                if not chunk:
                    break
                size += len(chunk)
                self.total += len(chunk)
                if size > self.limits.max_source_bytes:
                    raise LimitExceeded(f"{name}: member larger than {self.limits.max_source_bytes} bytes")
                if self.total > self.limits.max_extract_bytes:
                    raise LimitExceeded(f"archives expand past {self.limits.max_extract_bytes} bytes in all")
                if size % (64 * COPY_CHUNK) < len(chunk) and shutil.disk_usage(self.dir).free < free_floor:
                    raise LimitExceeded(f"{name}: temp disk nearly full; stopped extracting")
                out.write(chunk)
        return dest, size

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def archive_type(path: Path) -> str | None:
    """'tar' or 'zip' when the file is an archive (by content), else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
        if head.startswith(ZIP_MAGIC) and zipfile.is_zipfile(path):
            return "zip"
        if head.startswith((GZIP_MAGIC, BZ2_MAGIC, XZ_MAGIC)):
            opener = {GZIP_MAGIC: gzip.open, BZ2_MAGIC: bz2.open, XZ_MAGIC: lzma.open}
            fn = next(v for k, v in opener.items() if head.startswith(k))
            with fn(path, "rb") as f:
                block = f.read(512)
        else:
            with open(path, "rb") as f:
                block = f.read(512)
        if len(block) == 512 and block[257:262] == b"ustar":
            return "tar"
    except (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile):
        return None  # corrupt compressed data: not an archive; reading it reports the corruption
    return None


def _members(archive: Path, name: str, kind: str, ex: _Extractor, limits: Limits, depth: int) -> Iterator[Source]:
    if kind == "zip":
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if info.is_dir():
                    continue
                member = f"{name}!{info.filename}"
                if info.flag_bits & 0x1:
                    yield Source(member, None, error="encrypted zip member", limits=limits)
                    continue
                with z.open(info) as src:
                    dest, size = ex.copy(src, member)
                yield from _classify(member, dest, size, _mtime(_zip_time(info)), ex, limits, depth)
    else:
        with tarfile.open(archive, "r:*") as tf:
            for m in tf:
                if not m.isfile():  # links, devices and dirs carry no content of their own
                    continue
                member = f"{name}!{m.name}"
                src = tf.extractfile(m)
                dest, size = ex.copy(src, member)
                yield from _classify(member, dest, size, _mtime(m.mtime), ex, limits, depth)


def _zip_time(info: zipfile.ZipInfo) -> float | None:
    try:
        return datetime(*info.date_time, tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _classify(name, path, size, mtime, ex, limits, depth) -> Iterator[Source]:
    kind = archive_type(path)
    if kind is None:
        yield Source(name, path, size, mtime, limits=limits)
        return
    if depth >= limits.max_depth:
        yield Source(name, path, size, mtime, error=f"archive nested deeper than {limits.max_depth} levels", limits=limits)
        return
    try:
        yield from _members(path, name, kind, ex, limits, depth + 1)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, lzma.LZMAError) as exc:
        yield Source(name, path, size, mtime, error=f"corrupt {kind} archive: {exc}", limits=limits)
    except SourceError as exc:
        yield Source(name, path, size, mtime, error=str(exc), limits=limits)


@contextlib.contextmanager
def open_sources(paths: list[str], limits: Limits | None = None, stdin: BinaryIO | None = None):
    """Context manager yielding an iterator of Sources for `paths`.

    Temporary files (stdin spool, archive members) are removed on exit.
    A source that cannot be read comes out with ``error`` set rather than
    raising, so one bad file never stops a batch.
    """
    limits = limits or Limits()
    ex = _Extractor(limits)

    def generate() -> Iterator[Source]:
        for name, path, error in _expand(list(paths)):
            if error:
                yield Source(name, None, error=error, limits=limits)
                continue
            try:
                if path is None:  # stdin
                    stream = stdin if stdin is not None else sys.stdin.buffer
                    dest, size = ex.copy(stream, "-")
                    yield from _classify("-", dest, size, None, ex, limits, 0)
                    continue
                st = path.stat()
                yield from _classify(name, path, st.st_size, _mtime(st.st_mtime), ex, limits, 0)
            except (OSError, SourceError) as exc:
                yield Source(name, None, error=str(exc), limits=limits)

    try:
        yield generate()
    finally:
        ex.cleanup()
