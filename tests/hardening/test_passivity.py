"""Passivity: a corpus of exchanges through mitmdump with the addon and through mitmdump
without it; the client must receive the same bytes.

The upstreams are real servers on 127.0.0.1 (uvicorn for HTTP/1.1 and WebSockets, an
h2-over-TLS server for HTTP/2) that send no Date or Server header, so a response is the
same bytes every time. HTTP/1.1 exchanges use raw sockets (`Connection: close`, read to
EOF) and compare the whole response, framing included: no client decodes gzip, brotli or
chunked for us. HTTP/2 compares status, header list and raw body. Request passivity is
covered by echo endpoints that report what the upstream received.

Each exchange also waits for its flow event on the addon's stream, and for the addon's
next health event with zero errors: the addon really saw the traffic it did not touch.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import brotli
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from inspector.lab.common import free_port
from inspector.mitm.launch import Mitmdump
from tests.hardening.servers import H2Server, PlainMitmdump, StreamWatcher, ThreadedUvicorn, self_signed

BIG = os.urandom(50 * 1024 * 1024)  # 50 MB, sent both ways in the streamed configuration
TOKEN_BIG = json.dumps(
    {"access_token": "big-" + "t" * 40, "token_type": "Bearer", "expires_in": 3600, "pad": "p" * (10 * 1024 * 1024)}
).encode()
JSON_BODY = json.dumps({"items": list(range(200)), "name": "caf\u00e9 \u2713"}).encode()
LATIN1 = b"\xff\xfe\x00caf\xe9 \x80\x81 not utf-8 \xc3\x28"
TOKEN_JSON = json.dumps(
    {
        "access_token": "at-passive-0123456789",
        "token_type": "Bearer",
        "expires_in": 38399,
        "refresh_token": "rt-passive-0123456789",
        "id_token": "idt.passive.0123456789",
        "scope": "orders",
    }
).encode()


# -- the upstreams ------------------------------------------------------------------------------


async def gzip_body(_: Request) -> Response:
    return Response(
        gzip.compress(JSON_BODY, mtime=0),
        headers={"content-encoding": "gzip", "vary": "accept-encoding"},
        media_type="application/json",
    )


async def br_body(_: Request) -> Response:
    return Response(brotli.compress(JSON_BODY), headers={"content-encoding": "br"}, media_type="application/json")


async def chunked(_: Request) -> StreamingResponse:
    async def parts():
        for i in range(20):
            yield b"chunk-%d;" % i * (i + 1)

    return StreamingResponse(parts(), media_type="text/plain")


async def big(_: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def sink(request: Request) -> JSONResponse:
    h = hashlib.sha256()
    n = 0
    async for part in request.stream():
        h.update(part)
        n += len(part)
    return JSONResponse({"bytes": n, "sha256": h.hexdigest()})


async def echo(request: Request) -> JSONResponse:
    """What the upstream received: raw header list (bytes as latin-1) and the body."""
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body_b64": base64.b64encode(body).decode(),
        }
    )


async def latin1(_: Request) -> Response:
    return Response(LATIN1, headers={"content-type": "text/plain; charset=iso-8859-1", "x-name": "caf\u00e9"})


async def no_content(_: Request) -> Response:
    return Response(status_code=204, headers={"x-kept": "1"})


async def not_modified(_: Request) -> Response:
    return Response(status_code=304, headers={"etag": '"v1"', "cache-control": "max-age=60"})


async def head_target(_: Request) -> Response:
    return Response(JSON_BODY, media_type="application/json")  # HEAD: starlette keeps content-length, drops body


async def token(request: Request) -> Response:
    await request.body()  # read it all: closing on unread bytes sends a RST that cuts the response
    return Response(TOKEN_JSON, media_type="application/json", headers={"cache-control": "no-store"})


async def token_html(request: Request) -> Response:
    await request.body()  # read it all: closing on unread bytes sends a RST that cuts the response
    return Response(b"<html><body>502 upstream auth proxy error</body></html>", media_type="text/html")


async def token_broken_json(request: Request) -> Response:
    await request.body()  # read it all: closing on unread bytes sends a RST that cuts the response
    return Response(b'{"access_token": "at-broken-0123456789", "token_type": "Bea', media_type="application/json")


async def token_big(request: Request) -> Response:
    await request.body()  # read it all: closing on unread bytes sends a RST that cuts the response
    return Response(TOKEN_BIG, media_type="application/json")


async def ws_echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("text") is not None:
                await ws.send_text(msg["text"])
            else:
                await ws.send_bytes(msg["bytes"])
    except WebSocketDisconnect:
        return


APP = Starlette(
    routes=[
        Route("/gzip", gzip_body),
        Route("/br", br_body),
        Route("/chunked", chunked),
        Route("/big", big),
        Route("/sink", sink, methods=["POST"]),
        Route("/echo", echo, methods=["GET", "POST", "PUT"]),
        Route("/latin1", latin1),
        Route("/204", no_content),
        Route("/304", not_modified),
        Route("/head", head_target, methods=["GET", "HEAD"]),
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/oauth2/token-html", token_html, methods=["POST"]),
        Route("/oauth2/token-broken", token_broken_json, methods=["POST"]),
        Route("/oauth2/token-big", token_big, methods=["POST"]),
        WebSocketRoute("/ws", ws_echo),
    ]
)

H2_BIG = os.urandom(2 * 1024 * 1024)


def h2_handler(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
    if path == "/h2/small":
        return 200, [("content-type", "application/json"), ("x-odd", "a  b")], JSON_BODY
    if path == "/h2/gzip":
        return (
            200,
            [("content-type", "application/json"), ("content-encoding", "gzip")],
            gzip.compress(JSON_BODY, mtime=0),
        )
    if path == "/h2/big":
        return 200, [("content-type", "application/octet-stream")], H2_BIG
    if path == "/oauth2/token" and method == "POST":
        return 200, [("content-type", "application/json"), ("cache-control", "no-store")], TOKEN_JSON
    if path == "/h2/echo":
        return (
            200,
            [("content-type", "application/json")],
            json.dumps(
                {"headers": sorted([k, v] for k, v in headers.items()), "body": hashlib.sha256(body).hexdigest()}
            ).encode(),
        )
    return 404, [("content-type", "text/plain")], b"no such path"


@dataclass
class Upstreams:
    http: ThreadedUvicorn
    h2: H2Server


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    cert, key = self_signed(tmp_path_factory.mktemp("upstream-tls"))
    http = ThreadedUvicorn(APP, h11_max_incomplete_event_size=1 << 20)
    h2 = H2Server(h2_handler, cert, key)
    try:
        yield Upstreams(http, h2)
    finally:
        http.stop()
        h2.stop()


# -- the two proxies ----------------------------------------------------------------------------

CONFIGS = {"buffered": [], "streamed": ["--set", "stream_large_bodies=1m"]}


@dataclass
class Proxy:
    http: int  # reverse listener in front of the HTTP/1.1 + WebSocket upstream
    h2: int  # reverse https listener in front of the HTTP/2 upstream


@dataclass
class Pair:
    config: str
    plain: Proxy
    addon: Proxy
    watcher: StreamWatcher
    ca: Path


def _proxy_args(up: Upstreams, proxy: Proxy, confdir: Path, config: str) -> list[str]:
    return [
        "--listen-host",
        "127.0.0.1",
        "--set",
        f"confdir={confdir}",
        "--set",
        "ssl_insecure=true",
        "--mode",
        f"reverse:{up.http.url}@{proxy.http}",
        "--mode",
        f"reverse:{up.h2.url}@{proxy.h2}",
        *CONFIGS[config],
    ]


@pytest.fixture(scope="module")
def pair(
    request: pytest.FixtureRequest, upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    config = request.param
    confdir = tmp_path_factory.mktemp(f"mitm-conf-{config}")
    plain_ports, addon_ports = Proxy(free_port(), free_port()), Proxy(free_port(), free_port())
    plain = PlainMitmdump(_proxy_args(upstreams, plain_ports, confdir, config), listeners=2)
    addon = Mitmdump(
        [
            *_proxy_args(upstreams, addon_ports, confdir, config),
            "--set",
            "tokentax_stream=127.0.0.1:0",  # no inbound listener: roles by shape
            "--set",
            "tokentax_status=0",
        ]
    )
    watcher = None
    try:
        plain.start()  # first: it writes the CA into confdir that both then use
        addon.start()
        watcher = StreamWatcher(addon.stream)
        yield Pair(config, plain_ports, addon_ports, watcher, confdir / "mitmproxy-ca-cert.pem")
    finally:
        if watcher is not None:
            watcher.close()
        addon.stop()
        plain.stop()
    out = addon.output()
    assert "addon error" not in out and "Traceback" not in out, out


def _await_seen(pair: Pair, path: str, start: int) -> dict:
    """The addon's flow event for `path`, then its next health event: no addon error."""
    i, ev = pair.watcher.wait_for(lambda e: e.get("type") == "flow" and e.get("path") == path, start=start)
    _, health = pair.watcher.wait_for(lambda e: e.get("type") == "addon", start=i + 1)
    assert health["errors"] == 0
    return ev


