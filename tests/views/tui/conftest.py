"""TUI fixtures, shared with tests/commands through tests.support.tui."""

import pytest

from tests.support.tui import capture, live_stack, make_app  # noqa: F401 - pytest fixtures by name


@pytest.fixture(autouse=True)
def _fixed_config_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The help names the settings file: the same path on every machine, and never the user's."""
    monkeypatch.setenv("TOKENTAX_CONFIG", "/home/user/.config/tokentax/tui.toml")
