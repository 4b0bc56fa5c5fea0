"""The control server's hold / wait / release: callers lined up on the lab's own counts, no sleeps."""

from __future__ import annotations

import asyncio

from .conftest import user_tokens


async def test_hold_wait_release_lines_up_concurrent_decision_calls(make_lab, client) -> None:
    lab = await make_lab("forward-auth")
    [bearer, *_] = await user_tokens(lab, client)
    ctl = lab.urls.control
    assert (await client.post(ctl + "/hold")).status_code == 200
    calls = [
        asyncio.create_task(client.get(lab.urls.gateway + "/orders", headers={"authorization": f"Bearer {bearer}"}))
        for _ in range(4)
    ]
    waited = await client.get(ctl + "/wait", params={"server": "authz", "count": "4"})
    assert waited.status_code == 200 and waited.json()["authz"]["calls"] == 4
    assert not any(t.done() for t in calls)  # all four held at the authorizer, none answered
    await client.post(ctl + "/release")
    assert [(await t).status_code for t in calls] == [200] * 4


async def test_wait_on_an_auth_kind_and_bad_arguments(make_lab, client) -> None:
    lab = await make_lab("introspect")
    [bearer, *_] = await user_tokens(lab, client)
    ctl = lab.urls.control
    await client.get(lab.urls.gateway + "/orders", headers={"authorization": f"Bearer {bearer}"})
    got = await client.get(ctl + "/wait", params={"server": "auth", "kind": "introspection", "count": "1"})
    assert got.json()["auth"]["by_kind"]["introspection"] == 1
    assert (await client.get(ctl + "/wait", params={"count": "x"})).status_code == 400
    assert (await client.get(ctl + "/wait", params={"server": "db", "count": "1"})).status_code == 400
