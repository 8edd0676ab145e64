"""Trace JSON: OTLP (opentelemetry-sdk's file exporter), Zipkin (py_zipkin),
go tool trace's /jsontrace (Go 1.19 and 1.27), and the shared corpus."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta

import pytest

import forensics as fx

from conftest import SAMPLES, SHARED

OTLP = sorted((SAMPLES / "spans" / "otlp").glob("*.jsonl"))
ZIPKIN = sorted((SAMPLES / "spans" / "zipkin").glob("*.json"))
GO_TRACES = sorted(SAMPLES.glob("go1.*/trace/trace.json.gz"))


def test_otlp_from_the_sdk_file_exporter(db):
    summary = db.ingest(OTLP)
    assert [r.kind for r in summary.results] == ["otlp", "otlp"] and not summary.problems
    by_service = dict(db.sql("SELECT service, count(*) FROM spans GROUP BY ALL").fetchall())
    assert by_service == {"checkout": 120, "inventory": 40}
    # The inventory server span's parent is checkout's client span: the trace crosses services.
    crossing = db.sql("""
        SELECT count(*) FROM spans c JOIN spans i ON i.trace_id = c.trace_id AND i.parent_span_id = c.span_id
        WHERE c.service = 'checkout' AND c.kind = 'client' AND i.service = 'inventory' AND i.kind = 'server'
    """).fetchall()
    assert crossing == [(40,)]
    roots = db.sql("SELECT count(*), count(DISTINCT trace_id) FROM spans WHERE parent_span_id IS NULL").fetchall()
    assert roots == [(40, 40)]
    # Attribute types survive: int, float, bool, string array; resource attributes too.
    types = db.sql("""
        SELECT json_type(attributes, '$."cart.items"'), json_type(attributes, '$."cart.value"'),
               json_type(attributes, '$.retry'), json_type(attributes, '$."feature.flags"'),
               resource->>'$."service.version"'
        FROM spans WHERE name = 'GET /cart' LIMIT 1""").fetchall()
    assert types == [("UBIGINT", "DOUBLE", "BOOLEAN", "ARRAY", "v1.9.0")]
    errors = db.sql("SELECT status_code, status_message, count(*) FROM spans WHERE status_code = 'error' "
                    "GROUP BY ALL ORDER BY ALL").fetchall()
    assert ("error", "reservation failed", 3) in errors and ("error", "upstream error", 3) in errors
    events = dict(db.sql("SELECT name, count(*) FROM span_events GROUP BY ALL").fetchall())
    assert events["exception"] == 3 and events["stock.low"] >= 4
    links = db.sql("SELECT count(*) FROM span_links l JOIN spans s ON s.trace_id = l.linked_trace_id "
                   "AND s.span_id = l.linked_span_id WHERE l.kind = 'link'").fetchall()
    assert links[0][0] >= 3  # retries link to the request before them
    # Times are absolute and nanosecond-exact.
    span = db.sql("SELECT start_ts, start_ns, duration_ns FROM spans LIMIT 1").fetchall()[0]
    assert span[0].year >= 2026 and span[2] > 0
    assert span[1] // 1000 == (span[0] - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def test_zipkin_from_py_zipkin(db):
    summary = db.ingest(ZIPKIN)
    assert {r.kind for r in summary.results} == {"zipkin"} and not summary.problems
    rows = db.sql("SELECT kind, count(*), count(parent_span_id) FROM spans GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("client", 6, 6), ("server", 6, 0)]
    assert db.sql("SELECT status_code, status_message FROM spans WHERE status_code = 'error'").fetchall() == [
        ("error", "lease keep-alive timed out")]
    assert db.sql("SELECT count(*) FROM span_events WHERE name = 'reserved'").fetchall() == [(6,)]
    assert db.sql("SELECT min(length(trace_id)) FROM spans").fetchall() == [(32,)]


@pytest.mark.parametrize("path", GO_TRACES, ids=lambda p: p.parent.parent.name)
def test_go_tool_trace_json(path, db):
    r = db.ingest(path, ts="2026-03-14T11:00:00Z").results[0]
    assert (r.status, r.kind) == ("ok", "chrome_trace"), r.error
    doc = json.loads(gzip.decompress(path.read_bytes()))
    events = doc["traceEvents"]
    files = db.sql("SELECT anchor, ts_source, container, complete, events FROM trace_files").fetchall()
    assert files == [(datetime(2026, 3, 14, 11, 0), "argument", "object", True, len(events))]
    counters = {(n, s) for n, s in db.sql("SELECT DISTINCT name, series FROM trace_counters").fetchall()}
    assert {("Goroutines", "Running"), ("Heap", "Allocated"), ("Threads", "Running")} <= counters
    n_counter_values = sum(len(e["args"]) for e in events if e["ph"] == "C")
    assert db.sql("SELECT count(*) FROM trace_counters").fetchall() == [(n_counter_values,)]
    workers = db.sql("SELECT count(*), sum(dur_ns) FROM trace_events WHERE ph = 'X' "
                     "AND regexp_matches(name, '^G[0-9]+ main\\.worker$')").fetchall()[0]
    assert workers[0] > 0 and workers[1] > 0
    first = db.sql("SELECT min(ts) FROM trace_events WHERE ts_us IS NOT NULL").fetchall()[0][0]
    assert datetime(2026, 3, 14, 11, 0) <= first < datetime(2026, 3, 14, 11, 1)
    # Flows: every s/t pair of the same id is one edge, bound to the goroutine slice it wakes.
    pairs = {}
    for e in events:
        if e["ph"] in ("s", "t"):
            pairs.setdefault(e["id"], {})[e["ph"]] = e
    edges = db.sql("SELECT CAST(id AS BIGINT), name, latency_ns, to_slice FROM trace_flows").fetchall()
    assert len(edges) == sum(1 for p in pairs.values() if len(p) == 2)
    for ident, name, latency, to_slice in edges:
        s, t = pairs[ident]["s"], pairs[ident]["t"]
        assert name == s["name"] and latency == round((t["ts"] - s["ts"]) * 1000)
    woken = {to for *_, to in edges if to}
    assert any(w.endswith(" main.worker") for w in woken), woken


def test_a_cut_trace_keeps_every_complete_event(tmp_path, db):
    data = gzip.decompress(GO_TRACES[-1].read_bytes())
    full = json.loads(data)["traceEvents"]
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: len(data) // 3])
    r = db.ingest(cut).results[0]
    assert r.status == "partial" and "ends before its event array" in r.error
    read = db.sql("SELECT events, complete FROM trace_files").fetchall()[0]
    assert 0 < read[0] < len(full) and read[1] is False


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/conformance not present")
@pytest.mark.parametrize("pair", [
    "jaeger/jaeger-ui/packages/jaeger-ui/src/utils/fixtures/otlp2jaeger",
    "jaeger/jaeger/cmd/jaeger/internal/extension/jaegerquery/internal/fixture/otlp2jaeger",
], ids=["jaeger-ui", "jaeger"])
def test_otlp_and_its_jaeger_conversion_give_the_same_spans(tmp_path, pair):
    columns = "trace_id, span_id, parent_span_id, service, name, start_ns, duration_ns, kind"
    seen = []
    for side in ("in", "out"):
        db = fx.open(tmp_path / f"{side}.duckdb")
        r = db.ingest(SHARED / f"{pair}-{side}.json").results[0]
        assert r.status == "ok", r
        seen.append(db.sql(f"SELECT {columns} FROM spans ORDER BY span_id").fetchall())
    assert seen[0] == seen[1] and seen[0]


JAEGER_FIXTURES = "jaeger/jaeger/internal/uimodel/converter/v1/json/fixtures"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/conformance not present")
@pytest.mark.parametrize("a, b", [("domain_01", "ui_01"), ("es_01", "domain_es_01")])
def test_every_jaeger_encoding_gives_the_same_rows(tmp_path, a, b):
    """Jaeger's own converter fixtures: the jsonpb domain model (base64 ids,
    RFC 3339 times, Go durations, vType tags), the UI JSON and the
    Elasticsearch document of one trace give the same spans, events and links."""
    queries = [
        # The UI keeps microseconds; the domain model has nanoseconds, which are kept.
        "SELECT trace_id, span_id, parent_span_id, service, name, start_ns // 1000, duration_ns, status_code, "
        "attributes, resource FROM spans ORDER BY ALL",
        "SELECT trace_id, span_id, date_trunc('microsecond', ts), name, attributes FROM span_events ORDER BY ALL",
        "SELECT trace_id, span_id, linked_trace_id, linked_span_id, kind FROM span_links ORDER BY ALL",
    ]
    seen = []
    for name in (a, b):
        db = fx.open(tmp_path / f"{name}.duckdb")
        r = db.ingest(SHARED / JAEGER_FIXTURES / f"{name}.json").results[0]
        assert (r.status, r.kind) == ("ok", "jaeger"), r
        seen.append([db.sql(q).fetchall() for q in queries])
    assert seen[0] == seen[1]
    spans, events, links = seen[0]
    assert spans and links and any(s[8] for s in spans)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/conformance not present")
def test_chrome_corpus_phases(tmp_path):
    """catapult / speedscope / perfetto traces: B/E matched, unterminated arrays read to the last event."""
    db = fx.open(tmp_path / "c.duckdb")
    chrome = SHARED / "chrome"
    summary = db.ingest([p for p in chrome.rglob("*") if p.is_file()])
    partial = sorted(r.path.rsplit("/", 1)[-1] for r in summary.results if r.status == "partial")
    assert partial == ["simple-partial-trailing-comma.json", "simple-partial-whitespace.json", "simple-partial.json"]
    assert not [r for r in summary.results if r.status == "failed"]
    sid = dict(db.sql("SELECT regexp_extract(path, '[^/]*$'), source_id FROM sources").fetchall())
    # speedscope's simple.json: B/E pairs become slices with durations.
    slices = db.sql("SELECT name, dur_ns FROM trace_events WHERE source_id = ? AND ph = 'B' ORDER BY seq",
                    [sid["simple.json"]]).fetchall()
    assert slices and all(d is not None and d >= 0 for _, d in slices)
    # only-begin-events.json: begins never ended keep an unknown duration.
    open_ = db.sql("SELECT count(*) FROM trace_events WHERE source_id = ? AND ph = 'B' AND dur_ns IS NULL",
                   [sid["only-begin-events.json"]]).fetchall()
    assert open_[0][0] > 0
    # Flow events (s/t/f) keep their ids; counters become series.
    flows = db.sql("SELECT count(*) FROM trace_events WHERE ph IN ('s', 't', 'f') AND id IS NOT NULL").fetchall()
    assert flows[0][0] > 0
    assert db.sql("SELECT count(*) FROM trace_counters").fetchall()[0][0] > 0


def test_latency_errors_and_trees(db):
    db.ingest(OTLP)
    df = db.latency(every=None)
    rows = {(r.service, r.name): r for r in df.itertuples()}
    assert set(rows) == {("checkout", "GET /cart"), ("inventory", "Reserve")}
    cart = rows[("checkout", "GET /cart")]
    assert (cart.requests, cart.errors) == (40, 3) and cart.error_rate == pytest.approx(3 / 40)
    assert 0 < cart.p50_ms <= cart.p90_ms <= cart.p99_ms <= cart.max_ms
    # Every span (client and internal too) when asked, and buckets in time.
    assert db.latency(every=None, kind=None)["requests"].sum() == 160
    assert db.latency(every="1min")["requests"].sum() == 80
    with pytest.raises(ValueError):
        db.latency(every="fortnightly")
    slow = db.slowest_traces(3)
    assert list(slow["duration_ms"]) == sorted(slow["duration_ms"], reverse=True)
    assert set(slow.iloc[0]["services"]) == {"checkout", "inventory"}
    tree = db.trace_tree(slow.iloc[0]["trace_id"])
    assert [(d, n.strip()) for d, n in zip(tree["depth"], tree["name"])] == [
        (0, "GET /cart"), (1, "inventory.Reserve"), (2, "Reserve"), (1, "render")]
    assert tree.iloc[0]["duration_ms"] == pytest.approx(slow.iloc[0]["duration_ms"])
    assert (tree["offset_ms"] >= 0).all()


@pytest.mark.parametrize("path", GO_TRACES, ids=lambda p: p.parent.parent.name)
def test_go_execution_trace_analysis(path, db):
    db.ingest(path)
    running = db.goroutine_time()
    assert "main.worker" in set(running["function"])
    worker = running[running["function"] == "main.worker"].iloc[0]
    assert worker["goroutines"] == 3 and worker["running_ms"] > 0
    assert running["share"].sum() == pytest.approx(1.0)
    gc = db.gc_time()
    assert len(gc) and (gc["total_ms"] > 0).all() and (gc["total_ms"] <= gc["trace_ms"] * 2).all()
    heap = db.counter_series("Heap")
    assert {"Allocated", "NextGC"} <= set(heap.columns) and heap["Allocated"].max() > 0


def test_a_time_in_the_path_anchors_a_chrome_trace(tmp_path, db):
    """No --ts: an ISO 8601 time in the path comes before the file's mtime."""
    src = GO_TRACES[0]
    dest = tmp_path / "2026-03-14T112000Z" / "trace.json.gz"
    dest.parent.mkdir()
    dest.write_bytes(src.read_bytes())
    db.ingest(dest)
    assert db.sql("SELECT anchor, ts_source FROM trace_files").fetchall() == [(datetime(2026, 3, 14, 11, 20), "path")]


