"""The findings checklist: each finding with its severity, the figure in its title, and evidence.

Titles and evidence are the report's own words (inspector.analyzer.findings), with the
report's severity marks and colours, so the TUI and the exported report agree.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.views.report.text import SEVERITY_MARK, SEVERITY_STYLE, notes_renderable


def checklist(findings: list[dict[str, Any]]) -> RenderableType:
    """One line per finding (mark, severity, title with its figure), its evidence under it."""
    if not findings:
        return Text("No findings yet: no token callouts seen.", style="dim")
    t = Table.grid(padding=(0, 1))
    t.add_column(no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    for i, f in enumerate(findings):
        style = SEVERITY_STYLE.get(f["severity"], "")
        if i:
            t.add_row("", "", "")
        t.add_row(
            Text(SEVERITY_MARK.get(f["severity"], "-"), style),
            Text(f["severity"], style),
            Text.assemble((f["title"], "bold"), (f"  [{f['id']}]", "dim")),
        )
        for e in f["evidence"]:
            t.add_row("", "", Text(f"· {e}", style="dim"))
    return Group(t)


def with_notes(findings: list[dict[str, Any]], report: dict[str, Any]) -> RenderableType:
    """The checklist, then the report's notes: why a card shows "—" (its tooltip says so too,
    but only to a mouse) or what a figure's caveat is, in words on screen."""
    body = checklist(findings)
    if not report.get("notes"):
        return body
    return Group(
        body, Text(""), Text("Notes: figures shown as — or with a caveat", style="bold"), notes_renderable(report)
    )


class FindingsView(VerticalScroll):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="findings-body")

    def show(self, report: dict[str, Any]) -> None:
        findings = report.get("findings") or []
        shown = (findings, report.get("notes") or [])
        if shown == self._shown:
            return
        self._shown = shown
        self.query_one("#findings-body", Static).update(with_notes(findings, report))
