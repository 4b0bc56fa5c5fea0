"""The TUI's user settings: a keymap and a theme, in one TOML file at an XDG path.

    # ~/.config/tokentax/tui.toml  ($XDG_CONFIG_HOME/tokentax/tui.toml; TOKENTAX_CONFIG overrides the path)
    theme = "nord"            # written by the TUI when you pick a theme (ctrl+p → Change theme)

    [keys]                    # binding id = keys, comma-separated (see `?` for the ids)
    quit = "q,ctrl+q"
    save = "ctrl+s"

A file that does not parse, or a value of the wrong type, is reported once in the TUI
(a notification) and ignored: settings must never stop the inspector from starting.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ENV = "TOKENTAX_CONFIG"
NAME = "tui.toml"


def config_path() -> Path:
    """$TOKENTAX_CONFIG, else $XDG_CONFIG_HOME/tokentax/tui.toml, else ~/.config/tokentax/tui.toml."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tokentax" / NAME


@dataclass
class TuiConfig:
    path: Path
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    problem: str = ""  # one line: why (part of) the file was ignored


def load(path: Path | None = None) -> TuiConfig:
    path = path or config_path()
    cfg = TuiConfig(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return cfg
    except OSError as exc:
        cfg.problem = f"cannot read {path}: {exc.strerror or exc}"
        return cfg
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        cfg.problem = f"{path}: not valid TOML ({exc}); settings ignored"
        return cfg
    theme = data.get("theme")
    if isinstance(theme, str) and theme:
        cfg.theme = theme
    elif theme is not None:
        cfg.problem = f"{path}: theme must be a string"
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        cfg.problem = f'{path}: [keys] must be a table of binding id = "keys"'
        return cfg
    for bid, value in keys.items():
        if isinstance(value, str) and value.strip():
            cfg.keymap[str(bid)] = value
        else:
            cfg.problem = f'{path}: keys.{bid} must be a string of keys, e.g. "q,ctrl+q"'
    return cfg


_THEME_LINE = re.compile(r"^\s*theme\s*=.*$", re.MULTILINE)
_FIRST_TABLE = re.compile(r"^\s*\[", re.MULTILINE)


def save_theme(path: Path, theme: str) -> None:
    """Remember a theme: rewrite (or add) the top-level `theme = ...` line, keeping the rest
    of the file as the user wrote it. OSError if the file cannot be written."""
    line = f"theme = {json.dumps(theme)}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    head_end = m.start() if (m := _FIRST_TABLE.search(text)) else len(text)
    head, tail = text[:head_end], text[head_end:]
    if _THEME_LINE.search(head):
        head = _THEME_LINE.sub(line, head, count=1)
    else:
        head = line + "\n" + head
    if tail and not head.endswith("\n"):
        head += "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + tail, encoding="utf-8")
    tmp.replace(path)
