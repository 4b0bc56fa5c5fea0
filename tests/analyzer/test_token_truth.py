"""Token semantics on synthetic event streams, with exact figures: the tax counts only
fetches a request waited for, a proactive refresh is not redundant, a relay (the
loopback fix) is told from the origin and its nested miss is counted once, a
pass-through bearer gets no caching advice, and severity follows the cost."""

from __future__ import annotations

from typing import Any

import pytest

from inspector.analyzer import Analyzer
from inspector.analyzer.severity import severity_by_cost
from tests.support.factory import backend, callout, flow, naive_request

AUTH = "127.0.0.1:9001/oauth2/token"
RELAY = "127.0.0.1:9005/token"


def snap(events: list[dict[str, Any]], session_inbound: str = "") -> dict[str, Any]:
    an = Analyzer()
    if session_inbound:
        an.ingest({"v": 1, "type": "session", "ts": 0.0, "inbound": session_inbound})
    for ev in events:
        an.ingest(ev)
    return an.snapshot()


def finding(s: dict[str, Any], id_: str) -> dict[str, Any] | None:
    return next((f for f in s["findings"] if f["id"] == id_), None)


def inbound(t: float, ms: float, **kw: Any) -> dict[str, Any]:
    return flow("inbound", t, ms, port=8080, **kw)


# -- on the request path or not ------------------------------------------------------------


def test_naive_gateway_every_fetch_on_path_and_critical() -> None:
    evs = [ev for i in range(10) for ev in naive_request(1000.0 + i, i, "tok", auth_ms=800)]
    s = snap(evs)
    c, tax = s["callouts"], s["tax"]
    assert (c["total"], c["redundant"], c["on_path"], c["background"], c["tax_calls"]) == (10, 9, 10, 0, 9)
    assert (c["origin"], c["relayed"], c["nested"], c["proactive"]) == (10, 0, 0, 0)
    assert tax["total_ms"] == pytest.approx(7200.0)
    assert tax["ms_per_inbound"] == pytest.approx(720.0)
    assert tax["share_of_ttfb"] == pytest.approx(7200 / 8100, abs=1e-4)
    f = finding(s, "token-refetch")
    assert f is not None and f["severity"] == "critical"
    assert (
        f["title"]
        == "9 of 10 token callouts were redundant, 1.00 callouts per inbound request: 720 ms token tax per request"
    )
    assert s["callouts"]["by_kind"]["token"]["origin"] == 10
    assert s["keys"][0]["on_path"] == 10 and s["keys"][0]["background"] == 0


def test_background_fetches_are_never_tax() -> None:
    """A gateway that fetches every 60 s on its own (1 h tokens), while requests use its cached token."""
    evs: list[dict[str, Any]] = []
    for i in range(60):
        t = 1000.0 + 60 * i
        evs.append(callout(t, 100, "tok"))  # no inbound request is in flight: off the request path
        evs.append(backend(t + 30.001, 5, "tok"))
        evs.append(inbound(t + 30.0, 10))
    s = snap(evs)
    c, tax = s["callouts"], s["tax"]
    assert (c["total"], c["redundant"], c["on_path"], c["background"], c["tax_calls"]) == (60, 59, 0, 60, 0)
    assert tax["total_ms"] == 0.0 and tax["ms_per_inbound"] == 0.0 and tax["share_of_ttfb"] == 0.0
    assert s["keys"][0]["background"] == 60
    f = finding(s, "token-refetch")
    assert f is not None
    assert f["title"] == (
        "59 of 60 token callouts were redundant, none on a request's path: background fetches, no token tax"
    )
    # 59 avoidable calls in 3570.01 s: 59.5 per hour, far below a warning's auth-server load
    assert tax["avoidable_callouts_per_hour"] == 59.5
    assert f["severity"] == "info"
    assert finding(s, "callout-latency")["severity"] == "info"  # type: ignore[index]


