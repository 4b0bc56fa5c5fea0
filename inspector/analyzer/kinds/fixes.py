"""The cache setting that removes each kind's repeats, per gateway product (record/gateway.py names).

Each line names the product's own setting; `None` (the default) is the generic fix.
Hints for a team to check against its version's documentation, not configuration to paste.
"""

from __future__ import annotations

FIXES: dict[str, dict[str | None, str]] = {
    "introspection": {
        "Apache httpd": "mod_auth_openidc: leave OIDCOAuthTokenIntrospectionInterval unset or positive (never -1), "
        "so an active result is cached until the token's exp, and set OIDCCacheEncrypt On (with "
        "OIDCCryptoPassphrase): in 2.4.12 cache keys are limited to 512 bytes, so a longer JWT bearer as the key "
        "is never cached and every request is introspected",
        "Kong": "openid-connect / kong-oidc: turn on the introspection cache (cache_introspection, cache_ttl); "
        "lua-resty-openidc needs a lua_shared_dict for it",
        "Apache APISIX": "openid-connect plugin: set introspection_interval above 0 (e.g. 30) and keep its "
        "lua_shared_dict",
        "Gravitee": "OAuth2 policy: add an oauthCacheResource (cache resource) to the plan",
        "Tyk": "enable the external OAuth introspection cache (introspection cache enabled with a timeout)",
        "Envoy": "Envoy does not cache introspection in ext_authz: cache in the authorizer keyed on the token, "
        "or validate JWTs locally with jwt_authn",
        None: "cache an active introspection result keyed on endpoint + client + token until the token's exp "
        "(or 30 s to 5 min), and never cache an error",
    },
    "jwks": {
        "Envoy": "jwt_authn remote_jwks: set cache_duration (e.g. 300s) and async_fetch, so the key set is "
        "not fetched per request",
        "NGINX": "cache the JWKS location (proxy_cache with proxy_cache_valid 200 5m) or auth_jwt_key_cache",
        "Kong": "jwt-signer / openid-connect: keep the discovery and JWKS cache on (do not rediscover per request)",
        "Apache APISIX": "openid-connect plugin: set jwk_expires_in and keep the JWKS cache",
        "Apache httpd": "mod_auth_openidc: OIDCJWKSRefreshInterval (default 3600) must not be 0",
        None: "cache the key set per URL for its Cache-Control max-age (5 min without one); refetch on an "
        "unknown kid at most once per interval",
    },
    "userinfo": {
        "Apache httpd": "mod_auth_openidc: set OIDCUserInfoRefreshInterval, or put claims in the access token",
        "Kong": "openid-connect: turn on cache_user_info",
        None: "cache the userinfo answer per bearer until the bearer expires (Quarkus: quarkus.oidc.token-cache), "
        "or read the claims from the ID/access token",
    },
    "exchange": {
        "Envoy": "cache exchanged tokens in the credential provider (Istio/Envoy STS: token cache on)",
        None: "cache exchanged tokens keyed on subject token + audience/resource + scope + requested type until "
        "expires_in minus a skew",
    },
    "forward_auth": {
        "NGINX": "auth_request: proxy_cache the auth location (proxy_cache_key on the Authorization/Cookie "
        "header, proxy_cache_valid 200 401 403 60s)",
        "Traefik": "forwardAuth has no decision cache: put a caching proxy or plugin in front of the authorizer",
        "Caddy": "forward_auth has no decision cache: cache in the authorizer or a cache handler before it",
        "Envoy": "ext_authz has no decision cache: cache decisions in the authorization service, or move the "
        "check to a local filter (jwt_authn, RBAC)",
        None: "cache decisions keyed on the forwarded credential for a short TTL (1 to 60 s), and never cache "
        "an authorizer error",
    },
}


def fix_for(kind: str, gateways: list[str]) -> tuple[str | None, str]:
    """(product, fix) for the first identified gateway with a kind-specific fix, else (None, generic)."""
    table = FIXES.get(kind, {})
    for g in gateways:
        if g in table:
            return g, table[g]
    return None, table.get(None, "")
