"""Figures for notebooks and reports (matplotlib, no pyplot state), one look
for all (:mod:`forensics.plots.style`): labelled axes with units, UTC time
axes, deploys as lines (rollbacks red), each release in one colour in every
figure, legends under the axes. Each takes the incident's
:class:`~forensics.db.store.Store` (``db.store``); ``db.plot_*`` draw the
same from an :class:`~forensics.Incident`. An empty incident still draws,
saying what is missing.

>>> from forensics.db.store import Store
>>> plot_goroutine_states(Store()).axes[0].get_title(loc="left")
'Goroutines by state'
"""
from __future__ import annotations

from .crashes import plot_crashes
from .flame import FlameGraph, flame_svg, plot_flame
from .goroutines import plot_goroutine_states, plot_goroutines
from .latency import plot_latency
from .timeline import plot_timeline
from .waterfall import plot_waterfall

__all__ = ["FlameGraph", "flame_svg", "plot_crashes", "plot_flame", "plot_goroutine_states", "plot_goroutines",
           "plot_latency", "plot_timeline", "plot_waterfall"]
