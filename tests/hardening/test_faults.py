"""Faults around the proxy: the auth server or the backend down, slow or flapping; the TUI
stalled, killed or reattaching; mitmdump killed with -9; the capture disk full.

Everything is real: the lab (`python -m inspector.lab`) or uvicorn upstreams, mitmdump
with the addon, sockets on 127.0.0.1. Waits are on events (stream events, output lines,
client completions), with timeouts only as failure guards.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from inspector.analyzer.findings import ms
from inspector.capture.load import analyze_file
from inspector.lab.common import free_port
from inspector.lab.session import LabSession, SessionSpec
from inspector.mitm.launch import Mitmdump
from inspector.views.report.render import render
from tests.hardening.servers import (
    FastBackend,
    Hammer,
    StreamWatcher,
    TcpRelay,
    addon_script,
    scripted_mitmdump,
)
from tests.support.captures import capture_events

# -- helpers ------------------------------------------------------------------------------------


def statuses(url: str, n: int, concurrency: int = 1, timeout: float = 60) -> list[int]:
    """n GETs through the gateway listener; the status codes in completion order."""
    out: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        with httpx.Client(trust_env=False, timeout=timeout) as c:
            for i in range(k, n, concurrency):
                code = c.get(f"{url}/orders/{i}").status_code
                with lock:
                    out.append(code)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@dataclass
class LabRun:
    session: LabSession
    capture: Path
    watcher: StreamWatcher | None = None

    def snap(self) -> dict[str, Any]:
        return analyze_file(self.capture, show_progress=False).snapshot()

    def flows(self, role: str) -> list[dict[str, Any]]:
        evs = capture_events(self.capture)
        return [e for e in evs if e.get("type") == "flow" and e.get("role") == role]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Any]:
    """lab(*lab_args, upstreams=...) -> LabRun with a stream watcher attached; stopped at the end."""
    runs: list[LabRun] = []

    def start(*lab_args: str, upstreams: dict[str, str] | None = None, status: str = "0") -> LabRun:
        cap = tmp_path / f"cap{len(runs)}.jsonl"
        s = LabSession(SessionSpec(lab_args=list(lab_args), save=str(cap), upstreams=upstreams or {}, status=status))
        run = LabRun(s, cap)
        runs.append(run)
        s.start()
        assert s.mitm is not None
        run.watcher = StreamWatcher(s.mitm.stream)
        return run

    try:
        yield start
    finally:
        for run in runs:
            run.session.stop()
            if run.watcher is not None:
                run.watcher.close()


def last_summary(run: LabRun, inbound: int) -> dict[str, Any]:
    """The proxy-side report once it has counted `inbound` inbound flows."""
    assert run.watcher is not None
    _, ev = run.watcher.wait_for(lambda e: e.get("type") == "summary" and e["report"]["flows"]["inbound"] >= inbound)
    return ev["report"]


def assert_same_figures(live: dict[str, Any], offline: dict[str, Any]) -> None:
    """The proxy's own analyzer and the capture read back agree on every count."""
    for key in ("flows", "callouts", "inbound", "tokens_distinct", "aftermath", "errors"):
        assert live[key] == offline[key], key


# -- the auth server and the backend --------------------------------------------------------------


def test_auth_server_down_then_back(lab) -> None:
    """Refused connections are failed callouts; once it is back, callouts succeed; figures agree."""
    dead = free_port()
    run = lab("--gateway", "naive", "--auth-latency", "1ms", upstreams={"auth": f"http://127.0.0.1:{dead}"})
    relay = None
    try:
        down = statuses(run.session.gateway_url, 4)
        relay = TcpRelay(dead, ("127.0.0.1", urlsplit(run.session.lab.info["auth"]).port))  # the auth server is back
        back = statuses(run.session.gateway_url, 4)
        live = last_summary(run, 8)
    finally:
        run.session.stop()
        if relay is not None:
            relay.stop()
    assert all(code >= 500 for code in down) and back == [200] * 4
    snap = run.snap()
    c = snap["callouts"]
    assert (c["total"], c["ok"], c["failed"], c["failures"]) == (8, 4, 4, {"refused": 4})
    assert snap["inbound"]["errors"] == 4
    assert {e["error"]["kind"] for e in run.flows("callout") if "error" in e} == {"refused"}
    assert_same_figures(live, snap)