def test_columnar_otlp_equals_the_per_span_reading():
    """The Arrow path (common shape) and the per-span path give the same rows."""
    from forensics.parsers.traces import otlp, otlp_columnar, spans

    lines = [line for p in OTLP for line in p.read_bytes().splitlines()]
    assert len(lines) == 160 and any(b'"arrayValue"' in line for line in lines) and any(b'"events"' in line for line in lines) and any(b'"links"' in line for line in lines)
    block = b"\n".join(lines) + b"\n"
    fast = otlp_columnar.spans_of_lines(block, first_line=1)
    assert fast is not None
    rows = spans.SpanRows("otlp")
    for n, line in enumerate(lines, 1):
        otlp.read_line(line, n, rows)
    slow = dict(rows.flush(final=True))
    fast = dict(fast)
    assert set(fast) == set(slow) == {"spans", "span_events", "span_links"}
    for table in fast:  # exception events carry stack traces: newlines and quotes escaped alike
        assert fast[table].to_pylist() == slow[table].to_pylist(), table
    # Another shape (a kvlist value) is left to the per-span path.
    odd = lines[0].replace(b'{"stringValue":"checkout"}', b'{"kvlistValue":{"values":[]}}')
    assert otlp_columnar.spans_of_lines(odd + b"\n", 1) is None


