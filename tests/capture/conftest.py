"""Real sessions for the capture tests: real mitmdump with the tokentax addon in front of real servers.

Topology (all 127.0.0.1): client -> mitmdump reverse listener (inbound) -> gateway;
gateway -> mitmdump reverse listener -> auth server (callouts) and -> backend. One run
writes the addon's JSONL capture and mitmproxy's raw flow file (-w) of the same flows,
and a HAR is exported from that flow file with mitmdump itself.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from inspector.lab.common import free_port
from tests.support.procs import run_cli  # noqa: F401 - the capture tests import it from here

from .servers import Stack

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "addons" / "tokentax.py"
MITMDUMP = str(Path(sys.executable).parent / "mitmdump")
REQUESTS = 12
STOP_GRACE_S = 60  # only a safety net for a hung child in teardown, never a test bound


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT) -> int:
    """Ask nicely (SIGINT lets mitmdump flush its files), kill if it hangs."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Mitmdump:
    """mitmdump as a child process; started() returns once the addon printed its ready line."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )
        self._ready = False
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until a line or EOF: the readiness signal
            self.lines.append(line)
            if line.startswith("tokentax: ready"):
                self._ready = True
                break
        if self._ready:
            self._drain = threading.Thread(target=self._pump, daemon=True)
            self._drain.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def ready(self) -> bool:
        return self._ready

    def stop(self) -> int:
        rc = stop_process(self.proc)
        if self._ready:
            self._drain.join()
        return rc


@dataclass
class Session:
    """Files of one recorded session and what went through it."""

    dir: Path
    capture: Path
    raw: Path
    har: Path
    strategy: str
    inbound_port: int
    inbound_spec: str  # reverse:http://127.0.0.1:GW@PORT
    secrets: list[str] = field(default_factory=list)
    requests: int = REQUESTS


def mitmdump_argv(stack: Stack, ports: tuple[int, int, int], capture: Path, raw: Path | None) -> list[str]:
    p_in, p_auth, p_back = ports
    argv = [
        MITMDUMP,
        "-q",
        "-s",
        str(ADDON),
        "--mode",
        f"reverse:{stack.gateway.url}@127.0.0.1:{p_in}",
        "--mode",
        f"reverse:{stack.auth.url}@127.0.0.1:{p_auth}",
        "--mode",
        f"reverse:{stack.backend.url}@127.0.0.1:{p_back}",
        "--set",
        f"tokentax_inbound={p_in}",
        "--set",
        f"tokentax_save={capture}",
        "--set",
        "tokentax_stream=off",
        "--set",
        "tokentax_status=0",
        "--set",
        "tokentax_summary=false",
    ]
    if raw is not None:
        argv += ["-w", str(raw)]
    return argv


def start_mitmdump(stack: Stack, capture: Path, raw: Path | None) -> tuple[Mitmdump, tuple[int, int, int]]:
    """Free ports can be taken between picking and binding: try again with new ones."""
    last = ""
    for _ in range(5):
        ports = (free_port(), free_port(), free_port())
        if len(set(ports)) < 3:
            continue
        md = Mitmdump(mitmdump_argv(stack, ports, capture, raw))
        if md.ready:
            return md, ports
        md.stop()
        last = "".join(md.lines)
        capture.unlink(missing_ok=True)
    raise RuntimeError(f"mitmdump did not start: {last}")


def drive(stack: Stack, inbound_port: int, n: int) -> list[str]:
    """n sequential client requests through the inbound listener; returns the client-side secrets sent."""
    sent: list[str] = []
    with httpx.Client(trust_env=False, timeout=30) as client:
        for i in range(n):
            bearer = "cl_" + secrets.token_urlsafe(24)
            cookie = "ck_" + secrets.token_urlsafe(16)
            query_token = "qt_" + secrets.token_urlsafe(16)
            sent += [bearer, cookie, query_token]
            resp = client.get(
                f"http://127.0.0.1:{inbound_port}/api/orders{i % 3}",
                params={"access_token": query_token, "page": "1"},
                headers={
                    "authorization": f"Bearer {bearer}",
                    "cookie": f"session={cookie}; theme=dark",
                    "x-request-id": f"req-{i}-{secrets.token_hex(4)}",
                },
            )
            assert resp.status_code == 200, resp.text
    return sent


def record_session(base: Path, strategy: str, n: int = REQUESTS) -> Session:
    base.mkdir(parents=True, exist_ok=True)
    capture, raw, har = base / "cap.jsonl", base / "raw.mitm", base / "flows.har"
    stack = Stack(strategy)
    md = None
    try:
        md, ports = start_mitmdump(stack, capture, raw)
        stack.gw_cfg.auth_url = f"http://127.0.0.1:{ports[1]}"
        stack.gw_cfg.backend_url = f"http://127.0.0.1:{ports[2]}"
        sent = drive(stack, ports[0], n)
        assert md.stop() == 0, "".join(md.lines)
    finally:
        if md is not None:
            md.stop()
        stack.stop()
    export = subprocess.run(
        [MITMDUMP, "-q", "-nr", str(raw), "--set", f"hardump={har}"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert export.returncode == 0 and har.is_file(), export.stdout + export.stderr
    stack.secrets.client.extend(sent)
    return Session(
        base,
        capture,
        raw,
        har,
        strategy,
        ports[0],
        f"reverse:{stack.gateway.url}@127.0.0.1:{ports[0]}",
        stack.secrets.all(),
        n,
    )


@pytest.fixture(scope="session")
def naive_session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return record_session(tmp_path_factory.mktemp("naive"), "naive")


@pytest.fixture(scope="session")
def cached_session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return record_session(tmp_path_factory.mktemp("cached"), "cached")


@pytest.fixture
def servers() -> Iterator[Stack]:
    stack = Stack("naive")
    try:
        yield stack
    finally:
        stack.stop()
