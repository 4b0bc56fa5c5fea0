"""`tokentax check` results as text (one line per broken budget, then a summary line) or
markdown (a pull-request comment). Only formats what analyzer.budget computed."""

from __future__ import annotations

from typing import Any

from inspector.analyzer.budget import ALLOWED, BROKEN, FAILING, UNKNOWN


def summary_line(sm: dict[str, Any]) -> str:
    line = f"tokentax check: {sm['broken']} of {sm['budgets']} budgets broken"
    if sm["unknown"]:
        line += f" ({sm['unknown']} unknown)"
    if sm["fail_on"] is not None:
        n = sm["findings_failing"]
        line += f", {n} {'finding' if n == 1 else 'findings'} at or above {sm['fail_on']}"
    return line


def to_text(results: list[dict[str, Any]], sm: dict[str, Any], verbose: bool = False) -> str:
    lines = []
    for r in results:
        if r["status"] in FAILING:
            tag = "UNKNOWN" if r["status"] == UNKNOWN else ("FINDING" if r["type"] == "finding" else "BROKEN")
            lines.append(f"{tag} {r['message']}")
        elif r["status"] == ALLOWED:
            lines.append(f"allowed {r['message']}")
        elif verbose and r["type"] == "budget":
            lines.append(f"ok {r['message']}")
    lines.append(summary_line(sm))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[dict[str, Any]], sm: dict[str, Any], source: str = "") -> str:
    from inspector.analyzer.budget import fmt

    icon = {BROKEN: "❌", UNKNOWN: "❓", ALLOWED: "➖", "ok": "✅"}
    verdict = "passed" if sm["passed"] else "failed"
    lines = [f"### tokentax check {verdict}", ""]
    if source:
        lines += [f"Capture: `{source}`", ""]
    lines += [f"**{summary_line(sm)}**", "", "| | budget | limit | measured |", "|---|---|---|---|"]
    for r in results:
        if r["type"] != "budget":
            continue
        limit = "never" if r["key"] == "never" else fmt(r["limit"], r["unit"])
        measured = (
            ("fired" if r["measured"] else "did not fire") if r["key"] == "never" else fmt(r["measured"], r["unit"])
        )
        lines.append(f"| {icon[r['status']]} | {_cell(r['name'])} | {limit} | {measured} |")
    findings = [r for r in results if r["type"] == "finding"]
    if findings:
        lines += ["", "<details><summary>Findings</summary>", ""]
        for r in findings:
            mark = "❌ " if r["status"] == BROKEN else ""
            lines.append(f"- {mark}{_cell(r['message'])}")
            for e in r["evidence"]:
                lines.append(f"  - {_cell(e)}")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
