"""Service tokens (client_credentials) for the backend call, kept five ways.

- naive: a fetch per request (the token tax); loopback: the same, but against the
  caching relay (the blog's fix: the tax shrinks to a local hop).
- cached: reuse until expires_in - skew, never an error, single flight.
- poison: cache whatever came back, errors too; send `Bearer undefined` for an error.
- refresh: a background task fetches ahead of expiry (at half the lifetime), so no
  inbound request ever waits for a token call (Envoy's credential injector does this).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from inspector.lab.gateway_modes.base import (
    Callouts,
    Forward,
    GatewayConfig,
    GatewayStats,
    Verdict,
    cache_ttl,
    client_basic,
    unavailable,
)

_RFC_ERROR = re.compile(r"^[a-z_]{1,40}$")


@dataclass(frozen=True)
class TokenResult:
    """What one token fetch produced. `error` is short and secret-free; `status` None = no HTTP answer."""

    token: str | None
    expires_in: float | None
    status: int | None
    error: str | None


class TokenClient:
    """Makes one client_credentials call; knows nothing about caching."""

    def __init__(
        self, config: GatewayConfig, callouts: Callouts, stats: GatewayStats, *, base_url: str | None = None
    ) -> None:
        self.config = config
        self.url = (base_url or config.auth_url).rstrip("/") + config.token_path
        self._callouts = callouts
        self._stats = stats
        self._basic = client_basic(config)
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
        return (self.url, c.client_id, c.scope or "", c.audience or "")

    async def fetch(self, trace: dict[str, str], *, background: bool = False) -> TokenResult:
        self._stats.bump("token_fetches")
        answer = await self._callouts.call(
            "token",
            "POST",
            self.url,
            trace=trace,
            background=background,
            headers={"accept": "application/json"},
            data=self._form,
            auth=self._basic,
        )
        body = answer.body
        if answer.status == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
            expires_in = body.get("expires_in")
            return TokenResult(
                token=body["access_token"],
                expires_in=float(expires_in) if isinstance(expires_in, (int, float)) else None,
                status=200,
                error=None,
            )
        detail = answer.error or f"token endpoint answered {answer.status}"
        code = body.get("error") if isinstance(body, dict) else None
        if isinstance(code, str) and _RFC_ERROR.match(code):
            detail += f" {code}"
        self._stats.bump("token_errors")
        return TokenResult(token=None, expires_in=None, status=answer.status, error=detail)


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


class BackgroundTokens:
    """Fetches at start and again at half of each token's lifetime, off the request path.

    Requests take the current token; only before the very first answer do they wait
    for it (the fetch itself is still the background task's, not theirs).
    """

    MIN_DELAY = 0.2

    def __init__(self, fetcher: TokenClient, stats: GatewayStats, retry: float) -> None:
        self._fetcher = fetcher
        self._stats = stats
        self._retry = retry
        self._current: TokenResult | None = None
        self._first = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lab-gateway-refresh")

    async def aclose(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            result = await self._fetcher.fetch({}, background=True)
            if result.token is not None:
                self._current = result
                delay = max(self.MIN_DELAY, (result.expires_in or 0) / 2)
            else:
                delay = self._retry
                if self._current is None:
                    self._current = result  # callers waiting for the first token learn it failed
            self._first.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def get(self, trace: dict[str, str]) -> TokenResult:
        self.start()
        await self._first.wait()
        assert self._current is not None
        return self._current


TokenStore = NaiveTokens | CachedTokens | PoisonTokens | BackgroundTokens


class ServiceTokens:
    """The verdict for token modes: the backend gets the service token, or the caller a 502."""

    def __init__(self, store: TokenStore, stats: GatewayStats, *, poison: bool) -> None:
        self.store = store
        self._stats = stats
        self._poison = poison

    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict:
        result = await self.store.get(trace)
        if result.token is not None:
            return Forward(result.token)
        if self._poison and result.status is not None:
            return Forward("undefined")  # `Bearer ${body.access_token}` with an error body
        return unavailable(self._stats, "service_auth_failed", result.error or "no token")
