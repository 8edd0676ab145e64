"""Flame graphs of pprof profiles as self-contained SVG, plain or differential.

An icicle: the root (all samples) on top, callees below it, leaves at the
bottom; a frame's width is its share of the profile (itself and its
callees). Against a base (Brendan Gregg's differential flame graph) a
frame's colour says how that share changed: red where it grew, blue where
it shrank, beige-grey where it stayed about the same. Base values are
compared as shares of the base's total, so a base twice as long weighs the
same. The SVG has no script, font or link: it opens in any browser, and
hovering a frame shows its values. Function names are untrusted text:
escaped for XML, their bidi and other control characters made visible.

>>> svg = flame_svg([(("main.main", "main.work"), 3), (("main.main",), 1)])
>>> svg.count('class="fxflame-f"')  # all, main.main, main.work
3
"""
from __future__ import annotations

import math
import re
import zlib

from pathlib import Path
from typing import Sequence

from ..analysis.measurement import label as value_label
from ..analysis.profiles import Selector, id_marks, pick_sample_type, select_profiles
from ..db.store import Store
from ..text import printable

Stacks = Sequence[tuple[Sequence[str], float]]

ROW = 17              # px per stack level (a 16 px frame, a 1 px gap)
CHAR = 6.7            # px per character of the 11 px monospace labels
MARGIN = 10
NEUTRAL = 0.001       # share changes under 0.1 percentage point count as equal
MIN_WIDTH_FLOOR = 0.1  # px: bounds the rectangles per row to 10 per pixel
NEUTRAL_RGB = (226, 221, 208)
RED_RGB = (200, 40, 30)
BLUE_RGB = (35, 95, 175)
SANS = "DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Liberation Mono, Menlo, Consolas, monospace"
# XML 1.0 forbids most control characters: a name holding one would make
# the whole document unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class FlameGraph:
    """A flame graph: `.svg` (the document), `.info` (what it shows),
    `.save(path)`; Jupyter draws it inline."""

    def __init__(self, svg: str, info: dict | None = None):
        self.svg = svg
        self.info = dict(info or {})

    def save(self, path) -> Path:
        """Write the SVG (UTF-8) to `path`; returns the path."""
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return f"<FlameGraph {self.info.get('frames', 0)} frames, {len(self.svg)} bytes>"


def plot_flame(store: Store, profile: Selector, base: Selector = None, sample_type: str | int | None = None,
               title: str | None = None, width: int = 1100, min_width_px: float = 0.5) -> FlameGraph:
    """The flame graph of the selected profiles (merged); with `base`, the
    differential one. Selectors are those of
    :func:`~forensics.analysis.profiles.select_profiles`; the base is read in
    the profile's kind and sample type (`sample_type` as ``top`` takes it).

    >>> import forensics as fx
    >>> graph = plot_flame(fx.open().store, {"kind": "cpu", "service": "orders"})
    >>> "no matching profile" in graph.svg
    True
    """
    ids = select_profiles(store, profile)
    if not ids:
        return FlameGraph(message_svg(title or "Flame graph", [f"{describe(profile)}: no matching profile"], width),
                          {"profiles": [], "frames": 0})
    kind, stype, unit = pick_sample_type(store, ids, sample_type)
    base_ids = select_profiles(store, base, kind) if base is not None else []
    if base_ids:
        missing = store.query(f"SELECT count(*) FROM profiles WHERE profile_id IN ({id_marks(base_ids)}) "
                              "AND NOT list_contains(sample_types, ?)", [*base_ids, stype]).fetchall()[0][0]
        if missing:
            raise ValueError(f"{missing} base profile(s) have no sample type {stype!r}")
    what = f"{kind or 'mixed'} profile, sample type {stype} ({unit})" if stype else f"{kind or 'mixed'} profile"
    subtitle = f"{what}: {describe(profile)} ({_plural(len(ids), 'profile')})"
    if base is not None:
        subtitle += (f" vs base {describe(base)} ({_plural(len(base_ids), 'profile')})" if base_ids
                     else f"; base {describe(base)}: no matching profile")
    if stype is None:
        return FlameGraph(message_svg(title or "Flame graph", [subtitle, "these profiles have no sample type"],
                                      width), {"profiles": ids, "frames": 0})
    stacks = folded_stacks(store, ids, stype)
    base_stacks = folded_stacks(store, base_ids, stype) if base_ids else None
    modules = _modules(store, ids)
    for name, text in (_modules(store, base_ids) if base_ids else {}).items():
        if modules.get(name) != text:  # e.g. another version of the module in the base
            modules[name] = "; ".join(filter(None, [modules.get(name), f"in the base {text}"]))
    svg, stats = _render(stacks, base_stacks, unit=unit or "", title=title, subtitle=subtitle, width=width,
                         min_width_px=min_width_px, modules=modules)
    return FlameGraph(svg, {"kind": kind, "sample_type": stype, "unit": unit, "profiles": ids, "base": base_ids,
                            **stats})


