"""The "loopback API" fix: a response-caching relay in front of the real token endpoint.

The gateway keeps calling a token endpoint on every request, but this one is local and
answers from its cache; only a miss goes to the real auth server (upstream_url, which
can be a mitmproxy listener, so both hops are seen). A success is cached for its
expires_in minus skew, keyed on a hash of the client's credentials and form; an error
is passed on and never cached; concurrent misses share one upstream call. The cached
body is returned verbatim with an `Age` header, as an HTTP response cache would.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inspector.lab.common import Watchable

RELAY_PATH = "/oauth2/token"
_PASSED = ("content-type", "cache-control", "pragma", "www-authenticate")
_TRACE = ("traceparent", "tracestate", "x-request-id")


@dataclass
class RelayConfig:
    upstream_url: str = ""  # base URL of the real auth server (or a proxy in front of it)
    token_path: str = "/oauth2/token"
    skew: float = 60.0
    timeout: float = 10.0


@dataclass
class RelayStats(Watchable):
    calls: int = 0
    hits: int = 0
    misses: int = 0
    upstream_calls: int = 0
    upstream_errors: int = 0


@dataclass(frozen=True)
class _Held:
    status: int
    body: bytes
    headers: dict[str, str]


class TokenRelay:
    """`.app` serves POST /oauth2/token from a cache; `.stats`; `aclose()` closes its client."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.stats = RelayStats()
        self.clock: Callable[[], float] = time.monotonic
        self._cache: dict[str, tuple[_Held, float, float]] = {}  # key -> (answer, stored at, expires at)
        self._inflight: dict[str, asyncio.Task[_Held]] = {}
        self._client = httpx.AsyncClient(trust_env=False, headers={"user-agent": "tokentax-lab-relay/0.1"})
        self.app = Starlette(routes=[Route(RELAY_PATH, self.token, methods=["POST"])])

    async def aclose(self) -> None:
        await self._client.aclose()

    async def token(self, request: Request) -> Response:
        self.stats.bump("calls")
        body = await request.body()
        auth = request.headers.get("authorization", "")
        key = hashlib.sha256(auth.encode() + b"\0" + body).hexdigest()  # never the raw secret as a key
        held = self._cache.get(key)
        now = self.clock()
        if held is not None and held[2] > now:
            self.stats.bump("hits")
            return _respond(held[0], age=int(now - held[1]))
        self.stats.bump("misses")
        task = self._inflight.get(key)
        if task is None:
            headers = {k: request.headers[k] for k in (*_TRACE, "content-type") if k in request.headers}
            if auth:
                headers["authorization"] = auth
            task = asyncio.create_task(self._fetch(key, body, headers))
            self._inflight[key] = task
        return _respond(await asyncio.shield(task), age=0)

    async def _fetch(self, key: str, body: bytes, headers: dict[str, str]) -> _Held:
        try:
            self.stats.bump("upstream_calls")
            url = self.config.upstream_url.rstrip("/") + self.config.token_path
            try:
                upstream = await self._client.post(url, content=body, headers=headers, timeout=self.config.timeout)
            except httpx.HTTPError:
                self.stats.bump("upstream_errors")
                error = b'{"error":"temporarily_unavailable","error_description":"relay: upstream unreachable"}'
                return _Held(503, error, {"content-type": "application/json"})
            held = _Held(
                upstream.status_code,
                upstream.content,
                {k: v for k, v in upstream.headers.items() if k.lower() in _PASSED},
            )
            if upstream.status_code != 200:
                self.stats.bump("upstream_errors")
                return held
            ttl = _ttl(upstream, self.config.skew)
            if ttl > 0:
                now = self.clock()
                self._cache[key] = (held, now, now + ttl)
            return held
        finally:
            self._inflight.pop(key, None)


def _ttl(upstream: httpx.Response, skew: float) -> float:
    try:
        expires_in = upstream.json().get("expires_in")
    except (ValueError, AttributeError):
        return 0.0
    if not isinstance(expires_in, (int, float)) or expires_in <= 0:
        return 0.0
    return max(0.0, expires_in - min(skew, expires_in / 2))


def _respond(held: _Held, *, age: int) -> Response:
    headers = dict(held.headers)
    headers["age"] = str(age)
    return Response(held.body, status_code=held.status, headers=headers)
