"""Upgrade correlation: the sample rollout (sample_logs/cluster) blames the
right upgrade and module and clears the others; synthetic incidents check
the detection rate and the false-positive rate of the default threshold."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

import forensics as fx
from forensics.analysis import evidence as ev
from forensics.analysis.correlate import Evidence, correlate
from forensics.cli import main

from conftest import cluster_copy


@pytest.fixture(scope="module")
def cluster_db(cluster_database, tmp_path_factory):
    return fx.open(cluster_copy(cluster_database, tmp_path_factory, "corr"))


def test_the_sample_rollout_blames_ratelimit(cluster_db):
    df = cluster_db.correlate()
    top = df.iloc[0]
    assert (top["service"], top["version"], top["significant"]) == ("orders", "v1.9.0", True)
    assert top["suspect_modules"] == ["github.com/acme/ratelimit"]
    assert "github.com/acme/ratelimit v1.5.0 → v1.6.0" in top["change"]
    assert top["verdict"].startswith("orders v1.9.0 (") and "new panic 'assignment to entry in nil map'" in top["verdict"]
    assert top["onset"].startswith("panics rose at")
    onset = datetime.fromisoformat(top["onset"].rsplit(" ", 1)[1])
    assert top["ts"] <= onset < df.loc[df["version"] == "v1.8.0", "ts"].max()
    kinds = [e["kind"] for e in top["evidence"] if e["flagged"]]
    assert kinds[0] == "panic" and "restarts" in kinds
    # The rollback, the first deploy and the other service's deploy are cleared.
    assert not df.iloc[1:]["significant"].any() and list(df["rank"]) == [1, 2, 3, 4]
    assert set(df.iloc[1:]["service"]) == {"orders", "payments"}


def test_correlate_cli(cluster_db, tmp_path):
    cluster_db.close()
    for fmt, check in (("md", "| 1 |"), ("json", '"significant":true'), ("table", "1. orders v1.9.0")):
        r = CliRunner().invoke(main, ["correlate", "--db", cluster_db.path, "--format", fmt])
        assert r.exit_code == 0, r.output
        assert check in r.output.replace(" ", "") if fmt == "json" else check in r.output


# --- the statistics, against their definitions ----------------------------

def test_rate_increase_is_the_conditional_binomial_test():
    ratio, p = ev.rate_increase(3, 3600, 12, 1800)
    assert ratio == pytest.approx((12 / 1800) / (3 / 3600))
    assert p == pytest.approx(stats.binomtest(12, 15, 1800 / 5400, alternative="greater").pvalue)
    assert ev.rate_increase(0, 100, 0, 100) == (math.nan, 1.0) or math.isnan(ev.rate_increase(0, 100, 0, 100)[0])


def test_latency_shift_and_trend():
    rng = np.random.default_rng(1)
    base = rng.lognormal(3, 0.4, 2000)
    shift = ev.latency_shift(base, base * 1.5)
    assert shift["p"] < 1e-6 and shift["p99_after"] == pytest.approx(np.percentile(base * 1.5, 99))
    assert ev.latency_shift(base[:1000], base[1000:])["p"] > 0.01
    assert ev.trend_increase([1, 3, 5, 9, 20, 40])[1] < 0.01 and ev.trend_increase([5, 4, 5, 4, 5])[1] > 0.1


def test_change_point_finds_a_raised_segment():
    rng = np.random.default_rng(2)
    counts = rng.poisson(1.0, 120)
    counts[70:90] = rng.poisson(5.0, 20)
    k, llr = ev.change_point(counts, "poisson")
    assert 66 <= k <= 72 and llr > 10
    assert ev.change_point(rng.poisson(1.0, 120), "poisson")[0] is None
    level = rng.normal(100, 5, 80)
    level[50:] += 40
    assert 48 <= ev.change_point(level, "mean")[0] <= 52


# --- synthetic incidents -----------------------------------------------------

T0 = datetime(2026, 3, 14, 0, 0)
DEPLOYS = 6
EVERY = timedelta(hours=2)


def synthetic(seed: int, inject: int | None) -> Evidence:
    """One service deployed every 2 h, each deploy upgrading one module; steady
    panics, logs and latency, and from deploy `inject` to the next a regression
    in that deploy's module: a new panic through it, more errors, slower requests."""
    rng = np.random.default_rng(seed)
    end = T0 + DEPLOYS * EVERY
    deploys = pd.DataFrame({"ts": [T0 + k * EVERY for k in range(DEPLOYS)], "service": "api",
                            "version": [f"v1.{k}.0" for k in range(DEPLOYS)],
                            "previous_version": [None] + [f"v1.{k}.0" for k in range(DEPLOYS - 1)]})
    changes = pd.DataFrame({"ts": deploys["ts"][1:], "service": "api", "kind": "module",
                            "module": [f"example.com/lib{k}" for k in range(1, DEPLOYS)],
                            "from_version": "v0.1.0", "to_version": "v0.2.0"})
    bad = (T0 + inject * EVERY, T0 + (inject + 1) * EVERY) if inject is not None else None
    minutes = pd.date_range(T0, end, freq="1min", inclusive="left")
    in_bad = np.array([bad is not None and bad[0] <= m < bad[1] for m in minutes.to_pydatetime()])
    panics = []
    for m, b in zip(minutes, in_bad):
        for _ in range(rng.poisson(1 / 60)):
            panics.append((m + timedelta(seconds=int(rng.integers(60))), "old", "index out of range", "main.parse",
                           ["main.parse", "main.handler"]))
        for _ in range(rng.poisson(4 / 60) if b else 0):
            panics.append((m + timedelta(seconds=int(rng.integers(60))), "new", "nil pointer dereference",
                           f"example.com/lib{inject}.(*Client).Keepalive",
                           [f"example.com/lib{inject}.(*Client).Keepalive", "main.handler"]))
    panics = pd.DataFrame(panics, columns=["ts", "signature", "message", "top_function", "functions"]).assign(
        service="api")
    total = rng.poisson(600, len(minutes))
    errors = rng.binomial(total, np.where(in_bad, 0.03, 0.02))
    log_counts = pd.DataFrame({"ts": minutes, "service": "api", "errors": errors, "total": total})
    lat_ts = np.repeat(minutes.to_numpy(), 20)
    ms = rng.lognormal(3, 0.5, len(lat_ts)) * np.repeat(np.where(in_bad, 1.3, 1.0), 20)
    latencies = pd.DataFrame({"ts": lat_ts, "service": "api", "ms": ms, "origin": "logs"})
    # Goroutine snapshots every 10 min: steady servers, and in the bad window a
    # watcher per request that never ends, created in the upgraded module.
    snaps = []
    for i, m in enumerate(minutes[::10]):
        snaps.append((m, "main.serve", int(rng.poisson(50))))
        if bad is not None and bad[0] <= m.to_pydatetime() < bad[1]:
            started = (m.to_pydatetime() - bad[0]).total_seconds() / 60
            snaps.append((m, f"example.com/lib{inject}.(*Watcher).run", int(6 * started + rng.poisson(3))))
    goroutines = pd.DataFrame(snaps, columns=["ts", "site", "count"]).assign(service="api")
    empty = pd.DataFrame(columns=["ts", "service"])
    return Evidence(deploys, changes, panics, empty, log_counts, latencies, goroutines, empty)


def test_injected_regressions_are_found_and_blamed():
    found = 0
    for seed in range(12):
        inject = 1 + seed % (DEPLOYS - 1)
        df = correlate(synthetic(seed, inject))
        top = df.iloc[0]
        if top["significant"] and top["version"] == f"v1.{inject}.0" and \
                top["suspect_modules"] == [f"example.com/lib{inject}"]:
            found += 1
        assert f"example.com/lib{inject}.(*Watcher).run goroutines 0 → " in top["verdict"]
    assert found >= 11, found


def test_steady_services_are_rarely_flagged():
    flagged = tested = 0
    for seed in range(100, 130):
        df = correlate(synthetic(seed, None))
        tested += len(df)
        flagged += int(df["significant"].sum())
    assert tested == 30 * DEPLOYS and flagged / tested < 0.05, (flagged, tested)
