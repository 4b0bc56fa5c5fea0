"""`tokentax record [-o FILE] [--raw FLOWFILE] -- [mitmdump args]`: headless recording.

Runs mitmdump with the tokentax addon saving a JSONL capture (secret-free), optionally
also mitmproxy's raw flow file (`-w`, which keeps every secret: the user is warned).
While it runs, one status line is kept up to date from the capture itself: the capture
is tailed into an analyzer here, so the figures are the same ones `tokentax report`
will show. Ctrl+C stops mitmdump cleanly (it gets one SIGINT, flushes and closes the
capture) and says where the capture is. mitmdump runs in its own session so the
terminal's Ctrl+C reaches only this process, which forwards it once.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from inspector.commands.args import INBOUND_HELP, duration, examples
from inspector.mitm.children import child_kwargs
from inspector.mitm.launch import SCRIPT, listen_of, mitmdump_command, pick_error
from inspector.mitm.listen import hints, loopback_default
from inspector.schema.errors import UserError

READY_PREFIX = "tokentax: ready"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="run mitmdump headless with tokentax, saving a capture",
        description="Run mitmdump with the tokentax addon and save a JSONL capture, with a live "
        "status line. Everything after -- goes to mitmdump (modes, listen ports, ...); it listens on "
        "127.0.0.1 unless you pass --listen-host. "
        "Ctrl+C stops it.",
        epilog=examples(
            "tokentax record            (a proxy on 127.0.0.1:8080: HTTPS_PROXY=http://127.0.0.1:8080)",
            "tokentax record -o gw.jsonl --inbound 8081 --run 'pytest tests/integration' -- "
            "--mode reverse:http://gateway:8000@8081 --mode reverse:https://idp.example@8082",
        ),
    )
    p.add_argument(
        "-o", "--output", default="", metavar="FILE", help="JSONL capture to write (default: tokentax-<time>.jsonl)"
    )
    p.add_argument(
        "--raw",
        default="",
        metavar="FILE",
        help="also save mitmproxy's raw flow file (contains tokens and secrets: redact before sharing)",
    )
    p.add_argument("--inbound", default="", metavar="SPEC", help=INBOUND_HELP)
    p.add_argument("--force", action="store_true", help="overwrite the capture file if it exists")
    p.add_argument(
        "--status-interval",
        type=duration("--status-interval"),
        default=None,
        metavar="DURATION",
        help="time between status updates, e.g. 800ms, 5s (default: 0.5s on a terminal, 5s otherwise)",
    )
    p.add_argument(
        "mitmdump_args", nargs=argparse.REMAINDER, metavar="-- MITMDUMP_ARGS", help="-- then arguments for mitmdump"
    )
    p.add_argument(
        "--run",
        default="",
        metavar="CMD",
        help="run CMD (a /bin/sh command line) once mitmdump is ready, stop recording when it ends and "
        "exit with its status; the capture is complete either way. CMD gets TOKENTAX_CAPTURE in its environment",
    )
    p.set_defaults(func=run)


# -- the child ----------------------------------------------------------------------------


def build_argv(capture: Path, raw: str, inbound: str, user_args: list[str]) -> list[str]:
    argv = [
        *mitmdump_command(),
        "-q",
        "-s",
        str(SCRIPT),
        "--set",
        f"tokentax_save={capture}",
        "--set",
        "tokentax_status=0",
        "--set",
        "tokentax_stream=off",
        "--set",
        "tokentax_summary=false",
    ]
    if inbound:
        argv += ["--set", f"tokentax_inbound={inbound}"]
    if raw:
        argv += ["-w", raw]
    return argv + loopback_default(user_args)


def _pump(stream: IO[str], name: str, q: queue.Queue[tuple[str, str | None]]) -> None:
    for line in stream:
        q.put((name, line.rstrip("\n")))
    q.put((name, None))


# -- the live status ----------------------------------------------------------------------


@dataclass
class Tail:
    """Reads new whole lines of the capture into an analyzer, as the addon flushes them."""

    path: Path
    analyzer: Any = None
    offset: int = 0
    partial: bytes = b""
    events: int = 0
    bad: int = 0
    _fh: Any = field(default=None, repr=False)
    _lines: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from inspector.analyzer import Analyzer

        self.analyzer = self.analyzer or Analyzer()

    def poll(self) -> None:
        from inspector.capture.jsonl import LineDecoder
        from inspector.schema import events as E

        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")
            except OSError:
                return
        chunk = self._fh.read()
        if not chunk:
            return
        self.offset += len(chunk)
        data = self.partial + chunk
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            if self._lines is None:
                self._lines = LineDecoder()  # the capture may be v1 or v2 (lean)
            try:
                ev = self._lines.decode(line)
            except E.EventError:
                self.bad += 1
                continue
            if ev is None:
                continue
            self.events += 1
            self.analyzer.ingest(ev)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def status_text(tail: Tail, elapsed: float) -> str:
    from inspector.schema.units import ms

    s = tail.analyzer.snapshot()
    fl, c = s["flows"], s["callouts"]
    per = c["per_inbound"]
    return (
        f"recording {int(elapsed) // 60:d}:{int(elapsed) % 60:02d}  flows {sum(fl.values())} "
        f"(in {fl['inbound']}, callouts {fl['callout']}, backend {fl['backend']})  "
        f"per-req {'-' if per is None else f'{per:.2f}'}  redundant {c['redundant']}  "
        f"tax {ms(s['tax']['ms_per_inbound'])}/req  capture {human_bytes(tail.offset)}"
    )


class StatusLine:
    """`\\r`-updated on a terminal, a plain line now and then otherwise."""

    def __init__(self, stream: IO[str], interval: float | None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval if interval is not None else (0.5 if self.tty else 5.0)
        self.last = 0.0
        self.shown = False
        self._last_key = ""

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.interval

    def show(self, text: str) -> None:
        self.last = time.monotonic()
        if not self.tty:
            # plain lines only when something changed (the elapsed time alone does not count)
            key = text.split("  ", 1)[-1]
            if key == self._last_key:
                return
            self._last_key = key
        if self.tty:
            width = 200
            try:
                width = os.get_terminal_size(self.stream.fileno()).columns - 1
            except (OSError, ValueError):
                pass
            self.stream.write("\r\x1b[K" + text[: max(20, width)])
            self.shown = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def print(self, text: str, stream: IO[str] | None = None) -> None:
        """A message line that must not be overwritten by the status."""
        self.clear()
        out = stream or self.stream
        out.write(text + "\n")
        out.flush()


# -- the command --------------------------------------------------------------------------


def _capture_path(args: argparse.Namespace) -> Path:
    path = Path(args.output or time.strftime("tokentax-%Y%m%d-%H%M%S.jsonl")).expanduser()
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a capture file name with -o")
    if path.exists() and path.stat().st_size > 0:
        if not args.force:
            raise UserError(f"{path}: exists; pass --force to overwrite it or choose another -o")
        try:
            path.write_bytes(b"")
        except OSError as exc:
            raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
    if args.raw and Path(args.raw).expanduser().resolve() == path.resolve():
        raise UserError(f"{args.raw}: the raw flow file cannot be the capture file too")
    return path


class Stopper:
    """SIGINT/SIGTERM/SIGHUP to this process: forward SIGINT once, SIGTERM next, then SIGKILL."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.requests = 0
        self.command: subprocess.Popen[bytes] | None = None  # --run CMD, in our process group
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Stopper:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requests += 1
        # Ctrl+C on a terminal already reached CMD (same process group); a SIGTERM sent to
        # this process alone (a CI timeout) is passed on so CMD is not left behind.
        if signum == signal.SIGTERM and self.command is not None and self.command.poll() is None:
            try:
                self.command.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        sig = {1: signal.SIGINT, 2: signal.SIGTERM}.get(self.requests, signal.SIGKILL)
        try:
            self.proc.send_signal(sig)
        except ProcessLookupError:
            pass


