"""The ingest pipeline: sources -> sniff (the format registry) -> parser -> store.

Each source is hashed first; an artefact already in the database (the same
bytes from the same origin, see :mod:`.origin`) is skipped.
Its format is detected from content, its parser streams Arrow batches and
the store writes them in one transaction. With ``jobs > 1`` parsing runs in
worker processes that write spool files (:mod:`forensics.db.spool`), and this
process (DuckDB's single writer) loads them in input order.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

import pyarrow as pa

from ..db.spool import Spooled, spool
from ..db.store import SourceResult, Store, source_status
from ..errors import ForensicsError
from ..parsers import Format, ParseOptions
from ..times import path_time
from .origin import origin
from .registry import readable
from .sniff import Detected, detect
from .sources import SNIFF_BYTES, Limits, Source, open_sources

if TYPE_CHECKING:
    import pandas as pd


# What the one-line summary counts: the crash tables always, the others when filled.
SUMMARY_TABLES = (
    ("dumps", "dumps"), ("panics", "panics"), ("goroutines", "goroutines"), ("profiles", "profiles"),
    ("logs", "log records"), ("spans", "spans"), ("trace_events", "trace events"), ("events", "deploys and events"),
    ("builds", "builds"),
)


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
        filled = [f"{self.rows(table):,} {label}" for table, label in SUMMARY_TABLES
                  if table in ("dumps", "panics", "goroutines") or self.rows(table)]
        return (
            f"{len(self.results)} files ({size / 1e6:.1f} MB): {self.count('ok')} ok, "
            f"{self.count('partial')} partial, {self.count('failed')} failed, {self.count('skipped')} skipped, "
            f"{self.count('duplicate')} already ingested (same bytes and origin); {', '.join(filled)}, "
            f"{self.rows('ingest_errors')} parse errors"
        )

    __repr__ = __str__


def _detect(source: Source, forced: Format | None) -> Detected | str:
    """The source's format, from its first bytes (or as forced, with what
    that format's sniff finds there); a text saying why it cannot be read."""
    try:
        with source.open() as f:
            head = f.read(SNIFF_BYTES)
    except (OSError, ForensicsError) as exc:
        return str(exc)
    if forced is not None:
        return Detected(forced, forced.sniff(head), None)
    return detect(head)


