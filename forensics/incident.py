"""The facade: an incident database to ingest evidence into, query and analyse.

Every method is a thin call into a lower layer (ingest, analysis, report,
plots) with the incident's :class:`~forensics.db.store.Store`; the CLI's
commands are these methods' names with dashes.

>>> import forensics as fx, tempfile, os
>>> db = fx.open(os.path.join(tempfile.mkdtemp(), "incident.duckdb"))
>>> db.sql("SELECT count(*) FROM panics").fetchall()
[(0,)]
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from .db.store import SourceResult, Store
from .errors import ForensicsError
from .times import naive_utc

if TYPE_CHECKING:
    import pandas as pd

    from .ingest import IngestSummary, Limits

# Each method imports its layer when called: opening an incident to list panics
# costs neither scipy (correlation), matplotlib (plots) nor the parsers.

__all__ = ["Incident", "open", "stacks"]


class Incident:
    """An incident database: ingest evidence, query it, analyse it."""

    def __init__(self, path: str | Path = ":memory:", read_only: bool = False):
        self.store = Store(str(path), read_only=read_only)
        self.path = str(path)

    def ingest(
        self,
        paths: str | Path | list[str | Path],
        service: str | None = None,
        version: str | None = None,
        ts: datetime | str | None = None,
        jobs: int = 1,
        progress: Callable[[SourceResult], None] | None = None,
        limits: Limits | None = None,
        stdin: BinaryIO | None = None,
        format: str | None = None,  # noqa: A002 - the registry's word, as `forensics ingest --as`
        force: bool = False,
    ) -> IngestSummary:
        """Ingest files, directories, globs, archives or "-" (stdin).

        `ts` (datetime or ISO string, UTC) dates every dump found; without it
        dumps take the time of the log line before them, else the file mtime.
        `format` forces a registered format (``forensics.ingest.READABLE``,
        e.g. ``"go_crash"``) where sniffing would guess wrong. An artefact
        already here is skipped unless its reading failed or found nothing
        (then it is retried), older readers read it, or `force` is given;
        a new reading replaces the old one. `limits` bound decompression
        (:class:`forensics.ingest.Limits`). `jobs` parser processes (the CLI's
        default is one per core); the database is the same whatever their
        number. With jobs > 1, a script needs ``if __name__ == "__main__":``
        around its work, as multiprocessing requires.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        ts = naive_utc(ts)
        bar = _notebook_bar() if progress is None else None
        if bar is not None:
            def progress(result: SourceResult) -> None:
                bar.update(result.bytes)
                bar.set_postfix_str(f"{bar.n_files + 1} files", refresh=False)
                bar.n_files += 1
        from .ingest.pipeline import ingest

        try:
            return ingest(self.store, [str(p) for p in paths], service=service, version=version, ts=ts,
                          jobs=jobs, progress=progress, limits=limits, stdin=stdin, format=format, force=force)
        finally:
            if bar is not None:
                bar.close()

    def sql(self, query: str, params: list | None = None):
        """Run SQL against the incident tables; the result has ``.df()``."""
        return self.store.query(query, params)

    def panic_signatures(self) -> "pd.DataFrame":
        """Distinct crashes with counts, first/last seen and versions."""
        from .analysis.signatures import panic_signatures

        return panic_signatures(self.store)

    def top(self, profile=None, sample_type: str | int | None = None, by: str = "function", n: int | None = 20,
            cum: bool = False, **options) -> "pd.DataFrame":
        """`go tool pprof -top` of one profile or several merged.

        `profile`: a profile_id, a list of them, a source path, or a filter
        dict (kind, service, version, since, until). `sample_type`: a name,
        an index or an alias (inuse_space, alloc_objects...). `by`:
        function, file or line. Options: base (a selection to subtract, as
        -diff_base), normalize, tagfocus, tagignore (pprof syntax or a
        dict), kind. ``print(fx.top_text(df))`` prints it as pprof does.
        """
        from .analysis import profiles

        return profiles.top(self.store, profile, sample_type, by=by, n=n, cum=cum, **options)

    def diff(self, profile, base, sample_type: str | int | None = None, normalize: bool = False,
             **options) -> "pd.DataFrame":
        """`go tool pprof -diff_base=BASE -top PROFILE`: what grew (flat > 0)
        or shrank from `base` to `profile` (either may be a set of profiles,
        e.g. ``{"service": "api", "version": "v1.9.0", "kind": "cpu"}``);
        percentages are of the base total. `normalize` scales `profile` to
        the base's total first."""
        from .analysis import profiles

        return profiles.top(self.store, profile, sample_type, base=base, normalize=normalize, **options)

    def export_profile(self, profile, path: str | Path, base=None, normalize: bool = False, **options) -> int:
        """Write the selected profiles (merged; minus `base` as a pprof diff;
        filtered by tagfocus/tagignore) to `path` as gzipped profile.proto,
        which go tool pprof and Pyroscope open. Returns the samples written."""
        from .analysis.export import export_profile

        return export_profile(self.store, profile, path, base=base, normalize=normalize, **options)

    def goroutine_growth(self, service: str | None = None, min_snapshots: int = 3) -> "pd.DataFrame":
        """Goroutines per creation site and blocking frame across successive
        snapshots (dumps and goroutine profiles) of a service; `leak` flags
        sites whose count only grows. See :mod:`forensics.analysis.leaks`."""
        from .analysis.leaks import goroutine_growth

        return goroutine_growth(self.store, service, min_snapshots)

    def latency(self, by=("service", "name"), every: str | None = "5min", q=(0.5, 0.9, 0.99), **filters
                ) -> "pd.DataFrame":
        """Latency quantiles (ms), requests and error rate of server spans per
        service and operation (`by`) and time bucket (`every`, e.g. "5min";
        None for all time). Filters: service, kind (None: every span), since,
        until."""
        from .analysis import latency

        return latency.latency(self.store, by, every, q, **filters)

    def slowest_traces(self, n: int = 10, service: str | None = None) -> "pd.DataFrame":
        """The n longest traces with their root span, spans and errors."""
        from .analysis import latency

        return latency.slowest_traces(self.store, n, service)

    def trace_tree(self, trace_id: str) -> "pd.DataFrame":
        """One trace as an indented tree of spans, with offsets and durations."""
        from .analysis import latency

        return latency.trace_tree(self.store, trace_id)

    def goroutine_time(self, source_id: int | None = None) -> "pd.DataFrame":
        """Go execution traces: running time per goroutine start function."""
        from .analysis import go_trace

        return go_trace.goroutine_time(self.store, source_id)

    def gc_time(self, source_id: int | None = None) -> "pd.DataFrame":
        """Go execution traces: time in GC, mark assists and sweeps."""
        from .analysis import go_trace

        return go_trace.gc_time(self.store, source_id)

    def counter_series(self, name: str = "Goroutines", source_id: int | None = None) -> "pd.DataFrame":
        """Go execution traces (or any Chrome trace): a counter's series over time."""
        from .analysis import go_trace

        return go_trace.counter_series(self.store, name, source_id)

    def timeline(self, since=None, until=None, services=None, kinds=None, min_severity=None, every_row=False,
                 onsets=True, verdict=None, *, start=None, end=None) -> "pd.DataFrame":
        """The incident timeline in time order, UTC, from `since` to `until`
        (`start`/`end`: their former names): deploys and their upgrades,
        crashes (`signature` a column), restarts, the onset of each regression
        (`onsets`), error bursts and Kubernetes warnings, with goroutine
        snapshots and profiles summarised per service, release and bucket;
        `every_row` gives every row of the `timeline` view instead. `verdict`:
        ``db.correlate()``'s result when you have it (the onsets come from it).

        >>> open().timeline(services=["orders"]).empty
        True
        """
        since, until = _window(since, until, start, end)
        from .analysis import timeline

        return timeline.timeline(self.store, since, until, services, kinds, min_severity, every_row, onsets, verdict)

    def plot_timeline(self, since=None, until=None, services=None, rows=None, *, start=None, end=None):
        """The timeline as a matplotlib Figure: a lane per service with its
        releases, deploys, crashes, restarts and regression onsets; error logs
        per minute below (`rows`: ``db.timeline()`` of the same selection,
        when you have it). See :mod:`forensics.plots` for every figure."""
        from .plots import plot_timeline

        since, until = _window(since, until, start, end)
        return plot_timeline(self.store, since, until, services, rows=rows)

    def plot_goroutines(self, service: str | None = None, since=None, until=None):
        """Goroutines per instance over time, the leaking site bold, deploys and releases marked."""
        from .plots import plot_goroutines

        return plot_goroutines(self.store, service, naive_utc(since), naive_utc(until))

    def plot_goroutine_states(self, dump_id: int | None = None):
        """Goroutines per state in one snapshot (default: the biggest)."""
        from .plots import plot_goroutine_states

        return plot_goroutine_states(self.store, dump_id)

    def plot_latency(self, services=None, every: str | None = None, since=None, until=None):
        """p50/p99 latency and error rate per service over time, deploys marked."""
        from .plots import plot_latency

        return plot_latency(self.store, services, every, naive_utc(since), naive_utc(until))

    def plot_crashes(self, since=None, until=None, services=None):
        """Crashes over time, a lane per panic signature, coloured by release."""
        from .plots import plot_crashes

        return plot_crashes(self.store, naive_utc(since), naive_utc(until), services)

    def plot_flame(self, profile, base=None, sample_type: str | None = None):
        """A flame graph (icicle, SVG) of the selected profiles, coloured by
        the change of each frame's share against `base` (red grew, blue shrank)."""
        from .plots import plot_flame

        return plot_flame(self.store, profile, base=base, sample_type=sample_type)

    def plot_waterfall(self, trace_id: str | None = None):
        """One trace (default: the slowest) as a waterfall of its spans."""
        from .plots import plot_waterfall

        return plot_waterfall(self.store, trace_id)

    def correlate(self, before=None, after=None, alpha: float | None = None) -> "pd.DataFrame":
        """Which change broke it: every deploy ranked by the evidence that its
        service got worse after it (panics per signature, restarts, error-log
        share, latency, goroutine growth, CPU shares), each item with its test
        and p-value, suspect modules from the stacks, the onset of each
        regression, and a verdict sentence. `before`/`after` (timedelta or
        minutes) cap the windows, which otherwise run from the deploy before
        to the deploy after. `alpha` is the significance level (None: correlate.ALPHA, 0.01).

        >>> open().correlate().empty
        True
        """
        def minutes(x):
            return timedelta(minutes=x) if isinstance(x, (int, float)) else x

        from .analysis import correlate

        return correlate.correlate(correlate.evidence_from_store(self.store), minutes(before), minutes(after),
                                   correlate.ALPHA if alpha is None else alpha)

    def releases(self, service: str | None = None) -> "pd.DataFrame":
        """Release health, one row per service and release: when it ran, pods
        and instances, requests, p50/p99 and error rate, panics by signature
        (new, regressed, resolved), restarts, goroutine peak and growing
        sites, the biggest CPU and heap shifts. See :mod:`forensics.analysis.releases`.

        >>> open().releases().empty
        True
        """
        from .analysis.releases import releases

        return releases(self.store, service)

    def stacks(self, dump: int | None = None, source: int | None = None, similar: str = "ignore-wait",
               fmt: str | None = None) -> "pd.DataFrame | str":
        """Goroutines bucketed by identical stack, panicparse-style: one row per
        bucket (dump, count, state, wait minutes, creator, ids, the panic above
        it, frames with module@version and file:line). `similar`: exact,
        ignore-args or ignore-wait (see forensics.analysis.stacks.SIMILAR);
        `fmt` (table, json, md, html) renders them as text instead.

        >>> open().stacks().empty
        True
        """
        from .analysis.stacks import stacks_from_store

        return _stacks_out(stacks_from_store(self.store, dump, source, similar), fmt)

    def report(self, path: str | Path | None = None, since=None, until=None, services=None,
               format: str | None = None, title: str | None = None, embed_figures: bool = False, *,  # noqa: A002
               start=None, end=None) -> str:
        """The postmortem report: the root cause in one sentence, summary (what
        happened, impact, detection, mitigation), key events, one evidence
        block per claim with its figure and files, figures, releases, crash
        stacks, every deploy ranked, action items and the timeline, as
        self-contained HTML or Markdown. Written to `path` when given (format
        from its suffix: .html or .md; a Markdown report's figures go beside
        it in `<stem>_files/`, or inline with `embed_figures`). Returns the text."""
        from . import report as _report

        since, until = _window(since, until, start, end)
        data = _report.build(self.store, since, until, services, title)
        if path is not None:
            return _report.write(data, path, format, embed_figures)
        return _report.render(data, format or "html", embed=True)

    @staticmethod
    def spark_ingest(paths: str | list[str], out: str, spark=None, master: str = "local[*]",
                     service: str | None = None, version: str | None = None, ts: datetime | str | None = None,
                     limits: Limits | None = None, force: bool = False):
        """Ingest files, directories or globs at any Hadoop URL with Apache Spark
        into the Parquet dataset `out` (created, or added to: only new artefacts
        are read; replaced with `force`), which ``fx.open(out)`` opens. `spark`:
        a SparkSession, else the active one (a notebook's), else one started on
        `master` and stopped when done. Returns what was done (``.summary``, as
        :meth:`ingest` returns it, and ``.manifest``). Needs the spark extra
        (``pip install 'forensics[spark]'``) and Java 17.
        """
        from pyspark.sql import SparkSession

        from .ingest.spark import session, spark_ingest

        spark = spark or SparkSession.getActiveSession()
        own = spark is None
        spark = session(master) if own else spark
        try:
            return spark_ingest(spark, [paths] if isinstance(paths, str) else list(paths), str(out),
                                service=service, version=version, ts=naive_utc(ts), limits=limits, force=force)
        finally:
            if own:
                spark.stop()

    def export(self, out: str | Path, force: bool = False) -> dict:
        """Write this incident as a Parquet dataset at directory `out` (a
        subdirectory per table, Hive-partitioned by service and date where a
        table has both, and a manifest.json), which ``fx.open(out)`` and every
        reading command open again. An existing dataset is replaced only with
        `force`. Returns the manifest.

        >>> import forensics as fx, os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "dataset")
        >>> fx.open().export(out)["schema_version"] == fx.open(out).sql("SELECT value::INT FROM meta "
        ...                                                              "WHERE key = 'schema_version'").fetchall()[0][0]
        True
        """
        from . import __version__

        return self.store.export(str(out), force=force, written_by=f"forensics {__version__}")

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Incident":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def counts(self) -> dict[str, int]:
        """Rows of the main tables: what this incident holds."""
        names = ("sources", "panics", "goroutines", "logs", "spans", "profiles", "events")
        row = self.sql("SELECT " + ", ".join(f"(SELECT count(*) FROM {n})" for n in names)).fetchall()[0]
        return dict(zip(names, row))

    def __repr__(self) -> str:
        try:
            held = ", ".join(f"{n} {k}" for k, n in self.counts().items())
        except ForensicsError:
            held = "closed"
        return f"<forensics.Incident {self.path}: {held}>"

    def _repr_html_(self) -> str:
        from html import escape

        try:
            counts = self.counts()
        except ForensicsError:
            return f"<p>forensics.Incident {escape(self.path)} (closed)</p>"
        cells = "".join(f"<tr><td>{escape(k)}</td><td style='text-align:right'>{n:,}</td></tr>"
                        for k, n in counts.items())
        return (f"<p><b>forensics.Incident</b> <code>{escape(self.path)}</code></p>"
                f"<table><tr><th>table</th><th>rows</th></tr>{cells}</table>")