# -- HTTP/1.1 over raw sockets --------------------------------------------------------------------


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send request bytes, read the whole response to EOF (Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(request)
        parts = []
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            parts.append(chunk)
    return b"".join(parts)


def req(
    method: str, path: str, headers: list[tuple[bytes, bytes]] = (), body: bytes | None = None, chunked: bool = False
) -> bytes:
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: upstream.test", b"Connection: close"]
    head += [k + b": " + v for k, v in headers]
    if chunked and body is not None:
        head.append(b"Transfer-Encoding: chunked")
        step = 7
        payload = (
            b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + step]), body[i : i + step]) for i in range(0, len(body), step))
            + b"0\r\n\r\n"
        )
    elif body is not None:
        head.append(b"Content-Length: %d" % len(body))
        payload = body
    else:
        payload = b""
    return b"\r\n".join(head) + b"\r\n\r\n" + payload


FORM = b"grant_type=client_credentials&client_id=gw&client_secret=cs-passive-0123456789"
FORM_HEADERS = [
    (b"Content-Type", b"application/x-www-form-urlencoded"),
    (b"Authorization", b"Basic " + base64.b64encode(b"gw:cs-passive-0123456789")),
]

# name -> (request bytes, path the flow event carries, configurations, expected status)
CORPUS: dict[str, tuple[bytes, str, tuple[str, ...], int]] = {
    "gzip": (req("GET", "/gzip", [(b"Accept-Encoding", b"gzip")]), "/gzip", ("buffered",), 200),
    "brotli": (req("GET", "/br", [(b"Accept-Encoding", b"br")]), "/br", ("buffered",), 200),
    "chunked-response": (req("GET", "/chunked"), "/chunked", ("buffered", "streamed"), 200),
    "chunked-request": (
        req("POST", "/echo", [(b"Content-Type", b"application/octet-stream")], LATIN1 * 50, chunked=True),
        "/echo",
        ("buffered", "streamed"),
        200,
    ),
    "odd-request-headers": (
        req(
            "PUT",
            "/echo?x=%ff&y",
            [
                (b"Authorization", b"Bearer at-passive-0123456789"),
                (b"X-Dup", b"one"),
                (b"x-dup", b"two"),
                (b"X-Latin", b"caf\xe9 \xff"),
                (b"X-Spaces", b"a   b"),
                (b"traceparent", b"00-" + b"ab" * 16 + b"-" + b"cd" * 8 + b"-01"),
                (b"Cookie", b"session=s3cr3t"),
            ],
            b"body\x00\xff",
        ),
        "/echo",
        ("buffered",),
        200,
    ),
    "non-utf8-body": (req("GET", "/latin1"), "/latin1", ("buffered",), 200),
    "204": (req("GET", "/204"), "/204", ("buffered",), 204),
    "304": (req("GET", "/304", [(b"If-None-Match", b'"v1"')]), "/304", ("buffered",), 304),
    "head": (req("HEAD", "/head"), "/head", ("buffered",), 200),
    "token-json": (req("POST", "/oauth2/token", FORM_HEADERS, FORM), "/oauth2/token", ("buffered",), 200),
    "token-not-json": (req("POST", "/oauth2/token-html", FORM_HEADERS, FORM), "/oauth2/token-html", ("buffered",), 200),
    "token-broken-json": (
        req("POST", "/oauth2/token-broken", FORM_HEADERS, FORM),
        "/oauth2/token-broken",
        ("buffered",),
        200,
    ),
    "token-json-10mb": (
        req("POST", "/oauth2/token-big", FORM_HEADERS, FORM),
        "/oauth2/token-big",
        ("buffered", "streamed"),
        200,
    ),
    "body-50mb-down": (req("GET", "/big"), "/big", ("streamed",), 200),
    "body-50mb-up": (
        req("POST", "/sink", [(b"Content-Type", b"application/octet-stream")], BIG),
        "/sink",
        ("streamed",),
        200,
    ),
}


