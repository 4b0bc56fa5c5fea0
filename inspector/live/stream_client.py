"""Client of the addon's live event stream (inspector.live.stream_server): events in, reconnecting.

The protocol is newline-delimited JSON over TCP: we send one hello line, the server sends
the session event, a summary of everything since the proxy started, then every event as
it happens. When the proxy goes away the client says so (`state`), waits with a growing
backoff and connects again, so a viewer keeps what it has and picks up where the proxy
is when it comes back.

Events come out in batches (`batches()`): one per socket read, so a consumer pays one
await per chunk of bytes, not per event, which is what lets a TUI keep up with thousands
of events a second. `events()` is the one-at-a-time form for simple consumers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from inspector.schema import events as E
from inspector.schema.stream import hello_line, parse_hostport

READ_SIZE = 256 * 1024
MAX_LINE = 4 * 1024 * 1024  # a line longer than this is garbage, not an event

# Connection states, as shown to the user.
CONNECTING = "connecting"
LIVE = "live"
DISCONNECTED = "disconnected"
REFUSED = "refused"


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT -> (host, port); ValueError with one line otherwise."""
    host, port = parse_hostport(text, "stream address")
    if port == 0:
        raise ValueError(f"stream address {text!r} needs a port other than 0")
    return host, port


class StreamClient:
    """Connects to a tokentax stream and yields its events until `close()`.

    `state` is one of connecting, live, disconnected, refused; `reason` says why when it
    is not live. `connects` counts successful connections (2 or more means a reattach).
    """

    def __init__(
        self,
        host: str,
        port: int,
        token: str = "",
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 2.0,
        connect_timeout: float = 3.0,
        on_state: Callable[[str, str], None] | None = None,
    ) -> None:
        self.host, self.port, self.token = host, port, token
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.connect_timeout = connect_timeout
        self.on_state = on_state
        self.state = CONNECTING
        self.reason = ""
        self.connects = 0
        self.bad_lines = 0
        self.received = 0
        self._closed = False
        self._writer: asyncio.StreamWriter | None = None
        self._wake = asyncio.Event()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _set_state(self, state: str, reason: str = "") -> None:
        if state != self.state or reason != self.reason:
            self.state, self.reason = state, reason
            if self.on_state is not None:
                self.on_state(state, reason)

    def close(self) -> None:
        """Stop at the next opportunity; wakes a backoff wait at once."""
        self._closed = True
        self._wake.set()
        if self._writer is not None:
            self._writer.close()

    async def _backoff(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            pass

    async def batches(self) -> AsyncIterator[list[E.Event]]:
        """Yield lists of decoded events, across reconnects, until close()."""
        delay = self.min_backoff
        while not self._closed:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, limit=MAX_LINE), self.connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                self._set_state(DISCONNECTED if self.connects else CONNECTING, _why(exc))
                await self._backoff(delay)
                delay = min(self.max_backoff, delay * 2)
                continue
            self._writer = writer
            refused = ""
            try:
                writer.write(hello_line(self.token))
                await writer.drain()
                first = True
                buf = b""
                while not self._closed:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        break
                    buf += data
                    if b"\n" not in data:
                        if len(buf) > MAX_LINE:
                            self.bad_lines += 1
                            buf = b""
                        continue
                    lines = buf.split(b"\n")
                    buf = lines.pop()
                    batch: list[E.Event] = []
                    for line in lines:
                        if not line:
                            continue
                        try:
                            ev = E.decode(line)
                        except E.EventError:
                            self.bad_lines += 1
                            continue
                        if ev["type"] == "refused":
                            refused = str(ev.get("reason") or "refused by the proxy")
                            continue
                        batch.append(ev)
                    if batch:
                        if first:
                            first = False
                            self.connects += 1
                            delay = self.min_backoff
                            self._set_state(LIVE)
                        self.received += len(batch)
                        yield batch
            except OSError as exc:
                if not self._closed:
                    self._set_state(DISCONNECTED, _why(exc))
            finally:
                self._writer = None
                writer.close()
            if self._closed:
                break
            if refused:
                self._set_state(REFUSED, refused)
                delay = self.max_backoff
            else:
                self._set_state(DISCONNECTED, "the proxy closed the stream")
            await self._backoff(delay)
            delay = min(self.max_backoff, delay * 2)

    async def events(self) -> AsyncIterator[E.Event]:
        """One event at a time (convenience over batches())."""
        async for batch in self.batches():
            for ev in batch:
                yield ev


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


@dataclass(frozen=True)
class ProbeFailure:
    """Why a stream did not greet us. `unreachable`: nothing answered (down or restarting, worth
    waiting for), as opposed to something that answered wrongly (not a stream, a refused token)."""

    message: str
    unreachable: bool

    def __str__(self) -> str:
        return self.message


def probe(host: str, port: int, token: str = "", timeout: float = 5.0) -> ProbeFailure | None:
    """Blocking one-shot check before a UI starts: None if the stream greets us, else why not."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(hello_line(token))
            buf = b""
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return ProbeFailure(
                        f"{host}:{port} closed the connection without greeting (not a tokentax stream?)", False
                    )
                buf += chunk
                if len(buf) > MAX_LINE:
                    break
    except TimeoutError:
        return ProbeFailure(f"{host}:{port} did not answer within {timeout:g} s", True)
    except OSError as exc:
        return ProbeFailure(f"cannot connect to {host}:{port}: {_why(exc)}", True)
    try:
        ev = E.decode(buf.split(b"\n", 1)[0])
    except E.EventError:
        return ProbeFailure(f"{host}:{port} is not a tokentax stream", False)
    if ev.get("type") == "refused":
        return ProbeFailure(f"{host}:{port} refused us: {ev.get('reason') or 'bad or missing stream token'}", False)
    return None
