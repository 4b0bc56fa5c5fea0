"""`tokentax tui`, `tokentax attach`, `tokentax open`: the three ways into the TUI.

Everything that can fail on bad input fails here, before the app starts, as a UserError
(one line, exit status 2): a capture that does not read, a stream that is not there or
refuses us, a mitmdump that does not start. Textual is imported only when a command
runs, to keep `tokentax --help` fast.
"""

from __future__ import annotations

import argparse
import sys

from inspector.errors import UserError
from inspector.options import DEFAULT_STREAM


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tui = subparsers.add_parser(
        "tui", help="start mitmdump with the addon and watch it live (the default command)",
        description="Start mitmdump with the tokentax addon as a child process and attach the TUI to it. "
                    "Arguments after -- go to mitmdump, e.g. tokentax tui -- --mode reverse:http://127.0.0.1:8000@8080 "
                    "--set tokentax_inbound=8080. The child stops when the TUI exits.")
    tui.add_argument("--ready-timeout", type=float, default=30.0, metavar="SECONDS",
                     help="how long to wait for mitmdump to get ready (default: 30)")
    tui.add_argument("mitm_args", nargs=argparse.REMAINDER, metavar="-- MITMDUMP_ARGS",
                     help="arguments for mitmdump")
    tui.set_defaults(func=run_tui)

    attach = subparsers.add_parser(
        "attach", help="attach the TUI to a running proxy's event stream",
        description="Attach to the live event stream of a mitmdump running the tokentax addon.")
    attach.add_argument("address", nargs="?", default=DEFAULT_STREAM, metavar="HOST:PORT",
                        help=f"stream address (default: {DEFAULT_STREAM})")
    attach.add_argument("--token", default="", help="stream token, if the proxy set tokentax_stream_token")
    attach.set_defaults(func=run_attach)

    open_ = subparsers.add_parser(
        "open", help="open a saved capture in the TUI",
        description="Read a capture (tokentax JSONL, mitmproxy flows, HAR) and browse it in the TUI.")
    open_.add_argument("file", metavar="FILE", help="capture file")
    open_.add_argument("--inbound", default="", help="listeners that faced clients (for raw flow files)")
    open_.set_defaults(func=run_open)


def _out_dir():  # noqa: ANN202 - a Path
    from pathlib import Path

    return Path.cwd()


def run_open(args: argparse.Namespace) -> int:
    from inspector.analyzer import Analyzer
    from inspector.analyzer.core import AnalyzerConfig
    from inspector.sources.detect import LoadOptions
    from inspector.sources.load import analyze_file
    from inspector.tui.feed import RING, file_feed

    analyzer = analyze_file(args.file, LoadOptions(inbound=args.inbound),
                            analyzer=Analyzer(AnalyzerConfig(recent_flows=RING)))
    if analyzer.events == 0 and not analyzer.session:
        raise UserError(f"{args.file}: no tokentax events in this capture")
    from inspector.tui.app import TokentaxApp

    app = TokentaxApp(file_feed(args.file, analyzer), out_dir=_out_dir())
    return int(app.run() or 0)


def run_attach(args: argparse.Namespace) -> int:
    from inspector.sources.stream_client import parse_address, probe

    try:
        host, port = parse_address(args.address)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    why = probe(host, port, args.token)
    if why:
        raise UserError(f"{why} (is mitmdump running with -s addons/tokentax.py? or run `tokentax tui`)")
    return run_live(host, port, args.token)


def run_live(host: str, port: int, token: str, child=None) -> int:  # noqa: ANN001
    from inspector.sources.stream_client import StreamClient
    from inspector.tui.app import TokentaxApp
    from inspector.tui.feed import Feed

    client = StreamClient(host, port, token)
    app = TokentaxApp(Feed(client.address, "live"), client=client, child=child, out_dir=_out_dir())
    return int(app.run() or 0)


def run_tui(args: argparse.Namespace) -> int:
    from inspector.sources.stream_client import parse_address
    from inspector.tui.child import start_mitmdump

    mitm_args = list(args.mitm_args or [])
    if mitm_args and mitm_args[0] == "--":
        mitm_args = mitm_args[1:]
    if args.ready_timeout <= 0:
        raise UserError(f"--ready-timeout must be more than 0 seconds, got {args.ready_timeout:g}")
    child = start_mitmdump(mitm_args, timeout=args.ready_timeout)
    try:
        try:
            host, port = parse_address(child.stream)
        except ValueError as exc:
            raise UserError(f"mitmdump reported a stream address tokentax cannot use: {exc}") from None
        code = run_live(host, port, "", child)
    finally:
        child.stop()
    status = child.exit_status
    if status not in (0, None, -15):
        print(f"tokentax: mitmdump exited with status {status}: {child.last_words()}", file=sys.stderr)
    return code
