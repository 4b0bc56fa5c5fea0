"""A small but honest OAuth2 authorization server: `client_credentials` only (RFC 6749 §4.4).

It exists to be called too often. It answers like a real one (§5.1 success with
Cache-Control: no-store, §5.2 JSON errors, HTTP Basic client authentication per §2.3.1)
and issues RFC 9068 JWT access tokens, so the inspector sees real `expires_in` and
`exp - iat`. Latency, failures and "same token again" vs "new token each call" are
configurable, because those are what make a missing or poisoned cache visible.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import random
import secrets
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inspector.lab.common import Watchable, jwt_encode

TOKEN_PATH = "/oauth2/token"
DEFAULT_SCOPES = ("orders:read", "users:read", "inventory:read")
DEFAULT_AUDIENCE = "tokentax-lab-backend"

TokenMode = Literal["same", "new"]
FailKind = Literal["401", "500", "timeout"]


@dataclass
class AuthConfig:
    """How the auth server behaves. The secret is random per run unless given."""

    client_id: str = "tokentax-gateway"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    latency: float = 0.8
    expires_in: int = 38399
    token_mode: TokenMode = "same"
    fail_first: int = 0
    fail_kind: FailKind = "401"
    rate_401: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    timeout_hold: float = 30.0
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    audience: str = DEFAULT_AUDIENCE
    seed: int | None = None


@dataclass
class AuthStats(Watchable):
    """Counters: every token request is a call; anything but a 200 is a failure."""

    calls: int = 0
    issued: int = 0
    failures: int = 0
    injected: int = 0
    timeouts: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class AuthSeen:
    """What one token request carried (trace headers, who asked), for tests and the demo."""

    traceparent: str | None
    request_id: str | None
    client_id: str | None
    grant_type: str | None
    scope: str | None
    audience: str | None


def _error(status: int, error: str, description: str, *, basic_challenge: bool = False) -> JSONResponse:
    headers = {"cache-control": "no-store", "pragma": "no-cache"}
    if basic_challenge:
        headers["www-authenticate"] = 'Basic realm="tokentax-lab"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """client_id and secret from `Authorization: Basic` (each form-urlencoded first, RFC 6749 §2.3.1)."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return unquote(user), unquote(password)


