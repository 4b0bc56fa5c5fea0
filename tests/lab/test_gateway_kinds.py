"""Every gateway mode against the real lab servers: the servers' own counts are the ground truth."""

from __future__ import annotations

import asyncio

import pytest

from inspector.lab.keys import KeyRing
from inspector.lab.loadgen import new_traceparent

from .conftest import user_tokens

N = 6
# mode -> (which server counts, what it counts)
NAIVE = {
    "introspect": ("auth", "introspection"),
    "jwks-nocache": ("auth", "jwks"),
    "userinfo": ("auth", "userinfo"),
    "exchange": ("auth", "exchange"),
    "forward-auth": ("authz", None),
}
CACHED = {  # mode -> (server, kind, expected calls for N requests by 3 users)
    "introspect-cached": ("auth", "introspection", 3),
    "jwks-cached": ("auth", "jwks", 1),
    "userinfo-cached": ("auth", "userinfo", 3),
    "exchange-cached": ("auth", "exchange", 3),
    "forward-auth-cached": ("authz", None, 3),
}


def counted(lab, server: str, kind: str | None) -> int:
    return lab.authz.stats.calls if server == "authz" else lab.auth.stats.by_kind[kind]


def server_of(lab, server: str):
    return lab.authz if server == "authz" else lab.auth


async def send(client, lab, n: int, bearers: list[str], path: str = "/orders") -> list[int]:
    out = []
    for i in range(n):
        headers = {"authorization": f"Bearer {bearers[i % len(bearers)]}"} if bearers else {}
        out.append((await client.get(lab.urls.gateway + path, headers=headers)).status_code)
    return out


@pytest.mark.parametrize("mode", list(NAIVE))
async def test_naive_modes_make_one_callout_per_request(make_lab, client, mode: str) -> None:
    lab = await make_lab(mode)
    bearers = await user_tokens(lab, client)
    assert await send(client, lab, N, bearers) == [200] * N
    server, kind = NAIVE[mode]
    assert counted(lab, server, kind) == N
    assert lab.backend.stats.ok == N
    assert sum(lab.gateway.stats.callouts.values()) == lab.gateway.stats.inline_callouts == N


@pytest.mark.parametrize("mode", list(CACHED))
async def test_cached_modes_call_once_per_key(make_lab, client, mode: str) -> None:
    lab = await make_lab(mode)
    bearers = await user_tokens(lab, client)
    assert await send(client, lab, N, bearers) == [200] * N
    server, kind, expected = CACHED[mode]
    assert counted(lab, server, kind) == expected
    assert lab.gateway.stats.cache_hits == N - expected


@pytest.mark.parametrize("mode", list(CACHED))
async def test_cached_modes_single_flight_for_eight_concurrent_callers(make_lab, client, mode: str) -> None:
    lab = await make_lab(mode)
    [bearer, *_] = await user_tokens(lab, client)
    server, kind, _ = CACHED[mode]
    held = server_of(lab, server)
    held.pause()
    calls = [
        asyncio.create_task(client.get(lab.urls.gateway + "/orders", headers={"authorization": f"Bearer {bearer}"}))
        for _ in range(8)
    ]
    await lab.gateway.stats.wait_for(lambda s: s.requests == 8)
    await lab.gateway.stats.wait_for(lambda s: s.inline_callouts >= 1)
    held.resume()
    assert [r.status_code for r in await asyncio.gather(*calls)] == [200] * 8
    assert counted(lab, server, kind) == 1


async def test_missing_bearer_is_refused_without_a_callout(make_lab, client) -> None:
    for mode in ("introspect", "jwks-nocache", "userinfo", "exchange"):
        lab = await make_lab(mode)
        r = await client.get(lab.urls.gateway + "/orders")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), mode
        assert lab.auth.stats.calls == 0 and lab.backend.stats.calls == 0, mode


async def test_forward_auth_denial_is_relayed_and_headers_reach_the_authorizer(make_lab, client) -> None:
    lab = await make_lab("forward-auth")
    r = await client.get(lab.urls.gateway + "/users/3?x=1", headers={"traceparent": (tp := new_traceparent())})
    assert r.status_code == 401 and lab.backend.stats.calls == 0
    seen = lab.authz.recent[-1]
    assert (seen.forwarded_uri, seen.forwarded_method, seen.traceparent) == ("/users/3?x=1", "GET", tp)
    assert lab.authz.stats.denied == 1


@pytest.mark.parametrize(("mode", "server"), [("introspect-poison", "auth"), ("forward-auth-poison", "authz")])
async def test_poison_modes_reuse_a_cached_failure_without_a_new_call(make_lab, client, mode: str, server: str) -> None:
    lab = await make_lab(mode, auth={"fail_first": 1, "fail_kind": "500"})
    bearers = await user_tokens(lab, client)
    assert await send(client, lab, 4, bearers[:1]) == [502] * 4
    assert counted(lab, server, "introspection") == 1
    assert lab.gateway.stats.cache_hits == 3 and lab.backend.stats.calls == 0


@pytest.mark.parametrize(("mode", "server"), [("introspect-cached", "auth"), ("forward-auth-cached", "authz")])
async def test_correct_caches_never_keep_a_failure(make_lab, client, mode: str, server: str) -> None:
    lab = await make_lab(mode, auth={"fail_first": 1, "fail_kind": "500"})
    bearers = await user_tokens(lab, client)
    assert await send(client, lab, 4, bearers[:1]) == [502, 200, 200, 200]
    assert counted(lab, server, "introspection") == 2


