"""The look every figure shares: sizes, colours, a UTC time axis, deploy lines
and release shading, and text made safe for matplotlib.

Untrusted text (service names, panic messages, function names) reaches
titles, labels, annotations, tick labels and legends; matplotlib reads
``$...$`` in them as mathtext, which can fail the whole figure, and control
or bidi characters would be drawn as missing glyphs or reorder the text, so
every such text goes through :func:`label`. Figures are :class:`SafeFigure`:
whatever a matplotlibrc says, no text of theirs goes through LaTeX
(``text.usetex``), which would run commands written in the evidence.

>>> label("cost $5 in $\\\\frac{")
'cost \\\\$5 in \\\\$\\\\frac{'
>>> label("x" * 100, 10)
'xxxxxxxxx…'
>>> label("a\\x1b[31mb\\u202ec")
'a\\\\x1b[31mb\\\\u202ec'
"""
from __future__ import annotations

from typing import Iterable

import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.text import Text

from ..text import printable

WIDTH = 11.0          # inches: the report's column at 100 dpi
DPI = 110
GRID = {"alpha": 0.3, "linewidth": 0.6}
# Colour-blind-safe qualitative palette (Okabe-Ito, without yellow, which
# vanishes on white), then tab10 for more.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000",
           "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
BAD = "#C0392B"       # crashes, the culprit
ROLLBACK = "#C0392B"
DEPLOY = "#555555"


def label(text, width: int | None = None) -> str:
    """Text for a matplotlib title, label, annotation, tick label or legend:
    one line, control and bidi characters as visible escapes, cut to `width`
    characters with an ellipsis, dollar signs escaped (no mathtext)."""
    s = "" if text is None else str(text)
    s = printable(" ".join(s.split()))
    if width is not None and len(s) > width:
        s = s[: width - 1] + "…"
    return s.replace("\\$", "$").replace("$", "\\$")


def colours(keys: Iterable) -> dict:
    """A stable colour per key, in the order given (first seen, first colour)."""
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(dict.fromkeys(keys))}


class SafeFigure(Figure):
    """A Figure whose texts never go through LaTeX: each is drawn with
    ``usetex`` off, whatever ``text.usetex`` says (tick labels made while
    drawing copy the first tick's)."""

    def draw(self, renderer):
        for text in self.findobj(Text):
            text.set_usetex(False)
        return super().draw(renderer)


def figure(height: float, width: float = WIDTH) -> Figure:
    """A new figure (no pyplot state: safe in servers and notebooks)."""
    return SafeFigure(figsize=(width, height), dpi=DPI, layout="constrained")


def utc_axis(ax, xlabel: str = "time (UTC)") -> None:
    """Concise date ticks on a naive-UTC axis, labelled as UTC."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=True, usetex=False))
    ax.set_xlabel(xlabel)
    ax.grid(True, **GRID)


def within(deploys, start=None, end=None):
    """The deploys from `start` to `end` (either may be None)."""
    if deploys is None or not len(deploys):
        return deploys
    keep = deploys["ts"].notna()
    if start is not None:
        keep &= deploys["ts"] >= start
    if end is not None:
        keep &= deploys["ts"] <= end
    return deploys[keep]


def deploy_lines(ax, deploys, text: bool = True, colour_of: dict | None = None, with_service: bool = False,
                 inside: bool = False, window: tuple = (None, None)) -> None:
    """A vertical line at each deploy (`deploys`: rows with ts, service,
    version, rollback) within `window`, dashed red for a rollback, its
    version written above the axes, or at the top inside them (`inside`, for
    stacked panels), stacked where deploys are close. `colour_of` ((service,
    version) -> colour) colours the text as the release's shading."""
    deploys = within(deploys, *window)
    if deploys is None or not len(deploys):
        return
    lo, hi = (mdates.date2num(x) for x in (deploys["ts"].min(), deploys["ts"].max()))
    left, right = ax.get_xlim() if ax.has_data() else (lo, hi)
    span = max(max(right, hi) - min(left, lo), 1e-9)
    placed: list[float] = []
    for d in deploys.itertuples(index=False):
        rollback = bool(getattr(d, "rollback", False))
        ax.axvline(d.ts, color=ROLLBACK if rollback else DEPLOY, linestyle="--" if rollback else ":",
                   linewidth=1.2, zorder=1)
        if not text:
            continue
        x = (mdates.date2num(d.ts) - min(left, lo)) / span
        level = sum(1 for p in placed if abs(p - x) < 0.09)
        placed.append(x)
        name = f"{d.service} {d.version}" if with_service else d.version
        ax.annotate(label(f"{name}{' rollback' if rollback else ''}", 32), xy=(d.ts, 1.0),
                    xycoords=("data", "axes fraction"), textcoords="offset points",
                    xytext=(2, -2 - 9 * level) if inside else (1, 2 + 9 * level), va="top" if inside else "bottom",
                    ha="left", fontsize=7.5, annotation_clip=False,
                    color=ROLLBACK if rollback else (colour_of or {}).get((d.service, d.version), DEPLOY))


