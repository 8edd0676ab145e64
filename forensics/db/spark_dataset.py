"""A dataset written by Spark (:mod:`forensics.ingest.spark`): what an
executor's in-memory store holds, sent back as Arrow IPC messages with the
source owning each row; on the driver, those messages as Spark DataFrames in
the dataset's column types, the shared tables reduced to one row a key as the
store keeps them, written by Spark's Parquet writer in the layout of
:mod:`.dataset`; and the few Hadoop file system calls the job makes, so
that its input and the dataset may be at any URL Spark reads.

PySpark is imported only in the functions that run on the driver.
"""
from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator

from ..errors import StoreError
from . import dataset
from .ids import LOCAL_IDS
from .schema import SCHEMA_VERSION, TABLES, arrow_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from .store import Store

# Shared tables: how the rows of one key from several partitions become one
# (as the store keeps them, Store._insert): a stack keeps at each depth its
# smallest frame_id; the rows of one frame or goroutine stack are equal.
SHARED = {"stacks": ("stack_id", "depth"), "frame_info": ("frame_id",), "goroutine_stacks": ("frames_id", "depth")}
BATCH_ROWS = 65_536  # rows of one Arrow IPC message sent back by an executor
WRITERS = 4  # tables written at once (each a job: a few keep the cores busy)
OWNER, PART = "_fx_owner", "_fx_part"  # the source owning a row; the partition that read it


def table_messages(store: "Store", seeded: set[int]) -> Iterator[tuple[str, bytes]]:
    """(table, Arrow IPC stream) for the rows of every table of `store`, each
    row with the source owning it; the sources in `seeded` (the dataset's
    own, given to the store by :func:`seed`) left out."""
    import pyarrow as pa

    for table in dataset.tables():
        for batch in store.con.sql(_owned(table, seeded)).to_arrow_reader(BATCH_ROWS):
            if batch.num_rows:
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, batch.schema) as w:
                    w.write_batch(batch)
                yield table, sink.getvalue().to_pybytes()


KNOWN = ("source_id", "path", "sha256", "origin", "status", "reader_version")  # what a re-run needs of a source


def seed(store: "Store", known: list[tuple]) -> None:
    """Give an executor's store the dataset's sources (KNOWN: identity, status,
    reader): what it holds already is a duplicate, what failed is read again."""
    import pyarrow as pa

    if known:
        schema = pa.schema([(c.name, arrow_type(c.type)) for c in TABLES["sources"].columns if c.name in KNOWN])
        rows = pa.Table.from_pylist([dict(zip(KNOWN, k)) for k in known], schema=schema)
        store.con.register("_fx_known", rows)
        store.con.execute("INSERT INTO sources BY NAME SELECT * FROM _fx_known")
        store.con.unregister("_fx_known")


def known_sources(spark: "SparkSession", out: str) -> list[tuple]:
    """The KNOWN columns of the sources of the dataset at `out`."""
    return [tuple(r) for r in stored(spark, out, "sources").select(*KNOWN).collect()]


def _owned(table: str, seeded: set[int]) -> str:
    """The table's rows with the source that owns each (OWNER): its source_id,
    else the owner of its local id; the `seeded` rows (the dataset's own) left out."""
    cols = {c.name for c in TABLES[table].columns}
    if table in SHARED:
        return f"SELECT * FROM {table}"
    if "source_id" in cols:
        sql = f"SELECT *, source_id AS {OWNER} FROM {table}"
    else:
        col = next(c for c in LOCAL_IDS if c in cols)
        sql = (f"SELECT t.*, o.source_id AS {OWNER} FROM {table} t "
               f"JOIN {LOCAL_IDS[col]} o ON t.{col} = o.{col}")
    if table == "sources" and seeded:
        sql += f" WHERE source_id NOT IN ({', '.join(str(int(i)) for i in seeded)})"
    return sql


def ipc_schema(table: str):
    """The Arrow schema of a table's messages as Spark takes them: UBIGINT as
    DECIMAL(20,0) (Spark has no unsigned type, and reads Parquet's UINT64 so),
    and, but for a shared table, the owning source and the partition."""
    import pyarrow as pa

    fields = []
    for c in TABLES[table].columns:
        kind = arrow_type(c.type)
        fields.append(pa.field(c.name, pa.decimal128(20, 0) if pa.types.is_uint64(kind) else kind))
    if table not in SHARED:
        fields += [pa.field(OWNER, pa.int64()), pa.field(PART, pa.int32())]
    return pa.schema(fields)


