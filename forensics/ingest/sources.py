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
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import SourceError
from .archives import Extractor, classify
from .files import SNIFF_BYTES, Limits, Source, file_time

__all__ = ["SNIFF_BYTES", "Limits", "Source", "open_sources"]

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
def open_sources(paths: list[str], limits: Limits | None = None, stdin: BinaryIO | None = None):
    """Context manager yielding an iterator of Sources for `paths`.

    Temporary files (stdin spool, archive members) are removed on exit, and
    each as soon as its consumer calls :meth:`Source.release`. A source that
    cannot be read comes out with ``error`` set rather than raising, so one
    bad file never stops a batch.
    """
    limits = limits or Limits()
    ex = Extractor(limits)

    def generate() -> Iterator[Source]:
        for name, path, error in _expand(list(paths)):
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
                yield from classify(name, path, st.st_size, file_time(st.st_mtime), ex, limits, 0)
            except (OSError, SourceError) as exc:
                yield Source(name, None, error=str(exc), limits=limits)
            except Exception as exc:  # noqa: BLE001 - one unreadable path never stops the batch
                yield Source(name, None, error=f"cannot read ({type(exc).__name__}): {exc}", limits=limits)

    try:
        yield generate()
    finally:
        ex.cleanup()
