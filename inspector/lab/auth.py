"""A small but honest OAuth2/OIDC authorization server, with counters per kind of auth work.

It exists to be called too often, in every shape a gateway can overuse it:
- token endpoint (RFC 6749): `client_credentials` for the gateway's service tokens
  (HS256 RFC 9068 JWTs the backend checks), `password` for the lab users of a public
  client (RS256 JWTs with a `kid`), and RFC 8693 token exchange;
- introspection (RFC 7662), JWKS with key rotation, OIDC userinfo, and discovery
  (RFC 8414 and OpenID), in auth_endpoints.py.
Answers look real (§5.1 with Cache-Control: no-store, §5.2 JSON errors, HTTP Basic
client authentication per §2.3.1, or client_id and client_secret in the form body).
Latency and failures (faults.py) apply to every kind, and `stats.by_kind` counts calls per kind as the ground truth tests compare with.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inspector.lab.common import InvalidToken, Watchable, jwt_encode
from inspector.lab.faults import FailKind, Faults, Valve
from inspector.lab.keys import KeyRing, verify_lab_token
from inspector.lab.users import LabUser, default_users

TOKEN_PATH = "/oauth2/token"
INTROSPECT_PATH = "/oauth2/introspect"
JWKS_PATH = "/oauth2/jwks"
USERINFO_PATH = "/oauth2/userinfo"
OPENID_CONFIG_PATH = "/.well-known/openid-configuration"
AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
DEFAULT_SCOPES = ("orders:read", "users:read", "inventory:read")
USER_SCOPES = ("openid", "profile", "email", *DEFAULT_SCOPES)
DEFAULT_AUDIENCE = "tokentax-lab-backend"
API_AUDIENCE = "tokentax-lab-api"  # what user tokens are for: the gateway's API
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"

TokenMode = Literal["same", "new"]
__all__ = ["AuthConfig", "AuthServer", "AuthStats", "FailKind", "TOKEN_PATH"]


@dataclass
class AuthConfig:
    """How the auth server behaves. The secret and user passwords are random per run unless given."""

    client_id: str = "tokentax-gateway"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    latency: float = 0.8
    expires_in: int = 38399
    token_mode: TokenMode = "same"
    fail_first: int = 0
    fail_kind: FailKind = "401"
    fail_on: tuple[str, ...] | None = None  # kinds failures apply to; None = every kind
    rate_401: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    timeout_hold: float = 30.0
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    audience: str = DEFAULT_AUDIENCE
    seed: int | None = None
    user_client_id: str = "tokentax-app"  # a public client: the password grant needs no secret
    users: tuple[LabUser, ...] = field(default_factory=default_users)
    user_expires_in: int = 3600
    jwks_max_age: int = 300
    key_rotation: float | None = None  # seconds between key rotations; None = never
    key_grace: float = 600.0  # how long a rotated-out key stays in the JWKS
    public_url: str | None = None  # base for discovery URLs; None = from the request's Host

    def faults(self) -> Faults:
        return Faults(
            fail_first=self.fail_first,
            fail_kind=self.fail_kind,
            rate_401=self.rate_401,
            rate_500=self.rate_500,
            rate_timeout=self.rate_timeout,
            seed=self.seed,
            fail_on=self.fail_on,
        )


@dataclass
class AuthStats(Watchable):
    """Counters. `calls` sums every kind; `by_kind` splits it; anything but a 200 is a failure."""

    calls: int = 0
    issued: int = 0  # answers with status 200, every kind
    failures: int = 0
    injected: int = 0
    timeouts: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    failures_by_kind: Counter[str] = field(default_factory=Counter)

    def count(self, kind: str) -> None:
        self.by_kind[kind] += 1
        self.bump("calls")


@dataclass(frozen=True)
class AuthSeen:
    """What one request carried (trace headers, who asked), for tests and the demo. No secrets."""

    traceparent: str | None
    request_id: str | None
    client_id: str | None
    grant_type: str | None
    scope: str | None
    audience: str | None
    kind: str = "token"


def error(
    status: int, code: str, description: str, *, basic_challenge: bool = False, bearer_challenge: bool = False
) -> JSONResponse:
    headers = {"cache-control": "no-store", "pragma": "no-cache"}
    if basic_challenge:
        headers["www-authenticate"] = 'Basic realm="tokentax-lab"'
    if bearer_challenge:
        headers["www-authenticate"] = f'Bearer realm="tokentax-lab", error="{code}"'
    return JSONResponse({"error": code, "error_description": description}, status_code=status, headers=headers)


def no_store(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"cache-control": "no-store", "pragma": "no-cache"})


def basic_credentials(header: str | None) -> tuple[str, str] | None:
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


def form_credentials(form: dict[str, str] | None) -> tuple[str, str] | None:
    """client_id and client_secret in the request body (RFC 6749 §2.3.1, "NOT RECOMMENDED" but
    allowed): what Envoy 1.40's oauth2 credential provider sends whatever its auth_type says."""
    if form is None or "client_secret" not in form or not form.get("client_id"):
        return None
    return form["client_id"], form["client_secret"]