def release_spans(deploys, start, end):
    """(service, version, begin, stop) of each release: from its deploy to the
    next of its service (or `end`), cut to start at `start` (the release in
    force when the window opens starts there); empty spans left out."""
    if deploys is None or not len(deploys):
        return
    for service, part in deploys.groupby("service", sort=False):
        rows = list(part.itertuples(index=False))
        for d, nxt in zip(rows, rows[1:] + [None]):
            stop = nxt.ts if nxt is not None else end
            if stop is not None and end is not None:
                stop = min(stop, end)
            begin = max(d.ts, start) if start is not None else d.ts
            if stop is not None and stop > begin:
                yield service, d.version, begin, stop


def release_shading(ax, deploys, end, colour_of: dict, alpha: float = 0.08, start=None) -> None:
    """Each release's span (:func:`release_spans`) shaded in its colour ((service, version) -> colour)."""
    for service, version, begin, stop in release_spans(deploys, start, end):
        ax.axvspan(begin, stop, color=colour_of.get((service, version), "#999999"), alpha=alpha, linewidth=0,
                   zorder=0)


def empty(ax, what: str) -> None:
    """Say on the axes that there is nothing to draw, instead of a blank frame
    (:func:`is_empty` tells such a figure, for a report to leave out)."""
    ax.set_gid(EMPTY)
    ax.text(0.5, 0.5, label(what), transform=ax.transAxes, ha="center", va="center", color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def deploys_of(store, services=None):
    """Deploys of `services` (all when None) in time order: ts, service,
    version, rollback; inferred from what rows say where a service has no
    deploy records, as correlation infers them."""
    from ..analysis.gather import FIRST_SEEN_SQL, QUERIES, with_inferred_deploys

    df = with_inferred_deploys(store.query(QUERIES["deploys"]).df(), store.query(FIRST_SEEN_SQL).df())
    df["rollback"] = df["rollback"].fillna(False).astype(bool)
    if services is not None:
        df = df[df["service"].isin([services] if isinstance(services, str) else list(services))]
    return df.sort_values("ts", kind="stable").reset_index(drop=True)


def release_colours(deploys_df) -> dict:
    """(service, version) -> colour: each service's releases in the order they
    were first deployed, the same in every figure (a rollback keeps its colour)."""
    out = {}
    for service, part in deploys_df.groupby("service", sort=True):
        out.update({(service, v): c for v, c in colours(part["version"]).items()})
    return out


def legend_below(fig, handles, columns: int = 4) -> None:
    """One legend under the axes, as wide as the figure: it never covers data nor runs off the page."""
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(columns, len(handles)), fontsize=8,
                   frameon=False)


EMPTY = "forensics-empty"


def is_empty(fig) -> bool:
    """Whether a figure only says that it has nothing to show."""
    return any(ax.get_gid() == EMPTY for ax in fig.axes)
