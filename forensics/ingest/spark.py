"""Past one machine: ingest a fleet's artefacts with Apache Spark into a Parquet dataset.

The same pipeline as ``forensics ingest``, run inside Spark's executors::

    binaryFile (any Hadoop URL)         each file's bytes, URL and modification time
      -> executors: pipeline.ingest     a partition's files, under their URLs, into an
                                        in-memory Store: sniffing, archives, limits,
                                        statuses and ingest_errors as on one machine
      -> (table, Arrow IPC) rows        each table's rows, tagged with the source
                                        that owns them and the partition
      -> driver: one reading an artefact   an artefact (content and origin) found by two
                                        partitions keeps the first path's reading; shared
                                        stacks and frames are stored once per key
      -> Spark's Parquet writer         the dataset layout of ``forensics export``

Ids are derived from each artefact (:mod:`forensics.db.ids`), so the partitions
need no coordination and their rows union into what one ``forensics ingest``
of all the files gives. Run again over a grown input, only artefacts the
dataset does not hold yet are read (and those it holds as failed or skipped,
read again as on one machine); their rows are added to it.

Run from the CLI (``forensics spark-ingest --master local[2] --out DIR PATH...``),
from Python (``fx.Incident.spark_ingest``), or on a cluster with ``spark-submit``
on ``forensics/spark_submit.py``, which takes the command's arguments.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..db import dataset
from ..db import spark_dataset as sd
from ..db.store import SourceResult, Store
from ..errors import StoreError
from ..parsers import READER_VERSION
from ..times import from_ns
from .pipeline import IngestSummary, ingest
from .sources import Limits, Named

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkIngest", "session", "spark_ingest"]

MESSAGES = "table string, part int, ipc binary"  # what the executors send back
RESULTS = "_results"  # the pseudo-table carrying each source's SourceResult to the driver


@dataclass
class SparkIngest:
    """What :func:`spark_ingest` did: ``summary`` as ``forensics ingest`` prints it,
    and the dataset's manifest."""

    summary: IngestSummary
    manifest: dict
    out: str

    def __str__(self) -> str:
        return str(self.summary)


def session(master: str | None = "local[*]", app: str = "forensics spark-ingest") -> "SparkSession":
    """A SparkSession for the job: UTC times, executors running this Python
    (unless PYSPARK_PYTHON says otherwise). Under spark-submit (which starts
    this Python with PYSPARK_GATEWAY_PORT set) the master is spark-submit's."""
    from pyspark.sql import SparkSession

    if "PYSPARK_GATEWAY_PORT" in os.environ:
        master = None
    builder = SparkSession.builder.appName(app)
    if master is not None:  # started here: its executors are this machine's, running this Python
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(master)
    return (builder
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate())


