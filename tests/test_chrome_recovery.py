"""Recovery in the Chrome trace-event reader (issue 16, item 6): go tool
trace's JSON from sample_logs/, damaged by seeded mutations. Every event the
damage did not touch is still read, each damaged one is an ingest error on
its own line, and the work is linear in the file: counted by wrapping the
decoder (orjson.loads), never timed."""
from __future__ import annotations

import gzip
import io
import json
import random
from collections import Counter

import orjson
import pytest

from forensics.parsers.traces import chrome

from conftest import SAMPLES

GO_TRACES = {p.parent.parent.name: p for p in sorted(SAMPLES.glob("go1.*/trace/trace.json.gz"))}
SEP = b"\n,"  # go tool trace writes one event a line, each after the first led by a comma
SMALL_CHUNK = 50_000  # many chunks: cuts land next to damage, and inside strings


def _split(name: str) -> tuple[bytes, list[bytes], bytes]:
    """The file around its events, and each event's text, as written."""
    raw = gzip.decompress(GO_TRACES[name].read_bytes())
    start = raw.index(b'"traceEvents": [') + len(b'"traceEvents": [')
    end = raw.rindex(b"\n]")
    events = raw[start:end].split(SEP)
    assert [json.loads(e) for e in events] == json.loads(raw)["traceEvents"]
    return raw[:start], events, raw[end:]


SPLIT = {name: _split(name) for name in GO_TRACES}


def _file(name: str, events: list[bytes]) -> bytes:
    head, _, tail = SPLIT[name]
    return head + SEP.join(events) + tail


def _parse(data: bytes) -> dict[str, list]:
    tables: dict[str, list] = {}
    for table, batch in chrome.parse(io.BytesIO(data)):
        tables.setdefault(table, []).extend(batch.to_pylist())
    return tables


def _rows(tables: dict[str, list]) -> Counter:
    """Event and counter rows, as a multiset; `seq` and `ts` aside (a broken
    event still takes a seq; ts comes from the file's time)."""
    rows = Counter()
    for table in ("trace_events", "trace_counters"):
        for row in tables.get(table, []):
            rows[(table, *sorted((k, v) for k, v in row.items() if k not in ("seq", "ts")))] += 1
    return rows


def _line(index: int) -> int:
    return index + 2  # the first event is on line 2, after {"displayTimeUnit":"ns"


# Damage to one event's text; each leaves it invalid JSON.
def _bad_value(e: bytes, rnd: random.Random) -> bytes:
    return e.replace(b'":', b'":x', 1)


def _lost_close(e: bytes, rnd: random.Random) -> bytes:
    return e[:-1]


def _extra_close(e: bytes, rnd: random.Random) -> bytes:
    return e + b"}"


def _stray_quote(e: bytes, rnd: random.Random) -> bytes:
    at = rnd.randrange(1, len(e) - 1)
    return e[:at] + b'"' + e[at:]


def _lost_quote(e: bytes, rnd: random.Random) -> bytes:
    at = rnd.choice([i for i, c in enumerate(e) if c == ord('"')])
    return e[:at] + e[at + 1:]


def _lost_bracket(e: bytes, rnd: random.Random) -> bytes:
    """An array of objects in args, its `]` lost: `},{` inside the event."""
    return e[:-1] + b',"more":{"list":[{"a":1},{"b":"},{"}}}'


def _open_array(e: bytes, rnd: random.Random) -> bytes:
    """An array of objects never closed, nor the event: the events after it
    would read as its items."""
    return e[:-1] + b',"more":[{"a":1},{"b":2}'


def _deep(e: bytes, rnd: random.Random) -> bytes:
    """600 KB of nested objects: deeper than a JSON parser reads."""
    depth = 600_000 // 6
    return e[:-1] + b',"deep":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


DAMAGE = [_bad_value, _lost_close, _extra_close, _stray_quote, _lost_quote, _lost_bracket, _open_array]


def _damaged(name: str, how, count: int, seed: int, n: int | None = None):
    """The sample (its first n events) with `count` events damaged; the
    damaged events' texts by index; the file of the events left untouched."""
    _, events, _ = SPLIT[name]
    events = list(events[:n])
    rnd = random.Random(seed)
    hit = {i: how(events[i], rnd) for i in sorted(rnd.sample(range(len(events)), count))}
    kept = [e for i, e in enumerate(events) if i not in hit]
    return _file(name, [hit.get(i, e) for i, e in enumerate(events)]), hit, _file(name, kept)


