"""Fixtures the command tests share with the TUI tests."""

from tests.support.tui import capture  # noqa: F401 - a pytest fixture by name
