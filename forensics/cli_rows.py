"""Rows as the command line prints them: a table, CSV, JSON or Markdown."""
from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .text import md_cell, printable


def safe(value) -> str:
    """Untrusted text (paths, panic messages) for the terminal: no control characters, no markup."""
    return escape(printable("" if value is None else str(value)))


def rounded(df):
    """Milliseconds to 3 decimals and rates to 4, for reading."""
    out = df.copy()
    for col in out.columns:
        if col.endswith("_ms"):
            out[col] = out[col].round(3)
        elif col.endswith("_rate"):
            out[col] = out[col].round(4)
    return out


def print_frame(df, fmt: str, limit: int | None, columns: list[str] | None = None) -> None:
    """Rows as a table (only `columns`, when given), CSV, JSON or Markdown; at most `limit` (None: all)."""
    shown = df if limit is None else df.head(limit)
    if fmt == "csv":
        click.echo(shown.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        click.echo(shown.to_json(orient="records", date_format="iso", indent=1))
        return
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    if fmt == "md":
        click.echo("| " + " | ".join(md_cell(c) for c in cols) + " |")
        click.echo("| " + " | ".join("---" for _ in cols) + " |")
        for row in shown[cols].itertuples(index=False):
            click.echo("| " + " | ".join(md_cell(cell_text(v)) for v in row) + " |")
        return
    table = Table(show_lines=False)
    for c in cols:
        table.add_column(c, overflow="fold")
    for row in shown[cols].itertuples(index=False):
        table.add_row(*(safe(cell_text(v, 120)) for v in row))
    # Piped output is read by people and grep alike: no 80-column folding.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 240)
    console.print(table)
    if len(df) > len(shown):
        console.print(f"({len(df) - len(shown)} more rows; --limit to see them)")


def cell_text(value, width: int | None = None) -> str:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy arrays and scalars
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    return text if width is None or len(text) <= width else text[:width - 1] + "…"