def flame_svg(stacks: Stacks, base: Stacks | None = None, *, unit: str = "", title: str | None = None,
              subtitle: str = "", width: int = 1100, min_width_px: float = 0.5,
              modules: dict[str, str] | None = None) -> str:
    """The SVG of a flame graph from folded stacks: (frames root first,
    value) pairs; `base` the same for a differential graph; `unit` the
    values' (pprof's: nanoseconds, bytes, count); `modules` a text per
    function name for the tooltips (module@version).

    >>> svg = flame_svg([(("main", "a"), 2), (("main", "b"), 2)], base=[(("main", "a"), 1), (("main", "b"), 3)])
    >>> "change +25.00 pp" in svg, "change \u221225.00 pp" in svg  # a: 25% of the base, now 50%; b: 75%, 50%
    (True, True)
    """
    return _render(stacks, base, unit=unit, title=title, subtitle=subtitle, width=width,
                   min_width_px=min_width_px, modules=modules)[0]


# --- reading the store ---------------------------------------------------------

# The frame name flame graphs merge on: the function, else the address (an
# unsymbolized frame), as stack_frames has them, inlined calls expanded.
_NAME = "coalesce(nullif(f.function, ''), '0x' || lower(hex(f.address)), '<unknown>')"


def folded_stacks(store: Store, ids: list[int], sample_type: str) -> list[tuple[tuple[str, ...], int]]:
    """The profiles' samples summed per stack, as (function names root
    first, value of `sample_type`) pairs in stack_id order: Brendan Gregg's
    folded stacks. Samples with no stack have an empty tuple.

    >>> import forensics as fx
    >>> folded_stacks(fx.open().store, [], "cpu")
    []
    """
    if not ids:
        return []
    sql = f"""
        WITH w AS (SELECT s.stack_id, sum(s.values[list_position(p.sample_types, ?)]) AS v
                   FROM profile_samples s JOIN profiles p USING (profile_id)
                   WHERE s.profile_id IN ({id_marks(ids)}) GROUP BY s.stack_id)
        SELECT any_value(w.v), list({_NAME} ORDER BY f.depth DESC) FILTER (WHERE f.depth IS NOT NULL)
        FROM w LEFT JOIN stack_frames f USING (stack_id)
        WHERE w.v IS NOT NULL AND w.v <> 0 GROUP BY w.stack_id ORDER BY w.stack_id"""
    return [(tuple(names or ()), int(v)) for v, names in store.query(sql, [sample_type, *ids]).fetchall()]


def _modules(store: Store, ids: list[int]) -> dict[str, str]:
    """module@version of each function of the profiles' stacks, when known."""
    sql = f"""
        SELECT {_NAME} AS name, string_agg(DISTINCT f.module || coalesce('@' || f.module_version, ''), ', '
                                           ORDER BY f.module || coalesce('@' || f.module_version, ''))
        FROM stack_frames f WHERE f.module IS NOT NULL AND f.stack_id IN
             (SELECT stack_id FROM profile_samples WHERE profile_id IN ({id_marks(ids)}))
        GROUP BY name ORDER BY name"""
    return {name: text for name, text in store.query(sql, ids).fetchall()}


