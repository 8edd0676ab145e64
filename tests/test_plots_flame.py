"""The differential flame graph (SVG) and the trace waterfall, on hand-made
stacks and on real profiles and spans ingested from sample_logs."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from matplotlib.patches import Rectangle

import forensics as fx
from forensics.db.store import Store
from forensics.plots.flame import FlameGraph, flame_svg, plot_flame
from forensics.plots.waterfall import plot_waterfall

from conftest import SAMPLES

SVG = "{http://www.w3.org/2000/svg}"
NEUTRAL = "#e2ddd0"
ORDERS = SAMPLES / "incident" / "bundle" / "profiles"
NEW, OLD = {"service": "svc", "version": "new"}, {"service": "svc", "version": "old"}
ETCD = {"kind": "cpu", "service": "orders", "version": "v2.5.0"}
NO_ETCD = {"kind": "cpu", "service": "orders", "version": "v2.4.0"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """cpu profiles of both toolchains, one cpu profile of orders before and
    after the etcd client upgrade, and OTLP spans: what the figures read."""
    db = fx.open(tmp_path_factory.mktemp("plots") / "x.duckdb")
    db.ingest(SAMPLES / "go1.27.3" / "profiles" / "cpu.pb.gz", service="svc", version="new")
    db.ingest(SAMPLES / "go1.19.8" / "profiles" / "cpu.pb.gz", service="svc", version="old")
    db.ingest(ORDERS / "orders-5cf4b974d7-d9wfp" / "cpu-20261122T020502Z.pb.gz", service="orders", version="v2.4.0")
    db.ingest(ORDERS / "orders-66b68b8b88-ckcwg" / "cpu-20261122T030743Z.pb.gz", service="orders", version="v2.5.0")
    db.ingest(sorted((SAMPLES / "spans" / "otlp").glob("*.jsonl")))
    yield db.store
    db.close()


def frames(svg: str) -> list[dict]:
    """Every frame of the SVG: name (first tooltip line), tooltip, x, y, w, fill, label."""
    out = []
    for g in ET.fromstring(svg.encode()).iter(SVG + "g"):
        if g.get("class") != "fxflame-f":
            continue
        rect, text, tip = g.find(SVG + "rect"), g.find(SVG + "text"), g.find(SVG + "title").text
        out.append({"name": tip.split("\n")[0], "tip": tip, "x": float(rect.get("x")), "y": float(rect.get("y")),
                    "w": float(rect.get("width")), "fill": rect.get("fill"),
                    "label": text.text if text is not None else None})
    return out


def hue(fill: str) -> str:
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    if fill == NEUTRAL:
        return "neutral"
    return "red" if r > b + 20 else "blue" if b > r + 20 else "other"


def header(svg: str) -> str:
    """The header's text (everything outside the frames)."""
    root = ET.fromstring(svg.encode())
    inside = {id(t) for g in root.iter(SVG + "g") if g.get("class") == "fxflame-f" for t in g.iter()}
    return " ".join(t.text or "" for t in root.iter(SVG + "text") if id(t) not in inside)


# --- the SVG builder on hand-made stacks ---------------------------------------

A, B, C = ("main", "a"), ("main", "b"), ("main", "c")


@pytest.mark.parametrize("stacks, base, expected", [
    # the same profile: nothing changed
    ([(A, 5), (B, 5)], [(A, 5), (B, 5)], {"all": "neutral", "main": "neutral", "a": "neutral", "b": "neutral"}),
    # a base ten times longer in the same proportions: shares compare, so still nothing changed
    ([(A, 1), (B, 3)], [(A, 10), (B, 30)], {"a": "neutral", "b": "neutral"}),
    # a went from 20% to 80% of the samples, b the other way
    ([(A, 8), (B, 2)], [(A, 2), (B, 8)], {"main": "neutral", "a": "red", "b": "blue"}),
    # c is new (red); b vanished (not drawn); a and main kept their shares
    ([(A, 1), (C, 1)], [(A, 1), (B, 1)], {"main": "neutral", "a": "neutral", "c": "red", "b": None}),
    # a sample with no stack is the root's own: main's share shrank
    ([(A, 1), ((), 1)], [(A, 1)], {"all": "neutral", "main": "blue", "a": "blue"}),
])
def test_frames_grow_red_and_shrink_blue(stacks, base, expected):
    drawn = {f["name"]: hue(f["fill"]) for f in frames(flame_svg(stacks, base))}
    assert {name: drawn.get(name) for name in expected} == expected


@pytest.mark.parametrize("stacks, widths", [
    # (name, share of the plot width) per frame; merged by path, siblings in name order
    ([(("m", "x"), 1), (("m", "y"), 3)], {"all": 1, "m": 1, "x": 0.25, "y": 0.75}),
    ([(("m", "x"), 1), (("m", "x"), 1), (("n",), 2)], {"all": 1, "m": 0.5, "x": 0.5, "n": 0.5}),
    ([(("m", "m", "m"), 2)], {"all": 1, "m": 1}),  # recursion: three frames, one per level
])
def test_widths_are_shares_and_children_fit_their_parent(stacks, widths):
    drawn = frames(flame_svg(stacks, width=1020))
    plot_w = 1000
    for f in drawn:
        assert f["w"] == pytest.approx(widths[f["name"]] * plot_w, abs=0.01), f
    assert_nested(drawn)