def _parse_source(source: Source, fmt: str, options: ParseOptions) -> Iterator[tuple[str, pa.RecordBatch]]:
    with source.open() as stream:
        yield from readable(fmt).parse(stream, options)


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
    format: str | None = None,  # noqa: A002 - the registry's word, as in the API and `--as`
) -> IngestSummary:
    """Ingest files, directories, globs, archives or '-' (stdin) into `store`.

    `format` forces a registered format (:data:`forensics.ingest.registry.READABLE`)
    instead of sniffing each source: a ValueError names the formats when it is unknown.
    """
    forced = readable(format) if format is not None else None
    summary = IngestSummary()
    seen: dict[tuple[str, str], tuple] = {}  # (sha256, origin key) of this call -> (None, path)
    # The database itself may sit among the evidence (`forensics ingest . --db x.duckdb`).
    own = {os.path.realpath(store.path + suffix) for suffix in ("", ".wal")} if store.path != ":memory:" else set()

    def done(result: SourceResult) -> None:
        summary.results.append(result)
        if progress:
            progress(result)

    def prepare(source: Source):
        """(source, sha, fmt, variant, origin) to parse, or a callable recording a source with
        nothing to parse (failed, skipped, duplicate): called in input order."""
        where = origin(source.name, ts)

        def record(sha=None, fmt=None, failure=None, status="failed"):
            return lambda: store.write_source(source.name, sha, source.size, fmt, [], service, version,
                                              source.mtime, failure=failure, status=status, origin=where)

        if source.error:
            return record(failure=source.error)
        if source.path is not None and os.path.realpath(source.path) in own:
            return lambda: SourceResult(source.name, "skipped", error="the incident database itself")
        try:
            sha = source.sha256()
        except OSError as exc:
            return record(failure=f"cannot read: {exc}")
        identity = (sha, where.key)
        first = seen.get(identity) or store.ingested(*identity)
        if first is not None:
            why = f"same bytes and origin as {first[1]}" + (f" (source {first[0]})" if first[0] else "")
            return lambda: SourceResult(source.name, "duplicate", error=why, bytes=source.size)
        seen[identity] = (None, source.name)
        found = _detect(source, forced)
        if isinstance(found, str):
            return record(sha, None, found)
        if found.format.parse is None:
            if found.format.refused:
                return record(sha, None, found.reason)
            return record(sha, found.format.name, found.reason, "skipped")
        return source, sha, found.format.name, found.variant, where

    def options(source: Source, variant: str | None) -> ParseOptions:
        return ParseOptions(service=service, version=version, ts=ts, mtime=source.mtime,
                            path_ts=path_time(source.name), path=source.name, variant=variant)

    def write(source: Source, sha: str, fmt: str, where, batches=(), spooled: Spooled | None = None,
              failure: str | None = None) -> SourceResult:
        return store.write_source(source.name, sha, source.size, fmt, batches, service, version, source.mtime,
                                  failure=failure, spooled=spooled, origin=where)

    with open_sources(paths, limits=limits, stdin=stdin) as sources:
        if jobs <= 1:
            for source in sources:
                item = prepare(source)
                if callable(item):
                    done(item())
                else:
                    src, sha, fmt, variant, where = item
                    done(write(src, sha, fmt, where, _parse_source(src, fmt, options(src, variant))))
            return summary

        tmp = Path(tempfile.mkdtemp(prefix="forensics-ipc-"))
        try:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                pending: list = []  # in input order: a recording callable or (future, source, sha, fmt, origin, dir)

                def drain(limit: int) -> None:
                    while len(pending) > limit:
                        head = pending.pop(0)
                        if callable(head):
                            done(head())
                            continue
                        fut, src, sha, fmt, where, outdir = head
                        try:
                            spooled = fut.result()
                        except Exception as exc:  # noqa: BLE001 - a dead worker fails one source only
                            done(write(src, sha, fmt, where, failure=f"parser process failed: {exc}"))
                        else:
                            done(write(src, sha, fmt, where, spooled=spooled))
                        shutil.rmtree(outdir, ignore_errors=True)

                for n, source in enumerate(sources):
                    item = prepare(source)
                    if callable(item):
                        pending.append(item)
                    else:
                        src, sha, fmt, variant, where = item
                        outdir = tmp / f"s{n:06d}"
                        outdir.mkdir()
                        fut = pool.submit(_parse_to_spool, src, fmt, options(src, variant), str(outdir))
                        pending.append((fut, src, sha, fmt, where, outdir))
                    drain(2 * jobs)
                drain(0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return summary


# Tables a reading without a database keeps (what `forensics stacks FILE` shows).
READ_TABLES = ("dumps", "panics", "goroutines", "frames", "ingest_errors")


def read(paths: list[str], stdin: BinaryIO | None = None, limits: Limits | None = None,
         format: str | None = None) -> dict[str, list[dict]]:  # noqa: A002 - the registry's word
    """Parse sources without a database: the rows of READ_TABLES, as dicts,
    dump ids numbered across the sources, each dump row naming its source;
    and under "sources" each source's status, decided as ingest decides it.

    >>> import io
    >>> rows = read(["-"], stdin=io.BytesIO(b"panic: boom\\n\\ngoroutine 1 [running]:\\nmain.main()\\n\\t/a.go:5\\n"))
    >>> rows["dumps"][0]["source"], rows["panics"][0]["message"], rows["sources"][0]["status"]
    ('-', 'boom', 'ok')
    """
    out: dict[str, list[dict]] = {name: [] for name in (*READ_TABLES, "sources")}

    def failed(source, why: str | None, status: str = "failed") -> None:
        out["sources"].append({"source": source.name, "status": status})
        if why:
            out["ingest_errors"].append({"source": source.name, "line": None, "message": why})

    forced = readable(format) if format else None
    base = 0
    with open_sources(paths, limits=limits, stdin=stdin) as sources:
        for source in sources:
            if source.error:
                failed(source, source.error)
                continue
            found = _detect(source, forced)
            if isinstance(found, str):
                failed(source, found)
                continue
            if found.format.parse is None:  # nothing to read (or refused), as ingest records it
                failed(source, found.reason, "failed" if found.format.refused else "skipped")
                continue
            options = ParseOptions(mtime=source.mtime, path_ts=path_time(source.name), path=source.name,
                                   variant=found.variant)
            top = base
            counts = {"parsed": 0, "errors": 0}
            try:
                for table, batch in _parse_source(source, found.format.name, options):
                    if table not in out:
                        continue
                    rows = batch.to_pylist()
                    counts["errors" if table == "ingest_errors" else "parsed"] += len(rows)
                    for row in rows:
                        if "dump_id" in row and row["dump_id"] is not None:
                            row["dump_id"] += base
                            top = max(top, row["dump_id"] + 1)
                        if table in ("dumps", "ingest_errors"):
                            row["source"] = source.name
                    out[table].extend(rows)
            except Exception as exc:  # noqa: BLE001 - as ingest does: what was read stays, the failure is a row
                out["ingest_errors"].append({"source": source.name, "line": None,
                                             "message": f"internal parser error ({type(exc).__name__}): {exc}"})
                counts["errors"] += 1
            out["sources"].append({"source": source.name, "status": source_status(counts["parsed"], counts["errors"])})
            base = top
    return out
