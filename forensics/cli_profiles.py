"""``forensics top`` and ``forensics diff``: what `go tool pprof -top` prints.

Of profiles in an incident database (``--db``), or of profile files given on
the command line: ``forensics top cpu.pb.gz`` reads the file into a temporary
database (removed afterwards; into ``--db`` when given, which keeps it) and
prints its report, one command as ``go tool pprof -top cpu.pb.gz`` is.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile

import click
from rich.console import Console

import forensics as fx

from .cli_params import ROW_FORMATS, AliasChoice, writable
from .cli_rows import print_frame, safe
from .text import printable, terminal_safe


def open_db(db: str, read_only: bool = False) -> fx.Incident:
    """The incident database, or a usage-level error saying why it does not open."""
    try:
        return fx.open(db, read_only=read_only)
    except fx.ForensicsError as exc:
        raise click.ClickException(str(exc)) from exc


def selection(profile, source, kind, service, version, since, until):
    """A profile selector for the API from the CLI's options."""
    if profile:
        return list(profile)
    if source:
        return source
    return {k: v for k, v in dict(kind=kind, service=service, version=version, since=since, until=until).items() if v}


def profile_report_options(f):
    """Options shared by top and diff: what to show and how (pprof's flags)."""
    for decorator in reversed([
        click.option("--db", type=click.Path(),
                     help="Incident database (or a Parquet dataset's directory, to read); PATHS are read into "
                          "it (created if missing), or without it into a temporary database removed afterwards."),
        click.option("--sample-type", "-t", help="Sample type (name, index, or pprof alias such as inuse_space); "
                                                 "default as pprof's."),
        click.option("--by", type=click.Choice(["function", "file", "line"]), default="function", show_default=True),
        click.option("--cum", is_flag=True, help="Sort by cumulative value."),
        click.option("--tagfocus", multiple=True, help="Keep samples with labels matching (pprof syntax)."),
        click.option("--tagignore", multiple=True, help="Drop samples with labels matching (pprof syntax)."),
        click.option("--output", "-o", type=click.Path(dir_okay=False), callback=writable,
                     help="Also write the merged (or diffed) profile there as gzipped profile.proto."),
        click.option("--format", "fmt", type=AliasChoice(ROW_FORMATS, {"text": "table"}), default="table",
                     show_default=True, help="table is go tool pprof -top's layout."),
        click.option("--limit", "-n", type=click.IntRange(0), default=20, show_default=True,
                     help="Print at most N rows (0: all), as pprof's -nodecount."),
        click.option("--nodecount", type=click.IntRange(0), default=None, hidden=True),
    ]):
        f = decorator(f)
    return f


def selector_options(prefix: str = "", what: str = "profiles"):
    names = [("profile", "ID", "Profile id (repeatable).", dict(multiple=True, type=int)),
             ("source", "PATH", "Profiles of this ingested source path.", {}),
             ("kind", "KIND", "Profile kind: cpu, heap, allocs, goroutine, contention, threadcreate.", {}),
             ("service", "S", "Service.", {}), ("version", "V", "Version.", {}),
             ("since", "TIME", "Taken at or after (ISO 8601).", {}), ("until", "TIME", "Taken before (ISO 8601).", {})]

    def wrap(f):
        for name, metavar, doc, extra in reversed(names):
            opt = f"--{prefix}{name}"
            f = click.option(opt, f"{prefix.replace('-', '_')}{name}", metavar=metavar,
                             help=f"{what}: {doc}", **extra)(f)
        return f
    return wrap


