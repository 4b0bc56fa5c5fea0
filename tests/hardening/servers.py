"""Real servers and proxies for the hardening tests, all on 127.0.0.1.

- `ThreadedUvicorn`: a Starlette app under uvicorn on its own thread (HTTP/1.1 and, via
  wsproto, WebSockets), its socket bound and listening before the thread starts, so it
  accepts from the first moment. No Date or Server header: responses are deterministic.
- `H2Server`: an HTTP/2-over-TLS server (ALPN h2) built on the `h2` state machine that
  mitmproxy itself uses, with a self-signed certificate.
- `PlainMitmdump`: mitmdump WITHOUT the addon; ready when each listener logged
  "listening at".
- `StreamWatcher`: a tokentax stream client on a thread whose events a test can await.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from bench.overhead import BACKEND as FAST_BACKEND  # the benches' fast upstream, also for tests
from inspector.mitm.launch import mitmdump_command


class ThreadedUvicorn:
    def __init__(self, app: Any, **config: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            ws="wsproto",
            server_header=False,
            date_header=False,
            **config,
        )
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


# -- HTTP/2 ------------------------------------------------------------------------------------


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "upstream-cert.pem", directory / "upstream-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


H2Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, list[tuple[str, str]], bytes]]


class _H2Protocol(asyncio.Protocol):
    def __init__(self, handler: H2Handler) -> None:
        import h2.config
        import h2.connection

        self.handler = handler
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.requests: dict[int, tuple[list[tuple[str, str]], bytearray]] = {}
        self.pending: dict[int, memoryview] = {}  # response bodies waiting for flow-control window
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.initiate_connection()
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        import h2.events as ev
        import h2.exceptions

        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for e in events:
            if isinstance(e, ev.RequestReceived):
                self.requests[e.stream_id] = (list(e.headers), bytearray())
            elif isinstance(e, ev.DataReceived):
                if e.stream_id in self.requests:
                    self.requests[e.stream_id][1].extend(e.data)
                self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, ev.StreamEnded) and e.stream_id in self.requests:
                self._respond(e.stream_id)
            elif isinstance(e, ev.StreamReset):
                self.pending.pop(e.stream_id, None)
            elif isinstance(e, ev.ConnectionTerminated):
                self.transport.close()
        self._flush()

    def _respond(self, sid: int) -> None:
        headers, body = self.requests.pop(sid)
        h = dict(headers)
        status, resp_headers, resp_body = self.handler(h.get(":method", ""), h.get(":path", ""), h, bytes(body))
        out = [(":status", str(status)), *resp_headers]
        if h.get(":method") != "HEAD":
            out.append(("content-length", str(len(resp_body))))
        end = not resp_body or h.get(":method") == "HEAD"
        self.conn.send_headers(sid, out, end_stream=end)
        if not end:
            self.pending[sid] = memoryview(resp_body)

    def _flush(self) -> None:
        for sid in list(self.pending):
            data = self.pending[sid]
            while data:
                window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk, data = data[:window], data[window:]
                self.conn.send_data(sid, bytes(chunk), end_stream=not data)
            if data:
                self.pending[sid] = data
            else:
                del self.pending[sid]
        if self.transport is not None:
            self.transport.write(self.conn.data_to_send())


class H2Server:
    """HTTP/2 over TLS on its own thread; `handler(method, path, headers, body) -> (status, headers, body)`."""

    def __init__(self, handler: H2Handler, cert: Path, key: Path) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            self.loop.create_server(lambda: _H2Protocol(handler), "127.0.0.1", 0, ssl=ctx), self.loop
        )
        self.server = fut.result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# -- mitmdump without the addon ----------------------------------------------------------------

_LISTENING = re.compile(r"listening at")


class PlainMitmdump:
    """mitmdump as users run it without tokentax; `start()` returns when every listener is up."""

    def __init__(self, args: list[str], listeners: int) -> None:
        self.args, self.listeners = args, listeners
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._up = threading.Semaphore(0)

    def start(self, timeout: float = 30.0) -> PlainMitmdump:
        self.proc = subprocess.Popen(
            mitmdump_command() + self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        threading.Thread(target=self._read, daemon=True).start()
        for _ in range(self.listeners):
            if not self._up.acquire(timeout=timeout) or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("plain mitmdump did not start:\n" + "\n".join(self.lines[-20:]))
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if _LISTENING.search(line):
                self._up.release()
        for _ in range(self.listeners):  # died: wake the starter
            self._up.release()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# -- the addon's event stream -------------------------------------------------------------------


class StreamWatcher:
    """Reads a tokentax stream on a thread; `wait_for(pred)` returns the first matching event."""

    def __init__(self, addr: str, token: str = "") -> None:
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.settimeout(None)
        self.sock.sendall(json.dumps({"hello": "tokentax/1", "token": token}).encode() + b"\n")
        self.raw = bytearray()
        self.events: list[dict[str, Any]] = []
        self.closed = False
        self._cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    self.closed = True
                    self._cond.notify_all()
                    return
                self.raw += chunk
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.events.append(json.loads(line))
                self._cond.notify_all()

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 30.0, start: int = 0
    ) -> tuple[int, dict[str, Any]]:
        """(index, event) of the first event at or after `start` that matches."""
        i = start
        with self._cond:
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return i, self.events[i]
                    i += 1
                if self.closed:
                    raise AssertionError("the stream closed before the awaited event")
                if not self._cond.wait(timeout):
                    raise AssertionError(f"no awaited event within {timeout} s; last: {self.events[-3:]}")

    def count(self, type_: str) -> int:
        with self._cond:
            return sum(1 for e in self.events if e.get("type") == type_)

    def wait_count(self, type_: str, n: int, timeout: float = 30.0) -> None:
        """Until `n` events of this type arrived."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for e in self.events if e.get("type") == type_) >= n or self.closed, timeout
            )
            got = sum(1 for e in self.events if e.get("type") == type_)
        assert ok and got >= n, f"{got} of {n} {type_} events"

    def close(self) -> bytes:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)
        return bytes(self.raw)


