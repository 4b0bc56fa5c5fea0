"""Prometheus metrics: the analyzer's figures, read at scrape time from a real mitmdump.

The figures scraped from a live sidecar must equal those of `tokentax report --format
json` on the same session's capture (one source of truth, no second count), the
histograms must be well-formed Prometheus histograms, and a scraper must never hold up
traffic.
"""

from __future__ import annotations

import socket
import time

import httpx
from hypothesis import given
from hypothesis import strategies as st

from inspector.analyzer import Analyzer
from inspector.analyzer.quantiles import Quantiles
from inspector.live.metrics import LE_BOUNDS_S, METRIC_NAMES, AnalyzerCollector, histogram_buckets
from tests.live.conftest import report_json, sample, scrape, send
from tests.support import factory as F


def test_scraped_counters_equal_the_report_of_the_same_session(sidecars) -> None:
    # a failing auth server first (callout errors), then the naive gateway's refetches
    node = sidecars("--auth-fail-first", "2", "--auth-fail-kind", "500")
    sent = send(node.url, 12, concurrency=2) + send(node.url, 4, traced=False)
    assert len(sent) == 16
    scraped_at = time.time()
    m = scrape(node.metrics)
    node.stop()
    rep = report_json(node.capture)

    for role in ("inbound", "callout", "backend", "other"):
        assert sample(m, "tokentax_flows_total", role=role) == rep["flows"][role], role
    c = rep["callouts"]
    assert c["failed"] >= 2 and c["redundant"] >= 10
    # the lab's gateway fetches tokens: every callout is of kind token
    assert sample(m, "tokentax_callouts_total", kind="token", outcome="ok") == c["ok"]
    assert sample(m, "tokentax_callouts_total", kind="token", outcome="error") == c["failed"]
    assert sample(m, "tokentax_redundant_callouts_total", kind="token") == c["redundant"]
    assert sample(m, "tokentax_identical_callouts_total", kind="token") == c["identical"]
    assert round(sample(m, "tokentax_token_tax_seconds_total") * 1000, 3) == rep["tax"]["total_ms"]
    assert sample(m, "tokentax_callout_duration_seconds_count") == c["total"]
    assert sample(m, "tokentax_inbound_ttfb_seconds_count") == rep["inbound"]["total"]
    active = sum(1 for t in rep["tokens"] if t["expires_at"] is not None and t["expires_at"] > scraped_at)
    assert active >= 1 and sample(m, "tokentax_tokens_active") == active
    assert sample(m, "tokentax_addon_errors_total") == rep["addon"]["errors"] == 0
    assert sample(m, "tokentax_stream_dropped_events_total") == rep["addon"]["dropped"] == 0
    # p95 from the report lies in the bucket where the scraped histogram crosses 95 %
    n = sample(m, "tokentax_callout_duration_seconds_count")
    le = next(b for b in LE_BOUNDS_S if sample(m, "tokentax_callout_duration_seconds_bucket", le=repr(b)) >= 0.95 * n)
    assert c["p95_ms"] / 1000 <= le * 1.05


def test_only_bounded_labels_and_known_names(sidecars) -> None:
    node = sidecars()
    send(node.url, 6)
    m = scrape(node.metrics)
    names = {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name, _ in m}
    assert names <= METRIC_NAMES
    assert METRIC_NAMES - names == {"tokentax_otlp_dropped_traces_total"}  # only with tokentax_otlp on
    label_names = {k for _, labels in m for k, _ in labels}
    assert label_names <= {"role", "kind", "outcome", "le"}  # kind: the only label added for auth kinds
    values = {v for _, labels in m for _, v in labels}
    assert not any("/" in v or "127.0.0.1" in v for v in values)  # no path or host ever becomes a label


def test_stalled_scraper_never_holds_up_flows(sidecars) -> None:
    node = sidecars()
    host, port = node.metrics.rsplit(":", 1)
    stalled = [socket.create_connection((host, int(port))) for _ in range(3)]
    try:
        for s in stalled:
            s.sendall(b"GET /metr")  # half a request line, then nothing
        assert [st for st, _ in send(node.url, 8)] == [200] * 8
        assert sample(scrape(node.metrics), "tokentax_flows_total", role="inbound") == 8
    finally:
        for s in stalled:
            s.close()