class AuthServer:
    """The token endpoint as a Starlette app (`.app`), with counters (`.stats`) and a log (`.recent`)."""

    def __init__(self, config: AuthConfig, signing_key: bytes, *, issuer: str) -> None:
        self.config = config
        self.issuer = issuer
        self.stats = AuthStats()
        self.recent: deque[AuthSeen] = deque(maxlen=512)
        self._key = signing_key
        self._rng = random.Random(config.seed)
        self._issued: dict[tuple[str, str, str], tuple[str, int]] = {}  # token mode "same"
        self._closing = asyncio.Event()
        self._gate = asyncio.Event()
        self._gate.set()
        self.app = Starlette(
            routes=[
                Route(TOKEN_PATH, self.token, methods=["POST"]),
                Route("/.well-known/oauth-authorization-server", self.metadata, methods=["GET"]),
            ]
        )

    # -- control -------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold every token request after it is counted, until resume(): lets tests line up callers."""
        self._gate.clear()

    def resume(self) -> None:
        self._gate.set()

    def close(self) -> None:
        """Release held requests now, so shutdown does not wait for a simulated timeout."""
        self._closing.set()
        self._gate.set()

    async def _pause_for(self, seconds: float, request: Request | None = None) -> bool:
        """Wait `seconds`, cut short by close() or (with a request) by the client hanging up. True if cut short."""
        waits: list[asyncio.Task[Any]] = [asyncio.create_task(self._closing.wait())]
        if request is not None:
            waits.append(asyncio.create_task(_disconnected(request)))
        try:
            done, _ = await asyncio.wait(waits, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return bool(done)

    # -- endpoints -----------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        """RFC 8414 metadata: lets clients (and the inspector) find the token endpoint."""
        return JSONResponse(
            {
                "issuer": self.issuer,
                "token_endpoint": self.issuer + TOKEN_PATH,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": list(self.config.scopes),
            }
        )

    async def token(self, request: Request) -> Response:
        self.stats.bump("calls")
        call_no = self.stats.calls
        body = await request.body()
        form = _parse_form(request, body)
        creds = _basic_credentials(request.headers.get("authorization"))
        self.recent.append(
            AuthSeen(
                traceparent=request.headers.get("traceparent"),
                request_id=request.headers.get("x-request-id"),
                client_id=creds[0] if creds else None,
                grant_type=(form or {}).get("grant_type"),
                scope=(form or {}).get("scope"),
                audience=(form or {}).get("audience"),
            )
        )
        await self._gate.wait()
        if self.config.latency > 0 and await self._pause_for(self.config.latency):
            return self._answer(_error(503, "temporarily_unavailable", "server shutting down"))

        injected = self._injected_failure(call_no)
        if injected is not None:
            self.stats.bump("injected")
            if injected == "timeout":
                return await self._hold(request)
            if injected == "500":
                return self._answer(_error(500, "server_error", "lab: injected failure"))
            return self._answer(_error(401, "invalid_client", "client authentication failed", basic_challenge=True))

        if creds is None or not (
            secrets.compare_digest(creds[0], self.config.client_id)
            and secrets.compare_digest(creds[1], self.config.client_secret)
        ):
            return self._answer(_error(401, "invalid_client", "client authentication failed", basic_challenge=True))
        if form is None:
            return self._answer(_error(400, "invalid_request", "expected an application/x-www-form-urlencoded body"))
        grant_type = form.get("grant_type")
        if not grant_type:
            return self._answer(_error(400, "invalid_request", "missing grant_type"))
        if grant_type != "client_credentials":
            return self._answer(_error(400, "unsupported_grant_type", "only client_credentials is supported"))
        requested = form.get("scope", "").split()
        unknown = [s for s in requested if s not in self.config.scopes]
        if unknown:
            return self._answer(_error(400, "invalid_scope", "unknown scope requested"))
        scope = " ".join(requested or self.config.scopes)
        audience = form.get("audience") or self.config.audience
        token, expires_in = self._issue(creds[0], scope, audience)
        return self._answer(
            JSONResponse(
                {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": scope},
                headers={"cache-control": "no-store", "pragma": "no-cache"},
            )
        )

    # -- internals -----------------------------------------------------------------------

    def _answer(self, response: Response) -> Response:
        self.stats.statuses[response.status_code] += 1
        if response.status_code == 200:
            self.stats.bump("issued")
        else:
            self.stats.bump("failures")
        return response

    def _injected_failure(self, call_no: int) -> FailKind | None:
        cfg = self.config
        if call_no <= cfg.fail_first:
            return cfg.fail_kind
        if cfg.rate_401 or cfg.rate_500 or cfg.rate_timeout:
            u = self._rng.random()
            if u < cfg.rate_401:
                return "401"
            if u < cfg.rate_401 + cfg.rate_500:
                return "500"
            if u < cfg.rate_401 + cfg.rate_500 + cfg.rate_timeout:
                return "timeout"
        return None

    async def _hold(self, request: Request) -> Response:
        """A timeout as clients see it: no answer for a long time (until shutdown or the client gives up)."""
        self.stats.bump("timeouts")
        self.stats.bump("failures")
        await self._pause_for(self.config.timeout_hold, request)
        return _error(503, "temporarily_unavailable", "lab: injected timeout")

    def _issue(self, client_id: str, scope: str, audience: str) -> tuple[str, int]:
        now = int(time.time())
        key = (client_id, scope, audience)
        if self.config.token_mode == "same":
            held = self._issued.get(key)
            if held is not None and held[1] - now > 0:
                return held[0], held[1] - now
        exp = now + self.config.expires_in
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "client_id": client_id,
            "aud": audience,
            "scope": scope,
            "iat": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
        }
        token = jwt_encode(claims, self._key)
        self._issued[key] = (token, exp)
        return token, self.config.expires_in


def _parse_form(request: Request, body: bytes) -> dict[str, str] | None:
    """First value of each form field, or None when the body is not form-encoded (RFC 6749 requires it)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    return {k: v[0] for k, v in parsed.items()}


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body has been read, so receive() only reports that)."""
    with contextlib.suppress(Exception):
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return
    # receive() failed: we cannot tell; never claim a disconnect.
    await asyncio.Event().wait()
