"""The lab auth server against a real httpx client on loopback."""

from __future__ import annotations

import asyncio

import httpx

from inspector.lab.auth import TOKEN_PATH
from inspector.lab.common import InvalidToken, jwt_encode, jwt_parts, jwt_verify

FORM = {"grant_type": "client_credentials"}


def creds(lab) -> tuple[str, str]:
    return lab.config.auth.client_id, lab.config.auth.client_secret


async def test_client_credentials_success_issues_rfc9068_jwt(make_lab, client) -> None:
    lab = await make_lab(auth={"expires_in": 38399})
    r = await client.post(
        lab.urls.token_url, data={**FORM, "scope": "orders:read", "audience": "orders-api"}, auth=creds(lab)
    )
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 38399
    assert body["scope"] == "orders:read"
    header, claims = jwt_parts(body["access_token"])
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    assert claims["iss"] == lab.urls.auth
    assert claims["sub"] == claims["client_id"] == lab.config.auth.client_id
    assert claims["aud"] == "orders-api"
    assert claims["scope"] == "orders:read"
    assert claims["exp"] - claims["iat"] == 38399
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert jwt_verify(body["access_token"], lab.config.signing_key) == claims
    assert lab.auth.stats.calls == 1 and lab.auth.stats.issued == 1


async def test_default_scope_and_audience(make_lab, client) -> None:
    lab = await make_lab()
    body = (await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))).json()
    _, claims = jwt_parts(body["access_token"])
    assert claims["scope"] == body["scope"] == " ".join(lab.config.auth.scopes)
    assert claims["aud"] == lab.config.auth.audience


async def test_wrong_secret_is_401_invalid_client(make_lab, client) -> None:
    lab = await make_lab()
    r = await client.post(lab.urls.token_url, data=FORM, auth=(lab.config.auth.client_id, "wrong"))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")
    r = await client.post(lab.urls.token_url, data=FORM)  # no client authentication at all
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert lab.auth.stats.failures == 2 and lab.auth.stats.issued == 0


async def test_grant_and_scope_errors_are_400(make_lab, client) -> None:
    lab = await make_lab()
    r = await client.post(lab.urls.token_url, data={"grant_type": "authorization_code"}, auth=creds(lab))
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = await client.post(lab.urls.token_url, data={"scope": "orders:read"}, auth=creds(lab))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = await client.post(lab.urls.token_url, json=FORM, auth=creds(lab))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = await client.post(lab.urls.token_url, data={**FORM, "scope": "admin"}, auth=creds(lab))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    r = await client.get(lab.urls.token_url)
    assert r.status_code == 405


async def test_fail_first_then_success(make_lab, client) -> None:
    lab = await make_lab(auth={"fail_first": 2})
    statuses = [(await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))) for _ in range(3)]
    assert [r.status_code for r in statuses] == [401, 401, 200]
    assert statuses[0].json()["error"] == "invalid_client"
    assert (lab.auth.stats.calls, lab.auth.stats.failures, lab.auth.stats.injected) == (3, 2, 2)


async def test_fail_first_500(make_lab, client) -> None:
    lab = await make_lab(auth={"fail_first": 1, "fail_kind": "500"})
    r = await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))
    assert (r.status_code, r.json()["error"]) == (500, "server_error")


async def test_failure_rates(make_lab, client) -> None:
    lab = await make_lab(auth={"rate_401": 1.0})
    assert (await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))).status_code == 401
    lab = await make_lab(auth={"rate_500": 1.0})
    assert (await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))).status_code == 500


async def test_timeout_holds_until_client_gives_up_and_stop_is_prompt(make_lab, client) -> None:
    lab = await make_lab(auth={"fail_first": 5, "fail_kind": "timeout", "timeout_hold": 3600})
    try:
        await client.post(lab.urls.token_url, data=FORM, auth=creds(lab), timeout=0.2)
        raise AssertionError("expected the token request to time out")
    except httpx.ReadTimeout:
        pass
    assert lab.auth.stats.timeouts == 1
    # A second request is held while we shut down: stop() must release it (the hold is 1 hour).
    held = asyncio.create_task(client.post(lab.urls.token_url, data=FORM, auth=creds(lab)))
    await lab.auth.stats.wait_for(lambda s: s.timeouts == 2)
    await lab.stop()
    r = await held
    assert r.status_code == 503


async def test_token_mode_same_reissues_until_expiry(make_lab, client) -> None:
    lab = await make_lab(auth={"token_mode": "same"})
    a = (await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))).json()
    b = (await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))).json()
    assert a["access_token"] == b["access_token"]
    assert b["expires_in"] <= a["expires_in"]
    assert lab.auth.stats.issued == 2


async def test_token_mode_new_issues_fresh_tokens(make_lab, client) -> None:
    lab = await make_lab(auth={"token_mode": "new"})
    a = (await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))).json()
    b = (await client.post(lab.urls.token_url, data=FORM, auth=creds(lab))).json()
    assert a["access_token"] != b["access_token"]
    assert jwt_parts(a["access_token"])[1]["jti"] != jwt_parts(b["access_token"])[1]["jti"]
    assert a["expires_in"] == b["expires_in"] == lab.config.auth.expires_in


async def test_metadata_names_the_token_endpoint(make_lab, client) -> None:
    lab = await make_lab()
    meta = (await client.get(lab.urls.auth + "/.well-known/oauth-authorization-server")).json()
    assert meta["token_endpoint"] == lab.urls.auth + TOKEN_PATH
    assert "client_credentials" in meta["grant_types_supported"]


def test_jwt_verify_rejects_tampering_none_and_expiry() -> None:
    key = b"k" * 32
    token = jwt_encode({"sub": "x", "exp": 2_000_000_000}, key)
    assert jwt_verify(token, key, now=1_000_000_000)["sub"] == "x"
    head, body, sig = token.split(".")
    cases = {
        "bad_signature": f"{head}.{body}.{sig[:-2]}AA",
        "bad_alg": jwt_encode({"exp": 2_000_000_000}, key).replace(head, "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0"),
        "malformed": "garbage",
        "bad_typ": jwt_encode({"exp": 2_000_000_000}, key, typ="JWT"),
    }
    for reason, bad in cases.items():
        try:
            jwt_verify(bad, key, now=1_000_000_000)
        except InvalidToken as exc:
            assert exc.reason == reason
        else:
            raise AssertionError(reason)
    try:
        jwt_verify(token, key, now=2_000_000_000)
    except InvalidToken as exc:
        assert exc.reason == "expired"
    else:
        raise AssertionError("expired token accepted")
    try:
        jwt_verify(token, b"other" * 8, now=1_000_000_000)
    except InvalidToken as exc:
        assert exc.reason == "bad_signature"
    else:
        raise AssertionError("wrong key accepted")


async def test_client_secret_in_the_form_body_authenticates(make_lab, client) -> None:
    """RFC 6749 §2.3.1 form client auth, as Envoy's oauth2 credential provider sends it."""
    lab = await make_lab()
    client_id, secret = creds(lab)
    r = await client.post(lab.urls.token_url, data={**FORM, "client_id": client_id, "client_secret": secret})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    r = await client.post(lab.urls.token_url, data={**FORM, "client_id": client_id, "client_secret": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert lab.auth.stats.by_kind["token"] == 2 and lab.auth.stats.issued == 1
