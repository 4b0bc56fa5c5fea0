"""The batch ingest path (`Analyzer.ingest_many`, what capture/load.py uses) gives the very report
that ingesting event by event gives: byte for byte, as JSON and as rendered text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bench.synth import events as synth_events
from inspector.analyzer import Analyzer
from inspector.capture.detect import LoadOptions, load_events
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
