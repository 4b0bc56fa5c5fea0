"""Hypothesis strategies for the hardening fuzz tests.

Two families:

- raw traffic (`flow_specs`): token responses (JSON with wrong types, huge values, nested
  junk, non-JSON bytes, odd encodings), JWTs (bad base64, wrong segment counts, huge
  claims, non-object JSON, unicode) and headers (odd names and values, duplicates,
  non-UTF-8 bytes), assembled into real mitmproxy HTTPFlows by `build_flow`;
- events (`event_streams`): what a reader hands the analyzer after `inspector.schema.events.check`:
  flow events with a valid role and numeric ts, and every optional field possibly missing
  or any JSON value; session, addon and unknown events with junk fields.

Every secret the raw strategies put into traffic carries a marker (`SECRET_MARK`) or is
recorded in `FlowSpec.secrets`, so a test can assert that none of them reaches an event.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import brotli
from hypothesis import settings
from hypothesis import strategies as st


def fuzz_settings(share: float) -> settings:
    """The profile TOKENTAX_FUZZ selects (registered in conftest.py). A profile's
    max_examples is the total over the fuzz tests; each test takes its `share` of it
    (the shares in test_fuzz.py add up to 1)."""
    import os

    base = settings.get_profile(os.environ.get("TOKENTAX_FUZZ", "ci") or "ci")
    return settings(base, max_examples=max(10, round(base.max_examples * share)))


SECRET_MARK = "SeKrit"
_SECRET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_"
SURROGATES = ("\ud800", "a\udcff", "\udfff\ud800x")

# -- JSON junk -------------------------------------------------------------------------------

_big_ints = st.integers(min_value=2**63, max_value=2**90) | st.integers(min_value=-(2**90), max_value=-(2**63))
_text = st.text(max_size=30) | st.sampled_from(SURROGATES) | st.sampled_from(["", " ", "Bearer", "null", "3600"])

# Python's json module reads what traffic sends: NaN, Infinity, big ints, lone surrogates.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    _big_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
)
json_junk = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)


def secret_text(prefix: str = SECRET_MARK) -> st.SearchStrategy[str]:
    return st.text(_SECRET_ALPHABET, min_size=16, max_size=48).map(lambda s: prefix + s)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json_bytes(obj: Any, ensure_ascii: bool = True) -> bytes:
    text = json.dumps(obj, allow_nan=True, ensure_ascii=ensure_ascii)
    return text.encode("utf-8", "surrogatepass")


# -- JWTs ------------------------------------------------------------------------------------

_numberish = st.one_of(
    st.integers(min_value=0, max_value=4_000_000_000),
    _big_ints,
    st.floats(allow_nan=True),
    st.sampled_from(["1700000000", "soon", None, True]),
    st.lists(st.integers(), max_size=2),
)
jwt_claims = st.fixed_dictionaries(
    {},
    optional={
        "exp": _numberish,
        "iat": _numberish,
        "nbf": _numberish,
        "iss": json_junk,
        "aud": st.one_of(_text, st.lists(_text, max_size=20), json_junk),
        "sub": json_junk,
        "client_id": json_junk,
        "scope": json_junk,
        "jti": json_junk,
        "big": st.integers(0, 40_000).map(lambda n: "c" * n),
    },
)
jwt_headers = st.one_of(
    st.just({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
    st.fixed_dictionaries({}, optional={"alg": json_junk, "typ": json_junk, "kid": json_junk}),
    json_junk,
)


@st.composite
def jwts(draw: st.DrawFn) -> str:
    """JWT-shaped strings, well formed or broken in one of several ways."""
    header = draw(jwt_headers)
    claims = draw(st.one_of(jwt_claims, jwt_claims, json_junk))
    ascii_json = draw(st.booleans())
    sig = draw(secret_text("sig" + SECRET_MARK))
    parts = [b64url(_json_bytes(header, ascii_json)), b64url(_json_bytes(claims, ascii_json)), sig]
    how = draw(
        st.sampled_from(["ok", "ok", "ok", "segments", "bad_b64", "padding", "unicode", "not_json", "empty", "huge"])
    )
    if how == "segments":
        n = draw(st.sampled_from([1, 2, 4, 5]))
        parts = (parts * 2)[:n]
    elif how == "bad_b64":
        i = draw(st.integers(0, 1))
        parts[i] = draw(st.text("!@#$%^&*()<>?\\|~`\"' \t" + _SECRET_ALPHABET, min_size=1, max_size=30))
    elif how == "padding":
        i = draw(st.integers(0, 1))
        parts[i] = parts[i] + draw(st.sampled_from(["=", "==", "===", "====", "=x"]))
    elif how == "unicode":
        i = draw(st.integers(0, 2))
        parts[i] = parts[i][:5] + draw(st.text(min_size=1, max_size=5)) + parts[i][5:]
    elif how == "not_json":
        i = draw(st.integers(0, 1))
        parts[i] = b64url(draw(st.binary(max_size=40)))
    elif how == "empty":
        parts = ["", "", ""]
    elif how == "huge":
        parts[1] = b64url(_json_bytes({"exp": 2, "iat": 1, "pad": "x" * draw(st.integers(10_000, 20_000))}))
    return ".".join(parts)


# -- token responses -------------------------------------------------------------------------

_expires_in = st.one_of(
    st.integers(min_value=-10, max_value=10**6),
    _big_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["3600", "38399", "-5", "1e3", "abc", "", "٣٦٠٠"]),
    st.booleans(),
    st.none(),
    json_junk,
)


@st.composite
def token_bodies(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """(body, secrets in it): token responses in every shape a server or a fault could send."""
    kind = draw(
        st.sampled_from(
            ["object"] * 6
            + ["error", "non_json", "array", "deep", "huge", "broken", "introspection", "userinfo", "jwks", "discovery"]
        )
    )
    secrets: list[str] = []
    if kind in ("introspection", "userinfo"):
        # personal data: every value is a secret; claim names are kept by design
        person = {name: draw(secret_text()) for name in ("sub", "email", "name", "username")}
        secrets.extend(person.values())
        obj = dict(person)
        if kind == "introspection":
            obj["active"] = draw(st.one_of(st.booleans(), json_junk))
            if draw(st.booleans()):
                obj["exp"] = draw(_expires_in)
        return _json_bytes(obj, draw(st.booleans())), secrets
    if kind == "jwks":
        n = draw(st.integers(0, 4))
        keys = [{"kty": "RSA", "kid": draw(_text), "n": draw(st.text(max_size=40)), "e": "AQAB"} for _ in range(n)]
        return _json_bytes({"keys": keys}), secrets
    if kind == "discovery":
        base = draw(st.sampled_from(["https://auth.example", "http://127.0.0.1:9", "junk", ""]))
        doc: dict[str, Any] = {"issuer": base}
        for name, path in (("token_endpoint", "/t"), ("jwks_uri", "/k"), ("userinfo_endpoint", "/u")):
            doc[name] = draw(st.one_of(st.just(base + path), json_junk))
        return _json_bytes(doc), secrets
    if kind in ("object", "error"):
        obj: dict[str, Any] = {}
        if kind == "object" or draw(st.booleans()):
            which = draw(st.sampled_from(["secret", "jwt", "junk"]))
            access = draw(secret_text() if which == "secret" else jwts() if which == "jwt" else json_junk)
            obj["access_token"] = access
            if which != "junk":  # junk may equal a field copied by design (scope): not a secret
                secrets.append(access)
            obj["token_type"] = draw(st.one_of(st.sampled_from(["Bearer", "bearer", "N_A", ""]), json_junk))
        if kind == "error":
            obj["error"] = draw(st.one_of(st.sampled_from(["invalid_client", "server_error"]), json_junk))
        for name, strat in (("expires_in", _expires_in), ("scope", json_junk), ("error_description", json_junk)):
            if draw(st.booleans()):
                obj[name] = draw(strat)
        for name in ("refresh_token", "id_token"):
            if draw(st.booleans()):
                value = draw(st.one_of(secret_text(), jwts()))
                obj[name] = value
                secrets.append(value)
        extra = draw(st.dictionaries(_text, json_junk, max_size=3))
        for k, v in extra.items():
            obj.setdefault(k, v)
        keys = list(obj)
        order = draw(st.permutations(keys))
        obj = {k: obj[k] for k in order}
        return _json_bytes(obj, draw(st.booleans())), secrets
    if kind == "non_json":
        return draw(st.binary(max_size=300)), secrets
    if kind == "array":
        return _json_bytes(draw(st.lists(json_junk, max_size=5))), secrets
    if kind == "deep":
        n = draw(st.integers(50, 100_000))
        opener = draw(st.sampled_from(['{"a":', "[", '{"access_token":[']))
        return (opener * n).encode(), secrets
    if kind == "huge":
        # around the parser's size limit (256 KiB): just under and just over
        tok = draw(secret_text())
        secrets.append(tok)
        pad = draw(st.integers(250_000, 270_000))
        return _json_bytes({"access_token": tok, "token_type": "Bearer", "expires_in": 60, "pad": "p" * pad}), secrets
    # broken: starts like a token response, then garbage
    tok = draw(secret_text())
    secrets.append(tok)
    body = _json_bytes({"access_token": tok, "token_type": "Bearer"})
    cut = draw(st.integers(1, len(body) - 1))
    return body[:cut] + draw(st.binary(max_size=20)), secrets


# -- headers ---------------------------------------------------------------------------------

_INTERESTING_NAMES = [
    b"authorization",
    b"Authorization",
    b"AUTHORIZATION",
    b"traceparent",
    b"b3",
    b"x-b3-traceid",
    b"x-request-id",
    b"x-correlation-id",
    b"content-type",
    b"Content-Type",
    b"content-encoding",
    b"via",
    b"server",
    b"x-kong-proxy-latency",
    b"x-envoy-upstream-service-time",
    b"cookie",
    b"set-cookie",
    b"proxy-authorization",
    b"x-forwarded-uri",
    b"x-original-uri",
    b"x-forwarded-method",
    b"cache-control",
    b"age",
    b"expires",
]


_TRACE_NAMES = {b"traceparent", b"b3", b"x-b3-traceid", b"x-request-id", b"x-correlation-id"}


@st.composite
def header_values(draw: st.DrawFn, secrets: list[str], allow_secret: bool = True) -> bytes:
    """A header value. Trace headers are copied into events by design: no secrets there."""
    kinds = (
        ["bearer", "basic", "trace", "bytes", "text", "garbage_bearer"]
        if allow_secret
        else ["trace", "bytes", "text", "garbage_bearer"]
    )
    kind = draw(st.sampled_from(kinds))
    if kind == "bearer":
        tok = draw(st.one_of(secret_text(), jwts()))
        secrets.append(tok)
        sep = draw(st.sampled_from([" ", "  ", "\t", ""]))
        scheme = draw(st.sampled_from(["Bearer", "bearer", "BEARER", "Token"]))
        return (scheme + sep + tok).encode("utf-8", "surrogatepass")
    if kind == "basic":
        cid = draw(st.text(max_size=20))
        sec = draw(secret_text())
        secrets.append(sec)
        raw = (cid + ":" + sec).encode("utf-8", "surrogatepass")
        enc = base64.b64encode(raw).decode()
        secrets.append(enc)
        return b"Basic " + enc.encode()
    if kind == "trace":
        return draw(
            st.sampled_from(
                [
                    b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    b"00-short-x-01",
                    b"---",
                    b"0",
                    b"1-2-3",
                    b"\xff\xfe-\x00-trace",
                    "00-ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ-a-b".encode("latin-1"),
                ]
            )
        )
    if kind == "garbage_bearer":
        return draw(
            st.sampled_from(
                [
                    b"Bearer undefined",
                    b"Bearer null",
                    b"Bearer ",
                    b"Bearer",
                    b"Bearer [object Object]",
                    b"Bearer \xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
                    b"Basic",
                    b"Basic !!!",
                ]
            )
        )
    if kind == "text":
        return draw(st.text(max_size=60)).encode("utf-8")
    return draw(st.binary(max_size=80))


@st.composite
def header_lists(draw: st.DrawFn, secrets: list[str]) -> list[tuple[bytes, bytes]]:
    n = draw(st.integers(0, 8))
    out: list[tuple[bytes, bytes]] = []
    for _ in range(n):
        name = draw(st.one_of(st.sampled_from(_INTERESTING_NAMES), st.binary(min_size=1, max_size=24)))
        out.append((name, draw(header_values(secrets, name.lower() not in _TRACE_NAMES))))
    if out and draw(st.booleans()):  # duplicates of a header already there
        out.append((out[0][0], draw(header_values(secrets, out[0][0].lower() not in _TRACE_NAMES))))
    return out


# -- whole flows -----------------------------------------------------------------------------


@dataclass
class FlowSpec:
    method: bytes = b"GET"
    host: str = "auth.example"
    port: int = 443
    path: bytes = b"/"
    req_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    req_body: bytes = b""
    status: int | None = 200  # None: the flow ended in an error
    error: str = ""
    resp_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    resp_body: bytes = b""
    inbound: bool = False
    secrets: list[str] = field(default_factory=list)


def _encode_body(body: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(body, compresslevel=1)
    if how == "br":
        return brotli.compress(body, quality=1)
    if how == "deflate":
        return zlib.compress(body, 1)
    return body


@st.composite
def request_bodies(draw: st.DrawFn, secrets: list[str]) -> tuple[bytes, bytes]:
    """(content-type, body) of a token request or anything else."""
    kind = draw(st.sampled_from(["form", "json", "bytes", "none", "introspection", "exchange"]))
    if kind in ("introspection", "exchange"):
        from urllib.parse import urlencode

        token = draw(st.one_of(secret_text(), jwts()))
        secrets.append(token)
        if kind == "introspection":
            fields = {"token": token, "token_type_hint": draw(st.text(max_size=20))}
        else:
            fields = {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": token,
                "audience": draw(st.text(max_size=20)),
                "requested_token_type": draw(st.text(max_size=40)),
            }
            if draw(st.booleans()):
                actor = draw(secret_text())
                secrets.append(actor)
                fields["actor_token"] = actor
        return b"application/x-www-form-urlencoded", urlencode(fields).encode()
    if kind == "form":
        secret = draw(secret_text())
        secrets.append(secret)
        fields = {
            "grant_type": draw(st.sampled_from(["client_credentials", "refresh_token", "", "x\u00ff"])),
            "client_id": draw(st.text(max_size=20)),
            "client_secret": secret,
            "scope": draw(st.text(max_size=20)),
        }
        if draw(st.booleans()):
            rt = draw(secret_text())
            secrets.append(rt)
            fields["refresh_token"] = rt
        from urllib.parse import urlencode

        body = urlencode(fields).encode()
        if draw(st.booleans()):
            body += b"&" + draw(st.binary(max_size=20))
        return b"application/x-www-form-urlencoded", body
    if kind == "json":
        secret = draw(secret_text())
        secrets.append(secret)
        obj = {
            "grant_type": draw(json_junk),
            "client_id": draw(json_junk),
            "client_secret": secret,
            "scope": draw(json_junk),
            "audience": draw(json_junk),
            "resource": draw(json_junk),
        }
        return b"application/json", _json_bytes(obj, draw(st.booleans()))
    if kind == "bytes":
        return draw(st.binary(max_size=10)), draw(st.binary(max_size=200))
    return b"", b""


@st.composite
def flow_specs(draw: st.DrawFn) -> FlowSpec:
    secrets: list[str] = []
    spec = FlowSpec(secrets=secrets)
    spec.method = draw(
        st.one_of(st.sampled_from([b"GET", b"POST", b"POST", b"HEAD", b"PUT"]), st.binary(min_size=1, max_size=8))
    )
    spec.host = draw(st.one_of(st.just("auth.example"), st.text(max_size=20), st.sampled_from(SURROGATES)))
    spec.port = draw(st.integers(0, 65535))
    spec.path = draw(
        st.one_of(
            st.sampled_from(
                [
                    b"/oauth2/token",
                    b"/token",
                    b"/realms/x/protocol/openid-connect/token",
                    b"/orders/7",
                    b"/oauth2/introspect",
                    b"/oauth2/jwks",
                    b"/oauth2/userinfo",
                    b"/verify",
                ]
            ),
            st.binary(max_size=60).map(lambda b: b"/" + b),
            st.just(b"/p?q=" + b"x" * 400),
        )
    )
    if draw(st.booleans()) and draw(st.booleans()):
        spec.path += b"?access_token=" + draw(secret_text()).encode()
        secrets.append(spec.path.rsplit(b"=", 1)[1].decode())
    spec.req_headers = draw(header_lists(secrets))
    ctype, spec.req_body = draw(request_bodies(secrets))
    if ctype:
        spec.req_headers.append((b"content-type", ctype))
    if draw(st.integers(0, 9)) == 0:
        spec.status = None
        spec.error = draw(
            st.sampled_from(
                [
                    "Connection refused",
                    "timed out",
                    "client disconnected",
                    "TLS handshake",
                    "killed",
                    "\udcff weird",
                    "x" * 400,
                ]
            )
        )
    else:
        spec.status = draw(
            st.one_of(st.sampled_from([200, 200, 201, 204, 304, 400, 401, 500, 503]), st.integers(100, 999))
        )
        body, body_secrets = draw(token_bodies())
        secrets.extend(body_secrets)
        how = draw(st.sampled_from(["none"] * 6 + ["gzip", "br", "deflate", "lie", "identity"]))
        resp_headers = draw(header_lists(secrets))
        ct = draw(
            st.one_of(
                st.sampled_from(
                    [
                        b"application/json",
                        b"application/json; charset=utf-8",
                        b"APPLICATION/JSON",
                        b"text/plain",
                        b"application/jwt",
                        None,
                    ]
                ),
                st.binary(max_size=30),
            )
        )
        if ct is not None:
            resp_headers.append((b"content-type", ct))
        if how == "lie":  # says gzip, is not
            resp_headers.append(
                (b"content-encoding", draw(st.sampled_from([b"gzip", b"br", b"deflate", b"zstd", b"x-unknown"])))
            )
        elif how != "none":
            resp_headers.append((b"content-encoding", how.encode()))
            body = _encode_body(body, how)
        spec.resp_headers = resp_headers
        spec.resp_body = body
    spec.inbound = draw(st.booleans())
    return spec


def build_flow(spec: FlowSpec) -> Any:
    """A real mitmproxy HTTPFlow carrying the spec's bytes."""
    from mitmproxy.http import Headers
    from mitmproxy.test import tflow

    f = tflow.tflow(resp=spec.status is not None, err=spec.status is None)
    req = f.request
    req.data.method = spec.method
    req.data.host = spec.host
    req.data.port = spec.port
    req.data.path = spec.path
    req.headers = Headers(spec.req_headers)
    req.raw_content = spec.req_body
    if spec.status is not None:
        f.response.status_code = spec.status
        f.response.headers = Headers(spec.resp_headers)
        f.response.raw_content = spec.resp_body
    else:
        f.error.msg = spec.error
    return f


