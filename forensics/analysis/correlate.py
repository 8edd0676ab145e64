"""Which change broke it: every release compared with the release it replaced,
every symptom blamed on the deploy that brought its code in.

Evidence is gathered per release, from the instances that ran it
whenever they ran (rolling deploys overlap old and new pods): for each
deploy of a service, what the instances of the new release did is compared
with what the instances of the release it replaced did, item by item, each
with a one-sided test (:mod:`.evidence`): panics per signature (a signature
never seen in an earlier release is new), restarts, the share of
error-level logs, request latency (logs with a latency field, and server
spans), goroutines per creation site rising across an instance's snapshots
(:mod:`.leaks`), and CPU and heap shares per function. p-values are
Bonferroni-corrected over a deploy's items; `alpha` decides.

Then each item finds its owner (:mod:`.attribution`):

- an item whose stack runs through `module@version` belongs to the deploy
  that first brought that version into the service, which may be an
  earlier one; the deploy it was measured at is cleared of it (the Go
  toolchain likewise for crashes inside the runtime);
- a shift that only lasts through the rollout (restarting pods) is a
  rollout blip, not a regression of the release;
- latency explained by calls into another service (its server spans under
  this one's) points to that service, and this one is cleared of it;
- latency, errors and restarts follow the strongest stack-bearing item
  measured with them.

The verdict ranks deploys by what they own: the release, suspect modules
with both versions, evidence (statistic, p-value, instances and files),
the onset of the first symptom, and why the others were cleared.
"""
from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from . import attribution as at
from . import evidence as ev
from .gather import NO_CREATOR, Evidence, evidence_from_store, profile_shares, rows_of
from .leaks import rise_start, rises

__all__ = ["ALPHA", "Evidence", "correlate", "evidence_from_store"]

ALPHA = 0.01
BLIP_MARGIN = timedelta(minutes=5)  # after the last old pod stopped, the rollout is still settling
COLUMNS = ["rank", "ts", "service", "version", "previous_version", "change", "suspect_modules", "significant",
           "score", "p_value", "onset", "evidence", "verdict", "cleared"]


def p_text(p: float, name: str = "p") -> str:
    """A p-value as the verdicts and the report write it.

    >>> p_text(3e-9), p_text(0.0871, "adjusted p")
    ('p < 0.001', 'adjusted p = 0.087')
    """
    return f"{name} < 0.001" if p < 0.001 else f"{name} = {p:.2g}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _frame(df) -> pd.DataFrame:
    return df if df is not None else pd.DataFrame()


def _prepare(ev_: Evidence) -> Evidence:
    """Every frame with `version` (the service's release by time where a row
    has none) and `instance` (one per release where unknown)."""
    deploys = ev_.deploys.sort_values("ts")
    out = {}
    for name in ("panics", "restarts", "log_counts", "latencies", "goroutines", "profile_shares", "calls"):
        df = _frame(getattr(ev_, name)).copy()
        if df.empty:
            out[name] = df
            continue
        if "version" not in df:
            df["version"] = None
        missing = df["version"].isna()
        if missing.any() and not deploys.empty:
            by_time = pd.merge_asof(df.loc[missing, ["ts", "service"]].reset_index().sort_values("ts"),
                                    deploys[["ts", "service", "version"]], on="ts", by="service")
            df.loc[by_time["index"], "version"] = by_time["version"].to_numpy()
        if "instance" not in df:
            df["instance"] = None
        df["instance"] = df["instance"].where(df["instance"].notna(), df["service"] + "@" + df["version"].astype(str))
        out[name] = df
    return Evidence(ev_.deploys, _frame(ev_.changes), modules=_observed_modules(_frame(ev_.modules), out),
                    instances=_frame(ev_.instances), **out)