def _stored_schema(table: str):
    """The table's columns as Spark writes them (Spark types)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    import pyarrow as pa

    stored = pa.schema([f for f in ipc_schema(table) if f.name not in (OWNER, PART)])
    return from_arrow_schema(stored, prefer_timestamp_ntz=True)


def _decode(batches: Iterator, table: str) -> Iterator:
    """mapInArrow: IPC messages -> the table's rows (with owner and partition)."""
    import pyarrow as pa

    schema = ipc_schema(table)
    for batch in batches:
        for ipc, part in zip(batch.column("ipc").to_pylist(), batch.column("part").to_pylist()):
            got = pa.ipc.open_stream(ipc).read_all()
            arrays = []
            for f in schema:
                if f.name == PART:
                    arrays.append(pa.array([part] * got.num_rows, pa.int32()))
                else:
                    arrays.append(got.column(f.name).cast(f.type))
            yield from pa.Table.from_arrays(arrays, schema=schema).to_batches()


def table_frame(spark: "SparkSession", parts, table: str, winners: dict[int, tuple[int, str]],
                old: "DataFrame | None" = None) -> "DataFrame":
    """The table's rows from every partition: an artefact's from its winning
    partition only; a shared table's once per key; and the `old` rows (the
    dataset's, when adding to it)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = from_arrow_schema(ipc_schema(table), prefer_timestamp_ntz=True)
    if parts is None:
        frame = spark.createDataFrame([], schema)
    else:
        tasks = max(1, spark.sparkContext.defaultParallelism)  # the cached messages, one task a core
        frame = parts.filter(F.col("table") == table).select("part", "ipc").coalesce(tasks).mapInArrow(
            functools.partial(_decode, table=table), schema)
    columns = [c.name for c in TABLES[table].columns]
    if table in SHARED:
        if old is not None:
            frame = frame.select(columns).unionByName(old.select(columns))
        if table == "stacks":  # at each depth the smallest frame (Store._insert)
            return frame.groupBy("stack_id", "depth").agg(F.min("frame_id").alias("frame_id")).select(columns)
        return frame.dropDuplicates(list(SHARED[table])).select(columns)
    kept = spark.createDataFrame([(int(s), int(p)) for s, (p, _) in winners.items()], f"{OWNER} bigint, {PART} int")
    frame = frame.join(F.broadcast(kept), [OWNER, PART], "left_semi").select(columns)
    return frame if old is None else old.select(columns).unionByName(frame)


def stored(spark: "SparkSession", out: str, table: str) -> "DataFrame":
    """A table of the dataset at `out` as written (no Hive partition columns)."""
    return spark.read.schema(_stored_schema(table)).parquet(f"{out}/{table}")


def write_table(frame: "DataFrame", where: str, table: str, mode: str = "overwrite") -> None:
    """Spark's Parquet writer, a file a task (no task of one table's rows: a big
    table is decoded and written by every core), partitioned as :mod:`.dataset`."""
    from pyspark.sql import functions as F

    part = dataset.PARTITIONS.get(table)
    if part is None:
        frame.write.mode(mode).option("compression", "zstd").parquet(where)
        return
    service, ts = part
    (frame.withColumn("date", F.to_date(F.col(ts))).write.mode(mode).option("compression", "zstd")
     .partitionBy(service, "date").parquet(where))


def manifest(spark: "SparkSession", root: str) -> dict:
    """The manifest of the dataset written at `root` (rows counted from its files)."""
    from pyspark.sql import functions as F

    # One job for all: each table's rows (footers only; a table of no rows may have no
    # file) and the sources by status, as (table, status) groups.
    frames = [stored(spark, root, name).select(F.lit(name).alias("t"), (
        F.col("status") if name == "sources" else F.lit(None).cast("string")).alias("status"))
        for name in dataset.tables()]
    groups = functools.reduce(lambda a, b: a.unionByName(b), frames).groupBy("t", "status").count().collect()
    counts = {name: 0 for name in dataset.tables()}
    statuses: dict[str, int] = {}
    for g in groups:
        counts[g["t"]] += g["count"]
        if g["t"] == "sources":
            statuses[g["status"]] = g["count"]
    entries = {}
    for name in dataset.tables():
        part = dataset.PARTITIONS.get(name)
        entries[name] = {"rows": counts[name], "partitioned_by": [part[0], "date"] if part else []}
    return {"format": dataset.FORMAT, "schema_version": SCHEMA_VERSION,
            "written_by": f"forensics {_version()} spark-ingest (Spark {spark.version})",
            "written_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sources": {"count": sum(statuses.values()), "by_status": dict(sorted(statuses.items()))},
            "tables": entries}


# Hadoop's FileStatus.toString(), one a line: "...{path=URL; isDirectory=false; length=N; ...
# modification_time=MS; ...}".
_FILE_STATUS = re.compile(r"\{path=(?P<path>.*?); isDirectory=(?P<dir>true|false); length=(?P<length>\d+); "
                          r".*?modification_time=(?P<mtime>-?\d+);")


def hidden(name: str) -> bool:
    """A name Spark's file index skips (InMemoryFileIndex.shouldFilterOutPathName)."""
    return name.startswith(".") or name.startswith("_") and "=" not in name or name.endswith("._COPYING_")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("forensics")
    except PackageNotFoundError:
        return "(not installed)"


