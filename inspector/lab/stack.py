"""Start the auth server, backend and gateway together in one asyncio loop on 127.0.0.1.

All three sockets are bound before anything starts, so a pinned port that is taken
fails at once with one clear message and nothing half-started. The gateway's auth and
backend URLs default to the lab's own servers but can point anywhere (a mitmproxy
reverse listener, typically), which is how the inspector gets between the hops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

from inspector.lab.auth import TOKEN_PATH, AuthConfig, AuthServer
from inspector.lab.backend import Backend, BackendConfig
from inspector.lab.common import LoopbackServer, bind_loopback
from inspector.lab.gateway import Gateway, GatewayConfig


@dataclass
class LabConfig:
    """The whole lab. Gateway auth_url/backend_url/client_id/client_secret left empty mean "the lab's own"."""

    auth: AuthConfig = field(default_factory=AuthConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    auth_port: int = 0
    backend_port: int = 0
    gateway_port: int = 0
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


@dataclass(frozen=True)
class LabUrls:
    auth: str
    backend: str
    gateway: str
    gateway_auth_url: str  # where the gateway sends token calls (maybe a proxy)
    gateway_backend_url: str  # where the gateway sends backend calls (maybe a proxy)

    @property
    def token_url(self) -> str:
        return self.auth + TOKEN_PATH


class LabStack:
    """`async with LabStack(config) as lab:` -> lab.urls, lab.auth / lab.backend / lab.gateway (with .stats)."""

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig()
        self.auth: AuthServer
        self.backend: Backend
        self.gateway: Gateway
        self.urls: LabUrls
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
        socks = []
        try:
            for port, what in (
                (cfg.auth_port, "auth server"),
                (cfg.backend_port, "backend"),
                (cfg.gateway_port, "gateway"),
            ):
                socks.append(bind_loopback(port, what))
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        auth_sock, backend_sock, gateway_sock = socks
        auth_url = f"http://127.0.0.1:{auth_sock.getsockname()[1]}"
        backend_url = f"http://127.0.0.1:{backend_sock.getsockname()[1]}"
        gw = cfg.gateway
        gw = replace(
            gw,
            auth_url=gw.auth_url or auth_url,
            backend_url=gw.backend_url or backend_url,
            client_id=gw.client_id or cfg.auth.client_id,
            client_secret=gw.client_secret or cfg.auth.client_secret,
        )
        self.auth = AuthServer(cfg.auth, cfg.signing_key, issuer=auth_url)
        self.backend = Backend(cfg.backend, cfg.signing_key)
        self.gateway = Gateway(gw)
        self._servers = [
            LoopbackServer(self.auth.app, auth_sock, "auth server"),
            LoopbackServer(self.backend.app, backend_sock, "backend"),
            LoopbackServer(self.gateway.app, gateway_sock, "gateway"),
        ]
        self.urls = LabUrls(
            auth=auth_url,
            backend=backend_url,
            gateway=self._servers[2].url,
            gateway_auth_url=gw.auth_url,
            gateway_backend_url=gw.backend_url,
        )
        try:
            await asyncio.gather(*(server.start() for server in self._servers))
        except BaseException:
            await self.stop()
            raise
        return self.urls

    async def stop(self) -> None:
        """Release held requests, stop all servers in parallel, then close the gateway's client."""
        if not self._servers:
            return
        self.auth.close()
        self.backend.close()
        for server in self._servers:
            server.request_stop()
        await asyncio.gather(*(server.stop() for server in self._servers), return_exceptions=True)
        self._servers = []
        await self.gateway.aclose()

    def ready_info(self) -> dict[str, Any]:
        """The one JSON line `python -m inspector.lab` prints when it is ready."""
        return {
            "ready": True,
            "auth": self.urls.auth,
            "backend": self.urls.backend,
            "gateway": self.urls.gateway,
            "token_url": self.urls.token_url,
            "gateway_auth_url": self.urls.gateway_auth_url,
            "gateway_backend_url": self.urls.gateway_backend_url,
            "client_id": self.config.auth.client_id,
            "strategy": self.gateway.config.strategy,
            "pid": os.getpid(),
        }


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
        async with LabStack(config) as lab:
            if watch_stdin:
                stdin_fd = _watch_eof(loop, stop)
            on_ready(lab)
            await stop.wait()
    finally:
        if stdin_fd is not None:
            loop.remove_reader(stdin_fd)
        for sig in handled:
            loop.remove_signal_handler(sig)


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
