"""The selected flow, field by field, with the JWT claims of its token.

Events are already secret-free (no header values, no bodies, tokens only as keyed
fingerprints), so showing every field they hold shows nothing the proxy kept back.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.schema.events import Event
from inspector.views.format import Clock, count, human_seconds, ms
from inspector.views.tui.components.waterfall import redundant_text

PHASE_KEYS = ("connect", "tls", "send", "wait", "receive")
TIME_CLAIMS = ("exp", "iat", "nbf")


def _grid() -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True)
    t.add_column(overflow="fold")
    return t


def _claims(title: str, claims: dict[str, Any], clock: Clock) -> RenderableType:
    t = _grid()
    for name, value in claims.items():
        if name in TIME_CLAIMS and isinstance(value, (int, float)):
            t.add_row(name, f"{value} ({clock.datetime(value)})")
        elif isinstance(value, list):
            t.add_row(name, ", ".join(map(str, value)))
        else:
            t.add_row(name, str(value))
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, (int, float)) and isinstance(iat, (int, float)) and exp > iat:
        t.add_row("lifetime", f"{human_seconds(exp - iat)} (exp - iat)")
    return Group(Text(title, style="bold"), t)


def detail_renderable(
    ev: Event | None,
    clock: Clock,
    correlation: str = "",
    why: dict[str, Any] | None = None,
    restart: str = "",
) -> RenderableType:
    """Every field of one flow event, grouped; JWT claims in their own sections. `why` is
    the analyzer's reason a callout was redundant (Analyzer.why_redundant)."""
    if ev is None:
        return Text("Select a flow (arrow keys or click) to see its fields and JWT claims.", style="dim")
    t = _grid()
    if why:
        t.add_row(Text("redundant", style="bold red"), Text(redundant_text(why, clock)[len("redundant: ") :], "red"))
    if restart:
        t.add_row(Text("restart", style="bold yellow"), Text(restart, "yellow"))
    t.add_row("id", str(ev.get("id", "")))
    if ev.get("source"):
        t.add_row("source", str(ev["source"]))
    end = ev.get("end")
    t.add_row("time", f"{clock.time(ev.get('ts'), millis=True)} → {clock.time(end, millis=True) if end else '-'}")
    t.add_row("role", f"{ev.get('role')} (by {ev.get('role_by', '?')})")
    if ev.get("role") == "callout":
        t.add_row("kind", str(ev.get("kind") or "token") + ("" if ev.get("kind") else " (a capture from before kinds)"))
    if ev.get("listener"):
        t.add_row("listener", str(ev["listener"]))
    port = ev.get("port")
    where = f"{ev.get('scheme') or '?'}://{ev.get('host')}{':' + str(port) if port else ''}{ev.get('path') or ''}"
    t.add_row("request", f"{ev.get('method') or '-'} {where}")
    status = ev.get("status")
    t.add_row("status", "-" if status is None else str(status))
    err = ev.get("error")
    if isinstance(err, dict):
        t.add_row("error", Text(f"{err.get('kind', '?')}: {err.get('msg', '')}", style="red"))
    timing = ev.get("timing") or {}
    conn = "reused connection" if timing.get("reused") else "new connection"
    t.add_row("timing", f"total {ms(timing.get('total'))}  ttfb {ms(timing.get('ttfb'))}  ({conn})")
    t.add_row("phases", "  ".join(f"{k} {ms(timing[k])}" for k in PHASE_KEYS if timing.get(k) is not None))
    size = ev.get("size") or {}
    t.add_row("size", f"request {count(size.get('req', 0))} B  response {count(size.get('resp', 0))} B")
    trace = ev.get("trace")
    if isinstance(trace, dict):
        t.add_row("trace", f"{trace.get('id')} ({trace.get('src')})")
    if correlation:
        t.add_row("correlation", correlation)
    key = ev.get("key")
    if isinstance(key, dict):
        t.add_row("cache key", "  ".join(f"{k}={v}" for k, v in key.items()))
    parts_out: list[RenderableType] = [t]
    tok = ev.get("token")
    if isinstance(tok, dict):
        tt = _grid()
        for name, value in tok.items():
            if name == "jwt":
                continue
            if name == "expires_in" and isinstance(value, (int, float)):
                value = f"{value} s ({human_seconds(value)})"
            if name == "refresh":
                tt.add_row("refresh token", "yes" if value else "no")
                continue
            if name == "error":
                tt.add_row(Text("error", style="red"), Text(str(value), style="bold red"))
                continue
            tt.add_row(name, str(value))
        parts_out += [Text(""), Text("token response", style="bold"), tt]
        if isinstance(tok.get("jwt"), dict):
            parts_out += [Text(""), _claims("JWT claims (issued token)", tok["jwt"], clock)]
    bearer = ev.get("bearer")
    if isinstance(bearer, dict):
        bt = _grid()
        for name, value in bearer.items():
            if name != "jwt":
                bt.add_row(name, str(value))
        parts_out += [Text(""), Text("bearer presented", style="bold"), bt]
        if isinstance(bearer.get("jwt"), dict):
            parts_out += [Text(""), _claims("JWT claims (bearer)", bearer["jwt"], clock)]
    if ev.get("gateway"):
        parts_out += [Text(""), Text(f"gateway hints: {', '.join(map(str, ev['gateway']))}")]
    return Group(*parts_out)


class DetailPane(VerticalScroll):
    """Scrollable detail of the selected flow."""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")

    def show(self, renderable: RenderableType) -> None:
        self.query_one("#detail-body", Static).update(renderable)
