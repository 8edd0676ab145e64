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
#
# Three services over about seven hours, each release run by two instances
# that roll (the new ones start 0 and 2 minutes after the deploy, the old
# ones stop 1 and 3 minutes after it). api deploys five times, each release
# upgrading one module (the last is a rollback); web calls api (its latency
# includes api's) and deploys once, harmlessly; pay deploys once with three
# minutes of errors from its new pods while they warm up (a rollout blip).
# With `inject` = k, api's release k brings example.com/lib{k}@v1.1.0, whose
# watchers leak slowly in every instance that runs it (later releases keep
# it) and slow each request by the pile, and which crashes an instance once
# it is an hour old: the crashes and most of the latency come after the
# harmless later deploys.

T0 = datetime(2026, 3, 14, 0, 0)
API = [0, 60, 150, 240, 330]  # deploy minutes
END = 420


def _rollout(service, versions, starts, rng, rows, inject_module=None):
    """Instances of each release of a service: (service, instance, version, start, end, release index)."""
    out = []
    for j, (version, t) in enumerate(zip(versions, starts)):
        nxt = starts[j + 1] if j + 1 < len(starts) else END
        for i in range(2):
            out.append((service, f"{service}-{version}-{j}-{i}", version, t + 2 * i, min(nxt + 1 + 2 * i, END), j))
    return out


def synthetic(seed: int, inject: int | None) -> Evidence:
    rng = np.random.default_rng(seed)
    minute = lambda m: T0 + timedelta(minutes=float(m))  # noqa: E731
    api_versions = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.0.0"]
    libs = {j: f"example.com/lib{j}" for j in range(1, 4)}
    deploys = [(minute(t), "api", v, api_versions[j - 1] if j else None) for j, (t, v) in
               enumerate(zip(API, api_versions))]
    web_at, pay_at = int(rng.integers(200, 280)), int(rng.integers(90, 300))
    deploys += [(minute(0), "web", "v2.0.0", None), (minute(web_at), "web", "v2.1.0", "v2.0.0"),
                (minute(0), "pay", "v3.0.0", None), (minute(pay_at), "pay", "v3.1.0", "v3.0.0")]
    deploys = pd.DataFrame(deploys, columns=["ts", "service", "version", "previous_version"])
    modules, changes = [], []
    for j, v in enumerate(api_versions[:4]):
        for k, lib in libs.items():
            modules.append(("api", v, lib, "v1.1.0" if 0 < k <= j else "v1.0.0"))
        if j:
            changes.append((minute(API[j]), "api", "module", libs[j], "v1.0.0", "v1.1.0"))
    for k, lib in libs.items():
        changes.append((minute(API[4]), "api", "module", lib, "v1.1.0", "v1.0.0"))
    modules = pd.DataFrame(modules, columns=["service", "version", "module", "module_version"])
    changes = pd.DataFrame(changes, columns=["ts", "service", "kind", "module", "from_version", "to_version"])

    instances = _rollout("api", api_versions, API, rng, None) + _rollout("web", ["v2.0.0", "v2.1.0"], [0, web_at], rng, None) \
        + _rollout("pay", ["v3.0.0", "v3.1.0"], [0, pay_at], rng, None)
    panics, logs, lat, snaps, calls = [], [], [], [], []
    api_slow = {}  # minute -> extra ms of api requests (mean over its instances)
    for service, inst, version, start, end, j in instances:
        bad = inject is not None and service == "api" and inject <= j <= 3
        lib = libs.get(inject) if bad else None
        for m in range(start, end):
            age = m - start
            leaked = 6 * age if bad else 0
            extra = 0.004 * leaked
            if service == "api":
                api_slow.setdefault(m, []).append(extra)
            total = int(rng.poisson(300))
            p_err = 0.3 if service == "pay" and j == 1 and m - start < 3 else 0.01
            logs.append((minute(m), service, inst, version, int(rng.binomial(total, p_err)), total))
            for _ in range(int(rng.poisson(1 / 120))):
                panics.append((minute(m + rng.random()), service, inst, version, f"old-{service}", "index out of range",
                               "main.parse", ["main.parse", "main.handler"], [None, None]))
            if bad and age >= 60:
                for _ in range(int(rng.poisson(0.15))):
                    panics.append((minute(m + rng.random()), service, inst, version, "keepalive",
                                   "nil pointer dereference", f"{lib}.(*lessor).recvKeepAlive",
                                   [f"{lib}.(*lessor).recvKeepAlive", "main.handler"], [f"{lib}@v1.1.0", None]))
            if service != "web":
                ms = rng.lognormal(2.5, 0.4, 10) * (1 + extra)
                lat += [(minute(m + k / 10), service, inst, version, x, "spans") for k, x in enumerate(ms)]
            if m % 10 == start % 10 and service == "api":
                snaps.append((minute(m), service, inst, version, "main.serve", int(rng.poisson(50)), [None]))
                if bad:
                    snaps.append((minute(m), service, inst, version, f"{lib}.(*Watcher).run",
                                  int(leaked + rng.poisson(3)), [f"{lib}@v1.1.0"]))
    # web: its own work plus a call to api, as long as api's requests then.
    for service, inst, version, start, end, j in instances:
        if service != "web":
            continue
        for m in range(start, end):
            own = rng.lognormal(2.0, 0.3, 10)
            callee = rng.lognormal(2.5, 0.4, 10) * (1 + float(np.mean(api_slow.get(m, [0.0]))))
            for k in range(10):
                calls.append((minute(m + k / 10), "web", version, own[k] + callee[k], "api", callee[k]))
                lat.append((minute(m + k / 10), "web", inst, version, own[k] + callee[k], "spans"))
    cols = ["ts", "service", "instance", "version"]
    return Evidence(
        deploys, changes,
        panics=pd.DataFrame(panics, columns=cols + ["signature", "message", "top_function", "functions", "modules"]),
        restarts=pd.DataFrame(columns=cols),
        log_counts=pd.DataFrame(logs, columns=cols + ["errors", "total"]),
        latencies=pd.DataFrame(lat, columns=cols + ["ms", "origin"]),
        goroutines=pd.DataFrame(snaps, columns=cols + ["site", "count", "modules"]),
        modules=modules,
        instances=pd.DataFrame([(s, i, v, minute(a), minute(b)) for s, i, v, a, b, _ in instances],
                               columns=["service", "instance", "version", "started", "ended"]),
        calls=pd.DataFrame(calls, columns=["ts", "service", "version", "ms", "callee", "callee_ms"]))


