"""The words every layer shares, defined once: roles, callout kinds, timing phases,
severities and finding ids. Scripts and dashboards key on these exact strings."""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["inbound", "callout", "backend", "other"]
ROLES: Final[tuple[Role, ...]] = ("inbound", "callout", "backend", "other")
HOP_ROLES: Final[tuple[Role, ...]] = ("callout", "backend")

# What auth work a callout is (docs/findings.md has each kind's key and redundancy rule).
Kind = Literal["token", "exchange", "introspection", "jwks", "userinfo", "forward_auth"]
KINDS: Final[tuple[Kind, ...]] = ("token", "exchange", "introspection", "jwks", "userinfo", "forward_auth")

# Per-hop timing phases, in wire order, as stored in a flow event's `timing`.
PHASES: Final = ("connect", "tls", "send", "wait", "receive")
TIMING_KEYS: Final = ("reused", *PHASES, "ttfb", "total")

Severity = Literal["critical", "warning", "info", "ok"]
SEVERITIES: Final[tuple[Severity, ...]] = ("critical", "warning", "info", "ok")

FINDING_IDS: Final = (
    "token-refetch",
    "token-lifetime",
    "token-shared-across-routes",
    "identical-token-responses",
    "callout-latency",
    "auth-failure",
    "error-cached",
    "stampede",
    "gateway-identified",
    "introspection-repeat",
    "jwks-refetch",
    "userinfo-repeat",
    "exchange-refetch",
    "forward-auth-repeat",
)