def _observed_modules(modules: pd.DataFrame, frames: dict) -> pd.DataFrame:
    """Module sets of releases without build info, from the module versions
    on their stacks (crashes, goroutines, profiles): enough to tell which
    release brought a version, when no build info says what each held."""
    have = set(zip(modules["service"], modules["version"])) if len(modules) else set()
    seen = {}
    for name in ("panics", "goroutines", "profile_shares"):
        df = frames.get(name)
        if df is None or df.empty or "modules" not in df:
            continue
        for service, version, mods in zip(df["service"], df["version"], df["modules"]):
            if (service, version) in have or not isinstance(mods, (list, tuple, np.ndarray)):  # None, NaN, pd.NA
                continue
            for entry in mods:
                if isinstance(entry, str) and "@" in entry:
                    module, mv = at.split(entry)
                    if mv:
                        seen[(service, version, module)] = mv
    if not seen:
        return modules
    extra = pd.DataFrame([(s, v, m, mv) for (s, v, m), mv in seen.items()],
                         columns=["service", "version", "module", "module_version"])
    return extra if modules.empty else pd.concat([modules, extra], ignore_index=True)


def _exposure(ev_: Evidence, service: str, version: str) -> float:
    """Seconds the instances of a release ran (summed), else the time its rows span."""
    inst = ev_.instances
    if not inst.empty:
        mine = inst[(inst["service"] == service) & (inst["version"] == version)]
        if len(mine):
            # fsum: the same total in any row order (a dataset's rows come in another order)
            return math.fsum((mine["ended"] - mine["started"]).dt.total_seconds().clip(lower=1))
    lo = hi = None
    for df in (ev_.log_counts, ev_.latencies, ev_.panics, ev_.goroutines, ev_.restarts):
        rows = rows_of(df, service, version)
        if len(rows):
            lo = min(lo, rows["ts"].min()) if lo is not None else rows["ts"].min()
            hi = max(hi, rows["ts"].max()) if hi is not None else rows["ts"].max()
    return max((hi - lo).total_seconds(), 1.0) if lo is not None else 0.0


def _rows(df: pd.DataFrame, service: str, version: str, keep=None) -> pd.DataFrame:
    """rows_of, filtered by `keep` (a row mask function) when given."""
    rows = rows_of(df, service, version)
    return rows[keep(rows)] if keep is not None and len(rows) else rows


def _instances(rows: pd.DataFrame) -> list[str]:
    return sorted({str(x) for x in rows["instance"].dropna()}) if "instance" in rows else []


