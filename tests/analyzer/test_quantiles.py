"""Percentiles: exact while the sample is small, never outside the observed [min, max]."""

from __future__ import annotations

import statistics

from hypothesis import given
from hypothesis import strategies as st

from inspector.analyzer import Analyzer
from inspector.analyzer.quantiles import RAW_LIMIT, SKETCH_RELATIVE_ERROR, Quantiles
from tests.support import factory as F

# A demo's callouts, all 801.8–808.9 ms (sorted here for reading; added shuffled below).
CLUSTER = [
    801.8, 801.9, 802.0, 802.1, 802.2, 802.3, 802.4, 802.5, 802.6, 802.7, 802.8,
    802.9, 803.0, 803.2, 803.5, 803.8, 804.1, 804.5, 805.0, 805.4, 808.9,
]  # fmt: skip


def _shuffled(values: list[float]) -> list[float]:
    return values[1::2] + values[0::2]


def test_tight_cluster_gives_its_true_percentiles() -> None:
    q = Quantiles()
    for v in _shuffled(CLUSTER):
        q.add(v)
    assert q.exact
    assert q.summary() == {"min_ms": 801.8, "p50_ms": 802.8, "p95_ms": 805.4, "max_ms": 808.9}


def test_interpolates_between_ranks_like_statistics_inclusive() -> None:
    q = Quantiles()
    for v in (10.0, 20.0, 30.0, 40.0):
        q.add(v)
    assert q.percentile(0.5) == 25.0
    assert q.percentile(0.95) == 38.5
    assert [round(x, 3) for x in statistics.quantiles([10.0, 20.0, 30.0, 40.0], n=20, method="inclusive")][-1] == 38.5


def test_empty_series_is_unknown_not_zero() -> None:
    assert Quantiles().summary("ttfb_") == {
        "ttfb_min_ms": None,
        "ttfb_p50_ms": None,
        "ttfb_p95_ms": None,
        "ttfb_max_ms": None,
    }


def test_above_the_raw_bound_the_sketch_keeps_its_stated_error_and_the_range() -> None:
    q = Quantiles()
    for i in range(RAW_LIMIT + 1):
        q.add(1.0 + i)  # 1 .. 10001 ms
    assert not q.exact
    assert (q.min_ms(), q.max_ms()) == (1.0, 10001.0)
    p50, p95 = q.percentile(0.5), q.percentile(0.95)
    assert p50 is not None and p95 is not None
    assert abs(p50 - 5001.0) / 5001.0 <= SKETCH_RELATIVE_ERROR
    assert abs(p95 - 9501.0) / 9501.0 <= SKETCH_RELATIVE_ERROR
    assert q.percentile(0.0) == 1.0  # the sketch's bucket middle is clamped to the observed min
    assert q.percentile(1.0) == 10001.0


def test_identical_values_above_the_bound_report_that_value_exactly() -> None:
    q = Quantiles()
    for _ in range(RAW_LIMIT + 5):
        q.add(805.0)
    assert not q.exact
    assert q.summary() == {"min_ms": 805.0, "p50_ms": 805.0, "p95_ms": 805.0, "max_ms": 805.0}


def test_small_raw_limit_switches_to_the_sketch_with_the_same_counts() -> None:
    q = Quantiles(raw_limit=20)
    for v in _shuffled(CLUSTER):  # 21 values: one over
        q.add(v)
    assert not q.exact
    assert (q.n, q.min_ms(), q.max_ms()) == (21, 801.8, 808.9)
    p50 = q.percentile(0.5)
    assert p50 is not None and 801.8 <= p50 <= 808.9
    assert abs(p50 - 802.8) / 802.8 <= SKETCH_RELATIVE_ERROR


@given(
    st.lists(st.floats(min_value=0.0, max_value=120_000.0, allow_nan=False), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=80),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_never_outside_the_observed_range(values: list[float], raw_limit: int, quantile: float) -> None:
    q = Quantiles(raw_limit=raw_limit)
    for v in values:
        q.add(v)
    p = q.percentile(quantile)
    assert p is not None
    assert round(min(values), 3) <= p <= round(max(values), 3)


def test_report_carries_exact_callout_and_ttfb_percentiles_with_min_and_max() -> None:
    a = Analyzer()
    t = 1000.0
    for i, v in enumerate(_shuffled(CLUSTER)):
        a.ingest(F.callout(t + i, v, fp=f"fp{i}"))
        a.ingest(F.flow("inbound", t + i, v + 30.0))
    s = a.snapshot()
    c = s["callouts"]
    assert (c["min_ms"], c["p50_ms"], c["p95_ms"], c["max_ms"]) == (801.8, 802.8, 805.4, 808.9)
    inbound = s["inbound"]
    assert (inbound["ttfb_min_ms"], inbound["ttfb_p50_ms"], inbound["ttfb_p95_ms"], inbound["ttfb_max_ms"]) == (
        831.8,
        832.8,
        835.4,
        838.9,
    )
    callout_route = next(r for r in s["routes"] if r["role"] == "callout")
    assert (callout_route["min_ms"], callout_route["p50_ms"], callout_route["max_ms"]) == (801.8, 802.8, 808.9)
