"""`tokentax tui`, `tokentax attach`, `tokentax open`: the three ways into the TUI.

Everything that can fail on bad input fails here, before the app starts, as a UserError
(one line, exit status 2): a capture that does not read, a stream that is not there or
refuses us, a mitmdump that does not start. Textual is imported only when a command
runs, to keep `tokentax --help` fast.
"""

from __future__ import annotations

import argparse
import sys

from inspector.commands.args import GATEWAY_HELP, INBOUND_HELP, RULES_HELP, check_rules, duration, examples, gateway
from inspector.mitm.options import DEFAULT_STREAM
from inspector.schema.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tui = subparsers.add_parser(
        "tui",
        help="start mitmdump with the addon and watch it live (the default command)",
        description="Start mitmdump with the tokentax addon as a child process and attach the TUI to it. "
        "Arguments after -- go to mitmdump, e.g. tokentax tui -- --mode reverse:http://127.0.0.1:8000@8080 "
        "--set tokentax_inbound=8080. The child stops when the TUI exits. mitmdump listens on "
        "127.0.0.1 unless you pass --listen-host.",
        epilog=examples(
            "tokentax tui",
            "tokentax tui -- --mode reverse:http://127.0.0.1:8000@8080 --set tokentax_inbound=8080",
        ),
    )
    tui.add_argument(
        "--ready-timeout",
        type=duration("--ready-timeout", positive=True),
        default=30.0,
        metavar="DURATION",
        help="how long to wait for mitmdump to get ready, e.g. 800ms, 5s, 10m (default: 30s)",
    )
    tui.add_argument(
        "mitm_args", nargs=argparse.REMAINDER, metavar="-- MITMDUMP_ARGS", help="-- then arguments for mitmdump"
    )
    tui.set_defaults(func=run_tui)

    attach = subparsers.add_parser(
        "attach",
        help="attach the TUI to running proxies' event streams (one or several)",
        description="Attach to the live event stream of one or more mitmdumps running the tokentax addon. "
        "With several, the figures are their sum (Sources tab, key 5: each one's own), the flows list "
        "has a source column, and source:NAME in the filter keeps one source's flows. A source that "
        "is down is shown as such and reattached when it comes back; the others keep updating.",
        epilog=examples("tokentax attach", "tokentax attach 10.0.0.5:9988 10.0.0.6:9988 --token SECRET"),
    )
    attach.add_argument(
        "addresses", nargs="*", metavar="HOST:PORT", help=f"stream addresses (default: {DEFAULT_STREAM})"
    )
    attach.add_argument(
        "--token",
        default="",
        metavar="TOKEN",
        help="stream token (for every address), if the proxies set tokentax_stream_token",
    )
    attach.set_defaults(func=run_attach)

    open_ = subparsers.add_parser(
        "open",
        help="open a saved capture in the TUI",
        description="Read a capture (tokentax JSONL, mitmproxy flows, HAR) and browse it in the TUI.",
        epilog=examples("tokentax open gw.jsonl", "tokentax open gw.mitm --inbound 8081 --rules roles.toml"),
    )
    open_.add_argument("file", metavar="FILE", help="capture file: tokentax JSONL, mitmproxy .mitm/.flows, or HAR")
    open_.add_argument("--inbound", default="", metavar="SPEC", help=INBOUND_HELP)
    open_.add_argument("--rules", default="", metavar="FILE", help=RULES_HELP)
    open_.add_argument("--gateway", type=gateway, default=None, metavar="NAME", help=GATEWAY_HELP)
    open_.set_defaults(func=run_open)


def _out_dir():
    from pathlib import Path

    return Path.cwd()


def _run(app) -> int:
    """Run the TUI, then say what was saved (captures, reports, screenshots) where."""
    code = int(app.run() or 0)
    print(app.farewell())
    return code


def _config():
    from inspector.views.tui.config import load

    return load()


