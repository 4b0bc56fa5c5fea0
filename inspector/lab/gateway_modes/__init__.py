"""The lab gateway's modes, one small module per shape of auth work (see inspector.lab.modes).

build() turns a mode name into the object whose authorize() decides each request.
"""

from __future__ import annotations

from inspector.lab.gateway_modes.base import Callouts, GatewayConfig, GatewayMode, GatewayStats, Passthrough
from inspector.lab.gateway_modes.exchange import Exchange
from inspector.lab.gateway_modes.forward_auth import ForwardAuth
from inspector.lab.gateway_modes.introspect import Introspect
from inspector.lab.gateway_modes.jwks import JwksVerify
from inspector.lab.gateway_modes.tokens import (
    BackgroundTokens,
    CachedTokens,
    NaiveTokens,
    PoisonTokens,
    ServiceTokens,
    TokenClient,
    TokenStore,
)
from inspector.lab.gateway_modes.userinfo import Userinfo
from inspector.lab.modes import mode as lookup


def build(config: GatewayConfig, callouts: Callouts, stats: GatewayStats) -> GatewayMode:
    """The mode object for config.strategy; ValueError for an unknown name."""
    name = lookup(config.strategy).name
    if name in ("naive", "cached", "poison", "loopback", "refresh"):
        fetcher = TokenClient(config, callouts, stats, base_url=config.relay_url if name == "loopback" else None)
        store: TokenStore
        if name == "cached":
            store = CachedTokens(fetcher, stats, config.skew)
        elif name == "poison":
            store = PoisonTokens(fetcher, stats, config.error_ttl)
        elif name == "refresh":
            store = BackgroundTokens(fetcher, stats, config.refresh_retry)
        else:
            store = NaiveTokens(fetcher, stats)
        return ServiceTokens(store, stats, poison=name == "poison")
    if name.startswith("introspect"):
        return Introspect(config, callouts, stats, "none" if name == "introspect" else name.split("-")[1])  # type: ignore[arg-type]
    if name.startswith("forward-auth"):
        policy = {"forward-auth": "none", "forward-auth-cached": "cached", "forward-auth-poison": "poison"}[name]
        return ForwardAuth(config, callouts, stats, policy)  # type: ignore[arg-type]
    if name.startswith("jwks"):
        return JwksVerify(config, callouts, stats, cached=name == "jwks-cached")
    if name.startswith("userinfo"):
        return Userinfo(config, callouts, stats, cached=name.endswith("-cached"))
    if name.startswith("exchange"):
        return Exchange(config, callouts, stats, cached=name.endswith("-cached"))
    return Passthrough()