def run(args: argparse.Namespace) -> int:
    user_args = list(args.mitmdump_args or [])
    if user_args and user_args[0] == "--":
        user_args = user_args[1:]
    capture = _capture_path(args)
    out, err = sys.stdout, sys.stderr
    status = StatusLine(err, args.status_interval)
    if args.raw:
        status.print(
            f"tokentax: warning: the raw flow file {args.raw} keeps whole requests and responses, with "
            f"tokens, cookies and client secrets; run `tokentax redact {args.raw} OUT` before sharing it"
        )
    argv = build_argv(capture, args.raw, args.inbound, user_args)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            **child_kwargs(),
        )
    except OSError as exc:
        raise UserError(f"cannot start mitmdump ({argv[0]}): {exc.strerror or exc}") from None
    try:
        return _supervise(proc, capture, args, status, out)
    finally:
        if proc.poll() is None:  # something went wrong here: never leave mitmdump behind
            proc.kill()
            proc.wait()


def _supervise(
    proc: subprocess.Popen[str], capture: Path, args: argparse.Namespace, status: StatusLine, out: IO[str]
) -> int:
    q: queue.Queue[tuple[str, str | None]] = queue.Queue()
    for name, stream in (("out", proc.stdout), ("err", proc.stderr)):
        threading.Thread(target=_pump, args=(stream, name, q), daemon=True).start()
    seen: list[str] = []
    open_streams = 2
    ready = False
    listen: list[str] = []
    tail = Tail(capture)
    started = time.monotonic()
    with Stopper(proc) as stopper:
        # 1. until mitmdump says it is ready, or exits
        while not ready:
            try:
                name, line = q.get(timeout=0.2)
            except queue.Empty:
                if proc.poll() is not None and open_streams == 0:
                    break
                continue
            if line is None:
                open_streams -= 1
                if open_streams == 0:
                    proc.wait()
                    break
                continue
            if name == "out" and line.startswith(READY_PREFIX):
                ready = True
            elif name == "out" and listen_of(line):
                listen = listen_of(line)
            else:
                seen.append(line)
        if not ready:
            if stopper.requests:
                status.print("tokentax: stopped before mitmdump was ready", sys.stderr)
                return 130
            raise UserError(f"mitmdump did not start: {pick_error(seen) or 'it exited without saying why'}")
        raw = f", raw flows to {args.raw}" if args.raw else ""
        status.print(f"tokentax: recording to {capture}{raw}; Ctrl+C stops")
        command = _start_command(args.run, capture, status) if args.run else None
        stopper.command = command
        command_rc: int | None = None
        mitm_died = False
        for hint in hints(listen):
            status.print(f"tokentax: {hint}")
        # 2. running: status from the capture, mitmdump's own lines passed through
        while True:
            try:
                name, line = q.get(timeout=0.2)
            except queue.Empty:
                name, line = "", ""
            if line is None:
                open_streams -= 1
            elif line:
                status.print(line, sys.stderr if name == "err" else out)
            if command is not None and command_rc is None:
                if command.poll() is not None:
                    command_rc = _exit_status(command.returncode)
                    status.print(f"tokentax: command exited with status {command_rc}; stopping mitmdump")
                    if proc.poll() is None and not stopper.requests:
                        proc.send_signal(signal.SIGINT)  # mitmdump flushes and closes the capture
                elif proc.poll() is not None:
                    mitm_died = True
                    _stop_command(command)
                    command_rc = _exit_status(command.returncode)
            if proc.poll() is not None and open_streams == 0:
                break
            if status.due():
                tail.poll()
                status.show(status_text(tail, time.monotonic() - started))
    rc = proc.wait()
    tail.poll()
    tail.close()
    final = status_text(tail, time.monotonic() - started)
    status.clear()
    err = sys.stderr
    err.write(final + "\n")
    err.flush()
    if command is not None and command_rc is None:  # mitmdump went away first: never leave CMD behind
        mitm_died = True
        _stop_command(command)
        command_rc = _exit_status(command.returncode)
    stop_requests = stopper.requests + (1 if command is not None and not mitm_died else 0)
    status_rc = _finish(rc, stop_requests, capture, args, tail, out)
    if command is None:
        return status_rc
    if mitm_died and not stopper.requests:
        print("tokentax: mitmdump exited while the command was running; the command was stopped", file=sys.stderr)
        return command_rc or 1
    return command_rc if command_rc is not None else 1


