"""The lab gateway's modes: one per shape of auth work, naive and cached, as one table.

Pure data with no heavy imports, so the CLIs (`tokentax lab/demo --gateway`), the stack
(which failures to inject by default), the session (which reverse listeners to open)
and the load generator (whether callers need a bearer) all read the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    name: str
    kinds: tuple[str, ...]  # callout kinds the gateway's mode produces (tokentax's names)
    upstreams: tuple[str, ...]  # lab servers the gateway calls besides the backend: auth, authz, relay
    caller_bearer: bool  # callers must present `Authorization: Bearer` (a user token)
    help: str


MODES: tuple[Mode, ...] = (
    Mode("naive", ("token",), ("auth",), False, "a client_credentials token fetch per request"),
    Mode("cached", ("token",), ("auth",), False, "service token cached until expiry - skew, single flight"),
    Mode("poison", ("token",), ("auth",), False, "caches token errors and sends Bearer undefined"),
    Mode(
        "introspect", ("introspection",), ("auth",), True, "RFC 7662 introspection of the caller's bearer per request"
    ),
    Mode("introspect-cached", ("introspection",), ("auth",), True, "active introspection answers cached until exp"),
    Mode(
        "introspect-poison", ("introspection",), ("auth",), True, "a failed introspection answer is cached and reused"
    ),
    Mode("jwks-nocache", ("jwks",), ("auth",), True, "JWKS fetched per request to verify the caller's JWT"),
    Mode("jwks-cached", ("jwks",), ("auth",), True, "JWKS cached per Cache-Control; unknown kid refetch rate-limited"),
    Mode("userinfo", ("userinfo",), ("auth",), True, "OIDC userinfo per request"),
    Mode("userinfo-cached", ("userinfo",), ("auth",), True, "userinfo answers cached per bearer"),
    Mode("exchange", ("exchange",), ("auth",), True, "RFC 8693 exchange of the caller's bearer per request"),
    Mode("exchange-cached", ("exchange",), ("auth",), True, "exchanged tokens cached per subject+audience+scope"),
    Mode("forward-auth", ("forward_auth",), ("authz",), True, "an external authorizer decision per request"),
    Mode("forward-auth-cached", ("forward_auth",), ("authz",), True, "allow decisions cached 60 s per credential"),
    Mode("forward-auth-poison", ("forward_auth",), ("authz",), True, "a 5xx/timeout decision error is cached"),
    Mode("loopback", ("token",), ("relay", "auth"), False, "token per request from a caching relay (the loopback fix)"),
    Mode("refresh", ("token",), ("auth",), False, "service token refreshed in the background at half its lifetime"),
    Mode("passthrough", (), (), True, "the caller's own bearer is forwarded; no callout"),
)
BY_NAME: dict[str, Mode] = {m.name: m for m in MODES}
NAMES: tuple[str, ...] = tuple(m.name for m in MODES)


def mode(name: str) -> Mode:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown gateway mode {name!r} (expected one of: {', '.join(NAMES)})") from None
