"""Pieces the lab servers share: HS256 JWTs, awaitable counters, loopback uvicorn serving.

JWTs are done by hand (hmac + base64) so the lab needs no JWT dependency; the lab key
never leaves the process. Counters can be awaited so tests and the demo wait on an
event, not on a sleep. Servers bind their own socket on 127.0.0.1 before uvicorn
starts, so the real port is known up front and "port in use" fails fast.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import hmac
import json
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn

from inspector.schema.errors import UserError

LOOPBACK = "127.0.0.1"


# --- JWT (RFC 7519, HS256 only) ------------------------------------------------------


class InvalidToken(Exception):
    """A bearer token that must be refused; `reason` is a short, secret-free word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: bytes, key: bytes) -> str:
    return b64url(hmac.new(key, signing_input, hashlib.sha256).digest())


def jwt_encode(claims: Mapping[str, Any], key: bytes, *, typ: str = "at+jwt") -> str:
    """Compact HS256 JWT; header typ defaults to RFC 9068's `at+jwt`."""
    header = {"alg": "HS256", "typ": typ}
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims)]
    signing_input = ".".join(parts)
    return f"{signing_input}.{_sign(signing_input.encode('ascii'), key)}"


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims without checking the signature (for tests and display)."""
    try:
        head, body, _sig = token.split(".")
        header, claims = json.loads(b64url_decode(head)), json.loads(b64url_decode(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("malformed")
    return header, claims


def jwt_verify(token: str, key: bytes, *, now: float | None = None, leeway: float = 0.0) -> dict[str, Any]:
    """Claims of a valid HS256 access token; raises InvalidToken otherwise.

    Only HS256 is accepted (never `none`), the typ must be RFC 9068's, and `exp` is required.
    """
    header, claims = jwt_parts(token)
    if header.get("alg") != "HS256":
        raise InvalidToken("bad_alg")
    if header.get("typ") not in ("at+jwt", "application/at+jwt"):
        raise InvalidToken("bad_typ")
    signing_input, _, sig = token.rpartition(".")
    if not hmac.compare_digest(_sign(signing_input.encode("ascii"), key), sig):
        raise InvalidToken("bad_signature")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise InvalidToken("no_exp")
    if (time.time() if now is None else now) >= exp + leeway:
        raise InvalidToken("expired")
    return claims


# --- awaitable counters ----------------------------------------------------------------


@dataclass
class Watchable:
    """Base for counter dataclasses: `bump` a field, `await wait_for(pred)` elsewhere."""

    _waiters: list[tuple[Callable[[Any], bool], asyncio.Future[None]]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def bump(self, name: str, n: int = 1) -> None:
        setattr(self, name, getattr(self, name) + n)
        self.notify()

    def notify(self) -> None:
        """Wake waiters whose predicate now holds (call after changing fields by hand)."""
        for pred, fut in self._waiters:
            if not fut.done() and pred(self):
                fut.set_result(None)
        self._waiters = [w for w in self._waiters if not w[1].done()]

    async def wait_for(self, pred: Callable[[Self], bool]) -> None:
        if pred(self):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        await fut


# --- serving on loopback ---------------------------------------------------------------


def bind_loopback(port: int, what: str) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (port 0 = any free port); UserError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # inherited by accepted sockets: without it Nagle + delayed ACK add ~40 ms per response
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"cannot listen on {LOOPBACK}:{port} for the {what}: address already in use") from exc
        raise UserError(f"cannot listen on {LOOPBACK}:{port} for the {what}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


_PORT_FLOOR = 10_000
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for port-0 binds and outgoing connections (Linux; else its default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port free right now on 127.0.0.1, for a listener another process opens soon after.

    Picked below the kernel's ephemeral range: a port the kernel hands out for a port-0
    bind (mitmdump's own stream listener, any test server) can then never take it
    between this call and the owner's bind, which a CI run once lost 25 requests to.
    Never the same port twice in one process, so two picks in a row cannot collide.
    """
    low, _ = _ephemeral_range()
    if low - _PORT_FLOOR >= 1000:
        rng = random.SystemRandom()
        for _ in range(200):
            port = rng.randrange(_PORT_FLOOR, low)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # no room below: the kernel's pick
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the owner decides when to stop) and with a ready event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self.exit_now = asyncio.Event()

    async def main_loop(self) -> None:
        """uvicorn's 0.1 s tick, but woken at once by exit_now so a stop takes no extra tick."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_now.wait(), 0.1)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class LoopbackServer:
    """One ASGI app served by uvicorn on an already bound loopback socket."""

    def __init__(self, app: Any, sock: socket.socket, name: str) -> None:
        self.name = name
        self.port: int = sock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name=f"lab-{self.name}")
        ready = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            exc = self._task.exception() if not self._task.cancelled() else None
            raise RuntimeError(f"the lab {self.name} failed to start: {exc or 'stopped'}")

    def request_stop(self) -> None:
        self._server.should_exit = True
        self._server.exit_now.set()

    async def stop(self) -> None:
        self.request_stop()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
        self._sock.close()
