"""One trace as a waterfall: a bar per span, in call-tree order, against the
milliseconds since the trace started.

>>> from forensics.db.store import Store
>>> plot_waterfall(Store()).axes[0].texts[0].get_text()
'no spans in this incident'
"""
from __future__ import annotations

import math

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..analysis.latency import slowest_traces, trace_tree
from ..db.store import Store
from . import style

LABEL_CHARS = 50
MAX_INDENT = 12       # levels of indentation shown; deeper spans stay at 12
FONT = 8              # points, of the span labels
ERROR_HATCH = "////"


def plot_waterfall(store: Store, trace_id: str | None = None) -> Figure:
    """The trace `trace_id` (None: the slowest of the incident) as a
    waterfall: one bar per span from its start to its end, coloured by
    service, error spans hatched and outlined red, each labelled
    "service: name" indented by its depth.

    >>> import forensics as fx
    >>> plot_waterfall(fx.open().store, "0af7651916cd43dd8448eb211c80319c").axes[0].texts[0].get_text()
    'no spans in trace 0af7651916cd43dd8448eb211c80319c'
    """
    if trace_id is None:
        slowest = slowest_traces(store, 1)
        if slowest.empty:
            return _empty("no spans in this incident")
        trace_id = str(slowest["trace_id"].iloc[0])
    tree = trace_tree(store, trace_id)
    if tree.empty:
        return _empty(f"no spans in trace {trace_id}")

    rows = list(tree.itertuples(index=False))
    n = len(rows)
    fig = style.figure(min(1.4 + 0.26 * n, 60.0))
    ax = fig.add_subplot()
    colour_of = style.colours(r.service or "?" for r in rows)
    ends = [(_num(r.offset_ms) or 0.0) + (_num(r.duration_ms) or 0.0) for r in rows]
    extent = max(ends + [0.0]) or 1.0
    labels, errors = [], 0
    for y, r in enumerate(rows):
        start, duration = _num(r.offset_ms), _num(r.duration_ms)
        failed = r.status == "error"
        errors += failed
        # At least ~2 px wide: a 0.1 ms span of a 2 s trace would vanish (its label gives the true time).
        drawn = max(duration or 0.0, extent / 400)
        ax.barh(y, drawn, left=start or 0.0, height=0.7, color=colour_of[r.service or "?"],
                edgecolor=style.BAD if failed else "none", linewidth=1.4 if failed else 0,
                hatch=ERROR_HATCH if failed else None, zorder=3)
        if start is None or duration is None:
            text = "no timing"  # Zipkin may leave a span's timestamp or duration out
        else:
            text = f"{duration:.3g} ms" if duration < 100 else f"{duration:,.0f} ms"
        # The duration right of the bar, so the bar's length has a number.
        ax.annotate(text + (", error" if failed else ""), xy=((start or 0.0) + drawn, y),
                    xytext=(3, 0), textcoords="offset points", va="center", ha="left", fontsize=7,
                    color=style.BAD if failed else "#444444")
        # trace_tree indents the name by depth; the indentation drawn here is ours.
        name = r.name[2 * int(r.depth):] if isinstance(r.name, str) else ""
        depth = min(int(r.depth), MAX_INDENT)
        indent = "" if depth == 0 else "  " * (depth - 1) + "└ "
        labels.append(indent + style.label(f"{r.service or '?'}: {name}", LABEL_CHARS))

    ax.set_yticks(range(n), labels, fontsize=FONT, family="monospace")
    # Left-aligned tick labels show the tree; the pad is the longest label's width.
    widest = max(len(t) for t in labels)
    ax.tick_params(axis="y", length=0, pad=widest * FONT * 0.62 + 4)
    for tick, r in zip(ax.get_yticklabels(), rows):
        tick.set_horizontalalignment("left")
        if r.status == "error":
            tick.set_color(style.BAD)
    ax.set_ylim(n - 0.4, -0.6)
    ax.set_xlim(0, extent * 1.12)  # room for the last duration text
    ax.set_xlabel("ms since trace start", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(True, axis="x", zorder=0, **style.GRID)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)

    root = rows[0]
    total = _num(root.duration_ms) if root.depth == 0 and root.parent_span_id is None else None
    total = total if total is not None else extent
    short = trace_id if len(trace_id) <= 12 else trace_id[:12] + "…"
    root_name = root.name if isinstance(root.name, str) else ""
    title = (f"Trace {short}: {root.service or '?'} {root_name}, {total:,.1f} ms, "
             f"{n} span{'s' if n != 1 else ''}" + (f", {errors} error{'s' if errors != 1 else ''}" if errors else ""))
    ax.set_title(style.label(title, 110), loc="left", fontsize=11)
    handles = [Patch(color=c, label=style.label(s, 30)) for s, c in colour_of.items()]
    if errors:
        handles.append(Patch(facecolor="white", edgecolor=style.BAD, hatch=ERROR_HATCH, label="error"))
    style.legend_below(fig, handles, columns=6)
    return fig


def _num(x) -> float | None:
    """A float, None for a missing value (pandas gives NaN or None)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _empty(what: str) -> Figure:
    fig = style.figure(2.0)
    ax = fig.add_subplot()
    style.empty(ax, what)
    ax.set_title("Trace waterfall", loc="left", fontsize=11)
    return fig
