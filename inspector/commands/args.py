"""What every subcommand's arguments share: durations, output formats, rules files, examples.

- `duration`: an argparse type accepting `800ms`, `5s`, `10m`, `1h` or a bare number of
  seconds (inspector.schema.units.parse_duration); a bad value is one line, exit 2.
- `output_format`: the format a report is written in: `--format` if given, else the
  extension of `-o` (.html, .md, .json), else text.
- `check_rules`: a `--rules` file that does not exist or does not parse is one line, exit 2,
  whatever the capture's type (a JSONL capture does not use it, but a typo must not pass).
- `gateway`: an argparse type naming the gateway product (record.gateway.named_gateway).
- `examples`: the epilog every subcommand's --help ends with.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from inspector.schema.errors import UserError

EXTENSIONS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json", ".txt": "text"}
INBOUND_HELP = (
    "listeners that faced clients: a port or mode spec (comma separated); for HAR files, reverse:http://UPSTREAM@PORT"
)
RULES_HELP = "role rules TOML: [callout]/[backend]/[inbound] listeners, hosts, paths (see docs)"
GATEWAY_HELP = (
    "the gateway product, when its response headers do not name it (traefik, nginx, envoy, caddy, apache, "
    "kong, ...): the findings give its own fix"
)


def gateway(text: str) -> str | None:
    """An argparse `type` for --gateway: the product's name as the fixes table spells it."""
    from inspector.record.gateway import named_gateway

    try:
        return named_gateway(text, "--gateway")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def duration(option: str, *, positive: bool = False) -> Callable[[str], float]:
    """An argparse `type` reading a duration in seconds; UserError (one line) naming the option."""

    def parse(text: str) -> float:
        from inspector.schema.units import parse_duration

        try:
            value = parse_duration(text)
        except UserError as exc:
            raise UserError(f"{option}: {exc}") from None
        if positive and value <= 0:
            raise UserError(f"invalid {option} {text!r}: must be more than 0")
        return value

    parse.__name__ = "duration"
    return parse


def format_choices(formats: tuple[str, ...]) -> str:
    return f"output format: {', '.join(formats)} (default: from the -o extension, else text)"


def output_format(fmt: str | None, output: str | None, formats: tuple[str, ...]) -> str:
    """`--format` wins; else `-o`'s extension when it names a format this command writes; else text."""
    if fmt:
        return fmt
    if output:
        guess = EXTENSIONS.get(Path(output).suffix.lower())
        if guess in formats:
            return guess
    return "text"


def check_rules(path: str) -> None:
    """Fail early, with one line, on a rules file that is missing, binary or not valid TOML rules."""
    if not path:
        return
    from inspector.record.roles import read_rules_file

    try:
        read_rules_file(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def examples(*lines: str) -> str:
    """The --help epilog: one or two examples."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; wraps descriptions as usual otherwise."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return argparse.HelpFormatter._fill_text(self, text, width, indent)
