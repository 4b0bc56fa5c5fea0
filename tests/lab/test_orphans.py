"""No orphans: every child of `tokentax demo` dies with it, however it ends (issue 13, item 1).

Processes are found by an environment mark that every child inherits, as in test_demo.py;
their end is awaited with pidfds (no sleeps, no wall-clock bounds).
"""

from __future__ import annotations

import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.test_demo import MARK, leftovers, marked_env
from tests.support.captures import capture_events

ROOT = Path(__file__).resolve().parents[2]


def marked_pids(tmp_path: Path) -> list[int]:
    mark = f"{MARK}={tmp_path}".encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                out.append(int(pid))
        except OSError:
            continue
    return out


GUARD_S = 60.0  # only so that a regression fails instead of hanging; never reached when it works


def await_exit(pids: list[int]) -> None:
    """Until every one of these (not necessarily our children) has exited, or the guard passes."""
    end = time.monotonic() + GUARD_S
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            select.select([fd], [], [], max(0.0, end - time.monotonic()))
        finally:
            os.close(fd)


def await_traffic(cap: Path) -> None:
    """Until the demo's capture holds an inbound flow: the lab, mitmdump and loadgen are all up."""
    while True:
        if any(ev.get("role") == "inbound" for ev in capture_events(cap)):
            return
        time.sleep(0.2)  # polling a file for a condition; the condition is what we wait for


def test_sigterm_on_headless_prints_summary_and_leaves_no_child(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "demo", "--headless", "--duration", "600", "--auth-latency", "50ms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=marked_env(tmp_path),
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the first status line with traffic in it
        if line.startswith("tokentax  in") and " flows 0" not in line:
            break
    children = marked_pids(tmp_path)
    assert any("inspector.lab.loadgen" in Path(f"/proc/{p}/cmdline").read_text() for p in children)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    assert "tokentax summary" in out
    await_exit([p for p in children if p != proc.pid])
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tmux_kill_session_leaves_no_process(tmp_path: Path) -> None:
    """Closing the terminal that runs the TUI demo (SIGHUP) takes mitmdump, the lab and loadgen along."""
    cap = tmp_path / "t.jsonl"
    sock = f"tokentax-test-{os.getpid()}"
    inner = shlex.join(
        [
            "env",
            f"{MARK}={tmp_path}",
            sys.executable,
            "-m",
            "inspector",
            "demo",
            "--auth-latency",
            "50ms",
            "--save",
            str(cap),
        ]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", MARK)}
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "demo", "-x", "120", "-y", "36", "-c", str(ROOT), inner], check=True, env=env
    )
    try:
        await_traffic(cap)
        started = marked_pids(tmp_path)
        cmdlines = " ".join(Path(f"/proc/{p}/cmdline").read_text() for p in started)
        assert "mitmdump" in cmdlines and "inspector.lab.loadgen" in cmdlines, cmdlines
        subprocess.run([*tmux, "kill-session", "-t", "demo"], check=True, env=env)
        await_exit(started)
        assert leftovers(tmp_path) == []
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, capture_output=True)