def assert_nested(drawn: list[dict]) -> None:
    """The root is the widest; each frame lies under one frame a row up, and
    the frames under one parent are never wider than it."""
    root = min(drawn, key=lambda f: f["y"])
    assert all(f["w"] <= root["w"] + 0.01 for f in drawn)
    rows = sorted({f["y"] for f in drawn})
    for upper, lower in zip(rows, rows[1:]):
        for parent in (f for f in drawn if f["y"] == upper):
            kids = [f for f in drawn if f["y"] == lower and parent["x"] - 0.01 <= f["x"] < parent["x"] + parent["w"]]
            assert all(k["x"] + k["w"] <= parent["x"] + parent["w"] + 0.02 for k in kids)
            assert sum(k["w"] for k in kids) <= parent["w"] + 0.02 * max(len(kids), 1)
        for f in (f for f in drawn if f["y"] == lower):
            assert any(p["y"] == upper and p["x"] - 0.01 <= f["x"] and f["x"] + f["w"] <= p["x"] + p["w"] + 0.02
                       for p in drawn), f


def test_hostile_function_names_are_escaped():
    evil = '<script>alert("x")</script>&amp;\'\x01'
    svg = flame_svg([(("main", evil), 1)], [(("main", evil), 2), (("main", "ok"), 1)],
                    subtitle=f"service {evil}", modules={evil: "example.com/<m>@v1"}, width=1100)
    root = ET.fromstring(svg.encode())  # well-formed, control character and all
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "a", "image", "foreignObject")]
    assert "<script" not in svg and "&lt;script&gt;" in svg
    (frame,) = [f for f in frames(svg) if "alert" in f["name"]]
    assert frame["name"] == evil.replace("\x01", "\ufffd")  # the XML parser gives back the text as it was
    assert "module example.com/<m>@v1" in frame["tip"]
    assert "service <script>" in root.find(SVG + "desc").text


def test_labels_fit_their_frame_and_are_cut_with_an_ellipsis():
    name = "github.com/acme/averylongpackagename/subpackage.(*Handler).ServeSomethingLong"
    drawn = {f["name"]: f for f in frames(flame_svg([(("main", name), 1), (("main", "x"), 2)], width=420))}
    cut = drawn[name]["label"]
    assert cut.endswith("…") and cut.startswith("subpackage.")  # the package path goes first
    assert len(cut) * 6.7 <= drawn[name]["w"]
    assert drawn["main"]["label"] == "main" and drawn["all"]["label"] == "all"


def test_narrow_frames_are_dropped_and_counted():
    stacks = [(("main", f"f{i:04d}"), 1) for i in range(5000)] + [(("main", "big"), 5000)]
    svg = flame_svg(stacks, width=1100, min_width_px=0.5)
    drawn = frames(svg)
    assert [f["name"] for f in drawn] == ["all", "main", "big"]
    assert "5000 frames narrower than 0.5 px not drawn" in header(svg)
    # Even with no threshold, a row holds at most ten frames per pixel.
    assert len(frames(flame_svg(stacks * 3, width=400, min_width_px=0))) == 3


def test_without_base_no_legend_and_warm_colours():
    svg = flame_svg([(A, 1), (B, 2)], unit="nanoseconds")
    assert "shrank" not in header(svg) and "Flame graph" in header(svg)
    fills = {f["name"]: f["fill"] for f in frames(svg)}
    assert all(int(fills[n][1:3], 16) >= 205 for n in ("main", "a", "b"))  # red-orange-yellow
    assert "3ns" in header(svg)


def test_no_samples_draws_a_message():
    svg = flame_svg([])
    assert "no samples" in " ".join(t.text for t in ET.fromstring(svg.encode()).iter(SVG + "text"))


# --- on real profiles --------------------------------------------------------------

def test_real_profile_svg_is_well_formed_and_nested(store):
    g = plot_flame(store, NEW, base=OLD)
    drawn = frames(g.svg)
    assert len(drawn) == g.info["frames"] > 10
    assert_nested(drawn)
    root = drawn[0]
    assert root["name"] == "all" and root["w"] == pytest.approx(1100 - 20)
    assert g.info["total"] == store.query(
        "SELECT sum(values[2]) FROM profile_samples JOIN profiles p USING (profile_id) WHERE p.version = 'new'"
    ).fetchall()[0][0]
    text = header(g.svg)
    assert "cpu profile, sample type cpu (nanoseconds)" in text and "svc new (1 profile) vs base svc old (1 profile)" in text
    assert "30ms" in text and "90ms" in text


