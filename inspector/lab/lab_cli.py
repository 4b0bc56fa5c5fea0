"""`tokentax lab`: run the lab servers and print how to put mitmproxy in front of them.

The option set here is shared with `python -m inspector.lab` (add_lab_options,
config_from_args). Values are taken as strings and checked in config_from_args so bad
input becomes a UserError (one line, exit 2), never an argparse traceback. Nothing
heavy is imported until the command runs, to keep `tokentax --help` fast.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from inspector.lab.faults import KINDS
from inspector.lab.modes import NAMES
from inspector.schema.errors import UserError
from inspector.schema.units import parse_duration

if TYPE_CHECKING:
    from inspector.lab.stack import LabConfig

STRATEGY_CHOICES = NAMES  # the same table as gateway.STRATEGIES (inspector.lab.modes)


def add_lab_options(parser: argparse.ArgumentParser) -> None:
    """The lab's behaviour and placement options (durations accept 50ms, 0.8s, 2)."""
    g = parser.add_argument_group("gateway")
    g.add_argument(
        "--gateway",
        choices=STRATEGY_CHOICES,
        default="naive",
        help="how the gateway gets service tokens (default: naive)",
    )
    g.add_argument("--scope", default=None, help="scope the gateway asks for (default: all)")
    g.add_argument("--audience", default=None, help="audience the gateway asks for")
    g.add_argument(
        "--cache-skew",
        default="60s",
        metavar="DURATION",
        help="cached: refresh this long before expiry (at most half the lifetime)",
    )
    g.add_argument(
        "--gateway-auth-timeout", default="10s", metavar="DURATION", help="how long the gateway waits for a token"
    )
    g.add_argument("--no-trace-propagation", action="store_true", help="gateway drops traceparent/x-request-id")
    g.add_argument(
        "--gateway-auth-url",
        default=None,
        metavar="URL",
        help="base URL the gateway calls for tokens (default: the lab auth server)",
    )
    g.add_argument(
        "--gateway-backend-url",
        default=None,
        metavar="URL",
        help="base URL the gateway forwards to (default: the lab backend)",
    )
    g.add_argument(
        "--gateway-authz-url",
        default=None,
        metavar="URL",
        help="base URL of the forward-auth service the gateway asks (default: the lab's)",
    )
    g.add_argument(
        "--gateway-relay-url",
        default=None,
        metavar="URL",
        help="base URL of the token relay the loopback gateway calls (default: the lab's)",
    )
    g.add_argument(
        "--relay-upstream-url",
        default=None,
        metavar="URL",
        help="base URL the token relay sends its misses to (default: the lab auth server)",
    )
    g.add_argument(
        "--decision-ttl",
        default="60s",
        metavar="DURATION",
        help="forward-auth-cached: how long an allow decision is reused",
    )
    g.add_argument(
        "--jwks-refetch-interval",
        default="10s",
        metavar="DURATION",
        help="jwks-cached: at most one unknown-kid refetch per this long",
    )
    a = parser.add_argument_group("auth server")
    a.add_argument(
        "--auth-latency", default="0.8s", metavar="DURATION", help="token endpoint think time (default: 0.8s)"
    )
    a.add_argument(
        "--token-mode",
        choices=("same", "new"),
        default="same",
        help="same: re-issue the token until it expires; new: a new token per call",
    )
    a.add_argument(
        "--expires-in", default="38399", metavar="SECONDS", help="token lifetime in seconds (default: 38399)"
    )
    a.add_argument("--auth-fail-first", default="0", metavar="N", help="the first N token requests fail")
    a.add_argument(
        "--auth-fail-kind",
        choices=("401", "500", "timeout"),
        default="401",
        help="how they fail (default: 401 invalid_client)",
    )
    a.add_argument("--auth-401-rate", default="0", metavar="RATE", help="share of token requests answered 401 (0..1)")
    a.add_argument("--auth-500-rate", default="0", metavar="RATE", help="share answered 500 (0..1)")
    a.add_argument("--auth-timeout-rate", default="0", metavar="RATE", help="share held without an answer (0..1)")
    a.add_argument(
        "--auth-hold", default="30s", metavar="DURATION", help="how long a simulated timeout holds the request"
    )
    a.add_argument("--client-id", default="tokentax-gateway", help="the gateway's client_id")
    a.add_argument("--client-secret", default=None, help="the gateway's client secret (default: random per run)")
    a.add_argument("--seed", type=int, default=None, help="seed for the failure rates")
    a.add_argument(
        "--auth-fail-on",
        default=None,
        metavar="KINDS",
        help=f"comma-separated kinds failures apply to ({','.join(KINDS)}; default: those the gateway mode calls)",
    )
    a.add_argument(
        "--user-expires-in", default="3600", metavar="SECONDS", help="lifetime of user tokens (default: 3600)"
    )
    a.add_argument(
        "--jwks-max-age", default="300", metavar="SECONDS", help="Cache-Control max-age of JWKS answers (default: 300)"
    )
    a.add_argument(
        "--key-rotation", default="0", metavar="DURATION", help="rotate the signing key this often (default: never)"
    )
    a.add_argument(
        "--key-grace", default="10m", metavar="DURATION", help="how long a rotated-out key stays in the JWKS"
    )
    a.add_argument(
        "--secrets-file",
        default=None,
        metavar="PATH",
        help="write the client secret and user passwords here (default: a private temp file)",
    )
    a.add_argument(
        "--authz-latency", default="0s", metavar="DURATION", help="forward-auth service think time (default: 0)"
    )
    b = parser.add_argument_group("backend and ports")
    b.add_argument("--backend-latency", default="20ms", metavar="DURATION", help="backend think time (default: 20ms)")
    for name in ("auth", "backend", "gateway", "authz", "relay", "control"):
        b.add_argument(
            f"--{name}-port",
            type=int,
            default=0,
            metavar="PORT",
            help=f"{name} port on 127.0.0.1 (default: any free port)",
        )