async def test_forward_auth_poison_caches_a_timeout(make_lab, client) -> None:
    lab = await make_lab(
        "forward-auth-poison",
        auth={"fail_first": 1, "fail_kind": "timeout", "timeout_hold": 3600},
        gateway={"auth_timeout": 0.2},
    )
    bearers = await user_tokens(lab, client)
    assert await send(client, lab, 3, bearers[:1]) == [502] * 3
    assert lab.authz.stats.calls == 1 and lab.authz.stats.timeouts == 1


async def test_jwks_cached_honours_max_age_and_refetches_once_on_an_unknown_kid(make_lab, client) -> None:
    lab = await make_lab(
        "jwks-cached", auth={"jwks_max_age": 300, "token_mode": "new"}, gateway={"jwks_refetch_interval": 10}
    )
    now = [0.0]
    lab.gateway.mode.clock = lambda: now[0]
    bearers = await user_tokens(lab, client)
    assert await send(client, lab, 2, bearers) == [200, 200]
    assert lab.auth.stats.by_kind["jwks"] == 1
    lab.keys.rotate()  # a new kid signs from now on
    rotated = (await user_tokens(lab, client))[0]
    now[0] += 10
    assert await send(client, lab, 3, [rotated]) == [200] * 3
    assert lab.auth.stats.by_kind["jwks"] == 2 and lab.gateway.stats.unknown_kid_refetches == 1
    forged = KeyRing().sign({"sub": "mallory", "exp": 4_000_000_000})
    assert await send(client, lab, 3, [forged]) == [401] * 3  # within the interval: no refetch
    now[0] += 10
    assert await send(client, lab, 3, [forged]) == [401] * 3  # one more, then rate-limited again
    assert lab.auth.stats.by_kind["jwks"] == 3 and lab.gateway.stats.unknown_kid_refetches == 2
    now[0] += 300  # max-age used up
    assert await send(client, lab, 1, bearers) == [200]
    assert lab.auth.stats.by_kind["jwks"] == 4


async def test_exchange_sends_the_exchanged_token_to_the_backend(make_lab, client) -> None:
    lab = await make_lab("exchange")
    [bearer, *_] = await user_tokens(lab, client)
    assert await send(client, lab, 1, [bearer]) == [200]
    sent = lab.backend.recent[-1].authorization
    assert sent is not None and sent != f"Bearer {bearer}"


async def test_loopback_relay_is_called_per_request_and_the_auth_server_once(make_lab, client) -> None:
    lab = await make_lab("loopback")
    tp = new_traceparent()
    assert await send(client, lab, 10, []) == [200] * 10
    await client.get(lab.urls.gateway + "/orders", headers={"traceparent": tp})
    assert lab.relay.stats.calls == 11 and lab.relay.stats.upstream_calls == 1
    assert lab.auth.stats.by_kind["token"] == 1 and lab.gateway.stats.token_fetches == 11
    assert len({s.authorization for s in lab.backend.recent}) == 1


async def test_loopback_relay_never_caches_an_error(make_lab, client) -> None:
    lab = await make_lab("loopback", auth={"fail_first": 1})
    assert await send(client, lab, 3, []) == [502, 200, 200]
    assert lab.relay.stats.upstream_calls == 2 and lab.auth.stats.by_kind["token"] == 2


async def test_refresh_fetches_in_the_background_only(make_lab, client) -> None:
    lab = await make_lab("refresh", auth={"expires_in": 2, "token_mode": "new"})
    await lab.gateway.stats.wait_for(lambda s: s.background_callouts >= 1)
    assert await send(client, lab, 5, []) == [200] * 5
    await lab.gateway.stats.wait_for(lambda s: s.background_callouts >= 3)  # two refreshes at half-life
    assert await send(client, lab, 2, []) == [200] * 2
    assert lab.gateway.stats.inline_callouts == 0
    assert lab.auth.stats.by_kind["token"] == lab.gateway.stats.background_callouts >= 3
    assert all(s.traceparent is None for s in lab.auth.recent)


async def test_passthrough_forwards_the_callers_bearer_and_calls_nobody(make_lab, client) -> None:
    lab = await make_lab("passthrough")
    bearers = await user_tokens(lab, client)
    before = lab.auth.stats.calls
    assert await send(client, lab, N, bearers) == [200] * N
    assert lab.auth.stats.calls == before and sum(lab.gateway.stats.callouts.values()) == 0
    assert [s.authorization for s in lab.backend.recent] == [f"Bearer {b}" for b in bearers] * 2


async def test_trace_headers_reach_every_kind_of_callout(make_lab, client) -> None:
    for mode in ("introspect", "jwks-nocache", "userinfo", "exchange"):
        lab = await make_lab(mode)
        [bearer, *_] = await user_tokens(lab, client)
        tp = new_traceparent()
        await client.get(
            lab.urls.gateway + "/orders",
            headers={"authorization": f"Bearer {bearer}", "traceparent": tp, "x-request-id": "r-1"},
        )
        seen = lab.auth.recent[-1]
        assert (seen.traceparent, seen.request_id, seen.kind) == (tp, "r-1", NAIVE[mode][1]), mode
        assert lab.backend.recent[-1].traceparent == tp, mode
