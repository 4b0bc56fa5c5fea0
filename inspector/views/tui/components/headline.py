"""The problem on the first screen: the worst finding's title under the KPI strip, and the
findings count with the worst severity on the Findings tab's label ("Findings ✖1").

The findings are the report's own (sorted worst first by the analyzer); this only picks
the first and counts them.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from inspector.schema.units import plural
from inspector.views.report.text import SEVERITY_MARK, SEVERITY_STYLE

ORDER = ("critical", "warning", "info", "ok")
PROBLEMS = ("critical", "warning")  # what the tab label counts: the findings that need action


def worst(findings: list[dict[str, Any]]) -> dict[str, Any] | None:
    ranked = [f for f in findings if f.get("severity") in ORDER]
    return min(ranked, key=lambda f: ORDER.index(f["severity"])) if ranked else None


def findings_label(findings: list[dict[str, Any]]) -> str:
    """The Findings tab's label: the count of findings needing action, marked by the worst
    severity ("Findings ✖2", "Findings ▲1"), or the plain count of informational ones."""
    top = worst(findings)
    if top is None:
        return "Findings"
    problems = [f for f in findings if f.get("severity") in PROBLEMS]
    n = len(problems) if problems else len(findings)
    return f"Findings {SEVERITY_MARK.get(top['severity'], '')}{n}"


def headline_text(findings: list[dict[str, Any]], width: int = 0) -> Text:
    top = worst(findings)
    if top is None:
        return Text("no findings yet", style="dim")
    sev = top["severity"]
    style = SEVERITY_STYLE.get(sev, "")
    t = Text.assemble(
        (f"{SEVERITY_MARK.get(sev, '-')} {sev} ", style),
        (str(top.get("title") or ""), "bold" if sev in PROBLEMS else ""),
    )
    others = len(findings) - 1
    if others > 0:
        t.append(f"  (+{others} more {plural(others, 'finding')}: press 4)", "dim")
    if width:
        t.truncate(width, overflow="ellipsis")
    return t


class Headline(Static):
    """One line under the KPI strip; updated without a layout pass."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: list[dict[str, Any]] | None = None

    def show(self, findings: list[dict[str, Any]]) -> None:
        if findings == self._shown:
            return
        self._shown = findings
        self.update(headline_text(findings), layout=False)
