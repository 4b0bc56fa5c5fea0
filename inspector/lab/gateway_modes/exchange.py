"""RFC 8693: trade the caller's bearer for a backend-audience token (meshes, AI gateways).

- exchange: an exchange per request (the tax).
- exchange-cached: the issued token is reused per subject-token fingerprint +
  audience + scope + requested type, until expires_in - skew; errors never stored.
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
    cache_ttl,
    caller_bearer,
    client_basic,
    fingerprint,
    unauthorized,
    unavailable,
)
from inspector.lab.gateway_modes.cache import CachingMode

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


class Exchange(CachingMode):
    def __init__(self, config: GatewayConfig, callouts: Callouts, stats: GatewayStats, *, cached: bool) -> None:
        super().__init__(config, callouts, stats, config.token_url, caches=cached)
        self._basic = client_basic(config)

    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict:
        bearer = caller_bearer(request)
        if bearer is None:
            return unauthorized(self._stats, "missing")
        form = {
            "grant_type": GRANT,
            "subject_token": bearer,
            "subject_token_type": ACCESS_TOKEN,
            "audience": self.config.exchange_audience,
            "requested_token_type": ACCESS_TOKEN,
        }
        if self.config.scope:
            form["scope"] = self.config.scope

        async def ask() -> Answer:
            return await self._callouts.call(
                "exchange",
                "POST",
                self.url,
                trace=trace,
                data=form,
                auth=self._basic,
                headers={"accept": "application/json"},
            )

        answer = await self._answer(
            lambda: (fingerprint(bearer), self.url, form["audience"], form.get("scope", ""), ACCESS_TOKEN),
            ask,
            self._ttl,
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.ok and isinstance(body.get("access_token"), str):
            return Forward(body["access_token"])
        if answer.status == 400 and body.get("error") == "invalid_grant":
            return unauthorized(self._stats, "subject token refused")
        return unavailable(self._stats, "token_exchange_failed", answer.error)

    def _ttl(self, answer: Answer) -> float | None:
        body = answer.body if isinstance(answer.body, dict) else {}
        expires_in = body.get("expires_in")
        if not answer.ok or not isinstance(expires_in, (int, float)):
            return None
        return cache_ttl(expires_in, self.config.skew)
