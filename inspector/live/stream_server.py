"""The live event stream that TUIs attach to: newline-delimited JSON over TCP.

Protocol (docs/events.md): the client sends one hello line
`{"hello": "tokentax/1", "token": "..."}`; the server answers with the session event, the
current summary (so a late client sees totals since the proxy started) and then every
event as it happens, plus a summary event on each tick. Each client has a bounded queue:
a slow or stalled client loses events (counted, and shown to it) and never slows the proxy.
A client that sends garbage, a wrong token or nothing within the hello timeout is dropped.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections import deque
from collections.abc import Callable

from inspector.schema.stream import HELLO, HELLO_TIMEOUT_S, refused_line

log = logging.getLogger("tokentax.stream")

QUEUE_LIMIT = 20_000


class _Client:
    __slots__ = ("writer", "queue", "wake", "dropped", "peer")

    def __init__(self, writer: asyncio.StreamWriter, peer: str) -> None:
        self.writer = writer
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.dropped = 0
        self.peer = peer


class StreamServer:
    def __init__(self, host: str, port: int, token: str, greeting: Callable[[], list[bytes]]) -> None:
        self.host, self.port, self.token = host, port, token
        self.greeting = greeting  # lines sent to a new client before live events
        self.clients: set[_Client] = set()
        self.dropped = 0
        self.refused = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=64 * 1024)
        sock = self._server.sockets[0].getsockname()
        self.port = sock[1]
        return sock[0], sock[1]

    def publish(self, line: bytes) -> None:
        """Queue one encoded event for every client. Never blocks."""
        for c in self.clients:
            if len(c.queue) >= QUEUE_LIMIT:
                c.dropped += 1
                self.dropped += 1
                continue
            c.queue.append(line)
            c.wake.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        try:
            line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
            hello = json.loads(line)
            if not isinstance(hello, dict) or hello.get("hello") != HELLO:
                raise ValueError("bad hello")
            if self.token and not hmac.compare_digest(str(hello.get("token", "")), self.token):
                self.refused += 1
                writer.write(refused_line("bad or missing stream token"))
                await writer.drain()
                raise PermissionError("bad token")
        except (
            TimeoutError,
            ValueError,
            PermissionError,
            ConnectionError,
            UnicodeDecodeError,
            asyncio.LimitOverrunError,
        ):
            writer.close()
            return
        client = _Client(writer, peer)
        for greeting_line in self.greeting():
            client.queue.append(greeting_line)
        client.wake.set()
        self.clients.add(client)
        writer_task = asyncio.create_task(self._pump(client))
        self._tasks.add(writer_task)
        try:
            # Clients have nothing more to say; anything but EOF is garbage and ends them.
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                try:
                    for part in data.splitlines():
                        if part.strip():
                            json.loads(part)
                except ValueError:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(client)
            writer_task.cancel()
            self._tasks.discard(writer_task)
            writer.close()

    async def _pump(self, client: _Client) -> None:
        w = client.writer
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                while client.queue:
                    n = min(len(client.queue), 512)
                    w.write(b"".join(client.queue.popleft() for _ in range(n)))
                    await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self.clients):
            c.writer.close()
        # A stalled client's transport cannot close while it holds unsent bytes: without this
        # it stayed in `clients` and events published after stop() counted as its drops.
        self.clients.clear()
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except (TimeoutError, Exception):
                pass
