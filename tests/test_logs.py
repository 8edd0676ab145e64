"""Logs: sample_logs/cluster (a real Go service's output framed as containerd,
Docker and journald write it), payload formats, dumps cut out of logs, bad input."""
from __future__ import annotations

import gzip
import io
import json
import re
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.parsers import ParseOptions
from forensics.parsers.logs import framing as logframing, reader as logparser
from forensics.parsers.logs.payloads import json_fields, kubernetes_identity, level_of, parse_plain

from conftest import SAMPLES, cluster_copy

CLUSTER = SAMPLES / "cluster"
PODS = sorted((CLUSTER / "var" / "log" / "pods").rglob("*.log*"))
CRASHED = sorted((CLUSTER / "var" / "log" / "pods").glob("shop_orders-7d4b9c8f5-*/orders/*.log"))


def cri_records(data: bytes) -> list[tuple[int, str, str, str]]:
    """(first line, time, stream, text) of a CRI file, P records joined: read independently of the parser."""
    out, held = [], {}
    for n, raw in enumerate(data.decode().split("\n"), 1):
        if not raw:
            continue
        ts, stream, tag, text = raw.split(" ", 3)
        if tag == "P":
            held.setdefault(stream, [n, ts, ""])[2] += text
            continue
        first, ts0, before = held.pop(stream, [n, ts, ""])
        out.append((first, ts0, stream, before + text))
    return out


@pytest.fixture(scope="module")
def cluster(cluster_database, tmp_path_factory):
    return fx.open(cluster_copy(cluster_database, tmp_path_factory, "logs"))


@pytest.mark.parametrize("path", PODS, ids=lambda p: "/".join(p.parts[-3:]))
def test_cri_files_give_every_json_record(cluster, path):
    data = path.read_bytes()
    data = gzip.decompress(data) if path.suffix == ".gz" else data
    records = cri_records(data)
    sid, status, kind = cluster.sql("SELECT source_id, status, kind FROM sources WHERE path = ?", [str(path)]).fetchall()[0]
    assert (status, kind) == ("ok", "log")
    rows = cluster.sql("SELECT line, stream, message, attributes, epoch_us(ts) FROM logs WHERE source_id = ? "
                       "ORDER BY line", [sid]).fetchall()
    expected = [r for r in records if r[3].startswith("{")]
    assert [(r[0], r[1]) for r in rows] == [(line, stream) for line, _, stream, _ in expected]
    for (line, stream, message, attributes, us), (_, ts, _, text) in zip(rows, expected):
        assert attributes == text and message == json.loads(text)["msg"]
        assert us == int(datetime.fromisoformat(ts[:26].rstrip("Z") + "+00:00").timestamp() * 1e6) or \
            abs(us - datetime.fromisoformat(ts[:26].rstrip("Z") + "+00:00").timestamp() * 1e6) < 1
    ident = kubernetes_identity(str(path))
    file_row = cluster.sql("SELECT framing, service, namespace, pod, container, restart, rotated, records "
                           "FROM log_files WHERE source_id = ?", [sid]).fetchall()[0]
    assert file_row == ("cri", "orders", "shop", ident["pod"], "orders", ident["restart"], ident["rotated"],
                        len(expected))


def test_a_record_split_by_the_runtime_is_joined(cluster):
    """The 20 KiB configuration line: containerd wrote it as a P record and an F record."""
    path = CRASHED[0]
    lines = path.read_bytes().split(b"\n")
    assert lines[1].split(b" ")[2] == b"P"
    row = cluster.sql("SELECT line, message, attributes FROM logs WHERE message = 'configuration' "
                      "AND source_id = (SELECT source_id FROM sources WHERE path = ?)", [str(path)]).fetchall()[0]
    assert row[0] == 2 and json.loads(row[2])["flags"] == "feature-flag=on;" * 1300


