"""The Auth calls tab's summary: every kind of auth work the gateway does, then each cache
key under its kind, with how many of its calls were redundant.

Figures are the report's: `callouts.by_kind` and `keys`. A report from before kinds
existed has neither `by_kind` nor a kind per key: all its callouts are token fetches, so
the callouts totals are shown as the `token` row.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from inspector.views.format import count, ms, pct

UNKNOWN = "—"
KIND_ORDER = ("token", "exchange", "introspection", "jwks", "userinfo", "forward_auth")


def by_kind(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    c = report.get("callouts") or {}
    kinds = c.get("by_kind")
    if isinstance(kinds, dict) and kinds:
        return {str(k): v for k, v in kinds.items() if isinstance(v, dict)}
    if not c.get("total"):
        return {}
    return {"token": c}


def _n(value: Any) -> str:
    return count(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else UNKNOWN


def _ms(value: Any) -> str:
    return ms(value) if isinstance(value, (int, float)) else UNKNOWN


def kinds_table(report: dict[str, Any]) -> Table:
    t = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
    for name, justify in (
        ("kind", "left"),
        ("calls", "right"),
        ("redundant", "right"),
        ("identical", "right"),
        ("failed", "right"),
        ("p50", "right"),
        ("p95", "right"),
    ):
        t.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    kinds = by_kind(report)
    for kind in sorted(kinds, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k)):
        row = kinds[kind]
        total, red = row.get("total"), row.get("redundant")
        red_text = _n(red)
        if isinstance(total, int) and total and isinstance(red, int):
            red_text += f" ({pct(red / total)})"
        t.add_row(
            Text(kind, style="bold red" if red else "bold"),
            _n(total),
            Text(red_text, style="bold red" if red else ""),
            _n(row.get("identical")),
            Text(_n(row.get("failed")), style="red" if row.get("failed") else ""),
            _ms(row.get("p50_ms")),
            _ms(row.get("p95_ms")),
        )
    return t


def keys_table(report: dict[str, Any]) -> Table:
    """Each key under its kind (a key without a kind is a token key)."""
    t = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
    for name, justify in (("kind / key", "left"), ("calls", "right"), ("redundant", "right"), ("failed", "right")):
        t.add_column(name, justify=justify, no_wrap=name != "kind / key", overflow="fold")  # type: ignore[arg-type]
    groups: dict[str, list[dict[str, Any]]] = {}
    for k in report.get("keys") or []:
        groups.setdefault(str(k.get("kind") or "token"), []).append(k)
    for kind in sorted(groups, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k)):
        t.add_row(Text(kind, style="bold"), "", "", "")
        for k in groups[kind]:
            red = k.get("redundant")
            t.add_row(
                Text("  " + str(k.get("key") or "-")),
                _n(k.get("callouts")),
                Text(_n(red), style="bold red" if red else ""),
                Text(_n(k.get("failed")), style="red" if k.get("failed") else ""),
            )
    return t


def auth_calls_renderable(report: dict[str, Any]) -> RenderableType:
    if not by_kind(report):
        return Text("No auth calls seen yet (token, exchange, introspection, jwks, userinfo, forward_auth).", "dim")
    parts: list[RenderableType] = [Text("By kind", style="bold underline"), kinds_table(report)]
    if report.get("keys"):
        parts += [Text(""), Text("By key (what a correct cache keys on)", style="bold underline"), keys_table(report)]
    parts += [Text(""), Text("Tokens issued", style="bold underline")]
    return Group(*parts)


class AuthCallsSummary(Static):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[Any, Any] | None = None

    def show(self, report: dict[str, Any]) -> None:
        key = (
            (report.get("callouts") or {}).get("by_kind"),
            report.get("keys"),
            (report.get("callouts") or {}).get("total"),
        )
        if key == self._shown:
            return
        self._shown = key  # type: ignore[assignment]
        self.update(auth_calls_renderable(report))