class FileSystem:
    """The few Hadoop FileSystem calls the job makes (through the JVM), so that
    `out` and the inputs may be at any URL Spark reads."""

    def __init__(self, spark: "SparkSession", out: str):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()
        self.out = out

    def _path(self, p: str):
        return self.jvm.org.apache.hadoop.fs.Path(p)

    def _fs(self, p: str):
        return self._path(p).getFileSystem(self.conf)

    def exists(self, p: str) -> bool:
        return self._fs(p).exists(self._path(p))

    def listed(self, p: str) -> bool:
        return len(self._fs(p).listStatus(self._path(p))) > 0

    def is_dataset(self) -> bool:
        return self.exists(self.join(self.out, dataset.MANIFEST))

    def join(self, a: str, b: str) -> str:
        return f"{a.rstrip('/')}/{b}"

    def expand(self, paths: list[str]) -> tuple[list[str], list[str], list[tuple[str, int]]]:
        """(paths that name something, paths that name nothing, and the files Spark's
        file source leaves out: empty ones, and names starting with '.' or '_' below
        a given directory, as (URL, modification time in ms))."""
        found, missing, unseen = [], [], []
        for p in paths:
            fs = self._fs(p)
            matches = fs.globStatus(self._path(p))
            if not matches:
                missing.append(p)
                continue
            found.append(p)
            for match in matches:
                root = match.getPath().toString().rstrip("/")
                for url, length, mtime in self._leaves(fs, match):
                    if length == 0 or any(hidden(part) for part in url[len(root):].split("/")):
                        unseen.append((url, mtime))
        return found, missing, unseen

    def _leaves(self, fs, status) -> Iterator[tuple[str, int, int]]:
        """(URL, length, modification time in ms) of every file at or below `status`:
        listed by Spark's own recursive listing and handed over as one text, since a
        call into the JVM per file costs about a millisecond (3,000 files: 0.25 s, not 20 s)."""
        jvm = self.jvm
        try:
            leaves = jvm.org.apache.spark.deploy.SparkHadoopUtil.get().listLeafStatuses(fs, status)
            text = jvm.org.apache.commons.lang3.StringUtils.join(
                jvm.scala.jdk.javaapi.CollectionConverters.asJava(leaves), "\n")
        except Exception:  # noqa: BLE001 - another Spark's internals: one call per file, slower
            files = fs.listFiles(status.getPath(), True)
            while files.hasNext():
                f = files.next()
                yield f.getPath().toString(), f.getLen(), f.getModificationTime()
            return
        for m in _FILE_STATUS.finditer(text):
            if m["dir"] == "false":
                yield m["path"], int(m["length"]), int(m["mtime"])

    def copy_to_local(self, url: str, local: str) -> None:
        self._fs(url).copyToLocalFile(False, self._path(url), self._path(local), True)

    def staging(self, out: str, existing: bool) -> str:
        name = f".{out.rstrip('/').rsplit('/', 1)[-1]}.partial-{uuid.uuid4().hex[:12]}"
        if existing:  # beside the tables it is merged into
            return self.join(out, name)
        return f"{out.rstrip('/').rsplit('/', 1)[0]}/{name}" if "/" in out.rstrip("/") else name

    def delete(self, p: str) -> None:
        if self.exists(p):
            self._fs(p).delete(self._path(p), True)

    def rename(self, src: str, dst: str) -> None:
        fs = self._fs(dst)
        parent = self._path(dst).getParent()
        if parent is not None:
            fs.mkdirs(parent)
        if not fs.rename(self._path(src), self._path(dst)):
            raise StoreError(f"could not rename {src} to {dst}")

    def merge(self, staging: str, out: str, replaced: list[str]) -> None:
        """Move the staged tables' Parquet files into the dataset's (a table in
        `replaced` is swapped whole: it was rewritten)."""
        fs = self._fs(out)
        for table in dataset.tables():
            src = self.join(staging, table)
            if table in replaced:
                self.delete(self.join(out, table))
                self.rename(src, self.join(out, table))
                continue
            staged = fs.getFileStatus(self._path(src))
            root = staged.getPath().toString().rstrip("/")
            for url, _, _ in self._leaves(fs, staged):
                if url.endswith(".parquet"):
                    self.rename(url, self.join(out, table) + url[len(root):])

    def write_text(self, p: str, text: str) -> None:
        stream = self._fs(p).create(self._path(p), True)
        try:
            stream.write(bytearray(text.encode()))
        finally:
            stream.close()


