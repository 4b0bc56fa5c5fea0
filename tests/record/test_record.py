"""The record layer on real mitmproxy HTTPFlow objects: roles, timing, token facts, no secrets."""

from __future__ import annotations

import base64
import json
import secrets

from mitmproxy.connection import Server
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow, tutils

from inspector.record import jwt, roles
from inspector.record.fingerprint import Fingerprinter
from inspector.record.flow_record import RecordContext, flow_event
from inspector.record.tokens import bearer_facts
from inspector.schema import events as E


def _jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'HS256', 'typ': 'at+jwt'})}.{enc(claims)}.{secrets.token_urlsafe(32)}"


def _flow(
    method="GET",
    path="/",
    body=b"",
    headers=None,
    status=200,
    resp_body=b"",
    resp_headers=None,
    listen_port=8080,
    mode="regular",
):
    f = tflow.tflow(resp=True)
    f.client_conn.sockname = ("127.0.0.1", listen_port)
    f.client_conn.proxy_mode = ProxyMode.parse(mode)
    f.request = tutils.treq(
        method=method.encode(),
        path=path.encode(),
        content=body,
        headers=tuple((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    )
    f.request.host, f.request.port = "auth.test", 443
    f.response = tutils.tresp(
        status_code=status,
        content=resp_body,
        headers=tuple((k.encode(), v.encode()) for k, v in (resp_headers or {}).items()),
    )
    return f


def test_token_response_becomes_fingerprint_and_facts_never_the_token() -> None:
    token = _jwt({"iss": "https://as", "exp": 2000038399, "iat": 2000000000, "client_id": "gw", "aud": "api"})
    secret = "s3cr3t-" + secrets.token_hex(8)
    basic = base64.b64encode(f"gw:{secret}".encode()).decode()
    f = _flow(
        "POST",
        "/oauth2/token",
        b"grant_type=client_credentials&scope=read",
        {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"},
        resp_body=json.dumps(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 38399,
                "refresh_token": "r-" + secrets.token_hex(8),
            }
        ).encode(),
        resp_headers={"content-type": "application/json"},
    )
    ctx = RecordContext()
    ev = flow_event(f, ctx)
    assert ev["role"] == "callout" and ev["role_by"] == "shape"
    assert ev["key"] == {
        "endpoint": "auth.test:443/oauth2/token",
        "client_id": "gw",
        "grant_type": "client_credentials",
        "scope": "read",
    }
    tok = ev["token"]
    assert tok["fp"] == ctx.fpr.fp(token)
    assert tok["expires_in"] == 38399 and tok["type"] == "Bearer" and tok["refresh"] is True
    assert tok["jwt"]["exp"] - tok["jwt"]["iat"] == 38399 and tok["jwt"]["typ"] == "at+jwt"
    line = E.encode(ev).decode()
    for raw in (token, secret, basic, token.split(".")[2]):
        assert raw not in line


def test_fingerprint_is_keyed() -> None:
    a, b = Fingerprinter(b"k" * 32), Fingerprinter(b"j" * 32)
    assert a.fp("tok") == Fingerprinter(b"k" * 32).fp("tok")
    assert a.fp("tok") != b.fp("tok") and a.fp("tok") != a.fp("tok2")
    assert a.key_id != b.key_id


def test_role_by_listener_then_rules_then_shape() -> None:
    ctx = RecordContext(
        inbound=roles.parse_listeners("8080"), rules=roles.parse_rules('[callout]\nhosts = ["idp.example:*"]\n')
    )
    assert flow_event(_flow(listen_port=8080), ctx)["role"] == "inbound"
    f = _flow(listen_port=9000)
    f.request.host = "idp.example"
    assert flow_event(f, ctx)["role"] == "callout"
    assert (
        flow_event(_flow(listen_port=9000, headers={"authorization": "Bearer abcdefghijkl"}), ctx)["role"] == "backend"
    )
    # no inbound listener known and no bearer: other
    assert flow_event(_flow(listen_port=9000), RecordContext())["role"] == "other"


def test_listener_by_mode_spec() -> None:
    spec = "reverse:http://127.0.0.1:9000@8081"
    ctx = RecordContext(inbound=roles.parse_listeners(spec))
    assert flow_event(_flow(listen_port=8081, mode=spec), ctx)["role"] == "inbound"


def test_bad_listener_and_rules_are_one_line_errors() -> None:
    import pytest

    with pytest.raises(ValueError, match="neither a port nor"):
        roles.parse_listeners("8080,banana")
    with pytest.raises(ValueError, match="out of range"):
        roles.parse_listeners("70000")
    with pytest.raises(ValueError, match="not valid TOML"):
        roles.parse_rules("[callout\n")
    with pytest.raises(ValueError, match="unknown table"):
        roles.parse_rules("[calout]\nhosts=['x']\n")


def test_token_error_response_rfc6749_5_2() -> None:
    f = _flow(
        "POST",
        "/oauth2/token",
        b"grant_type=client_credentials",
        {"content-type": "application/x-www-form-urlencoded"},
        status=401,
        resp_body=b'{"error": "invalid_client"}',
        resp_headers={"content-type": "application/json"},
    )
    ev = flow_event(f, RecordContext())
    assert ev["role"] == "callout" and ev["status"] == 401
    assert ev["token"]["error"] == "invalid_client" and "fp" not in ev["token"]


def test_bearer_kinds() -> None:
    fpr = Fingerprinter()
    assert bearer_facts("Bearer undefined", fpr)["kind"] == "garbage"
    assert bearer_facts("Bearer ", fpr)["kind"] == "empty"
    assert bearer_facts("Bearer " + "a" * 40, fpr)["kind"] == "opaque"
    assert bearer_facts("Bearer " + _jwt({"exp": 1}), fpr)["kind"] == "jwt"
    assert bearer_facts("Basic Zm9vOmJhcg==", fpr) is None


def test_jwt_decode_rejects_junk_without_raising() -> None:
    for junk in ("a.b.c", "....", "x", "eyJ.eyJ.", "W10.W10.x", "e30." + "A" * 20000 + ".x"):
        assert jwt.decode(junk) is None or isinstance(jwt.decode(junk), dict)
    assert jwt.decode(_jwt({"exp": 10, "iat": 4, "aud": ["a", "b"]})) == {
        "alg": "HS256",
        "typ": "at+jwt",
        "exp": 10,
        "iat": 4,
        "aud": ["a", "b"],
    }


def test_timing_and_connection_reuse() -> None:
    ctx = RecordContext()
    f1 = _flow()
    f1.server_conn = Server(
        address=("auth.test", 443), timestamp_start=100.0, timestamp_tcp_setup=100.010, timestamp_tls_setup=100.030
    )
    f1.request.timestamp_start, f1.request.timestamp_end = 100.0, 100.001
    f1.response.timestamp_start, f1.response.timestamp_end = 100.530, 100.540
    t = flow_event(f1, ctx)["timing"]
    assert t["reused"] is False
    assert (t["connect"], t["tls"], t["wait"], t["receive"], t["total"]) == (10.0, 20.0, 500.0, 10.0, 540.0)
    f2 = _flow()
    f2.server_conn = f1.server_conn  # same connection id: kept alive, stale timestamps must be ignored
    f2.request.timestamp_start, f2.request.timestamp_end = 200.0, 200.001
    f2.response.timestamp_start, f2.response.timestamp_end = 200.101, 200.102
    t2 = flow_event(f2, ctx)["timing"]
    assert t2["reused"] is True and t2["connect"] == 0 and t2["tls"] == 0
    assert t2["wait"] == 100.0 and t2["ttfb"] == 101.0


def test_trace_ids_and_gateway_hints() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    ev = flow_event(_flow(headers={"traceparent": tp}, resp_headers={"via": "1.1 kong/3.4"}), RecordContext())
    assert ev["trace"] == {"id": "4bf92f3577b34da6a3ce929d0e0e4736", "src": "traceparent"}
    assert ev["gateway"] == ["Kong"]
    ev = flow_event(
        _flow(headers={"x-request-id": "req-1"}, resp_headers={"x-envoy-upstream-service-time": "3"}), RecordContext()
    )
    assert ev["trace"]["id"] == "req-1" and ev["gateway"] == ["Envoy"]


def test_error_flow_is_recorded() -> None:
    f = _flow(
        "POST", "/oauth2/token", b"grant_type=client_credentials", {"content-type": "application/x-www-form-urlencoded"}
    )
    f.response = None
    f.error = tflow.terr("Connection refused")
    ev = flow_event(f, RecordContext())
    assert ev["role"] == "callout" and ev["status"] is None
    assert ev["error"]["kind"] == "refused"


def test_events_roundtrip_and_reject_newer_schema() -> None:
    import pytest

    ev = flow_event(_flow(), RecordContext())
    assert E.decode(E.encode(ev)) == json.loads(E.encode(ev))
    with pytest.raises(E.EventError, match="newer"):
        E.decode(b'{"v": 2, "type": "flow"}')
    with pytest.raises(E.EventError):
        E.decode(b"[1,2]")


def test_compressed_token_response_parsed_but_never_a_bomb() -> None:
    import gzip

    from inspector.record.tokens import MAX_PARSE_BYTES, bounded_decode

    body = json.dumps({"access_token": "a" * 40, "token_type": "Bearer", "expires_in": 60}).encode()
    f = _flow(
        "POST",
        "/oauth2/token",
        b"grant_type=client_credentials",
        {"content-type": "application/x-www-form-urlencoded"},
        resp_body=gzip.compress(body),
        resp_headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert flow_event(f, RecordContext())["token"]["expires_in"] == 60
    bomb = gzip.compress(b"{" + b" " * (50 * MAX_PARSE_BYTES) + b"}")  # 12 MB of JSON in ~13 KB
    assert len(bomb) < MAX_PARSE_BYTES and bounded_decode(bomb, "gzip") is None
    assert bounded_decode(b"{}", "gzip") == b"{}"  # lies about its encoding: taken as it is


def test_fingerprint_is_standard_hmac_sha256() -> None:
    import hashlib
    import hmac

    for key in (b"k" * 32, b"short", b"x" * 100):
        for token in ("abc", "é" * 50, ""):
            expected = hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:12]
            assert Fingerprinter(key).fp(token) == expected


def test_form_fields_read_as_urllib_reads_them() -> None:
    """The direct split for unescaped bodies gives what parse_qs gives, on random forms."""
    import random
    from urllib.parse import parse_qs

    from inspector.record.tokens import parse_form

    rng = random.Random(7)
    alphabet = "ab=&%+2x_.-é"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        expected = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items() if v}
        assert parse_form(text) == expected, text
    assert parse_form("grant_type=client_credentials&client_id=gw&scope=a&scope=b") == {
        "grant_type": "client_credentials",
        "client_id": "gw",
        "scope": "a",
    }