def _count(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"invalid {what} {text!r}: expected a whole number") from None
    if value < 0:
        raise UserError(f"invalid {what} {text!r}: must not be negative")
    return value


def _rate(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"invalid {what} {text!r}: expected a number between 0 and 1") from None
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise UserError(f"invalid {what} {text!r}: expected a number between 0 and 1")
    return value


def _port(value: int, what: str) -> int:
    if not 0 <= value <= 65535:
        raise UserError(f"invalid {what} {value}: expected 0..65535")
    return value


def _base_url(text: str | None, what: str) -> str:
    if text is None:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"invalid {what} {text!r}: expected a base URL like http://127.0.0.1:8081")
    return text.rstrip("/")


def config_from_args(args: argparse.Namespace) -> LabConfig:
    """A LabConfig from parsed lab options; UserError naming the first bad value."""
    from inspector.lab.auth import AuthConfig
    from inspector.lab.backend import BackendConfig
    from inspector.lab.gateway import GatewayConfig
    from inspector.lab.stack import LabConfig

    rates = {k: _rate(getattr(args, f"auth_{k}_rate"), f"--auth-{k}-rate") for k in ("401", "500", "timeout")}
    if sum(rates.values()) > 1.0:
        raise UserError("invalid failure rates: --auth-401-rate + --auth-500-rate + --auth-timeout-rate exceed 1")
    expires_in = _count(args.expires_in, "--expires-in")
    if expires_in == 0:
        raise UserError("invalid --expires-in 0: a token must live at least one second")
    if not args.client_id:
        raise UserError("invalid --client-id: must not be empty")
    fail_on = None
    if args.auth_fail_on is not None:
        fail_on = tuple(k.strip() for k in args.auth_fail_on.split(",") if k.strip())
        bad = [k for k in fail_on if k not in KINDS]
        if bad:
            raise UserError(f"invalid --auth-fail-on {bad[0]!r}: expected kinds from {', '.join(KINDS)}")
    user_expires_in = _count(args.user_expires_in, "--user-expires-in")
    if user_expires_in == 0:
        raise UserError("invalid --user-expires-in 0: a token must live at least one second")
    rotation = parse_duration(args.key_rotation)
    auth = AuthConfig(
        client_id=args.client_id,
        latency=parse_duration(args.auth_latency),
        expires_in=expires_in,
        token_mode=args.token_mode,
        fail_first=_count(args.auth_fail_first, "--auth-fail-first"),
        fail_kind=args.auth_fail_kind,
        rate_401=rates["401"],
        rate_500=rates["500"],
        rate_timeout=rates["timeout"],
        timeout_hold=parse_duration(args.auth_hold),
        seed=args.seed,
        fail_on=fail_on,
        user_expires_in=user_expires_in,
        jwks_max_age=_count(args.jwks_max_age, "--jwks-max-age"),
        key_rotation=rotation or None,
        key_grace=parse_duration(args.key_grace),
    )
    if args.client_secret:
        auth.client_secret = args.client_secret
    gateway = GatewayConfig(
        strategy=args.gateway,
        auth_url=_base_url(args.gateway_auth_url, "--gateway-auth-url"),
        backend_url=_base_url(args.gateway_backend_url, "--gateway-backend-url"),
        authz_url=_base_url(args.gateway_authz_url, "--gateway-authz-url"),
        relay_url=_base_url(args.gateway_relay_url, "--gateway-relay-url"),
        decision_ttl=parse_duration(args.decision_ttl),
        jwks_refetch_interval=parse_duration(args.jwks_refetch_interval),
        scope=args.scope,
        audience=args.audience,
        skew=parse_duration(args.cache_skew),
        auth_timeout=parse_duration(args.gateway_auth_timeout),
        propagate_trace=not args.no_trace_propagation,
    )
    from inspector.lab.authorizer import AuthorizerConfig
    from inspector.lab.relay import RelayConfig

    return LabConfig(
        auth=auth,
        backend=BackendConfig(latency=parse_duration(args.backend_latency)),
        gateway=gateway,
        authz=AuthorizerConfig(latency=parse_duration(args.authz_latency)),
        relay=RelayConfig(upstream_url=_base_url(args.relay_upstream_url, "--relay-upstream-url")),
        secrets_file=args.secrets_file,
        auth_port=_port(args.auth_port, "--auth-port"),
        backend_port=_port(args.backend_port, "--backend-port"),
        gateway_port=_port(args.gateway_port, "--gateway-port"),
        authz_port=_port(args.authz_port, "--authz-port"),
        relay_port=_port(args.relay_port, "--relay-port"),
        control_port=_port(args.control_port, "--control-port"),
    )
