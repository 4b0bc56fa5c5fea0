"""A small API gateway with service auth done three ways: the defect, the fix, and a bad fix.

- naive: fetch a token from the auth server on every request (the token tax).
- cached: cache per token key with TTL = expires_in - skew, never cache an error,
  single-flight refresh so concurrent callers share one fetch (no stampede).
- poison: cache whatever came back, errors included, and send `Bearer undefined`
  when the "token" was an error, as a sloppy JS gateway does.

One shared httpx.AsyncClient (keep-alive, as real gateways pool connections). The
inbound `traceparent`/`tracestate`/`x-request-id` go to both the token call and the
backend call, so the inspector can correlate hops exactly. Base URLs are configurable
so a proxy can sit in front of the auth server and the backend.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inspector.lab.common import Watchable

Strategy = Literal["naive", "cached", "poison"]
STRATEGIES: tuple[Strategy, ...] = ("naive", "cached", "poison")
VIA = "1.1 tokentax-lab-gateway"
TRACE_HEADERS = ("traceparent", "tracestate", "x-request-id")
_RFC_ERROR = re.compile(r"^[a-z_]{1,40}$")
_RELAYED = ("content-type", "www-authenticate", "cache-control")


@dataclass
class GatewayConfig:
    """Where the gateway sends token calls and backend calls, and how it keeps tokens."""

    strategy: Strategy = "naive"
    auth_url: str = ""
    backend_url: str = ""
    token_path: str = "/oauth2/token"
    client_id: str = ""
    client_secret: str = ""
    scope: str | None = None
    audience: str | None = None
    skew: float = 60.0
    error_ttl: float = 300.0
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
    auth_failed: int = 0  # requests answered 502 because service auth failed


@dataclass(frozen=True)
class TokenResult:
    """What one token fetch produced. `error` is short and secret-free; `status` None = no HTTP answer."""

    token: str | None
    expires_in: float | None
    status: int | None
    error: str | None


def cache_ttl(expires_in: float, skew: float) -> float:
    """Seconds a token may be reused: its lifetime minus a skew of at most half the lifetime."""
    return max(0.0, expires_in - min(skew, expires_in / 2))


class TokenClient:
    """Makes one client_credentials call; knows nothing about caching."""

    def __init__(self, config: GatewayConfig, client: httpx.AsyncClient, stats: GatewayStats) -> None:
        self.config = config
        self._client = client
        self._stats = stats
        # RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding
        self._basic = httpx.BasicAuth(quote(config.client_id, safe=""), quote(config.client_secret, safe=""))
        form = {"grant_type": "client_credentials"}
        if config.scope:
            form["scope"] = config.scope
        if config.audience:
            form["audience"] = config.audience
        self._form = form

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a correct cache keys on: token URL + client_id + scope + audience."""
        c = self.config
        return (c.token_url, c.client_id, c.scope or "", c.audience or "")

    async def fetch(self, trace: dict[str, str]) -> TokenResult:
        self._stats.bump("token_fetches")
        try:
            response = await self._client.post(
                self.config.token_url,
                data=self._form,
                auth=self._basic,
                headers={**trace, "accept": "application/json"},
                timeout=self.config.auth_timeout,
            )
        except httpx.TimeoutException:
            return self._failed(None, "token endpoint timed out")
        except httpx.HTTPError as exc:
            return self._failed(None, f"token endpoint unreachable ({type(exc).__name__})")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
            expires_in = body.get("expires_in")
            return TokenResult(
                token=body["access_token"],
                expires_in=float(expires_in) if isinstance(expires_in, (int, float)) else None,
                status=200,
                error=None,
            )
        code = body.get("error") if isinstance(body, dict) else None
        detail = f"token endpoint answered {response.status_code}"
        if isinstance(code, str) and _RFC_ERROR.match(code):
            detail += f" {code}"
        return self._failed(response.status_code, detail)

    def _failed(self, status: int | None, error: str) -> TokenResult:
        self._stats.bump("token_errors")
        return TokenResult(token=None, expires_in=None, status=status, error=error)


class NaiveTokens:
    """A token fetch per request: correct, and exactly the tax this tool measures."""

    def __init__(self, fetcher: TokenClient, stats: GatewayStats) -> None:
        self._fetcher = fetcher

    async def get(self, trace: dict[str, str]) -> TokenResult:
        return await self._fetcher.fetch(trace)