def _items(ev_: Evidence, service: str, new: str, old: str, earlier: set[str], keep_new, keep_old,
           exposure: tuple[float, float]) -> list[dict]:
    """Evidence items of release `new` against `old` (rows filtered by keep_*;
    `earlier`: releases of the service deployed before `new`; `exposure`:
    seconds each release ran, see _exposure)."""
    e_new, e_old = exposure
    items = []
    if e_new <= 0 or e_old <= 0:
        return items
    # Panics, per signature.
    pn, po = _rows(ev_.panics, service, new, keep_new), _rows(ev_.panics, service, old, keep_old)
    if not pn.empty:
        history = ev_.panics[(ev_.panics["service"] == service) & ev_.panics["version"].isin(earlier)]
        seen = set(history["signature"])
        e_hist = math.fsum(_exposure(ev_, service, v) for v in earlier) or e_old  # a set: any order
        for sig, rows in pn.groupby("signature"):
            na, nb = len(rows), int((po["signature"] == sig).sum()) if not po.empty else 0
            is_new = sig not in seen
            ratio, p = ev.rate_increase(nb if not is_new else 0, e_hist if is_new else e_old, na, e_new)
            first = rows.sort_values("ts").iloc[0]
            text = (f"{'new panic' if is_new else 'panic'} '{str(first['message']).splitlines()[0][:80]}' in "
                    f"{first['top_function']} x{na} in {_duration(e_new)} of {new} "
                    f"({'never before' if is_new else f'x{nb} in {_duration(e_old)} of {old}'}, {p_text(p)})")
            items.append(dict(kind="panic", key=sig, before=nb, after=na, statistic=ratio, p=p, new=is_new,
                              text=text, onset=first["ts"], instances=_instances(rows),
                              files=sorted({str(w) for w in rows.get("where", pd.Series(dtype=str)).dropna()})[:10],
                              stack=at.stack_modules(first.get("functions"), first.get("modules")),
                              top=first.get("top_function")))
    # Restarts.
    rn, ro = _rows(ev_.restarts, service, new, keep_new), _rows(ev_.restarts, service, old, keep_old)
    if len(rn):
        ratio, p = ev.rate_increase(len(ro), e_old, len(rn), e_new)
        items.append(dict(kind="restarts", key="restarts", before=len(ro), after=len(rn), statistic=ratio, p=p,
                          text=f"restarts x{len(rn)} in {_duration(e_new)} of {new} (x{len(ro)} in "
                               f"{_duration(e_old)} of {old}, {p_text(p)})",
                          onset=rn["ts"].min(), instances=_instances(rn)))
    # Share of error-level logs.
    ln, lo = _rows(ev_.log_counts, service, new, keep_new), _rows(ev_.log_counts, service, old, keep_old)
    if len(ln) and len(lo):
        ka, na, kb, nb = (int(x) for x in (ln["errors"].sum(), ln["total"].sum(), lo["errors"].sum(), lo["total"].sum()))
        if na and nb and ka:
            diff, p = ev.proportion_increase(kb, nb, ka, na)
            items.append(dict(kind="errors", key="error logs", before=kb / nb, after=ka / na, statistic=diff, p=p,
                              text=f"error logs {kb / nb:.1%} of {old}'s records → {ka / na:.1%} of {new}'s "
                                   f"({p_text(p)})",
                              onset=ln.loc[ln["errors"] > 0, "ts"].min(), instances=_instances(ln[ln["errors"] > 0])))
    # Latency, from request logs and spans separately.
    tn, to = _rows(ev_.latencies, service, new, keep_new), _rows(ev_.latencies, service, old, keep_old)
    for origin in sorted(set(tn["origin"]) if len(tn) else ()):
        a, b = tn[tn["origin"] == origin], to[to["origin"] == origin] if len(to) else to
        shift = ev.latency_shift(b["ms"] if len(b) else [], a["ms"])
        if shift["n_before"] >= 5 and shift["n_after"] >= 5:
            slow = a[a["ms"] > shift["p99_before"]]
            items.append(dict(kind="latency", key=origin, before=shift["p99_before"], after=shift["p99_after"],
                              statistic=shift["statistic"], p=shift["p"], detail=shift,
                              text=f"p99 {shift['p99_before']:.3g} ms in {old} → {shift['p99_after']:.3g} ms in "
                                   f"{new}, p50 {shift['p50_before']:.3g} → {shift['p50_after']:.3g} ms ({origin}, "
                                   f"{p_text(shift['p'])})",
                              onset=_latency_onset(a, shift["p99_before"]), instances=_instances(slow)))
    items += _goroutine_items(ev_, service, new, old, keep_new, keep_old)
    items += _profile_items(ev_, service, new, old, keep_new, keep_old)
    return items


def _latency_onset(rows: pd.DataFrame, threshold: float):
    """When latency rose: the first request above the old p99 in the first
    raised stretch of the per-bucket p99 (never before the first slow request)."""
    slow = rows[rows["ms"] > threshold]
    if slow.empty:
        return None
    lo, hi = rows["ts"].min(), rows["ts"].max()
    step = max((hi - lo) / 50, timedelta(seconds=1))
    idx = ((rows["ts"] - lo) / step).astype(int)
    p99 = rows["ms"].groupby(idx).quantile(0.99)
    k, _ = ev.change_point(p99.to_numpy(), "mean")
    start = lo + p99.index[k] * step if k is not None else lo
    after = slow[slow["ts"] >= start]
    return (after if len(after) else slow)["ts"].min()