def test_a_profile_against_itself_is_all_neutral(store):
    fills = {f["fill"] for f in frames(plot_flame(store, NEW, base=NEW).svg)}
    assert fills == {NEUTRAL}


def test_two_toolchains_differ_in_both_directions(store):
    hues = {hue(f["fill"]) for f in frames(plot_flame(store, NEW, base=OLD).svg)}
    assert {"red", "blue", "neutral"} <= hues


def test_the_etcd_upgrade_is_red_and_what_it_pushed_aside_is_blue(store):
    g = plot_flame(store, ETCD, base=NO_ETCD)
    drawn = {f["name"]: f for f in frames(g.svg)}
    notify = drawn["go.etcd.io/etcd/client/v3.(*Client).progressNotify"]
    assert hue(notify["fill"]) == "red" and notify["w"] > 200
    assert "module go.etcd.io/etcd/client/v3@v3.5.9" in notify["tip"] and "change +" in notify["tip"]
    assert hue(drawn["crypto/sha256.block"]["fill"]) == "blue"


def test_output_is_deterministic_and_saves(store, tmp_path):
    a, b = plot_flame(store, ETCD, base=NO_ETCD), plot_flame(store, ETCD, base=NO_ETCD)
    assert a.svg == b.svg and a._repr_svg_() == a.svg
    path = a.save(tmp_path / "flame.svg")
    assert path.read_text(encoding="utf-8") == a.svg
    assert "<script" not in a.svg and "href" not in a.svg and "@import" not in a.svg


@pytest.mark.parametrize("profile, base, says", [
    ({"kind": "heap"}, None, "all heap profiles: no matching profile"),
    ({"service": "nobody"}, None, "nobody: no matching profile"),
    (NEW, {"service": "nobody"}, "base nobody: no matching profile"),
])
def test_empty_selections_say_so(store, profile, base, says):
    g = plot_flame(store, profile, base=base)
    assert isinstance(g, FlameGraph)
    assert says in " ".join(t.text or "" for t in ET.fromstring(g.svg.encode()).iter(SVG + "text"))


def test_a_bad_selector_raises(store):
    with pytest.raises(ValueError, match="unknown profile filter"):
        plot_flame(store, {"colour": "red"})


# --- the waterfall -------------------------------------------------------------------

def bars(fig) -> list[Rectangle]:
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def test_waterfall_of_the_slowest_trace(store):
    slowest = store.query("SELECT trace_id, count(*) FROM spans GROUP BY ALL ORDER BY "
                          "max(duration_ns) FILTER (WHERE parent_span_id IS NULL) DESC LIMIT 1").fetchall()[0]
    fig = plot_waterfall(store)
    ax = fig.axes[0]
    assert len(bars(fig)) == slowest[1]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    root = store.query("SELECT service, name FROM spans WHERE trace_id = ? AND parent_span_id IS NULL",
                       [slowest[0]]).fetchall()[0]
    assert ticks[0] == f"{root[0]}: {root[1]}" and any(t.startswith("└ ") for t in ticks)
    title = ax.get_title(loc="left")
    assert slowest[0][:12] in title and root[1] in title and f"{len(ticks)} spans" in title
    assert ax.get_xlabel() == "ms since trace start"
    assert min(b.get_x() for b in bars(fig)) == 0
    fig.savefig(io.BytesIO(), format="png")


def test_waterfall_marks_errors_and_names_services(store):
    trace = store.query("SELECT trace_id, count(*), count(*) FILTER (WHERE status_code = 'error') AS e, "
                        "count(DISTINCT service) FROM spans GROUP BY ALL ORDER BY e DESC, trace_id LIMIT 1"
                        ).fetchall()[0]
    fig = plot_waterfall(store, trace[0])
    assert len(bars(fig)) == trace[1]
    assert sum(b.get_hatch() is not None for b in bars(fig)) == trace[2] > 0
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == trace[3] + 1 and legend[-1] == "error"


def test_waterfall_escapes_dollars_and_draws_empty(tmp_path):
    db = fx.open(tmp_path / "w.duckdb")
    assert plot_waterfall(db.store).axes[0].texts[0].get_text() == "no spans in this incident"
    db.store.query("INSERT INTO spans (source_id, trace_id, span_id, parent_span_id, service, name, start_ns, "
                   "duration_ns, status_code) VALUES (1, 'ab', '01', NULL, 'pay$', 'charge $x$ \\frac{', 0, 5000000, "
                   "'error'), (1, 'ab', '02', '01', 'pay$', 'db', 1000000, NULL, 'ok')")
    fig = plot_waterfall(db.store)
    assert len(bars(fig)) == 2
    fig.savefig(io.BytesIO(), format="png")  # mathtext would fail on the $
    assert "\\$" in fig.axes[0].get_yticklabels()[0].get_text()
    assert plot_waterfall(Store(), "ff").axes[0].texts[0].get_text() == "no spans in trace ff"
    db.close()