def _cases(config: str) -> list[str]:
    return [name for name, case in CORPUS.items() if config in case[2]]


@pytest.mark.parametrize("pair", ["buffered"], indirect=True)
@pytest.mark.parametrize("name", _cases("buffered"))
def test_http1_buffered_identical_with_and_without_addon(pair: Pair, name: str) -> None:
    _http1_case(pair, name)


@pytest.mark.parametrize("pair", ["streamed"], indirect=True)
@pytest.mark.parametrize("name", _cases("streamed"))
def test_http1_streamed_identical_with_and_without_addon(pair: Pair, name: str) -> None:
    _http1_case(pair, name)


def _http1_case(pair: Pair, name: str) -> None:
    request_bytes, path, _configs, status = CORPUS[name]
    mark = len(pair.watcher.events)
    without = raw_exchange(pair.plain.http, request_bytes)
    with_addon = raw_exchange(pair.addon.http, request_bytes)
    assert without.split(b" ", 2)[1] == str(status).encode(), without[:300]
    if with_addon != without:  # show where, not 50 MB
        i = next((k for k, (a, b) in enumerate(zip(with_addon, without)) if a != b), min(len(with_addon), len(without)))
        pytest.fail(
            f"{name}: responses differ at byte {i} (lengths {len(with_addon)} vs {len(without)}): "
            f"with addon {with_addon[max(0, i - 60) : i + 60]!r} / without {without[max(0, i - 60) : i + 60]!r}"
        )
    ev = _await_seen(pair, path, mark)
    assert ev["status"] == status
    if name == "body-50mb-down":
        assert ev["size"]["resp"] == 0  # streamed through: the addon never held the body
    if name == "body-50mb-up":
        assert json.loads(with_addon.split(b"\r\n\r\n", 1)[1]) == {
            "bytes": len(BIG),
            "sha256": hashlib.sha256(BIG).hexdigest(),
        }
    if name == "token-json":
        assert ev["role"] == "callout" and ev["token"]["refresh"] is True and ev["token"]["expires_in"] == 38399


