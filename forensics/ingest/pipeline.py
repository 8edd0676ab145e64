"""The ingest pipeline: sources -> sniff (the format registry) -> parser -> store.

Each source is hashed first; an artefact already in the database (the same
content from the same origin, see :mod:`.origin`) is skipped, unless its
reading failed or found nothing, or older readers read it
(:data:`forensics.parsers.READER_VERSION`), or ``force`` is given: then it is
read again and replaces the earlier reading in one transaction.
Its format is detected from content, its parser streams Arrow batches and
the store writes them in one transaction. With ``jobs > 1`` parsing runs in
worker processes that write spool files (:mod:`forensics.db.spool`), and this
process (DuckDB's single writer) loads them in input order.
"""
from __future__ import annotations

import itertools
import operator
import os
import shutil
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

import pyarrow as pa

from ..db.ids import source_id as artefact_id
from ..db.spool import Packed, Spooled, in_memory, spool
from ..db.store import Pending, SourceResult, Store, source_status
from ..errors import ForensicsError, SourceError
from ..lazy import arrow_without_pandas
from ..parsers import READER_VERSION, Format, ParseOptions
from ..times import path_time
from .origin import origin
from .registry import readable
from .sniff import Detected, detect
from .files import packed_sha256
from .sources import SNIFF_BYTES, Input, Limits, Source, open_sources
from .workers import start_early, workers_context

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
            f"{self.count('duplicate')} already ingested (same content and origin); {', '.join(filled)}, "
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
    except Exception as exc:  # noqa: BLE001 - a decoder's own exception fails this source, not the batch
        return f"cannot read ({type(exc).__name__}): {exc}"
    try:
        if forced is not None:
            return Detected(forced, forced.sniff(head), None)
        return detect(head)
    except Exception as exc:  # noqa: BLE001 - a sniff's bug fails this source, not the batch
        return f"internal error while detecting the format ({type(exc).__name__}): {exc}"


