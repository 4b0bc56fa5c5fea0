"""`tokentax demo`: the token tax in one command.

Starts the lab (auth server, backend, gateway) and mitmdump with the addon on every hop,
drives load at the gateway, and opens the TUI on the live stream (or, with --headless,
prints status lines and the final summary). Ctrl+C, the end of --duration, or any part
dying stops everything, with no process left behind.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from inspector.commands.args import duration, examples
from inspector.schema.errors import UserError
from inspector.schema.units import ms

if TYPE_CHECKING:
    from inspector.lab.session import LabSession

FOREVER_S = 7 * 86400


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the lab gateway behind the inspector and show the token tax live",
        description="Run a gateway, auth server and backend on loopback with mitmdump and the "
        "addon on every hop, send traffic, and show what it costs.",
        epilog=examples(
            "tokentax demo",
            "tokentax demo --headless --duration 10s --save s.jsonl && tokentax report s.jsonl",
        ),
    )
    from inspector.lab.lab_cli import STRATEGY_CHOICES

    p.add_argument(
        "--gateway",
        choices=STRATEGY_CHOICES,
        default="naive",
        metavar="MODE",
        help="naive: a token per request (default); cached: a correct cache; poison: caches errors; "
        "and one naive/cached pair per kind of auth work: " + ", ".join(STRATEGY_CHOICES[3:]),
    )
    p.add_argument(
        "--auth-latency",
        type=duration("--auth-latency"),
        default=0.8,
        metavar="DURATION",
        help="auth-side latency (auth server and forward-auth service), e.g. 50ms or 0.8s "
        "(default 0.8s, as in the real case)",
    )
    p.add_argument("--auth-fail-first", default="0", metavar="N", help="the first N token requests fail (401)")
    p.add_argument(
        "--token-mode",
        choices=("same", "new"),
        default="same",
        help="same: the auth server re-issues its token until expiry; new: a new token per call",
    )
    p.add_argument("--rate", default="5", metavar="REQ/S", help="inbound requests per second (default 5)")
    p.add_argument(
        "--duration",
        type=duration("--duration", positive=True),
        default=None,
        metavar="DURATION",
        help="stop after this long, e.g. 800ms, 5s, 10m (default: 10s headless, until you quit in the TUI)",
    )
    p.add_argument("--headless", action="store_true", help="no TUI: status lines, then the summary")
    p.add_argument("--save", metavar="FILE", help="also write the JSONL capture here (refuses an existing file)")
    p.add_argument("--force", action="store_true", help="overwrite the --save file if it exists")
    p.set_defaults(func=run)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"invalid --rate {text!r}: expected requests per second, e.g. 20") from None
    if not 0 < value <= 10_000:
        raise UserError(f"invalid --rate {text!r}: expected a number above 0 and at most 10000")
    return value


def _check_save(path_text: str, force: bool) -> None:
    """As `record -o`: an existing capture is not appended to (two sessions would merge into one report)."""
    from pathlib import Path

    path = Path(path_text).expanduser()
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a capture file name with --save")
    if path.exists() and path.stat().st_size > 0:
        if not force:
            raise UserError(f"{path}: exists; pass --force to overwrite it or choose another --save")
        try:
            path.write_bytes(b"")
        except OSError as exc:
            raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise UserError(f"invalid --auth-fail-first {text!r}: expected a whole number")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from inspector.lab.session import LabSession, SessionSpec
    from inspector.mitm.children import child_kwargs, restore, stop_on_signals

    if args.save:
        _check_save(args.save, args.force)
    rate = _rate(args.rate)
    fail_first = _count(args.auth_fail_first)
    duration = args.duration if args.duration else (10.0 if args.headless else FOREVER_S)
    headless = args.headless
    if not args.headless and headless:
        print("tokentax: the TUI is not available; running headless", file=sys.stderr)
    lab_args = [
        "--gateway",
        args.gateway,
        "--auth-latency",
        f"{args.auth_latency:g}s",
        "--authz-latency",  # the forward-auth modes' decision calls cost as much as any auth call
        f"{args.auth_latency:g}s",
        "--token-mode",
        args.token_mode,
        "--auth-fail-first",
        str(fail_first),
    ]
    spec = SessionSpec(
        lab_args=lab_args,
        save=args.save,
        status="1" if headless else "0",
        echo=headless,
        mitm_args=[] if headless else ["--set", "tokentax_summary=false"],
    )
    print(
        f"tokentax demo: {args.gateway} gateway, auth latency {ms(args.auth_latency * 1000)}, {rate:g} req/s"
        + (f" for {duration:g} s" if duration < FOREVER_S else "")
        + "; starting the lab and mitmdump...",
        flush=True,
    )
    session = LabSession(spec)
    load: subprocess.Popen[bytes] | None = None
    # A closed terminal (SIGHUP) or `kill` (SIGTERM) stops the demo as Ctrl+C does: children
    # stopped, summary printed. The TUI keeps its own handling; children die with us anyway.
    old = stop_on_signals() if headless else {}
    try:
        session.start()
        stream = session.mitm.stream if session.mitm else None
        print(f"tokentax demo: gateway {session.gateway_url} (through mitmdump), stream {stream}", flush=True)
        callers = []  # modes that check the caller: log the lab users in, directly (not through the proxy)
        if session.lab.info.get("caller_bearer"):
            callers = ["--token-url", session.lab.info["token_url"], "--secrets-file", session.lab.info["secrets_file"]]
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inspector.lab.loadgen",
                session.gateway_url,
                "--rate",
                str(rate),
                "--concurrency",
                "64",
                "--duration",
                f"{duration}s",
                *callers,
            ],
            stdout=subprocess.DEVNULL if not headless else None,
            stderr=subprocess.DEVNULL if not headless else None,
            stdin=subprocess.DEVNULL,
            **child_kwargs(),
        )
        if headless:
            failure = _watch(session, load, duration)
        else:
            failure = _run_tui(session, load)
    except KeyboardInterrupt:
        failure = None
        print("\ntokentax demo: stopping", file=sys.stderr)
    finally:
        restore(old)  # a second signal while stopping ends us; the children follow (parent-death signal)
        if load is not None and load.poll() is None:
            load.terminate()
            try:
                load.wait(5)
            except subprocess.TimeoutExpired:
                load.kill()
        session.stop()  # mitmdump prints the findings summary as it exits (echoed in headless mode)
    if args.save:
        print(f"tokentax demo: capture saved to {args.save} (read it with: tokentax report {args.save})")
    if failure:
        print(f"tokentax demo: error: {failure}", file=sys.stderr)
        return 1
    return 0


def _watch(session: LabSession, load: subprocess.Popen[bytes], duration: float) -> str | None:
    """Wait for the load to finish; report the first part that dies on the way."""
    mitm = session.mitm
    assert mitm is not None, "started sessions have mitmdump"
    deadline = time.monotonic() + duration + 60
    while True:
        try:
            load.wait(timeout=0.5)
            return None if load.returncode == 0 else f"the load generator exited with status {load.returncode}"
        except subprocess.TimeoutExpired:
            pass
        if not mitm.alive:
            return f"mitmdump stopped: {mitm.last_error()}"
        if not session.lab.alive:
            return "the lab servers stopped" + (f": {session.lab.stderr[-1]}" if session.lab.stderr else "")
        if time.monotonic() > deadline:
            return "the load generator did not finish in time"


def _run_tui(session: LabSession, load: subprocess.Popen[bytes]) -> str | None:
    """The TUI attached to the demo's stream; quitting it ends the demo."""
    from inspector.commands.tui import run_live
    from inspector.live.stream_client import parse_address

    mitm = session.mitm
    assert mitm is not None, "started sessions have mitmdump"
    host, port = parse_address(mitm.stream or "")
    run_live(host, port, "", mitm)
    if not mitm.alive:
        return f"mitmdump stopped: {mitm.last_error()}"
    if load.poll() not in (None, 0):
        return f"the load generator exited with status {load.returncode}"
    return None
