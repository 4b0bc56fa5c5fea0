"""Waterfall of one inbound request: its callout and backend hops on one time axis.

Each hop is drawn from its own timing (connect, TLS, send, wait, receive) at its own
start; the gateway's overhead is the remainder, the part of the inbound request's time
that no hop covers. Correlation comes from the analyzer (`hops_for`), marked exact
(a trace id travelled through the gateway) or inferred (time containment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from inspector.analyzer.waterfall import gateway_overhead_ms as analyzer_overhead_ms
from inspector.schema.events import Event
from inspector.views.format import Clock, human_seconds, ms

PHASES: tuple[tuple[str, str], ...] = (
    ("connect", "yellow"),
    ("tls", "magenta"),
    ("send", "blue"),
    ("wait", "green"),
    ("receive", "cyan"),
)
OVERHEAD_STYLE = "bright_black"
CALLOUT_WAIT_STYLE = "bright_red"  # an auth callout's wait: its own colour, it is the tax
LABEL_W = 34
FIGURE_W = 24


@dataclass
class HopRow:
    mode: str  # exact | inferred
    event: Event | None  # None when the flow is no longer held
    why: dict[str, Any] | None = None  # Analyzer.why_redundant for a redundant callout


def redundant_text(why: dict[str, Any], clock: Clock) -> str:
    """ "redundant: a valid token for this key was issued at 10:00:01.250 (3.2 s earlier)"."""
    what = "a valid token" if why.get("kind", "token") in ("token", "exchange") else "a still-valid answer"
    earlier = float(why.get("earlier_s") or 0.0)
    ago = ms(earlier * 1000.0) if earlier < 1 else (f"{earlier:.1f} s" if earlier < 120 else human_seconds(earlier))
    return (
        f"redundant: {what} for this key was issued at {clock.time(why.get('issued_at'), millis=True)} ({ago} earlier)"
    )


def gateway_overhead_ms(inbound: Event, hops: list[HopRow]) -> tuple[float, float]:
    """The analyzer's figure for the hops this view still holds."""
    return analyzer_overhead_ms(inbound, [h.event for h in hops if h.event is not None])


def _ruler(ev: Event, t0: float, span: float, width: int) -> Text:
    """The inbound request's whole span, drawn as a line the hop bars sit under."""
    start = float(ev["ts"])
    end = float(ev.get("end") or start)
    c0 = max(0, min(width - 1, int(round((start - t0) / span * width))))
    c1 = max(c0 + 1, min(width, int(round((end - t0) / span * width))))
    return Text.assemble(" " * c0, ("━" * (c1 - c0), "bold"), " " * (width - c1))


def _bar(ev: Event, t0: float, span: float, width: int, callout: bool = False) -> Text:
    """One hop's phases as coloured blocks at its offset on the axis."""
    timing = ev.get("timing") or {}
    start = float(ev["ts"])
    end = float(ev.get("end") or start)
    c0 = int(round((start - t0) / span * width))
    c1 = max(c0 + 1, int(round((end - t0) / span * width)))
    c0, c1 = max(0, min(width - 1, c0)), max(1, min(width, c1))
    cells = c1 - c0
    durs = [(float(timing.get(name) or 0.0), style) for name, style in PHASES]
    total = sum(d for d, _ in durs) or 1.0
    text = Text(" " * c0)
    used = 0
    acc = 0.0
    for i, (d, style) in enumerate(durs):
        if callout and style == "green":
            style = CALLOUT_WAIT_STYLE
        acc += d
        upto = cells if i == len(durs) - 1 else int(round(acc / total * cells))
        n = max(0, upto - used)
        if n:
            text.append("█" * n, style)
            used += n
    text.append(" " * (width - c0 - used))
    return text


def _overhead_bar(inbound: Event, hops: list[HopRow], t0: float, span: float, width: int) -> Text:
    start, end = float(inbound["ts"]), float(inbound.get("end") or inbound["ts"])
    covered = [False] * width
    for h in hops:
        if h.event is None:
            continue
        s, e = float(h.event["ts"]), float(h.event.get("end") or h.event["ts"])
        for c in range(max(0, int((s - t0) / span * width)), min(width, int(round((e - t0) / span * width)))):
            covered[c] = True
    c0 = int((start - t0) / span * width)
    c1 = min(width, max(c0 + 1, int(round((end - t0) / span * width))))
    text = Text()
    for c in range(width):
        if c0 <= c < c1 and not covered[c]:
            text.append("░", OVERHEAD_STYLE)
        else:
            text.append(" ")
    return text


def _label(role: str, ev: Event, label_w: int = LABEL_W) -> Text:
    what = f"{ev.get('method') or '-'} {ev.get('path') or ev.get('host') or ''}"
    role_style = {"inbound": "bold", "callout": "bold red", "backend": "bold green"}.get(role, "")
    kind = str(ev.get("kind") or "token") if role == "callout" else ""
    t = Text.assemble((f"{role:<8}", role_style), " ", (f"{kind} " if kind else "", "red"), what)
    t.truncate(label_w, overflow="ellipsis", pad=True)
    return t