def describe(selector: Selector) -> str:
    """A selector in words, for headers.

    >>> describe({"kind": "cpu", "service": "orders", "version": "v2.5.0"}), describe([3, 4])
    ('orders v2.5.0', 'profiles 3, 4')
    """
    if selector is None:
        return "all profiles"
    if isinstance(selector, dict):
        words = [str(selector[k]) for k in ("service", "version") if selector.get(k) is not None]
        words += [f"{k} {selector[k]}" for k in ("since", "until") if selector.get(k) is not None]
        return " ".join(words) or (f"all {selector['kind']} profiles" if selector.get("kind") else "all profiles")
    if isinstance(selector, str):
        return selector
    if isinstance(selector, int):
        return f"profile {selector}"
    ids = [str(i) for i in selector]
    return "profiles " + ", ".join(ids[:6]) + (f", … ({len(ids)})" if len(ids) > 6 else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- the tree ------------------------------------------------------------------

class _Node:
    __slots__ = ("name", "value", "self_value", "base", "children")

    def __init__(self, name: str):
        self.name = name
        self.value = 0.0       # the profile's, self and callees
        self.self_value = 0.0
        self.base = 0.0        # the base's (raw), self and callees
        self.children: dict[str, _Node] = {}


def _tree(stacks: Stacks, base: Stacks | None) -> tuple[_Node, float, float]:
    """The merged call tree: identical paths of names are one node."""
    root = _Node("all")
    totals = [0.0, 0.0]
    for which, rows in ((0, stacks), (1, base or ())):
        for frames, v in rows:
            if not (v > 0 and math.isfinite(v)):  # a width cannot be negative; pprof diffs are not flame graphs
                continue
            node = root
            path = [root]
            for name in frames:
                child = node.children.get(name)
                if child is None:
                    child = node.children[name] = _Node(name)
                node = child
                path.append(node)
            for n in path:
                if which:
                    n.base += v
                else:
                    n.value += v
            if not which:
                node.self_value += v
            totals[which] += v
    return root, totals[0], totals[1]


# --- drawing -------------------------------------------------------------------

def _xml(text) -> str:
    """Text safe inside an element or a double-quoted attribute: what XML
    forbids as U+FFFD, the other control characters and bidi controls as
    visible escapes."""
    s = printable(_NOT_XML.sub("\ufffd", "" if text is None else str(text)))
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(round(c)) for c in rgb)


def _mix(a, b, t: float):
    return tuple(x + (y - x) * t for x, y in zip(a, b))


def diff_colour(delta: float, saturate: float) -> str:
    """Fill for a change of share `delta` (fractions of the total): neutral
    under 0.1 point, then red (grew) or blue (shrank), full at `saturate`.

    >>> diff_colour(0.0, 0.5), diff_colour(0.5, 0.5), diff_colour(-0.5, 0.5)
    ('#e2ddd0', '#c8281e', '#235faf')
    """
    if abs(delta) < NEUTRAL:
        return _hex(NEUTRAL_RGB)
    # Proportional to the change (no floor: half a point of a big profile is
    # noise), the exponent lifting the small changes a little.
    t = min(1.0, abs(delta) / saturate) ** 0.6
    return _hex(_mix(NEUTRAL_RGB, RED_RGB if delta > 0 else BLUE_RGB, t))


def warm_colour(name: str) -> str:
    """The classic flame graph palette, stable per function name."""
    h = zlib.crc32(name.encode("utf-8", "replace"))
    return _hex((205 + 50 * ((h & 0xFF) / 255), 230 * (((h >> 8) & 0xFF) / 255), 55 * (((h >> 16) & 0xFF) / 255)))


