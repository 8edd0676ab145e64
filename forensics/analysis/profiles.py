"""Profile reports as `go tool pprof` makes them: top, diff, merge, tag filters.

One or several profiles of a kind (merged, as `go tool pprof a b` merges
them), optionally minus a base (`-diff_base`, with `-normalize`), optionally
filtered by labels (`-tagfocus` / `-tagignore`), reduced to one sample type
(`-sample_index`, with the `inuse_`/`alloc_` aliases), then aggregated per
function, file or line exactly as pprof's report package does: cum counts a
node once per sample, flat goes to the leaf, nodes under 0.5% of the total
(cum) are dropped, nodes are sorted by |flat| then name (or |cum|), and a
node is `(inline)` when every call edge into it that survives the 0.1% edge
cut was inlined.

>>> import forensics as fx
>>> db = fx.open()
>>> top(db.store, []).empty
True
"""
from __future__ import annotations

import numbers

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Union

from ..db.store import Store
from ..text import terminal_safe
from ..times import naive_utc
from .measurement import label, output_unit, percentage
from .tagfilter import tag_filters

if TYPE_CHECKING:
    import pandas as pd

NODE_FRACTION = 0.005  # pprof -nodefraction default
EDGE_FRACTION = 0.001  # pprof -edgefraction default

# A profile selection: an id, several ids, a source path, or a filter dict
# with any of kind, service, version, since, until (profile ts).
Selector = Union[int, str, Iterable[int], dict, None]

# pprof's node per granularity (NodeInfo after Profile.Aggregate), as a
# key string: the printable name, then after NUL what else tells nodes
# apart. A frame without a function name is its binary's, else
# <unknown>; by file, pprof also keys on the function's start line and
# binary, so one file can show as several rows.
_UNKNOWN = "coalesce('[' || regexp_extract(f.object_file, '[^/]*$') || ']', '<unknown>')"
_HIDDEN = "chr(0) || coalesce(f.start_line, 0) || chr(0) || coalesce(f.object_file, '')"
_NODE = {
    "function": f"CASE WHEN coalesce(f.function, '') = '' THEN {_UNKNOWN} || {_HIDDEN} ELSE f.function END",
    "file": f"coalesce(nullif(f.file, ''), {_UNKNOWN}) || {_HIDDEN}",
    "line": f"CASE WHEN coalesce(f.function, '') = '' THEN {_UNKNOWN} || {_HIDDEN} "
            "ELSE f.function || ' ' || coalesce(f.file, '') || ':' || coalesce(f.line, 0) END",
}


def _name(key: str) -> str:
    return key.split("\0", 1)[0]


def _tiebreak(key: str) -> str:
    """fmt.Sprint of pprof's NodeInfo, its last sort key (only differs for
    nodes whose printable names are equal)."""
    name, _, hidden = key.partition("\0")
    start, _, obj = hidden.partition("\0")
    return f"{{  0 {name} {start or 0} 0 0 {obj}}}"


@dataclass
class Selection:
    """Profiles chosen for a report, and the sample type read from them."""

    ids: list[int]
    kind: str | None
    sample_type: str | None
    unit: str | None
    base_ids: list[int] = field(default_factory=list)