# -- events for the analyzer -----------------------------------------------------------------

# What a reader can hand the analyzer: JSON as orjson decodes it (finite floats, ints that
# fit 64 bits or become floats, no lone surrogates).
event_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "inbound", "jwt", "garbage", "timeout", "aaaa", "1700000000"]),
)
event_junk = st.recursive(
    event_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)

ROLES = ("inbound", "callout", "backend", "other")
_IDS = [f"f{i}" for i in range(8)]
_TRACES = ["t1", "t2", "t3"]
_FPS = ["aaaa", "bbbb", "cccc"]
_BASE_TS = 1_700_000_000.0
_ts = st.one_of(
    st.floats(0, 900).map(lambda d: _BASE_TS + d),
    st.floats(0, 900).map(lambda d: _BASE_TS + d),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1.5, 1e12, 1e18, 1.7e308, -1.7e308, 5e-324]),
    st.floats(allow_nan=False, allow_infinity=False),
)

_OPTIONAL_FLOW_FIELDS = (
    "id",
    "end",
    "role_by",
    "listener",
    "method",
    "scheme",
    "host",
    "port",
    "path",
    "status",
    "timing",
    "size",
    "error",
    "trace",
    "bearer",
    "key",
    "token",
    "gateway",
    "kind",
    "introspection",
    "jwks",
    "userinfo",
    "forward_auth",
)
_NESTED = {
    "timing": ("reused", "connect", "tls", "send", "wait", "receive", "ttfb", "total"),
    "size": ("req", "resp"),
    "error": ("kind", "msg"),
    "trace": ("id", "src"),
    "bearer": ("fp", "kind", "jwt"),
    "key": ("endpoint", "client_id", "grant_type", "scope", "audience"),
    "token": ("fp", "type", "expires_in", "scope", "refresh", "jwt", "error"),
    "introspection": ("active", "exp", "token_exp", "fp", "claims"),
    "jwks": ("fp", "kids", "fresh_s", "keys"),
    "userinfo": ("fp", "claims"),
    "forward_auth": ("decision",),
}


