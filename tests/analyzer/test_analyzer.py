"""The analyzer on event streams with known answers: redundant, identical, tax, failures, bounds."""

from __future__ import annotations

from inspector.analyzer import Analyzer
from tests.support.factory import backend, callout, flow, naive_request


def ids(snap) -> set[str]:
    return {f["id"] for f in snap["findings"]}


def test_naive_gateway_every_fetch_after_the_first_is_redundant() -> None:
    a = Analyzer()
    for i in range(50):
        for ev in naive_request(1000.0 + i, i, fp=f"tok{i}"):
            a.ingest(ev)
    s = a.snapshot()
    assert s["flows"]["inbound"] == 50 and s["callouts"]["total"] == 50
    assert s["callouts"]["redundant"] == 49 and s["callouts"]["identical"] == 0
    assert s["callouts"]["per_inbound"] == 1.0
    assert s["tax"]["ms_per_inbound"] == 49 * 800 / 50
    assert abs(s["tax"]["share_of_ttfb"] - 49 * 800 / (50 * 810)) < 1e-3
    refetch = next(f for f in s["findings"] if f["id"] == "token-refetch")
    assert refetch["severity"] == "critical" and "49 of 50" in refetch["title"] and "784 ms" in refetch["title"]
    assert "token-lifetime" in ids(s)


def test_reissued_token_counts_identical_fetches() -> None:
    a = Analyzer()
    for i in range(10):
        for ev in naive_request(1000.0 + i, i, fp="same"):
            a.ingest(ev)
    s = a.snapshot()
    assert s["callouts"]["identical"] == 9 and s["callouts"]["redundant"] == 9
    assert "identical-token-responses" in ids(s)
    assert s["tokens_distinct"] == 1 and s["tokens"][0]["fetches"] == 10 and s["tokens"][0]["uses"] == 10


def test_cached_gateway_has_no_refetch_finding() -> None:
    a = Analyzer()
    a.ingest(callout(1000.0, 800, "tok"))
    for i in range(49):
        a.ingest(backend(1001.0 + i, 5, "tok", path=f"/users/{i}" if i % 2 else "/orders"))
        a.ingest(flow("inbound", 1001.0 + i, 10, port=8080))
    s = a.snapshot()
    assert s["callouts"]["total"] == 1 and s["callouts"]["redundant"] == 0
    assert "token-refetch" not in ids(s)
    assert "token-shared-across-routes" in ids(s)


def test_fetch_after_expiry_is_not_redundant_and_concurrent_first_fetches_are_not() -> None:
    a = Analyzer()
    a.ingest(callout(1000.0, 100, "t1", expires_in=60))
    a.ingest(callout(1000.05, 100, "t2", expires_in=60))  # started before t1 was issued: not redundant
    a.ingest(callout(1030.0, 100, "t3", expires_in=60))  # within lifetime minus skew: redundant
    a.ingest(callout(1100.0, 100, "t4", expires_in=60))  # after expiry: not redundant
    assert a.snapshot()["callouts"]["redundant"] == 1


def test_auth_failures_and_error_cached() -> None:
    a = Analyzer()
    a.ingest(callout(1000.0, 50, None, status=401, error="invalid_client"))
    a.ingest(flow("inbound", 999.99, 70, status=502, port=8080))
    for i in range(5):  # poisoned: no new callout, garbage bearer to the backend, error to the caller
        a.ingest(backend(1001.0 + i, 2, None, kind="garbage", status=401))
        a.ingest(flow("inbound", 1001.0 + i, 5, status=401, port=8080))
    s = a.snapshot()
    assert s["callouts"]["failed"] == 1 and s["callouts"]["failures"] == {"401 invalid_client": 1}
    assert s["aftermath"]["error_reused"] == 5 and s["aftermath"]["bad_bearer_after_failure"] == 5
    assert {"auth-failure", "error-cached"} <= ids(s)


def test_failures_without_caching_are_not_error_cached() -> None:
    a = Analyzer()
    for i in range(5):  # naive gateway: every request tries the auth server again
        a.ingest(callout(1000.0 + i + 0.001, 50, None, status=500))
        a.ingest(flow("inbound", 1000.0 + i, 70, status=502, port=8080))
    s = a.snapshot()
    assert s["callouts"]["failed"] == 5 and s["aftermath"]["error_reused"] == 0
    assert "auth-failure" in ids(s) and "error-cached" not in ids(s)


def test_timeouts_and_refused_are_failure_kinds() -> None:
    a = Analyzer()
    a.ingest(callout(1000.0, 5000, None, status=None) | {"error": {"kind": "abandoned", "msg": ""}})
    a.ingest(callout(1010.0, 1, None, status=None) | {"error": {"kind": "refused", "msg": ""}})
    assert a.snapshot()["callouts"]["failures"] == {"timeout": 1, "refused": 1}


