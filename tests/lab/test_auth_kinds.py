"""The auth server's other kinds of work, each counted under its kind, against a real httpx client."""

from __future__ import annotations

import asyncio

from inspector.lab.auth import API_AUDIENCE, TOKEN_EXCHANGE
from inspector.lab.common import jwt_parts
from inspector.lab.keys import jwks_resolver, rs256_verify

from .conftest import user_tokens

ACCESS = "urn:ietf:params:oauth:token-type:access_token"


def creds(lab) -> tuple[str, str]:
    return lab.config.auth.client_id, lab.config.auth.client_secret


async def test_password_grant_issues_rs256_user_tokens_with_rfc9068_claims(make_lab, client) -> None:
    lab = await make_lab()
    tokens = await user_tokens(lab, client)
    assert len(tokens) == 3
    header, claims = jwt_parts(tokens[0])
    assert header["alg"] == "RS256" and header["kid"] == lab.keys.current.kid
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= set(claims)
    assert claims["aud"] == API_AUDIENCE and claims["client_id"] == lab.config.auth.user_client_id
    alice = lab.config.auth.users[0]
    r = await client.post(
        lab.urls.token_url,
        data={"grant_type": "password", "client_id": "tokentax-app", "username": alice.username, "password": "wrong"},
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    assert lab.auth.stats.by_kind["token"] == 4 and lab.auth.stats.failures_by_kind["token"] == 1


async def test_introspection_active_inactive_and_client_auth(make_lab, client) -> None:
    lab = await make_lab()
    [token, *_] = await user_tokens(lab, client)
    url = lab.urls.endpoints()["introspection_url"]
    body = (await client.post(url, data={"token": token}, auth=creds(lab))).json()
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert {"client_id", "sub", "scope", "exp", "iat", "username", "email", "name"} <= set(body)
    assert body["email"] == lab.config.auth.users[0].email
    assert (await client.post(url, data={"token": "forged"}, auth=creds(lab))).json() == {"active": False}
    r = await client.post(url, data={"token": token}, auth=("tokentax-gateway", "nope"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert lab.auth.stats.by_kind["introspection"] == 3


async def test_jwks_is_cacheable_and_rotation_brings_a_new_kid(make_lab, client) -> None:
    lab = await make_lab(auth={"jwks_max_age": 120})
    url = lab.urls.endpoints()["jwks_url"]
    r = await client.get(url)
    assert r.headers["cache-control"] == "public, max-age=120"
    first = [k["kid"] for k in r.json()["keys"]]
    lab.keys.rotate()
    second = [k["kid"] for k in (await client.get(url)).json()["keys"]]
    assert second[0] == first[0] and len(second) == 2
    token = (await user_tokens(lab, client))[0]
    assert jwt_parts(token)[0]["kid"] == second[1]
    assert rs256_verify(token, jwks_resolver((await client.get(url)).json()).get)["aud"] == API_AUDIENCE
    assert lab.auth.stats.by_kind["jwks"] == 3


async def test_userinfo_answers_for_a_user_and_challenges_a_bad_bearer(make_lab, client) -> None:
    lab = await make_lab()
    [token, *_] = await user_tokens(lab, client)
    url = lab.urls.endpoints()["userinfo_url"]
    body = (await client.get(url, headers={"authorization": f"Bearer {token}"})).json()
    alice = lab.config.auth.users[0]
    assert body == {"sub": alice.sub, "name": alice.name, "email": alice.email, "email_verified": True}
    r = await client.get(url, headers={"authorization": "Bearer garbage"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert (await client.get(url)).status_code == 401
    assert lab.auth.stats.by_kind["userinfo"] == 3 and lab.auth.stats.failures_by_kind["userinfo"] == 2


async def test_token_exchange_issues_a_backend_token_for_the_subject(make_lab, client) -> None:
    lab = await make_lab()
    [token, *_] = await user_tokens(lab, client)
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": token,
        "subject_token_type": ACCESS,
        "audience": "orders-api",
        "scope": "orders:read",
        "requested_token_type": ACCESS,
    }
    r = await client.post(lab.urls.token_url, data=form, auth=creds(lab))
    body = r.json()
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer" and body["expires_in"] > 0
    claims = jwt_parts(body["access_token"])[1]
    assert claims["aud"] == "orders-api" and claims["sub"] == jwt_parts(token)[1]["sub"]
    assert claims["act"] == {"sub": lab.config.auth.client_id} and claims["scope"] == "orders:read"
    bad = await client.post(lab.urls.token_url, data={**form, "subject_token": "x.y.z"}, auth=creds(lab))
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")
    assert lab.auth.stats.by_kind["exchange"] == 2 and lab.auth.stats.by_kind["token"] == 3


async def test_discovery_names_every_endpoint_from_the_request_host(make_lab, client) -> None:
    lab = await make_lab()
    url = lab.urls.endpoints()["discovery_url"]
    doc = (await client.get(url)).json()
    assert doc["issuer"] == lab.urls.auth
    assert doc["token_endpoint"] == lab.urls.token_url
    assert doc["introspection_endpoint"] == lab.urls.auth + "/oauth2/introspect"
    assert doc["jwks_uri"] == lab.urls.auth + "/oauth2/jwks"
    assert doc["userinfo_endpoint"] == lab.urls.auth + "/oauth2/userinfo"
    proxied = (await client.get(url, headers={"host": "proxy.test:8443"})).json()
    assert proxied["token_endpoint"] == "http://proxy.test:8443/oauth2/token"
    assert lab.auth.stats.by_kind["discovery"] == 2


async def test_injected_failures_apply_to_the_selected_kind_only(make_lab, client) -> None:
    lab = await make_lab("introspect", auth={"fail_first": 1, "fail_kind": "500"})  # fail_on: the mode's kinds
    [token, *_] = await user_tokens(lab, client)  # a token call: not failed
    url = lab.urls.endpoints()["introspection_url"]
    statuses = [(await client.post(url, data={"token": token}, auth=creds(lab))).status_code for _ in range(2)]
    assert statuses == [500, 200]
    assert lab.auth.stats.failures_by_kind == {"introspection": 1}


async def test_timeouts_hold_every_kind(make_lab, client) -> None:
    lab = await make_lab(auth={"fail_first": 1, "fail_kind": "timeout", "fail_on": ("jwks",), "timeout_hold": 3600})
    held = asyncio.create_task(client.get(lab.urls.endpoints()["jwks_url"]))
    await lab.auth.stats.wait_for(lambda s: s.timeouts == 1)
    await lab.stop()
    assert (await held).status_code == 503
