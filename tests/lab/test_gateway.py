"""Gateway strategies against the real lab auth server and backend."""

from __future__ import annotations

import asyncio

from inspector.lab.gateway import VIA, cache_ttl
from inspector.lab.loadgen import new_traceparent


async def get_many(client, url: str, n: int) -> list[int]:
    return [(await client.get(url)).status_code for _ in range(n)]


async def test_naive_fetches_a_token_per_request(make_lab, client) -> None:
    lab = await make_lab("naive")
    r = await client.get(lab.urls.gateway + "/orders")
    assert r.status_code == 200 and r.headers["via"] == VIA and "orders" in r.json()
    assert await get_many(client, lab.urls.gateway + "/users/4", 5) == [200] * 5
    assert lab.auth.stats.calls == 6 and lab.backend.stats.ok == 6
    assert lab.gateway.stats.token_fetches == 6


async def test_naive_concurrent_callers_each_fetch(make_lab, client) -> None:
    lab = await make_lab("naive")
    lab.auth.pause()
    calls = [asyncio.create_task(client.get(lab.urls.gateway + "/inventory")) for _ in range(8)]
    await lab.auth.stats.wait_for(lambda s: s.calls == 8)  # all 8 callouts in flight at once
    lab.auth.resume()
    assert [r.status_code for r in await asyncio.gather(*calls)] == [200] * 8


async def test_cached_one_token_call_for_many_requests(make_lab, client) -> None:
    lab = await make_lab("cached")
    paths = ["/orders", "/orders/1", "/users/2", "/inventory"] * 5
    assert [(await client.get(lab.urls.gateway + p)).status_code for p in paths] == [200] * 20
    assert lab.auth.stats.calls == 1
    assert lab.gateway.stats.cache_hits == 19
    assert len({s.authorization for s in lab.backend.recent}) == 1  # one token across routes


async def test_cached_single_flight_under_concurrency(make_lab, client) -> None:
    lab = await make_lab("cached")
    lab.auth.pause()
    calls = [asyncio.create_task(client.get(lab.urls.gateway + "/orders")) for _ in range(8)]
    # every caller has arrived and is waiting while the one fetch is held at the auth server
    await lab.gateway.stats.wait_for(lambda s: s.requests == 8)
    await lab.auth.stats.wait_for(lambda s: s.calls >= 1)
    lab.auth.resume()
    assert [r.status_code for r in await asyncio.gather(*calls)] == [200] * 8
    assert lab.auth.stats.calls == 1
    assert lab.gateway.stats.token_fetches == 1


async def test_cached_never_caches_an_error(make_lab, client) -> None:
    lab = await make_lab("cached", auth={"fail_first": 1})
    r = await client.get(lab.urls.gateway + "/orders")
    assert r.status_code == 502 and r.json()["error"] == "service_auth_failed"
    assert await get_many(client, lab.urls.gateway + "/orders", 3) == [200] * 3
    assert lab.auth.stats.calls == 2
    assert lab.backend.stats.calls == 3  # never called without a token


def test_cache_ttl_caps_skew_at_half_the_lifetime() -> None:
    assert cache_ttl(38399, 60) == 38339
    assert cache_ttl(1, 60) == 0.5
    assert cache_ttl(0, 60) == 0


async def test_cached_refetches_once_the_ttl_is_used_up(make_lab, client) -> None:
    lab = await make_lab("cached", auth={"expires_in": 600, "token_mode": "new"}, gateway={"skew": 60})
    now = [1000.0]
    lab.gateway.tokens.clock = lambda: now[0]
    await get_many(client, lab.urls.gateway + "/orders", 2)
    now[0] += 539  # 600 - 60 skew = 540 s of reuse
    await get_many(client, lab.urls.gateway + "/orders", 1)
    assert lab.auth.stats.calls == 1
    now[0] += 2
    assert await get_many(client, lab.urls.gateway + "/orders", 2) == [200, 200]
    assert lab.auth.stats.calls == 2
    assert len({s.authorization for s in lab.backend.recent}) == 2


