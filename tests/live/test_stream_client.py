"""The stream client against the real stream server of the addon, on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from inspector.lab.common import free_port
from inspector.live.stream_client import DISCONNECTED, LIVE, REFUSED, StreamClient, parse_address, probe
from inspector.live.stream_server import StreamServer
from inspector.schema import events as E
from tests.support.factory import flow
from tests.support.pilot import until


def session(key_id: str) -> E.Event:
    return E.session_event(1.0, source="live", key_id=key_id)


def summary(n: int) -> E.Event:
    return {"v": 1, "type": "summary", "ts": 2.0, "report": {"events": n, "flows": {"inbound": n}}}


async def serve(port: int, key_id: str, token: str = "") -> StreamServer:
    server = StreamServer("127.0.0.1", port, token, lambda: [E.encode(session(key_id)), E.encode(summary(0))])
    await server.start()
    return server


async def next_batch(gen: AsyncIterator[list[E.Event]]) -> list[E.Event]:
    return await asyncio.wait_for(anext(gen), 30)


async def test_greeting_then_live_events_in_batches() -> None:
    port = free_port()
    server = await serve(port, "k1")
    client = StreamClient("127.0.0.1", port)
    gen = client.batches()
    try:
        got: list[E.Event] = []
        while len(got) < 2:
            got += await next_batch(gen)
        assert [e["type"] for e in got[:2]] == ["session", "summary"]
        assert client.state == LIVE and client.connects == 1
        await until(lambda: server.clients, "the server to register the client")
        for i in range(50):
            server.publish(E.encode(flow("inbound", 10.0 + i, 5)))
        events: list[E.Event] = []
        while len(events) < 50:
            events += await next_batch(gen)
        assert [e["ts"] for e in events] == [10.0 + i for i in range(50)]
        assert client.received == 52
    finally:
        client.close()
        await gen.aclose()
        await server.stop()


async def test_reattaches_when_the_proxy_comes_back_on_the_same_port() -> None:
    port = free_port()
    server = await serve(port, "first")
    states: list[str] = []
    client = StreamClient("127.0.0.1", port, min_backoff=0.02, max_backoff=0.2, on_state=lambda s, r: states.append(s))
    seen: list[E.Event] = []

    async def consume() -> None:
        async for batch in client.batches():
            seen.extend(batch)

    task = asyncio.create_task(consume())
    try:
        await until(lambda: any(e.get("key_id") == "first" for e in seen), "the first greeting")
        await server.stop()
        await until(lambda: client.state == DISCONNECTED, "the client to notice the proxy died")
        server = await serve(port, "second")
        await until(lambda: any(e.get("key_id") == "second" for e in seen), "the greeting after the restart")
        assert client.state == LIVE and client.connects == 2
        assert states[-2:] == [DISCONNECTED, LIVE]
    finally:
        client.close()
        await asyncio.wait_for(task, 30)
        await server.stop()


async def test_wrong_token_is_refused_and_said() -> None:
    port = free_port()
    server = await serve(port, "k", token="right")
    client = StreamClient("127.0.0.1", port, "wrong", min_backoff=0.02, max_backoff=0.05)

    async def consume() -> None:
        async for _ in client.batches():
            pass

    task = asyncio.create_task(consume())
    try:
        await until(lambda: client.state == REFUSED, "the refusal")
        assert "token" in client.reason and client.connects == 0
    finally:
        client.close()
        await asyncio.wait_for(task, 30)
        await server.stop()


async def test_garbage_lines_are_counted_not_fatal() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"not json\n" + E.encode(session("k")) + b'{"v": 99, "type": "flow"}\n')
        await writer.drain()
        await reader.read()  # hold the connection open until the client goes

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = StreamClient("127.0.0.1", port)
    gen = client.batches()
    try:
        batch = await next_batch(gen)
        assert [e["type"] for e in batch] == ["session"]
        assert client.bad_lines == 2
    finally:
        client.close()
        await gen.aclose()
        server.close()


async def test_close_ends_a_client_waiting_to_reconnect() -> None:
    client = StreamClient("127.0.0.1", free_port(), min_backoff=30, max_backoff=30)

    async def consume() -> None:
        async for _ in client.batches():
            pass

    task = asyncio.create_task(consume())
    await until(lambda: client.reason, "the first failed connect")
    client.close()
    await asyncio.wait_for(task, 30)


async def test_probe_says_why_before_a_ui_starts() -> None:
    port = free_port()
    down = await asyncio.to_thread(probe, "127.0.0.1", port)
    assert down is not None and "connection refused" in str(down) and down.unreachable
    server = await serve(port, "k", token="t")
    try:
        assert await asyncio.to_thread(probe, "127.0.0.1", port, "t") is None
        refused = await asyncio.to_thread(probe, "127.0.0.1", port, "bad")
        assert refused is not None and "refused" in str(refused) and not refused.unreachable
    finally:
        await server.stop()


@pytest.mark.parametrize("text", ["nonsense", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:99999"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)
