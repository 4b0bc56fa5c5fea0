"""Each callout kind judged by its own key and rule, with exact counts on synthetic streams."""

from __future__ import annotations

import pytest

from inspector.analyzer import Analyzer
from inspector.analyzer.core import AnalyzerConfig
from tests.support.kinds_factory import T0, cached, concurrent, inbound, kind_callout, naive, poisoned

KINDS = ("introspection", "jwks", "userinfo", "exchange", "forward_auth")
FINDING = {
    "introspection": "introspection-repeat",
    "jwks": "jwks-refetch",
    "userinfo": "userinfo-repeat",
    "exchange": "exchange-refetch",
    "forward_auth": "forward-auth-repeat",
}


def run(events, config: AnalyzerConfig | None = None) -> dict:
    a = Analyzer(config)
    for ev in events:
        a.ingest(ev)
    return a.snapshot()


def ids(snap: dict) -> set[str]:
    return {f["id"] for f in snap["findings"]}


@pytest.mark.parametrize("kind", KINDS)
def test_naive_gateway_repeats_are_redundant_and_the_finding_fires(kind: str) -> None:
    snap = run(naive(kind, 10))
    row = snap["callouts"]["by_kind"][kind]
    assert (row["total"], row["redundant"], row["failed"]) == (10, 9, 0)
    assert row["identical"] == 9
    assert snap["callouts"]["total"] == 10 and snap["callouts"]["redundant"] == 9
    assert snap["tax"]["total_ms"] == pytest.approx(900, rel=1e-6)
    assert row["ms_per_inbound"] == pytest.approx(90, rel=1e-6)
    assert FINDING[kind] in ids(snap)
    assert "token-refetch" not in ids(snap)  # the token findings count the token kind only
    f = next(f for f in snap["findings"] if f["id"] == FINDING[kind])
    assert f["title"].startswith("9 of 10 ") and "90 ms tax per request" in f["title"]
    assert f["severity"] == "critical"  # 90 ms per request


@pytest.mark.parametrize("kind", KINDS)
def test_cached_gateway_makes_one_call_and_no_finding(kind: str) -> None:
    snap = run(cached(kind, 10))
    row = snap["callouts"]["by_kind"][kind]
    assert (row["total"], row["redundant"]) == (1, 0)
    assert not ids(snap) & set(FINDING.values())


@pytest.mark.parametrize("kind", KINDS)
def test_eight_concurrent_first_calls_are_not_redundant(kind: str) -> None:
    snap = run(concurrent(kind, 8))
    row = snap["callouts"]["by_kind"][kind]
    assert (row["total"], row["redundant"]) == (8, 0)
    assert FINDING[kind] not in ids(snap)
    assert row["stampedes"] == 1 and row["max_burst"] == 8


@pytest.mark.parametrize("kind", KINDS)
def test_a_cached_failure_is_poisoning(kind: str) -> None:
    snap = run(poisoned(kind, 6))
    row = snap["callouts"]["by_kind"][kind]
    assert (row["total"], row["failed"]) == (1, 1)
    assert row["error_reused"] == 5
    f = next(f for f in snap["findings"] if f["id"] == "error-cached")
    assert kind.replace("_", "-") in f["title"]
    assert "auth-failure" in ids(snap)


def test_old_events_without_kind_read_as_token() -> None:
    from tests.support.factory import naive_request

    evs = [e for i in range(4) for e in naive_request(T0 + i, i, "aaaa")]
    snap = run(evs)
    assert snap["callouts"]["by_kind"]["token"]["redundant"] == 3
    assert set(snap["callouts"]["by_kind"]) == {"token"}
    assert "token-refetch" in ids(snap)


