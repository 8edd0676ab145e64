"""Release readers (deploy records, Kubernetes events, build info, go.mod, go.sum) stream, or stop at their bound.

A decompression bomb costs bounded memory and ends in a clear error; a
record the csv module, orjson or the time parser refuses is an
ingest_errors row with its line, what was expected and an excerpt, and the
records after it are kept. Inputs are the real samples of sample_logs/cluster,
changed by transformations named for what they model.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forensics as fx
from forensics.parsers.releases.reading import (BUILDINFO_MAX, DEPLOYS_MAX, GO_MOD_MAX, GO_SUM_MAX, K8S_EVENTS_MAX,
                                                ArrayItems, MiB)

from conftest import SAMPLES

CLUSTER = SAMPLES / "cluster"
DEPLOYS = CLUSTER / "deploys" / "deploys.csv"
EVENTS = CLUSTER / "k8s" / "events.json"
BUILDINFO = CLUSTER / "deploys" / "buildinfo"


# --- transformations ---

def gzip_of_repeated_rows(records: bytes, decompressed: int) -> bytes:
    """A gzip that decompresses to `decompressed` bytes: the records' header once, then
    their rows over and over, in concatenated gzip members (as `cat` of
    gzipped export parts is): a few MB that expand past any bound."""
    header, _, rows = records.partition(b"\n")
    block = rows * (4 * MiB // len(rows))
    member = gzip.compress(block, compresslevel=9, mtime=0)
    return gzip.compress(header + b"\n", mtime=0) + member * (decompressed // len(block) + 1)


def header_with_stray_cr(records: bytes) -> bytes:
    """A CR left inside the header: one line saved with an old-Mac line end, then joined to the next."""
    return records.replace(b"version,", b"version\r,", 1)


def field_with_stray_cr(records: bytes, line: int) -> bytes:
    """A lone CR pasted inside a record's service field."""
    lines = records.split(b"\n")
    ts, service, rest = lines[line - 1].split(b",", 2)
    lines[line - 1] = b",".join([ts, service[:2] + b"\r" + service[2:], rest])
    return b"\n".join(lines)


def field_overwritten_with_digits(records: bytes, line: int, field: int, digits: int = 10_000) -> bytes:
    """A runaway writer's number of `digits` digits in a CSV field."""
    lines = records.split(b"\n")
    fields = lines[line - 1].split(b",")
    fields[field] = b"1" * digits
    lines[line - 1] = b",".join(fields)
    return b"\n".join(lines)


def as_json_lines(records: bytes) -> list[dict]:
    """The same deploy records as JSON lines, the other form they are exported in."""
    return list(csv.DictReader(io.StringIO(records.decode())))


def unclosed_quote(records: bytes, line: int) -> bytes:
    """A quote opened in a record's service field and never closed."""
    lines = records.split(b"\n")
    ts, rest = lines[line - 1].split(b",", 1)
    lines[line - 1] = ts + b',"' + rest
    return b"\n".join(lines)


def cut_short(data: bytes, at: float) -> bytes:
    """A copy interrupted part way (a full disk, a killed kubectl)."""
    return data[: int(len(data) * at)]


