"""The terminal summary: one analyzer snapshot as rich renderables (also used on exit)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from inspector.schema.units import human_seconds, ms
from inspector.views.format import UNKNOWN, pct, spread

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan", "ok": "green"}
SEVERITY_MARK = {"critical": "✖", "warning": "▲", "info": "●", "ok": "✔"}


def kpi_table(s: dict[str, Any]) -> Table:
    c, tax, fl = s["callouts"], s["tax"], s["flows"]
    t = Table.grid(padding=(0, 2))
    t.add_column(style="dim", no_wrap=True)
    t.add_column(overflow="fold")
    per = c["per_inbound"]
    t.add_row(
        "flows", f"inbound {fl['inbound']}  callout {fl['callout']}  backend {fl['backend']}  other {fl['other']}"
    )
    t.add_row("over", human_seconds(s["span"]["seconds"]))
    t.add_row("callouts per request", UNKNOWN if per is None else f"{per:.2f}")
    t.add_row("redundant fetches", f"{c['redundant']} of {c['total']} ({pct(c['redundant_share'])})")
    t.add_row("identical fetches", str(c["identical"]))
    t.add_row("failed callouts", str(c["failed"]))
    t.add_row("callout latency", spread(c))
    t.add_row(
        "token tax",
        f"{ms(tax['ms_per_inbound'])} per request, {pct(tax['share_of_ttfb'])} of time to first byte",
    )
    aph = tax["avoidable_callouts_per_hour"]
    t.add_row("auth calls a cache removes", UNKNOWN if aph is None else f"{aph:.0f} per hour")
    t.add_row("inbound time to first byte", spread(s["inbound"], "ttfb_"))
    t.add_row("distinct tokens", str(s["tokens_distinct"]))
    probes = (s.get("probes") or {}).get("total")
    if probes:
        t.add_row("connections without requests", f"{probes} (health checks; not inbound requests)")
    corr = s["correlation"]
    t.add_row(
        "hops correlated",
        f"exact {corr['exact']}  inferred {corr['inferred']}  ambiguous {corr['ambiguous']}  none {corr['none']}",
    )
    addon = s.get("addon") or {}
    if addon.get("errors") or addon.get("dropped") or addon.get("capture_error"):
        t.add_row(
            "addon",
            f"errors {addon.get('errors', 0)}  stream drops {addon.get('dropped', 0)}"
            + (f"  {addon['capture_error']}" if addon.get("capture_error") else ""),
        )
    return t


def findings_renderable(findings: list[dict[str, Any]]) -> RenderableType:
    if not findings:
        return Text("No findings yet: no token callouts seen.", style="dim")
    lines: list[RenderableType] = []
    for f in findings:
        style = SEVERITY_STYLE.get(f["severity"], "")
        head = Text.assemble(
            (f"{SEVERITY_MARK.get(f['severity'], '-')} {f['severity']:<8} ", style),
            (f"[{f['id']}] ", "dim"),
            f["title"],
        )
        lines.append(head)
        for e in f["evidence"]:
            lines.append(Text(f"      {e}", style="dim"))
    return Group(*lines)


def kinds_table(s: dict[str, Any]) -> Table | None:
    """Auth calls by kind (callouts.by_kind), or None when the report has no kinds."""
    from inspector.views.report.kinds import HEAD, NUMERIC, kind_rows

    rows = kind_rows(s)
    if not rows:
        return None
    t = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
    for i, name in enumerate(HEAD):
        t.add_column(name, justify="right" if i in NUMERIC else "left", no_wrap=True)
    for row in rows:
        t.add_row(*row)
    return t


def notes_renderable(s: dict[str, Any]) -> RenderableType:
    """Why a figure shows "—" or carries a caveat (the report's notes)."""
    by_reason: dict[str, list[str]] = {}  # one line per reason: four per-hour figures share one
    for n in s.get("notes") or []:
        figures = by_reason.setdefault(str(n.get("reason", "")), [])
        if n.get("figure") not in figures:
            figures.append(str(n.get("figure", "")))
    return Group(*(Text(f"  {', '.join(figs)}: {why}", style="dim") for why, figs in by_reason.items()))


def summary_renderable(s: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = [Text("tokentax summary", style="bold"), kpi_table(s)]
    kinds = kinds_table(s)
    if kinds is not None:
        parts += [Text(""), Text("Auth calls by kind", style="bold"), kinds]
    if s.get("notes"):
        parts += [Text(""), Text("Notes", style="bold"), notes_renderable(s)]
    parts += [Text(""), Text("Findings", style="bold"), findings_renderable(s["findings"])]
    return Group(*parts)


def status_line(s: dict[str, Any]) -> str:
    """The compact headless status line, one per interval."""
    c, r, tax = s["callouts"], s["rates"], s["tax"]
    per = c["per_inbound"]
    return (
        f"tokentax  in {r['inbound_per_s']:.1f}/s  callouts {r['callout_per_s']:.1f}/s  "
        f"per-req {UNKNOWN if per is None else f'{per:.2f}'}  redundant {c['redundant']} "
        f"({pct(c['redundant_share'], sep='')})  identical {c['identical']}  tax {ms(tax['ms_per_inbound'])}/req  "
        f"tokens {s['tokens_distinct']}  errors {s['errors']}  flows {sum(s['flows'].values())}"
    )
