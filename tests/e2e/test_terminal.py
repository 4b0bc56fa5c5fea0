"""`tokentax open` in a real terminal (tmux): the first screen shows the redundant fetches and the token tax."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from inspector.analyzer.findings import ms
from inspector.capture.load import analyze_file

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "data" / "naive_gateway.jsonl"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def test_open_capture_in_tmux_shows_redundant_and_tax() -> None:
    snap = analyze_file(CAPTURE, show_progress=False).snapshot()
    redundant = f"{snap['callouts']['redundant']} ({snap['callouts']['redundant_share'] * 100:.0f} %)"
    tax = ms(snap["tax"]["ms_per_inbound"])
    name = f"tokentax-test-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "45", f"{sys.executable} -m inspector open {CAPTURE}")
    try:
        screen = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # poll the pane until the app has drawn its KPIs
            screen = tmux("capture-pane", "-t", name, "-p")
            if "redundant" in screen and "token tax" in screen and redundant in screen:
                break
            time.sleep(0.2)
        assert redundant in screen, screen
        assert tax in screen, screen
        tmux("send-keys", "-t", name, "q")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the app quits and the session ends with it
            if subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode != 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("tokentax open did not quit on q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