def select_profiles(store: Store, selector: Selector, kind: str | None = None) -> list[int]:
    """Profile ids for a selector (see :data:`Selector`), oldest first.

    >>> import forensics as fx
    >>> select_profiles(fx.open().store, {"kind": "cpu"})
    []
    """
    if selector is None:
        selector = {}
    if isinstance(selector, numbers.Integral) and not isinstance(selector, bool):
        where, params = ["profile_id = ?"], [int(selector)]  # a numpy integer from a DataFrame too
    elif isinstance(selector, str):
        where, params = ["source_id IN (SELECT source_id FROM sources WHERE path = ? OR path LIKE ?)"], [
            selector, f"%/{selector}"]
    elif isinstance(selector, dict):
        where, params = [], []
        for key, op in (("kind", "="), ("service", "="), ("version", "="), ("since", ">="), ("until", "<")):
            if selector.get(key) is not None:
                value = selector[key]
                if key in ("since", "until"):
                    value = naive_utc(value)
                # service and version as resolved (profile_releases): from the path, the pod, the deploys
                column = {"since": "p.ts", "until": "p.ts", "kind": "p.kind"}.get(key, "r." + key)
                where.append(f"{column} {op} ?")
                params.append(value)
        unknown = set(selector) - {"kind", "service", "version", "since", "until"}
        if unknown:
            raise ValueError(f"unknown profile filter {sorted(unknown)}: use kind, service, version, since, until")
    else:
        ids = [int(i) for i in selector]
        if not ids:
            return []
        where, params = [f"profile_id IN ({', '.join('?' * len(ids))})"], ids
    if kind is not None:
        where.append("p.kind = ?")
        params.append(kind)
    sql = (f"SELECT profile_id FROM profiles p JOIN profile_releases r USING (profile_id, source_id, ts) "
           f"WHERE {' AND '.join(where) or 'true'} ORDER BY p.ts NULLS FIRST, profile_id")
    return [r[0] for r in store.query(sql, params).fetchall()]


def pick_sample_type(store: Store, ids: list[int], wanted: str | int | None = None
                     ) -> tuple[str | None, str | None, str | None]:
    """(kind, sample type, unit) the report reads, chosen as pprof's
    SampleIndexByName does: the default sample type else the last one; a
    number is an index; `inuse_x` also finds `x`; `alloc_x`/`inuse_x` are
    the pprof flags -alloc_space and friends. Profiles of different shapes
    are refused.

    >>> import forensics as fx
    >>> pick_sample_type(fx.open().store, [])
    (None, None, None)
    """
    if not ids:
        return None, None, None
    rows = store.query(
        f"SELECT DISTINCT kind, sample_types, sample_units, default_sample_type FROM profiles "
        f"WHERE profile_id IN ({', '.join('?' * len(ids))})", ids).fetchall()
    shapes = {(tuple(t), tuple(u)) for _, t, u, _ in rows}
    if len(shapes) > 1:
        raise ValueError(f"the selected profiles have different sample types: {sorted(shapes)}")
    kind = rows[0][0] if len({r[0] for r in rows}) == 1 else None
    types, units = next(iter(shapes))
    default = rows[0][3]
    if not types:
        return kind, None, None
    if wanted is None:
        i = types.index(default) if default in types else len(types) - 1
    elif isinstance(wanted, int) or str(wanted).isdigit():
        i = int(wanted)
        if not 0 <= i < len(types):
            raise ValueError(f"sample type index {i} out of range: {list(types)}")
    else:
        stripped = wanted[len("inuse_"):] if wanted.startswith("inuse_") else wanted
        matches = [j for j, t in enumerate(types) if t in (wanted, stripped)]
        if not matches:
            raise ValueError(f"sample type {wanted!r} must be one of: {list(types)}")
        i = matches[0]
    return kind, types[i], (units[i] or "").lower()


# --- the report --------------------------------------------------------------