def _goroutine_items(ev_: Evidence, service, new, old, keep_new, keep_old) -> list[dict]:
    """A creation site whose goroutines rise across an instance's snapshots
    in the new release, above the old release's peak."""
    gn, go = _rows(ev_.goroutines, service, new, keep_new), _rows(ev_.goroutines, service, old, keep_old)
    items = []
    for site, rows in gn.groupby("site") if len(gn) else ():
        if site == NO_CREATOR:
            continue  # main and runtime goroutines, and goroutine profiles (which do not say)
        top_old = int(go.loc[go["site"] == site, "count"].max()) if len(go) and (go["site"] == site).any() else 0
        rising = []
        for inst, series in rows.groupby("instance"):
            series = series.sort_values("ts")
            counts = [int(c) for c in series["count"]]
            if rises(counts) and max(counts) > top_old:
                tau, p = ev.trend_increase(counts)
                rising.append((p, inst, counts, series))
        files = sorted({str(w) for r in rising for w in (r[3]["where"].iloc[[0, -1]] if "where" in r[3] else [])})
        if not rising:
            continue
        rising.sort(key=lambda r: r[0])
        p = min(rising[0][0] * rows["instance"].nunique(), 1.0)  # the best of the instances looked at
        peak = max(max(r[2]) for r in rising)
        first = min(r[3]["ts"].iloc[rise_start(r[2])] for r in rising)
        modules = rows["modules"].dropna().iloc[-1] if "modules" in rows and rows["modules"].notna().any() else None
        items.append(dict(kind="goroutines", key=site, before=top_old, after=peak, statistic=len(rising), p=p,
                          text=f"{site} goroutines rising in {len(rising)} of {rows['instance'].nunique()} "
                               f"instances of {new} to {peak} (peak {top_old} in {old}, {p_text(p)})",
                          onset=first, instances=sorted(str(r[1]) for r in rising), files=files[:10],
                          stack=list(modules) if modules is not None else [], top=site))
    return items


def _profile_items(ev_: Evidence, service, new, old, keep_new, keep_old) -> list[dict]:
    """The three functions whose share of CPU (or of heap in use) grew most,
    per profile kind: each profile is one observation of a function's cost
    (CPU per second sampled, heap bytes in use), compared by the
    Mann-Whitney U test (samples within a profile are not independent,
    profiles are), with at least 5 profiles on each side."""
    pn, po = _rows(ev_.profile_shares, service, new, keep_new), _rows(ev_.profile_shares, service, old, keep_old)
    items = []
    if pn.empty or po.empty:
        return items
    for kind in sorted(set(pn["kind"]) if "kind" in pn else {"cpu"}):
        a = pn[pn["kind"] == kind] if "kind" in pn else pn
        b = po[po["kind"] == kind] if "kind" in po else po
        share_a, share_b = profile_shares(a), profile_shares(b)
        cost_a, cost_b = profile_shares(a, absolute=True), profile_shares(b, absolute=True)
        if share_a.shape[0] < 5 or share_b.shape[0] < 5:
            continue
        grown = []
        for fn in share_a.columns:
            sa = share_a[fn].to_numpy()
            sb = share_b[fn].to_numpy() if fn in share_b else [0.0] * share_b.shape[0]
            diff = float(sa.mean() - sum(sb) / len(sb))
            if diff < 0.01:  # a point of the profile at least
                continue
            # Tested on the function's own cost per profile: its share also grows when the rest shrinks.
            ca = cost_a[fn].to_numpy()
            cb = cost_b[fn].to_numpy() if fn in cost_b else [0.0] * cost_b.shape[0]
            shift = ev.latency_shift(cb, ca)
            grown.append((shift["p"], -diff, fn, float(sum(sb) / len(sb)), float(sa.mean())))
        for p, _, fn, sb, sa in sorted(grown)[:3]:
            rows = a[a["function"] == fn]
            mods = rows["modules"].dropna().iloc[-1] if "modules" in rows and rows["modules"].notna().any() else []
            items.append(dict(kind="profile", key=f"{kind}:{fn}", before=sb, after=sa, statistic=sa - sb, p=p,
                              text=f"{fn} {sb:.0%} of {old}'s {kind} profiles → {sa:.0%} of {new}'s "
                                   f"({share_a.shape[0]} vs {share_b.shape[0]} profiles, {p_text(p)})",
                              onset=rows["ts"].min(), instances=_instances(rows),
                              stack=list(mods) or [at.package(fn) + "@"], top=fn))
    return items


