"""Start the lab servers together in one asyncio loop on 127.0.0.1.

Auth server, backend, forward-auth service (authz), loopback token relay, gateway and
a small control server (GET /stats: every server's counters, the ground truth tests
compare the inspector with). All sockets are bound before anything starts, so a
pinned port that is taken fails at once with one clear message and nothing
half-started. Every upstream URL the gateway (and the relay) calls defaults to the
lab's own server but can point anywhere (a mitmproxy reverse listener, typically),
which is how the inspector gets between the hops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

from inspector.lab.auth import (
    INTROSPECT_PATH,
    JWKS_PATH,
    OPENID_CONFIG_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    AuthConfig,
    AuthServer,
)
from inspector.lab.authorizer import VERIFY_PATH, Authorizer, AuthorizerConfig
from inspector.lab.backend import Backend, BackendConfig
from inspector.lab.common import LoopbackServer, bind_loopback
from inspector.lab.control import control_app
from inspector.lab.gateway import Gateway, GatewayConfig
from inspector.lab.keys import KeyRing
from inspector.lab.modes import mode as lookup_mode
from inspector.lab.relay import RelayConfig, TokenRelay


@dataclass
class LabConfig:
    """The whole lab. Gateway and relay URLs and credentials left empty mean "the lab's own".

    auth.fail_on None means: inject failures into the kinds the gateway mode calls.
    """

    auth: AuthConfig = field(default_factory=AuthConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    authz: AuthorizerConfig = field(default_factory=AuthorizerConfig)
    relay: RelayConfig = field(default_factory=RelayConfig)
    auth_port: int = 0
    backend_port: int = 0
    gateway_port: int = 0
    authz_port: int = 0
    relay_port: int = 0
    control_port: int = 0
    secrets_file: str | None = None  # where `python -m inspector.lab` writes the lab's secrets
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


@dataclass(frozen=True)
class LabUrls:
    auth: str
    backend: str
    gateway: str
    gateway_auth_url: str  # where the gateway sends token calls (maybe a proxy)
    gateway_backend_url: str  # where the gateway sends backend calls (maybe a proxy)
    authz: str = ""
    relay: str = ""
    control: str = ""
    gateway_authz_url: str = ""  # where the gateway asks for forward-auth decisions (maybe a proxy)
    gateway_relay_url: str = ""  # where the loopback gateway gets tokens (maybe a proxy)
    relay_upstream_url: str = ""  # where the relay sends its misses (maybe a proxy)

    @property
    def token_url(self) -> str:
        return self.auth + TOKEN_PATH

    def endpoints(self) -> dict[str, str]:
        """Every endpoint's direct URL, by name (the ready JSON carries them)."""
        return {
            "token_url": self.token_url,
            "introspection_url": self.auth + INTROSPECT_PATH,
            "jwks_url": self.auth + JWKS_PATH,
            "userinfo_url": self.auth + USERINFO_PATH,
            "discovery_url": self.auth + OPENID_CONFIG_PATH,
            "verify_url": self.authz + VERIFY_PATH,
            "relay_token_url": self.relay + TOKEN_PATH,
            "stats_url": self.control + "/stats",
        }


