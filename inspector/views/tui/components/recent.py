"""Recent requests' waterfalls, one line each, so the pattern shows and not one sample:
each inbound request's span on a common scale, the part spent in auth calls in red, in
backend calls in green, the gateway's own time in grey. Slowest first or newest first
(key `o` on the Timing tab).

Only the held flows are read (the feed's ring), and only when the Timing tab is shown.
"""

from __future__ import annotations

from typing import Any, Protocol

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from inspector.schema.events import Event
from inspector.views.format import Clock, counted, ms

ORDERS = ("slowest", "newest")
SCAN = 2_000  # newest held flows looked at for inbound requests
SHOW = 12
STYLE = {"callout": "bright_red", "backend": "green"}
OVERHEAD = "bright_black"


class Hops(Protocol):
    def feed_of(self, ev: Event | None) -> Any: ...

    def find(self, ids: set[str]) -> dict[str, Event]: ...

    @property
    def ring(self) -> Any: ...


def latest_inbound(feed: Hops, scan: int = SCAN) -> Event | None:
    ring = feed.ring
    for i, ev in enumerate(reversed(ring)):
        if i >= scan:
            break
        if ev.get("role") == "inbound":
            return ev
    return None


def recent_inbound(feed: Hops, order: str = "slowest", n: int = SHOW, scan: int = SCAN) -> list[Event]:
    found: list[Event] = []
    for i, ev in enumerate(reversed(feed.ring)):
        if i >= scan:
            break
        if ev.get("role") == "inbound":
            found.append(ev)
    if order == "slowest":
        found.sort(key=lambda e: -float((e.get("timing") or {}).get("total") or 0.0))
    return found[:n]


def _mini_bar(inbound: Event, hops: list[Event], scale_s: float, width: int) -> Text:
    start = float(inbound["ts"])
    end = float(inbound.get("end") or start)
    cells = max(1, min(width, int(round((end - start) / scale_s * width)))) if scale_s > 0 else 1
    kinds = [""] * cells
    for h in hops:
        role = str(h.get("role"))
        s = max(start, float(h["ts"]))
        e = min(end, float(h.get("end") or h["ts"]))
        c0 = int((s - start) / scale_s * width) if scale_s > 0 else 0
        c1 = max(c0 + 1, int(round((e - start) / scale_s * width))) if scale_s > 0 else 1
        for c in range(max(0, c0), min(cells, c1)):
            if kinds[c] != "callout":  # auth time wins a shared cell: it is what this view is about
                kinds[c] = role
    t = Text()
    for k in kinds:
        t.append("█" if k else "░", STYLE.get(k, OVERHEAD))
    return t


class RecentRequests:
    """The list, laid out at the width it is rendered at (not the width the pane had when the
    data was read, which is 0 or a guess before the first layout: the bars changed length
    from one run to the next)."""

    def __init__(self, feed: Hops, clock: Clock, order: str = "slowest") -> None:
        self.feed, self.clock, self.order = feed, clock, order

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield recent_renderable(self.feed, self.clock, options.max_width, self.order)


def recent_renderable(feed: Hops, clock: Clock, width: int, order: str = "slowest") -> RenderableType:
    reqs = recent_inbound(feed, order)
    title = Text.assemble(
        (f"Recent requests, {order} first", "bold underline"),
        ("   (o: slowest/newest; select a flow in Flows to see its waterfall above)", "dim"),
    )
    if not reqs:
        return Group(title, Text("no inbound requests held yet", style="dim"))
    scale = max(float(r.get("end") or r["ts"]) - float(r["ts"]) for r in reqs) or 1e-6
    path_w = 18 if width < 110 else 30
    bar_w = max(10, width - 12 - 1 - 9 - 1 - path_w - 1 - 18)
    lines: list[RenderableType] = [title]
    for r in reqs:
        src = feed.feed_of(r)
        hop_ids = {h.id for h in src.hops_for(str(r.get("id")))}
        hops = list(feed.find(hop_ids).values())
        n_auth = sum(1 for h in hops if h.get("role") == "callout")
        path = Text(f"{r.get('method') or '-'} {r.get('path') or '-'}")
        path.truncate(path_w, overflow="ellipsis", pad=True)
        total = (r.get("timing") or {}).get("total")
        auth = counted(n_auth, "auth call")
        lines.append(
            Text.assemble(
                (clock.time(r.get("ts"), millis=True), "dim"),
                " ",
                (ms(total).rjust(9), "bold"),
                " ",
                path,
                " ",
                _mini_bar(r, hops, scale, bar_w),
                " ",
                (auth, "red" if n_auth else "dim"),
            )
        )
    legend = Text.assemble(
        ("██", STYLE["callout"]), " auth calls  ", ("██", STYLE["backend"]), " backend  ", ("░░", OVERHEAD), " gateway"
    )
    lines.append(legend)
    return Group(*lines)
