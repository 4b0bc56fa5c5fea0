"""End-to-end fixtures: the real lab behind a real mitmdump with the addon, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector.analyzer import Analyzer
from inspector.capture.load import analyze_file
from inspector.lab.loadgen import fetch_user_tokens
from inspector.lab.secrets_file import read_users
from inspector.lab.session import LabSession, SessionSpec


@dataclass
class Run:
    session: LabSession
    capture: Path
    secret: str
    statuses: list[int] = field(default_factory=list)
    stream_lines: list[bytes] = field(default_factory=list)
    analyzer: Analyzer | None = None

    @property
    def snap(self) -> dict[str, Any]:
        assert self.analyzer is not None
        return self.analyzer.snapshot()

    def finding(self, fid: str) -> dict[str, Any] | None:
        return next((f for f in self.snap["findings"] if f["id"] == fid), None)


class StreamTap:
    """A raw stream client on its own thread: everything the stream sent, for secret greps."""

    def __init__(self, addr: str, token: str = "") -> None:
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.sendall(json.dumps({"hello": "tokentax/1", "token": token}).encode() + b"\n")
        self.data = bytearray()
        self.got_flow = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            self.data += chunk
            if b'"type":"flow"' in self.data:
                self.got_flow.set()

    def close(self) -> bytes:
        self.thread.join(timeout=10)
        self.sock.close()
        return bytes(self.data)


def user_bearers(session: LabSession) -> list[str]:
    """One bearer per lab user, logged in directly at the auth server (not through the proxy,
    so the logins are no callouts), with the passwords from the lab's secrets file."""
    client_id, users = read_users(session.lab.info["secrets_file"])
    return asyncio.run(fetch_user_tokens(session.direct["token_url"], client_id, users))


def lab_stats(session: LabSession) -> dict[str, Any]:
    """The lab servers' own counters (the control server, never behind the proxy)."""
    return httpx.get(session.direct["stats_url"], timeout=30, trust_env=False).json()


def send(url: str, n: int, concurrency: int = 1, traced: bool = True, bearers: Sequence[str] = ()) -> list[int]:
    """n GET requests through the gateway listener, `concurrency` at a time; returns statuses.

    With `bearers`, request i carries `Authorization: Bearer bearers[i % len(bearers)]`
    (lab users' tokens, from `user_bearers`), as the gateway modes that check callers need.
    """
    statuses: list[int] = []
    paths = ["/orders", "/orders/7", "/users/3", "/inventory"]

    def worker(start: int) -> None:
        with httpx.Client(trust_env=False, timeout=30) as c:
            for i in range(start, n, concurrency):
                headers = {"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"} if traced else {}
                if bearers:
                    headers["authorization"] = f"Bearer {bearers[i % len(bearers)]}"
                statuses.append(c.get(url + paths[i % len(paths)], headers=headers).status_code)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.fixture
def lab_run(tmp_path: Path) -> Iterator[Any]:
    """Call with lab options; runs n requests and returns a Run whose capture was read back."""
    sessions: list[LabSession] = []

    def run(
        *lab_args: str,
        n: int = 10,
        concurrency: int = 1,
        traced: bool = True,
        tap: bool = False,
        upstreams: dict[str, str] | None = None,
        mitm_args: list[str] | None = None,
        during: Any = None,
        secret_out: list[str] | None = None,
    ) -> Run:
        secret = "lab-secret-" + secrets.token_urlsafe(24)
        if secret_out is not None:
            secret_out.append(secret)
        capture = tmp_path / f"cap{len(sessions)}.jsonl"
        spec = SessionSpec(
            lab_args=["--auth-latency", "20ms", "--client-secret", secret, *lab_args],
            save=str(capture),
            upstreams=upstreams or {},
            mitm_args=mitm_args or [],
        )
        s = LabSession(spec)
        sessions.append(s)
        s.start()
        r = Run(s, capture, secret)
        tapper = StreamTap(s.mitm.stream) if tap else None
        r.statuses = send(s.gateway_url, n, concurrency, traced)
        if during is not None:
            during(s)
        s.stop()
        if tapper is not None:
            r.stream_lines = tapper.close().splitlines()
        r.analyzer = analyze_file(capture, show_progress=False)
        return r

    yield run
    for s in sessions:
        s.stop()