def test_tax_sums_every_kind() -> None:
    evs = sorted(naive("introspection", 5) + naive("forward_auth", 5), key=lambda e: e["end"])
    snap = run(evs)
    bk = snap["callouts"]["by_kind"]
    assert bk["introspection"]["redundant"] == 4 and bk["forward_auth"]["redundant"] == 4
    assert snap["callouts"]["redundant"] == 8
    assert snap["tax"]["total_ms"] == pytest.approx(
        bk["introspection"]["redundant_ms"] + bk["forward_auth"]["redundant_ms"]
    )


def test_introspection_expired_or_inactive_answers_make_nothing_redundant_and_what_if() -> None:
    # The token expires 15 s in: calls after that are not redundant (the gateway had to ask again).
    exp = T0 + 15
    evs = []
    for i in range(10):  # one call every 5 s, 45 s in all
        evs.append(kind_callout("introspection", T0 + i * 5, 50, introspection={"active": True, "exp": exp, "fp": "a"}))
    snap = run(evs)
    row = snap["callouts"]["by_kind"]["introspection"]
    assert row["redundant"] == 2  # at 5 s and 10 s; 15 s is the expiry itself
    # 30 s cache capped at exp: hits at 5, 10; after exp the answer is not reused; until-expiry the same.
    assert row["what_if"] == {"30s": 2, "5min": 2, "until_expiry": 2}
    inactive = [kind_callout("introspection", T0 + i, 50, introspection={"active": False, "fp": "b"}) for i in range(5)]
    row = run(inactive)["callouts"]["by_kind"]["introspection"]
    assert (row["redundant"], row["inactive"]) == (0, 5)


def test_introspection_what_if_ttls_differ() -> None:
    evs = [kind_callout("introspection", T0 + i * 10, 50) for i in range(61)]  # every 10 s for 10 min
    row = run(evs)["callouts"]["by_kind"]["introspection"]
    assert row["redundant"] == 60
    # 30 s: a miss at 0 covers 10, 20 (30 is past 30.05? the entry lives from 0.05 to 30.05: 30 is a hit)
    assert row["what_if"]["until_expiry"] == 60
    assert row["what_if"]["5min"] == 59  # one more miss at 300.05+
    assert row["what_if"]["30s"] == 45  # a miss every 4 calls: 0, 40, 80, ...


def test_jwks_freshness_rotation_and_unknown_kid() -> None:
    # no-store key set: every refetch is allowed
    evs = [kind_callout("jwks", T0 + i, 20, jwks={"fp": "s", "kids": ["k1"], "fresh_s": 0}) for i in range(5)]
    assert run(evs)["callouts"]["by_kind"]["jwks"]["redundant"] == 0
    # no caching headers: 5 min default
    evs = [kind_callout("jwks", T0 + t, 20, jwks={"fp": "s", "kids": ["k1"]}) for t in (0, 100, 500)]
    row = run(evs)["callouts"]["by_kind"]["jwks"]
    assert (row["redundant"], row["without_cache_headers"]) == (1, 3)  # 100 s; at 500 s the last set is stale
    # a rotation: the refetch brings a new kid, a different key set: legitimate
    evs = [
        kind_callout("jwks", T0, 20, jwks={"fp": "s1", "kids": ["k1"], "fresh_s": 300}),
        kind_callout("jwks", T0 + 10, 20, jwks={"fp": "s2", "kids": ["k1", "k2"], "fresh_s": 300}),
    ]
    row = run(evs)["callouts"]["by_kind"]["jwks"]
    assert (row["redundant"], row["new_kid"]) == (0, 1)
    # forged kids: each inbound bearer has a kid no key set holds, each triggers a refetch
    evs = [
        kind_callout("jwks", T0, 20),
        inbound(T0 - 0.001, 30, bearer={"fp": "b0", "kind": "jwt", "jwt": {"kid": "k1"}}),
    ]
    for i in range(1, 6):
        t = T0 + i
        evs.append(kind_callout("jwks", t + 0.001, 20))
        evs.append(inbound(t, 30, bearer={"fp": f"b{i}", "kind": "jwt", "jwt": {"kid": f"forged{i}"}}))
    snap = run(evs)
    row = snap["callouts"]["by_kind"]["jwks"]
    assert (row["total"], row["redundant"], row["unknown_kid"]) == (6, 5, 5)
    f = next(f for f in snap["findings"] if f["id"] == "jwks-refetch")
    assert any("kid no key set held" in line for line in f["evidence"])


