"""The ingest pipeline: sources -> sniff -> parser -> store.

Each source is hashed first; content already in the database is skipped.
Its format is detected from content, its parser streams Arrow batches and
the store writes them in one transaction. With ``jobs > 1`` parsing runs in
worker processes that write spool files (forensics.spool), and this
process (DuckDB's single writer) loads them in input order.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

import pyarrow as pa

from .errors import ForensicsError
from .parsers import (ParseOptions, chrome_trace, crashdump, logs, path_time, pprof, pprof_legacy, pprof_text,
                      releases, spans)
from .parsers.pprof_proto import varint as _varint
from .sources import SNIFF_BYTES, Limits, Source, open_sources
from .spool import Spooled, spool
from .store import SourceResult, Store

if TYPE_CHECKING:
    import pandas as pd

# format name -> parser(stream, ParseOptions) yielding (table, RecordBatch)
PARSERS: dict[str, Callable] = {"go_crash": crashdump.parse, "pprof": pprof.parse, "pprof_text": pprof_text.parse,
                                 "pprof_legacy": pprof_legacy.parse, "chrome_trace": chrome_trace.parse,
                                 "otlp": spans.parse_otlp, "jaeger": spans.parse_jaeger, "zipkin": spans.parse_zipkin,
                                 "log": logs.parse, **releases.PARSERS}

# profile.proto fields by number: their wire type (0 varint, 2 length-delimited).
# comment (13) is a repeated int64: packed (2) or not (0).
_PROFILE_WIRE = {1: {2}, 2: {2}, 3: {2}, 4: {2}, 5: {2}, 6: {2}, 7: {0}, 8: {0}, 9: {0}, 10: {0}, 11: {2},
                 12: {0}, 13: {0, 2}, 14: {0}, 15: {0}}
_TEXT_CONTROLS = bytes(range(0x09)) + bytes(range(0x0e, 0x20))


def looks_like_profile(head: bytes) -> bool:
    """The first bytes walk as profile.proto fields (right numbers and wire
    types). Junk after 8 good fields is a corrupt profile, for the profile
    parser to report precisely, not an unknown binary."""
    i = fields = 0
    try:
        while i < len(head) and fields < 256:
            tag, i = _varint(head, i)
            number, wire = tag >> 3, tag & 7
            if wire not in _PROFILE_WIRE.get(number, ()):
                return fields >= 8
            value, i = _varint(head, i)
            if wire == 2:
                i += value
            fields += 1
    except ValueError:
        return i >= len(head) and fields > 0  # cut off mid-field by the sniff window
    return fields > 0


# Known formats recorded as skipped, with the reason: nothing to parse, or
# evidence whose readable form is another file.
NOT_READ = ("empty", "go_trace")
# runtime/trace's header: "go 1.19 trace\x00\x00\x00" (and later versions).
GO_TRACE = re.compile(rb"go 1\.\d+ trace\x00")


def sniff(head: bytes) -> tuple[str | None, str | None]:
    """(format, reason when None) from the first bytes of decompressed content.

    >>> sniff(b"panic: boom\\n")
    ('go_crash', None)
    >>> sniff(b"\\x7fELF\\x02\\x01\\x00")[0] is None
    True
    >>> sniff(b"2026/11/22 10:00:00 started\\n")[0]
    'log'
    
    """
    if not head:
        return "empty", "empty file"
    if GO_TRACE.match(head):
        return "go_trace", ("a Go execution trace (binary): forensics reads the JSON that `go tool trace` "
                            "serves at /jsontrace, ingest that instead")
    if any(b in _TEXT_CONTROLS for b in head[:8192]) and looks_like_profile(head):
        return "pprof", None
    if pprof_legacy.binary_cpu_header(head[:40]):
        return "pprof_legacy", None
    if b"\x00" in head[:8192]:  # logs may hold ANSI escapes, not NUL bytes
        return None, f"binary content (starts {head[:16]!r}); not a format forensics reads"
    if pprof_text.text_profile_kind(head):
        return "pprof_text", None
    span_format = spans.span_format(head)
    if span_format:
        return span_format, None
    if chrome_trace.chrome_container(head):
        return "chrome_trace", None
    release_format = releases.release_format(head)
    if release_format:
        return release_format, None
    # Logs (their dumps are cut out and read by the crash scanner), and all
    # other text goes to the Go crash scanner: dumps hide anywhere.
    if logs.log_framing(head):
        return "log", None
    return "go_crash", None


@dataclass
class IngestSummary:
    """What one ingest call did; ``str()`` is the one-line summary."""

    results: list[SourceResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def rows(self, table: str) -> int:
        return sum(r.rows.get(table, 0) for r in self.results)

    @property
    def problems(self) -> list[SourceResult]:
        return [r for r in self.results if r.status in ("partial", "failed")]

    def df(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(
            [{"path": r.path, "status": r.status, "kind": r.kind, "error": r.error, "bytes": r.bytes,
              **{f"{t}_rows": n for t, n in r.rows.items()}} for r in self.results]
        )

    def __str__(self) -> str:
        size = sum(r.bytes for r in self.results)
        return (
            f"{len(self.results)} files ({size / 1e6:.1f} MB): {self.count('ok')} ok, "
            f"{self.count('partial')} partial, {self.count('failed')} failed, {self.count('skipped')} skipped, "
            f"{self.count('duplicate')} already ingested; {self.rows('dumps')} dumps, "
            f"{self.rows('panics')} panics, {self.rows('goroutines')} goroutines, "
            f"{self.rows('ingest_errors')} parse errors"
        )

    __repr__ = __str__


def _detect(source: Source) -> tuple[str | None, str | None]:
    try:
        with source.open() as f:
            head = f.read(SNIFF_BYTES)
    except (OSError, ForensicsError) as exc:
        return None, str(exc)
    return sniff(head)


def _parse_source(source: Source, fmt: str, options: ParseOptions) -> Iterator[tuple[str, pa.RecordBatch]]:
    with source.open() as stream:
        yield from PARSERS[fmt](stream, options)


def _parse_to_spool(source: Source, fmt: str, options: ParseOptions, outdir: str) -> Spooled:
    """Worker process: parse a source into spool files for the store."""
    return spool(_parse_source(source, fmt, options), outdir)


def ingest(
    store: Store,
    paths: list[str],
    service: str | None = None,
    version: str | None = None,
    ts: datetime | None = None,
    jobs: int = 1,
    progress: Callable[[SourceResult], None] | None = None,
    limits: Limits | None = None,
    stdin: BinaryIO | None = None,
) -> IngestSummary:
    """Ingest files, directories, globs, archives or '-' (stdin) into `store`."""
    summary = IngestSummary()
    seen: set[str] = set()
    # The database itself may sit among the evidence (`forensics ingest . --db x.duckdb`).
    own = {os.path.realpath(store.path + suffix) for suffix in ("", ".wal")} if store.path != ":memory:" else set()

    def done(result: SourceResult) -> None:
        summary.results.append(result)
        if progress:
            progress(result)

    def prepare(source: Source):
        """(source, sha, fmt) to parse, or a callable recording a source with
        nothing to parse (failed, skipped, duplicate): called in input order."""
        def record(sha=None, fmt=None, failure=None, status="failed"):
            return lambda: store.write_source(source.name, sha, source.size, fmt, [], service, version,
                                              source.mtime, failure=failure, status=status)

        if source.error:
            return record(failure=source.error)
        if source.path is not None and os.path.realpath(source.path) in own:
            return lambda: SourceResult(source.name, "skipped", error="the incident database itself")
        try:
            sha = source.sha256()
        except OSError as exc:
            return record(failure=f"cannot read: {exc}")
        if sha in seen or store.has_content(sha):
            return lambda: SourceResult(source.name, "duplicate", bytes=source.size)
        seen.add(sha)
        fmt, reason = _detect(source)
        if fmt is None or fmt in NOT_READ:
            return record(sha, fmt, reason, "skipped" if fmt in NOT_READ else "failed")
        return source, sha, fmt

    def options(source: Source) -> ParseOptions:
        return ParseOptions(service=service, version=version, ts=ts, mtime=source.mtime,
                            path_ts=path_time(source.name), path=source.name)

    def write(source: Source, sha: str, fmt: str, batches=(), spooled: Spooled | None = None) -> SourceResult:
        return store.write_source(source.name, sha, source.size, fmt, batches, service, version, source.mtime,
                                  spooled=spooled)

    with open_sources(paths, limits=limits, stdin=stdin) as sources:
        if jobs <= 1:
            for source in sources:
                item = prepare(source)
                if callable(item):
                    done(item())
                else:
                    src, sha, fmt = item
                    done(write(src, sha, fmt, _parse_source(src, fmt, options(src))))
            return summary

        tmp = Path(tempfile.mkdtemp(prefix="forensics-ipc-"))
        try:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                pending: list = []  # in input order: a recording callable or (future, source, sha, fmt, dir)

                def drain(limit: int) -> None:
                    while len(pending) > limit:
                        head = pending.pop(0)
                        if callable(head):
                            done(head())
                            continue
                        fut, src, sha, fmt, outdir = head
                        try:
                            spooled = fut.result()
                        except Exception as exc:  # noqa: BLE001 - a dead worker fails one source only
                            done(store.write_source(src.name, sha, src.size, fmt, [], service, version, src.mtime,
                                                    failure=f"parser process failed: {exc}"))
                        else:
                            done(write(src, sha, fmt, spooled=spooled))
                        shutil.rmtree(outdir, ignore_errors=True)

                for n, source in enumerate(sources):
                    item = prepare(source)
                    if callable(item):
                        pending.append(item)
                    else:
                        src, sha, fmt = item
                        outdir = tmp / f"s{n:06d}"
                        outdir.mkdir()
                        fut = pool.submit(_parse_to_spool, src, fmt, options(src), str(outdir))
                        pending.append((fut, src, sha, fmt, outdir))
                    drain(2 * jobs)
                drain(0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return summary