def test_slow_auth_server_5s_callout_measured_and_reported(lab) -> None:
    run = lab("--gateway", "naive", "--auth-latency", "5s", "--gateway-auth-timeout", "30s")
    codes = statuses(run.session.gateway_url, 2, concurrency=2)
    run.session.stop()
    assert codes == [200, 200]
    callouts = run.flows("callout")
    assert len(callouts) == 2
    for ev in callouts:
        assert ev["timing"]["wait"] >= 5000 and ev["timing"]["total"] >= 5000, ev["timing"]
    for ev in run.flows("inbound"):
        assert ev["timing"]["ttfb"] >= 5000
    snap = run.snap()
    c = snap["callouts"]
    assert c["max_ms"] >= 5000 and c["p50_ms"] >= 5000 * 0.96  # log buckets: within 4 %
    text = render(snap, "text")
    assert f"Token callout takes {ms(c['p50_ms'])} p50" in text and c["p50_ms"] >= 4800
    assert f"p50 {ms(c['p50_ms'])}" in text  # the callout latency row


def test_flapping_auth_server_failures_and_successes_both_counted(lab) -> None:
    n = 24
    run = lab("--gateway", "naive", "--auth-latency", "1ms", "--auth-500-rate", "0.5", "--seed", "11", status="0.5")
    codes = statuses(run.session.gateway_url, n)
    live = last_summary(run, n)
    run.session.stop()
    failed, ok = sum(1 for x in codes if x >= 500), codes.count(200)
    assert failed + ok == n and failed >= 3 and ok >= 3, codes  # the seed flaps both ways
    snap = run.snap()
    c = snap["callouts"]
    assert (c["total"], c["ok"], c["failed"]) == (n, ok, failed)
    assert c["failures"] == {"500 server_error": failed}
    assert snap["inbound"]["errors"] == failed and snap["flows"]["inbound"] == n
    assert_same_figures(live, snap)
    summary = run.session.mitm.output()
    assert f"{failed} token callouts failed ({failed}× 500 server_error)" in summary


def test_backend_down(lab) -> None:
    dead = free_port()
    run = lab("--gateway", "naive", "--auth-latency", "1ms", upstreams={"backend": f"http://127.0.0.1:{dead}"})
    codes = statuses(run.session.gateway_url, 3)
    live = last_summary(run, 3)
    run.session.stop()
    assert all(x >= 500 for x in codes)
    backend = run.flows("backend")
    assert len(backend) == 3 and all(e["error"]["kind"] == "refused" for e in backend)
    snap = run.snap()
    assert snap["callouts"]["ok"] == 3 and snap["callouts"]["failed"] == 0  # the auth side was fine
    assert snap["inbound"]["errors"] == 3
    assert not any(f["id"] in ("auth-failure", "error-cached") for f in snap["findings"])
    assert_same_figures(live, snap)


# -- the TUI side of the stream -------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_upstream() -> Iterator[FastBackend]:
    up = FastBackend()
    try:
        yield up
    finally:
        up.stop()


def _mitm(upstream: FastBackend, *extra: str, port: int | None = None, **kw: Any) -> tuple[Mitmdump, int]:
    """mitmdump with the addon, one reverse listener in front of `upstream`; (process, listener port)."""
    port = port or free_port()
    args = [
        "--listen-host",
        "127.0.0.1",
        "--mode",
        f"reverse:{upstream.url}@{port}",
        "--set",
        "tokentax_status=0",
        *extra,
    ]
    return Mitmdump(args, **kw), port