# -- a TCP relay: an upstream that comes back ------------------------------------------------------


class TcpRelay:
    """Listens on `port` and pipes every connection to `target` (host, port), until stop()."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self._conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop = True
        self.sock.close()
        for c in self._conns:
            c.close()


# -- the addon under mitmdump with a test-only tweak --------------------------------------------------

_SMALL_SNDBUF = """
import socket
from inspector.lab.common import free_port
_handle = stream.StreamServer._handle


async def _small_sndbuf(self, reader, writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:  # fixed size: no autotuning up to 4 MB in front of a stalled client
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    return await _handle(self, reader, writer)


stream.StreamServer._handle = _small_sndbuf
"""


def addon_script(directory: Path, queue_limit: int | None = None, small_sndbuf: bool = False) -> Path:
    """A `-s` script loading the real addon, with test-only knobs for the stream to a stalled client:
    `queue_limit` shrinks the per-client queue (inspector.live.stream_server.QUEUE_LIMIT, read at publish
    time, 20,000 by default); `small_sndbuf` fixes the kernel send buffer of stream connections at
    8 KiB (Linux otherwise autotunes it to ~4 MB, some 8,000 events, before the queue even fills)."""
    lines = ["import inspector.live.stream_server as stream"]
    if queue_limit is not None:
        lines.append(f"stream.QUEUE_LIMIT = {queue_limit}")
    if small_sndbuf:
        lines.append(_SMALL_SNDBUF)
    lines += ["from inspector.mitm.addon import TokenTax", "addons = [TokenTax()]"]
    path = directory / "tokentax_test_script.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def scripted_mitmdump(script: Path, args: list[str], **kw: Any) -> Any:
    """inspector.mitm.launch.Mitmdump (ready-line wait, stop, kill) running `script` instead of the packaged one."""
    from inspector.mitm.launch import Mitmdump

    class _Scripted(Mitmdump):
        @property
        def command(self) -> list[str]:
            return mitmdump_command() + ["-q", "-s", str(script)] + self.args

    return _Scripted(args, **kw)


# -- a fast upstream in its own process -------------------------------------------------------------


class FastBackend:
    """A minimal keep-alive HTTP/1.1 server in its own process: throughput tests are not
    slowed by the test process's GIL. Every request gets the same small JSON answer."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FAST_BACKEND], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("the fast backend did not start")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Hammer:
    """Requests over kept-alive connections on threads; records each completion time."""

    def __init__(self, port: int, clients: int = 4) -> None:
        self.port, self.clients = port, clients
        self.done: list[float] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.reached = threading.Event()
        self.target = 0

    def run(self, n: int) -> list[int]:
        """n requests, blocking; the statuses."""
        codes: list[int] = []
        per = [n // self.clients + (1 if k < n % self.clients else 0) for k in range(self.clients)]

        def worker(count: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                for i in range(count):
                    conn.request("GET", f"/orders/{i}")
                    r = conn.getresponse()
                    r.read()
                    with self._lock:
                        codes.append(r.status)
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(c,)) for c in per]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return codes

    def start_until_error(self, notify_at: int) -> None:
        """Keep requesting until a request fails (the proxy died); set `reached` after notify_at."""
        self.target = notify_at

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                while not self._stop.is_set():
                    conn.request("GET", "/orders/1")
                    r = conn.getresponse()
                    r.read()
                    now = time.time()
                    with self._lock:
                        self.done.append(now)
                        if len(self.done) >= self.target:
                            self.reached.set()
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.errors.append(repr(exc))
            finally:
                conn.close()

        self._threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.clients)]
        for t in self._threads:
            t.start()

    def join(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)
