"""The batch ingest path (`Analyzer.ingest_many`, what capture/load.py uses) gives the very report
that ingesting event by event gives: byte for byte, as JSON and as rendered text."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson

from bench.synth import events as synth_events
from inspector.analyzer import Analyzer
from inspector.capture.detect import LoadOptions, load_events
from inspector.capture.jsonl import read_events
from inspector.capture.load import analyze_file
from inspector.schema import events as E
from inspector.schema.lean import LeanEncoder
from inspector.views.report.render import render
from tests.analyzer.test_token_truth import loopback

DATA = Path(__file__).resolve().parent.parent / "data"


def report_bytes(a: Analyzer) -> tuple[bytes, str]:
    snap = a.snapshot()
    return orjson.dumps(snap, option=orjson.OPT_SORT_KEYS), render(snap, "text")


def one_by_one(evs: Any) -> Analyzer:
    a = Analyzer()
    for ev in evs:
        a.ingest(ev)
    return a


def batch(evs: Any) -> Analyzer:
    a = Analyzer()
    a.ingest_many(evs)
    return a


def quiet() -> LoadOptions:
    return LoadOptions(warn=lambda _m: None)


def test_naive_gateway_capture_same_report() -> None:
    cap = DATA / "naive_gateway.jsonl"
    expected = report_bytes(one_by_one(load_events(cap, quiet())))
    assert report_bytes(analyze_file(cap, quiet(), show_progress=False)) == expected
    assert report_bytes(batch(load_events(cap, quiet()))) == expected


def test_synthetic_50k_lean_capture_same_report(tmp_path: Path) -> None:
    cap = tmp_path / "synth.jsonl"
    enc = LeanEncoder()
    with open(cap, "wb") as fh:
        fh.write(enc.header(E.session_event(1_800_000_000.0, source="live", key_id="k")))
        fh.writelines(enc.encode(ev) for ev in synth_events(50_000))
    expected = report_bytes(one_by_one(load_events(cap, quiet())))
    got = analyze_file(cap, quiet(), show_progress=False)
    assert got.events == 50_000
    assert report_bytes(got) == expected
    # and on the events themselves, never written to a file
    assert report_bytes(batch(synth_events(50_000))) == report_bytes(one_by_one(synth_events(50_000)))


def test_relays_ill_typed_fields_and_non_flow_events_same_report() -> None:
    evs: list[dict[str, Any]] = [E.session_event(999.0, source="live", key_id="k")]
    evs += loopback(10, cache=False)  # nesting: relays and their origins
    evs += loopback(5, cache=True)
    bad = dict(evs[3], status="200", timing={"total": "x"}, port=True)  # fixed by clean_flow
    evs += [bad, dict(evs[4], ts="soon"), E.addon_event(2000.0, errors=1, dropped=2)]
    assert report_bytes(batch(evs)) == report_bytes(one_by_one(evs))


def ill_typed() -> list[dict[str, Any]]:
    """Flows with fields of the wrong type in every place a lean record can hold them: leaves,
    interned values (jwt, gateway, key) and shape constants (method)."""
    base = list(synth_events(30))
    bad: list[dict[str, Any]] = []
    for i, ev in enumerate(base):
        ev = dict(ev)
        match i % 10:
            case 0:
                ev["port"] = "x"
            case 1:
                ev["status"] = True
            case 2:
                ev["timing"] = dict(ev["timing"], total="slow")
            case 3:
                ev["ts"] = 1e300  # no real time: skipped
            case 4:
                if "bearer" in ev:
                    ev["bearer"] = dict(ev["bearer"], jwt={"exp": "never"})
            case 5:
                ev["gateway"] = [1, "Kong"]
            case 6:
                ev["key"] = "not a dict"
            case 7:
                ev["method"] = 5
            case 8:
                if "token" in ev:
                    ev["token"] = dict(ev["token"], jwt={"exp": 1.5, "iat": "x"}, expires_in=None)
            case 9:
                ev["end"] = -1e20
        bad.append(ev)
    return bad


def test_lean_and_v1_records_vetted_by_the_reader_same_report(tmp_path: Path) -> None:
    """analyze_file has the reader clean flow events (lean ones shape by shape) and skips
    clean_flow in the analyzer: the same report as cleaning in the analyzer, event by event."""
    evs = [E.session_event(1_799_999_999.0, source="live", key_id="k")] + ill_typed() + list(synth_events(300))
    for lean in (True, False):
        cap = tmp_path / f"bad-{lean}.jsonl"
        enc = LeanEncoder() if lean else None
        with open(cap, "wb") as fh:
            fh.writelines(enc.encode(ev) if enc else E.encode(ev) for ev in evs)
        expected = report_bytes(one_by_one(load_events(cap, quiet())))
        assert report_bytes(one_by_one(evs)) == expected
        assert report_bytes(analyze_file(cap, quiet(), show_progress=False)) == expected
        cleaned = list(load_events(cap, LoadOptions(warn=lambda _m: None, clean=True)))
        assert len(cleaned) == len(evs) - 3  # the flows with no real time (i % 10 == 3)
        a = Analyzer()
        a.ingest_many(cleaned, cleaned=True)
        assert report_bytes(a) == expected


def test_vetted_lean_reading_equals_clean_flow_when_interned_values_and_slots_change() -> None:
    """The reader's fast path (a shape's constant v/type/role checked once, interned values vetted
    once by identity) gives exactly what clean_flow gives event by event: when one shape sees good
    and ill-typed interned values in turn, and when the writer recycles shape and value slots all
    the time (tiny tables), so that a slot never keeps the verdict of what it held before."""
    from inspector.analyzer.sanitize import clean_flow

    synth = list(synth_events(600))
    evs = [E.session_event(1_799_999_999.0, source="live", key_id="k"), *synth, *ill_typed()]
    inbound = 0
    for ev in synth:
        if ev.get("role") == "inbound":  # one shape: its gateway list good, good, ..., then not
            inbound += 1
            ev["gateway"] = [inbound] if inbound % 5 == 0 else [f"gw{inbound % 3}"]
    assert sum(1 for ev in evs if type(ev.get("gateway")) is list and type(ev["gateway"][0]) is int) >= 30
    expected = []
    for ev in evs:
        if ev.get("type") == "flow":
            ev = clean_flow(orjson.loads(E.encode(ev)))
        if ev is not None:
            expected.append(orjson.dumps(ev, option=orjson.OPT_SORT_KEYS))
    for enc in (LeanEncoder(), LeanEncoder(max_shapes=3, max_refs=4)):
        buf = b"".join(enc.encode(ev) for ev in evs)
        got = [
            orjson.dumps(ev, option=orjson.OPT_SORT_KEYS)
            for ev in read_events(io.BytesIO(buf), "mem", warn=lambda _m: None, clean=True)
        ]
        assert got == expected