def bearer_of(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class AuthServer:
    """The auth server as a Starlette app (`.app`), with counters (`.stats`) and a log (`.recent`)."""

    def __init__(
        self,
        config: AuthConfig,
        signing_key: bytes,
        *,
        issuer: str,
        keys: KeyRing | None = None,
        faults: Faults | None = None,
    ) -> None:
        from inspector.lab.auth_endpoints import OidcEndpoints

        self.config = config
        self.issuer = issuer
        self.stats = AuthStats()
        self.recent: deque[AuthSeen] = deque(maxlen=512)
        self.keys = keys or KeyRing(rotate_every=config.key_rotation, grace=config.key_grace)
        self.faults = faults or config.faults()
        self.valve = Valve()
        self.users = {u.username: u for u in config.users}
        self.users_by_sub = {u.sub: u for u in config.users}
        self._key = signing_key
        self._issued: dict[tuple[str, ...], tuple[str, int]] = {}  # token mode "same"
        # every token minted lately, raw: the issuer's own record, so a test can grep each of
        # tokentax's outputs for any token this server gave out (bounded)
        self.minted: deque[str] = deque(maxlen=4096)
        oidc = OidcEndpoints(self)
        self.app = Starlette(
            routes=[
                Route(TOKEN_PATH, self.token, methods=["POST"]),
                Route(INTROSPECT_PATH, oidc.introspect, methods=["POST"]),
                Route(JWKS_PATH, oidc.jwks, methods=["GET"]),
                Route(USERINFO_PATH, oidc.userinfo, methods=["GET", "POST"]),
                Route(OPENID_CONFIG_PATH, oidc.discovery, methods=["GET"]),
                Route(AS_METADATA_PATH, oidc.discovery, methods=["GET"]),
            ]
        )

    # -- control -------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold every request after it is counted, until resume(): lets tests line up callers."""
        self.valve.pause()

    def resume(self) -> None:
        self.valve.resume()

    def close(self) -> None:
        """Release held requests now, so shutdown does not wait for a simulated timeout."""
        self.valve.close()

    # -- the shared path of every endpoint ---------------------------------------------------

    async def serve(
        self, kind: str, request: Request, seen: AuthSeen, handler: Callable[[], Awaitable[Response]]
    ) -> Response:
        """Count the call, apply pause, latency and injected failures, then answer."""
        self.stats.count(kind)
        self.recent.append(seen)
        injected = self.faults.next(kind)
        await self.valve.gate()
        if self.config.latency > 0 and await self.valve.wait(self.config.latency):
            return self._answer(kind, error(503, "temporarily_unavailable", "server shutting down"))
        if injected is not None:
            self.stats.bump("injected")
            if injected == "timeout":
                return await self._hold(kind, request)
            if injected == "500":
                return self._answer(kind, error(500, "server_error", "lab: injected failure"))
            if kind == "userinfo":
                return self._answer(kind, error(401, "invalid_token", "lab: injected failure", bearer_challenge=True))
            return self._answer(
                kind, error(401, "invalid_client", "client authentication failed", basic_challenge=True)
            )
        return self._answer(kind, await handler())

    def seen(self, request: Request, kind: str, form: dict[str, str] | None = None) -> AuthSeen:
        creds = basic_credentials(request.headers.get("authorization"))
        form = form or {}
        return AuthSeen(
            traceparent=request.headers.get("traceparent"),
            request_id=request.headers.get("x-request-id"),
            client_id=creds[0] if creds else form.get("client_id"),
            grant_type=form.get("grant_type"),
            scope=form.get("scope"),
            audience=form.get("audience") or form.get("resource"),
            kind=kind,
        )

    def _answer(self, kind: str, response: Response) -> Response:
        self.stats.statuses[response.status_code] += 1
        if response.status_code == 200:
            self.stats.bump("issued")
        else:
            self.stats.failures_by_kind[kind] += 1
            self.stats.bump("failures")
        return response

    async def _hold(self, kind: str, request: Request) -> Response:
        """A timeout as clients see it: no answer for a long time (until shutdown or the client gives up)."""
        self.stats.bump("timeouts")
        self.stats.failures_by_kind[kind] += 1
        self.stats.bump("failures")
        await self.valve.wait(self.config.timeout_hold, request)
        return error(503, "temporarily_unavailable", "lab: injected timeout")

    # -- token endpoint ----------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = parse_form(request, await request.body())
        grant_type = (form or {}).get("grant_type")
        kind = "exchange" if grant_type == TOKEN_EXCHANGE else "token"
        creds = basic_credentials(request.headers.get("authorization")) or form_credentials(form)
        return await self.serve(kind, request, self.seen(request, kind, form), lambda: self._grant(form, creds))

    def service_client(self, creds: tuple[str, str] | None) -> bool:
        """True for the confidential (gateway) client with its secret."""
        return (
            creds is not None
            and secrets.compare_digest(creds[0], self.config.client_id)
            and secrets.compare_digest(creds[1], self.config.client_secret)
        )

    async def _grant(self, form: dict[str, str] | None, creds: tuple[str, str] | None) -> Response:
        grant_type = (form or {}).get("grant_type")
        if form is not None and grant_type == "password":
            return self._password(form, creds)
        if not self.service_client(creds):
            return error(401, "invalid_client", "client authentication failed", basic_challenge=True)
        assert creds is not None
        if form is None:
            return error(400, "invalid_request", "expected an application/x-www-form-urlencoded body")
        if not grant_type:
            return error(400, "invalid_request", "missing grant_type")
        if grant_type == "client_credentials":
            return self._client_credentials(form, creds[0])
        if grant_type == TOKEN_EXCHANGE:
            return self._exchange(form, creds[0])
        return error(400, "unsupported_grant_type", "supported: client_credentials, password, token-exchange")

    def _client_credentials(self, form: dict[str, str], client_id: str) -> Response:
        requested = form.get("scope", "").split()
        if any(s not in self.config.scopes for s in requested):
            return error(400, "invalid_scope", "unknown scope requested")
        scope = " ".join(requested or self.config.scopes)
        audience = form.get("audience") or self.config.audience
        claims = {"sub": client_id, "client_id": client_id, "aud": audience, "scope": scope}
        token, expires_in = self.mint(("cc", client_id, scope, audience), self.config.expires_in, claims, rs256=False)
        return no_store({"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": scope})

    def _password(self, form: dict[str, str], creds: tuple[str, str] | None) -> Response:
        """RFC 6749 §4.3 for the lab's public app client: the load generator's way to get user tokens."""
        client_id = creds[0] if creds else form.get("client_id")
        if not client_id or not secrets.compare_digest(client_id, self.config.user_client_id):
            return error(401, "invalid_client", "unknown client for the password grant", basic_challenge=True)
        user = self.users.get(form.get("username", ""))
        if user is None or not secrets.compare_digest(form.get("password", ""), user.password):
            return error(400, "invalid_grant", "wrong username or password")
        requested = form.get("scope", "").split()
        if any(s not in USER_SCOPES for s in requested):
            return error(400, "invalid_scope", "unknown scope requested")
        scope = " ".join(requested or USER_SCOPES)
        claims = {"sub": user.sub, "client_id": client_id, "aud": API_AUDIENCE, "scope": scope}
        token, expires_in = self.mint(("user", user.sub, scope), self.config.user_expires_in, claims, rs256=True)
        return no_store({"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": scope})

    def _exchange(self, form: dict[str, str], client_id: str) -> Response:
        """RFC 8693: a token for another audience, acting for the subject token's owner."""
        subject = form.get("subject_token")
        if not subject or not form.get("subject_token_type"):
            return error(400, "invalid_request", "subject_token and subject_token_type are required")
        if form["subject_token_type"] not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            return error(400, "invalid_request", "unsupported subject_token_type")
        requested_type = form.get("requested_token_type") or ACCESS_TOKEN_TYPE
        if requested_type not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            return error(400, "invalid_request", "unsupported requested_token_type")
        subject_claims = self.validate(subject)
        if subject_claims is None:
            return error(400, "invalid_grant", "subject_token is invalid or expired")
        requested = form.get("scope", "").split()
        if any(s not in USER_SCOPES for s in requested):
            return error(400, "invalid_scope", "unknown scope requested")
        scope = " ".join(requested) or str(subject_claims.get("scope", ""))
        audience = form.get("audience") or form.get("resource") or self.config.audience
        remaining = int(subject_claims["exp"] - time.time())
        claims = {
            "sub": subject_claims.get("sub"),
            "client_id": client_id,
            "aud": audience,
            "scope": scope,
            "act": {"sub": client_id},
        }
        key = ("exchange", client_id, str(subject_claims.get("jti")), audience, scope, requested_type)
        token, expires_in = self.mint(key, max(1, min(self.config.expires_in, remaining)), claims, rs256=True)
        return no_store(
            {
                "access_token": token,
                "issued_token_type": requested_type,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": scope,
            }
        )

    # -- tokens ----------------------------------------------------------------------------

    def mint(self, key: tuple[str, ...], lifetime: int, claims: dict[str, Any], *, rs256: bool) -> tuple[str, int]:
        """A new RFC 9068 token, or (token mode "same") the one issued for this key while it lives.

        Whole seconds rounded up, so a token really lives at least its expires_in (a
        gateway refreshing at half of a 2 s lifetime must never hold an expired token).
        """
        now = math.ceil(time.time())
        if self.config.token_mode == "same":
            held = self._issued.get(key)
            if held is not None and held[1] - now > 0:
                return held[0], held[1] - now
        exp = now + lifetime
        full = {"iss": self.issuer, **claims, "iat": now, "exp": exp, "jti": uuid.uuid4().hex}
        token = self.keys.sign(full) if rs256 else jwt_encode(full, self._key)
        self._issued[key] = (token, exp)
        self.minted.append(token)
        return token, lifetime

    def validate(self, token: str) -> dict[str, Any] | None:
        """Claims of a live token this server issued (either signature kind), else None."""
        try:
            claims = verify_lab_token(token, self._key, self.keys)
        except InvalidToken:
            return None
        return claims if claims.get("iss") == self.issuer else None


def parse_form(request: Request, body: bytes) -> dict[str, str] | None:
    """First value of each form field, or None when the body is not form-encoded (RFC 6749 requires it)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    return {k: v[0] for k, v in parsed.items()}
