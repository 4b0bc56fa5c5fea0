"""Run mitmdump with the tokentax addon as a child process and know when it is ready.

The one launcher behind `tokentax demo`, `tokentax tui`, `tokentax record` and the
end-to-end tests. The addon prints `tokentax: ready; stream HOST:PORT` from its
`running()` hook; we wait for that line (or for the process to die, or a deadline)
instead of guessing with sleeps, keep draining its output (a full pipe would stall the
proxy), and keep the last lines for the one-line message shown if it fails.
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
from collections.abc import Callable
from pathlib import Path
from typing import IO

from inspector.mitm.children import child_kwargs
from inspector.schema.errors import UserError

SCRIPT = Path(__file__).with_name("script.py")
READY_RE = re.compile(r"tokentax: ready; stream (\S+?)(?:,|$)")
LISTEN_RE = re.compile(r"^tokentax: listen (.+)$")
READY_TIMEOUT_S = 30.0
_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d(?:\.\d+)?\]\s*")
_GENERIC = ("error logged during startup", "errors logged during startup", "usage: ")


def mitmdump_command() -> list[str]:
    """The mitmdump of this Python environment (the console script beside the interpreter)."""
    candidate = Path(sys.executable).with_name("mitmdump")
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("mitmdump")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from mitmproxy.tools.main import mitmdump; sys.exit(mitmdump())"]


def listen_of(line: str) -> list[str]:
    """The listeners of the addon's `tokentax: listen A mode, B mode` line (printed before `ready`)."""
    m = LISTEN_RE.search(line)
    return [part.strip() for part in m.group(1).split(",") if part.strip()] if m else []


def user_sets(args: list[str]) -> set[str]:
    """Option names set with `--set NAME=VALUE` or `--set=NAME=VALUE`."""
    names = set()
    for i, arg in enumerate(args):
        value = None
        if arg == "--set" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--set="):
            value = arg[len("--set=") :]
        if value:
            names.add(value.split("=", 1)[0].strip())
    return names


def with_defaults(args: list[str], defaults: dict[str, str]) -> list[str]:
    """`--set` our defaults, except those the caller sets: mitmdump given the same script
    option twice never reaches its `running` hook (seen with mitmproxy 12.3)."""
    given = user_sets(args)
    out: list[str] = []
    for name, value in defaults.items():
        if name not in given:
            out += ["--set", f"{name}={value}"]
    return out + list(args)


def pick_error(lines: list[str], errors_only: bool = False) -> str:
    """The line that says what went wrong: a specific error beats mitmproxy's generic epilogue."""
    clean = [_STAMP.sub("", line).strip() for line in lines]
    clean = [line for line in clean if line and not line.startswith("Traceback")]
    for needles in (
        ("address already in use", "failed to listen", "error:", "tokentax:", "cannot"),
        ("error", "failed"),
    ):
        for line in reversed(clean):
            low = line.lower()
            if (
                any(n in low for n in needles)
                and not any(low.startswith(g) for g in _GENERIC)
                and not low.startswith(("tokentax: ready", "tokentax: listen"))
            ):
                m = re.match(r"^(?:\S*mitmdump|-c): (?:error: )?(.*)$", line)
                return m.group(1) if m else line
    return "" if errors_only or not clean else clean[-1]


class Mitmdump:
    """A mitmdump child with the addon. `start()` returns once the addon said it is ready."""

    def __init__(
        self,
        args: list[str],
        *,
        echo: bool = False,
        defaults: dict[str, str] | None = None,
        on_line: Callable[[str, str], None] | None = None,
    ) -> None:
        self.args = list(args)
        self.echo = echo  # copy its output to our stdout
        self.on_line = on_line  # called as (line, "out"|"err") from reader threads
        self.defaults = defaults or {}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: deque[str] = deque(maxlen=2000)  # stdout+stderr, for messages and tests
        self.stream: str | None = None  # "host:port" or "off"
        self.ready_line = ""
        self.listen_line = ""
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def command(self) -> list[str]:
        return mitmdump_command() + ["-q", "-s", str(SCRIPT)] + with_defaults(self.args, self.defaults)

    def start(self, timeout: float = READY_TIMEOUT_S) -> Mitmdump:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.echo:  # the child's summary is shown on our terminal: let it use our width
            env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
        try:
            self.proc = subprocess.Popen(
                self.command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
                env=env,
                bufsize=1,
                errors="replace",
                **child_kwargs(),
            )
        except OSError as exc:
            raise UserError(f"cannot start mitmdump: {exc.strerror or exc}") from None
        for pipe, name in ((self.proc.stdout, "out"), (self.proc.stderr, "err")):
            t = threading.Thread(target=self._read, args=(pipe, name), daemon=True, name=f"mitmdump-{name}")
            t.start()
            self._threads.append(t)
        threading.Thread(target=self._wait_exit, daemon=True).start()
        if not self._ready.wait(timeout):
            why = pick_error(list(self.lines))
            self.stop()
            raise UserError(f"mitmdump did not get ready within {timeout:g} s" + (f": {why}" if why else ""))
        if self.stream is None:
            status = self.proc.wait()
            for t in self._threads:
                t.join(timeout=5)
            raise UserError(
                f"mitmdump exited with status {status} before it was ready: "
                f"{pick_error(list(self.lines)) or 'no output'}"
            )
        return self

    def _read(self, pipe: IO[str], name: str) -> None:
        for line in pipe:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(line, flush=True)
            if self.on_line is not None:
                self.on_line(line, name)
            if self.stream is None:
                if LISTEN_RE.search(line):
                    self.listen_line = line
                m = READY_RE.search(line)
                if m:
                    self.stream, self.ready_line = m.group(1), line
                    self._ready.set()

    def _wait_exit(self) -> None:
        assert self.proc is not None
        self.proc.wait()
        for t in self._threads:
            t.join(timeout=2)
        self._ready.set()

    @property
    def listen(self) -> list[str]:
        """The proxy's listeners ("host:port mode"), from the addon's listen line."""
        return self.listen_line and listen_of(self.listen_line) or []

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_status(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def last_error(self) -> str:
        """The line most worth showing a user about how mitmdump is doing or why it stopped."""
        return pick_error(list(self.lines)) or (
            f"exited with status {self.exit_status}" if self.exit_status is not None else "no output"
        )

    def last_words(self) -> str:
        """The child's most telling error line, or "" when it said nothing wrong."""
        return pick_error(list(self.lines), errors_only=True)

    def output(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT (mitmdump shuts down cleanly and the addon writes its summary), then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> Mitmdump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
