"""TUI fixtures, shared with tests/commands through tests.support.tui."""

from tests.support.tui import capture, live_stack, make_app  # noqa: F401 - pytest fixtures by name