def stacks(paths: str | Path | list, similar: str = "ignore-wait", fmt: str | None = None,
           stdin: BinaryIO | None = None, problems: list | None = None) -> "pd.DataFrame | str":
    """The stack buckets of crash files (or "-", standard input) read without a
    database: what `forensics stacks FILE` prints. See :meth:`Incident.stacks`.

    >>> import io
    >>> text = b"panic: boom\\n\\ngoroutine 1 [running]:\\nmain.main()\\n\\t/app/main.go:5 +0x1d\\n"
    >>> print(stacks("-", fmt="table", stdin=io.BytesIO(text)).splitlines()[2:5])
    ['panic: boom', '1: running [goroutine 1]', '    main  main.go:5  main.main()']
    """
    from .analysis.stacks import buckets
    from .ingest.pipeline import read

    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows = read([str(p) for p in paths], stdin=stdin)
    if problems is not None:  # what could not be read, for the caller to show: (source, line, message, status)
        status = {s["source"]: s["status"] for s in rows["sources"]}
        problems.extend((e["source"], e.get("line"), e["message"], status.get(e["source"]))
                        for e in rows["ingest_errors"])
    return _stacks_out(buckets(rows["goroutines"], rows["frames"], rows["panics"], rows["dumps"], similar), fmt)


