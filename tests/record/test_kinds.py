"""Callout kinds on real mitmproxy HTTPFlows: shape, discovery, rules, hints; fingerprints only."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from inspector.record import roles
from inspector.record.flow_record import RecordContext, flow_event
from inspector.schema import events as E
from tests.record.test_record import _flow, _jwt

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _dump(ev: dict) -> str:
    return E.encode(ev).decode()


def test_exchange_by_grant_type_key_has_subject_fingerprint() -> None:
    subject = _jwt({"sub": "alice", "exp": 2000000000, "iat": 1999990000})
    issued = "iss-" + secrets.token_hex(16)
    body = (
        f"grant_type={EXCHANGE}&subject_token={subject}&subject_token_type=urn:ietf:params:oauth:token-type:jwt"
        "&audience=orders&scope=read&requested_token_type=urn:ietf:params:oauth:token-type:access_token"
    ).encode()
    f = _flow(
        "POST",
        "/oauth2/token",
        body,
        FORM,
        resp_body=json.dumps(
            {
                "access_token": issued,
                "token_type": "N_A",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "expires_in": 300,
            }
        ).encode(),
        resp_headers=JSON,
    )
    ctx = RecordContext()
    ev = flow_event(f, ctx)
    assert (ev["role"], ev["kind"], ev["kind_by"]) == ("callout", "exchange", "shape")
    assert ev["key"]["subject_fp"] == ctx.fpr.fp(subject)
    assert ev["key"]["audience"] == "orders" and ev["key"]["scope"] == "read"
    assert ev["key"]["requested_token_type"].endswith("access_token")
    assert ev["token"]["expires_in"] == 300 and ev["token"]["fp"] == ctx.fpr.fp(issued)
    out = _dump(ev)
    assert subject not in out and issued not in out


def test_introspection_by_shape_keeps_fingerprints_and_claim_names_only() -> None:
    token = "opaque-" + secrets.token_hex(16)
    basic = base64.b64encode(b"gw:gw-secret-123").decode()
    answer = {
        "active": True,
        "exp": 2000000000,
        "sub": "user-42",
        "email": "alice@example.com",
        "name": "Alice Liddell",
        "client_id": "gw",
    }
    f = _flow(
        "POST",
        "/any/check",
        f"token={token}&token_type_hint=access_token".encode(),
        {**FORM, "authorization": f"Basic {basic}"},
        resp_body=json.dumps(answer).encode(),
        resp_headers=JSON,
    )
    ctx = RecordContext()
    ev = flow_event(f, ctx)
    assert (ev["role"], ev["role_by"], ev["kind"]) == ("callout", "shape", "introspection")
    assert ev["key"]["client_id"] == "gw" and ev["key"]["token_fp"] == ctx.fpr.fp(token)
    facts = ev["introspection"]
    assert facts["active"] is True and facts["exp"] == 2000000000
    assert facts["claims"] == sorted(answer)
    out = _dump(ev)
    for secret in (token, "alice@example.com", "Alice Liddell", "user-42", "gw-secret-123"):
        assert secret not in out


def test_a_backend_post_with_a_token_field_is_not_an_introspection() -> None:
    f = _flow("POST", "/orders", b'{"token": "x", "item": 3}', JSON, resp_body=b'{"ok": true}', resp_headers=JSON)
    ev = flow_event(f, RecordContext())
    assert ev["role"] == "other" and "kind" not in ev


def test_jwks_by_shape_with_http_freshness_and_kids() -> None:
    keys = {"keys": [{"kty": "RSA", "kid": "k1", "n": "abc", "e": "AQAB"}, {"kty": "RSA", "kid": "k2", "n": "d"}]}
    f = _flow(
        "GET",
        "/some/keys",
        resp_body=json.dumps(keys).encode(),
        resp_headers={**JSON, "cache-control": "public, max-age=600", "age": "100"},
    )
    ev = flow_event(f, RecordContext())
    assert (ev["role"], ev["kind"]) == ("callout", "jwks")
    j = ev["jwks"]
    assert (j["kids"], j["keys"], j["max_age"], j["age"], j["fresh_s"], j["cache"]) == (
        ["k1", "k2"],
        2,
        600,
        100,
        500,
        "max-age",
    )
    no_store = _flow(
        "GET", "/x", resp_body=json.dumps(keys).encode(), resp_headers={**JSON, "cache-control": "no-store"}
    )
    assert flow_event(no_store, RecordContext())["jwks"]["fresh_s"] == 0
    bare = _flow("GET", "/x", resp_body=json.dumps(keys).encode(), resp_headers=JSON)
    assert "fresh_s" not in flow_event(bare, RecordContext())["jwks"]


def test_userinfo_by_path_and_bearer_keeps_claim_names_only() -> None:
    bearer = _jwt({"sub": "user-42", "exp": 2000000000, "iat": 1999990000})
    answer = {"sub": "user-42", "email": "alice@example.com", "name": "Alice Liddell"}
    f = _flow(
        "GET",
        "/oauth2/userinfo",
        headers={"authorization": f"Bearer {bearer}"},
        resp_body=json.dumps(answer).encode(),
        resp_headers=JSON,
    )
    ctx = RecordContext()
    ev = flow_event(f, ctx)
    assert (ev["role"], ev["kind"], ev["kind_by"]) == ("callout", "userinfo", "hint")
    assert ev["key"]["bearer_fp"] == ctx.fpr.fp(bearer)
    assert ev["userinfo"]["claims"] == ["email", "name", "sub"]
    out = _dump(ev)
    for secret in (bearer, "alice@example.com", "Alice Liddell", "user-42"):
        assert secret not in out


@pytest.mark.parametrize("header", ["X-Forwarded-Uri", "X-Original-URI", "X-Forwarded-Method"])
def test_forward_auth_by_forwarded_headers(header: str) -> None:
    cred = "Bearer " + secrets.token_hex(16)
    f = _flow("GET", "/verify", headers={header: "/orders/1", "authorization": cred}, status=403)
    ctx = RecordContext()
    ev = flow_event(f, ctx)
    assert (ev["role"], ev["role_by"], ev["kind"]) == ("callout", "shape", "forward_auth")
    assert ev["key"]["cred_fp"] == ctx.fpr.fp(cred) and ev["key"]["cred"] == "authorization"
    assert ev["forward_auth"] == {"decision": "deny"}
    assert cred.split()[1] not in _dump(ev)


def test_cookie_is_the_forwarded_credential_when_there_is_no_authorization() -> None:
    cookie = "session=" + secrets.token_hex(16)
    f = _flow("GET", "/auth", headers={"x-original-uri": "/a", "cookie": cookie})
    ctx = RecordContext()
    ev = flow_event(f, ctx)
    assert ev["key"]["cred"] == "cookie" and ev["key"]["cred_fp"] == ctx.fpr.fp(cookie)
    assert cookie not in _dump(ev)


def test_callout_listener_without_oauth_shape_is_forward_auth_and_one_option_says_so() -> None:
    ctx = RecordContext(rules=roles.parse_rules('[callout]\nlisteners = ["9100"]\n'))
    ev = flow_event(_flow("GET", "/check", listen_port=9100), ctx)
    assert (ev["role"], ev["kind"], ev["kind_by"]) == ("callout", "forward_auth", "default")
    # the one-line option: a listener and its kind
    ctx = RecordContext(rules=roles.with_rules(roles.Rules(), roles.parse_callout_listeners("9101=forward_auth,9102")))
    ev = flow_event(_flow("POST", "/oauth2/token", b"grant_type=client_credentials", FORM, listen_port=9101), ctx)
    assert (ev["role"], ev["kind"], ev["kind_by"]) == ("callout", "forward_auth", "rule")
    ev = flow_event(_flow("POST", "/oauth2/token", b"grant_type=client_credentials", FORM, listen_port=9102), ctx)
    assert (ev["role"], ev["kind"]) == ("callout", "token")


def test_rules_file_kind_per_callout_entry_and_errors() -> None:
    rules = roles.parse_rules(
        '[[callout]]\nlisteners = ["9100"]\n\n[[callout]]\nhosts = ["authz.test:*"]\nkind = "forward_auth"\n'
    )
    assert [r.kind for r in rules.rules] == [None, "forward_auth"]
    with pytest.raises(ValueError, match="kind 'tokens' is not one of"):
        roles.parse_rules('[callout]\nhosts = ["x"]\nkind = "tokens"\n')
    with pytest.raises(ValueError, match="unknown key 'kind'"):
        roles.parse_rules('[backend]\nhosts = ["x"]\nkind = "jwks"\n')
    with pytest.raises(ValueError, match="kind 'nope'"):
        roles.parse_callout_listeners("9100=nope")


def test_discovery_document_names_the_endpoints() -> None:
    doc = {
        "issuer": "https://auth.test",
        "token_endpoint": "https://auth.test/t",
        "introspection_endpoint": "https://auth.test/i",
        "jwks_uri": "https://auth.test/k",
        "userinfo_endpoint": "https://auth.test/u",
    }
    ctx = RecordContext()
    ev = flow_event(
        _flow("GET", "/.well-known/openid-configuration", resp_body=json.dumps(doc).encode(), resp_headers=JSON), ctx
    )
    assert (ev["role"], ev["role_by"], ev["discovery"]) == (
        "other",
        "shape",
        ["introspection", "jwks", "token", "userinfo"],
    )
    # a failed key-set fetch has no shape, but the document named its URL
    ev = flow_event(_flow("GET", "/k", status=503), ctx)
    assert (ev["role"], ev["role_by"], ev["kind"]) == ("callout", "discovery", "jwks")
    ev = flow_event(_flow("GET", "/u", headers={"authorization": "Bearer abcdefghijkl"}, status=401), ctx)
    assert (ev["role"], ev["kind"]) == ("callout", "userinfo")


def test_bearer_jwt_kid_is_recorded_on_inbound_flows_and_a_user_sub_is_not() -> None:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    token = f"{enc({'alg': 'RS256', 'kid': 'key-7'})}.{enc({'exp': 2000000000, 'sub': 'alice@example.com'})}.sig"
    ctx = RecordContext(inbound=roles.parse_listeners("8080"))
    ev = flow_event(_flow("GET", "/orders", headers={"authorization": f"Bearer {token}"}), ctx)
    assert ev["role"] == "inbound" and ev["bearer"]["jwt"]["kid"] == "key-7"
    assert "alice@example.com" not in _dump(ev)
