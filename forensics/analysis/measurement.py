"""Units and number formatting as `go tool pprof` prints them.

Mirrors github.com/google/pprof/internal/measurement (Scale, ScaledLabel,
Percentage and the unit table), so `forensics top` prints what pprof
prints: bytes scale by 1024 (kB, MB...), time units scale from
nanoseconds up to hours, and a unit pprof does not know is printed as is.

>>> label(1_280_000_000, "nanoseconds", "s"), label(4720969, "bytes", "kB")
('1.28s', '4610.32kB')
>>> percentage(11, 1760), percentage(1, 1)
(' 0.62%', '  100%')
"""
from __future__ import annotations

# (canonical name, aliases, factor to the base unit), smallest first, per unit type.
UNIT_TYPES = [
    ([("B", ("b", "byte"), 1), ("kB", ("kb", "kbyte", "kilobyte"), 1 << 10),
      ("MB", ("mb", "mbyte", "megabyte"), 1 << 20), ("GB", ("gb", "gbyte", "gigabyte"), 1 << 30),
      ("TB", ("tb", "tbyte", "terabyte"), 1 << 40), ("PB", ("pb", "pbyte", "petabyte"), 1 << 50)],
     ("B", 1)),
    ([("ns", ("ns", "nanosecond"), 1), ("us", ("μs", "us", "microsecond"), 1e3),
      ("ms", ("ms", "millisecond"), 1e6), ("s", ("s", "sec", "second"), 1e9),
      ("hrs", ("hour", "hr"), 3600e9)],
     ("s", 1e9)),
    ([("n*GCU", ("nanogcu",), 1e-9), ("u*GCU", ("microgcu",), 1e-6), ("m*GCU", ("milligcu",), 1e-3),
      ("GCU", ("gcu",), 1), ("k*GCU", ("kilogcu",), 1e3), ("M*GCU", ("megagcu",), 1e6),
      ("G*GCU", ("gigagcu",), 1e9), ("T*GCU", ("teragcu",), 1e12), ("P*GCU", ("petagcu",), 1e15)],
     ("GCU", 1)),
]
_UNINTERESTING = {"count", "sample", "unit", "minimum", "auto"}


def unit_family(units, unit: str):
    unit = unit.lower()
    if len(unit) > 2 and unit.endswith("s"):
        unit = unit[:-1]
    return next(((name, factor) for name, aliases, factor in units if unit in aliases), None)


def scale(value: float, from_unit: str, to_unit: str) -> tuple[float, str]:
    """`value` in `from_unit` expressed in `to_unit` ("minimum"/"auto": the
    largest unit the value reaches); an unknown unit is left as is."""
    if value < 0:
        v, u = scale(-value, from_unit, to_unit)
        return -v, u
    for units, (default_name, default_factor) in UNIT_TYPES:
        src = unit_family(units, from_unit)
        if src is None:
            continue
        v = value * src[1]
        if to_unit in ("minimum", "auto"):
            best = None
            for name, _, factor in units:
                if (best is None or factor >= best[1]) and v / factor >= 1.0:
                    best = (name, factor)
            if best:
                return v / best[1], best[0]
            return v / default_factor, default_name
        dst = unit_family(units, to_unit)
        if dst is None:
            return v / default_factor, default_name
        return v / dst[1], dst[0]
    return float(value), "" if to_unit in _UNINTERESTING else to_unit


def _go_round2(v: float) -> str:
    # Go's %.2f rounds the exact binary value half to even, as Python's format does.
    s = f"{v:.2f}"
    return s[:-3] if s.endswith(".00") else s


def label(value: int, from_unit: str, to_unit: str = "auto") -> str:
    """A value with its unit, e.g. 1.28s, 4610.32kB; "0" for zero."""
    if from_unit == "" and to_unit == "count":
        return str(value)
    v, u = scale(value, from_unit, to_unit)
    s = _go_round2(v)
    return "0" if s in ("0", "-0") else s + u


def _go_g2(ratio: float) -> str:
    """Go's %5.2g: two significant digits, no trailing zeros, width 5."""
    if ratio == 0:
        return "    0"
    s = f"{ratio:.2g}"
    return s.rjust(5)


def percentage(value: int, total: int) -> str:
    """pprof's percentage column: at least two digits, `100%` when whole."""
    ratio = abs(value / total) * 100 if total else 0.0
    if 99.95 <= ratio <= 100.05:
        return "  100%"
    if ratio >= 1.0:
        return f"{ratio:5.2f}%"
    return _go_g2(ratio) + "%"


def output_unit(values: list[int], total: int, unit: str) -> str:
    """The unit pprof picks for a report: that of the smallest non-zero
    value, unless it is 100 times smaller than the total (selectOutputUnit)."""
    nonzero = [abs(v) for v in values if v]
    min_value = min(nonzero) if nonzero else total
    max_value = total
    _, min_unit = scale(min_value, unit, "minimum")
    _, max_unit = scale(max_value, unit, "minimum")
    chosen = min_unit
    if min_unit != max_unit and min_value * 100 < max_value:
        _, chosen = scale(100 * min_value, unit, "minimum")
    return chosen or unit