def event_list_of(events: bytes, size: int) -> bytes:
    """`kubectl get events -o json` of a busy cluster: the real events repeated to about `size` bytes."""
    doc = json.loads(events)
    one = json.dumps(doc["items"], indent=4)[1:-1].strip()
    items = ",\n".join([one] * (size // len(one) + 1))
    head = json.dumps({k: v for k, v in doc.items() if k != "items"}, indent=4)[:-2]
    return f'{head},\n    "items": [\n{items}\n    ]\n}}\n'.encode()


# --- helpers ---

def ingest(tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    db = fx.open(str(tmp_path / f"{name}.duckdb"))
    db.ingest([path])
    return db


def source(db) -> tuple:
    return db.sql("SELECT status, kind FROM sources").fetchall()[0]


def errors(db) -> list[tuple]:
    return db.sql("SELECT line, message, excerpt FROM ingest_errors ORDER BY line").fetchall()


def deploy_lines(db) -> list[int]:
    return [n for n, in db.sql("SELECT line FROM events WHERE kind = 'deploy' ORDER BY line").fetchall()]


def rows_of(records: bytes) -> list[int]:
    """Line numbers of the data rows of a CSV."""
    return [n for n, line in enumerate(records.split(b"\n"), 1) if n > 1 and line.strip()]


CHILD = """
import json, sys
import forensics as fx
import forensics.incident, forensics.ingest.pipeline  # imported when used: here, before `before`
import pyarrow
pyarrow.array([0])  # pyarrow imports pandas on its first conversion: here, before `before` too
from forensics.parsers.releases.deploys import parse_k8s_events


def peak_kib():  # this process's own peak RSS (ru_maxrss would include the parent's, from before exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


before = peak_kib()
out = {}
if sys.argv[1] == "ingest":
    db = fx.open(sys.argv[3])
    db.ingest([sys.argv[2]])
    out["sources"] = db.sql("SELECT status, kind, error FROM sources").fetchall()
    out["errors"] = db.sql("SELECT line, message FROM ingest_errors").fetchall()
    out["events"] = db.sql("SELECT count(*) FROM events").fetchall()[0][0]
else:  # the parser alone
    import gzip
    out["events"] = sum(b.num_rows for t, b in parse_k8s_events(gzip.open(sys.argv[2])) if t == "events")
out["before_kib"], out["peak_kib"] = before, peak_kib()
print(json.dumps(out))
"""


def child(*args) -> dict:
    """Run CHILD in a new interpreter; what it found, and its peak RSS (KiB) after its imports and at the end."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc/self/status (Linux)")
    r = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


# --- bounds ---

def test_a_gzip_bomb_of_deploy_records_stops_at_the_bound_in_bounded_memory(tmp_path):
    """1 GiB of deploy CSV in a few MB of gzip (the issue's 3.5 MB file took 20 GiB and 6 minutes):
    read up to DEPLOYS_MAX, the records before it kept, the rest refused by name."""
    decompressed = 1 << 30
    bomb = tmp_path / "deploys.csv.gz"
    bomb.write_bytes(gzip_of_repeated_rows(DEPLOYS.read_bytes(), decompressed))
    got = child("ingest", bomb, tmp_path / "bomb.duckdb")
    (status, kind, error), = got["sources"]
    assert (status, kind) == ("partial", "deploys")
    (line, message), = got["errors"]
    assert message.startswith(f"too large for a deploy record file (over {DEPLOYS_MAX // MiB} MiB);"), message
    assert got["events"] > 500_000 and line == got["events"] + 2  # header, the records, then where it stopped
    peak, grown = got["peak_kib"] * 1024, (got["peak_kib"] - got["before_kib"]) * 1024  # before: the imports
    assert peak < decompressed // 2 and grown < 256 * MiB, (peak / MiB, grown / MiB)


def test_kubernetes_events_are_streamed_one_event_at_a_time(tmp_path):
    """64 MiB of events read in memory that does not grow with them (orjson.loads of the whole
    document holds several times its size)."""
    size = 64 * MiB
    doc = event_list_of(EVENTS.read_bytes(), size)
    path = tmp_path / "events.json.gz"
    path.write_bytes(gzip.compress(doc, compresslevel=1))
    got = child("parse", path)
    assert got["events"] == doc.count(b'"involvedObject"')
    assert (got["peak_kib"] - got["before_kib"]) * 1024 < size * 3 // 4, got


@pytest.mark.parametrize("name, bound, what", [
    ("orders-v1.9.0.go.mod", GO_MOD_MAX, "a go.mod"),
    ("orders-v1.9.0.go.sum", GO_SUM_MAX, "a go.sum"),
    ("orders-v1.9.0.txt", BUILDINFO_MAX, "`go version -m` output"),
])
def test_build_files_past_their_bound_stop_with_a_clear_error(tmp_path, name, bound, what):
    real = (BUILDINFO / name).read_bytes()
    if name.endswith(".go.mod"):  # a generated go.mod gone wrong: the require line over and over
        require = next(line for line in real.split(b"\n") if line.startswith(b"require "))
        data = real + (require + b"\n") * (bound // len(require) + 1)
    else:  # files concatenated (`cat */go.sum`, `go version -m` of a directory of builds)
        data = real * (bound // len(real) + 1)
    db = ingest(tmp_path, name + ".gz", gzip.compress(data, compresslevel=1))
    status, kind = source(db)
    assert kind == name.rsplit(".", 1)[-1].replace("txt", "buildinfo").replace("mod", "go_mod").replace(
        "sum", "go_sum") and status in ("partial", "failed")
    (line, message, _), = [e for e in errors(db) if "too large" in e[1]]
    assert message.startswith(f"too large for {what} (over {bound // MiB} MiB);") and line > 100_000


def test_bounds_are_past_any_real_file():
    assert DEPLOYS_MAX >= 64 * MiB and K8S_EVENTS_MAX >= 256 * MiB and GO_MOD_MAX == 16 * MiB  # cmd/go's MaxGoMod
    assert GO_SUM_MAX >= 32 * MiB and BUILDINFO_MAX >= 64 * MiB


# --- precise errors, the records after them kept ---

def test_a_cr_inside_the_csv_header_is_a_precise_error(tmp_path):
    db = ingest(tmp_path, "deploys.csv", header_with_stray_cr(DEPLOYS.read_bytes()))
    assert source(db) == ("failed", "deploys")
    (line, message, excerpt), = errors(db)
    assert line == 1 and "expected a CSV header naming ts, service and version" in message
    assert "carriage return (CR) inside an unquoted field" in message and "internal" not in message
    assert excerpt.startswith("ts,service,version\r,image")


def test_a_cr_inside_a_record_skips_that_record_only(tmp_path):
    real = DEPLOYS.read_bytes()
    db = ingest(tmp_path, "deploys.csv", field_with_stray_cr(real, 3))
    assert source(db) == ("partial", "deploys")
    (line, message, excerpt), = errors(db)
    assert line == 3 and message.startswith("expected a deploy record (ts,service,version,image,buildinfo): a "
                                            "carriage return (CR)")
    assert excerpt == real.split(b"\n")[2].decode().rstrip("\r").replace(",pa", ",pa\r", 1)
    assert deploy_lines(db) == [n for n in rows_of(real) if n != 3]


def test_a_10000_digit_time_in_csv_skips_that_record_only(tmp_path):
    real = DEPLOYS.read_bytes()
    db = ingest(tmp_path, "deploys.csv", field_overwritten_with_digits(real, 3, 0))
    assert source(db) == ("partial", "deploys")
    (line, message, excerpt), = errors(db)
    assert line == 3 and "deploy record skipped: ts '1111" in message and "(10000 characters)" in message
    assert "expected an RFC 3339 time or epoch seconds" in message and excerpt.startswith("1111")
    assert deploy_lines(db) == [n for n in rows_of(real) if n != 3]


def test_a_10000_digit_number_in_json_lines_skips_that_record_only(tmp_path):
    records = as_json_lines(DEPLOYS.read_bytes())
    lines = [json.dumps(r) for r in records]
    lines[1] = lines[1].replace(json.dumps(records[1]["ts"]), "1" * 10_000)
    db = ingest(tmp_path, "deploys.jsonl", "\n".join(lines).encode() + b"\n")
    assert source(db) == ("partial", "deploys")
    (line, message, excerpt), = errors(db)
    assert line == 2 and message.startswith("expected a deploy record as a JSON object: number is infinity")
    assert excerpt.startswith('{"ts": 1111')
    assert deploy_lines(db) == [n for n in range(1, len(records) + 1) if n != 2]


def test_a_10000_digit_number_in_an_event_skips_that_event_only(tmp_path):
    real = EVENTS.read_bytes()
    n = len(json.loads(real)["items"])
    at = real.index(b'"count": ', real.index(b'"items"'))
    line = real[:at].count(b"\n") + 1
    damaged = real[:at] + b'"count": ' + b"1" * 10_000 + real[real.index(b",", at):]
    db = ingest(tmp_path, "events.json", damaged)
    assert source(db) == ("partial", "k8s_events")
    (got, message, excerpt), = errors(db)
    assert got == line and message.startswith("items[0]: event skipped: not valid JSON: number is infinity")
    assert "1111" in excerpt
    assert db.sql("SELECT min(line), count(*) FROM events").fetchall() == [(1, n - 1)]


def test_an_unclosed_quote_is_named(tmp_path):
    real = DEPLOYS.read_bytes()
    db = ingest(tmp_path, "deploys.csv", unclosed_quote(real, 3))
    (line, message, _), = errors(db)
    assert line == 3 and "(a record from line 3 to" in message and "an unclosed quote?" in message
    assert deploy_lines(db) == [2]  # the quote swallows the records after it, as CSV reads it


def test_a_record_with_more_fields_than_the_header_is_a_precise_error(tmp_path):
    real = DEPLOYS.read_bytes()
    lines = real.split(b"\n")
    lines[3] = lines[3].rstrip(b"\r") + b",extra,fields\r"
    db = ingest(tmp_path, "deploys.csv", b"\n".join(lines))
    (line, message, _), = errors(db)
    assert line == 4 and message == ("expected 5 fields (ts,service,version,image,buildinfo), found 7 "
                                     "(a comma in an unquoted field?)")
    assert deploy_lines(db) == [n for n in rows_of(real) if n != 4]


def test_events_cut_short_keep_the_events_before(tmp_path):
    real = EVENTS.read_bytes()
    damaged = cut_short(real, 0.5)
    db = ingest(tmp_path, "events.json", damaged)
    assert source(db) == ("partial", "k8s_events")
    (line, message, _), = errors(db)
    whole = damaged.count(b'"involvedObject"') - 1  # the last one is cut
    assert message == f"items[{whole}]: the file ends inside it (cut short?)"
    assert db.sql("SELECT count(*) FROM events").fetchall() == [(whole,)]


def test_events_as_a_bare_array_are_read(tmp_path):
    real = json.loads(EVENTS.read_bytes())
    db = ingest(tmp_path, "events.json", json.dumps(real["items"]).encode())
    assert source(db) == ("ok", "k8s_events")
    assert db.sql("SELECT count(*) FROM events").fetchall() == [(len(real["items"]),)]


# --- the streamed array reader agrees with a whole-document parse ---

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('ab"\\[]{},: \n\x00é')),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.dictionaries(st.text(max_size=4), _json, max_size=4), max_size=6),
       indent=st.sampled_from([None, 1, 4]), chunk=st.integers(1, 64), wrapped=st.booleans(), escaped=st.booleans())
def test_array_items_cut_out_every_element_whatever_the_chunks(events, indent, chunk, wrapped, escaped):
    doc = {"kind": "EventList", "metadata": {"items": [1]}, "items": events} if wrapped else events
    data = json.dumps(doc, indent=indent, ensure_ascii=escaped).encode()
    items = ArrayItems(io.BytesIO(data), "items", chunk=chunk)
    got = [item for batch in items for item in batch]
    assert [json.loads(item.raw) for item in got] == events and not items.problems and items.found
    assert [item.index for item in got] == list(range(len(events)))
    assert all(data.count(b"\n", 0, data.index(item.raw)) + 1 == item.line for item in got[:1])
