"""Look the caller up at the OIDC userinfo endpoint (Quarkus, oauth2-proxy style).

- userinfo: a call per request (the tax; Auth0 rate-limits it with 429).
- userinfo-cached: a 200 answer is reused per bearer for userinfo_ttl, never past
  the bearer's own `exp`; errors are never stored.
"""

from __future__ import annotations

from starlette.requests import Request

from inspector.lab.gateway_modes.base import (
    Answer,
    Callouts,
    Forward,
    GatewayConfig,
    GatewayStats,
    Verdict,
    caller_bearer,
    fingerprint,
    seconds_left,
    unauthorized,
    unavailable,
)
from inspector.lab.gateway_modes.cache import CachingMode


class Userinfo(CachingMode):
    def __init__(self, config: GatewayConfig, callouts: Callouts, stats: GatewayStats, *, cached: bool) -> None:
        url = config.auth_url.rstrip("/") + config.userinfo_path
        super().__init__(config, callouts, stats, url, caches=cached)

    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict:
        bearer = caller_bearer(request)
        if bearer is None:
            return unauthorized(self._stats, "missing")

        async def ask() -> Answer:
            return await self._callouts.call(
                "userinfo",
                "GET",
                self.url,
                trace=trace,
                headers={"authorization": f"Bearer {bearer}", "accept": "application/json"},
            )

        answer = await self._answer(lambda: fingerprint(self.url, bearer), ask, lambda a: self._ttl(a, bearer))
        if answer.status in (401, 403):
            return unauthorized(self._stats, "userinfo refused the bearer", status=answer.status)
        if not answer.ok or not isinstance(answer.body, dict):
            return unavailable(self._stats, "userinfo_failed", answer.error)
        return Forward(bearer, {"x-auth-user": str(answer.body.get("sub", ""))})

    def _ttl(self, answer: Answer, bearer: str) -> float | None:
        if not answer.ok:
            return None
        left = seconds_left(bearer)
        return self.config.userinfo_ttl if left is None else min(self.config.userinfo_ttl, left)
