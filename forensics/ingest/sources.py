"""Where input comes from: paths, directories, globs, stdin, compressed files and archives.

:func:`open_sources` turns what a user names on the command line into
:class:`Source` objects, each one file's bytes with a display name
(``bundle.tgz!logs/app.log`` for an archive member, ``-`` for stdin).

Archives (tar, tar.gz/bz2/xz, zip, nested up to :attr:`Limits.max_depth`) are
unpacked by :mod:`.archives`; one file's bytes are :mod:`.files`. Only
regular files are opened: a FIFO, socket or device, named or found in a
directory, is skipped with the reason (reading one would hang or never end).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.log").write_text("hello")
>>> with open_sources([str(d)]) as sources:
...     [s.name.endswith("a.log") for s in sources]
[True]
"""
from __future__ import annotations

import contextlib
import glob
import os
import stat
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Union

from ..errors import SourceError
from .archives import Extractor, classify
from .files import SNIFF_BYTES, Limits, Source, file_time

__all__ = ["SNIFF_BYTES", "Limits", "Named", "Source", "open_sources"]


@dataclass(frozen=True)
class Named:
    """A local file read as the artefact `name` names: a copy of a remote file (a
    Spark executor's copy of ``s3a://bucket/pods/x.log``) keeps its URL in every row
    and in its origin, and its modification time where the copy's would be wrong.

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile(delete=False); _ = f.write(b"x"); f.close()
    >>> with open_sources([Named("hdfs://nn/logs/a.log", f.name)]) as sources:
    ...     [s.name for s in sources]
    ['hdfs://nn/logs/a.log']
    >>> os.remove(f.name)
    """

    name: str
    path: str
    mtime: datetime | None = None


Input = Union[str, Named]  # what ingest is given: a path, glob, "-", or a Named copy

# What a path that is not a regular file is, by its st_mode.
SPECIAL_FILES = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"))


def special_file(mode: int) -> str | None:
    """What a non-regular file is ('a FIFO'), None for a regular file or directory.

    >>> import stat
    >>> special_file(stat.S_IFIFO | 0o644), special_file(stat.S_IFREG | 0o644)
    ('a FIFO', None)
    """
    return next((what for test, what in SPECIAL_FILES if test(mode)), None)


def _expand(paths: Iterable[Input]) -> Iterator[tuple[str, Path | None, str | None]]:
    """(display name, real path, error) for every file named by paths."""
    for p in paths:
        if isinstance(p, Named):
            yield p.name, Path(p.path), None
            continue
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
        elif path.exists() or path.is_symlink():
            yield p, path, None
        elif any(c in p for c in "*?["):
            matches = sorted(glob.glob(p, recursive=True))
            if not matches:
                yield p, None, "no file matches this pattern"
            for m in matches:
                yield from _expand([m]) if Path(m).is_dir() else [(m, Path(m), None)]
        else:
            yield p, None, "no such file or directory"


@contextlib.contextmanager
def open_sources(paths: Iterable[Input], limits: Limits | None = None, stdin: BinaryIO | None = None):
    """Context manager yielding an iterator of Sources for `paths`.

    Temporary files (stdin spool, archive members) are removed on exit, and
    each as soon as its consumer calls :meth:`Source.release`. A source that
    cannot be read comes out with ``error`` set rather than raising, so one
    bad file never stops a batch.
    """
    limits = limits or Limits()
    ex = Extractor(limits)
    paths = list(paths)
    mtimes = {p.name: p.mtime for p in paths if isinstance(p, Named) and p.mtime is not None}

    def generate() -> Iterator[Source]:
        for name, path, error in _expand(paths):
            if error:
                yield Source(name, None, error=error, limits=limits)
                continue
            try:
                if path is None:  # stdin
                    stream = stdin if stdin is not None else sys.stdin.buffer
                    dest, size = ex.copy(stream, "-")
                    yield from classify("-", dest, size, None, ex, limits, 0)
                    continue
                st = path.stat()
                what = special_file(st.st_mode)
                if what:
                    yield Source(name, None, error=f"not a regular file ({what}); not opened", status="skipped",
                                 limits=limits)
                    continue
                mtime = mtimes.get(name) or file_time(st.st_mtime)
                yield from classify(name, path, st.st_size, mtime, ex, limits, 0)
            except (OSError, SourceError) as exc:
                yield Source(name, None, error=str(exc), limits=limits)
            except Exception as exc:  # noqa: BLE001 - one unreadable path never stops the batch
                yield Source(name, None, error=f"cannot read ({type(exc).__name__}): {exc}", limits=limits)

    try:
        yield generate()
    finally:
        ex.cleanup()
