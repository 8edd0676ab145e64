"""Label filters with pprof's -tagfocus / -tagignore syntax, as SQL.

Mirrors compileTagFilter and parseTagFilterRange of pprof's driver:

- ``key=re1,re2``: samples with a string label `key` matching any regex;
- ``re1,re2`` (no key): every regex matches some label written `key:value`;
- ``key=32kb``, ``key=:64kb``, ``key=4mb:``, ``key=12kb:64mb``: numeric
  labels equal to, at most, at least or between the bounds, compared in
  the bound's unit type (a label without a unit takes its key as the unit,
  `request` and `alignment` mean bytes, as pprof infers them).

Regexes are RE2 in both Go and DuckDB, and unanchored in both.

>>> tag_filters("tenant=acme", None)[1]
['tenant', 'acme']
>>> numeric_range("1kb:2kb")[1]
[1024.0, 2048.0]
"""
from __future__ import annotations

import regex

from .measurement import UNIT_TYPES, unit_family

_RANGE = regex.compile(r"([+-]?[0-9]+)([[:alpha:]]+)?")
_EXISTS = ("EXISTS (SELECT 1 FROM profile_labels l WHERE l.profile_id = s.profile_id "
           "AND l.sample_id = s.sample_id AND {})")


def _unit_sql() -> tuple[str, str]:
    """SQL for a label's unit type and its factor to the base unit."""
    unit = ("lower(coalesce(nullif(l.num_unit, ''), CASE WHEN l.key IN ('request', 'alignment') "
            "THEN 'bytes' ELSE l.key END))")
    sniffed = f"(CASE WHEN length({unit}) > 2 AND suffix({unit}, 's') THEN left({unit}, length({unit}) - 1) ELSE {unit} END)"
    kinds, factors = [], []
    for t, (units, _) in enumerate(UNIT_TYPES):
        for _, aliases, factor in units:
            quoted = ", ".join(f"'{a}'" for a in aliases)
            kinds.append(f"WHEN {sniffed} IN ({quoted}) THEN {t}")
            factors.append(f"WHEN {sniffed} IN ({quoted}) THEN {float(factor)!r}")
    return f"(CASE {' '.join(kinds)} END)", f"(CASE {' '.join(factors)} END)"


def _bound(number: str, unit: str | None) -> tuple[int | None, float]:
    """(unit type or None, value in the base unit) of `32kb`-like text."""
    for t, (units, _) in enumerate(UNIT_TYPES):
        found = unit_family(units, unit or "")
        if found:
            return t, int(number) * found[1]
    return None, float(int(number))


def numeric_range(value: str) -> tuple[str, list] | None:
    """SQL condition on label `l` for a numeric range, or None when
    `value` is not one (then it is a regex, as in pprof)."""
    found = _RANGE.findall(value)[:2]
    if not found:
        return None
    texts = ["".join(m) for m in found]
    if len(found) == 1:
        forms = {texts[0]: "=", texts[0] + ":": ">=", ":" + texts[0]: "<="}
        if value not in forms:
            return None
        bounds, ops = [_bound(*found[0])], [forms[value]]
    else:
        if value != f"{texts[0]}:{texts[1]}":
            return None
        bounds, ops = [_bound(*found[0]), _bound(*found[1])], [">=", "<="]
        if bounds[0][0] != bounds[1][0]:
            return None
    kind_sql, factor_sql = _unit_sql()
    kind = bounds[0][0]
    if kind is None:
        cond = [f"{kind_sql} IS NULL AND l.num IS NOT NULL"] + [f"l.num {op} ?" for op in ops]
    else:
        cond = [f"{kind_sql} = {kind}"] + [f"l.num * {factor_sql} {op} ?" for op in ops]
    return " AND ".join(cond), [float(b) for _, b in bounds]


def _condition(spec: str) -> tuple[str, list]:
    """SQL condition, true for samples `s` matching one filter."""
    key, value = spec.split("=", 1) if "=" in spec else ("", spec)
    rng = numeric_range(value)
    if rng is not None:
        cond, params = rng
        return (_EXISTS.format("l.key = ? AND " + cond), [key, *params]) if key else (_EXISTS.format(cond), params)
    regexes = value.split(",")
    if key:
        any_match = " OR ".join(["regexp_matches(l.str, ?)"] * len(regexes))
        return _EXISTS.format(f"l.key = ? AND ({any_match})"), [key, *regexes]
    return " AND ".join([_EXISTS.format("regexp_matches(l.key || ':' || l.str, ?)")] * len(regexes)), regexes


def _as_list(spec) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, dict):
        return [f"{k}={v}" for k, v in spec.items()]
    if isinstance(spec, str):
        return [spec]
    return list(spec)


def tag_filters(tagfocus, tagignore) -> tuple[str, list]:
    """SQL condition on samples `s` (and its parameters) keeping samples
    that match every focus filter and no ignore filter. Each may be a
    filter string, a list of them, or a dict {key: value}."""
    where, params = [], []
    for spec in _as_list(tagfocus):
        cond, p = _condition(spec)
        where.append(f"({cond})")
        params += p
    for spec in _as_list(tagignore):
        cond, p = _condition(spec)
        where.append(f"NOT ({cond})")
        params += p
    return " AND ".join(where) or "true", params
