"""The auth server's other kinds of work: introspection, JWKS, userinfo and discovery.

Each goes through AuthServer.serve, so it is counted under its own kind and suffers
the same latency and injected failures as the token endpoint (a poisoned cache of an
introspection failure needs an introspection failure). Introspection and userinfo
answer with personal-data-looking claims (name, email) on purpose: the inspector must
keep only their names, never their values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inspector.lab.auth import (
    ACCESS_TOKEN_TYPE,
    AS_METADATA_PATH,
    INTROSPECT_PATH,
    JWKS_PATH,
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    TOKEN_PATH,
    USER_SCOPES,
    USERINFO_PATH,
    basic_credentials,
    bearer_of,
    error,
    no_store,
    parse_form,
)

if TYPE_CHECKING:
    from inspector.lab.auth import AuthServer


class OidcEndpoints:
    """Handlers bound to one AuthServer (its keys, users, counters)."""

    def __init__(self, server: AuthServer) -> None:
        self.server = server

    async def introspect(self, request: Request) -> Response:
        """RFC 7662: `token=` in a form, the caller authenticated by HTTP Basic."""
        form = parse_form(request, await request.body())
        creds = basic_credentials(request.headers.get("authorization"))
        seen = self.server.seen(request, "introspection")

        async def answer() -> Response:
            if not self.server.service_client(creds):
                return error(401, "invalid_client", "client authentication failed", basic_challenge=True)
            if form is None or not form.get("token"):
                return error(400, "invalid_request", "expected a form with token=")
            claims = self.server.validate(form["token"])
            if claims is None:
                return no_store({"active": False})
            return no_store(self._active(claims))

        return await self.server.serve("introspection", request, seen, answer)

    def _active(self, claims: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        for name in ("client_id", "sub", "scope", "exp", "iat", "iss", "aud", "jti"):
            if name in claims:
                body[name] = claims[name]
        user = self.server.users_by_sub.get(str(claims.get("sub")))
        if user is not None:
            body.update(username=user.username, name=user.name, email=user.email)
        return body

    async def jwks(self, request: Request) -> Response:
        """The public keys, cacheable for jwks_max_age seconds (what a correct gateway honours)."""

        async def answer() -> Response:
            headers = {"cache-control": f"public, max-age={self.server.config.jwks_max_age}"}
            return JSONResponse(self.server.keys.jwks(), headers=headers, media_type="application/jwk-set+json")

        return await self.server.serve("jwks", request, self.server.seen(request, "jwks"), answer)

    async def userinfo(self, request: Request) -> Response:
        """OIDC Core §5.3: claims about the bearer's user; 401 with a Bearer challenge otherwise."""
        bearer = bearer_of(request.headers.get("authorization"))

        async def answer() -> Response:
            if bearer is None:
                return JSONResponse(
                    {"error": "invalid_request"},
                    status_code=401,
                    headers={"www-authenticate": 'Bearer realm="tokentax-lab"'},
                )
            claims = self.server.validate(bearer)
            user = self.server.users_by_sub.get(str(claims.get("sub"))) if claims else None
            if claims is None or user is None:
                return error(401, "invalid_token", "the access token is invalid", bearer_challenge=True)
            if "openid" not in str(claims.get("scope", "")).split():
                return error(403, "insufficient_scope", "openid scope required", bearer_challenge=True)
            return no_store({"sub": user.sub, "name": user.name, "email": user.email, "email_verified": True})

        return await self.server.serve("userinfo", request, self.server.seen(request, "userinfo"), answer)

    async def discovery(self, request: Request) -> Response:
        """OpenID discovery / RFC 8414 metadata. Endpoint URLs use the request's Host (or
        public_url), so fetched through a reverse proxy they point back through it; the
        issuer stays the tokens' `iss`."""

        async def answer() -> Response:
            base = (
                self.server.config.public_url
                or f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
            )
            base = base.rstrip("/")
            doc = {
                "issuer": self.server.issuer,
                "token_endpoint": base + TOKEN_PATH,
                "introspection_endpoint": base + INTROSPECT_PATH,
                "jwks_uri": base + JWKS_PATH,
                "userinfo_endpoint": base + USERINFO_PATH,
                "grant_types_supported": ["client_credentials", "password", TOKEN_EXCHANGE],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": sorted(set(self.server.config.scopes) | set(USER_SCOPES)),
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_exchange_token_types_supported": [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE],
            }
            if request.url.path == AS_METADATA_PATH:
                doc.pop("subject_types_supported")
                doc.pop("id_token_signing_alg_values_supported")
            return JSONResponse(doc, headers={"cache-control": "public, max-age=3600"})

        return await self.server.serve("discovery", request, self.server.seen(request, "discovery"), answer)
