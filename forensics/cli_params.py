"""The options commands share, and their values checked where they are given:
a bad value is a usage error naming its option, before any work is done."""
from __future__ import annotations

import os
import re

import click

from .times import naive_utc

ROW_FORMATS = ("table", "csv", "json", "md")


class AliasChoice(click.Choice):
    """A choice that also takes former spellings (hidden from --help)."""

    def __init__(self, choices, aliases: dict[str, str] | None = None):
        super().__init__(choices)
        self.aliases = aliases or {}

    def convert(self, value, param, ctx):
        return super().convert(self.aliases.get(value, value), param, ctx)


def _readable() -> tuple[str, ...]:
    from .ingest.registry import READABLE

    return READABLE


class FormatChoice(click.Choice):
    """The registry's readable format names, looked up when first needed: the
    registry imports every parser (and pyarrow), which `forensics --help` does not pay for."""

    def __init__(self) -> None:  # click.Choice's __init__ would fix the names now
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        return _readable()


class FormatOption(click.Option):
    """``--as FORMAT``, whose help lists the names (looked up as FormatChoice's are)."""

    def get_help_record(self, ctx):
        self.help = "Read every PATH as this format instead of sniffing: " + ", ".join(_readable()) + "."
        return super().get_help_record(ctx)


def db_option(must_exist: bool = True):
    """--db: a database to read (a DuckDB file, or a dataset directory) or, when it need not exist, to write."""
    return click.option("--db", required=True, type=click.Path(exists=must_exist, dir_okay=must_exist),
                        help="Incident database" + (": a DuckDB file, or a Parquet dataset's directory "
                                                    "(forensics export)." if must_exist else " (created if missing)."))


def rows_options(default_limit: int | None = 50, table_doc: str = ""):
    """--format and -n/--limit, the same wherever rows are printed."""
    def wrap(f):
        f = click.option("--limit", "-n", type=click.IntRange(0), default=None,
                         help="Print at most N rows (0: all); default: "
                              + (f"{default_limit} in a table, all otherwise." if default_limit else "all."))(f)
        return click.option("--format", "fmt", type=AliasChoice(ROW_FORMATS, {"text": "table"}), default="table",
                            show_default=True, help=table_doc or "How to print the rows.")(f)
    return wrap


def limit_of(limit: int | None, fmt: str, default: int | None) -> int | None:
    """Rows to print: the user's -n (0: all), else the table default; None for all."""
    if limit is None:
        return default if fmt == "table" else None
    return limit or None


def iso_time(ctx, param, value):
    """An option's ISO 8601 time, checked where it is given: a bad one is a usage error naming it."""
    if value is None:
        return None
    try:
        naive_utc(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time (e.g. 2026-03-14T11:00:00Z): {value!r}") from None
    return value


def quantile_list(ctx, param, value: str) -> list[float]:
    try:
        qs = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        qs = []
    if not qs or not all(0 < q < 1 for q in qs):
        raise click.BadParameter(f"quantiles between 0 and 1, comma-separated (e.g. 0.5,0.99); got {value!r}")
    return qs


SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000 ** 2, "mb": 1000 ** 2,
              "mib": 1 << 20, "g": 1000 ** 3, "gb": 1000 ** 3, "gib": 1 << 30, "t": 1000 ** 4, "tb": 1000 ** 4,
              "tib": 1 << 40}


def byte_size(ctx, param, value: str) -> int:
    """A size such as 4GiB, 500MB or 1048576 (bytes), as a number of bytes.

    >>> byte_size(None, None, "4GiB"), byte_size(None, None, "1.5 MB")
    (4294967296, 1500000)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    unit = m and SIZE_UNITS.get(m[2].lower())
    if not m or unit is None or float(m[1]) * unit < 1:
        raise click.BadParameter(f"a size such as 4GiB, 500MB or 1048576 (bytes); got {value!r}")
    return int(float(m[1]) * unit)


def writable(ctx, param, value):
    """An output path whose folder exists and can be written, checked before any work."""
    if value is None:
        return None
    folder = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise click.BadParameter(f"cannot write {value!r}: {folder} is not a writable folder")
    return value


def window_options(f):
    """--since/--until (and the hidden former names --from/--to)."""
    for decorator in reversed([
        click.option("--since", callback=iso_time, help="From this time (ISO 8601, UTC unless an offset is given)."),
        click.option("--until", callback=iso_time, help="To this time (ISO 8601)."),
        click.option("--from", "from_", hidden=True, callback=iso_time),
        click.option("--to", "to", hidden=True, callback=iso_time),
    ]):
        f = decorator(f)
    return f


def since_until(since, until, from_, to) -> tuple:
    if (from_ and since) or (to and until):
        raise click.UsageError("--from/--to are the former names of --since/--until: give one of each")
    return since or from_, until or to