def _samples_sql(sel: Selection, normalize: bool, tags: tuple[str, list]) -> tuple[str, list]:
    """One row per sample (profile_id, sample_id, stack_id, v, is_base,
    kept) of the selection: base samples negated; with `normalize`, the
    others scaled to the base's total first (pprof Profile.Normalize,
    rounded); kept says whether the label filters keep the sample (the
    report total counts every sample, as pprof's does)."""
    value = "s.values[list_position(p.sample_types, ?)]"
    source = "FROM profile_samples s JOIN profiles p USING (profile_id) WHERE profile_id IN ({})"
    tag_sql, tag_params = tags
    new_value, new_params = value, [sel.sample_type]
    if normalize and sel.base_ids:
        new_value = (f"round({value} * coalesce((SELECT sum({value}) {source.format(id_marks(sel.base_ids))}) / "
                     f"nullif((SELECT sum({value}) {source.format(id_marks(sel.ids))}), 0), 0))::BIGINT")
        new_params = [sel.sample_type, sel.sample_type, *sel.base_ids, sel.sample_type, *sel.ids]
    parts, params = [], []
    for ids, v, v_params, is_base in ((sel.ids, new_value, new_params, "false"),
                                      (sel.base_ids, f"-{value}", [sel.sample_type], "true")):
        if ids:
            parts.append(f"SELECT s.profile_id, s.sample_id, s.stack_id, {v} AS v, {is_base} AS is_base, "
                         f"({tag_sql}) AS kept {source.format(id_marks(ids))}")
            params += v_params + tag_params + list(ids)
    return " UNION ALL ".join(parts), params


def id_marks(ids) -> str:
    return ", ".join("?" * len(ids)) or "NULL"


@dataclass
class _Graph:
    nodes: dict[str, tuple[int, int]]  # name -> (flat, cum)
    total: int  # pprof's report total: sum of |value| (of the base, in a diff)
    flat_total: int  # sum of flat over all nodes: the node/edge cutoffs' base


MASK_NODES = 64  # up to this many nodes, a stack's distinct nodes are the bits of one integer


def _graph(store: Store, samples: str, params: list, node: str) -> _Graph:
    # Nodes are numbered (nid) so that each stack's distinct nodes (cum
    # counts a node once per stack) are integers gathered per stack, not a
    # DISTINCT over every (stack, node name) pair: the bits of one integer
    # when there are few nodes (stacks of the same shape then share it), else
    # a list.
    n_nodes = store.query(f"SELECT count(DISTINCT {node}) FROM frame_info f").fetchall()[0][0]
    if n_nodes <= MASK_NODES:
        distinct = "bit_or(1::UBIGINT << n.nid) AS mask"
        cum = f"""(SELECT r.nid, sum(w)::BIGINT AS cum
                   FROM (SELECT mask, sum(w) AS w FROM per GROUP BY mask),
                        (SELECT range::INTEGER AS nid FROM range({MASK_NODES})) r
                   WHERE (mask >> r.nid) & 1 = 1 GROUP BY r.nid)"""
    else:
        distinct = "list_distinct(list(n.nid)) AS nids"
        cum = "(SELECT nid, sum(w)::BIGINT AS cum FROM (SELECT unnest(nids) AS nid, w FROM per) GROUP BY nid)"
    con_sql = f"""
        WITH smp AS ({samples}),
        w AS (SELECT stack_id, sum(v)::BIGINT AS w FROM smp WHERE kept AND v <> 0 AND stack_id <> 0 GROUP BY stack_id),
        nodes AS (SELECT frame_id, node, (dense_rank() OVER (ORDER BY node) - 1)::INTEGER AS nid
                  FROM (SELECT frame_id, {node} AS node FROM frame_info f)),
        per AS (SELECT s.stack_id, any_value(w.w) AS w, {distinct},
                       arg_min(n.nid, s.depth) FILTER (WHERE s.depth = 0) AS leaf
                FROM stacks s JOIN w USING (stack_id) JOIN nodes n USING (frame_id) GROUP BY s.stack_id),
        cum AS {cum},
        flat AS (SELECT leaf AS nid, sum(w)::BIGINT AS flat FROM per GROUP BY leaf)
        SELECT node, coalesce(flat, 0), cum FROM cum LEFT JOIN flat USING (nid)
        JOIN (SELECT DISTINCT nid, node FROM nodes) USING (nid)
        WHERE cum <> 0 OR coalesce(flat, 0) <> 0"""
    nodes = {name: (flat, cum) for name, flat, cum in store.query(con_sql, params).fetchall()}
    total_sql = f"""WITH smp AS ({samples}) SELECT coalesce(sum(abs(v)), 0)::BIGINT,
        coalesce(sum(abs(v)) FILTER (WHERE is_base), 0)::BIGINT FROM smp"""
    total, base_total = store.query(total_sql, params).fetchall()[0]
    return _Graph(nodes, base_total if base_total > 0 else total, sum(f for f, _ in nodes.values()))


