"""The `tokentax` command: a thin dispatcher over one module per subcommand.

Each subcommand module exposes `add_parser(subparsers)` which registers its parser and
sets `func` to a callable taking the parsed args and returning an exit status. Heavy
imports stay inside those callables so `tokentax --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from inspector import __version__
from inspector.commands.args import Formatter
from inspector.schema.errors import UserError

# subcommand name -> module providing add_parser(); order is the order in --help.
COMMANDS: dict[str, str] = {
    "demo": "inspector.commands.demo",
    "lab": "inspector.commands.lab",
    "tui": "inspector.commands.tui",
    "attach": "inspector.commands.tui",
    "open": "inspector.commands.tui",
    "report": "inspector.commands.report",
    "diff": "inspector.commands.diff",
    "check": "inspector.commands.check",
    "record": "inspector.commands.record",
    "redact": "inspector.commands.redact",
    "probe": "inspector.commands.probe",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokentax",
        description="Find and measure the token tax between an API gateway, its auth server and backends.",
    )
    parser.add_argument("--version", action="version", version=f"tokentax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in dict.fromkeys(COMMANDS.values()):
        module = importlib.import_module(module_name)
        module.add_parser(sub)
    for sub_parser in sub.choices.values():  # keep the examples' layout in every --help
        sub_parser.formatter_class = Formatter
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["tui"]  # no arguments: the live TUI with its own mitmdump child
    try:
        args = parser.parse_args(argv)  # argument types (durations) raise UserError: one line
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"tokentax: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