def _ink(fill: str) -> str:
    """Black or white text, whichever reads on `fill`."""
    r, g, b = (int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lum = sum(w * (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
              for w, c in zip((0.2126, 0.7152, 0.0722), (r, g, b)))
    return "#000000" if lum > 0.18 else "#ffffff"


def _fit(name: str, px: float) -> str:
    """The label that fits `px`: the name, else without its package path,
    else cut with an ellipsis; '' when not even 3 characters fit."""
    room = int((px - 6) / CHAR)
    name = " ".join(name.split())
    if len(name) <= room:
        return name
    short = name.rsplit("/", 1)[-1]
    if len(short) <= room:
        return short
    return short[: room - 1] + "…" if room >= 4 else ""


def _nice_points(x: float) -> float:
    """The colour scale's end: the next of 1, 2, 5, 10, 20, 50, 100 points."""
    return next((p for p in (1, 2, 5, 10, 20, 50, 100) if x <= p + 1e-9), 100)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _points(x: float) -> str:
    return f"{x * 100:+.2f} pp".replace("-", "\u2212")


def _wrap(text: str, chars: int) -> list[str]:
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [ln if len(ln) <= chars else ln[: chars - 1] + "…" for ln in lines + [line]][:3]


def message_svg(title: str, lines: list[str], width: int = 1100) -> str:
    """A small SVG that only says something (an empty selection)."""
    height = 48 + 18 * len(lines)
    body = "".join(f'<text x="{MARGIN}" y="{48 + 18 * i}" fill="#555555">{_xml(t)}</text>'
                   for i, t in enumerate(lines))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{SANS}" '
            f'font-size="12"><title>{_xml(title)}</title><rect width="100%" height="100%" fill="#ffffff"/>'
            f'<text x="{MARGIN}" y="24" font-size="16" font-weight="bold">{_xml(title)}</text>{body}</svg>\n')


def _render(stacks: Stacks, base: Stacks | None, *, unit: str, title: str | None, subtitle: str, width: int,
            min_width_px: float, modules: dict[str, str] | None) -> tuple[str, dict]:
    root, total, base_total = _tree(stacks, base)
    diff = base is not None and base_total > 0
    title = title or ("Differential flame graph" if diff else "Flame graph")
    if total <= 0:
        return message_svg(title, [subtitle, "no samples with a value"] if subtitle else ["no samples with a value"],
                           width), {"frames": 0, "dropped": 0, "total": 0}
    modules = modules or {}
    width = max(int(width), 400)
    plot_w = width - 2 * MARGIN
    min_px = max(float(min_width_px), MIN_WIDTH_FLOOR)
    per = plot_w / total

    # Lay out depth first, children in name order (the classic flame graph:
    # the same code sits at the same place in both graphs).
    frames, dropped, deepest, widest_delta = [], 0, 0, 0.0
    todo = [(root, (), MARGIN, 0)]
    while todo:
        node, path, x, depth = todo.pop()
        share = node.value / total
        delta = share - node.base / base_total if diff else 0.0
        frames.append((node, path, x, depth, delta))
        widest_delta = max(widest_delta, abs(delta))
        deepest = max(deepest, depth)
        cx, later = x, []
        for name in sorted(node.children):
            child = node.children[name]
            w = child.value * per
            if child.value <= 0:
                continue  # only in the base: it has no width here
            if w < min_px:
                dropped += _count(child)
            else:
                later.append((child, path + (name,), cx, depth + 1))
            cx += w
        todo.extend(reversed(later))
    saturate = _nice_points(widest_delta * 100) / 100

    # Header: title, what is compared (wrapped), then totals and the legend.
    chars = int((width - 2 * MARGIN) / 6.6)
    sub_lines = _wrap(subtitle, chars) if subtitle else []
    y = 24
    head = [f'<text x="{MARGIN}" y="{y}" font-size="16" font-weight="bold">{_xml(title)}</text>']
    for line in sub_lines:
        y += 18
        head.append(f'<text x="{MARGIN}" y="{y}" fill="#333333">{_xml(line)}</text>')
    y += 4
    note = f"width: share of {value_label(total, unit)}"
    if diff:
        note += f" (base total {value_label(base_total, unit)}, compared as shares)"
    if dropped:
        note += f"; {dropped} frame{'s' if dropped != 1 else ''} narrower than {min_px:g} px not drawn"
    note += "; hover a frame for its values"
    for line in _wrap(note, int(plot_w / 6.2)):
        y += 18
        head.append(f'<text x="{MARGIN}" y="{y}" fill="#333333" font-size="11">{_xml(line)}</text>')
    if diff:
        legend, legend_h = _legend(MARGIN, y + 10, saturate, width)
        head.append(legend)
        y += 10 + legend_h
    top = y + 10
    height = top + (deepest + 1) * ROW + MARGIN

    body = []
    for node, path, x, depth, delta in frames:
        w = node.value * per
        fill = diff_colour(delta, saturate) if diff else (
            _hex(NEUTRAL_RGB) if not path else warm_colour(node.name))
        if path:
            tip = [node.name, f"module {modules[node.name]}" if modules.get(node.name) else ""]
        else:
            tip = ["all", "every sample"]
        tip.append(f"{value_label(node.value, unit)}, {_pct(node.value / total)} of the total"
                   + (f" (self {value_label(node.self_value, unit)}, {_pct(node.self_value / total)})"
                      if path and node.self_value else ""))
        if diff:
            tip.append(f"base: {value_label(node.base, unit)}, {_pct(node.base / base_total)} of the base; "
                       f"change {_points(delta)}")
        stroke = ' stroke="#ffffff" stroke-width="0.5"' if w >= 3 else ""
        text = _fit(node.name, w) if path else _fit("all", w)
        fy = top + depth * ROW
        label_svg = (f'<text x="{x + 3:.2f}" y="{fy + 12}" fill="{_ink(fill)}">{_xml(text)}</text>'
                     if text else "")
        body.append(f'<g class="fxflame-f"><title>{_xml(chr(10).join(t for t in tip if t))}</title>'
                    f'<rect x="{x:.2f}" y="{fy}" width="{w:.2f}" height="{ROW - 1}" fill="{fill}"{stroke}/>'
                    f'{label_svg}</g>')
    svg = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
           f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="{SANS}" font-size="12">\n'
           f'<title>{_xml(title)}</title>\n<desc>{_xml(subtitle)}</desc>\n'
           # Prefixed class names: the SVG may be inlined into an HTML page with its own styles.
           '<style>.fxflame-f:hover rect{stroke:#000000;stroke-width:1}.fxflame-f text{pointer-events:none}</style>\n'
           f'<rect width="100%" height="100%" fill="#ffffff"/>\n' + "\n".join(head) + "\n"
           f'<g font-family="{MONO}" font-size="11">\n' + "\n".join(body) + "\n</g>\n</svg>\n")
    return svg, {"frames": len(frames), "dropped": dropped, "total": total, "base_total": base_total,
                 "saturate": saturate}