@pytest.mark.parametrize("path", CRASHED, ids=lambda p: p.name)
def test_the_panic_in_a_container_log_is_a_dump(cluster, path):
    records = cri_records(path.read_bytes())
    first = next(r for r in records if r[3].startswith("panic: "))
    sid = cluster.sql("SELECT source_id FROM sources WHERE path = ?", [str(path)]).fetchall()[0][0]
    dump = cluster.sql("SELECT kind, start_line, ts, ts_source, service, pod FROM dumps WHERE source_id = ?",
                       [sid]).fetchall()
    ts = datetime.fromisoformat(first[1][:26].rstrip("Z")).replace(tzinfo=None)
    assert dump == [("panic", first[0], ts, "prefix", "orders", kubernetes_identity(str(path))["pod"])]
    panic = cluster.sql("SELECT p.message, top_function FROM panics p JOIN dumps d USING (dump_id) "
                        "WHERE d.source_id = ?", [sid]).fetchall()[0]
    assert panic == ("assignment to entry in nil map", "main.main.func1")
    frames = cluster.sql("SELECT module, module_version FROM frames f JOIN dumps d USING (dump_id) "
                         "WHERE d.source_id = ? AND module IS NOT NULL", [sid]).fetchall()
    assert ("github.com/acme/ratelimit", "v1.6.0") in frames
    # Dump lines are not log records; every other stderr line is.
    n_dump = cluster.sql("SELECT dump_lines FROM log_files WHERE source_id = ?", [sid]).fetchall()[0][0]
    dump_records = [r for r in records if r[2] == "stderr"]
    assert n_dump == len(dump_records) and n_dump > 5
    stderr_logs = cluster.sql("SELECT count(*) FROM logs WHERE source_id = ? AND stream = 'stderr'",
                              [sid]).fetchall()[0][0]
    assert stderr_logs == 0


def test_docker_json_file_with_slog_text(cluster):
    path = next((CLUSTER / "var" / "log" / "containers").glob("payments-*.log"))
    records = "".join(json.loads(line)["log"] for line in path.read_text().splitlines()).splitlines()
    levels = [re.search(r"level=(\w+)", r).group(1).lower() for r in records]
    rows = cluster.sql("SELECT level, format, service, pod FROM logs WHERE source_id = "
                       "(SELECT source_id FROM sources WHERE path = ?) ORDER BY line", [str(path)]).fetchall()
    assert [r[0] for r in rows] == levels and {r[1:] for r in rows} == {("logfmt", "payments",
                                                                         "payments-6b8d9f7c4-z8x2v")}
    config = cluster.sql("SELECT attributes FROM logs WHERE message = 'configuration' AND service = 'payments'")
    assert json.loads(config.fetchall()[0][0])["flags"] == "feature-flag=on;" * 1300