def test_proactive_refresh_at_half_life_is_not_redundant_and_warns_nothing() -> None:
    """Envoy's credential injector: refresh at half the lifetime (4 s tokens), in the background."""
    evs: list[dict[str, Any]] = []
    t = 1000.0
    for i in range(10):
        ev = callout(t, 50, f"tok{i}", expires_in=4)
        evs.append(ev)
        evs.append(backend(ev["end"] + 0.5, 5, f"tok{i}"))
        evs.append(inbound(ev["end"] + 0.499, 10))
        t = ev["end"] + 2.0  # half of 4 s after the token arrived
    s = snap(evs)
    c = s["callouts"]
    assert (c["total"], c["redundant"], c["proactive"], c["background"], c["on_path"]) == (10, 0, 9, 10, 0)
    assert s["tax"]["total_ms"] == 0.0
    assert finding(s, "token-refetch") is None
    assert [f["severity"] for f in s["findings"] if f["severity"] in ("critical", "warning")] == []


def test_refresh_before_half_life_is_redundant() -> None:
    evs = [callout(1000.0, 50, "a", expires_in=4), callout(1000.05 + 1.999, 50, "b", expires_in=4)]
    c = snap(evs, session_inbound="reverse:http://127.0.0.1:8000@8080")["callouts"]
    assert (c["redundant"], c["proactive"], c["background"], c["on_path"]) == (1, 0, 2, 0)


def test_on_path_unknown_without_inbound_requests_or_listener() -> None:
    s = snap([callout(1000.0, 50, "a"), callout(1001.0, 50, "a")])
    c = s["callouts"]
    assert c["on_path"] is None and c["background"] is None and c["tax_calls"] is None
    assert any(n["figure"] == "callouts.background" for n in s["notes"])


def test_inbound_listener_named_but_no_requests_means_all_background() -> None:
    s = snap([callout(1000.0, 50, "a"), callout(1001.0, 50, "a")], session_inbound="reverse:http://x@8080")
    c = s["callouts"]
    assert (c["on_path"], c["background"], c["tax_calls"]) == (0, 2, 0)


# -- relays: the loopback fix ------------------------------------------------------------


def loopback(n: int, *, cache: bool = True) -> list[dict[str, Any]]:
    """Gateway -> relay on every request; the relay calls the auth server (800 ms) on a miss.

    With the cache on, only the first request misses; with it off, every one does and the
    auth server mints a new token each time."""
    evs: list[dict[str, Any]] = []
    for i in range(n):
        t = 1000.0 + i
        miss = i == 0 or not cache
        fp = f"tok{i}" if not cache else "tok0"
        if miss:
            auth = callout(t + 0.0015, 800, fp, endpoint=AUTH)
            relay = callout(t + 0.001, 802, fp, endpoint=RELAY, port=9005, path="/token")
        else:
            relay = callout(t + 0.001, 1, fp, endpoint=RELAY, port=9005, path="/token", gateway=["Envoy"])
        back = backend(relay["end"] + 0.001, 5, fp, path=f"/orders/{i}")
        total_ms = (back["end"] - t) * 1000 + 1
        evs += ([auth] if miss else []) + [relay, back, inbound(t, total_ms, path=f"/orders/{i}", gateway=["Kong"])]
    return evs


def test_loopback_cache_origin_once_small_tax_and_info() -> None:
    s = snap(loopback(10))
    c, tax = s["callouts"], s["tax"]
    assert (c["total"], c["origin"], c["relayed"], c["nested"], c["redundant"], c["tax_calls"]) == (11, 1, 10, 1, 9, 9)
    assert c["relays"] == [RELAY]
    assert c["by_kind"]["token"]["origin"] == 1 and c["by_kind"]["token"]["relayed"] == 10
    assert c["auth_calls"] == 1 and c["auth_redundant"] == 0
    assert tax["avoidable_callouts_per_hour"] is None  # a sub-minute session: withheld (docs/findings.md), not 0
    assert tax["total_ms"] == pytest.approx(9.0)
    assert tax["ms_per_inbound"] == pytest.approx(0.9)
    assert c["relay_hit_mean_ms"] == pytest.approx(1.0)
    f = finding(s, "token-refetch")
    assert f is not None and f["severity"] == "info"
    assert f["title"] == (
        "Token served by a cache in front of the auth server (the loopback pattern): "
        "the auth server saw 1 fetch; the remaining per-request hop costs 1.0 ms"
    )
    # the relay repeats what it cached: that is no proof the auth server reuses tokens
    assert finding(s, "identical-token-responses") is None
    assert c["identical"] == 10 and c["identical_origin"] == 0
    # the gateway's own answers name it, not the relay's
    assert finding(s, "gateway-identified")["title"] == "Gateway looks like Kong"  # type: ignore[index]