@st.composite
def flow_event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    role = draw(st.sampled_from(ROLES))
    ts = draw(_ts)
    dur = draw(st.floats(0, 5000))
    end = ts + dur / 1000 if abs(ts) < 1e300 else ts
    status = draw(st.one_of(st.none(), st.sampled_from([200, 200, 204, 304, 400, 401, 500, 503])))
    ev: dict[str, Any] = {
        "v": draw(st.sampled_from([1, 1, 1, 0, -3])),
        "type": "flow",
        "id": draw(st.sampled_from(_IDS)),
        "ts": ts,
        "end": end,
        "role": role,
        "role_by": "listener",
        "listener": "reverse:http://x@8080",
        "method": draw(st.sampled_from(["GET", "POST", None])),
        "scheme": "http",
        "host": "127.0.0.1",
        "port": draw(st.sampled_from([8080, 9001, 9002, None])),
        "path": draw(st.sampled_from(["/orders", "/orders/7", "/oauth2/token", "/users/" + "a" * 30, None])),
        "status": status,
        "timing": {
            "reused": draw(st.booleans()),
            "connect": 0.0,
            "tls": 0.0,
            "send": 0.1,
            "wait": dur,
            "receive": 0.1,
            "ttfb": dur,
            "total": dur,
        },
        "size": {"req": 0, "resp": 10},
    }
    if draw(st.integers(0, 5)) == 0:
        ev["error"] = {"kind": draw(st.sampled_from(["refused", "timeout", "abandoned", "other"])), "msg": "x"}
    if draw(st.booleans()):
        ev["trace"] = {"id": draw(st.sampled_from(_TRACES)), "src": "traceparent"}
    if role == "backend" and draw(st.booleans()):
        kind = draw(st.sampled_from(["jwt", "opaque", "empty", "garbage"]))
        ev["bearer"] = {"fp": draw(st.sampled_from(_FPS)), "kind": kind}
        if kind == "jwt":
            ev["bearer"]["jwt"] = {"exp": _BASE_TS + 3600, "iat": _BASE_TS}
    if role == "callout":
        ev["key"] = {"endpoint": "127.0.0.1:9001/oauth2/token", "client_id": draw(st.sampled_from(["gw", "other"]))}
        if draw(st.integers(0, 3)):
            tok: dict[str, Any] = {"fp": draw(st.sampled_from(_FPS)), "type": "Bearer", "refresh": False}
            if draw(st.booleans()):
                tok["expires_in"] = draw(st.sampled_from([3600, 38399, 0, 1, 1e9]))
            if draw(st.booleans()):
                tok["jwt"] = {"exp": _BASE_TS + 7200, "iat": _BASE_TS, "sub": "gw"}
            if draw(st.integers(0, 6)) == 0:
                tok = {"error": "invalid_client", "refresh": False}
            ev["token"] = tok
        kind = draw(
            st.sampled_from(["token", "token", "exchange", "introspection", "jwks", "userinfo", "forward_auth"])
        )
        ev["kind"] = kind
        fp = draw(st.sampled_from(_FPS))
        if kind == "introspection":
            ev["key"]["token_fp"] = fp
            ev["introspection"] = {"active": draw(st.booleans()), "exp": _BASE_TS + 60, "fp": fp, "claims": ["sub"]}
        elif kind == "jwks":
            ev["jwks"] = {
                "fp": fp,
                "kids": [draw(st.sampled_from(["k1", "k2"]))],
                "fresh_s": draw(st.sampled_from([0, 300])),
            }
        elif kind == "userinfo":
            ev["key"]["bearer_fp"] = fp
            ev["userinfo"] = {"fp": fp, "claims": ["sub"]}
        elif kind == "forward_auth":
            ev["key"]["cred_fp"] = fp
            ev["forward_auth"] = {"decision": draw(st.sampled_from(["allow", "deny", "error"]))}
    if role == "inbound" and draw(st.booleans()):
        ev["bearer"] = {
            "fp": draw(st.sampled_from(_FPS)),
            "kind": "jwt",
            "jwt": {"kid": draw(st.sampled_from(["k1", "k9"]))},
        }
    if draw(st.booleans()):
        ev["gateway"] = ["Kong"]
    # malformed but schema-valid: optional fields missing or of any JSON type
    for name in draw(st.lists(st.sampled_from(_OPTIONAL_FLOW_FIELDS), unique=True, max_size=6)):
        if draw(st.booleans()):
            ev.pop(name, None)
        else:
            ev[name] = draw(event_junk)
    for name, inner in _NESTED.items():
        sub = ev.get(name)
        if isinstance(sub, dict) and draw(st.integers(0, 3)) == 0:
            k = draw(st.sampled_from(inner))
            if draw(st.booleans()):
                sub.pop(k, None)
            else:
                sub[k] = draw(event_junk)
    for sub_name in ("bearer", "token"):
        sub = ev.get(sub_name)
        if isinstance(sub, dict) and isinstance(sub.get("jwt"), dict) and draw(st.integers(0, 3)) == 0:
            sub["jwt"][draw(st.sampled_from(["exp", "iat", "nbf"]))] = draw(event_junk)
    if draw(st.integers(0, 5)) == 0:
        ev[draw(st.text(max_size=8))] = draw(event_junk)  # unknown fields are ignored
    return ev


@st.composite
def other_event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    t = draw(st.sampled_from(["session", "addon", "summary", "refused", "zzz"]))
    ev: dict[str, Any] = {"v": 1, "type": t}
    fields = {
        "session": ("ts", "tool", "source", "key_id", "inbound", "roles_inferred"),
        "addon": ("ts", "errors", "dropped", "capture_error"),
    }.get(t, ("ts", "report", "reason"))
    for name in fields:
        if draw(st.integers(0, 3)):
            ev[name] = draw(st.one_of(event_junk, st.integers(0, 100), st.floats(0, 2e9)))
    return ev


def event_streams(max_size: int = 40) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(
        st.one_of(flow_event_dicts(), flow_event_dicts(), flow_event_dicts(), other_event_dicts()), max_size=max_size
    )