def test_stalled_stream_client_never_slows_the_proxy(fast_upstream: FastBackend, tmp_path: Path) -> None:
    """A client that connects and never reads: every request is still served, the drops are
    counted in the addon events (the capture's last one, the report) and a reading client
    still gets every flow. The per-client queue is shrunk to 300 (from 20,000) and the
    stream's kernel send buffer fixed at 8 KiB (from ~4 MB autotuned) so about a thousand
    flows reach the limit; bench/stall.py measures throughput at the real sizes."""
    cap = tmp_path / "cap.jsonl"
    port = free_port()
    m = scripted_mitmdump(
        addon_script(tmp_path, queue_limit=300, small_sndbuf=True),
        [
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:{fast_upstream.url}@{port}",
            "--set",
            "tokentax_status=0",
            "--set",
            "tokentax_stream=127.0.0.1:0",
            "--set",
            f"tokentax_save={cap}",
        ],
    )
    stalled = healthy = None
    codes: list[int] = []
    try:
        m.start()
        host, sport = m.stream.rsplit(":", 1)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never recv()
        stalled.connect((host, int(sport)))
        stalled.sendall(b'{"hello": "tokentax/1"}\n')
        healthy = StreamWatcher(m.stream)
        healthy.wait_for(lambda e: e.get("type") == "summary")
        hammer = Hammer(port)
        for _ in range(40):  # failure guard: 40 x 300 flows
            codes += hammer.run(300)
            if any(e.get("type") == "addon" and e["dropped"] > 0 for e in healthy.events):
                break
        _, first_drop = healthy.wait_for(lambda e: e.get("type") == "addon" and e["dropped"] > 0)
        codes += hammer.run(300)  # and the proxy goes on serving while the stalled client holds on
        healthy.wait_count("flow", len(codes))
        _, later = healthy.wait_for(lambda e: e.get("type") == "addon" and e["dropped"] > first_drop["dropped"])
    finally:
        m.stop()
        if stalled is not None:
            stalled.close()
        if healthy is not None:
            healthy.close()
    assert codes and set(codes) == {200}
    flows_seen = [e for e in healthy.events if e.get("type") == "flow"]
    assert len(flows_seen) == len(codes)  # the reading client lost nothing
    evs = capture_events(cap)
    last_addon = [e for e in evs if e.get("type") == "addon"][-1]
    assert last_addon["dropped"] >= later["dropped"] > 0
    snap = analyze_file(cap, show_progress=False).snapshot()
    assert snap["addon"]["dropped"] == last_addon["dropped"] and snap["events"] == len(codes)
    assert f"stream drops {last_addon['dropped']}" in render(snap, "text")
    assert f"stream drops {last_addon['dropped']}" in m.output()  # the exit summary says it too


CONSUMER = r"""
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b'{"hello": "tokentax/1"}\n')
for line in s.makefile("rb"):
    ev = json.loads(line)
    sys.stdout.write(json.dumps({"type": ev["type"], "ts": ev.get("ts"), "key_id": ev.get("key_id"),
                                 "events": (ev.get("report") or {}).get("events")}) + "\n")
    sys.stdout.flush()
"""