RUNS = 20


def test_injected_regressions_are_blamed_on_the_deploy_that_brought_the_code():
    found, runs = 0, []
    for seed in range(RUNS):
        inject = 1 + seed % 3
        df = correlate(synthetic(seed, inject))
        top = df.iloc[0]
        ok = (top["service"], top["version"], bool(top["significant"]), top["suspect_modules"]) == \
            ("api", f"v1.{inject}.0", True, [f"example.com/lib{inject}"])
        found += ok
        runs.append((seed, inject, ok))
        # later api deploys, the web deploy (its latency comes from api) and pay's blip are cleared
        assert not df.iloc[1:]["significant"].any() or not ok, df[["service", "version", "verdict"]].to_string()
        if ok:
            onset = datetime.fromisoformat(top["onset"].rsplit(" ", 1)[1])
            assert top["ts"] <= onset <= top["ts"] + timedelta(minutes=15), top["onset"]
    assert found >= 0.95 * RUNS, runs


def test_decoys_say_why_they_were_cleared():
    df = correlate(synthetic(3, 1))
    by = {(r.service, r.version, r.previous_version): r for r in df.itertuples(index=False)}
    later = by[("api", "v1.2.0", "v1.1.0")]
    assert not later.significant and any("example.com/lib1@v1.1.0, which came with v1.1.0" in c for c in later.cleared)
    web = by[("web", "v2.1.0", "v2.0.0")]
    assert not web.significant
    pay = by[("pay", "v3.1.0", "v3.0.0")]
    assert not pay.significant and any("rollout blip" in c for c in pay.cleared), pay.verdict


def test_steady_services_are_rarely_flagged():
    flagged = tested = 0
    for seed in range(100, 100 + RUNS):
        df = correlate(synthetic(seed, None))
        tested += int(df["previous_version"].notna().sum())
        flagged += int(df["significant"].sum())
    assert tested == RUNS * 6 and flagged / tested <= 0.05, (flagged, tested)