def spark_ingest(spark: "SparkSession", paths: list[str], out: str, service: str | None = None,
                 version: str | None = None, ts: datetime | None = None, limits: Limits | None = None,
                 force: bool = False) -> SparkIngest:
    """Ingest `paths` (files, directories or globs at any Hadoop URL) into the
    dataset at `out`, parsing in Spark's executors; returns what was done.

    A new `out` is written beside its place and renamed there when the job
    has succeeded; an existing dataset is added to (only new artefacts are
    read), or replaced with `force`.
    """
    fs = sd.FileSystem(spark, out)
    existing = fs.is_dataset()
    replace = existing and force  # the old one stays until the new one is written
    existing = existing and not force
    if fs.exists(out) and not existing and not replace and fs.listed(out):
        raise StoreError(f"{out} exists and is not a forensics dataset: choose a new directory")
    # What the dataset holds, sent to each executor once (not with every task)
    known = spark.sparkContext.broadcast(sd.known_sources(spark, out) if existing else [])
    found, missing, unseen = fs.expand(paths)
    job = functools.partial(_executor, service=service, version=version, ts=ts, limits=limits or Limits(),
                            known=known)
    parts = None
    if found:
        parts = _files(spark, found).mapPartitionsWithIndex(job).toDF(MESSAGES)
    if missing or unseen:  # read here (as partition -1), as one machine reads them
        here = spark.createDataFrame(list(_read_here(fs, missing, unseen, job)), MESSAGES)
        parts = here if parts is None else parts.unionByName(here)
    results, present = [], set()
    if parts is not None:
        parts = parts.persist()
        results = [json.loads(r.ipc) for r in parts.filter(f"table = '{RESULTS}'").collect()]
        present = {r.table for r in parts.select("table").distinct().collect()}  # tables with rows
    winners = _winners(results)
    staging = fs.staging(out, existing)
    try:
        replaced = sorted({r["replaces"] for r in results if r.get("replaces") is not None})

        # Rewritten whole when adding to a dataset: the shared tables (a key already there is
        # matched, a stack may take a smaller frame), and the rows of sources read again.
        rewritten = [t for t in dataset.tables() if t in sd.SHARED or replaced and t in ("sources", "ingest_errors")]

        def write(table: str) -> None:
            old = sd.stored(spark, out, table) if existing and table in rewritten else None
            if old is not None and table not in sd.SHARED:
                old = old.filter(~old["source_id"].isin(replaced))
            frame = sd.table_frame(spark, parts if table in present else None, table, winners, old)
            sd.write_table(frame, fs.join(staging, table), table)

        # Each table is its own Spark job: a few at once keep the cores busy between a job's stages.
        with ThreadPoolExecutor(sd.WRITERS) as pool:
            list(pool.map(write, dataset.tables()))
        if existing:
            fs.merge(staging, out, replaced=rewritten)
        manifest = sd.manifest(spark, out if existing else staging)
        fs.write_text(fs.join(out if existing else staging, dataset.MANIFEST), json.dumps(manifest, indent=2) + "\n")
        if replace:
            old = fs.staging(out, False)
            fs.rename(out, old)
            fs.rename(staging, out)
            fs.delete(old)
        elif not existing:
            fs.rename(staging, out)
    finally:
        fs.delete(staging)
        if parts is not None:
            parts.unpersist()
    results.sort(key=lambda r: (walk_order(r["path"]), r["part"], r["seq"]))  # as one machine lists them
    summary = IngestSummary([_result(r, winners) for r in results])
    return SparkIngest(summary, manifest, out)


# What opening one more file costs a task, as Spark's planner counts it (bytes): the pipeline's
# cost per source is about what reading half a MB costs, not Spark's default 4 MB, which made
# a task of every 30 small files (3,000 files: 94 tasks, each with its own in-memory store).
OPEN_COST = 512 << 10


def _files(spark: "SparkSession", found: list[str]):
    """binaryFile's rows (path, mtime_ms: epoch milliseconds, content) as an RDD,
    its tasks planned with OPEN_COST (the session's setting is put back). The time
    goes as a number: a TIMESTAMP reaches Python as a naive datetime in the
    worker's local time zone, which is not UTC everywhere."""
    from pyspark.sql import functions as F

    key = "spark.sql.files.openCostInBytes"
    before = spark.conf.get(key, None)
    spark.conf.set(key, str(OPEN_COST))
    try:
        files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(found)
        return files.select("path", F.unix_millis("modificationTime").alias("mtime_ms"), "content").rdd
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _result_row(r: SourceResult, part: int, seq: int, replaces: int | None) -> dict:
    """A source's result as the driver gets it: where it was read, and what it replaces."""
    return asdict(r) | {"part": part, "seq": seq, "replaces": replaces}


