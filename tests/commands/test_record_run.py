"""`tokentax record --run CMD`: CMD runs under the proxy, recording stops when it ends, its exit
status is kept and the capture is complete, also when CMD fails. Real mitmdump, real servers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.capture.load import analyze_file
from inspector.lab.common import free_port
from tests.capture.servers import Stack

from .gate_sessions import tokentax


@pytest.fixture
def servers() -> Iterator[Stack]:
    stack = Stack("naive")
    try:
        yield stack
    finally:
        stack.stop()


DRIVER = """
import os, sys, httpx
assert os.environ["TOKENTAX_CAPTURE"].endswith("run.jsonl")
with httpx.Client(trust_env=False, timeout=30) as c:
    for i in range({n}):
        assert c.get("http://127.0.0.1:{port}/api/orders%d" % i).status_code == 200
print("driver done")
sys.exit({rc})
"""


def record_around(tmp_path: Path, stack: Stack, n: int, rc: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    for _ in range(5):
        ports = (free_port(), free_port(), free_port())
        if len(set(ports)) < 3:
            continue
        stack.gw_cfg.auth_url = f"http://127.0.0.1:{ports[1]}"
        stack.gw_cfg.backend_url = f"http://127.0.0.1:{ports[2]}"
        driver = tmp_path / "driver.py"
        driver.write_text(DRIVER.format(n=n, port=ports[0], rc=rc))
        cap = tmp_path / "run.jsonl"
        res = tokentax(
            "record",
            "-o",
            str(cap),
            "--force",
            "--inbound",
            str(ports[0]),
            "--run",
            f"{sys.executable} {driver}",
            "--",
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:{stack.gateway.url}@{ports[0]}",
            "--mode",
            f"reverse:{stack.auth.url}@{ports[1]}",
            "--mode",
            f"reverse:{stack.backend.url}@{ports[2]}",
            cwd=tmp_path,
        )
        if "already in use" not in res.stderr:
            return res, cap
    raise AssertionError("no free ports")


@pytest.mark.parametrize("rc", [0, 3])
def test_record_run_keeps_the_status_and_a_complete_capture(tmp_path: Path, servers: Stack, rc: int) -> None:
    res, cap = record_around(tmp_path, servers, 5, rc)
    assert res.returncode == rc, res.stderr
    assert "Traceback" not in res.stderr
    assert "driver done" in res.stdout
    assert f"tokentax: command exited with status {rc}; stopping mitmdump" in res.stderr
    assert f"capture saved to {cap} (15 flows" in res.stdout
    data = cap.read_bytes()
    assert data.endswith(b"\n")  # every event whole: flushed and closed before record returned
    s = analyze_file(cap, show_progress=False).snapshot()
    assert s["flows"]["inbound"] == 5 and s["callouts"]["total"] == 5 and s["callouts"]["redundant"] == 4
    # the capture gates at once: one token call per request is over a budget of one per two
    budget = tmp_path / "b.toml"
    budget.write_text("auth_calls_per_request = 0.5\n")
    gate = tokentax("check", str(cap), "--budget", str(budget))
    assert gate.returncode == 1 and "(auth_calls_per_request) 1.00, over the limit 0.50" in gate.stdout


def test_record_run_command_that_cannot_start_work(tmp_path: Path, servers: Stack) -> None:
    """A command that fails before any traffic: its status, and still a readable capture."""
    port = free_port()
    cap = tmp_path / "empty.jsonl"
    res = tokentax(
        "record",
        "-o",
        str(cap),
        "--run",
        "exit 7",
        "--",
        "--listen-host",
        "127.0.0.1",
        "--mode",
        f"reverse:{servers.gateway.url}@{port}",
        cwd=tmp_path,
    )
    assert res.returncode == 7, res.stderr
    assert "command exited with status 7" in res.stderr
    s = analyze_file(cap, show_progress=False).snapshot()
    assert s["flows"]["inbound"] == 0