def _inline_labels(store: Store, samples: str, params: list, node: str, kept: list[str], cutoff: int) -> dict[str, str]:
    """`inline` / `partial-inline` per node, from the call edges into it
    between kept nodes (an edge jumps over dropped nodes) whose weight
    reaches `cutoff`: an edge is inline when every sample reached the node
    through an inlined frame."""
    # Only a node with an inlined frame can be labelled, and only stacks
    # holding that node (inlined or not) have edges into it.
    candidates = [r[0] for r in store.query(
        f"SELECT DISTINCT {node} FROM frame_info f WHERE f.inlined AND {node} IN (SELECT unnest(?::VARCHAR[]))",
        [kept]).fetchall()] if kept else []
    if not candidates:
        return {}
    sql = f"""
        WITH smp AS ({samples}),
        nodes AS (SELECT frame_id, f.inlined, {node} AS node FROM frame_info f),
        w AS (SELECT stack_id, sum(v)::BIGINT AS w FROM smp WHERE kept AND v <> 0 AND stack_id <> 0
              AND stack_id IN (SELECT stack_id FROM stacks WHERE frame_id IN
                               (SELECT frame_id FROM nodes WHERE node IN (SELECT unnest(?::VARCHAR[]))))
              GROUP BY stack_id),
        kf AS (SELECT s.stack_id, s.depth, n.inlined, n.node FROM stacks s JOIN w USING (stack_id)
               JOIN nodes n USING (frame_id)),
        kept AS (SELECT * FROM kf WHERE node IN (SELECT unnest(?::VARCHAR[]))),
        pairs AS (SELECT stack_id, depth, node, inlined,
                         lead(node) OVER (PARTITION BY stack_id ORDER BY depth) AS caller FROM kept),
        firsts AS (SELECT stack_id, caller, node, arg_max(inlined, depth) AS inl FROM pairs
                   WHERE caller IS NOT NULL AND caller <> node GROUP BY ALL),
        edges AS (SELECT caller, node, sum(w) AS weight, bool_and(inl) AS inl FROM firsts JOIN w USING (stack_id)
                  GROUP BY ALL)
        SELECT node, bool_or(inl), bool_or(NOT inl) FROM edges WHERE abs(weight) >= ? GROUP BY node"""
    out = {}
    for name, inline, noinline in store.query(sql, params + [candidates, kept, cutoff]).fetchall():
        if inline:
            out[name] = "partial-inline" if noinline else "inline"
    return out


def _go_trunc(x: float) -> int:
    return int(x)  # Go's int64(float64) truncates toward zero, as int() does