# -- HTTP/2 over TLS ---------------------------------------------------------------------------------

H2_CASES = {
    "h2-small": ("GET", "/h2/small", None),
    "h2-gzip": ("GET", "/h2/gzip", None),
    "h2-big": ("GET", "/h2/big", None),
    "h2-token": ("POST", "/oauth2/token", FORM),
    "h2-echo": ("POST", "/h2/echo", b"\x00\xff" * 1000),
}


def h2_exchange(port: int, ca: Path, method: str, path: str, body: bytes | None) -> tuple:
    ctx = ssl.create_default_context(cafile=str(ca))
    headers = {
        "accept-encoding": "gzip",
        "authorization": "Bearer at-passive-0123456789",
        "content-type": "application/x-www-form-urlencoded",
    }
    with httpx.Client(http2=True, verify=ctx, trust_env=False, timeout=60) as c:
        with c.stream(method, f"https://127.0.0.1:{port}{path}", content=body, headers=headers) as r:
            raw = b"".join(r.iter_raw())  # undecoded: gzip stays gzip
            return r.http_version, r.status_code, list(r.headers.raw), raw


@pytest.mark.parametrize("pair", ["buffered"], indirect=True)
@pytest.mark.parametrize("name", list(H2_CASES))
def test_http2_identical_with_and_without_addon(pair: Pair, name: str) -> None:
    method, path, body = H2_CASES[name]
    mark = len(pair.watcher.events)
    without = h2_exchange(pair.plain.h2, pair.ca, method, path, body)
    with_addon = h2_exchange(pair.addon.h2, pair.ca, method, path, body)
    assert without[0] == "HTTP/2" and without[1] == 200
    assert with_addon == without
    ev = _await_seen(pair, path, mark)
    assert ev["scheme"] == "https" and ev["status"] == 200


# -- WebSockets ------------------------------------------------------------------------------------

WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # fixed, so the handshake answer is the same bytes each time


def ws_conversation(port: int) -> bytes:
    """Handshake, then text, binary, large and unicode messages one at a time (each echo awaited),
    then a close; returns every byte the client received."""
    from wsproto.frame_protocol import FrameProtocol, Opcode

    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(
            b"GET /ws HTTP/1.1\r\nHost: upstream.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + WS_KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, received
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        received += head + b"\r\n\r\n"
        assert head.startswith(b"HTTP/1.1 101"), head
        fp = FrameProtocol(client=True, extensions=[])
        pending = bytearray(rest)

        def next_frame():
            while True:
                if pending:
                    fp.receive_bytes(bytes(pending))
                    pending.clear()
                for frame in fp.received_frames():
                    return frame
                chunk = s.recv(1 << 16)
                if not chunk:
                    return None
                received.extend(chunk)
                pending.extend(chunk)

        received += rest
        messages: list[str | bytes] = [
            "hello",
            b"\x00\x01\xff" * 10,
            "caf\u00e9 \u2713 \U0001f600",
            bytes(range(256)) * 800,
            "",
        ]
        for msg in messages:
            s.sendall(fp.send_data(msg, fin=True))
            parts = []
            while True:
                frame = next_frame()
                assert frame is not None, "connection closed before the echo"
                parts.append(frame.payload)
                if frame.message_finished:
                    break
            got = "".join(parts) if isinstance(msg, str) else b"".join(parts)
            assert got == msg
        s.sendall(fp.close(1000, "bye"))
        while True:
            frame = next_frame()
            if frame is None or frame.opcode is Opcode.CLOSE:
                break
    return bytes(received)


@pytest.mark.parametrize("pair", ["buffered"], indirect=True)
def test_websocket_identical_with_and_without_addon(pair: Pair) -> None:
    mark = len(pair.watcher.events)
    without = ws_conversation(pair.plain.http)
    with_addon = ws_conversation(pair.addon.http)
    assert with_addon == without
    ev = _await_seen(pair, "/ws", mark)
    assert ev["status"] == 101