def _rollout_end(ev_: Evidence, service: str, t, old: str):
    """When the rollout of a deploy at `t` settled: the last instance of the
    old release running at `t` stopped (plus a margin)."""
    inst = ev_.instances
    end = t
    if not inst.empty:
        mine = inst[(inst["service"] == service) & (inst["version"] == old) & (inst["started"] <= t)
                    & (inst["ended"] > t)]
        if len(mine):
            end = min(mine["ended"].max(), t + timedelta(hours=1))
    return end + BLIP_MARGIN


BLIP_KINDS = {"panic": "panics", "restarts": "restarts", "errors": "log_counts", "latency": "latencies"}


def _settled_share(ev_: Evidence, item: dict, service: str, new: str, end) -> float:
    """The share of the new release's rows of an item's kind that come after the rollout settled."""
    rows = _rows(getattr(ev_, BLIP_KINDS[item["kind"]]), service, new)
    return float((rows["ts"] > end).mean()) if len(rows) else 0.0


def _explained_by_calls(ev_: Evidence, service: str, new: str, old: str):
    """(callee, added callee ms, added ms) when most of the latency added
    from `old` to `new` was spent in calls to another service's server spans."""
    calls = ev_.calls
    if calls is None or calls.empty:
        return None
    a, b = _rows(calls, service, new), _rows(calls, service, old)
    if len(a) < 5 or len(b) < 5:
        return None
    added = a["ms"].mean() - b["ms"].mean()
    if added <= 0:
        return None
    best = None
    for callee in set(a["callee"]):
        extra = math.fsum(a.loc[a["callee"] == callee, "callee_ms"]) / len(a) - \
            math.fsum(b.loc[b["callee"] == callee, "callee_ms"]) / len(b)
        if extra >= 0.5 * added and (best is None or extra > best[1]):
            best = (callee, extra, added)
    return best


def correlate(ev_: Evidence, before: timedelta | None = None, after: timedelta | None = None,
              alpha: float = ALPHA) -> pd.DataFrame:
    """The ranked verdict table: one row per deploy (see module docstring).
    `before`/`after` cap, around each deploy, the rows of the release it
    replaced and of its own release."""
    if ev_.deploys is None or ev_.deploys.empty:
        return pd.DataFrame(columns=COLUMNS)
    ev_ = _prepare(ev_)
    deploys = ev_.deploys.sort_values(["service", "ts"]).reset_index(drop=True)
    intro = at.introductions(deploys, ev_.modules, ev_.changes)
    sets = at._release_modules(ev_.modules)
    measured: dict[int, list[dict]] = {}
    for service, group in deploys.groupby("service", sort=False):
        order = list(group.index)
        for pos, idx in enumerate(order):
            row = deploys.loc[idx]
            old, new, t = row["previous_version"], row["version"], row["ts"]
            if not isinstance(old, str) or old == new:
                measured[idx] = []
                continue
            earlier = {deploys.loc[j, "version"] for j in order[:pos]} - {new}
            keep_new = (lambda r, t=t: r["ts"] <= t + after) if after is not None else None
            keep_old = (lambda r, t=t: r["ts"] >= t - before) if before is not None else None
            exposure = (_exposure(ev_, service, new), _exposure(ev_, service, old))
            items = _items(ev_, service, new, old, earlier, keep_new, keep_old, exposure)
            m = max(len(items), 1)
            end = _rollout_end(ev_, service, t, old)
            settled = [] if end <= t else _items(
                ev_, service, new, old, earlier, lambda r, end=end: r["ts"] > end, lambda r, t=t: r["ts"] < t,
                exposure)
            later = {(x["kind"], x["key"]): x for x in settled}
            for item in items:
                item["p_adjusted"] = min(item["p"] * m, 1.0)
                item["flagged"] = item["p_adjusted"] < alpha
                item["measured_at"] = idx
                rest = later.get((item["kind"], item["key"]))
                # A blip: gone after the rollout, judged on a good part of the release's life.
                if item["flagged"] and item["kind"] in BLIP_KINDS and _settled_share(ev_, item, service, new, end) \
                        >= 0.3 and (rest is None or min(rest["p"] * m, 1.0) >= alpha):
                    item["flagged"], item["blip"] = False, True
                    item["text"] += f"; a rollout blip: gone once the rollout settled ({end:%H:%M} UTC)"
            _attribute(items, deploys, idx, service, new, old, intro, sets, ev_)
            measured[idx] = items
    return _verdicts(deploys, measured, ev_.changes, sets)