def _check(data: bytes, hit: dict[int, bytes], untouched: bytes, kept_damaged: bool = False) -> dict[str, list]:
    """Every row of the untouched events is read (and, unless the damaged
    events stay readable, nothing else); the errors are on the damaged lines."""
    got, want = _parse(data), _parse(untouched)
    assert not want.get("ingest_errors")
    missing = _rows(want) - _rows(got)
    assert not missing, f"{sum(missing.values())} untouched rows lost, e.g. {next(iter(missing))}"
    if not kept_damaged:
        assert not _rows(got) - _rows(want)
    errors = got.get("ingest_errors", [])
    assert {e["line"] for e in errors} == {_line(i) for i in hit}, errors
    (files,) = got["trace_files"]
    kept = len(hit) if kept_damaged else 0  # a broken event still counts as one
    assert files["complete"] and files["events"] == want["trace_files"][0]["events"] + len(errors) + kept
    return got


@pytest.mark.parametrize("chunk", [chrome.CHUNK, SMALL_CHUNK], ids=["one-chunk", "small-chunks"])
@pytest.mark.parametrize("how", DAMAGE, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("name", sorted(GO_TRACES))
def test_a_damaged_event_is_an_error_and_every_other_event_is_kept(name, how, chunk, monkeypatch):
    monkeypatch.setattr(chrome, "CHUNK", chunk)
    for seed, count in ((1, 1), (2, 10)):
        data, hit, untouched = _damaged(name, how, count, seed, n=3000)
        got = _check(data, hit, untouched, kept_damaged=how is _extra_close)
        errors = {e["line"]: e for e in got["ingest_errors"]}
        assert len(errors) == len(got["ingest_errors"]) == count
        for i, text in hit.items():
            error = errors[_line(i)]
            assert error["message"].endswith("; skipped"), error
            if how is _extra_close:  # the event itself is whole and kept: the stray `}` is reported
                assert error["excerpt"].startswith("}"), error
            else:  # the excerpt is the broken event
                assert error["excerpt"].encode()[:len(text)] == text[:200], error


@pytest.mark.parametrize("name", sorted(GO_TRACES))
def test_600_kb_of_nested_objects_is_one_error(name):
    data, hit, untouched = _damaged(name, _deep, 1, seed=3)
    got = _check(data, hit, untouched)
    assert len(got["ingest_errors"]) == 1 and got["ingest_errors"][0]["excerpt"].startswith('{"name"')


@pytest.mark.parametrize("chunk", [chrome.CHUNK, SMALL_CHUNK], ids=["one-chunk", "small-chunks"])
@pytest.mark.parametrize("share", [0.1, 1.0])
def test_braces_and_quotes_inside_strings_are_text(chunk, share, monkeypatch):
    """Valid JSON that looks like event boundaries: `}`, `},{`, escaped
    quotes and backslashes in names, in a share of the events (all of them:
    every chunk is cut inside a string). Every event is read, exactly."""
    monkeypatch.setattr(chrome, "CHUNK", chunk)
    _, events, _ = SPLIT["go1.27.3"]
    events = list(events[:3000])
    rnd = random.Random(4)
    names = ['a}b', 'x},{"ph":"X"}', '\\"},{\\"', '\\\\', 'q"}\n,{"', '{{{', ']}],[{']
    for i in rnd.sample(range(len(events)), int(share * len(events))):
        ev = json.loads(events[i])
        ev["name"] = rnd.choice(names) if share < 1 else 'x},{"ph":"X"}'
        if rnd.random() < 0.2:  # an array of objects (not events): `},{` outside strings
            ev["stack"] = [{"pc": 1}, {"pc": 2, "fn": "}]"}]
        events[i] = json.dumps(ev, separators=(",", ":")).encode()
    data = _file("go1.27.3", events)
    got = _parse(data)
    assert not got.get("ingest_errors"), got["ingest_errors"][:3]
    doc = json.loads(data)["traceEvents"]
    assert got["trace_files"][0]["events"] == len(doc) and got["trace_files"][0]["complete"]
    want = Counter()
    for e in doc:  # a counter event is a row per series
        want[e.get("name")] += len(e["args"]) if e["ph"] == "C" else 1
    assert Counter(r["name"] for r in got["trace_events"] + got["trace_counters"]) == want


@pytest.mark.parametrize("seed", range(4))
def test_a_cut_file_keeps_the_events_before_the_cut(seed):
    head, events, _ = SPLIT["go1.19.8"]
    data = _file("go1.19.8", events)
    at = random.Random(seed).randrange(len(data) // 4, len(data) * 3 // 4)
    ends, end = [], len(head) - len(SEP)
    for e in events:
        end += len(SEP) + len(e)
        ends.append(end)
    whole = sum(1 for end in ends if end <= at)  # events whose `}` is before the cut
    got, want = _parse(data[:at]), _parse(_file("go1.19.8", events[:whole]))
    assert _rows(got) == _rows(want)
    (files,) = got["trace_files"]
    assert not files["complete"] and files["events"] == whole
    assert [e["message"] for e in got["ingest_errors"]] == [
        f"the trace ends before its event array does (cut short?): read the {whole} complete events"]


class _CountingLoads:
    """orjson.loads, counting its calls and the bytes given to it."""

    def __init__(self):
        self.calls = self.size = 0
        self.loads = orjson.loads

    def __call__(self, text):
        self.calls += 1
        self.size += len(text)
        return self.loads(text)


@pytest.mark.parametrize("chunk", [chrome.CHUNK, SMALL_CHUNK], ids=["one-chunk", "small-chunks"])
@pytest.mark.parametrize("how", [*DAMAGE, _deep], ids=lambda f: f.__name__.strip("_"))
def test_recovery_decodes_each_byte_a_bounded_number_of_times(how, chunk, monkeypatch):
    """The reader once parsed the text up to every `}` after a broken event:
    work quadratic in the file. Now each event is decoded at most twice
    (a quick try, then once its end is known), and the bytes decoded are a
    small multiple of the file, however many events are broken."""
    monkeypatch.setattr(chrome, "CHUNK", chunk)
    n = 5000
    for count in (1, 3) if how is _deep else (1, 10, 100):
        data, hit, _ = _damaged("go1.19.8", how, count, seed=count, n=n)
        counter = _CountingLoads()
        monkeypatch.setattr(orjson, "loads", counter)
        tables = _parse(data)
        monkeypatch.setattr(orjson, "loads", counter.loads)
        assert len(tables["ingest_errors"]) >= count * 0.9  # two broken neighbours may be one error
        assert counter.calls <= 2 * n + 40, counter.calls
        assert counter.size <= 3 * len(data), (counter.size, len(data))


def test_a_counter_whose_args_are_not_an_object_is_an_error_not_a_crash():
    """Valid JSON, so the whole chunk parses: `"args": 5` once raised out of the column-wise path."""
    _, events, _ = SPLIT["go1.27.3"]
    events = list(events[:200])
    i = next(i for i, e in enumerate(events) if b'"ph":"C"' in e)
    hit = {i: events[i][:events[i].index(b'"args":')] + b'"args":5}'}
    got = _check(_file("go1.27.3", [hit.get(j, e) for j, e in enumerate(events)]), hit,
                 _file("go1.27.3", events[:i] + events[i + 1:]))
    assert "has no attribute 'items'" in got["ingest_errors"][0]["message"]


def test_a_broken_event_across_a_chunk_cut_with_no_event_after_it(monkeypatch):
    """The chunk is cut at a `},{` inside the event's string, the event is
    broken past the cut and no boundary follows: the reader moves on (it
    once read the same chunk again and again)."""
    monkeypatch.setattr(chrome, "CHUNK", 50_000)
    data = b'[{"ph":"X","ts":1},{"name":"a},{b","ph":"X","args":{"s":"' + b"x" * 60_000 + b'"x"},"ts":2}]'
    got = _parse(data)
    assert [r["ts_us"] for r in got["trace_events"]] == [1.0]
    assert [e["line"] for e in got["ingest_errors"]] == [1, 1]
    assert "not a complete JSON object" in got["ingest_errors"][0]["message"]
    assert got["trace_files"][0]["complete"] is False


@pytest.mark.parametrize("dur", [b"120493999999998778", b"1e400", b"NaN"])
def test_a_dur_past_int64_nanoseconds_is_an_error_row(dur):
    """Found by fuzzing: a duration no int64 holds raised OverflowError out of parse()."""
    import re

    name = next(iter(GO_TRACES))
    data = gzip.decompress(GO_TRACES[name].read_bytes())
    clean = _parse(data)
    damaged = _parse(re.sub(rb'"dur":[0-9.]+', b'"dur":' + dur, data, count=3))
    assert len(damaged["ingest_errors"]) == 3
    if dur.isdigit():  # valid JSON with a number past int64 (1e400 and NaN are not JSON: a decode error)
        assert all("dur" in e["message"] for e in damaged["ingest_errors"])
    assert len(damaged["trace_events"]) == len(clean["trace_events"]) - 3
