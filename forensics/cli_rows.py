"""Rows as the command line prints them: a table, CSV, JSON or Markdown.

Cells are untrusted text (paths, panic messages, log lines): in a table each
is one line with control and bidi characters as visible escapes
(:func:`~forensics.text.terminal_safe`: a newline is ``\\n``, so no cell
forges a row); CSV shows control and bidi characters as escapes too (its
quoting keeps newlines); JSON escapes them itself; Markdown cells go
through :func:`~forensics.text.md_cell`."""
from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import NamedTuple

import click
from rich.markup import escape

from .text import md_cell, printable, terminal_safe


def safe(value) -> str:
    """Untrusted text (paths, panic messages) for the terminal, on one line: no control or bidi characters, no
    newline, no markup."""
    return escape(terminal_safe(value))


def rounded(df):
    """Milliseconds to 3 decimals and rates to 4, for reading."""
    out = df.copy()
    for col in out.columns:
        if col.endswith("_ms"):
            out[col] = out[col].round(3)
        elif col.endswith("_rate"):
            out[col] = out[col].round(4)
    return out


def utc_text(df, precise: bool):
    """Time columns as ISO 8601 text ending in Z (every time here is UTC),
    to the millisecond when `precise`, else to the second."""
    out = None
    for col in df.columns:
        if str(df[col].dtype).startswith("datetime64"):
            out = df.copy() if out is None else out
            text = df[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%f" if precise else "%Y-%m-%dT%H:%M:%S")
            out[col] = (text.str.slice(0, 23) + "Z" if precise else text + "Z").where(df[col].notna(), None)
    return df if out is None else out


class Rows(NamedTuple):
    """A query's columns and row tuples, fetched without pandas: a table or
    Markdown prints from them directly (a command that lists rows then starts
    without importing pandas); CSV and JSON go through a DataFrame."""

    columns: list[str]
    rows: list[tuple]

    @classmethod
    def of(cls, relation) -> "Rows":
        """The rows of a DuckDB relation."""
        return cls(list(relation.columns), relation.fetchall())

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def print_frame(df, fmt: str, limit: int | None, columns: list[str] | None = None) -> None:
    """Rows (a DataFrame or :class:`Rows`) as a table (only `columns`, when given), CSV, JSON or Markdown; at
    most `limit` (None: all). Times end in Z; a table fits the terminal (COLUMNS, else 100 columns when piped)."""
    if isinstance(df, Rows) and fmt in ("csv", "json"):
        df = df.frame()
    if isinstance(df, Rows):
        names, total = df.columns, len(df.rows)
        records = [tuple(map(_utc_cell, r)) for r in (df.rows if limit is None else df.rows[:limit])]
    else:
        shown = utc_text(df if limit is None else df.head(limit), precise=fmt in ("csv", "json"))
        names, total = list(df.columns), len(df)
        records = None if fmt in ("csv", "json") else list(shown.itertuples(index=False))
    if fmt == "csv":
        import pandas as pd

        text = shown.copy()
        for col in text.columns:
            if text[col].dtype == object or pd.api.types.is_string_dtype(text[col].dtype):
                text[col] = text[col].map(lambda v: printable(v) if isinstance(v, str) else v)
        click.echo(text.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        click.echo(shown.to_json(orient="records", date_format="iso", indent=1))
        return
    at = [names.index(c) for c in (columns or names) if c in names]
    cols = [names[i] for i in at]
    records = [[r[i] for i in at] for r in records]
    if fmt == "md":
        click.echo("| " + " | ".join(md_cell(c) for c in cols) + " |")
        click.echo("| " + " | ".join("---" for _ in cols) + " |")
        for row in records:
            click.echo("| " + " | ".join(md_cell(cell_text(v)) for v in row) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    cells = [[safe(cell_text(v, 120)) for v in row] for row in records]
    for i, c in enumerate(cols):
        # Short cells (times, ids, numbers) stay whole; the long ones fold to fit.
        longest = max((len(r[i]) for r in cells), default=0)
        table.add_column(c, overflow="fold", min_width=max(len(c) if longest <= 20 else 0, longest) if longest <= 20
                         else None)
    for row in cells:
        table.add_row(*row)
    # Piped output keeps the width people read in a log or a paste: 100 columns,
    # unless COLUMNS says otherwise; long cells fold inside their column.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 100)
    console = Console(highlight=False, width=width)
    console.print(table)
    if total > len(records):
        console.print(f"({total - len(records)} more rows; --limit to see them)")


def _utc_cell(value):
    """A time as utc_text writes it to the second (every time here is UTC, naive); any other value as it is."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value


def cell_text(value, width: int | None = None) -> str:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy arrays and scalars
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    return text if width is None or len(text) <= width else text[:width - 1] + "…"
