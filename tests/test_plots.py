"""The summarised timeline and the figures on incidents of other shapes than
the sample: a crash with no release, a data race and nothing else, only
profiles, a short window; every figure in the shared look (labelled axes,
UTC, a legend under the axes) and safe with mathtext in untrusted names."""
from __future__ import annotations

import io

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

import forensics as fx
from forensics.analysis.timeline import REPEATS, summarise
from forensics.plots import style
from forensics.report import build

from conftest import SAMPLES

PANIC = SAMPLES / "go1.27.3" / "default" / "panic-string.txt"
RACE = SAMPLES / "go1.27.3" / "race" / "race.txt"


def drawn(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return imread(io.BytesIO(buf.getvalue()))[..., :3]


@pytest.fixture(scope="module")
def incident(incident_database):
    db = fx.open(incident_database, read_only=True)
    yield db
    db.close()


def test_the_default_timeline_summarises_what_every_row_lists(incident):
    every = incident.timeline(every_row=True)
    shown = incident.timeline()
    view = incident.sql("SELECT count(*) FROM timeline").fetchall()[0][0]
    assert len(every) == view + (every["kind"] == "onset").sum()  # every row of the view, and the onsets
    assert len(shown) < len(every) / 4
    assert not ((shown["kind"] == "k8s") & (shown["severity"] == "info")).any()  # routine events out
    # every deploy, upgrade, crash and restart is still a row of its own
    for kind in ("deploy", "upgrade", "panic", "restart"):
        assert (shown["kind"] == kind).sum() == (every["kind"] == kind).sum(), kind
    # snapshots: a row per service, release and bucket, counting the snapshots it stands for
    snaps = shown[shown["kind"] == "goroutines"]
    assert snaps["count"].sum() == (every["kind"] == "goroutines").sum()
    assert snaps["summary"].str.match(r"^\d+ goroutine snapshots? (of \S+ )?.*: [\d,]+( to [\d,]+)? goroutines$").all()
    # error minutes merged into bursts: no error log lost
    assert shown.loc[shown["kind"] == "errors", "count"].sum() == every.loc[every["kind"] == "errors", "count"].sum()
    assert shown["signature"].notna().sum() >= 1 and not shown["summary"].str.contains(r"\[[0-9a-f]{16}\]").any()
    assert shown["ts"].is_monotonic_increasing


def test_repeats_in_one_bucket_become_one_row():
    t0 = pd.Timestamp("2026-01-01 00:00:00")
    restarts = [dict(ts=t0 + pd.Timedelta(seconds=5 * i), kind="restart", service="api", version="v1",
                     pod="api-1", severity="error", summary=f"restart {i + 1} of api-1/api after a crash: boom",
                     signature=None, count=1, until=pd.NaT, ref_table="log_files", ref_id=str(i))
                for i in range(REPEATS + 3)]
    other = dict(restarts[0], pod="api-2", summary="restart 1 of api-2/api after a crash: boom", ts=t0)
    rows = summarise(pd.DataFrame(restarts + [other]))
    assert len(rows) == 2
    merged = rows[rows["pod"] == "api-1"].iloc[0]
    assert merged["count"] == REPEATS + 3 and merged["summary"].startswith(f"{REPEATS + 3}× restart")
    assert merged["until"] == restarts[-1]["ts"]


def test_a_crash_with_no_release_draws_and_reports(tmp_path):
    db = fx.open(tmp_path / "a.duckdb")
    db.ingest(PANIC, service="api")  # no version: the release is unknown
    fig = db.plot_crashes()
    assert not style.is_empty(fig) and drawn(fig).std() > 0.05
    data = build(db.store)
    assert data.culprit is None and "crashes" in {f.key for f in data.figures}
    assert "1 crash;" in dict(data.summary.lines)["What happened"]


def test_a_data_race_is_no_crash(tmp_path):
    db = fx.open(tmp_path / "r.duckdb")
    db.ingest(RACE, service="api", version="v1")
    assert style.is_empty(db.plot_crashes())
    data = build(db.store)
    assert "crashes" not in {f.key for f in data.figures} and data.crashes == []


def test_profiles_alone_give_a_timeline_and_a_report(tmp_path):
    db = fx.open(tmp_path / "p.duckdb")
    db.ingest(SAMPLES / "go1.27.3" / "profiles", service="api", version="v1")
    tl = db.timeline()
    assert set(tl["kind"]) == {"profile", "goroutines"}  # goroutine profiles are snapshots too
    assert tl["count"].sum() == len(db.timeline(every_row=True))
    html = db.report()
    assert "no root cause is named" in html


def test_a_window_cuts_every_figure_to_it(incident):
    since, until = "2026-11-22T02:00:00Z", "2026-11-22T02:30:00Z"
    for fig in (incident.plot_latency(since=since, until=until), incident.plot_goroutines(since=since, until=until),
                incident.plot_crashes(since, until), incident.plot_timeline(since, until)):
        if style.is_empty(fig):
            continue
        ax = fig.axes[-1]
        lo, hi = (pd.Timestamp(mdates.num2date(x)).tz_localize(None) for x in ax.get_xlim())
        assert lo >= pd.Timestamp("2026-11-22 01:55") and hi <= pd.Timestamp("2026-11-22 02:35"), (lo, hi)


def test_every_figure_has_its_axes_labelled_and_its_legend_below(incident):
    figures = {"timeline": incident.plot_timeline(), "goroutines": incident.plot_goroutines(),
               "latency": incident.plot_latency(["orders", "checkout"]), "crashes": incident.plot_crashes(),
               "waterfall": incident.plot_waterfall(), "states": incident.plot_goroutine_states()}
    for name, fig in figures.items():
        bottom = fig.axes[-1]
        assert bottom.get_xlabel(), name
        if name != "states":
            assert all(ax.get_ylabel() or ax.get_yticklabels() for ax in fig.axes), name
        if name in ("timeline", "goroutines", "latency", "crashes"):
            assert bottom.get_xlabel() == "time (UTC)", name
            assert fig.legends, name  # one legend for the figure, under its axes
        pixels = drawn(fig)
        assert pixels.std() > 0.05, name
    goroutines = figures["goroutines"]
    assert "created by go.etcd.io/etcd/client/v3.(*Client).Watch (leaking)" in [t.get_text() for t in
                                                                                 goroutines.legends[0].texts]
    assert [ax.get_title(loc="left") for ax in figures["latency"].axes][:2] == ["orders (server spans)",
                                                                              "checkout (server spans)"]


def test_mathtext_in_untrusted_names_draws(tmp_path):
    db = fx.open(tmp_path / "m.duckdb")
    db.ingest(PANIC, service="a$\\frac{$b", version="v$1")
    for fig in (db.plot_crashes(), db.plot_timeline()):
        drawn(fig)  # no mathtext parse error
    assert "\\$" in style.label("a$b")
