"""What every gateway mode shares: config, counters, the callout helper and the verdict types.

A mode turns an inbound request into a verdict: Forward (call the backend with this
bearer and these headers) or Reply (answer the caller now, e.g. 401 or 502). Every
callout goes through Callouts.call, which counts it by kind and by whether an inbound
request waited for it (inline) or not (background): the lab's own ground truth.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inspector.lab.common import InvalidToken, Watchable, jwt_parts

VIA = "1.1 tokentax-lab-gateway"
TRACE_HEADERS = ("traceparent", "tracestate", "x-request-id")


@dataclass
class GatewayConfig:
    """Where the gateway sends each kind of callout and backend calls, and how it caches."""

    strategy: str = "naive"  # a name from inspector.lab.modes
    auth_url: str = ""
    backend_url: str = ""
    authz_url: str = ""  # forward-auth service base URL
    relay_url: str = ""  # loopback token relay base URL
    token_path: str = "/oauth2/token"
    introspect_path: str = "/oauth2/introspect"
    jwks_path: str = "/oauth2/jwks"
    userinfo_path: str = "/oauth2/userinfo"
    authz_path: str = "/verify"
    client_id: str = ""
    client_secret: str = ""
    scope: str | None = None
    audience: str | None = None
    exchange_audience: str = "tokentax-lab-backend"
    skew: float = 60.0
    error_ttl: float = 300.0  # poison modes: how long a failure is reused
    decision_ttl: float = 60.0  # forward-auth-cached: how long an allow decision is reused
    userinfo_ttl: float = 300.0  # userinfo-cached: at most this long (and never past the bearer's exp)
    jwks_default_ttl: float = 300.0  # jwks-cached: when the answer has no max-age
    jwks_refetch_interval: float = 10.0  # jwks-cached: at most one unknown-kid refetch per this many seconds
    refresh_retry: float = 1.0  # refresh: wait after a failed background fetch
    auth_timeout: float = 10.0
    backend_timeout: float = 30.0
    propagate_trace: bool = True

    @property
    def token_url(self) -> str:
        return self.auth_url.rstrip("/") + self.token_path


@dataclass
class GatewayStats(Watchable):
    requests: int = 0
    token_fetches: int = 0
    token_errors: int = 0
    cache_hits: int = 0
    backend_calls: int = 0
    auth_failed: int = 0  # requests answered 502 because an auth callout failed
    denied: int = 0  # callers refused (401/403) after a decision
    inline_callouts: int = 0  # callouts an inbound request waited for
    background_callouts: int = 0  # callouts made off the request path
    unknown_kid_refetches: int = 0
    callouts: Counter[str] = field(default_factory=Counter)  # by kind
    callout_errors: Counter[str] = field(default_factory=Counter)  # by kind
    # HTTP answers received, by kind: the gateway has them, so the proxy has finished those flows
    callout_answers: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Answer:
    """One callout's outcome. status None = no HTTP answer; error is short and secret-free."""

    status: int | None
    body: Any
    headers: dict[str, str]
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Forward:
    bearer: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    response: Response


Verdict = Forward | Reply


class GatewayMode(Protocol):
    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict: ...


_NAMES = {
    "token": "token",
    "exchange": "token",
    "introspection": "introspection",
    "jwks": "JWKS",
    "userinfo": "userinfo",
    "forward_auth": "authorizer",
}


class Callouts:
    """The gateway's HTTP calls to the auth side, counted by kind."""

    def __init__(self, client: httpx.AsyncClient, stats: GatewayStats, timeout: float) -> None:
        self.client = client
        self.stats = stats
        self.timeout = timeout

    async def call(
        self,
        kind: str,
        method: str,
        url: str,
        *,
        trace: dict[str, str],
        background: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Answer:
        self.stats.callouts[kind] += 1
        self.stats.bump("background_callouts" if background else "inline_callouts")
        what = _NAMES.get(kind, kind) + " endpoint"
        try:
            r = await self.client.request(
                method, url, headers={**trace, **(headers or {})}, timeout=self.timeout, **kwargs
            )
        except httpx.TimeoutException:
            return self._failed(kind, Answer(None, None, {}, f"{what} timed out"))
        except httpx.HTTPError as exc:
            return self._failed(kind, Answer(None, None, {}, f"{what} unreachable ({type(exc).__name__})"))
        try:
            body = r.json()
        except ValueError:
            body = None
        answer = Answer(r.status_code, body, {k.lower(): v for k, v in r.headers.items()}, None)
        self.stats.callout_answers[kind] += 1
        if not answer.ok:
            answer = Answer(answer.status, body, answer.headers, f"{what} answered {r.status_code}")
            return self._failed(kind, answer)
        return answer

    def _failed(self, kind: str, answer: Answer) -> Answer:
        self.stats.callout_errors[kind] += 1
        self.stats.notify()
        return answer


def client_basic(config: GatewayConfig) -> httpx.BasicAuth:
    """The gateway's own client authentication (RFC 6749 §2.3.1: form-urlencoded, then Basic)."""
    return httpx.BasicAuth(quote(config.client_id, safe=""), quote(config.client_secret, safe=""))


def caller_bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def fingerprint(*parts: str) -> str:
    """A cache key that never holds a raw credential."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def seconds_left(token: str) -> float | None:
    """exp - now from a JWT's claims, unverified (only to bound a cache entry), or None."""
    try:
        exp = jwt_parts(token)[1].get("exp")
    except InvalidToken:
        return None
    return float(exp) - time.time() if isinstance(exp, (int, float)) else None


def cache_ttl(expires_in: float, skew: float) -> float:
    """Seconds a token may be reused: its lifetime minus a skew of at most half the lifetime."""
    return max(0.0, expires_in - min(skew, expires_in / 2))


def json_reply(status: int, body: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
    return Reply(JSONResponse(body, status_code=status, headers={"via": VIA, **(headers or {})}))


def unauthorized(stats: GatewayStats, reason: str, *, status: int = 401) -> Reply:
    """The caller is refused, RFC 6750 style."""
    stats.bump("denied")
    code = "insufficient_scope" if status == 403 else ("unauthorized" if reason == "missing" else "invalid_token")
    challenge = (
        'Bearer realm="tokentax-lab-gateway"'
        if reason == "missing"
        else f'Bearer realm="tokentax-lab-gateway", error="{code}"'
    )
    return json_reply(status, {"error": code, "error_description": reason}, {"www-authenticate": challenge})


def unavailable(stats: GatewayStats, error: str, detail: str | None) -> Reply:
    """An auth callout failed: 502, without anything secret in the detail."""
    stats.bump("auth_failed")
    return json_reply(502, {"error": error, "detail": detail or "no answer"})


class Passthrough:
    """Forward the caller's own Authorization; no callout at all."""

    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict:
        return Forward(caller_bearer(request))
