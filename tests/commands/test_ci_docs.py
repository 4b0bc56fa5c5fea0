"""docs/ci.md is meant to be copied: every `tokentax` command in it must parse as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from inspector.commands.main import COMMANDS, build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def commands() -> list[str]:
    """`tokentax …` command lines of the doc's code blocks, continuation lines and YAML folds joined."""
    out = []
    for block in re.findall(r"```(?:sh|yaml)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        text = block.replace("\\\n", " ")
        text = re.sub(r">\n\s+", "", text)  # YAML folded scalars: `run: >` then indented lines
        text = re.sub(r"\n\s{10,}(?=[-a-z])", " ", text)
        for line in text.splitlines():
            m = re.search(r"(?:uv run )?tokentax (\w+.*)$", line)
            if m and not line.strip().startswith("#") and m.group(1).split()[0] in COMMANDS:
                out.append(m.group(1).split(" | ")[0])
    return out


def test_every_command_in_ci_md_parses() -> None:
    cmds = commands()
    assert {c.split()[0] for c in cmds} >= {"demo", "check", "record", "report", "diff"}
    parser = build_parser()
    for c in cmds:
        args = parser.parse_args(shlex.split(c))  # SystemExit (a test error) on any bad option
        assert args.func is not None, c
