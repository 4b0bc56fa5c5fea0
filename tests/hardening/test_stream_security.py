"""The live stream's gatekeeping, beyond tests/e2e/test_addon.py (which covers the
non-loopback refusal without a token, a wrong or missing token refused, and a garbage
client dropped while another keeps its events).

Here: a refused client gets exactly one line and nothing of the session; a silent or
half-hello client is dropped at the hello timeout and blocks no one meanwhile; malformed
hellos (not an object, another protocol, bytes that are not UTF-8, a line over the
reader's limit, a token that is not a string) are dropped before any event is sent; the
stream token never shows up in anything the proxy writes.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inspector.lab.common import free_port
from inspector.live.stream_server import HELLO_TIMEOUT_S
from inspector.mitm.launch import Mitmdump
from tests.hardening.servers import FastBackend, Hammer, StreamWatcher

TOKEN = "stream-token-" + "Zq9" * 8


@dataclass
class Proxy:
    mitm: Mitmdump
    port: int
    host: str
    stream_port: int
    capture: Path


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    backend = FastBackend()
    port = free_port()
    cap = tmp_path_factory.mktemp("stream-sec") / "cap.jsonl"
    m = Mitmdump(
        [
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:{backend.url}@{port}",
            "--set",
            "tokentax_stream=127.0.0.1:0",
            f"--set=tokentax_stream_token={TOKEN}",
            "--set",
            "tokentax_status=0.5",
            "--set",
            f"tokentax_save={cap}",
        ]
    )
    try:
        m.start()
        host, sport = m.stream.rsplit(":", 1)
        yield Proxy(m, port, host, int(sport), cap)
    finally:
        m.stop()
        backend.stop()


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes (timeout is a failure guard)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def _connect(p: Proxy) -> socket.socket:
    return socket.create_connection((p.host, p.stream_port), timeout=10)


def test_refused_client_gets_one_line_and_nothing_of_the_session(proxy: Proxy) -> None:
    for token in ("wrong", "", TOKEN[:-1], TOKEN + "x"):
        with _connect(proxy) as s:
            s.sendall(json.dumps({"hello": "tokentax/1", "token": token}).encode() + b"\n")
            data = _read_all(s, 10)
        lines = data.splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["type"] == "refused", data
        assert b"session" not in data and b"summary" not in data and b"key_id" not in data
        if token:
            assert token.encode() not in data  # what the client sent is not echoed


def test_silent_and_half_hello_clients_are_dropped_and_block_no_one(proxy: Proxy) -> None:
    idle = [_connect(proxy) for _ in range(20)]
    half = _connect(proxy)
    half.sendall(b'{"hello": "tokentax/1", "tok')  # and never the rest of the line
    started = time.monotonic()
    good = StreamWatcher(f"{proxy.host}:{proxy.stream_port}", TOKEN)
    try:
        good.wait_for(lambda e: e.get("type") == "session")
        mark = len(good.events)
        assert set(Hammer(proxy.port, clients=2).run(20)) == {200}  # the proxy serves meanwhile
        good.wait_count("flow", 20)
        assert good.events[mark:]  # live events reached the good client while the others hang
        for s in [*idle, half]:
            assert _read_all(s, HELLO_TIMEOUT_S + 20) == b""  # closed without a byte
        assert time.monotonic() - started >= HELLO_TIMEOUT_S - 0.5  # dropped at the hello timeout
        assert set(Hammer(proxy.port, clients=1).run(3)) == {200}
        good.wait_count("flow", 23)
    finally:
        good.close()
        for s in [*idle, half]:
            s.close()


@pytest.mark.parametrize(
    "hello",
    [
        b"[]\n",
        b'"tokentax/1"\n',
        b'{"hello": "tokentax/2", "token": "' + TOKEN.encode() + b'"}\n',
        b'{"token": "' + TOKEN.encode() + b'"}\n',
        b"\xff\xfe\xfd not utf-8\n",
        b'{"hello": "tokentax/1", "token": "' + TOKEN.encode() + b'", "pad": "' + b"p" * 70_000 + b'"}\n',
        b'{"hello": "tokentax/1", "token": 12345}\n',
        b"\n",
    ],
    ids=["array", "string", "other-protocol", "no-hello", "not-utf8", "over-64k", "token-not-string", "empty"],
)
def test_malformed_hello_is_dropped_before_any_event(proxy: Proxy, hello: bytes) -> None:
    good = StreamWatcher(f"{proxy.host}:{proxy.stream_port}", TOKEN)
    try:
        good.wait_for(lambda e: e.get("type") == "session")
        with _connect(proxy) as s:
            try:
                s.sendall(hello)
            except ConnectionResetError:  # the server may hang up mid-send (the 64 KiB case)
                pass
            try:
                data = _read_all(s, 20)
            except ConnectionResetError:
                data = b""
        assert b'"session"' not in data and b'"flow"' not in data
        assert all(json.loads(line)["type"] == "refused" for line in data.splitlines()), data
        n = good.count("flow")
        assert set(Hammer(proxy.port, clients=1).run(2)) == {200}
        good.wait_count("flow", n + 2)  # the good client is unaffected
    finally:
        good.close()


def test_stream_token_is_never_written_anywhere(proxy: Proxy) -> None:
    tap = StreamWatcher(f"{proxy.host}:{proxy.stream_port}", TOKEN)
    try:
        tap.wait_for(lambda e: e.get("type") == "summary")
        assert set(Hammer(proxy.port, clients=1).run(3)) == {200}
        tap.wait_for(lambda e: e.get("type") == "addon", start=len(tap.events))
    finally:
        data = tap.close()
    assert TOKEN.encode() not in data
    assert TOKEN not in proxy.mitm.output()
    assert TOKEN.encode() not in proxy.capture.read_bytes()