def test_stampede() -> None:
    a = Analyzer()
    for i in range(8):
        a.ingest(callout(1000.0 + i * 0.01, 800, f"t{i}"))
    s = a.snapshot()
    assert s["stampedes"]["count"] == 1 and s["stampedes"]["max_burst"] == 8
    assert "stampede" in ids(s)


def test_correlation_exact_by_trace_under_concurrency() -> None:
    a = Analyzer()
    evs = []
    for i in range(8):  # 8 concurrent callers, overlapping in time
        evs.append(naive_request(1000.0 + i * 0.01, i, f"t{i}", trace=f"{i:032x}"))
    for group in zip(*evs):  # interleave: all callouts, then all backends, then all inbound
        for ev in group:
            a.ingest(ev)
    for reqs in evs:
        inbound = reqs[2]
        hops = a.hops_for(inbound["id"])
        assert sorted(h.id for h in hops) == sorted([reqs[0]["id"], reqs[1]["id"]])
        assert all(h.mode == "exact" for h in hops)
    assert a.snapshot()["correlation"]["exact"] == 16


def test_correlation_inferred_alone_and_ambiguous_when_overlapping() -> None:
    a = Analyzer()
    one = naive_request(1000.0, 0, "t")
    for ev in one:
        a.ingest(ev)
    assert [h.mode for h in a.hops_for(one[2]["id"])] == ["inferred", "inferred"]
    b = Analyzer()
    r1, r2 = naive_request(2000.0, 1, "a"), naive_request(2000.0005, 2, "b")
    for ev in r1[:2] + r2[:2] + [r1[2], r2[2]]:
        b.ingest(ev)
    corr = b.snapshot()["correlation"]
    assert corr["ambiguous"] >= 2 and corr["exact"] == 0


def test_gateway_identified() -> None:
    a = Analyzer()
    a.ingest(flow("inbound", 1.0, 1, gateway=["Kong"]))
    s = a.snapshot()
    assert "gateway-identified" in ids(s) and "Kong" in s["findings"][0]["title"]


def test_memory_is_bounded_under_endless_distinct_tokens() -> None:
    a = Analyzer()
    for i in range(30_000):
        a.ingest(callout(1000.0 + i * 0.01, 1, f"t{i}"))
        a.ingest(backend(1000.0 + i * 0.01, 1, f"t{i}", path=f"/p{i}"))
    assert len(a.tokens) <= a.cfg.max_tokens
    assert len(a.routes) <= a.cfg.max_routes + 3
    assert len(a.recent) <= a.cfg.recent_flows
    assert len(a.corr._pending) <= a.corr.limit
    assert a.snapshot()["callouts"]["total"] == 30_000


def test_redundant_under_heavy_overlap_many_callouts_in_flight() -> None:
    """300 req/s with 800 ms callouts: hundreds in flight; every fetch after the first issue is redundant."""
    a = Analyzer()
    n = 3000
    for i in range(n):  # events arrive in end order, as the proxy emits them
        a.ingest(callout(1000.0 + i / 300, 800, "same"))
    c = a.snapshot()["callouts"]
    first_end = 1000.0 + 0.8
    concurrent_first = sum(1 for i in range(n) if 1000.0 + i / 300 < first_end)
    assert c["redundant"] == n - concurrent_first


def test_issuances_keep_an_old_long_lived_token_after_trimming() -> None:
    from inspector.analyzer.tokens import Issuances

    iss = Issuances()
    iss.add(0.0, 10_000.0)  # one long-lived token
    for k in range(2000):  # many short-lived ones later
        iss.add(100.0 + k, 101.0 + k)
    assert iss.valid_at(5000.0) and not iss.valid_at(20_000.0) and not iss.valid_at(-1.0)
    iss2 = Issuances()
    for k in (5.0, 1.0, 3.0):  # out of order arrival
        iss2.add(k, k + 0.5)
    assert iss2.valid_at(1.2) and not iss2.valid_at(2.0) and iss2.valid_at(3.4)


def test_unreadable_2xx_token_response_is_not_a_failure() -> None:
    a = Analyzer()
    a.ingest(callout(1000.0, 50, None))  # 200, but no token could be read (not JSON, or too large)
    c = a.snapshot()["callouts"]
    assert c["failed"] == 0 and c["unreadable"] == 1 and c["total"] == 1
    assert "auth-failure" not in ids(a.snapshot())


def test_every_finding_id_is_a_documented_one() -> None:
    from inspector.analyzer.findings import FINDING_IDS

    a = Analyzer()
    for i in range(10):
        for ev in naive_request(1000.0 + i * 0.01, i, "same"):
            a.ingest(ev)
    a.ingest(callout(2000.0, 50, None, status=401, error="invalid_client"))
    a.ingest(flow("inbound", 2001.0, 5, status=401, gateway=["Kong"]))
    a.ingest(flow("inbound", 2002.0, 5, status=401))
    found = ids(a.snapshot())
    assert len(found) >= 7 and found <= set(FINDING_IDS)
