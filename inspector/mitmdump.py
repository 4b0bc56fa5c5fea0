"""Run mitmdump with the tokentax addon as a child process and know when it is ready.

Used by `tokentax demo`, `tokentax tui`, `tokentax record` and the end-to-end tests. The
addon prints `tokentax: ready; stream HOST:PORT` from its `running()` hook; we wait for
that line (or for the process to die, or a timeout) instead of guessing with sleeps.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

from inspector.errors import UserError

SCRIPT = Path(__file__).with_name("mitm_script.py")
_READY = re.compile(r"tokentax: ready; stream (\S+?)(?:,|$)")


def mitmdump_command() -> list[str]:
    """The mitmdump of this Python environment (the console script beside the interpreter)."""
    candidate = Path(sys.executable).with_name("mitmdump")
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("mitmdump")
    if found:
        return [found]
    return [sys.executable, "-c", "from mitmproxy.tools.main import mitmdump; mitmdump()"]


class Mitmdump:
    """A mitmdump child. `start()` returns once the addon said it is ready."""

    def __init__(self, args: list[str], *, echo: bool = False, quiet: bool = True) -> None:
        self.args = list(args)
        self.echo = echo
        self.quiet = quiet
        self.proc: subprocess.Popen[str] | None = None
        self.lines: deque[str] = deque(maxlen=2000)  # stdout+stderr, for messages and tests
        self.stream: str | None = None  # "host:port" or "off"
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def command(self) -> list[str]:
        return mitmdump_command() + (["-q"] if self.quiet else []) + ["-s", str(SCRIPT)] + self.args

    def start(self, timeout: float = 30.0) -> Mitmdump:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.echo:  # the child's summary is shown on our terminal: let it use our width
            env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, env=env, bufsize=1, start_new_session=True)
        for pipe in (self.proc.stdout, self.proc.stderr):
            t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
            t.start()
            self._threads.append(t)
        waiter = threading.Thread(target=self._wait_exit, daemon=True)
        waiter.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise UserError(f"mitmdump did not become ready within {timeout:.0f} s: {self.last_error()}")
        if self.proc.poll() is not None and self.stream is None:
            self.stop()
            raise UserError(f"mitmdump failed to start: {self.last_error()}")
        return self

    def _read(self, pipe) -> None:  # type: ignore[no-untyped-def]
        for line in pipe:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(line, flush=True)
            m = _READY.search(line)
            if m and self.stream is None:
                self.stream = m.group(1)
                self._ready.set()

    def _wait_exit(self) -> None:
        assert self.proc is not None
        self.proc.wait()
        for t in self._threads:
            t.join(timeout=2)
        self._ready.set()

    def last_error(self) -> str:
        """The line most worth showing a user when mitmdump failed: an error line, else the last one."""
        lines = [line.strip() for line in self.lines if line.strip()]
        for line in reversed(lines):
            if "error" in line.lower():
                return line
        if lines:
            return lines[-1]
        code = self.proc.poll() if self.proc else None
        return f"exited with status {code}" if code is not None else "no output"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT (mitmdump shuts down cleanly and the addon writes its summary), then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> Mitmdump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