def test_journald_export_and_plain_go_log(cluster):
    journal = [json.loads(line) for line in (CLUSTER / "journal" / "inventory.json").read_text().splitlines()]
    rows = cluster.sql("SELECT epoch_us(ts), level, format, service, message FROM logs "
                       "WHERE source_id = (SELECT source_id FROM sources WHERE path LIKE '%inventory.json') "
                       "ORDER BY line").fetchall()
    assert [r[0] for r in rows] == [int(j["__REALTIME_TIMESTAMP"]) for j in journal]
    assert {r[2:4] for r in rows} == {("golog", "inventory")}
    words = [j["MESSAGE"].split(" ")[2].lower() for j in journal]
    assert [r[1] for r in rows] == [{"warn": "warn", "error": "error"}.get(w, "info") for w in words]
    plain = cluster.sql("SELECT epoch_us(ts), message FROM logs WHERE source_id = "
                        "(SELECT source_id FROM sources WHERE path LIKE '%node-3/inventory.log') ORDER BY line")
    lines = (CLUSTER / "hosts" / "node-3" / "inventory.log").read_text().splitlines()
    got = plain.fetchall()
    assert len(got) == len(lines)
    stamp = datetime.strptime(lines[0][:26], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    assert got[0][0] == int(stamp.timestamp() * 1_000_000) and got[0][1] == lines[0][32:]


# Payloads as the loggers document them (zap, zerolog, logrus, slog, klog, Go's log).
@pytest.mark.parametrize("obj, expected", [
    ({"level": "info", "ts": 1773486423.5, "caller": "x.go:1", "msg": "zap"}, (1773486423500000000, "info", "zap")),
    ({"level": "warn", "time": "2026-03-14T11:07:03+01:00", "message": "zerolog"},
     (1773482823000000000, "warn", "zerolog")),
    ({"level": "warning", "msg": "logrus", "time": "2026-03-14T11:07:03Z"}, (1773486423000000000, "warn", "logrus")),
    ({"time": "2026-03-14T11:07:03.123456789Z", "level": "ERROR+2", "msg": "slog"},
     (1773486423123456789, "error", "slog")),
    ({"level": 40, "msg": "numeric level"}, (None, None, "numeric level")),
    ({"ts": 1773486423123, "level": "DPANIC", "msg": "ms"}, (1773486423123000000, "panic", "ms")),
])
def test_json_payloads(obj, expected):
    assert json_fields(obj) == expected


@pytest.mark.parametrize("line, expected", [
    ("I0314 11:07:03.123456   12 lease.go:42] renewed", (1773486423123456000, "info", "renewed", None, "klog")),
    ("2026/03/14 11:07:03 [error] dial tcp: timeout", (1773486423000000000, "error", "dial tcp: timeout", None,
                                                       "golog")),
    ('level=info msg="a \\"quoted\\" msg" n=1', (None, "info", 'a "quoted" msg', '{"n":"1"}', "logfmt")),
    ("2026-03-14T11:07:03Z WARN disk 91%", (1773486423000000000, "warn", "disk 91%", None, "text")),
    ("just words", (None, None, "just words", None, "text")),
])
def test_plain_payloads(line, expected):
    assert parse_plain(line, 2026) == expected


def test_levels():
    assert [level_of(v) for v in ("WARN", "Warning", "err", "INFO-4", None, "verbose")] == \
        ["warn", "warn", "error", "info", None, None]


def test_kubernetes_paths():
    assert kubernetes_identity("b.tgz!var/log/containers/api-5d9_prod_api-" + "a" * 64 + ".log") == \
        {"namespace": "prod", "pod": "api-5d9", "container": "api", "restart": None, "rotated": False}
    assert kubernetes_identity("logs/pods/prod_api-5d9_0f1e/api/3.log.20260314-084117.gz")["restart"] == 3
    assert kubernetes_identity("app.log") == {}


def test_service_argument_overrides_the_path(tmp_path):
    db = fx.open(tmp_path / "s.duckdb")
    db.ingest(CRASHED[0], service="checkout", version="v9")
    assert db.sql("SELECT DISTINCT service, version FROM logs").fetchall() == [("checkout", "v9")]
    assert db.sql("SELECT service, version, pod FROM dumps").fetchall() == \
        [("checkout", "v9", kubernetes_identity(str(CRASHED[0]))["pod"])]


def test_bad_lines_are_reported_and_skipped(tmp_path):
    """Junk, a line of 3 MB and a P record never finished, inside a real CRI log."""
    data = CRASHED[0].read_bytes().split(b"\n")
    bad = data[:5] + [b"\x00\x01 junk that is no CRI record", b"2026-03-14T11:07:03Z stdout F " + b"x" * (3 << 20)] \
        + data[5:-1] + [b"2026-03-14T11:07:04Z stdout P never finished"]
    path = tmp_path / "0.log"
    path.write_bytes(b"\n".join(bad) + b"\n")
    db = fx.open(tmp_path / "b.duckdb")
    r = db.ingest(path).results[0]
    assert r.status == "partial" and r.kind == "log"
    errors = db.sql("SELECT line, message FROM ingest_errors ORDER BY line").fetchall()
    assert [line for line, _ in errors] == [6, 7, len(bad)]
    assert "expected a CRI log record" in errors[0][1] and "only its first" in errors[1][1]
    assert "no final (F) part" in errors[2][1]
    good = len([x for x in cri_records(CRASHED[0].read_bytes()) if x[3].startswith("{")])
    assert db.sql("SELECT count(*) FROM logs WHERE format = 'json'").fetchall()[0][0] == good
    assert db.sql("SELECT count(*) FROM dumps").fetchall()[0][0] == 1


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    rotated = next(p for p in PODS if p.suffix == ".gz")
    cut = tmp_path / rotated.name
    cut.write_bytes(rotated.read_bytes()[: rotated.stat().st_size * 2 // 3])
    db = fx.open(tmp_path / "g.duckdb")
    r = db.ingest(cut).results[0]
    assert r.status == "partial" and r.rows.get("logs", 0) > 10, r


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(0, 60_000), junk=st.binary(max_size=300))
def test_damaged_logs_never_raise(cut, junk):
    data = CRASHED[1].read_bytes()
    damaged = data[:cut] + junk + data[cut:]
    out = {}
    for table, batch in logparser.parse(io.BytesIO(damaged)):
        out[table] = out.get(table, 0) + batch.num_rows
    before = len([r for r in cri_records(data[:data.rfind(b"\n", 0, cut) + 1]) if r[3].startswith("{")])
    assert out["logs"] >= before - 1


def _rows(data: bytes, columnar: bool = True) -> dict:
    out = {}
    for table, batch in logparser.parse(io.BytesIO(data), ParseOptions(columnar=columnar)):
        out.setdefault(table, []).extend(batch.to_pylist())
    out["logs"] = sorted(out.get("logs", []), key=lambda r: r["line"])
    return out


@pytest.mark.parametrize("path", CRASHED + PODS[:1], ids=lambda p: p.name)
def test_column_wise_cri_reader_equals_line_by_line(path):
    data = path.read_bytes()
    data = gzip.decompress(data) if path.suffix == ".gz" else data
    bulk = _rows(data)
    assert _rows(data, columnar=False) == bulk


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(0, 40_000), junk=st.sampled_from([b"", b"\xff\xfe", b"not a record\n", b"{\"half\": ",
                                                      b"2026-03-14T11:07:03Z stdout F {\"level\": 3}\n"]))
@example(cut=176, junk=b"2026-03-14T11:07:03Z stdout F {\"level\": 3}\n")  # a time that only starts well
def test_column_wise_cri_reader_equals_line_by_line_on_damage(cut, junk):
    data = CRASHED[1].read_bytes()
    damaged = data[:cut] + junk + data[cut:]
    bulk = _rows(damaged)
    assert _rows(damaged, columnar=False) == bulk


# Fuzz regressions (tests/fuzz: edits:pasted-cri-multi:1, splice:log-docker:384208415,
# insert:log-plain:557431005, splice:log-cri-crash-2:540523396@tar), on the real samples.
PLAIN = CLUSTER / "hosts" / "node-3" / "inventory.log"
DOCKER = next((CLUSTER / "var" / "log" / "containers").glob("payments-*.log"))
JOURNAL = CLUSTER / "journal" / "inventory.json"


@pytest.mark.parametrize("columnar", [True, False])
@pytest.mark.parametrize("which", ["json", "text"])
def test_a_time_past_2262_is_null_and_said_the_rest_kept(columnar, which):
    """One CRI line's year 2026 -> 3026 (one bit flipped): out of int64 nanoseconds."""
    data = CRASHED[0].read_bytes()
    lines = data.split(b"\n")
    n = 1 + next(i for i, line in enumerate(lines) if line.split(b" ", 3)[2:3] == [b"F"]
                 and (line.split(b" ", 3)[3][:1] == b"{") == (which == "json"))
    lines[n - 1] = b"3" + lines[n - 1][1:]
    want, got = _rows(data, columnar), _rows(b"\n".join(lines), columnar)
    assert len(got["logs"]) == len(want["logs"])
    changed = [(w, g) for w, g in zip(want["logs"], got["logs"]) if w != g]
    assert [g["line"] for _, g in changed] == ([n] if which == "json" else [])  # (a dump line is no log row)
    for w, g in changed:
        assert g["ts"] is None and {**g, "ts": w["ts"]} == w
    errors = [e for e in got.get("ingest_errors", []) if "out of range" in e["message"]]
    assert [e["line"] for e in errors] == [n] * len(changed)
    for table in ("goroutines", "frames"):
        assert got[table] == want[table]


def test_a_go_log_time_past_2262_is_null():
    lines = PLAIN.read_bytes().split(b"\n")
    lines[3] = b"3" + lines[3][1:]
    want, got = _rows(PLAIN.read_bytes()), _rows(b"\n".join(lines))
    assert len(got["logs"]) == len(want["logs"]) and got["logs"][3]["ts"] is None
    assert got["logs"][:3] + got["logs"][4:] == want["logs"][:3] + want["logs"][4:]


@pytest.mark.parametrize("path, framing", [(DOCKER, "docker"), (JOURNAL, "journald"), (PLAIN, "plain")],
                         ids=lambda v: v if isinstance(v, str) else v.name)
@pytest.mark.parametrize("cut", [1, 12, 40])
def test_a_log_whose_first_line_is_cut_is_still_a_log(path, framing, cut):
    data = path.read_bytes()
    first = data.index(b"\n")
    assert cut < first
    damaged = data[cut:]
    assert logframing.log_framing(damaged[:65536]) == framing
    want, got = _rows(data), _rows(damaged)
    assert [r["message"] for r in got["logs"] if r["line"] > 1] == [r["message"] for r in want["logs"] if r["line"] > 1]
    if framing != "plain":  # the cut line is no record of the framing: an error row
        assert [e["line"] for e in got["ingest_errors"]] == [1]


def test_a_cut_first_line_does_not_make_a_crash_a_log():
    for path in sorted((SAMPLES / "go1.27.3" / "default").glob("*.txt")):
        data = path.read_bytes()
        for cut in (0, 5):
            assert logframing.log_framing(data[cut:65536]) is None, path


def test_a_stray_panic_line_in_a_plain_log_ends_at_the_next_record():
    lines = PLAIN.read_bytes().split(b"\n")
    n = 22
    lines[n - 1] = b"panic: " + lines[n - 1]
    got = _rows(b"\n".join(lines))
    want = _rows(PLAIN.read_bytes())
    assert [r["line"] for r in got["logs"]] == [r["line"] for r in want["logs"] if r["line"] != n]
    assert [r["message"] for r in got["logs"]] == [r["message"] for r in want["logs"] if r["line"] != n]
    assert [(d["kind"], d["start_line"], d["end_line"]) for d in got["dumps"]] == [("panic", n, n)]
    assert not got.get("ingest_errors")


def test_a_go_crash_in_a_plain_log_is_still_read_whole():
    crash = (SAMPLES / "go1.27.3" / "default" / "panic-custom-error.txt").read_bytes()
    log = PLAIN.read_bytes().split(b"\n")
    alone = _rows(crash)
    got = _rows(b"\n".join(log[:40]) + b"\n" + crash + b"\n".join(log[40:]))
    assert len(got["dumps"]) == 1 and len(got["goroutines"]) == len(alone["goroutines"]) > 0
    assert got["panics"] == alone["panics"]
    assert len(got["logs"]) == len([line for line in log if line]) + len(alone["logs"])


def test_an_unfinished_p_record_at_the_end_is_its_own_record():
    """A stdout P record never finished, after the stderr dump: not a frame of its last goroutine."""
    lines = CRASHED[0].read_bytes().split(b"\n")
    partial = lines[1]
    assert partial.split(b" ")[1:3] == [b"stdout", b"P"]
    want = _rows(CRASHED[0].read_bytes())
    damaged = lines[:-1] + [partial, b""]
    got = _rows(b"\n".join(damaged))
    for table in ("dumps", "panics", "goroutines", "frames"):
        assert got[table] == want[table], table
    n = len(damaged) - 1
    [error] = [e for e in got["ingest_errors"] if e["line"] == n]
    assert "no final (F) part" in error["message"] and len(error["message"]) < 200 and error["excerpt"]
    [row] = [r for r in got["logs"] if r["line"] == n]
    assert row["stream"] == "stdout" and row["message"] == partial.split(b" ", 3)[3].decode()


def test_error_messages_are_bounded_the_text_in_the_excerpt():
    """The dump reader's 'input ended after frame <line>' quoting a 10 KB line (a P record's text)."""
    import pyarrow as pa
    from forensics.db.schema import TABLES
    text = CRASHED[0].read_bytes().split(b"\n")[1].split(b" ", 3)[3].decode()
    assert len(text) > 10_000
    rows = [{"line": 3, "message": f"input ended after frame {text!r}", "excerpt": None},
            {"line": 4, "message": "short", "excerpt": None}]
    got = logparser._bounded_messages(pa.RecordBatch.from_pylist(rows, schema=TABLES["ingest_errors"].arrow_schema))
    long, short = got.to_pylist()
    assert len(long["message"]) == logparser.MAX_MESSAGE + 1 and long["message"].endswith("…")
    assert long["excerpt"].startswith("input ended after frame '{") and len(long["excerpt"]) <= 201
    assert short == rows[1]
