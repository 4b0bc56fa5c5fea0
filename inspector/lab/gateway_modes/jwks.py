"""Verify the caller's RS256 JWT against the auth server's JWKS (Envoy jwt_authn, Kong jwt).

- jwks-nocache: fetch the key set on every request (the tax).
- jwks-cached: keep the set for its Cache-Control max-age (jwks_default_ttl without
  one); a token whose `kid` is not in the set triggers one refetch (a rotation brings
  new keys), but at most one per jwks_refetch_interval, so forged kids cannot make
  the gateway hammer the auth server. Fetches are single-flight; failures not kept.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request

from inspector.lab.common import InvalidToken, jwt_parts
from inspector.lab.gateway_modes.base import (
    Callouts,
    Forward,
    GatewayConfig,
    GatewayStats,
    Verdict,
    caller_bearer,
    unauthorized,
    unavailable,
)
from inspector.lab.keys import jwks_resolver, rs256_verify

KeySet = dict[str, rsa.RSAPublicKey]
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


def max_age(cache_control: str | None) -> int | None:
    if not cache_control or "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 0 if cache_control else None
    m = _MAX_AGE.search(cache_control)
    return int(m.group(1)) if m else None


class JwksVerify:
    def __init__(self, config: GatewayConfig, callouts: Callouts, stats: GatewayStats, *, cached: bool) -> None:
        self.config = config
        self.url = config.auth_url.rstrip("/") + config.jwks_path
        self.clock: Callable[[], float] = time.monotonic
        self._callouts = callouts
        self._stats = stats
        self._cached = cached
        self._keys: KeySet | None = None
        self._expires = -math.inf
        self._last_fetch = -math.inf
        self._inflight: asyncio.Task[KeySet | None] | None = None
        self._error: str | None = None

    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict:
        bearer = caller_bearer(request)
        if bearer is None:
            return unauthorized(self._stats, "missing")
        try:
            kid = jwt_parts(bearer)[0].get("kid")
        except InvalidToken:
            return unauthorized(self._stats, "malformed")
        keys: KeySet | None
        if not self._cached:
            keys = await self._fetch(trace)
        else:
            if self._keys is not None and self._expires > self.clock():
                keys = self._keys
                self._stats.bump("cache_hits")
            else:
                keys = await self._load(trace)
            if (
                keys is not None
                and kid not in keys
                and self.clock() - self._last_fetch >= self.config.jwks_refetch_interval
            ):
                self._stats.bump("unknown_kid_refetches")
                keys = await self._load(trace) or keys
        if keys is None:
            return unavailable(self._stats, "jwks_unavailable", self._error)
        try:
            claims = rs256_verify(bearer, keys.get)
        except InvalidToken as exc:
            return unauthorized(self._stats, exc.reason)
        return Forward(bearer, {"x-auth-user": str(claims.get("sub", ""))})

    async def _load(self, trace: dict[str, str]) -> KeySet | None:
        """One shared fetch that refreshes the cached set."""
        if self._inflight is None:
            self._last_fetch = self.clock()
            self._inflight = asyncio.create_task(self._store(trace))
        return await asyncio.shield(self._inflight)

    async def _store(self, trace: dict[str, str]) -> KeySet | None:
        try:
            keys = await self._fetch(trace, remember=True)
            return keys
        finally:
            self._inflight = None

    async def _fetch(self, trace: dict[str, str], *, remember: bool = False) -> KeySet | None:
        answer = await self._callouts.call("jwks", "GET", self.url, trace=trace, headers={"accept": "application/json"})
        if not answer.ok or not isinstance(answer.body, dict):
            self._error = answer.error or "JWKS answer is not a key set"
            return None
        keys = jwks_resolver(answer.body)
        if remember:
            age = max_age(answer.headers.get("cache-control"))
            self._keys = keys
            self._expires = self.clock() + (self.config.jwks_default_ttl if age is None else age)
        return keys
