"""``forensics ingest``: the batch command, with its progress bar, summary and exit status."""
from __future__ import annotations

import os
import sys

import click

import forensics as fx

from .cli_params import FormatChoice, FormatOption, byte_size, db_option
from .cli_rows import safe
from .ingest.files import Limits
from .ingest.workers import default_jobs, start_early
from .lazy import arrow_without_pandas
from .text import terminal_safe
from .times import naive_utc

EXIT_OK, EXIT_PROBLEMS, EXIT_NO_DATABASE = 0, 1, 3


@click.command()
@click.argument("paths", nargs=-1, required=True)
@db_option(must_exist=False)
@click.option("--as", "as_format", cls=FormatOption, type=FormatChoice(), metavar="FORMAT")
@click.option("--service", help="Service the evidence comes from.")
@click.option("--version", "version", help="Version of the service that produced it.")
@click.option("--ts", help="Time of the evidence (ISO 8601, UTC if no zone); default: from log lines, else file mtime.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), metavar="N",
              help="Parser processes (default: one per core); the database is the same whatever N is.")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary line and problems.")
@click.option("--strict", is_flag=True, help="Exit 1 when a file was read only in part, not only when one failed.")
@click.option("--force", is_flag=True, help="Read again what is already in the database, replacing it.")
@click.option("--max-source-size", callback=byte_size, default="4GiB", show_default=True, metavar="SIZE",
              help="Bound on one source's decompressed size (a bomb stops here).")
@click.option("--max-extract-size", callback=byte_size, default="16GiB", show_default=True, metavar="SIZE",
              help="Bound on all archive members of this call together.")
@click.option("--max-ratio", type=click.IntRange(1), default=Limits.max_ratio, show_default=True,
              help="Bound on decompressed/compressed size past 256 MiB (a bomb's is thousands).")
def ingest(paths, db, as_format, service, version, ts, jobs, quiet, strict, force, max_source_size,
           max_extract_size, max_ratio) -> None:
    """Ingest files, directories, globs, .gz/.tar(.gz)/.zip bundles or - (stdin).

    Formats are detected from content (or forced with --as). Content already
    in the database is skipped, unless its reading failed or found nothing,
    or an older forensics read it (then it is read again; --force reads
    everything again). Every file is recorded with its status; problems are
    listed with the line and what was expected. Exit 1 when a file failed
    (with --strict, also when one was partial); 3 when the database cannot
    be opened or written (locked, read-only, full).
    """
    missing = [p for p in paths if p != "-" and not any(c in p for c in "*?[") and not os.path.exists(p)]
    if missing:  # before the database is created: a typo makes no empty incident
        raise click.BadParameter(f"no such file or directory: {', '.join(map(terminal_safe, missing))}",
                                 param_hint="PATHS")
    when = None
    if ts:
        try:
            when = naive_utc(ts)
        except ValueError as exc:
            raise click.BadParameter(f"not an ISO 8601 time: {ts!r}", param_hint="--ts") from exc
    jobs = jobs or default_jobs()
    if jobs > 1:
        start_early(paths)  # the fork server imports the parsers while this process does
    arrow_without_pandas()  # this process only parses and loads
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    err = Console(stderr=True, highlight=False)
    limits = Limits(max_source_bytes=max_source_size, max_extract_bytes=max_extract_size, max_ratio=max_ratio)
    try:
        incident = fx.open(db)
    except fx.ForensicsError as exc:
        _no_database(exc)
    show_bar = err.is_terminal and not quiet
    with Progress(
        TextColumn("[bold]ingest"), BarColumn(), TextColumn("{task.description} files"),
        DownloadColumn(), TransferSpeedColumn(), console=err, disable=not show_bar, transient=True,
    ) as bar:
        task = bar.add_task("0", total=_bytes_on_disk(paths) if show_bar else None)
        files_done = bytes_done = 0
        archives: set[str] = set()

        def on_result(result) -> None:
            # on-disk bytes, as the total counts them: an archive counts once, at its first member
            nonlocal files_done, bytes_done
            files_done += 1
            outer = result.path.split("!", 1)[0]
            if outer != result.path:
                bytes_done += _size(outer) if outer not in archives else 0
                archives.add(outer)
            else:
                bytes_done += _size(outer) or result.bytes
            bar.update(task, completed=bytes_done, description=str(files_done))

        try:
            summary = incident.ingest(list(paths), service=service, version=version, ts=when,
                                      jobs=jobs,
                                      progress=on_result, format=as_format, force=force, limits=limits)
        except fx.StoreError as exc:
            _no_database(exc)
        except fx.ForensicsError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            incident.close()
    sys.exit(report(summary, quiet, strict))


def report(summary, quiet: bool, strict: bool) -> int:
    """Print an ingest's summary line and its problems; the exit status."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    out.print(safe(summary))
    for r in summary.results:
        if r.status in ("partial", "failed"):
            out.print(f"  {r.status}: {safe(r.path)}: {safe(r.error)}")
    skipped = [r for r in summary.results if r.status == "skipped"]
    if skipped and not quiet:
        example = skipped[0]
        out.print(f"  {len(skipped)} file{'s' * (len(skipped) > 1)} held nothing to read, e.g. "
                  f"{safe(example.path)}: {safe(example.error)}")
    failed = any(r.status == "failed" for r in summary.results)
    return EXIT_PROBLEMS if failed or (strict and summary.problems) else EXIT_OK


def _no_database(exc: Exception) -> None:
    """Exit 3: nothing more can be ingested (the database is locked, read-only or cannot be written)."""
    click.echo(f"Error: {terminal_safe(str(exc))}", err=True)
    sys.exit(EXIT_NO_DATABASE)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _bytes_on_disk(paths) -> int | None:
    """What ingest will read, in bytes on disk (archives compressed), for the
    progress bar's total; None (no total) for standard input."""
    if "-" in paths:
        return None
    import glob

    total = 0
    for p in paths:  # as ingest expands them: a path that exists is itself, else a (recursive) glob
        for found in [p] if os.path.exists(p) else glob.glob(p, recursive=True):
            if os.path.isdir(found):
                total += sum(_size(os.path.join(d, f)) for d, _, files in os.walk(found) for f in files)
            else:
                total += _size(found)
    return total
