"""The statistics behind upgrade correlation: each test one-sided (did it get
worse after the change?), each returning its statistic and p-value.

>>> round(rate_increase(0, 3 * 3600, 5, 1.5 * 3600)[1], 4)   # 5 panics in 90 min, none in the 3 h before
0.0041
>>> change_point([0, 1, 0, 0, 1, 0, 6, 5, 7, 6], "poisson")[0]
6
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def rate_increase(n_before: int, t_before: float, n_after: int, t_after: float) -> tuple[float, float]:
    """(rate ratio after/before, p) for event counts over exposure times:
    the exact conditional test of two Poisson rates (given the total, the
    count after is binomial with the share of exposure after)."""
    n = n_before + n_after
    if n == 0 or t_after <= 0 or t_before <= 0:
        return (math.nan, 1.0)
    share = t_after / (t_before + t_after)
    p = float(stats.binom.sf(n_after - 1, n, share))
    ratio = math.inf if n_before == 0 else (n_after / t_after) / (n_before / t_before)
    return ratio, min(max(p, 0.0), 1.0)


def proportion_increase(k_before: int, n_before: int, k_after: int, n_after: int) -> tuple[float, float]:
    """(proportion after - before, p): Fisher's exact test that the share of
    k among n (error logs among log records) grew."""
    if n_before <= 0 or n_after <= 0:
        return (math.nan, 1.0)
    table = [[k_after, n_after - k_after], [k_before, n_before - k_before]]
    p = float(stats.fisher_exact(table, alternative="greater")[1])
    return k_after / n_after - k_before / n_before, p


def latency_shift(before, after, max_samples: int = 20_000, seed: int = 0) -> dict:
    """Quantiles before and after and the Mann-Whitney U test that latencies
    after are stochastically larger (samples capped, drawn reproducibly)."""
    rng = np.random.default_rng(seed)
    b, a = (np.asarray(x, dtype=float) for x in (before, after))
    b, a = b[np.isfinite(b)], a[np.isfinite(a)]
    out = {"n_before": len(b), "n_after": len(a)}
    for name, arr in (("before", b), ("after", a)):
        for q in (50, 90, 99):
            out[f"p{q}_{name}"] = float(np.percentile(arr, q)) if len(arr) else math.nan
    if len(b) < 5 or len(a) < 5:
        out["statistic"], out["p"] = math.nan, 1.0
        return out
    if len(b) > max_samples:
        b = rng.choice(b, max_samples, replace=False)
    if len(a) > max_samples:
        a = rng.choice(a, max_samples, replace=False)
    u, p = stats.mannwhitneyu(a, b, alternative="greater")
    out["statistic"] = float(u / (len(a) * len(b)))  # common-language effect size: P(after > before)
    out["p"] = float(p)
    return out


def trend_increase(values) -> tuple[float, float]:
    """(Kendall's tau, p) that a series rises over its order (goroutine counts
    across snapshots); 1.0 for fewer than 3 points."""
    v = np.asarray(values, dtype=float)
    if len(v) < 3 or np.all(v == v[0]):
        return (0.0, 1.0)
    tau, p = stats.kendalltau(np.arange(len(v)), v)
    if not np.isfinite(tau):
        return (0.0, 1.0)
    return float(tau), float(p / 2 if tau > 0 else 1 - p / 2)


def change_point(values, kind: str = "poisson", min_segment: int = 2, exposure=None) -> tuple[int | None, float]:
    """(index where the level rose, log-likelihood ratio) of the most likely
    raised segment of a series, which may fall back later (a regression
    rolled back): Poisson counts (`poisson`, per unit of `exposure`: time
    the service ran, or log records for error logs) or a Gaussian mean
    (`mean`). (None, llr) when no segment stands out: 2*LLR must exceed
    chi-square(2)'s 0.1% point plus log(n), a penalty for searching every segment."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n < min_segment + 1:
        return None, 0.0
    best, best_i = 0.0, None
    c = np.concatenate([[0.0], np.cumsum(v)])
    if kind == "poisson":
        total = c[-1]
        e = np.concatenate([[0.0], np.cumsum(np.ones(n) if exposure is None else np.asarray(exposure, float))])

        def ll(s, m):
            return s * math.log(s / m) - s if s > 0 and m > 0 else 0.0

        whole = ll(total, e[-1])
        for i in range(n - min_segment + 1):
            for j in range(i + min_segment, n + 1):
                inside, m_in = c[j] - c[i], e[j] - e[i]
                outside, m_out = total - inside, e[-1] - m_in
                if m_out <= 0 or m_in <= 0 or inside / m_in <= outside / m_out:
                    continue
                llr = ll(inside, m_in) + ll(outside, m_out) - whole
                if llr > best:
                    best, best_i = llr, i
    else:
        c2 = np.concatenate([[0.0], np.cumsum(v * v)])
        var_all = v.var()
        if var_all == 0:
            return None, 0.0
        for i in range(n - min_segment + 1):
            for j in range(i + min_segment, n + 1):
                m_in, m_out = j - i, n - (j - i)
                if m_out < 1:
                    continue
                s_in, q_in = c[j] - c[i], c2[j] - c2[i]
                s_out, q_out = c[-1] - s_in, c2[-1] - q_in
                mean_in, mean_out = s_in / m_in, s_out / m_out
                if mean_in <= mean_out:
                    continue
                pooled = (q_in - m_in * mean_in ** 2 + q_out - m_out * mean_out ** 2) / n
                llr = n / 2 * math.log(var_all / max(pooled, var_all * 1e-9))
                if llr > best:
                    best, best_i = llr, i
    if best_i is None or 2 * best < stats.chi2.ppf(0.999, 2) + math.log(n):
        return None, best
    return best_i, best