def _attribute(items, deploys, idx, service, new, old, intro, sets, ev_) -> None:
    """Give each item its owner (a deploy index), or a reason it is nobody's."""
    strongest = None
    for item in sorted(items, key=lambda x: x["p"]):
        item["owner"] = idx
        if "stack" not in item:
            continue
        stack = at.module_prefixes(item["stack"], service, new, sets) or item["stack"]
        found = at.owner(stack, service, new, intro, sets)
        if found is None and str(item.get("top") or "").startswith("runtime."):
            go = sets.get((service, new), {}).get("go")
            found = (intro[(service, "go", go)], "go", go) if (service, "go", go) in intro else None
        if found is not None and pd.isna(deploys.loc[found[0], "previous_version"]):
            # In the first release seen: no deploy is known to have brought it.
            item["owner"], item["reason"] = None, f"runs through {found[1]}@{found[2]}, there since the first release seen"
        elif found is not None:
            item["owner"], item["module"], item["module_version"] = found
            if found[0] != idx:
                came = deploys.loc[found[0]]
                item["reason"] = (f"runs through {found[1]}@{found[2]}, which came with {came['version']} "
                                  f"({came['ts']:%Y-%m-%d %H:%M} UTC)")
        if item["flagged"] and strongest is None and item["owner"] is not None:
            strongest = item
    for item in items:
        if "stack" in item or item.get("blip"):
            continue
        if item["kind"] == "latency" and item["flagged"]:
            explained = _explained_by_calls(ev_, service, new, old)
            if explained is not None:
                callee, extra, added = explained
                item["owner"], item["explained_by"] = None, callee
                item["reason"] = f"explained by calls into {callee} (+{extra:.3g} ms of +{added:.3g} ms per request)"
                continue
        if strongest is not None and strongest["owner"] != idx:
            item["owner"] = strongest["owner"]
            item["reason"] = f"comes with {_headline(strongest)}, which {strongest['reason']}"


def _what_changed(changes: pd.DataFrame, service: str, t) -> str:
    """The module and Go toolchain changes of a deploy, `; `-separated ("" when none are known)."""
    if changes is None or changes.empty:
        return ""
    mine = changes[(changes["service"] == service) & (changes["ts"] == t)]
    parts = []
    for c in mine.itertuples(index=False):
        if c.kind == "module":
            parts.append(f"{c.module} {_change(c.from_version, c.to_version)}")
        elif c.kind == "go":
            parts.append(f"Go {_change(c.from_version, c.to_version)}")
    return "; ".join(parts)


def _change(frm, to) -> str:
    """`v3.4.27 → v3.5.9`; a side that is not a version (an added or removed module) is `(none)`."""
    return f"{frm if isinstance(frm, str) else '(none)'} → {to if isinstance(to, str) else '(none)'}"


def _headline(item: dict) -> str:
    """An item's text without its figures in brackets: what it is, to name it in a reason."""
    return item["text"].split(" (")[0]