async def test_poison_keeps_a_cached_error_for_error_ttl(make_lab, client) -> None:
    lab = await make_lab("poison", auth={"fail_first": 1}, gateway={"error_ttl": 300})
    now = [0.0]
    lab.gateway.tokens.clock = lambda: now[0]
    await get_many(client, lab.urls.gateway + "/orders", 1)
    now[0] += 299
    assert await get_many(client, lab.urls.gateway + "/orders", 1) == [401]
    now[0] += 2
    assert await get_many(client, lab.urls.gateway + "/orders", 1) == [200]
    assert lab.auth.stats.calls == 2


async def test_auth_failure_is_502_without_secrets(make_lab, client) -> None:
    lab = await make_lab("naive", auth={"fail_first": 1})
    r = await client.get(lab.urls.gateway + "/orders")
    assert r.status_code == 502 and r.headers["via"] == VIA
    assert "invalid_client" in r.json()["detail"]
    assert lab.config.auth.client_secret not in r.text
    assert lab.backend.stats.calls == 0 and lab.gateway.stats.auth_failed == 1
    assert (await client.get(lab.urls.gateway + "/orders")).status_code == 200


async def test_poison_caches_the_error_and_sends_bearer_undefined(make_lab, client) -> None:
    lab = await make_lab("poison", auth={"fail_first": 1})
    for _ in range(3):
        r = await client.get(lab.urls.gateway + "/orders")
        assert r.status_code == 401  # the backend's answer, relayed
        assert r.json()["error"] == "invalid_token"
    assert lab.auth.stats.calls == 1  # the error was reused, not re-fetched
    assert [s.authorization for s in lab.backend.recent] == ["Bearer undefined"] * 3
    assert lab.gateway.stats.cache_hits == 2


async def test_poison_caches_a_good_token_too(make_lab, client) -> None:
    lab = await make_lab("poison")
    assert await get_many(client, lab.urls.gateway + "/orders", 4) == [200] * 4
    assert lab.auth.stats.calls == 1


async def test_traceparent_and_request_id_reach_auth_and_backend(make_lab, client) -> None:
    lab = await make_lab("naive")
    tp = new_traceparent()
    r = await client.get(lab.urls.gateway + "/users/9?x=1", headers={"traceparent": tp, "x-request-id": "req-42"})
    assert r.status_code == 200
    assert (lab.auth.recent[-1].traceparent, lab.auth.recent[-1].request_id) == (tp, "req-42")
    seen = lab.backend.recent[-1]
    assert (seen.traceparent, seen.request_id, seen.path) == (tp, "req-42", "/users/9")


async def test_trace_propagation_can_be_turned_off(make_lab, client) -> None:
    lab = await make_lab("naive", gateway={"propagate_trace": False})
    await client.get(lab.urls.gateway + "/orders", headers={"traceparent": new_traceparent()})
    assert lab.auth.recent[-1].traceparent is None and lab.backend.recent[-1].traceparent is None


async def test_gateway_uses_configured_auth_url(make_lab, client) -> None:
    # Point the gateway's token calls at another lab's auth server (as a proxy would sit there).
    other = await make_lab("naive")
    lab = await make_lab(
        "naive",
        gateway={
            "auth_url": other.urls.auth,
            "client_id": other.config.auth.client_id,
            "client_secret": other.config.auth.client_secret,
        },
    )
    r = await client.get(lab.urls.gateway + "/orders")
    assert other.auth.stats.calls == 1 and lab.auth.stats.calls == 0
    assert lab.urls.gateway_auth_url == other.urls.auth
    assert r.status_code == 401  # the other lab signs with another key: our backend refuses it
    assert lab.backend.stats.reasons["bad_signature"] == 1


async def test_gateway_times_out_a_held_token_call(make_lab, client) -> None:
    lab = await make_lab(
        "cached", auth={"fail_first": 1, "fail_kind": "timeout", "timeout_hold": 3600}, gateway={"auth_timeout": 0.2}
    )
    r = await client.get(lab.urls.gateway + "/orders")
    assert r.status_code == 502 and "timed out" in r.json()["detail"]
    assert (await client.get(lab.urls.gateway + "/orders")).status_code == 200