# Damaged OTLP JSON lines (from the SDK exporter's sample): the damaged line is an
# error row with its line number (or read with U+FFFD), every other line's spans are kept.
def _first_line_not_json(lines):
    lines[0] = lines[0][:300] + b"\xed\xa0\x80\x01" + lines[0][300:]  # an encoded surrogate and a control byte
    return 1, 39, "not valid JSON"


def _resource_attribute_without_key(lines):
    lines[23] = lines[23].replace(b'{"key":"service.version"', b'{"k\xc2\x85ey":"service.version"', 1)
    return 24, 39, "not an object with a string 'key'"


def _event_attribute_without_key(lines):
    n = next(i for i, line in enumerate(lines) if b'"spans":[{' in line and b'"attributes":[{"key"' in
             line.split(b'"spans":[', 1)[1])
    head, spans = lines[n].split(b'"spans":[', 1)
    lines[n] = head + b'"spans":[' + spans.replace(b'{"key":', b'{"name":', 1)
    return n + 1, 39, "not an object with a string 'key'"


def _invalid_utf8_in_a_value(lines):
    lines[29] = lines[29].replace(b'"stringValue":"inventory"', b'"stringValue":"inv\xff\xfeentory"', 1)
    return 30, 40, "read with U+FFFD"


def _huge_line_of_invalid_utf8(lines):
    lines[29] = lines[29].replace(b'"stringValue":"inventory"', b'"stringValue":"' + b"\xc3(" * (1 << 19) + b'"', 1)
    return 30, 40, "read with U+FFFD"


