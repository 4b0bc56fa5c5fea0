"""Validate the caller's bearer by RFC 7662 introspection (kong-oidc, mod_auth_openidc, APISIX).

- introspect: every request asks the auth server (the tax).
- introspect-cached: an `active: true` answer is reused until the token's `exp`;
  failures and inactive answers are never stored.
- introspect-poison: any answer is stored, failures included (for error_ttl), so one
  auth-server hiccup keeps rejecting callers without a new call.
"""

from __future__ import annotations

import time
from typing import Literal

from starlette.requests import Request

from inspector.lab.gateway_modes.base import (
    Answer,
    Callouts,
    Forward,
    GatewayConfig,
    GatewayStats,
    Verdict,
    caller_bearer,
    client_basic,
    fingerprint,
    unauthorized,
    unavailable,
)
from inspector.lab.gateway_modes.cache import CachingMode

Policy = Literal["none", "cached", "poison"]


class Introspect(CachingMode):
    def __init__(self, config: GatewayConfig, callouts: Callouts, stats: GatewayStats, policy: Policy) -> None:
        url = config.auth_url.rstrip("/") + config.introspect_path
        super().__init__(config, callouts, stats, url, caches=policy != "none")
        self._policy = policy
        self._basic = client_basic(config)

    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict:
        bearer = caller_bearer(request)
        if bearer is None:
            return unauthorized(self._stats, "missing")
        answer = await self._answer(
            lambda: fingerprint(self.url, bearer), lambda: self._introspect(bearer, trace), self._ttl
        )
        if not answer.ok or not isinstance(answer.body, dict):
            return unavailable(self._stats, "introspection_failed", answer.error)
        if answer.body.get("active") is not True:
            return unauthorized(self._stats, "inactive")
        return Forward(bearer, {"x-auth-user": str(answer.body.get("sub", ""))})

    async def _introspect(self, bearer: str, trace: dict[str, str]) -> Answer:
        return await self._callouts.call(
            "introspection",
            "POST",
            self.url,
            trace=trace,
            data={"token": bearer},
            auth=self._basic,
            headers={"accept": "application/json"},
        )

    def _ttl(self, answer: Answer) -> float | None:
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.ok and body.get("active") is True:
            exp = body.get("exp")
            return float(exp) - time.time() if isinstance(exp, (int, float)) else None
        return self.config.error_ttl if self._policy == "poison" else None