def test_http_surface(sidecars) -> None:
    node = sidecars()
    base = f"http://{node.metrics}"
    with httpx.Client(trust_env=False, timeout=10) as c:
        r = c.get(base + "/metrics")
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert c.get(base + "/metrics").status_code == 200  # same kept-alive connection
        assert c.head(base + "/metrics").status_code == 200
        assert c.get(base + "/").status_code == 404
        assert c.post(base + "/metrics").status_code == 405


def test_collector_reads_the_analyzer_not_a_copy() -> None:
    a = Analyzer()
    col = AnalyzerCollector(a, clock=lambda: 0.0)

    def figures() -> dict[str, float]:
        return {s.name + str(sorted(s.labels.items())): s.value for fam in col.collect() for s in fam.samples}

    before = figures()
    a.ingest(F.flow("inbound", 100.0, 50))
    after = figures()
    assert before["tokentax_flows_total[('role', 'inbound')]"] == 0
    assert after["tokentax_flows_total[('role', 'inbound')]"] == 1
    assert after["tokentax_inbound_ttfb_seconds_count[]"] == 1
    assert after["tokentax_inbound_ttfb_seconds_sum[]"] == 0.05


@given(
    st.lists(st.floats(min_value=0.0, max_value=120_000.0, allow_nan=False), max_size=200),
    st.sampled_from([10_000, 5]),  # exact raw values, and the sketch past a small raw bound
)
def test_histogram_buckets_are_cumulative_consistent_and_never_over_report(values: list[float], raw: int) -> None:
    h = Quantiles(raw_limit=raw)
    for v in values:
        h.add(v)
    buckets = histogram_buckets(h)
    assert buckets[-1] == ("+Inf", float(len(values)))  # +Inf == _count
    counts = [c for _, c in buckets]
    assert counts == sorted(counts)  # cumulative
    for (le_s, cum), le in zip(buckets, LE_BOUNDS_S, strict=False):
        le_ms = le * 1000
        assert cum <= sum(1 for v in values if v <= le_ms * (1 + 1e-9)), le_s  # never over-reports
        assert cum >= sum(1 for v in values if v <= le_ms / 1.0401), le_s  # off by at most one 4 % bucket


class _KindsAnalyzer(Analyzer):
    """An analyzer whose report has `callouts.by_kind` (the contract), to check the labels."""

    def snapshot(self):  # type: ignore[no-untyped-def]
        snap = super().snapshot()
        snap["callouts"]["by_kind"] = {
            "token": {"total": 5, "ok": 4, "redundant": 3, "identical": 2, "failed": 1},
            "introspection": {"total": 9, "redundant": 8, "identical": 0, "failed": 0},
            "jwks": {"total": 2, "redundant": 1, "identical": 1, "failed": 1, "unknown_kid": 1},
        }
        return snap


def test_callout_metrics_carry_a_kind_label() -> None:
    from prometheus_client import generate_latest

    from inspector.live.metrics import make_registry

    text = generate_latest(make_registry(AnalyzerCollector(_KindsAnalyzer()))).decode()
    assert 'tokentax_callouts_total{kind="introspection",outcome="ok"} 9.0' in text
    assert 'tokentax_callouts_total{kind="token",outcome="ok"} 4.0' in text
    assert 'tokentax_callouts_total{kind="jwks",outcome="error"} 1.0' in text
    assert 'tokentax_redundant_callouts_total{kind="introspection"} 8.0' in text
    assert 'tokentax_identical_callouts_total{kind="jwks"} 1.0' in text


def test_without_kinds_every_callout_is_a_token_callout() -> None:
    a = Analyzer()
    for i in range(3):
        for ev in F.naive_request(1000.0 + i, i, "aaaa"):
            a.ingest(ev)
    assert a.redundant == 2
    m = {(n, frozenset(labels.items())): v for n, labels, v in _samples(AnalyzerCollector(a))}
    assert m[("tokentax_redundant_callouts_total", frozenset({("kind", "token")}))] == a.redundant


def _samples(collector):  # type: ignore[no-untyped-def]
    for family in collector.collect():
        for s in family.samples:
            yield s.name, s.labels, s.value


def test_histogram_buckets_are_exact_while_raw_values_are_kept() -> None:
    h = Quantiles()
    for v in (4.9, 5.0, 5.1, 801.8, 808.9):  # 5 ms is a bound: 5.0 counts in le=0.005, 5.1 does not
        h.add(v)
    buckets = dict(histogram_buckets(h, (0.005, 0.01, 0.8, 1.0)))
    assert buckets == {"0.005": 2.0, "0.01": 3.0, "0.8": 3.0, "1.0": 5.0, "+Inf": 5.0}
