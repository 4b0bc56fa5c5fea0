"""Callout events of every kind, shaped as inspector.record.flow_record emits them (docs/events.md)."""

from __future__ import annotations

from typing import Any

from tests.support.factory import flow

T0 = 1_700_000_000.0
ENDPOINTS = {
    "token": "/oauth2/token",
    "exchange": "/oauth2/token",
    "introspection": "/oauth2/introspect",
    "jwks": "/oauth2/jwks",
    "userinfo": "/oauth2/userinfo",
    "forward_auth": "/verify",
}


def kind_callout(kind: str, ts: float, dur_ms: float = 50, *, status: int = 200, **kw: Any) -> dict[str, Any]:
    """One callout of `kind` with a good answer (override the facts with keyword arguments)."""
    path = ENDPOINTS[kind]
    port = 9003 if kind == "forward_auth" else 9001
    key: dict[str, Any] = {"endpoint": f"127.0.0.1:{port}{path}"}
    facts: dict[str, Any] = {}
    method = "POST"
    if kind == "introspection":
        key.update(client_id="gw", token_fp="tok1")
        facts["introspection"] = {"active": True, "exp": T0 + 3600, "fp": "ans1", "claims": ["active", "sub"]}
    elif kind == "jwks":
        method = "GET"
        facts["jwks"] = {"fp": "set1", "keys": 1, "kids": ["k1"], "fresh_s": 300, "cache": "max-age"}
    elif kind == "userinfo":
        method = "GET"
        key["bearer_fp"] = "usr1"
        facts["userinfo"] = {"fp": "ui1", "claims": ["email", "name", "sub"]}
        facts["bearer"] = {"fp": "usr1", "kind": "jwt", "jwt": {"exp": T0 + 3600, "kid": "k1"}}
    elif kind == "forward_auth":
        method = "GET"
        key.update(cred_fp="cred1", cred="authorization")
        facts["forward_auth"] = {"decision": "allow" if status < 300 else "deny" if status < 500 else "error"}
    elif kind in ("token", "exchange"):
        key.update(client_id="gw", grant_type="client_credentials")
        if kind == "exchange":
            key.update(
                grant_type="urn:ietf:params:oauth:grant-type:token-exchange",
                subject_fp="subj1",
                audience="api",
                requested_token_type="urn:ietf:params:oauth:token-type:access_token",
            )
        facts["token"] = {"fp": "xtok1", "type": "Bearer", "expires_in": 3600, "refresh": False}
    if status >= 400 and kind in facts:
        facts[kind] = {"error": "server_error"} if kind != "forward_auth" else facts[kind]
    if status >= 400 and "token" in facts:
        facts["token"] = {"error": "server_error", "refresh": False}
    facts.update(kw)
    return flow("callout", ts, dur_ms, status=status, method=method, path=path, port=port, key=key, kind=kind, **facts)


def inbound(ts: float, dur_ms: float, *, status: int = 200, **kw: Any) -> dict[str, Any]:
    return flow("inbound", ts, dur_ms, port=8080, status=status, **kw)


def naive(kind: str, n: int, auth_ms: float = 100, gap: float = 1.0) -> list[dict[str, Any]]:
    """n sequential inbound requests, each paying one callout of `kind` (events in arrival order)."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        t = T0 + i * gap
        out.append(kind_callout(kind, t + 0.001, auth_ms))
        out.append(inbound(t, auth_ms + 10))
    return out


def cached(kind: str, n: int, auth_ms: float = 100, gap: float = 1.0) -> list[dict[str, Any]]:
    """One callout, then n inbound requests served from the gateway's cache."""
    out = [kind_callout(kind, T0 + 0.001, auth_ms), inbound(T0, auth_ms + 10)]
    out += [inbound(T0 + i * gap, 10) for i in range(1, n)]
    return out


def concurrent(kind: str, n: int = 8, auth_ms: float = 100) -> list[dict[str, Any]]:
    """n callers at once, each with a first callout in flight together (arrival: by end)."""
    calls = [kind_callout(kind, T0 + i * 0.001, auth_ms + i) for i in range(n)]
    ins = [inbound(T0 + i * 0.001 - 0.0005, auth_ms + i + 10) for i in range(n)]
    return sorted(calls + ins, key=lambda e: e["end"])


def poisoned(kind: str, n: int, auth_ms: float = 100, gap: float = 1.0) -> list[dict[str, Any]]:
    """The first callout fails; the gateway caches the failure and answers every later request 503 alone."""
    out = [kind_callout(kind, T0 + 0.001, auth_ms, status=500), inbound(T0, auth_ms + 10, status=503)]
    out += [inbound(T0 + i * gap, 5, status=503) for i in range(1, n)]
    return out