def profile_report(incident, fmt, output=None, **kwargs):
    """Print the report (closing `incident`); a bad selection is an error, exit 1."""
    try:
        df = incident.top(**kwargs)
        if output:
            exported = incident.export_profile(kwargs["profile"], output, base=kwargs.get("base"),
                                               normalize=kwargs.get("normalize", False),
                                               tagfocus=kwargs.get("tagfocus"), tagignore=kwargs.get("tagignore"))
            Console(stderr=True, highlight=False).print(f"wrote {exported} samples to {safe(output)}")
    except (ValueError, fx.ForensicsError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        incident.close()
    if fmt == "table":
        if df.empty:
            raise click.ClickException("no profile matches the selection")
        click.echo(printable(fx.top_text(df)), nl=False)
    else:
        print_frame(df, fmt, None)


def profile_rows(limit, nodecount) -> int | None:
    return (nodecount if nodecount is not None else limit) or None


class _Files:
    """The database a report reads: `db` as it is (no files given), `db`
    with the files read into it, or a temporary one holding only them,
    removed on exit."""

    def __init__(self, db: str | None, *file_lists):
        self.db, self.files, self.tmp = db, [p for files in file_lists for p in files], None
        if not self.files:
            if not db:
                raise click.UsageError("Missing option '--db' (or give profile files to read).")
            if not os.path.isfile(db) and not os.path.isdir(db):  # a dataset is a directory
                raise click.BadParameter(f"File {db!r} does not exist.", param_hint="'--db'")
            return
        missing = [p for p in self.files if p != "-" and not any(c in p for c in "*?[") and not os.path.exists(p)]
        if missing:  # before a database is created: a typo makes no empty incident
            raise click.BadParameter(f"no such file or directory: {', '.join(map(terminal_safe, missing))}",
                                     param_hint="PATHS")

    def __enter__(self):
        if self.files and not self.db:
            self.tmp = tempfile.mkdtemp(prefix="forensics-top-")
            self.db = os.path.join(self.tmp, "profiles.duckdb")
        self.incident = open_db(self.db, read_only=not self.files)
        return self

    def __exit__(self, *exc):
        self.incident.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def read(self, paths) -> list[int]:
        """Profile ids of the profiles in `paths`, read into the database
        (or found there, read before); an error when one cannot be read or
        none holds a profile."""
        if not paths:
            return []
        try:
            summary = self.incident.ingest(list(paths), progress=lambda result: None)
        except fx.ForensicsError as exc:
            raise click.ClickException(str(exc)) from exc
        failed = [r for r in summary.results if r.status == "failed"]
        if failed:
            raise click.ClickException("; ".join(f"cannot read {terminal_safe(r.path)}: {terminal_safe(r.error)}"
                                                 for r in failed))
        err = Console(stderr=True, highlight=False)
        for r in summary.results:
            if r.status == "partial":
                err.print(f"partial: {safe(r.path)}: {safe(r.error)}")
        sources = [r.source_id for r in summary.results if r.source_id is not None]
        for r in summary.results:  # read before: the profiles of that earlier reading
            found = re.search(r"\(source (\d+)\)$", r.error or "") if r.status == "duplicate" else None
            if found:
                sources.append(int(found.group(1)))
        ids = [row[0] for row in self.incident.sql(
            f"SELECT profile_id FROM profiles WHERE source_id IN ({', '.join('?' * len(sources)) or 'NULL'}) "
            "ORDER BY ts NULLS FIRST, profile_id", sources).fetchall()]
        if not ids:
            kinds = sorted({r.kind for r in summary.results if r.kind})
            read_as = f" (read as {', '.join(kinds)})" if kinds else ""
            raise click.ClickException(f"no profile in {', '.join(map(terminal_safe, paths))}{read_as}")
        return ids

    def chosen(self, ids: list[int], selector):
        """The profiles of the files (`ids`) the selector also chooses; the selector alone without files."""
        if not ids:
            return selector
        if not selector:
            return ids
        from .analysis.profiles import select_profiles

        try:
            allowed = set(select_profiles(self.incident.store, selector))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        return [i for i in ids if i in allowed]


@click.command()
@click.argument("paths", nargs=-1)
@profile_report_options
@selector_options()
def top(paths, db, sample_type, by, cum, tagfocus, tagignore, output, fmt, limit, nodecount, profile, source, kind,
        service, version, since, until) -> None:
    """Top functions of profiles, as `go tool pprof -top` prints them.

    Of profile files (PATHS: files, directories, globs, archives; read into
    --db when given, else into a temporary database), or of the profiles of
    --db chosen by id, source path or kind/service/version/time range
    (merged, as pprof merges them).
    """
    with _Files(db, paths) as files:
        chosen = files.chosen(files.read(paths), selection(profile, source, kind, service, version, since, until))
        profile_report(files.incident, fmt, output, profile=chosen, sample_type=sample_type, by=by,
                       n=profile_rows(limit, nodecount), cum=cum, tagfocus=list(tagfocus) or None,
                       tagignore=list(tagignore) or None)


@click.command()
@click.argument("paths", nargs=-1)
@profile_report_options
@selector_options()
@click.option("--base", "base_files", multiple=True, metavar="PATH",
              help="base: profile files to subtract (repeatable; read as PATHS are).")
@selector_options("base-", "base")
@click.option("--normalize", is_flag=True, help="Scale the profiles to the base's total first (pprof -normalize).")
def diff(paths, db, sample_type, by, cum, tagfocus, tagignore, output, fmt, limit, nodecount, profile, source, kind,
         service, version, since, until, base_files, base_profile, base_source, base_kind, base_service,
         base_version, base_since, base_until, normalize) -> None:
    """What changed between two sets of profiles (pprof -diff_base).

    Positive flat: more in the selection than in the base. A base option
    left out takes the selection's value, so `--kind cpu --base-version
    v1.4 --version v1.5` compares the CPU profiles of two releases; `diff
    new.pb.gz --base old.pb.gz` compares two files.
    """
    if not any((base_files, base_profile, base_source, base_kind, base_service, base_version, base_since, base_until)):
        raise click.UsageError("choose a base: --base FILE, --base-profile, --base-source or --base-version/...")
    with _Files(db, paths, base_files) as files:
        new = files.chosen(files.read(paths), selection(profile, source, kind, service, version, since, until))
        base_ids = files.read(base_files)
        base = files.chosen(base_ids, selection(
            base_profile, base_source, base_kind or (kind if not (base_source or base_ids) else None),
            base_service or (service if not (base_source or base_ids) else None), base_version, base_since,
            base_until))
        profile_report(files.incident, fmt, output, profile=new, base=base, normalize=normalize,
                       sample_type=sample_type, by=by, n=profile_rows(limit, nodecount), cum=cum,
                       tagfocus=list(tagfocus) or None, tagignore=list(tagignore) or None)
