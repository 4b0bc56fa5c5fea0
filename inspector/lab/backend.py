"""A backend that insists on a valid service token, like a real resource server (RFC 6750).

Several routes, so the inspector can see one token presented across routes. Every
request's bearer is checked (HS256 service tokens with the lab key, RS256 user and
exchanged tokens with the auth server's key ring, as a pass-through gateway forwards
them; typ, exp); a missing,
garbage or expired token gets 401 with a JSON error and a `WWW-Authenticate: Bearer`
challenge. What each request carried is kept (in memory only) so tests can see, for
example, that a poisoned gateway sent `Bearer undefined`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inspector.lab.common import InvalidToken, Watchable
from inspector.lab.keys import KeyRing, verify_lab_token

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class BackendConfig:
    """Think time per request and, optionally, the audience a token must name."""

    latency: float = 0.02
    audience: str | None = None


@dataclass
class BackendStats(Watchable):
    calls: int = 0
    ok: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class BackendSeen:
    """One request as the backend saw it. `authorization` is the raw header: lab memory only."""

    method: str
    path: str
    authorization: str | None
    traceparent: str | None
    request_id: str | None
    status: int


class Backend:
    """Orders, users and inventory behind bearer-token checks; `.app`, `.stats`, `.recent`."""

    def __init__(self, config: BackendConfig, signing_key: bytes, keys: KeyRing | None = None) -> None:
        self.config = config
        self.stats = BackendStats()
        self.recent: deque[BackendSeen] = deque(maxlen=512)
        self._key = signing_key
        self._keys = keys
        self._closing = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/orders", self._guard(self.orders)),
                Route("/orders/{id:int}", self._guard(self.order)),
                Route("/users/{id:int}", self._guard(self.user)),
                Route("/inventory", self._guard(self.inventory)),
                Route("/health", self.health),
            ],
            exception_handlers={HTTPException: _http_error},
        )

    def close(self) -> None:
        self._closing.set()

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            self.stats.bump("calls")
            authorization = request.headers.get("authorization")
            try:
                self._check(authorization)
            except InvalidToken as exc:
                self.stats.reasons[exc.reason] += 1
                self.stats.bump("rejected")
                response: Response = _unauthorized(exc.reason)
            else:
                if self.config.latency > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), self.config.latency)
                response = await handler(request)
                self.stats.bump("ok")
            self.recent.append(
                BackendSeen(
                    method=request.method,
                    path=request.url.path,
                    authorization=authorization,
                    traceparent=request.headers.get("traceparent"),
                    request_id=request.headers.get("x-request-id"),
                    status=response.status_code,
                )
            )
            return response

        return guarded

    def _check(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise InvalidToken("missing")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("missing")
        claims = verify_lab_token(token.strip(), self._key, self._keys)
        aud = claims.get("aud")
        if self.config.audience and self.config.audience not in (aud if isinstance(aud, list) else [aud]):
            raise InvalidToken("bad_audience")
        return claims

    async def orders(self, request: Request) -> Response:
        return JSONResponse({"orders": [_order(i) for i in range(1, 4)]})

    async def order(self, request: Request) -> Response:
        return JSONResponse(_order(request.path_params["id"]))

    async def user(self, request: Request) -> Response:
        uid = request.path_params["id"]
        return JSONResponse({"id": uid, "name": f"user-{uid}", "tier": ("free", "pro", "team")[uid % 3]})

    async def inventory(self, request: Request) -> Response:
        return JSONResponse({"items": [{"sku": f"SKU-{n:04d}", "in_stock": (n * 37) % 120} for n in range(1, 6)]})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})


def _order(oid: int) -> dict[str, Any]:
    return {"id": oid, "user_id": 100 + oid % 7, "items": 1 + oid % 4, "total_cents": 1299 * (1 + oid % 5)}


def _unauthorized(reason: str) -> JSONResponse:
    if reason == "missing":
        body = {"error": "unauthorized", "error_description": "bearer token required"}
        challenge = 'Bearer realm="tokentax-lab"'
    else:
        body = {"error": "invalid_token", "error_description": f"token rejected: {reason}"}
        challenge = f'Bearer realm="tokentax-lab", error="invalid_token", error_description="{reason}"'
    return JSONResponse(body, status_code=401, headers={"www-authenticate": challenge})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return JSONResponse({"error": detail}, status_code=status)