def test_loopback_cache_off_nested_miss_counted_once() -> None:
    s = snap(loopback(10, cache=False))
    c, tax = s["callouts"], s["tax"]
    assert (c["total"], c["origin"], c["relayed"], c["nested"], c["redundant"], c["tax_calls"]) == (
        20,
        10,
        10,
        10,
        18,
        9,
    )
    # 9 redundant relay hops of 802 ms each; the auth calls inside them are not added again
    assert tax["total_ms"] == pytest.approx(9 * 802.0)
    # ...and the tax per request stays under the mean time to first byte
    assert tax["ms_per_inbound"] < s["inbound"]["ttfb_total_ms"] / s["inbound"]["total"]
    # the auth server itself took 9 avoidable calls
    assert c["auth_redundant"] == 9
    f = finding(s, "identical-token-responses")
    assert f is not None and f["title"] == "Every one of 10 fetches returned a new token"


def test_concurrent_callouts_to_two_auth_servers_are_not_nested() -> None:
    """Two keys whose callouts overlap in time: neither endpoint relays the other's tokens."""
    evs = [
        callout(1000.0015, 50, "b", endpoint="127.0.0.1:9002/token"),
        callout(1000.001, 800, "a", endpoint=AUTH),
        inbound(1000.0, 810),
    ]
    c = snap(evs)["callouts"]
    assert (c["nested"], c["relayed"], c["origin"]) == (0, 0, 2)


# -- whose token ---------------------------------------------------------------------------


def test_passthrough_bearer_gets_no_caching_advice() -> None:
    evs: list[dict[str, Any]] = []
    for i in range(6):
        t = 1000.0 + i
        path = "/orders" if i % 2 else "/users"
        evs.append(backend(t + 0.001, 5, "user-bearer", path=path))
        evs.append(inbound(t, 10, path=path, bearer={"fp": "user-bearer", "kind": "jwt"}))
    s = snap(evs)
    [tok] = s["tokens"]
    assert tok["source"] == "client" and len(tok["routes"]) == 2
    assert finding(s, "token-shared-across-routes") is None


def test_service_token_on_two_routes_gets_caching_advice() -> None:
    evs: list[dict[str, Any]] = []
    for i in range(2):
        evs += naive_request(1000.0 + i, i, "svc")
        evs[-2]["path"] = "/orders" if i else "/users"
    s = snap(evs)
    assert s["tokens"][0]["source"] == "callout"
    f = finding(s, "token-shared-across-routes")
    assert f is not None and f["title"] == "One token served 2 backend routes: cache per key, not per route"


def test_gateway_identified_ignores_callout_answers() -> None:
    evs = [callout(1000.0, 5, "a", gateway=["Envoy"]), inbound(999.0, 10)]
    assert finding(snap(evs), "gateway-identified") is None


# -- severity by cost ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms_", "share", "per_hour", "expected"),
    [
        (800.0, 0.9, 36_000.0, "critical"),
        (50.0, 0.10, None, "critical"),
        (49.9, 0.9, None, "warning"),  # a big share of a fast request is not critical
        (800.0, 0.09, None, "warning"),  # a big hop on a slow request is not critical either
        (0.8, 0.5, 100_000.0, "warning"),  # a cheap hop never is
        (5.0, 0.0, 0.0, "warning"),
        (0.8, 0.02, None, "warning"),
        (None, None, 1_000.0, "warning"),
        (0.8, 0.019, 999.0, "info"),
        (None, None, None, "info"),
    ],
)
def test_severity_by_cost(ms_: float | None, share: float | None, per_hour: float | None, expected: str) -> None:
    assert severity_by_cost(ms_, share, per_hour) == expected