def run_open(args: argparse.Namespace) -> int:
    from inspector.analyzer import Analyzer
    from inspector.analyzer.core import AnalyzerConfig
    from inspector.capture.detect import LoadOptions
    from inspector.capture.load import analyze_file
    from inspector.views.tui.feed import RING, file_feed

    check_rules(args.rules)
    analyzer = analyze_file(
        args.file,
        LoadOptions(inbound=args.inbound, rules=args.rules),
        analyzer=Analyzer(AnalyzerConfig(recent_flows=RING, gateway=args.gateway)),
    )
    if analyzer.events == 0 and not analyzer.session:
        raise UserError(f"{args.file}: no tokentax events in this capture")
    from inspector.views.tui.app import TokentaxApp

    app = TokentaxApp(file_feed(args.file, analyzer), out_dir=_out_dir(), config=_config())
    return _run(app)


HINT = "(is mitmdump running with -s addons/tokentax.py? or run `tokentax tui`)"


def parse_addresses(texts: list[str]) -> list[tuple[str, int]]:
    """HOST:PORT arguments -> [(host, port)]; UserError (one line) for a bad or repeated one."""
    from inspector.live.stream_client import parse_address

    out: list[tuple[str, int]] = []
    for text in texts or [DEFAULT_STREAM]:
        try:
            addr = parse_address(text)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if addr in out:
            raise UserError(f"stream address {text!r} is given twice")
        out.append(addr)
    return out


def run_attach(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from inspector.live.stream_client import probe

    addrs = parse_addresses(args.addresses)
    with ThreadPoolExecutor(max_workers=min(16, len(addrs))) as pool:
        whys = list(pool.map(lambda a: probe(a[0], a[1], args.token), addrs))
    if len(addrs) == 1:
        if whys[0]:
            raise UserError(f"{whys[0]} {HINT}")
        return run_live(*addrs[0], args.token)
    # Several: one that is down is shown as connecting and attached when it comes up (a fleet
    # has nodes restarting); one that answers wrongly (refused token, not a stream) is a mistake.
    for why in whys:
        if why and not why.unreachable:
            raise UserError(str(why))
    if all(whys):
        raise UserError(f"none of the {len(addrs)} streams answers: {whys[0]} {HINT}")
    return run_live_many(addrs, args.token)


def run_live_many(addrs: list[tuple[str, int]], token: str) -> int:
    from inspector.live.stream_client import StreamClient
    from inspector.views.tui.app import TokentaxApp
    from inspector.views.tui.feed import MultiFeed

    clients = [StreamClient(host, port, token) for host, port in addrs]
    app = TokentaxApp(MultiFeed([c.address for c in clients]), clients=clients, out_dir=_out_dir(), config=_config())
    return _run(app)


def run_live(host: str, port: int, token: str, child=None) -> int:
    from inspector.live.stream_client import StreamClient
    from inspector.views.tui.app import TokentaxApp
    from inspector.views.tui.feed import Feed

    client = StreamClient(host, port, token)
    app = TokentaxApp(Feed(client.address, "live"), client=client, child=child, out_dir=_out_dir(), config=_config())
    return _run(app)


def run_tui(args: argparse.Namespace) -> int:
    from inspector.live.stream_client import parse_address
    from inspector.mitm.child import start_mitmdump

    mitm_args = list(args.mitm_args or [])
    if mitm_args and mitm_args[0] == "--":
        mitm_args = mitm_args[1:]
    child = start_mitmdump(mitm_args, timeout=args.ready_timeout)
    try:
        try:
            host, port = parse_address(child.stream or "")
        except ValueError as exc:
            raise UserError(f"mitmdump reported a stream address tokentax cannot use: {exc}") from None
        code = run_live(host, port, "", child)
    finally:
        child.stop()
    status = child.exit_status
    if status not in (0, None, -15):
        print(f"tokentax: mitmdump exited with status {status}: {child.last_words()}", file=sys.stderr)
    return code