def waterfall_renderable(
    inbound: Event | None, hops: list[HopRow], clock: Clock, width: int, note: str = ""
) -> RenderableType:
    if inbound is None:
        return Text(
            note or "Select an inbound request in Flows (or one of its hops) to see its waterfall.", style="dim"
        )
    label_w = LABEL_W if width >= 110 else 22  # 80 columns: a shorter label, the bar keeps its room
    bar_w = max(20, width - label_w - FIGURE_W - 2)
    held = [h for h in hops if h.event is not None]
    held_events = [h.event for h in held if h.event is not None]
    t0 = min([float(inbound["ts"])] + [float(ev["ts"]) for ev in held_events])
    t1 = max([float(inbound.get("end") or inbound["ts"])] + [float(ev.get("end") or ev["ts"]) for ev in held_events])
    span = max(t1 - t0, 1e-6)
    total, overhead = gateway_overhead_ms(inbound, hops)
    timing = inbound.get("timing") or {}
    head = Text.assemble(
        ("inbound ", "bold"),
        f"{inbound.get('method') or '-'} {inbound.get('host')}:{inbound.get('port')}{inbound.get('path') or ''}  ",
        (f"status {inbound.get('status') if inbound.get('status') is not None else '-'}", ""),
        f"  at {clock.time(inbound.get('ts'), millis=True)}  total {ms(total)}  ttfb {ms(timing.get('ttfb'))}",
    )
    axis = Text(" " * (label_w + 1))
    axis.append(Text(f"0 ms{'':>{max(0, bar_w - 4 - len(ms(span * 1000)))}}{ms(span * 1000)}", style="dim"))
    lines: list[RenderableType] = [head, Text(""), axis]

    def row(label: Text, bar: Text, figure: str | Text, style: str = "") -> Text:
        return Text.assemble(label, " ", bar, " ", (figure, style) if isinstance(figure, str) else figure)

    lines.append(row(_label("inbound", inbound, label_w), _ruler(inbound, t0, span, bar_w), f"{ms(total):<9}", "bold"))
    for h in sorted(held, key=lambda h: float(h.event["ts"]) if h.event else 0.0):
        ev = h.event
        assert ev is not None
        hop_total = (ev.get("timing") or {}).get("total")
        status = ev.get("status")
        fig = Text.assemble(
            f"{ms(hop_total):<9} {status if status is not None else 'ERR':<3}",
            (" redundant", "bold red") if h.why else (f" {h.mode}", "dim" if h.mode == "exact" else "yellow"),
        )
        role = str(ev.get("role"))
        lines.append(row(_label(role, ev, label_w), _bar(ev, t0, span, bar_w, role == "callout"), fig))
        if h.why:
            lines.append(Text(" " * (label_w + 1) + redundant_text(h.why, clock), style="red"))
    gw = Text.assemble((f"{'gateway':<8}", "bold"), " overhead (remainder)")
    gw.truncate(label_w, overflow="ellipsis", pad=True)
    lines.append(row(gw, _overhead_bar(inbound, hops, t0, span, bar_w), f"{ms(overhead):<9}", "bold"))
    lines.append(Text(""))
    legend = Text.assemble(("phases: ", "dim"))  # not a dim base style: the swatches must match the bars
    for name, style in PHASES:
        legend.append("██", style)
        legend.append(f" {name}  ")
    legend.append("██", CALLOUT_WAIT_STYLE)
    legend.append(" auth wait  ")
    legend.append("░░", OVERHEAD_STYLE)
    legend.append(" gateway overhead")
    lines.append(legend)
    modes = {m: sum(1 for h in hops if h.mode == m) for m in ("exact", "inferred")}
    missing = len(hops) - len(held)
    corr = f"hops: {len(hops)} correlated ({modes['exact']} exact by trace id, {modes['inferred']} inferred by time)"
    if missing:
        corr += f", {missing} no longer held"
    if not hops:
        corr = "no hops correlated with this request (none seen, or ambiguous in time)"
    lines.append(Text(corr, style="dim"))
    lines.append(
        Text(
            f"gateway overhead {ms(overhead)} = inbound {ms(total)} − time inside hops {ms(total - overhead)}",
            style="dim",
        )
    )
    if note:
        lines.append(Text(note, style="dim"))
    return Group(*lines)


class Waterfall(Widget):
    """Renders the waterfall for the data it was last given, at its current width."""

    DEFAULT_CSS = "Waterfall { height: auto; }"

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.inbound: Event | None = None
        self.hops: list[HopRow] = []
        self.note = ""

    def show(self, inbound: Event | None, hops: list[HopRow], note: str = "") -> None:
        self.inbound, self.hops, self.note = inbound, hops, note
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        return waterfall_renderable(self.inbound, self.hops, self.clock, self.size.width or 100, self.note)
