"""Real child processes for the TUI tests and the capture generator: the lab and mitmdump.

Each start function waits for the child's own ready line (never a sleep) with a bounded
deadline, and each child is terminated by its handle, so a failing test leaves nothing
running behind it.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addons" / "tokentax.py"
MITMDUMP = Path(sys.executable).with_name("mitmdump")
READY_DEADLINE_S = 60.0


def read_line_until(proc: subprocess.Popen, prefix: str, deadline_s: float = READY_DEADLINE_S) -> str:
    """The first stdout line starting with `prefix`; RuntimeError if the child exits or the deadline passes."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + deadline_s
    buf = b""
    try:
        while time.monotonic() < end:
            if not sel.select(timeout=max(0.0, end - time.monotonic())):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                if text.startswith(prefix):
                    return text
    finally:
        sel.close()
    proc.kill()
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    raise RuntimeError(f"child did not print {prefix!r}: {err.strip()[-500:]}")


@dataclass
class Child:
    proc: subprocess.Popen
    info: dict = field(default_factory=dict)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fh in (self.proc.stdout, self.proc.stderr):
            if fh is not None:
                fh.close()
        return self.proc.returncode


def start_lab(*args: str) -> Child:
    """`python -m inspector.lab ARGS`; info is its ready JSON."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector.lab", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    line = read_line_until(proc, "{")
    return Child(proc, json.loads(line))


def start_mitmdump(*args: str) -> Child:
    """mitmdump with the tokentax addon; info["stream"] is the stream address it printed."""
    proc = subprocess.Popen(
        [str(MITMDUMP), "-q", "-s", str(ADDON), "--set", "tokentax_status=0", "--set", "tokentax_summary=false", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    line = read_line_until(proc, "tokentax: ready;")
    stream = line.split("stream ", 1)[1].split(",", 1)[0].strip()
    return Child(proc, {"stream": stream})


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`tokentax ...` as a real process (python -m inspector): exit status, stdout and stderr as a
    user or CI sees them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd or ROOT,
        env=env,
    )