def _executor(part: int, rows: Iterator, service, version, ts, limits: Limits, known,
              extra: list[str] = ()) -> Iterator:
    """One partition of files, each written to a temporary file and read under
    its URL (:func:`_messages`); `known`: the dataset's sources, broadcast."""
    from ..lazy import arrow_without_pandas

    arrow_without_pandas()
    tmp = Path(tempfile.mkdtemp(prefix="forensics-spark-"))
    try:
        named = []
        for i, row in enumerate(rows):
            local = tmp / f"{i:06d}" / (os.path.basename(row.path.rstrip("/")) or "file")
            local.parent.mkdir()
            local.write_bytes(row.content)
            ns = row.mtime_ms * 1_000_000
            os.utime(local, ns=(ns, ns))  # the copy has the original's time wherever it is read
            # a local file keeps the path `forensics ingest` would give it
            name = row.path[len("file:"):] if row.path.startswith("file:/") else row.path
            named.append(Named(name, str(local), from_ns(ns)))
        named.sort(key=lambda n: walk_order(n.name))
        yield from _messages([*extra, *named], part, service, version, ts, limits, known.value)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_here(fs: "sd.FileSystem", missing: list[str], unseen: list[tuple[str, int]], job) -> Iterator:
    """On the driver: paths that name nothing (each a failed source, as one machine
    records it) and the files Spark's file source skips (empty, or hidden)."""
    from pyspark.sql import Row

    with tempfile.TemporaryDirectory(prefix="forensics-spark-") as tmp:
        rows = []
        for i, (url, ms) in enumerate(unseen):
            local = os.path.join(tmp, f"{i:06d}")
            fs.copy_to_local(url, local)
            with open(local, "rb") as f:
                content = f.read()
            os.remove(local)
            rows.append(Row(path=url, mtime_ms=ms, content=content))
        yield from job(-1, iter(rows), extra=missing)


def _messages(paths: list, part: int, service, version, ts, limits: Limits, known: list[tuple]) -> Iterator:
    """The pipeline over `paths` into an in-memory store: one (RESULTS, part, json)
    per source, then (table, part, Arrow IPC stream) messages of its rows."""
    if not paths:
        return
    store = Store(":memory:")
    # What the dataset read in full or in part stays as it is, even when older readers read
    # it: its rows in every table would have to be replaced (`--force` writes a new dataset).
    # What failed or was skipped has rows only in sources and ingest_errors: read again.
    sd.seed(store, [(*k[:5], READER_VERSION) if k[4] in ("ok", "partial") else k for k in known])
    summary = ingest(store, paths, service=service, version=version, ts=ts, limits=limits)
    seeded = {k[0] for k in known}
    read_again = {r.source_id for r in summary.results if r.source_id in seeded and r.status != "duplicate"}
    for seq, r in enumerate(summary.results):  # a failed reading read again replaces it: same id, new rows
        replaces = r.source_id if r.source_id in read_again else None
        yield RESULTS, part, json.dumps(_result_row(r, part, seq, replaces)).encode()
    for table, ipc in sd.table_messages(store, seeded - read_again):
        yield table, part, ipc


def walk_order(path: str) -> tuple:
    """The order `forensics ingest DIR` reads files in (os.walk, sorted): a
    directory's files before its subdirectories, each by name; an archive's
    members where the archive is.

    >>> sorted(["/a/b/c.log", "/a/z.log", "/a/b.log", "/a/a.tar!x/y.log"], key=walk_order)
    ['/a/a.tar!x/y.log', '/a/b.log', '/a/z.log', '/a/b/c.log']
    """
    *dirs, name = path.split("!", 1)[0].split("/")
    return (*((1, d) for d in dirs), (0, name))


def _winners(results: list[dict]) -> dict[int, tuple[int, str]]:
    """Source id -> (the partition whose reading is kept, its path): an artefact
    found by two partitions (the same content and origin at two paths) is read
    where its file comes first in walk order, as one machine reads the first
    it is given (within one file, an archive, its partition decided)."""
    best: dict[int, tuple] = {}
    for r in results:
        if r["status"] != "duplicate" and r["source_id"] is not None:
            key = (walk_order(r["path"]), r["seq"], r["part"], r["path"])
            if r["source_id"] not in best or key < best[r["source_id"]]:
                best[r["source_id"]] = key
    return {sid: (key[2], key[3]) for sid, key in best.items()}


def _result(r: dict, winners: dict[int, tuple[int, str]]) -> SourceResult:
    artefact = r["duplicate_of"] if r["status"] == "duplicate" else r["source_id"]
    part, path = winners.get(artefact, (r["part"], r["path"]))
    if artefact in winners and (r["status"] == "duplicate" or part != r["part"]):
        return SourceResult(r["path"], "duplicate", error=f"same content and origin as {path}", bytes=r["bytes"],
                            duplicate_of=artefact)
    return SourceResult(**{f.name: r[f.name] for f in fields(SourceResult)})
