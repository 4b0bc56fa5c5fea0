"""Fuzzing the two places that read untrusted input: the record layer (raw traffic) and
the analyzer plus report renderers (events read back from captures and streams).

Properties:
- `flow_event` never raises on a real HTTPFlow carrying odd bytes, and what it returns
  encodes to a line that `events.decode` accepts, with none of the flow's secrets in it;
- the analyzer, fed events that passed `events.check` (valid role, numeric ts) but whose
  optional fields are missing or any JSON type, never raises, and neither does rendering
  its snapshot in every report format nor the headless status line.

Example counts come from the Hypothesis profile (conftest.py): `ci` by default,
`TOKENTAX_FUZZ=long` for 100,000 (each test takes a fixed share).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from inspector.analyzer import Analyzer
from inspector.analyzer.sanitize import TS_MAX, TS_MIN
from inspector.record import jwt, roles
from inspector.record import tokens as T
from inspector.record.fingerprint import Fingerprinter
from inspector.record.flow_record import RecordContext, flow_event
from inspector.schema import events as E
from inspector.views.report.render import FORMATS, render
from inspector.views.report.text import status_line
from tests.hardening.strategies import (
    build_flow,
    event_streams,
    flow_specs,
    fuzz_settings,
    jwts,
    token_bodies,
)

FPR = Fingerprinter(b"k" * 32)
PLAIN = RecordContext(fpr=FPR)
INBOUND = RecordContext(fpr=FPR, inbound=roles.parse_listeners("22,8080"))


def _record(spec: Any) -> tuple[dict[str, Any], bytes]:
    flow = build_flow(spec)
    ev = flow_event(flow, INBOUND if spec.inbound else PLAIN)
    assert isinstance(ev, dict)
    line = E.encode(ev)
    back = E.decode(line)
    assert back["type"] == "flow" and back["role"] in E.ROLES
    return back, line


@fuzz_settings(share=0.34)
@given(flow_specs())
def test_flow_event_never_raises_and_leaks_nothing(spec: Any) -> None:
    _ev, line = _record(spec)
    for secret in spec.secrets:
        if len(secret) >= 12:
            assert secret.encode("utf-8", "surrogatepass") not in line, secret


@fuzz_settings(share=0.2)
@given(jwts())
def test_jwt_decode_never_raises(token: str) -> None:
    claims = jwt.decode(token)
    assert claims is None or isinstance(claims, dict)
    if claims is not None:
        orjson.dumps(claims)  # goes into events as is
        jwt.lifetime(claims)
    facts = T.bearer_facts("Bearer " + token, FPR)
    assert facts is not None and facts["kind"] in ("jwt", "opaque", "empty", "garbage")
    assert token not in E.encode({"v": 1, "type": "flow", "bearer": facts}).decode()


@fuzz_settings(share=0.2)
@given(token_bodies())
def test_token_response_facts_never_raise(body_secrets: tuple[bytes, list[str]]) -> None:
    body, secrets = body_secrets
    obj = T.parse_json_object(body)
    if obj is None:
        return
    if T.looks_like_token_response(obj) or T.looks_like_token_error(obj):
        line = orjson.dumps(T.response_facts(obj, FPR))
        for s in secrets:
            if len(s) >= 12:
                assert s.encode("utf-8", "surrogatepass") not in line


def _reader_events(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events as a capture reader would hand them over: JSON round trip, then check()."""
    out = []
    for ev in evs:
        try:
            out.append(E.decode(json.dumps(ev)))
        except E.EventError:
            continue
    return out


def _analyze_and_render(evs: list[dict[str, Any]]) -> dict[str, Any]:
    a = Analyzer()
    for ev in evs:
        a.ingest(ev)
    a.advance(1_700_000_900.0)
    snap = a.snapshot()
    json.dumps(snap, default=str)
    for fmt in FORMATS:
        assert isinstance(render(snap, fmt), str)
    status_line(snap)
    return snap


@fuzz_settings(share=0.2)
@given(event_streams())
def test_analyzer_and_reports_survive_any_optional_field(evs: list[dict[str, Any]]) -> None:
    evs = _reader_events(evs)
    snap = _analyze_and_render(evs)
    # a flow whose ts is no displayable time is skipped; every other one is counted
    assert snap["events"] == sum(1 for ev in evs if ev["type"] == "flow" and TS_MIN <= ev["ts"] <= TS_MAX)


@fuzz_settings(share=0.06)
@given(st.lists(flow_specs(), min_size=1, max_size=12))
def test_recorded_fuzz_flows_through_analyzer_and_reports(specs: list[Any]) -> None:
    """The record layer's output on odd traffic, read back and analyzed end to end."""
    evs = [_record(spec)[0] for spec in specs]
    snap = _analyze_and_render(evs)
    assert snap["events"] == len(evs)