@pytest.mark.parametrize("damage", [_first_line_not_json, _resource_attribute_without_key,
                                    _event_attribute_without_key, _invalid_utf8_in_a_value,
                                    _huge_line_of_invalid_utf8], ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("columnar", [True, False], ids=["columnar", "per-span"])
def test_a_damaged_otlp_line_keeps_the_others(tmp_path, db, monkeypatch, damage, columnar):
    from forensics.parsers.traces import otlp_columnar

    if not columnar:
        monkeypatch.setattr(otlp_columnar, "spans_of_lines", lambda block, first_line: None)
    lines = (SAMPLES / "spans" / "otlp" / "inventory.jsonl").read_bytes().splitlines()
    assert len(lines) == 40
    ids = [json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] for line in lines]
    line, kept, message = damage(lines)
    path = tmp_path / "inventory.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    r = db.ingest(path).results[0]
    assert (r.kind, r.status) == ("otlp", "partial"), r.error
    errors = db.sql("SELECT line, message FROM ingest_errors").fetchall()
    assert len(errors) == 1 and errors[0][0] == line and message in errors[0][1], errors
    rows = db.sql("SELECT span_id, line FROM spans ORDER BY line").fetchall()
    assert len(rows) == kept
    assert {s for s, _ in rows} >= {s for n, s in enumerate(ids, 1) if n != line}
    assert all(s == ids[n - 1] for s, n in rows)  # each span with its own line number
    if kept == 40:
        assert db.sql("SELECT count(*) FROM spans WHERE service LIKE '%\ufffd%'").fetchall() == [(1,)]


