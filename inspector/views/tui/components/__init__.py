"""Widgets of the tokentax TUI. Each formats figures it is handed; none computes its own."""