def test_userinfo_is_redundant_only_while_the_bearer_is_valid_and_the_answer_identical() -> None:
    bearer = {"fp": "usr1", "kind": "jwt", "jwt": {"exp": T0 + 2.5}}
    evs = [kind_callout("userinfo", T0 + i, 20, bearer=bearer) for i in range(5)]
    assert run(evs)["callouts"]["by_kind"]["userinfo"]["redundant"] == 2  # at 1 s and 2 s
    changed = [kind_callout("userinfo", T0 + i, 20, userinfo={"fp": f"ui{i}", "claims": ["sub"]}) for i in range(5)]
    assert run(changed)["callouts"]["by_kind"]["userinfo"]["redundant"] == 0


def test_forward_auth_window_is_configurable_and_deny_is_a_decision() -> None:
    evs = [kind_callout("forward_auth", T0 + i * 20, 20) for i in range(4)]  # every 20 s
    assert run(evs)["callouts"]["by_kind"]["forward_auth"]["redundant"] == 3
    row = run(evs, AnalyzerConfig(forward_auth_window_s=10))["callouts"]["by_kind"]["forward_auth"]
    assert row["redundant"] == 0 and row["window_s"] == 10
    assert row["what_if"] == {"1s": 0, "10s": 0, "60s": 3}
    denies = [kind_callout("forward_auth", T0 + i, 20, status=403) for i in range(3)]
    row = run(denies)["callouts"]["by_kind"]["forward_auth"]
    assert (row["failed"], row["redundant"], row["deny"]) == (0, 2, 3)


def test_exchange_key_separates_subjects() -> None:
    a = kind_callout("exchange", T0, 20)
    b = kind_callout("exchange", T0 + 1, 20)
    b["key"]["subject_fp"] = "subj2"
    b["token"]["fp"] = "xtok2"
    row = run([a, b])["callouts"]["by_kind"]["exchange"]
    assert (row["total"], row["redundant"]) == (2, 0)


@pytest.mark.parametrize("kind", ["introspection", "userinfo", "exchange", "forward_auth"])
def test_a_failure_cached_for_one_caller_is_poisoning_while_others_are_served(kind: str) -> None:
    """A gateway that caches a failed decision per caller: caller A's auth call fails once and A
    gets 503 from then on with no new call, while caller B's calls go on and succeed in between."""
    from tests.support.kinds_factory import inbound, kind_callout

    cred = {"introspection": "token_fp", "userinfo": "bearer_fp", "exchange": "subject_fp", "forward_auth": "bearer_fp"}
    a, b = {"fp": "userA", "kind": "opaque"}, {"fp": "userB", "kind": "opaque"}

    def call(ts: float, who: dict, status: int) -> dict:
        ev = kind_callout(kind, ts + 0.001, 50, status=status)
        ev["key"] = {**ev["key"], cred[kind]: who["fp"]}
        if kind == "userinfo":
            ev["bearer"] = {**ev["bearer"], "fp": who["fp"]}
        return ev

    evs = [call(T0, a, 500), inbound(T0, 60, status=503, bearer=a)]
    for i in range(1, 5):
        t = T0 + i
        evs += [call(t, b, 200), inbound(t, 60, bearer=b)]  # B: served, a new call each time
        evs += [inbound(t + 0.5, 5, status=503, bearer=a)]  # A: the cached failure, no call
    snap = run(evs)
    row = snap["callouts"]["by_kind"][kind]
    assert row["failed"] == 1 and row["error_reused"] == 4
    assert snap["aftermath"]["error_reused"] == 4
    assert "error-cached" in ids(snap)
