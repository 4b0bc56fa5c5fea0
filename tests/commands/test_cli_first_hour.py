"""A newcomer's commands (issue 13, items 14-17): help with examples, -o picks the format,
--rules mistakes are one line, durations read the same everywhere, text fits 80 columns."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from inspector.commands.main import COMMANDS, build_parser, main

DATA = Path(__file__).resolve().parents[1] / "data" / "naive_gateway.jsonl"


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_help_ends_with_examples_and_every_option_has_help(name: str) -> None:
    p = subparsers()[name]
    text = p.format_help()
    tail = text.rstrip().rsplit("examples:", 1)
    assert len(tail) == 2 and 1 <= len(tail[1].strip().splitlines()) <= 2, text
    assert all(line.strip().startswith("tokentax ") for line in tail[1].strip().splitlines())
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
        if "--format" in action.option_strings and action.choices:
            assert all(c in action.help for c in action.choices)
        if "--inbound" in action.option_strings:
            assert "a port or mode spec" in action.help and "reverse:http://UPSTREAM@PORT" in action.help
        if action.nargs == argparse.REMAINDER:
            assert action.metavar == "-- MITMDUMP_ARGS"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["demo", "--headless", "--duration", "soon"], "--duration: invalid duration 'soon'"),
        (["probe", "http://127.0.0.1:1/", "--interval", "1 fortnight"], "--interval: invalid duration"),
        (["record", "--status-interval", "x"], "--status-interval: invalid duration"),
        (["tui", "--ready-timeout", "0"], "--ready-timeout '0': must be more than 0"),
    ],
)
def test_bad_durations_one_line_exit_2(argv: list[str], needle: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err


@pytest.mark.parametrize("command", ["report", "check", "open"])
def test_unknown_gateway_name_is_one_line_exit_2(command: str, tmp_path, capsys) -> None:
    capture = tmp_path / "c.jsonl"
    capture.write_text("")
    assert main([command, str(capture), "--gateway", "hal9000"]) == 2
    err = capsys.readouterr().err
    assert "--gateway: unknown gateway 'hal9000'; known: Kong" in err and "Traefik" in err, err
    assert err.count("\n") == 1, err


def test_durations_spelled_alike_everywhere() -> None:
    subs = subparsers()
    assert subs["demo"].parse_args(["--auth-latency", "800ms", "--duration", "10m"]).duration == 600.0
    assert subs["record"].parse_args(["--status-interval", "5s"]).status_interval == 5.0
    assert subs["tui"].parse_args(["--ready-timeout", "800ms"]).ready_timeout == 0.8
    assert subs["probe"].parse_args(["--timeout", "5s"]).timeout == 5.0


@pytest.mark.parametrize(
    "name, check",
    [
        ("out.html", lambda t: t.lstrip().lower().startswith("<!doctype html")),
        ("out.md", lambda t: t.startswith("# tokentax report")),
        ("out.json", lambda t: json.loads(t)["schema"].startswith("tokentax.report/")),
        ("out.txt", lambda t: t.startswith("tokentax summary")),
    ],
)
def test_output_extension_picks_the_format(tmp_path: Path, name: str, check) -> None:
    out = tmp_path / name
    assert main(["report", str(DATA), "-o", str(out)]) == 0
    assert check(out.read_text())


def test_format_option_wins_over_the_extension(tmp_path: Path) -> None:
    out = tmp_path / "out.html"
    assert main(["report", str(DATA), "-o", str(out), "--format", "md"]) == 0
    assert out.read_text().startswith("# tokentax report")
    out = tmp_path / "d.md"
    assert main(["diff", str(DATA), str(DATA), "-o", str(out)]) == 0
    assert not out.read_text().lstrip().startswith("{")


@pytest.mark.parametrize("command", ["report", "diff", "open"])
def test_rules_missing_or_binary_exit_2_one_line(tmp_path: Path, command: str, capsys) -> None:
    png = tmp_path / "rules.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe")
    files = [str(DATA), str(DATA)] if command == "diff" else [str(DATA)]
    for rules, needle in ((tmp_path / "nonexistent.toml", "cannot read rules file"), (png, "is not UTF-8")):
        assert main([command, *files, "--rules", str(rules)]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_report_fits_an_80_column_terminal() -> None:
    """`tokentax report` in a real 80-column pty: no line longer than 80, no blank line after each row."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "report", str(DATA)], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the pty
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait() == 0
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace")).replace("\r", "")
    lines = text.split("\n")
    assert "tokentax summary" in text
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    kpi = lines[lines.index(next(x for x in lines if x.startswith("tokentax summary"))) + 1 :]
    kpi = kpi[: kpi.index("")]  # the KPI table: no blank line inside it
    assert any(re.search(r"over\s+\d+(\.\d+)?\s?(ms|s|min|h)\b", line) for line in kpi), kpi
    assert all(line.strip() != "s" for line in lines)


def test_report_piped_wraps_at_words() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "inspector", "report", str(DATA)], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    # no blank line between table rows: blank lines only before a section heading
    sections = {"Auth calls by kind", "Notes", "Findings"}
    for i, line in enumerate(lines[: lines.index("Findings")]):
        if not line.strip():
            assert lines[i + 1].strip() in sections, lines[i - 1 : i + 2]