class Consumer:
    """A stream client in its own process (a TUI stand-in), so it can be killed with -9."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CONSUMER, str(port)], stdout=subprocess.PIPE, text=True)
        self.lines: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(json.loads(line))
                self._cond.notify_all()

    def wait(self, pred: Any, timeout: float = 30) -> dict[str, Any]:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(pred(x) for x in self.lines), timeout)
            assert ok, self.lines[-5:]
            return next(x for x in self.lines if pred(x))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def test_tui_killed_and_restarted_gets_session_and_totals_again(fast_upstream: FastBackend) -> None:
    m, port = _mitm(fast_upstream, "--set", "tokentax_stream=127.0.0.1:0")
    first = second = None
    try:
        m.start()
        sport = int(m.stream.rsplit(":", 1)[1])
        first = Consumer(sport)
        session = first.wait(lambda x: x["type"] == "session")
        hammer = Hammer(port, clients=2)
        assert set(hammer.run(30)) == {200}
        first.wait(lambda x: x["type"] == "flow")
        first.kill()  # the TUI dies mid-stream
        assert set(hammer.run(30)) == {200}  # the proxy does not notice
        second = Consumer(sport)
        again = second.wait(lambda x: x["type"] == "session")
        summary = second.wait(lambda x: x["type"] == "summary")
        assert second.lines[0]["type"] == "session" and second.lines[1]["type"] == "summary"
        assert (again["ts"], again["key_id"]) == (session["ts"], session["key_id"])  # the same session
        assert summary["events"] == 60  # totals since the proxy started, not since the attach
        assert set(hammer.run(5)) == {200}
        second.wait(lambda x: x["type"] == "flow")
    finally:
        for c in (first, second):
            if c is not None:
                c.kill()
        m.stop()


async def test_stream_client_reattaches_after_mitmdump_restarts(fast_upstream: FastBackend) -> None:
    from inspector.live.stream_client import DISCONNECTED, LIVE, StreamClient

    sport = free_port()
    proxy_port = free_port()
    stream = ("--set", f"tokentax_stream=127.0.0.1:{sport}")
    first, _ = _mitm(fast_upstream, *stream, port=proxy_port)
    await asyncio.to_thread(first.start)
    second: Mitmdump | None = None
    seen: list[dict[str, Any]] = []
    changed = asyncio.Event()
    client = StreamClient(
        "127.0.0.1", sport, min_backoff=0.05, max_backoff=0.3, on_state=lambda state, why: changed.set()
    )

    async def consume() -> None:
        async for batch in client.batches():
            seen.extend(batch)
            changed.set()

    async def until(pred: Any) -> None:
        """Wake on every batch or state change until pred() holds (30 s failure guard)."""
        async with asyncio.timeout(30):
            while not pred():
                changed.clear()
                await changed.wait()

    task = asyncio.create_task(consume())
    try:
        await until(lambda: any(e["type"] == "session" for e in seen))
        key1 = next(e for e in seen if e["type"] == "session")["key_id"]
        await asyncio.to_thread(Hammer(proxy_port, 1).run, 3)
        await until(lambda: sum(e["type"] == "flow" for e in seen) == 3)
        await asyncio.to_thread(first.stop)
        await until(lambda: client.state == DISCONNECTED)
        second, _ = _mitm(fast_upstream, *stream, port=proxy_port)
        await asyncio.to_thread(second.start)
        await until(lambda: sum(e["type"] == "session" for e in seen) == 2)
        assert client.state == LIVE and client.connects == 2
        key2 = [e for e in seen if e["type"] == "session"][1]["key_id"]
        assert key2 != key1  # a new proxy, a new random fingerprint key
        await asyncio.to_thread(Hammer(proxy_port, 1).run, 2)
        await until(lambda: sum(e["type"] == "flow" for e in seen) == 5)
    finally:
        client.close()
        await asyncio.wait_for(task, 30)
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)


# -- mitmdump killed, the capture's disk full -----------------------------------------------------


def test_mitmdump_killed_mid_capture_loses_at_most_a_second(fast_upstream: FastBackend, tmp_path: Path) -> None:
    cap = tmp_path / "cap.jsonl"
    m, port = _mitm(fast_upstream, "--set", "tokentax_stream=off", "--set", f"tokentax_save={cap}")
    hammer = Hammer(port, clients=3)
    try:
        m.start()
        hammer.start_until_error(notify_at=1200)
        assert hammer.reached.wait(120), hammer.errors
        killed_at = time.time()
        m.kill()  # SIGKILL: no shutdown hook, no final flush
    finally:
        hammer.join()
        m.kill()
    completed = len(hammer.done)
    recent = sum(1 for t in hammer.done if t >= killed_at - 1.0)
    snap = analyze_file(cap, show_progress=False).snapshot()  # readable, cut last line or not
    captured = snap["events"]
    print(f"completed {completed}, in the last second {recent}, captured {captured}")
    assert completed - recent <= captured <= completed + 3, (completed, recent, captured)
    # a kill in the middle of a write leaves a cut line: still readable, one flow fewer at most
    data = cap.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: data.rfind(b"\n", 0, len(data) - 1) + 40])
    assert analyze_file(cut, show_progress=False).snapshot()["events"] >= captured - 1


def _capture_error_run(fast_upstream: FastBackend, capture: str, until_error_batches: int = 1) -> dict:
    err_lines: list[str] = []
    seen_error = threading.Event()

    def on_line(line: str, stream: str) -> None:
        if stream == "err":
            err_lines.append(line)
        if "tokentax: error: capture" in line:
            seen_error.set()

    m, port = _mitm(
        fast_upstream, "--set", "tokentax_stream=127.0.0.1:0", "--set", f"tokentax_save={capture}", on_line=on_line
    )
    watcher = None
    codes: list[int] = []
    try:
        m.start()
        watcher = StreamWatcher(m.stream)
        hammer = Hammer(port, clients=2)
        for _ in range(until_error_batches):
            codes += hammer.run(100)
            if seen_error.is_set():
                break
        assert seen_error.wait(30), m.output()
        codes += hammer.run(100)  # after the error: the proxy goes on
        _, ev = watcher.wait_for(lambda e: e.get("type") == "addon" and e.get("capture_error"))
    finally:
        m.stop()
        if watcher is not None:
            watcher.close()
    return {"codes": codes, "err": err_lines, "out": m.output(), "addon": ev}


def test_capture_on_a_full_device_one_error_line_and_the_proxy_goes_on(fast_upstream: FastBackend) -> None:
    """/dev/full opens for append and fails every write with ENOSPC."""
    r = _capture_error_run(fast_upstream, "/dev/full")
    assert set(r["codes"]) == {200} and len(r["codes"]) == 200
    errors = [line for line in r["err"] if "capture" in line]
    assert errors == ["tokentax: error: capture /dev/full: No space left on device; capture stopped, proxy goes on"]
    assert "Traceback" not in r["out"]
    assert r["addon"]["capture_error"] == errors[0].removeprefix("tokentax: error: ")
    summary = " ".join(r["out"].split("tokentax summary", 1)[1].split())  # the table wraps at 80 columns
    assert "capture /dev/full: No space left on device" in summary  # the exit summary says it too


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a 64k tmpfs here (needs root): {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_capture_disk_fills_up_mid_session(fast_upstream: FastBackend, tiny_fs: Path) -> None:
    cap = tiny_fs / "cap.jsonl"
    r = _capture_error_run(fast_upstream, str(cap), until_error_batches=20)
    assert set(r["codes"]) == {200}
    errors = [line for line in r["err"] if "capture" in line]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "Traceback" not in r["out"]
    snap = analyze_file(cap, show_progress=False).snapshot()  # what made it to disk still reads
    assert 0 < snap["events"] < len(r["codes"])


def test_unwritable_capture_path_at_startup_is_one_line(tmp_path: Path) -> None:
    """A path that cannot be opened is a bad option: one line, mitmdump stops (see README)."""
    from inspector.mitm.launch import SCRIPT, mitmdump_command

    p = subprocess.run(
        mitmdump_command()
        + [
            "-q",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            "0",
            "-s",
            str(SCRIPT),
            "--set",
            f"tokentax_save={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "Traceback" not in out
    lines = [line.split("] ", 1)[-1] for line in out.splitlines() if "tokentax:" in line]  # no log timestamp
    assert lines == [f"tokentax: cannot write capture {tmp_path}: Is a directory"], out
