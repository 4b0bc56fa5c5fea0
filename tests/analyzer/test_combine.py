"""combine(): several proxies' summary reports summed into one, ratios recomputed from the sums.

The reference for every summable figure is one analyzer that saw all the events of
both proxies: when the two gateways use different token keys (as two sidecars of
different gateways do), its counts and ratios must equal the combined ones exactly.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from inspector.analyzer import Analyzer
from inspector.analyzer.combine import combine, source_figures, ttfb_total_ms
from inspector.analyzer.core import AnalyzerConfig
from inspector.views.report.render import FORMATS, render
from inspector.views.tui.components.kpi import kpi_values
from tests.support.factory import flow, naive_request

A, B = "127.0.0.1:7391", "127.0.0.1:7392"


def events(t0: float, n: int, auth_ms: float, endpoint: str, fp: str, gap: float = 1.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        for ev in naive_request(t0 + i * gap, i, fp, auth_ms=auth_ms):
            if ev["role"] == "callout":
                ev["key"]["endpoint"] = endpoint
            out.append(ev)
    return out


def analyze(evs: list[dict[str, Any]]) -> Analyzer:
    an = Analyzer()
    for ev in evs:
        an.ingest(copy.deepcopy(ev))
    return an


@pytest.fixture(scope="module")
def two() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    # both sessions span over a minute: per-hour figures are withheld below 60 s (notes.py)
    ea = events(1000.0, 12, 800, "auth-a:9001/token", "fpa", gap=6.0)
    eb = events(1003.5, 5, 50, "auth-b:9001/token", "fpb", gap=16.0)
    eb.append(flow("inbound", 1020.0, 30, status=503, port=8080))  # an error on B only
    return ea, eb


def test_counts_and_ratios_equal_one_analyzer_over_both(two) -> None:
    ea, eb = two
    ra, rb = analyze(ea).snapshot(), analyze(eb).snapshot()
    # events arrive as flows finish (a hop before the inbound request that waited for it)
    whole = analyze(sorted(ea + eb, key=lambda e: e["end"])).snapshot()
    c = combine([ra, rb], [A, B])
    assert c["flows"] == whole["flows"] and c["events"] == whole["events"] and c["errors"] == whole["errors"]
    for k in ("total", "ok", "redundant", "identical", "failed", "per_inbound", "redundant_share"):
        assert c["callouts"][k] == whole["callouts"][k], k
    assert c["inbound"]["total"] == whole["inbound"]["total"]
    assert c["inbound"]["errors"] == whole["inbound"]["errors"]
    assert c["inbound"]["ttfb_total_ms"] == pytest.approx(whole["inbound"]["ttfb_total_ms"])
    for k in ("total_ms", "ms_per_inbound", "share_of_ttfb"):
        assert c["tax"][k] == pytest.approx(whole["tax"][k], abs=1e-3), k
    # and not an average of the two ratios: the sources differ a lot
    assert ra["tax"]["ms_per_inbound"] > 10 * rb["tax"]["ms_per_inbound"]
    assert c["tax"]["ms_per_inbound"] != pytest.approx((ra["tax"]["ms_per_inbound"] + rb["tax"]["ms_per_inbound"]) / 2)
    assert c["span"]["start"] == whole["span"]["start"] and c["span"]["end"] == whole["span"]["end"]


def test_what_cannot_be_summed_is_labelled(two) -> None:
    ra, rb = (analyze(e).snapshot() for e in two)
    c = combine([ra, rb], [A, B])
    assert c["callouts"]["p95_ms"] is None and c["inbound"]["ttfb_p95_ms"] is None
    mx = c["combined"]["max_percentiles"]
    assert mx["callout_p95_ms"] == max(ra["callouts"]["p95_ms"], rb["callouts"]["p95_ms"])
    assert mx["ttfb_p95_ms"] == max(ra["inbound"]["ttfb_p95_ms"], rb["inbound"]["ttfb_p95_ms"])
    assert c["callouts"]["max_ms"] == max(ra["callouts"]["max_ms"], rb["callouts"]["max_ms"])
    assert c["tokens_distinct"] == ra["tokens_distinct"] + rb["tokens_distinct"] == 2
    assert "upper bound" in c["combined"]["tokens_distinct"]
    assert kpi_values(c)["tokens"][0] == "≤ 2"
    assert kpi_values(ra)["tokens"][0] == "1"  # one source: no bound mark
    assert {t["source"] for t in c["tokens"]} == {A, B}


def test_rates_are_summed_over_live_sources_only(two) -> None:
    ra, rb = (analyze(e).snapshot() for e in two)
    both = combine([ra, rb], [A, B])
    assert both["rates"]["inbound_per_s"] == pytest.approx(ra["rates"]["inbound_per_s"] + rb["rates"]["inbound_per_s"])
    a_dead = combine([ra, rb], [A, B], live=[False, True])
    assert a_dead["rates"]["inbound_per_s"] == pytest.approx(rb["rates"]["inbound_per_s"])
    assert a_dead["flows"] == both["flows"]  # a dead source's counts stay in the totals
    assert a_dead["combined"]["live"] == 1
    assert a_dead["tax"]["avoidable_callouts_per_hour"] == rb["tax"]["avoidable_callouts_per_hour"]
    assert a_dead["tax"]["caller_seconds_per_day"] == rb["tax"]["caller_seconds_per_day"]
    assert combine([ra], [A], live=[False])["tax"]["avoidable_callouts_per_hour"] is None
    aph = ra["tax"]["avoidable_callouts_per_hour"] + rb["tax"]["avoidable_callouts_per_hour"]
    assert both["tax"]["avoidable_callouts_per_hour"] == pytest.approx(aph, abs=0.11)


def test_series_are_summed_second_by_second_on_their_own_clocks() -> None:
    def rep(end: int, inbound: list[int]) -> dict[str, Any]:
        r = Analyzer().snapshot()
        r["rates"]["series_end"] = end
        r["rates"]["series"] = {"inbound": inbound}
        return r

    c = combine([rep(100, [1, 2, 3]), rep(98, [10, 20, 30, 40])], [A, B])
    # A: seconds 98, 99, 100; B: 95..98. Combined ends at 100 and is as long as the longest.
    assert c["rates"]["series_end"] == 100
    assert c["rates"]["series"]["inbound"] == [30, 40 + 1, 2, 3]


def test_share_of_ttfb_from_a_proxy_without_ttfb_total(two) -> None:
    ra, rb = (analyze(e).snapshot() for e in two)
    old = copy.deepcopy(ra)
    del old["inbound"]["ttfb_total_ms"]
    assert ttfb_total_ms(old) == pytest.approx(ra["inbound"]["ttfb_total_ms"], rel=1e-3)
    assert combine([old, rb])["tax"]["share_of_ttfb"] == pytest.approx(
        combine([ra, rb])["tax"]["share_of_ttfb"], abs=1e-3
    )


def test_findings_stay_each_sources_own(two) -> None:
    ra, rb = (analyze(e).snapshot() for e in two)
    c = combine([ra, rb], [A, B])
    refetch = [f for f in c["findings"] if f["id"] == "token-refetch"]
    assert sorted(f["title"].split(": ", 1)[0] for f in refetch) == [A, B]
    assert [f["severity"] for f in c["findings"]] == sorted(
        (f["severity"] for f in c["findings"]), key=["critical", "warning", "info", "ok"].index
    )


def test_empty_sources_and_one_source() -> None:
    empty = Analyzer().snapshot()
    c = combine([empty, empty], [A, B])
    assert c["callouts"]["per_inbound"] is None and c["tax"]["share_of_ttfb"] is None and c["findings"] == []
    assert kpi_values(c)["per-inbound"][0] == "—"
    with pytest.raises(ValueError):
        combine([empty], [A, B])


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_combined_report_renders_in_every_format(two, fmt: str) -> None:
    c = combine([analyze(e).snapshot() for e in two], [A, B])
    assert render(c, fmt)


def test_source_figures_read_the_report_as_is(two) -> None:
    ra = analyze(two[0]).snapshot()
    fig = source_figures(ra)
    assert fig["flows"] == sum(ra["flows"].values()) and fig["per_inbound"] == ra["callouts"]["per_inbound"]
    assert fig["tax_ms_per_inbound"] == ra["tax"]["ms_per_inbound"]
    assert fig["callout_p95_ms"] == ra["callouts"]["p95_ms"]
    assert source_figures(None)["flows"] == 0


def test_a_gateway_is_named_for_the_sum_only_when_every_source_names_the_same(two) -> None:
    """Sidecars beside one product, each told its name, name it in the sum; sources that
    disagree, or one that named nothing, leave the sum unnamed (the hints still merge)."""
    ea, eb = two

    def report(evs: list[dict[str, Any]], named: str | None) -> dict[str, Any]:
        an = Analyzer(AnalyzerConfig(gateway=named))
        for ev in evs:
            an.ingest(copy.deepcopy(ev))
        return an.snapshot()

    both = combine([report(ea, "Traefik"), report(eb, "Traefik")], [A, B])
    assert both["gateway_named"] == "Traefik" and both["gateway"] == ["Traefik"]
    assert combine([report(ea, "Traefik"), report(eb, "Caddy")], [A, B])["gateway_named"] is None
    one = combine([report(ea, "Traefik"), report(eb, None)], [A, B])
    assert one["gateway_named"] is None and one["gateway"] == ["Traefik"]
