"""A small API gateway that does its auth work in one of many shapes (inspector.lab.modes).

Per inbound request the mode decides (gateway_modes/*): fetch or reuse a service
token, introspect / verify / look up / exchange the caller's bearer, or ask an
external authorizer; then the request goes to the backend with the resulting bearer,
or the caller gets the refusal. One shared httpx.AsyncClient (keep-alive, as real
gateways pool connections). The inbound `traceparent`/`tracestate`/`x-request-id` go
to every callout and the backend call, so the inspector can correlate hops exactly.
Every upstream's base URL is configurable so a proxy can sit in front of each.
"""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inspector.lab.gateway_modes import build
from inspector.lab.gateway_modes.base import (
    TRACE_HEADERS,
    VIA,
    Callouts,
    GatewayConfig,
    GatewayStats,
    Reply,
    cache_ttl,
    json_reply,
)
from inspector.lab.gateway_modes.tokens import BackgroundTokens, ServiceTokens, TokenResult, TokenStore
from inspector.lab.modes import NAMES

STRATEGIES: tuple[str, ...] = NAMES
_RELAYED = ("content-type", "www-authenticate", "cache-control")
__all__ = ["STRATEGIES", "VIA", "Gateway", "GatewayConfig", "GatewayStats", "TokenResult", "cache_ttl"]


class Gateway:
    """Inbound `/{path}` -> backend `/{path}`, authorised by the configured mode; `.app`, `.stats`, `.mode`."""

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
        self.mode = build(config, Callouts(self._client, self.stats, config.auth_timeout), self.stats)
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])

    @property
    def tokens(self) -> TokenStore | None:
        """The service-token store of token modes (tests move its clock), else None."""
        return self.mode.store if isinstance(self.mode, ServiceTokens) else None

    def start(self) -> None:
        """Start background work (the refresh mode's token task); call inside the running loop."""
        if isinstance(self.tokens, BackgroundTokens):
            self.tokens.start()

    async def aclose(self) -> None:
        if isinstance(self.tokens, BackgroundTokens):
            await self.tokens.aclose()
        if self._own_client:
            await self._client.aclose()

    async def handle(self, request: Request) -> Response:
        self.stats.bump("requests")
        trace = {}
        if self.config.propagate_trace:
            trace = {h: request.headers[h] for h in TRACE_HEADERS if h in request.headers}
        verdict = await self.mode.authorize(request, trace)
        if isinstance(verdict, Reply):
            return verdict.response
        return await self._forward(request, verdict.bearer, verdict.headers, trace)

    async def _forward(
        self, request: Request, bearer: str | None, extra: dict[str, str], trace: dict[str, str]
    ) -> Response:
        url = self.config.backend_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        headers = {**trace, **extra, "via": VIA}
        if bearer is not None:
            headers["authorization"] = f"Bearer {bearer}"
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
            return json_reply(504, {"error": "backend_timeout"}).response
        except httpx.HTTPError as exc:
            return json_reply(502, {"error": "backend_unavailable", "detail": type(exc).__name__}).response
        relayed = {k: v for k, v in upstream.headers.items() if k.lower() in _RELAYED}
        relayed["via"] = VIA
        return Response(upstream.content, status_code=upstream.status_code, headers=relayed)
