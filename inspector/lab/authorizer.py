"""A forward-auth service: the decision endpoint behind Envoy ext_authz (HTTP), Traefik
forwardAuth, Caddy forward_auth and nginx auth_request.

The gateway asks `GET|POST /verify[/...]` with the caller's `Authorization` (and
`X-Forwarded-Uri` or `X-Original-URI`, `X-Forwarded-Method`); 2xx means allow (with
`X-Auth-User` etc. for the upstream), 401/403 deny. It verifies the JWT signature
itself against the auth server's key ring (no callout of its own), so every call it
counts is one decision the gateway asked for. Latency and injected failures (kind
`forward_auth`) make a missing or poisoned decision cache visible.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inspector.lab.auth import API_AUDIENCE, bearer_of
from inspector.lab.common import InvalidToken, Watchable
from inspector.lab.faults import Faults, Valve
from inspector.lab.keys import KeyRing, rs256_verify

VERIFY_PATH = "/verify"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@dataclass
class AuthorizerConfig:
    latency: float = 0.0
    audience: str = API_AUDIENCE  # tokens for another audience are denied 403
    timeout_hold: float = 30.0


@dataclass
class AuthorizerStats(Watchable):
    """calls = decisions asked for; allowed/denied are answers, failures injected errors and holds."""

    calls: int = 0
    allowed: int = 0
    denied: int = 0
    failures: int = 0
    injected: int = 0
    timeouts: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class DecisionSeen:
    """What one decision request carried; the credential itself is not kept."""

    method: str
    forwarded_uri: str | None
    forwarded_method: str | None
    has_credential: bool
    traceparent: str | None
    request_id: str | None


class Authorizer:
    """`.app` answers decisions; `.stats`, `.recent`; pause()/resume()/close() like the auth server."""

    def __init__(self, config: AuthorizerConfig, keys: KeyRing, *, faults: Faults | None = None) -> None:
        self.config = config
        self.keys = keys
        self.faults = faults or Faults()
        self.valve = Valve()
        self.stats = AuthorizerStats()
        self.recent: deque[DecisionSeen] = deque(maxlen=512)
        self.app = Starlette(
            routes=[
                Route(VERIFY_PATH, self.verify, methods=METHODS),
                Route(VERIFY_PATH + "/{path:path}", self.verify, methods=METHODS),
            ]
        )

    def pause(self) -> None:
        self.valve.pause()

    def resume(self) -> None:
        self.valve.resume()

    def close(self) -> None:
        self.valve.close()

    async def verify(self, request: Request) -> Response:
        self.stats.bump("calls")
        h = request.headers
        self.recent.append(
            DecisionSeen(
                method=request.method,
                forwarded_uri=h.get("x-forwarded-uri") or h.get("x-original-uri"),
                forwarded_method=h.get("x-forwarded-method"),
                has_credential="authorization" in h or "cookie" in h,
                traceparent=h.get("traceparent"),
                request_id=h.get("x-request-id"),
            )
        )
        injected = self.faults.next("forward_auth")
        await self.valve.gate()
        if self.config.latency > 0 and await self.valve.wait(self.config.latency):
            return self._count(JSONResponse({"error": "shutting_down"}, status_code=503))
        if injected == "timeout":
            self.stats.bump("timeouts")
            self.stats.bump("failures")
            await self.valve.wait(self.config.timeout_hold, request)
            return JSONResponse({"error": "timeout"}, status_code=503)
        if injected is not None:
            self.stats.bump("injected")
            self.stats.bump("failures")
            status = 500 if injected == "500" else 401
            return self._count(JSONResponse({"error": "lab: injected failure"}, status_code=status), injected=True)
        return self._count(self._decide(h.get("authorization")))

    def _decide(self, authorization: str | None) -> Response:
        bearer = bearer_of(authorization)
        if bearer is None:
            return _deny(401, 'Bearer realm="tokentax-lab"')
        try:
            claims = rs256_verify(bearer, self.keys.public)
        except InvalidToken as exc:
            return _deny(401, f'Bearer realm="tokentax-lab", error="invalid_token", error_description="{exc.reason}"')
        aud = claims.get("aud")
        if self.config.audience not in (aud if isinstance(aud, list) else [aud]):
            return _deny(403, 'Bearer realm="tokentax-lab", error="insufficient_scope"')
        return Response(
            status_code=200,
            headers={
                "x-auth-user": str(claims.get("sub", "")),
                "x-auth-scope": str(claims.get("scope", "")),
                "x-auth-client": str(claims.get("client_id", "")),
            },
        )

    def _count(self, response: Response, *, injected: bool = False) -> Response:
        self.stats.statuses[response.status_code] += 1
        if response.status_code < 300:
            self.stats.bump("allowed")
        elif response.status_code in (401, 403) and not injected:
            self.stats.bump("denied")
        return response


def _deny(status: int, challenge: str) -> Response:
    return Response(status_code=status, headers={"www-authenticate": challenge})