def _count(node: _Node) -> int:
    n, todo = 0, [node]
    while todo:
        x = todo.pop()
        n += 1
        todo.extend(x.children.values())
    return n


def _legend(x: float, y: float, saturate: float, width: int) -> tuple[str, int]:
    """Swatches from 'shrank' (blue) to 'grew' (red) in percentage points,
    and what they mean (on the next line when the row is full); the SVG and
    its height."""
    parts = [f'<text x="{x}" y="{y + 11}" font-size="11" fill="{_hex(BLUE_RGB)}">shrank</text>']
    left, x = x, x + 44
    for f in (-1, -0.5, -0.1, 0, 0.1, 0.5, 1):
        d = f * saturate
        fill = diff_colour(d, saturate)
        text = "\u2248 0" if f == 0 else _points(d).replace(".00", "")
        parts.append(f'<rect x="{x}" y="{y}" width="62" height="15" fill="{fill}"/>'
                     f'<text x="{x + 31}" y="{y + 11}" font-size="10" text-anchor="middle" '
                     f'fill="{_ink(fill)}">{_xml(text)}</text>')
        x += 63
    parts.append(f'<text x="{x + 4}" y="{y + 11}" font-size="11" fill="{_hex(RED_RGB)}">grew</text>')
    meaning = "colour: change of each frame's share of the total (with its callees) against the base"
    x, height = x + 44, 16
    if x + len(meaning) * 6.2 > width - MARGIN:
        x, y, height = left, y + 18, 34
    parts.append(f'<text x="{x}" y="{y + 11}" font-size="11" fill="#333333">{_xml(meaning)}</text>')
    return "".join(parts), height
