"""The report's figures, drawn by :mod:`forensics.plots` (the same figures a
notebook shows) and kept as PNG or SVG bytes with a caption that says what
each shows. A figure with nothing to show is left out, not drawn blank.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

from ..db.store import Store
from ..plots import style

@dataclass
class ReportFigure:
    key: str      # timeline, goroutines, latency, crashes, flame, waterfall
    number: int
    caption: str  # plain text; renderers escape it
    data: bytes
    mime: str     # image/png or image/svg+xml

    @property
    def name(self) -> str:
        return f"Figure {self.number}"

    @property
    def titled(self) -> str:
        """The caption as shown under the figure: 'Figure N. ...'."""
        return f"{self.name}. {self.caption}"

    @property
    def filename(self) -> str:
        return f"figure-{self.number}-{self.key}.{'svg' if self.mime == 'image/svg+xml' else 'png'}"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=style.DPI)
    return buf.getvalue()


def _profile_pair(store: Store, c) -> tuple[str, dict, dict] | None:
    """(kind, culprit selection, base selection) of the first profile kind
    both the culprit release and the one it replaced have."""
    if c is None or c.previous_version is None:
        return None
    for kind in ("cpu", "heap"):
        found = store.query("SELECT count(DISTINCT r.version) FROM profiles p JOIN profile_releases r "
                            "USING (profile_id) WHERE p.kind = ? AND r.service = ? AND r.version IN (?, ?)",
                            [kind, c.service, c.version, c.previous_version]).fetchall()[0][0]
        if found == 2:
            return (kind, {"kind": kind, "service": c.service, "version": c.version},
                    {"kind": kind, "service": c.service, "version": c.previous_version})
    return None


def render_figures(store: Store, c, tl: pd.DataFrame, since=None, until=None, services=None) -> list[ReportFigure]:
    """Every figure the report shows, for the selected services and window
    (numbered as drawn: :func:`in_reading_order` renumbers them). A figure
    that would only say it has nothing to show is left out."""
    from .. import plots
    from ..analysis.latency import slowest_traces
    from ..plots.goroutines import leaking_site

    out: list[ReportFigure] = []
    first, last = (tl["ts"].min(), tl["ts"].max()) if len(tl) else (None, None)
    names = sorted(tl["service"].dropna().unique()) if len(tl) else []
    focus = c.service if c is not None else (names[0] if len(names) == 1 else None)

    def add(key: str, caption: str, fig, mime: str = "image/png") -> None:
        if mime == "image/png" and style.is_empty(fig):
            return
        out.append(ReportFigure(key, len(out) + 1, caption, _png(fig) if mime == "image/png" else fig, mime))

    if len(tl):
        add("timeline", "Incident timeline (UTC): each service's releases as bands, its deploys (rollbacks in red), "
                        "crashes, restarts, Kubernetes warnings and the onset of each regression correlation found; "
                        "below, error-level log records per minute of each service.",
            plots.plot_timeline(store, since, until, services, rows=tl))
    leak = leaking_site(store, focus)
    svc = focus or (leak[0] if leak and (services is None or leak[0] in names) else None)
    if svc is not None or services is None:
        site = f", and (bold) those created by {leak[3]}, the leaking site" if leak and leak[0] == svc \
            and leak[2] == "creation" else ""
        add("goroutines", f"Goroutines per instance of {svc or 'the service with most snapshots'} over time (UTC): "
                          f"all of an instance's goroutines (thin){site}, coloured by the release the instance "
                          "ran; releases shaded, deploys dotted, a rollback dashed red, crashes marked.",
            plots.plot_goroutines(store, svc, since, until, leak=leak if leak and leak[0] == svc else ...))
    ordered = ([focus] if focus in names else []) + [s for s in names if s != focus]
    add("latency", "Request latency of each service over time (UTC)" + (f", {focus} first" if focus in names else "")
                   + ": p99 (solid) and p50 (dashed) in ms, each service's releases shaded and deploys marked; below, "
                   "the share of its requests that failed.",
        plots.plot_latency(store, ordered or services, None, since, until))
    add("crashes", "Crashes over time (UTC), one lane per panic signature, each crash coloured by the release that "
                   "crashed; deploys dotted, a rollback dashed red.",
        plots.plot_crashes(store, since or first, until or last, services))
    pair = _profile_pair(store, c)
    if pair is not None:
        kind, mine, base = pair
        add("flame", f"{kind.upper() if kind == 'cpu' else kind.capitalize()} flame graph (icicle) of {c.service} "
                     f"{c.version} against {c.previous_version}: each box is a function on the stack, as wide as its "
                     f"share (with what it calls) of {c.version}'s {kind} profiles; red where that share grew from "
                     f"{c.previous_version}, blue where it shrank.",
            plots.plot_flame(store, mine, base=base).svg.encode(), "image/svg+xml")
    slow = slowest_traces(store, 1, focus, since, until)
    if len(slow):
        r = slow.iloc[0]
        add("waterfall", f"The slowest trace{' through ' + focus if focus else ''}: {r['root_name']} of "
                         f"{r['root_service']} at {pd.Timestamp(r['start']):%H:%M:%S} UTC, {r['duration_ms']:.1f} ms, "
                         "its spans as a waterfall (ms from the trace's start, a colour per service).",
            plots.plot_waterfall(store, r["trace_id"]))
    return out


def in_reading_order(figures: list[ReportFigure], first: list[str]) -> list[ReportFigure]:
    """The figures with the keys in `first` (the evidence's, in its order)
    ahead of the rest, numbered as a reader meets them."""
    rank = {k: i for i, k in enumerate(dict.fromkeys(first))}
    ordered = sorted(figures, key=lambda f: (rank.get(f.key, len(rank)), f.number))
    for i, f in enumerate(ordered, 1):
        f.number = i
    return ordered