class LabStack:
    """`async with LabStack(config) as lab:` -> lab.urls, lab.auth / .backend / .authz / .relay / .gateway (with .stats)."""

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig()
        self.auth: AuthServer
        self.backend: Backend
        self.authz: Authorizer
        self.relay: TokenRelay
        self.gateway: Gateway
        self.keys: KeyRing
        self.urls: LabUrls
        self.secrets_file: str | None = None
        self._servers: list[LoopbackServer] = []

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> LabUrls:
        cfg = self.config
        mode = lookup_mode(cfg.gateway.strategy)
        socks = []
        try:
            for port, what in (
                (cfg.auth_port, "auth server"),
                (cfg.backend_port, "backend"),
                (cfg.authz_port, "forward-auth service"),
                (cfg.relay_port, "token relay"),
                (cfg.gateway_port, "gateway"),
                (cfg.control_port, "control server"),
            ):
                socks.append(bind_loopback(port, what))
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        auth_url, backend_url, authz_url, relay_url = (f"http://127.0.0.1:{s.getsockname()[1]}" for s in socks[:4])
        gw = replace(
            cfg.gateway,
            auth_url=cfg.gateway.auth_url or auth_url,
            backend_url=cfg.gateway.backend_url or backend_url,
            authz_url=cfg.gateway.authz_url or authz_url,
            relay_url=cfg.gateway.relay_url or relay_url,
            client_id=cfg.gateway.client_id or cfg.auth.client_id,
            client_secret=cfg.gateway.client_secret or cfg.auth.client_secret,
        )
        relay_cfg = replace(cfg.relay, upstream_url=cfg.relay.upstream_url or auth_url)
        self.keys = KeyRing(rotate_every=cfg.auth.key_rotation, grace=cfg.auth.key_grace)
        faults = replace(cfg.auth, fail_on=mode.kinds if cfg.auth.fail_on is None else cfg.auth.fail_on).faults()
        self.auth = AuthServer(cfg.auth, cfg.signing_key, issuer=auth_url, keys=self.keys, faults=faults)
        self.backend = Backend(cfg.backend, cfg.signing_key, self.keys)
        authz_cfg = replace(cfg.authz, timeout_hold=cfg.auth.timeout_hold)
        self.authz = Authorizer(authz_cfg, self.keys, faults=faults)  # one plan: "the first N auth-side calls fail"
        self.relay = TokenRelay(relay_cfg)
        self.gateway = Gateway(gw)
        self._servers = [
            LoopbackServer(self.auth.app, socks[0], "auth server"),
            LoopbackServer(self.backend.app, socks[1], "backend"),
            LoopbackServer(self.authz.app, socks[2], "forward-auth service"),
            LoopbackServer(self.relay.app, socks[3], "token relay"),
            LoopbackServer(self.gateway.app, socks[4], "gateway"),
            LoopbackServer(control_app(self), socks[5], "control server"),
        ]
        self.urls = LabUrls(
            auth=auth_url,
            backend=backend_url,
            gateway=self._servers[4].url,
            gateway_auth_url=gw.auth_url,
            gateway_backend_url=gw.backend_url,
            authz=authz_url,
            relay=relay_url,
            control=self._servers[5].url,
            gateway_authz_url=gw.authz_url,
            gateway_relay_url=gw.relay_url,
            relay_upstream_url=relay_cfg.upstream_url,
        )
        try:
            await asyncio.gather(*(server.start() for server in self._servers))
        except BaseException:
            await self.stop()
            raise
        self.gateway.start()
        return self.urls

    async def stop(self) -> None:
        """Release held requests, stop all servers in parallel, then close the gateway's client."""
        if not self._servers:
            return
        self.auth.close()
        self.backend.close()
        self.authz.close()
        for server in self._servers:
            server.request_stop()
        await asyncio.gather(*(server.stop() for server in self._servers), return_exceptions=True)
        self._servers = []
        await self.gateway.aclose()
        await self.relay.aclose()

    def ready_info(self) -> dict[str, Any]:
        """The one JSON line `python -m inspector.lab` prints when it is ready. Never a secret:
        `secrets_file` names where the client secret and user passwords can be read."""
        u = self.urls
        mode = lookup_mode(self.gateway.config.strategy)
        return {
            "ready": True,
            "auth": u.auth,
            "backend": u.backend,
            "gateway": u.gateway,
            "authz": u.authz,
            "relay": u.relay,
            "control": u.control,
            **u.endpoints(),
            "gateway_auth_url": u.gateway_auth_url,
            "gateway_backend_url": u.gateway_backend_url,
            "gateway_authz_url": u.gateway_authz_url,
            "gateway_relay_url": u.gateway_relay_url,
            "relay_upstream_url": u.relay_upstream_url,
            "client_id": self.config.auth.client_id,
            "user_client_id": self.config.auth.user_client_id,
            "users": [user.username for user in self.config.auth.users],
            "secrets_file": self.secrets_file,
            "strategy": mode.name,
            "kinds": list(mode.kinds),
            "upstreams": list(mode.upstreams),
            "caller_bearer": mode.caller_bearer,
            "pid": os.getpid(),
        }

    def stats(self) -> dict[str, Any]:
        """Every server's counters as JSON-friendly dicts (GET /stats on the control server)."""
        from inspector.lab.control import snapshot

        return snapshot(self)


async def serve_until_stopped(
    config: LabConfig,
    on_ready: Callable[[LabStack], None],
    *,
    stop: asyncio.Event | None = None,
    watch_stdin: bool = False,
) -> None:
    """Run the lab until SIGINT/SIGTERM (or `stop` is set, or stdin closes with watch_stdin)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    stdin_fd: int | None = None
    try:
        async with LabStack(config) as lab, write_secrets(lab, config.secrets_file):
            if watch_stdin:
                stdin_fd = _watch_eof(loop, stop)
            on_ready(lab)
            await stop.wait()
    finally:
        if stdin_fd is not None:
            loop.remove_reader(stdin_fd)
        for sig in handled:
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def write_secrets(lab: LabStack, path: str | None) -> AsyncIterator[str]:
    """Write the lab's secrets (client secret, user passwords) to a 0600 file for clients such
    as `tokentax probe` and the load generator; a file of our own is removed at the end."""
    from inspector.lab.secrets_file import secrets_file

    with secrets_file(lab.config.auth, path) as written:
        lab.secrets_file = written
        yield written


def _watch_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> int | None:
    """Set `stop` when stdin reaches EOF (the parent went away); None if stdin cannot be watched."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    try:
        loop.add_reader(fd, readable)
    except (OSError, ValueError, NotImplementedError):
        return None
    return fd
