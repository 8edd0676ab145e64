"""Archives: tar (plain, gzip, bzip2, xz) and zip, unpacked member by member.

Members are copied into a private temporary directory under names the code
chooses (``m000001``), never under member names, so no member can be
written elsewhere, whatever its path says. Every byte is counted against
:class:`forensics.ingest.files.Limits`, and each member's file is removed
as soon as the pipeline is done with it (:meth:`Source.release`), so the
temp disk holds about one member at a time.

A damaged archive never ends quietly. tarfile stops iterating at the first
bad header past the start (``TarFile.next``: an ``InvalidHeaderError`` at a
non-zero offset is taken for the end); here the scan goes on block by block
to the next valid header (``ignore_zeros``), and every skipped region is
reported: the archive itself becomes a ``partial`` source naming the offset
and how many members were read. A corrupt compressed stream stops the
archive the same way, as an error with the count read so far. A zip's
members are independent (its central directory lists them): one corrupt,
encrypted or unsupported member is one failed source, and the rest are read.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import LimitExceeded, SourceError
from .files import BZ2_MAGIC, COPY_CHUNK, GZIP_MAGIC, XZ_MAGIC, ZIP_MAGIC, Limits, Source, file_time

# What a broken archive or compressed stream raises from Python's readers:
# zlib.error from a corrupt deflate stream, NotImplementedError from a zip
# method Python lacks (deflate64, AES), the rest from tarfile and zipfile.
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, lzma.LZMAError,
                  zlib.error, NotImplementedError, ValueError, RuntimeError)
# Zip compression methods by number (APPNOTE.TXT 4.4.5), for errors naming the one Python lacks.
ZIP_METHODS = {9: "deflate64", 10: "PKWARE implode", 12: "bzip2", 14: "LZMA", 93: "zstd", 95: "xz", 98: "PPMd",
               99: "AES-encrypted"}


class MemberTooLarge(LimitExceeded):
    """One member past a per-source bound (or the free disk): that member fails, the others are read."""


class Extractor:
    """Copies archive members into one private temp directory, counting every byte."""

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

    def room_for(self, name: str, size: int | None) -> None:
        """LimitExceeded unless a member of `size` bytes (as its archive declares) fits the limits and the disk."""
        if size is None:
            return
        if size > self.limits.max_source_bytes:
            raise MemberTooLarge(f"{name}: member of {size} bytes is larger than the limit of "
                                f"{self.limits.max_source_bytes} bytes per source")
        free = shutil.disk_usage(self.dir).free
        if free - size < self.limits.min_free_disk:
            raise MemberTooLarge(f"{name}: member of {size} bytes does not fit the temp disk ({free} bytes free, "
                                f"{self.limits.min_free_disk} kept free); set TMPDIR to a larger disk")

    def copy(self, src: BinaryIO, name: str, packed: int | None = None) -> tuple[Path, int]:
        """Copy `src` to a new temp file; `packed` is its compressed size when known (for the ratio bound)."""
        dest = self.new_path()
        size = 0
        limits = self.limits
        try:
            with open(dest, "wb") as out:
                while True:
                    try:
                        chunk = src.read(COPY_CHUNK)
                    except ARCHIVE_ERRORS as exc:
                        raise SourceError(f"{name}: corrupt data after {size} bytes: {exc}") from exc
                    if not chunk:
                        break
                    size += len(chunk)
                    self.total += len(chunk)
                    if size > limits.max_source_bytes:
                        raise MemberTooLarge(f"{name}: member larger than {limits.max_source_bytes} bytes")
                    if self.total > limits.max_extract_bytes:
                        raise LimitExceeded(f"archives expand past {limits.max_extract_bytes} bytes in all")
                    try:
                        limits.check_ratio(name, size, packed)
                    except LimitExceeded as exc:  # this member's own ratio: a bomb among good members
                        raise MemberTooLarge(str(exc)) from None
                    if size % (64 * COPY_CHUNK) < len(chunk) and shutil.disk_usage(self.dir).free < limits.min_free_disk:
                        raise LimitExceeded(f"{name}: temp disk nearly full; stopped extracting "
                                            "(set TMPDIR to a larger disk)")
                    out.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest, size

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def archive_type(path: Path) -> str | None:
    """'tar' or 'zip' when the file is an archive (by content), else None."""
    try:
        with open(path, "rb") as f:
            block = f.read(512)
        if block.startswith(ZIP_MAGIC) and zipfile.is_zipfile(path):
            return "zip"
        if block.startswith((GZIP_MAGIC, BZ2_MAGIC, XZ_MAGIC)):
            opener = {GZIP_MAGIC: gzip.open, BZ2_MAGIC: bz2.open, XZ_MAGIC: lzma.open}
            fn = next(v for k, v in opener.items() if block.startswith(k))
            with fn(path, "rb") as f:
                block = f.read(512)
        if len(block) == 512 and block[257:262] == b"ustar":
            return "tar"
    except ARCHIVE_ERRORS:
        return None  # corrupt compressed data: not an archive; reading it reports the corruption
    return None


class _Damage:
    """Where a tar's headers were bad: (offset, bytes skipped) per region."""

    def __init__(self):
        self.regions: list[list[int]] = []

    def note(self, offset: int) -> None:
        if self.regions and self.regions[-1][0] + self.regions[-1][1] == offset:
            self.regions[-1][1] += tarfile.BLOCKSIZE
        else:
            self.regions.append([offset, tarfile.BLOCKSIZE])


