"""Regressions between two report snapshots: what `tokentax diff --fail-on-regression` gates on."""

from __future__ import annotations

import copy

import pytest

from inspector.analyzer import Analyzer
from inspector.analyzer.regression import parse_tolerance, regressions
from tests.support.factory import backend, callout, flow, naive_request


def naive() -> dict:
    a = Analyzer()
    for i in range(10):
        for ev in naive_request(1000.0 + i, i, "fp-1", auth_ms=100):
            a.ingest(ev)
    return a.snapshot()


def cached() -> dict:
    a = Analyzer()
    a.ingest(callout(999.0, 100, "fp-1"))
    for i in range(10):
        t = 1000.0 + i
        a.ingest(backend(t + 0.001, 5, "fp-1", path=f"/orders/{i}"))
        a.ingest(flow("inbound", t, 10, port=8080, path=f"/orders/{i}"))
    return a.snapshot()


def test_tax_coming_back_is_a_regression() -> None:
    found = regressions(cached(), naive())
    names = {r["name"] for r in found}
    assert {"auth_calls_per_request", "tax_ms_per_request", "tax_share_of_ttfb", "token-refetch"} <= names
    tax = next(r for r in found if r["name"] == "tax_ms_per_request")
    assert "(came back)" in tax["message"] and "tolerance of 10 %" in tax["message"]


def test_the_fix_is_not_a_regression() -> None:
    assert regressions(naive(), cached()) == []
    assert regressions(naive(), naive()) == []


def test_tolerance() -> None:
    before = naive()
    after = copy.deepcopy(before)
    after["tax"]["ms_per_inbound"] = before["tax"]["ms_per_inbound"] * 1.08
    assert regressions(before, after, 0.10) == []
    assert [r["name"] for r in regressions(before, after, 0.05)] == ["tax_ms_per_request"]


def test_per_kind_calls_compared_when_both_have_by_kind() -> None:
    before, after = naive(), naive()
    before["callouts"]["by_kind"] = {"token": {"total": 10}}
    after["callouts"]["by_kind"] = {"token": {"total": 10}, "introspection": {"total": 10}}
    assert [r["name"] for r in regressions(before, after)] == ["kind.introspection.auth_calls_per_request"]
    del before["callouts"]["by_kind"]
    assert regressions(before, after) == []  # one side cannot say: not compared


def test_unknown_figures_are_not_compared() -> None:
    before, after = naive(), naive()
    after["tax"]["ms_per_inbound"] = None
    assert regressions(before, after) == []


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("0.1", 0.1), ("0", 0.0), ("25 %", 0.25)])
def test_parse_tolerance(text: str, value: float) -> None:
    assert parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "ten", "-5%", "nan"])
def test_parse_tolerance_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tolerance(text)
