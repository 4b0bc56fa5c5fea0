"""The lab backend refuses anything but a valid lab token."""

from __future__ import annotations

import time

from inspector.lab.common import jwt_encode


def token(lab, **claims) -> str:
    now = int(time.time())
    base = {
        "iss": lab.urls.auth,
        "sub": "gw",
        "client_id": "gw",
        "aud": "x",
        "scope": "s",
        "iat": now,
        "exp": now + 600,
        "jti": "j",
    }
    return jwt_encode({**base, **claims}, lab.config.signing_key)


async def test_valid_token_reaches_every_route(make_lab, client) -> None:
    lab = await make_lab()
    headers = {"authorization": f"Bearer {token(lab)}"}
    for path in ("/orders", "/orders/7", "/users/3", "/inventory"):
        r = await client.get(lab.urls.backend + path, headers=headers)
        assert r.status_code == 200, path
    assert (await client.get(lab.urls.backend + "/orders/7", headers=headers)).json()["id"] == 7
    assert (lab.backend.stats.calls, lab.backend.stats.ok, lab.backend.stats.rejected) == (5, 5, 0)


async def test_missing_garbage_expired_and_foreign_tokens_get_401(make_lab, client) -> None:
    lab = await make_lab()
    expired = token(lab, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    foreign = jwt_encode({"exp": int(time.time()) + 600}, b"not-the-lab-key" * 2)
    cases = {
        "missing": {},
        "garbage": {"authorization": "Bearer not-a-jwt"},
        "undefined": {"authorization": "Bearer undefined"},
        "expired": {"authorization": f"Bearer {expired}"},
        "foreign": {"authorization": f"Bearer {foreign}"},
        "basic": {"authorization": "Basic Zm9vOmJhcg=="},
    }
    for name, headers in cases.items():
        r = await client.get(lab.urls.backend + "/orders", headers=headers)
        assert r.status_code == 401, name
        assert r.json()["error"] in ("unauthorized", "invalid_token"), name
        assert r.headers["www-authenticate"].startswith("Bearer"), name
    assert lab.backend.stats.rejected == len(cases) and lab.backend.stats.ok == 0
    assert lab.backend.stats.reasons["expired"] == 1
    assert lab.backend.stats.reasons["missing"] == 2
    assert lab.backend.stats.reasons["bad_signature"] == 1


async def test_unknown_route_is_json_404(make_lab, client) -> None:
    lab = await make_lab()
    r = await client.get(lab.urls.backend + "/nope")
    assert r.status_code == 404 and r.json()["error"]
