"""`tokentax tui`: mitmdump with the addon as a child process, ready before the UI starts.

Why before: a bad mitmdump argument, a port in use or a crash must come back as one
line and exit status 2 on a normal terminal, not as a TUI that sits there empty. So we
start the child, read its output until the addon prints `tokentax: ready; stream H:P`
(bounded by a deadline), and only then start the app. After that a thread keeps
draining the child's output (a full pipe would stall the proxy) and keeps its last lines
for the message shown if it dies. The child is terminated when the TUI exits.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from inspector.errors import UserError

READY_TIMEOUT_S = 30.0
READY_RE = re.compile(r"^tokentax: ready; stream (\S+?)(?:,|$)")
ADDON_SCRIPT = Path(__file__).with_name("addon_script.py")


def mitmdump_path() -> str:
    """The mitmdump console script of this environment (next to the Python running us)."""
    here = Path(sys.executable).with_name("mitmdump")
    if here.exists():
        return str(here)
    import shutil

    found = shutil.which("mitmdump")
    if found:
        return found
    raise UserError("cannot find mitmdump next to this Python or on PATH (is mitmproxy installed?)")


def _user_sets(args: list[str]) -> set[str]:
    """Option names the user sets with `--set NAME=VALUE` (or `--set=NAME=VALUE`)."""
    names = set()
    for i, arg in enumerate(args):
        value = None
        if arg == "--set" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--set="):
            value = arg[len("--set="):]
        if value:
            names.add(value.split("=", 1)[0].strip())
    return names


def mitmdump_argv(user_args: list[str], stream: str = "127.0.0.1:0") -> list[str]:
    """Our defaults, minus any option the user sets: a script option given twice with --set
    stops mitmdump before its `running` hook (seen with mitmproxy 12.3), so never repeat one."""
    ours = {"tokentax_stream": stream, "tokentax_status": "0", "tokentax_summary": "false"}
    given = _user_sets(user_args)
    argv = [mitmdump_path(), "-q", "-s", str(ADDON_SCRIPT)]
    for name, value in ours.items():
        if name not in given:
            argv += ["--set", f"{name}={value}"]
    return argv + list(user_args)


class MitmChild:
    """A running mitmdump; `stream` is the HOST:PORT its addon listens on."""

    def __init__(self, proc: subprocess.Popen[bytes], stream: str, tail: deque[str]) -> None:
        self.proc = proc
        self.stream = stream
        self.tail = tail
        self._drain = threading.Thread(target=self._drain_output, name="mitmdump-output", daemon=True)
        self._drain.start()

    def _drain_output(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.tail.append(line)

    @property
    def exit_status(self) -> int | None:
        return self.proc.poll()

    def last_words(self) -> str:
        """The child's most telling recent error line, or "" when it said nothing wrong."""
        return _pick_error(list(self.tail), errors_only=True)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(1.0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d(?:\.\d+)?\]\s*")
_GENERIC = ("error logged during startup",)


def _pick_error(lines: list[str], errors_only: bool = False) -> str:
    """The line that says what went wrong: a specific error beats mitmproxy's generic epilogue."""
    clean = [_STAMP.sub("", line).strip() for line in lines]
    clean = [line for line in clean if line]
    for needles in (("address already in use", "failed to listen", "error:", "cannot"), ("error", "failed")):
        for line in reversed(clean):
            low = line.lower()
            if any(n in low for n in needles) and not any(g in low for g in _GENERIC):
                return line
    return "" if errors_only or not clean else clean[-1]


def start_mitmdump(user_args: list[str], *, timeout: float = READY_TIMEOUT_S, stream: str = "127.0.0.1:0") -> MitmChild:
    """Start mitmdump and wait for the addon's ready line; UserError with one line on any failure."""
    argv = mitmdump_argv(user_args, stream)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as exc:
        raise UserError(f"cannot start mitmdump: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=50)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    stream_addr: str | None = None
    try:
        while stream_addr is None:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(proc)
                why = _pick_error(list(tail))
                raise UserError(f"mitmdump did not get ready within {timeout:g} s" + (f": {why}" if why else ""))
            if not sel.select(timeout=min(left, 0.5)):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf and stream_addr is None:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").rstrip()
                if not line:
                    continue
                tail.append(line)
                m = READY_RE.match(line)
                if m:
                    stream_addr = m.group(1)
    finally:
        sel.close()
    if stream_addr is None:
        status = proc.wait()
        rest = buf.decode("utf-8", "replace").splitlines() + _read_rest(proc)
        tail.extend(x for x in rest if x.strip())
        why = _pick_error(list(tail)) or "no output"
        raise UserError(f"mitmdump exited with status {status} before it was ready: {why}")
    if stream_addr == "off":
        _kill(proc)
        why = _pick_error(list(tail))
        raise UserError("mitmdump started but its tokentax stream is off" + (f": {why}" if why else ""))
    for line in buf.decode("utf-8", "replace").splitlines():
        if line.strip():
            tail.append(line)
    return MitmChild(proc, stream_addr, tail)


def _read_rest(proc: subprocess.Popen[bytes]) -> list[str]:
    try:
        data = proc.stdout.read() if proc.stdout is not None else b""
    except (OSError, ValueError):
        return []
    return data.decode("utf-8", "replace").splitlines()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