def test_a_pretty_printed_otlp_document_is_still_one_document(tmp_path, db):
    """A document's first line does not parse, its nested lines are indented: one document, not lines."""
    lines = (SAMPLES / "spans" / "otlp" / "inventory.jsonl").read_bytes().splitlines()
    doc = {"resourceSpans": [rs for line in lines for rs in json.loads(line)["resourceSpans"]]}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(doc, indent=2))
    bad.write_text(json.dumps(doc, indent=2)[:-30])
    results = db.ingest([good, bad]).results
    assert [(r.kind, r.status) for r in results] == [("otlp", "ok"), ("otlp", "failed")]
    assert db.sql("SELECT count(*), count(line) FROM spans").fetchall() == [(40, 0)]


@pytest.mark.parametrize("insert", [b'"traceEvents":[', b'{"traceEvents":[', b'\\"traceEvents\\":['])
@pytest.mark.parametrize("at", [0, 19])
def test_journal_lines_mentioning_trace_events_are_not_a_chrome_trace(tmp_path, db, insert, at):
    lines = (SAMPLES / "cluster" / "journal" / "inventory.json").read_bytes().splitlines()
    cut = lines[at].index(b'"MESSAGE":"') + 20
    lines[at] = lines[at][:cut] + insert + lines[at][cut:]
    path = tmp_path / "inventory.json.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    r = db.ingest(path).results[0]
    assert r.kind == "log"
    assert db.sql("SELECT count(*) FROM logs").fetchall()[0][0] >= len(lines) - 1


@pytest.mark.parametrize("head, kind", [
    (b'{"traceEvents":[{"ph":"X"}]}', "chrome_trace"),
    (b'\xef\xbb\xbf {"displayTimeUnit":"ns","otherData":{"a":[1,{"b":"}"}]},\n"traceEvents" : [', "chrome_trace"),
    (b'[{"ph":"X","ts":1}]', "chrome_trace"),
    (b'{"args":{"traceEvents":[]}}', None),
    (b'{"MESSAGE":"x"}\n{"traceEvents":[]}', None),
    (b'{"MESSAGE":"a \\"traceEvents\\":[ b"}', None),
    (b'["not", "events", {"ph": 1}]', None),
])
def test_chrome_trace_sniff(head, kind):
    from forensics.parsers.traces import chrome_trace

    assert chrome_trace(head) == kind