class _Header(tarfile.TarInfo):
    """A TarInfo that notes every block that is not a valid header (tarfile
    skips them silently with ``ignore_zeros``; zero blocks are the archive's end)."""

    @classmethod
    def fromtarfile(cls, tf):
        offset = tf.fileobj.tell()
        try:
            return super().fromtarfile(tf)
        except tarfile.InvalidHeaderError:
            tf.damage.note(offset)
            raise


def _damage_text(damage: _Damage, read: int) -> str:
    first = damage.regions[0]
    skipped = sum(n for _, n in damage.regions)
    return (f"damaged tar header at offset {first[0]}: {skipped} bytes in {len(damage.regions)} "
            f"region{'s' if len(damage.regions) > 1 else ''} skipped to the next valid header; {read} members read")


def members(archive: Path, name: str, kind: str, ex: Extractor, limits: Limits, depth: int) -> Iterator[Source]:
    """The sources inside one archive, then, when it is damaged, the archive itself with the error."""
    read = 0
    packed = archive.stat().st_size
    extracted_before = ex.total
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    if info.is_dir():
                        continue
                    read += 1
                    yield from _zip_member(z, info, f"{name}!{info.filename}", ex, limits, depth)
        else:
            with tarfile.open(archive, "r:*", ignore_zeros=True, tarinfo=_Header) as tf:
                tf.damage = _Damage()
                for m in tf:
                    if not m.isfile():  # links, devices and dirs carry no content of their own
                        continue
                    member = f"{name}!{m.name}"
                    limits.check_ratio(name, ex.total - extracted_before + m.size, packed)
                    try:
                        ex.room_for(member, m.size)
                        dest, size = ex.copy(tf.extractfile(m), member)
                    except MemberTooLarge as exc:  # tarfile seeks to the next header: the rest is read
                        yield Source(member, None, error=str(exc), limits=limits)
                        continue
                    read += 1
                    yield from classify(member, dest, size, file_time(m.mtime), ex, limits, depth)
                if tf.damage.regions:
                    yield _archive_source(name, archive, "partial", _damage_text(tf.damage, read), limits)
    except SourceError as exc:
        yield _archive_source(name, archive, "partial" if read else "failed",
                              f"{exc} (after {read} members of the archive)", limits)
    except Exception as exc:  # noqa: BLE001 - ARCHIVE_ERRORS, and whatever else a damaged archive makes tarfile raise
        yield _archive_source(name, archive, "partial" if read else "failed",
                              f"corrupt {kind} archive after {read} members ({type(exc).__name__}: {exc})", limits)


def _zip_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, member: str, ex: Extractor, limits: Limits,
                depth: int) -> Iterator[Source]:
    """One zip member's sources: its members are independent, so its failure is its own."""
    if info.flag_bits & 0x1:
        yield Source(member, None, error="encrypted zip member", limits=limits)
        return
    try:
        ex.room_for(member, info.file_size)
        with z.open(info) as src:
            dest, size = ex.copy(src, member, packed=info.compress_size)
    except NotImplementedError:
        method = ZIP_METHODS.get(info.compress_type, f"method {info.compress_type}")
        yield Source(member, None, error=f"zip member compressed with {method}, which Python cannot read; "
                                         "unpack it with another tool", limits=limits)
        return
    except MemberTooLarge as exc:
        yield Source(member, None, error=str(exc), limits=limits)
        return
    except LimitExceeded:
        raise  # a bound on the whole call or archive (all members, their number, a bomb's ratio)
    except (SourceError, *ARCHIVE_ERRORS) as exc:
        yield Source(member, None, error=f"corrupt zip member: {exc}", limits=limits)
        return
    yield from classify(member, dest, size, file_time(_zip_time(info)), ex, limits, depth)


def _archive_source(name: str, path: Path, status: str, error: str, limits: Limits) -> Source:
    st = path.stat()
    return Source(name, path, st.st_size, file_time(st.st_mtime), error=error, status=status, limits=limits)


def _zip_time(info: zipfile.ZipInfo) -> float | None:
    try:
        return datetime(*info.date_time, tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def classify(name: str, path: Path, size: int, mtime, ex: Extractor, limits: Limits, depth: int) -> Iterator[Source]:
    """`path` as one source, or, when it is an archive, the sources inside it."""
    temporary = path.parent == ex.dir
    kind = archive_type(path)
    if kind is None:
        yield Source(name, path, size, mtime, limits=limits, temporary=temporary)
        return
    if depth >= limits.max_depth:
        yield Source(name, path, size, mtime, error=f"archive nested deeper than {limits.max_depth} levels",
                     limits=limits, temporary=temporary)
        return
    try:
        yield from members(path, name, kind, ex, limits, depth + 1)
    finally:
        if temporary:
            path.unlink(missing_ok=True)  # an archive inside an archive: its members are out