class CachedTokens:
    """Reuse until expires_in - skew; errors are shared with concurrent waiters but never stored."""

    def __init__(self, fetcher: TokenClient, stats: GatewayStats, skew: float) -> None:
        self._fetcher = fetcher
        self._stats = stats
        self._skew = skew
        self.clock: Callable[[], float] = time.monotonic  # replaceable, so expiry is testable without waiting
        self._cache: dict[tuple[str, ...], tuple[TokenResult, float]] = {}
        self._inflight: dict[tuple[str, ...], asyncio.Task[TokenResult]] = {}

    async def get(self, trace: dict[str, str]) -> TokenResult:
        key = self._fetcher.key
        held = self._cache.get(key)
        if held is not None and held[1] > self.clock():
            self._stats.bump("cache_hits")
            return held[0]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._refresh(key, trace))
            self._inflight[key] = task
        # shield: a caller that gives up must not cancel the fetch the others wait for
        return await asyncio.shield(task)

    async def _refresh(self, key: tuple[str, ...], trace: dict[str, str]) -> TokenResult:
        try:
            result = await self._fetcher.fetch(trace)
            if result.token is not None and result.expires_in is not None:
                ttl = cache_ttl(result.expires_in, self._skew)
                if ttl > 0:
                    self._cache[key] = (result, self.clock() + ttl)
            return result
        finally:
            self._inflight.pop(key, None)


class PoisonTokens:
    """Caches any HTTP answer from the token endpoint, errors too; no single flight either."""

    def __init__(self, fetcher: TokenClient, stats: GatewayStats, error_ttl: float) -> None:
        self._fetcher = fetcher
        self._stats = stats
        self._error_ttl = error_ttl
        self.clock: Callable[[], float] = time.monotonic
        self._cache: dict[tuple[str, ...], tuple[TokenResult, float]] = {}

    async def get(self, trace: dict[str, str]) -> TokenResult:
        key = self._fetcher.key
        held = self._cache.get(key)
        if held is not None and held[1] > self.clock():
            self._stats.bump("cache_hits")
            return held[0]
        result = await self._fetcher.fetch(trace)
        if result.status is not None:  # an answer, good or bad: cached as is
            ttl = result.expires_in if result.token is not None and result.expires_in else self._error_ttl
            self._cache[key] = (result, self.clock() + ttl)
        return result


class Gateway:
    """Inbound `/{path}` -> backend `/{path}` with a service bearer token; `.app`, `.stats`."""

    def __init__(self, config: GatewayConfig, *, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.stats = GatewayStats()
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            trust_env=False,  # never let HTTP(S)_PROXY reroute the lab's loopback calls
            follow_redirects=False,
            headers={"user-agent": "tokentax-lab-gateway/0.1"},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        fetcher = TokenClient(config, self._client, self.stats)
        self.tokens: NaiveTokens | CachedTokens | PoisonTokens
        if config.strategy == "naive":
            self.tokens = NaiveTokens(fetcher, self.stats)
        elif config.strategy == "cached":
            self.tokens = CachedTokens(fetcher, self.stats, config.skew)
        elif config.strategy == "poison":
            self.tokens = PoisonTokens(fetcher, self.stats, config.error_ttl)
        else:
            raise ValueError(f"unknown gateway strategy {config.strategy!r}")
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def handle(self, request: Request) -> Response:
        self.stats.bump("requests")
        trace = {}
        if self.config.propagate_trace:
            trace = {h: request.headers[h] for h in TRACE_HEADERS if h in request.headers}
        result = await self.tokens.get(trace)
        if result.token is not None:
            bearer = result.token
        elif self.config.strategy == "poison" and result.status is not None:
            bearer = "undefined"  # `Bearer ${body.access_token}` with an error body
        else:
            self.stats.bump("auth_failed")
            return _json(502, {"error": "service_auth_failed", "detail": result.error or "no token"})
        return await self._forward(request, bearer, trace)

    async def _forward(self, request: Request, bearer: str, trace: dict[str, str]) -> Response:
        url = self.config.backend_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        headers = {**trace, "authorization": f"Bearer {bearer}", "via": VIA}
        for name in ("accept", "content-type"):
            if name in request.headers:
                headers[name] = request.headers[name]
        self.stats.bump("backend_calls")
        try:
            upstream = await self._client.request(
                request.method,
                url,
                headers=headers,
                content=await request.body(),
                timeout=self.config.backend_timeout,
            )
        except httpx.TimeoutException:
            return _json(504, {"error": "backend_timeout"})
        except httpx.HTTPError as exc:
            return _json(502, {"error": "backend_unavailable", "detail": type(exc).__name__})
        relayed = {k: v for k, v in upstream.headers.items() if k.lower() in _RELAYED}
        relayed["via"] = VIA
        return Response(upstream.content, status_code=upstream.status_code, headers=relayed)


def _json(status: int, body: dict[str, str]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"via": VIA})