def _exit_status(rc: int) -> int:
    """A shell's view of a child's status: killed by signal N is 128 + N."""
    return 128 - rc if rc < 0 else rc


def _start_command(cmd: str, capture: Path, status: StatusLine) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TOKENTAX_CAPTURE": str(capture)}
    shell = "/bin/sh"
    status.print(f"tokentax: running: {cmd}")
    try:
        # the command shares our terminal and process group: Ctrl+C reaches it as it would without us
        return subprocess.Popen([shell, "-c", cmd], env=env)
    except OSError as exc:
        raise UserError(f"cannot run the command ({shell}): {exc.strerror or exc}") from None


def _stop_command(command: subprocess.Popen[bytes]) -> None:
    if command.poll() is None:
        command.terminate()
        try:
            command.wait(30)
        except subprocess.TimeoutExpired:
            command.kill()
    command.wait()


def _finish(rc: int, stop_requests: int, capture: Path, args: argparse.Namespace, tail: Tail, out: IO[str]) -> int:
    from rich.console import Console

    from inspector.views.report.text import summary_renderable

    if stop_requests == 0 and rc != 0:
        print(f"tokentax: mitmdump exited with status {rc}", file=sys.stderr)
    flows = sum(tail.analyzer.flows.values())
    out.write(f"tokentax: capture saved to {capture} ({flows} flows, {human_bytes(tail.offset)})\n")
    if args.raw:
        out.write(f"tokentax: raw flows saved to {args.raw} (contains secrets: tokentax redact {args.raw} OUT)\n")
    out.write(f"tokentax: report with: tokentax report {capture}\n")
    out.flush()
    if flows:
        Console(file=out, soft_wrap=False).print(summary_renderable(tail.analyzer.snapshot()))
    if stop_requests == 0 and rc != 0:
        return 1
    return 0