def _stacks_out(found: list, fmt: str | None):
    if fmt is not None:
        from .report.stacks import render

        return render(found, fmt)
    import pandas as pd

    return pd.DataFrame([b.as_dict() for b in found], columns=[
        "dump_id", "dump_kind", "source", "count", "state", "wait_minutes", "locked", "created_by", "created_at",
        "goroutine_ids", "panic", "frames"])


def _window(since, until, start, end) -> tuple:
    """since/until, or the former names start/end of the same window."""
    if (start is not None and since is not None) or (end is not None and until is not None):
        raise TypeError("give since/until (start/end are their former names), not both")
    return (since if since is not None else start), (until if until is not None else end)


def _notebook_bar():
    """A notebook progress bar (tqdm's widget) over ingested bytes, when running in a Jupyter kernel."""
    if "IPython" not in sys.modules:  # a kernel has imported it; importing it here would cost 0.1 s per ingest
        return None
    try:
        from IPython import get_ipython

        if get_ipython() is None or "IPKernelApp" not in get_ipython().config:
            return None
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bar = tqdm(total=None, unit="B", unit_scale=True, desc="ingest", leave=False)
    bar.n_files = 0
    return bar


def open(path: str | Path = ":memory:", read_only: bool = False) -> Incident:  # noqa: A001 - fx.open is the API
    """Open (creating if missing) the incident database at `path`: a DuckDB
    file, or a Parquet dataset's directory (:meth:`Incident.export`), read-only."""
    return Incident(path, read_only=read_only)
