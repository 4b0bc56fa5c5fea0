"""The typed contracts hold for what the producers really make, and the docs name the same fields."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from inspector.analyzer import Analyzer
from inspector.capture.load import analyze_file
from inspector.schema.types import AddonEvent, FlowEvent, ProbeEvent, Report, SessionEvent, Timing, problems

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "data" / "naive_gateway.jsonl"
CONTRACTS = {"session": SessionEvent, "flow": FlowEvent, "addon": AddonEvent, "probe": ProbeEvent}


def _events() -> list[dict[str, typing.Any]]:
    from inspector.capture.detect import LoadOptions, load_events

    return list(load_events(CAPTURE, LoadOptions()))


def test_every_event_of_a_real_capture_conforms() -> None:
    events = _events()
    assert {e["type"] for e in events} >= {"session", "flow"}
    for ev in events:
        assert problems(ev, CONTRACTS[ev["type"]]) == [], ev.get("id")


def test_the_analyzer_snapshot_conforms_to_the_report_contract() -> None:
    snap = analyze_file(CAPTURE, show_progress=False).snapshot()
    assert problems(snap, Report) == []
    assert problems(Analyzer().snapshot(), Report) == []  # an empty session too


def test_a_real_probe_event_conforms() -> None:
    from inspector.schema.events import probe_event

    assert problems(probe_event(1.0, listener="reverse:http://127.0.0.1:1@8080", reason="no request"), ProbeEvent) == []


def test_problems_name_the_path_and_what_was_wrong() -> None:
    ev = dict(_events()[1])
    ev["timing"] = {**ev["timing"], "total": "803"}
    ev["role"] = "sidecar"
    ev["surprise"] = 1
    found = problems(ev, FlowEvent)
    assert "$.timing.total: expected a number, got str" in found
    assert any(p.startswith("$.role: expected one of") for p in found)
    assert "$.surprise: not in the FlowEvent contract" in found
    assert problems({"v": 1}, AddonEvent)[:1] == ["$.dropped: missing"]


@pytest.mark.parametrize(("heading", "contract"), [("## `flow`", FlowEvent), ("## `session`", SessionEvent)])
def test_docs_events_md_names_exactly_the_contract_fields(heading: str, contract: type) -> None:
    doc = (ROOT / "docs" / "events.md").read_text()
    section = doc.split(heading, 1)[1].split("\n## ", 1)[0]
    documented: set[str] = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M):
        documented |= set(re.findall(r"`([a-z_]+)`", row))
    fields = set(typing.get_type_hints(contract)) - {"v", "type"}
    assert documented == fields


def test_timing_phases_are_the_vocabulary_phases() -> None:
    from inspector.schema.vocab import TIMING_KEYS

    assert tuple(typing.get_type_hints(Timing)) == TIMING_KEYS