def _hash(source: Source) -> str:
    """The source's sha256; SourceError saying why it cannot be read."""
    try:
        return source.sha256()
    except (OSError, ForensicsError) as exc:
        raise SourceError(f"cannot read: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a reader's exception fails this source, not the batch
        raise SourceError(f"cannot read ({type(exc).__name__}): {exc}") from exc


def _parse_source(source: Source, fmt: str, options: ParseOptions) -> Iterator[tuple[str, pa.RecordBatch]]:
    with source.open() as stream:
        yield from readable(fmt).parse(stream, options)


def _parse_to_spool(source: Source, fmt: str, options: ParseOptions, outdir: str) -> Spooled:
    """Worker process: parse a source for the store, a small one into memory, else into spool files."""
    if source.small:
        return in_memory(_parse_source(source, fmt, options))
    os.makedirs(outdir)
    return spool(_parse_source(source, fmt, options), outdir)


def _parse_task(task: list[tuple[Source, str, ParseOptions, str]]) -> Packed:
    """Worker process: the sources of one task parsed in turn (see _parse_to_spool); a
    source whose reading raised gives the text of the error instead."""
    arrow_without_pandas()
    out: list[Spooled | str] = []
    for source, fmt, options, outdir in task:
        try:
            out.append(_parse_to_spool(source, fmt, options, outdir))
        except Exception as exc:  # noqa: BLE001 - one source fails, not its task
            out.append(f"{type(exc).__name__}: {exc}")
    return Packed(out)


# Past this many sources, what the database holds is looked up in one query, not one a source.
INDEX_AFTER = 32
# Worker processes start for this many small sources, or for two sources one of which is not small.
POOL_AFTER = 64
# Small sources go to a worker this many to a task: a task's own cost (two pickles, a
# queue round trip) is then shared by many files.
TASK_SOURCES = 32
# Small sources (read into memory when hashed, see files.SMALL_SOURCE) are written
# together, up to this many or this many bytes of sources (as stored) a transaction.
BATCH_SOURCES = 256
BATCH_BYTES = 16 << 20


class _Batch:
    """Small sources waiting to be written in one transaction, and the results of
    sources with nothing to write queued behind them: results come in input order."""

    def __init__(self, store: Store, done: Callable[[SourceResult], None]):
        self.store, self.done = store, done
        self.items: list[Pending | SourceResult] = []
        self.waiting = self.bytes = 0

    def add(self, item: Pending | SourceResult) -> None:
        if isinstance(item, SourceResult) and not self.items:
            self.done(item)
            return
        self.items.append(item)
        if isinstance(item, Pending):
            self.waiting += 1
            self.bytes += item.size
            if self.waiting >= BATCH_SOURCES or self.bytes >= BATCH_BYTES:
                self.flush()

    def flush(self) -> None:
        items, self.items, self.waiting, self.bytes = self.items, [], 0, 0
        written = iter(self.store.write_sources([i for i in items if isinstance(i, Pending)]))
        for item in items:
            self.done(next(written) if isinstance(item, Pending) else item)


def ingest(
    store: Store,
    paths: list[Input],
    service: str | None = None,
    version: str | None = None,
    ts: datetime | None = None,
    jobs: int = 1,
    progress: Callable[[SourceResult], None] | None = None,
    limits: Limits | None = None,
    stdin: BinaryIO | None = None,
    format: str | None = None,  # noqa: A002 - the registry's word, as in the API and `--as`
    force: bool = False,
) -> IngestSummary:
    """Ingest files, directories, globs, archives or '-' (stdin) into `store`;
    a :class:`~forensics.ingest.sources.Named` path is read under the name it gives.

    `jobs` parser processes (the CLI gives :func:`default_jobs`, one per core);
    one source alone is read in this process, and so is every source once
    worker processes cannot be started. Small sources are written many
    to a transaction, each still all or nothing (:meth:`Store.write_sources`).
    `format` forces a registered format (:data:`forensics.ingest.registry.READABLE`)
    instead of sniffing each source: a ValueError names the formats when it is unknown.
    `force` reads again every artefact already ingested, replacing its rows.
    """
    store.check_writable()
    forced = readable(format) if format is not None else None
    if jobs > 1:
        start_early(paths)
    summary = IngestSummary()
    seen: dict[tuple, str] = {}  # (sha256, origin key) read in this call -> its path
    # What was here before this call: asked one source at a time, then (past INDEX_AFTER sources,
    # a batch) fetched in one query; None when the database holds too many sources for that.
    index: dict | None = None
    asked = 0
    # The database itself may sit among the evidence (`forensics ingest . --db x.duckdb`).
    own = {os.path.realpath(store.path + suffix) for suffix in ("", ".wal")} if store.path != ":memory:" else set()
    # realpath costs a syscall per directory: the names (as given, and resolved) are compared first
    own_names = {os.path.basename(p) for p in own} | {os.path.basename(store.path) + s for s in ("", ".wal")}

    def done(result: SourceResult) -> None:
        summary.results.append(result)
        if progress:
            progress(result)

    def again(sha: str, where, source: Source):
        """(None, earlier source id to replace, or None) when the artefact is to be read; else why it is a duplicate."""
        nonlocal index, asked
        first = seen.get((sha, where.key))
        if first is not None:
            return f"same content and origin as {first}"
        asked += 1
        if asked == INDEX_AFTER:
            index = store.ingested_index()
        known = store.ingested(sha, where.key) if index is None else index.get((sha, where.key))
        if known is None and store.has_legacy_sources and source.path is not None:
            known = store.ingested(packed_sha256(source.path), where.key)  # read before schema 9
        if known is None:
            return None, None
        retry = force or known.status in ("failed", "skipped") or known.reader_version != READER_VERSION
        if retry:
            return None, known.source_id
        return f"same content and origin as {known.path} (source {known.source_id})"

    def prepare(source: Source):
        """(source, sha, fmt, variant, origin, replaces) to parse; else a Pending with nothing
        parsed (failed, skipped) or a SourceResult written nowhere (a duplicate)."""
        where = origin(source.name, ts)

        def record(sha=None, fmt=None, failure=None, status="failed", replaces=None) -> Pending:
            return Pending(source.name, sha, source.size, fmt, None, service, version, source.mtime, failure, status,
                           where, replaces, READER_VERSION)

        def unread(failure: str, status: str = "failed") -> Pending | SourceResult:
            """A source with no content to identify it: its path is its identity (one row a path)."""
            first = seen.get((None, f"{source.name}\0{where.key}"))
            if first is not None:
                return SourceResult(source.name, "duplicate", error="named twice in this ingest")
            seen[(None, f"{source.name}\0{where.key}")] = source.name
            return record(failure=failure, status=status)

        if source.path is None and source.error:
            return unread(source.error, source.status)
        if source.path is not None and source.path.name in own_names and os.path.realpath(source.path) in own:
            return SourceResult(source.name, "skipped", error="the incident database itself")
        try:
            sha = _hash(source)
        except SourceError as exc:
            return unread(str(exc))
        decision = again(sha, where, source)
        if source.small:
            source.release()  # its bytes are in memory: an archive member leaves the temp disk now
        if isinstance(decision, str):
            return SourceResult(source.name, "duplicate", error=decision, bytes=source.size,
                                duplicate_of=artefact_id(sha, where.key))
        _, replaces = decision
        seen[(sha, where.key)] = source.name
        if source.error:  # a damaged archive: its row says what was lost
            return record(sha, failure=source.error, status=source.status, replaces=replaces)
        found = _detect(source, forced)
        if isinstance(found, str):
            return record(sha, None, found, replaces=replaces)
        if found.format.parse is None:
            if found.format.refused:
                return record(sha, None, found.reason, replaces=replaces)
            return record(sha, found.format.name, found.reason, "skipped", replaces=replaces)
        return source, sha, found.format.name, found.variant, where, replaces

    def options(source: Source, variant: str | None) -> ParseOptions:
        # The columnar readers pay a fixed cost in Arrow kernels that only a large source repays.
        return ParseOptions(service=service, version=version, ts=ts, mtime=source.mtime,
                            path_ts=path_time(source.name), path=source.name, variant=variant,
                            columnar=not source.small)

    def write(source: Source, sha: str, fmt: str, where, replaces, batches=(), spooled: Spooled | None = None,
              failure: str | None = None) -> SourceResult:
        return store.write_source(source.name, sha, source.size, fmt, batches, service, version, source.mtime,
                                  failure=failure, spooled=spooled, origin=where, replaces=replaces,
                                  reader_version=READER_VERSION)

    def parsed(source: Source, sha: str, fmt: str, where, replaces, spooled: Spooled | None,
               failure: str | None = None) -> Pending:
        return Pending(source.name, sha, source.size, fmt, spooled, service, version, source.mtime, failure,
                       "failed", where, replaces, READER_VERSION)

    batch = _Batch(store, done)
    with open_sources(paths, limits=limits, stdin=stdin) as sources:
        # Each source is prepared (hashed, a small one's archive member released) before the next is
        # opened. A few small files, or one file alone, are read here: starting workers costs more.
        prepared = ((source, prepare(source)) for source in sources)
        ahead: list[tuple] = []
        big = False
        for pair in prepared if jobs > 1 else ():
            ahead.append(pair)
            big = big or isinstance(pair[1], tuple) and not pair[0].small
            if len(ahead) >= POOL_AFTER or big and len(ahead) >= 2:
                break
        if jobs <= 1 or len(ahead) < 2 or len(ahead) < POOL_AFTER and not big:
            for source, item in _released(itertools.chain(ahead, prepared), operator.itemgetter(0)):
                if not isinstance(item, tuple):
                    batch.add(item)
                    continue
                src, sha, fmt, variant, where, replaces = item
                if src.small:
                    batch.add(parsed(src, sha, fmt, where, replaces,
                                     in_memory(_parse_source(src, fmt, options(src, variant)))))
                else:
                    batch.flush()
                    done(write(src, sha, fmt, where, replaces, _parse_source(src, fmt, options(src, variant))))
            batch.flush()
            return summary

        tmp = Path(tempfile.mkdtemp(prefix="forensics-ipc-"))
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=workers_context())
        try:
            # In input order: ("item", source, what to add to the batch) or ("task", its sources, future).
            pending: list[tuple] = []
            chunk: list[tuple] = []  # small sources to send as one task: (source, meta, spool directory)
            parsed_by_workers: list[bool] = []  # non-empty once a worker has returned a task

            def send() -> None:
                if not chunk:
                    return
                task = [(src, meta[1], options(src, meta[2]), str(outdir)) for src, meta, outdir in chunk]
                try:
                    fut = pool.submit(_parse_task, task)
                except BrokenProcessPool as exc:
                    fut = Future()
                    if parsed_by_workers:  # a worker died: what it was given fails, nothing is read here
                        fut.set_exception(exc)
                    else:  # workers could not start at all (a script without a __main__ guard): read here
                        fut.set_result(_parse_task(task))
                pending.append(("task", list(chunk), fut))
                chunk.clear()

            def settle(src: Source, meta: tuple, outdir: Path, spooled: Spooled | str) -> None:
                sha, fmt, _, where, replaces = meta
                if isinstance(spooled, str):
                    batch.add(parsed(src, sha, fmt, where, replaces, None, (
                        f"could not be ingested, nothing of it was kept (the parser process failed: {spooled}); "
                        "ingesting it again retries it")))
                elif spooled.files:
                    batch.flush()
                    done(write(src, sha, fmt, where, replaces, spooled=spooled))
                else:
                    batch.add(parsed(src, sha, fmt, where, replaces, spooled))
                if not src.small:  # a small source is parsed into memory: it made no directory
                    shutil.rmtree(outdir, ignore_errors=True)

            def drain(limit: int) -> None:
                while len(pending) > limit:
                    kind, what, rest = pending.pop(0)
                    if kind == "item":
                        try:
                            batch.add(rest)
                        finally:
                            what.release()
                        continue
                    try:
                        results = rest.result().items
                        parsed_by_workers.append(True)
                    except Exception as exc:  # noqa: BLE001 - a dead worker fails the sources in flight, not the batch
                        results = [f"{type(exc).__name__}: {exc}"] * len(what)
                    for (src, meta, outdir), spooled in zip(what, results):
                        try:
                            settle(src, meta, outdir, spooled)
                        finally:
                            src.release()

            for n, (source, item) in enumerate(itertools.chain(ahead, prepared)):
                if not isinstance(item, tuple):
                    send()  # what came before it is sent first: results stay in input order
                    pending.append(("item", source, item))
                else:
                    src, sha, fmt, variant, where, replaces = item
                    chunk.append((src, (sha, fmt, variant, where, replaces), tmp / f"s{n:06d}"))
                    if not src.small or len(chunk) >= TASK_SOURCES:
                        send()
                drain(4 * jobs if source.small else 2 * jobs)
            send()
            drain(0)
            batch.flush()
        finally:
            # On an interrupt, queued parses are dropped rather than waited for.
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _released(items: Iterator, source_of: Callable = lambda item: item) -> Iterator:
    """The items (sources, or anything `source_of` finds a source in), each source released
    (its temp file removed) once the loop is done with it."""
    for item in items:
        try:
            yield item
        finally:
            source_of(item).release()


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
        for source in _released(sources):
            if source.error:
                failed(source, source.error, source.status)
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
                why = str(exc) if isinstance(exc, ForensicsError) else f"internal parser error ({type(exc).__name__}): {exc}"
                out["ingest_errors"].append({"source": source.name, "line": None, "message": why})
                counts["errors"] += 1
            out["sources"].append({"source": source.name, "status": source_status(counts["parsed"], counts["errors"])})
            base = top
    return out
