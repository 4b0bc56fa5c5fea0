"""Ask an external authorizer for every decision (Envoy ext_authz, Traefik forwardAuth,
Caddy forward_auth, nginx auth_request).

- forward-auth: a decision call per request, no cache (the usual default).
- forward-auth-cached: allow decisions reused for decision_ttl (60 s) per credential
  (Authorization and Cookie), as nginx proxy_cache in front of auth_request does;
  denials and errors never stored.
- forward-auth-poison: a 5xx or timeout is stored too (for error_ttl), so one bad
  moment of the authorizer keeps failing callers without a new call.
"""

from __future__ import annotations

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
    fingerprint,
    json_reply,
    unavailable,
)
from inspector.lab.gateway_modes.cache import CachingMode

Policy = Literal["none", "cached", "poison"]
_PASS_UP = ("x-auth-user", "x-auth-scope", "x-auth-client")


class ForwardAuth(CachingMode):
    def __init__(self, config: GatewayConfig, callouts: Callouts, stats: GatewayStats, policy: Policy) -> None:
        url = config.authz_url.rstrip("/") + config.authz_path
        super().__init__(config, callouts, stats, url, caches=policy != "none")
        self._policy = policy

    async def authorize(self, request: Request, trace: dict[str, str]) -> Verdict:
        credential = {k: request.headers[k] for k in ("authorization", "cookie") if k in request.headers}
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = {
            **credential,
            "x-forwarded-uri": uri,
            "x-forwarded-method": request.method,
            "x-forwarded-host": request.headers.get("host", ""),
            "x-forwarded-proto": request.url.scheme,
        }

        async def ask() -> Answer:
            return await self._callouts.call("forward_auth", "GET", self.url, trace=trace, headers=headers)

        answer = await self._answer(
            lambda: fingerprint(self.url, credential.get("authorization", ""), credential.get("cookie", "")),
            ask,
            self._ttl,
        )
        if answer.ok:
            return Forward(caller_bearer(request), {k: answer.headers[k] for k in _PASS_UP if k in answer.headers})
        if answer.status in (401, 403):
            self._stats.bump("denied")
            extra = (
                {"www-authenticate": answer.headers["www-authenticate"]} if "www-authenticate" in answer.headers else {}
            )
            return json_reply(answer.status, {"error": "forbidden" if answer.status == 403 else "unauthorized"}, extra)
        return unavailable(self._stats, "authorizer_failed", answer.error)

    def _ttl(self, answer: Answer) -> float | None:
        if answer.ok:
            return self.config.decision_ttl
        if self._policy == "poison" and (answer.status is None or answer.status >= 500):
            return self.config.error_ttl
        return None