def _verdicts(deploys: pd.DataFrame, measured: dict[int, list[dict]], changes: pd.DataFrame, sets: dict
              ) -> pd.DataFrame:
    owned: dict[int, list[dict]] = {i: [] for i in deploys.index}
    for items in measured.values():
        for item in items:
            if item.get("owner") is not None:
                owned[item["owner"]].append(item)
    out = []
    for idx, row in deploys.iterrows():
        mine = sorted(owned[idx], key=lambda x: x["p_adjusted"])
        flagged = [x for x in mine if x["flagged"]]
        significant = bool(flagged)
        suspects = []
        for x in flagged:
            module = x.get("module")
            if module and x["owner"] == idx and module not in suspects:
                suspects.append(module)
        what = _what_changed(changes, row["service"], row["ts"])
        old = row["previous_version"] if isinstance(row["previous_version"], str) else None
        release = f"{old} → {row['version']}" if old else row["version"]
        head = f"{row['service']} {row['version']}" + (f" ({what})" if what else (f" (was {old})" if old else ""))
        cleared = [f"{_headline(x)}: {x['reason']}" for x in measured.get(idx, [])
                   if (x["flagged"] or x.get("new")) and x.get("owner") != idx and x.get("reason")]
        cleared += [f"{_headline(x)}: a rollout blip" for x in measured.get(idx, []) if x.get("blip")]
        score = sum(min(-math.log10(max(x["p_adjusted"], 1e-300)), 12) for x in flagged) + 3 * len(suspects)
        # The first sign of what this deploy is blamed for: also the same symptom measured in a
        # release where it was not yet significant (a leak starts small).
        confirmed = {(x["kind"], x["key"]) for x in flagged}
        dated = [x for x in mine if (x["kind"], x["key"]) in confirmed and not x.get("blip")
                 and x.get("onset") is not None and pd.notna(x["onset"])]
        onset = None
        if dated:
            first = min(dated, key=lambda x: x["onset"])
            onset = f"{_series(first)} rose at {pd.Timestamp(first['onset']).isoformat()}"
        if significant:
            # Flagged items, and new panic signatures even when rare (first seen in this code).
            said = "; ".join(x["text"] + (f" — {x['reason']}" if x.get("reason") and x["measured_at"] != idx else "")
                             for x in mine if x["flagged"] or (x.get("new") and not x.get("blip")))
            blame = ", ".join(f"{m} {_versions(changes, row, m, sets)}".strip() for m in suspects)
            verdict = f"{head}: {said}" + (f"; suspects: {blame}" if blame else "")
        else:
            verdict = f"{head}: no significant change"
            if cleared:
                verdict += "; cleared of " + "; ".join(cleared)
            elif mine:
                verdict += f" (most notable: {mine[0]['text']})"
        out.append(dict(ts=row["ts"], service=row["service"], version=row["version"], previous_version=old,
                        change=release + (f" ({what})" if what else ""), suspect_modules=suspects,
                        significant=significant, score=round(score, 2),
                        p_value=min((x["p_adjusted"] for x in mine), default=1.0), onset=onset,
                        evidence=[_public(x, deploys) for x in mine], verdict=verdict, cleared=cleared))
    df = pd.DataFrame(out)
    df = df.sort_values(["significant", "score", "p_value", "ts"], ascending=[False, False, True, True])
    df.insert(0, "rank", range(1, len(df) + 1))
    return df.reset_index(drop=True)[COLUMNS]


def _series(item: dict) -> str:
    return {"panic": "panics", "goroutines": "goroutines", "latency": "p99", "errors": "error logs",
            "restarts": "restarts", "profile": "profile share"}.get(item["kind"], item["kind"])


def _versions(changes: pd.DataFrame, row, module: str, sets: dict | None = None) -> str:
    """`v3.4.27 → v3.5.9` of a module at a deploy (from upgrades, else from the releases' module sets)."""
    if sets:
        old = sets.get((row["service"], row["previous_version"]), {}).get(module)
        new = sets.get((row["service"], row["version"]), {}).get(module)
        if new and old != new and (changes is None or changes.empty):
            return _change(old, new)
    if changes is not None and not changes.empty:
        c = changes[(changes["service"] == row["service"]) & (changes["ts"] == row["ts"])
                    & (changes["module"] == module)]
        if len(c):
            return _change(c.iloc[0]["from_version"], c.iloc[0]["to_version"])
    return ""


def _public(item: dict, deploys: pd.DataFrame) -> dict:
    """An evidence item as the verdict shows it."""
    out = {k: v for k, v in item.items() if k not in ("stack", "top", "owner", "measured_at")}
    out["measured_in"] = deploys.loc[item["measured_at"], "version"]
    return out