def top(
    store: Store,
    profiles: Selector,
    sample_type: str | int | None = None,
    by: str = "function",
    n: int | None = 20,
    cum: bool = False,
    base: Selector = None,
    normalize: bool = False,
    tagfocus=None,
    tagignore=None,
    kind: str | None = None,
) -> "pd.DataFrame":
    """The `go tool pprof -top` table of the selected profiles (merged).

    Columns: the node (`function`, `file` or `line`, after `by`), flat,
    flat_pct, sum_pct, cum, cum_pct (percentages of the report total, as
    numbers), inline ('', 'inline', 'partial-inline'), flat_label and
    cum_label (values in pprof's units). ``df.attrs`` holds the header
    pprof prints: sample_type, unit, total (of every sample, as pprof's
    percentages), selected (what the label filters kept), shown,
    dropped_nodes, nodes.
    `base` makes it a diff (`-diff_base`): values are selection minus base.
    """
    import pandas as pd

    if by not in _NODE:
        raise ValueError(f"by must be one of {sorted(_NODE)}, not {by!r}")
    ids = select_profiles(store, profiles, kind)
    base_ids = select_profiles(store, base, kind) if base is not None else []
    columns = [by, "flat", "flat_pct", "sum_pct", "cum", "cum_pct", "inline", "flat_label", "cum_label"]
    if not ids:
        return pd.DataFrame(columns=columns)
    k, stype, unit = pick_sample_type(store, ids + base_ids, sample_type)
    sel = Selection(ids, k, stype, unit, base_ids)
    samples, params = _samples_sql(sel, normalize, tag_filters(tagfocus, tagignore))
    node = _NODE[by]
    g = _graph(store, samples, params, node)
    node_cutoff = abs(_go_trunc(g.flat_total * NODE_FRACTION))
    edge_cutoff = abs(_go_trunc(g.flat_total * EDGE_FRACTION))
    kept = {name: fc for name, fc in g.nodes.items() if abs(fc[1]) >= node_cutoff}
    dropped = len(g.nodes) - len(kept)
    first, second = (1, 0) if cum else (0, 1)
    order = sorted(kept, key=lambda k: (-abs(kept[k][first]), _name(k), -abs(kept[k][second]), _tiebreak(k)))
    shown = order[:n] if n else order
    inline = _inline_labels(store, samples, params, node, shown, edge_cutoff)
    unit_out = output_unit([kept[name][0] or kept[name][1] for name in shown], g.total, unit or "")
    def fmt(v):
        return label(v, unit or "", unit_out)
    rows, running = [], 0
    for name in shown:
        flat, cumv = kept[name]
        running += flat
        rows.append((_name(name), flat, _pct(flat, g.total), _pct(running, g.total), cumv, _pct(cumv, g.total),
                     inline.get(name, ""), fmt(flat), fmt(cumv)))
    df = pd.DataFrame(rows, columns=columns)
    df.attrs.update(
        sample_type=stype, unit=unit, output_unit=unit_out, total=g.total, selected=g.flat_total, shown=sum(kept[x][0] for x in shown),
        dropped_nodes=dropped, node_cutoff=abs(_go_trunc(g.total * NODE_FRACTION)), nodes=len(kept),
        profiles=ids, base=base_ids, kind=k, by=by,
    )
    return df


def _pct(value: int, total: int) -> float:
    return abs(value / total) * 100 if total else 0.0


def top_text(df: "pd.DataFrame") -> str:
    """The report as `go tool pprof -top` prints it (after its header); a name
    from the profile is one line (a newline in it is written ``\\n``)."""
    a = df.attrs
    unit, unit_out = a.get("unit") or "", a.get("output_unit") or ""
    total = a.get("total", 0)
    lines = [f"Type: {a.get('sample_type')}"] if a.get("sample_type") else []
    lines.append(f"Showing nodes accounting for {label(a.get('shown', 0), unit, unit_out)}, "
                 f"{percentage(a.get('shown', 0), total).strip()} of {label(total, unit, unit_out)} total")
    if total and a.get("dropped_nodes"):
        d = a["dropped_nodes"]
        lines.append(f"Dropped {d} node{'s' if d > 1 else ''} (cum <= {label(a['node_cutoff'], unit, unit_out)})")
    if total and 0 < len(df) < a.get("nodes", 0):
        lines.append(f"Showing top {len(df)} nodes out of {a['nodes']}")
    lines.append(f"{'flat':>10} {'flat':>5}% {'sum':>5}% {'cum':>10} {'cum':>5}%")
    running = 0
    name_col = df.columns[0]
    for row in df.itertuples(index=False):
        running += row.flat
        inl = f" ({row.inline})" if row.inline else ""
        lines.append(f"{row.flat_label:>10} {percentage(row.flat, total)} {percentage(running, total)} "
                     f"{row.cum_label:>10} {percentage(row.cum, total)}  {terminal_safe(str(getattr(row, name_col)))}{inl}")
    return "\n".join(lines) + "\n"
