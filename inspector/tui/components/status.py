"""The header line: where the data comes from, its state, and what was lost on the way."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from inspector.tui.feed import FILE, Feed

STATE_STYLE = {"live": "bold green", "paused": "bold yellow", "disconnected": "bold red", "refused": "bold red",
               "connecting": "yellow", FILE: "bold cyan"}
STATE_MARK = {"live": "●", "paused": "❚❚", "disconnected": "✖", "refused": "✖", "connecting": "…", FILE: "■"}


def status_text(feed: Feed, paused: bool, note: str = "") -> Text:
    state = "paused" if paused else feed.state
    where = f"live {feed.source}" if feed.kind != FILE else f"file {feed.source}"
    t = Text.assemble(("tokentax ", "bold"), ("│ ", "dim"), (where, ""), ("  │ ", "dim"),
                      (f"{STATE_MARK.get(state, '?')} {state}", STATE_STYLE.get(state, "")))
    if paused:
        t.append("  (display paused, ingest goes on)", "yellow")
    elif feed.state in ("disconnected", "refused", "connecting") and feed.kind != FILE and not note:
        why = feed.reason or ""
        t.append(f"  {why}{'; ' if why else ''}{'reattaching' if feed.state != 'connecting' else 'waiting'}", "dim")
    if note:
        t.append(f"  {note}", "red")
    t.append("  │ ", "dim")
    t.append(f"flows held {feed.flows_held}")
    t.append("  │ ", "dim")
    drops = feed.addon_dropped + feed.lost
    t.append("dropped ", "")
    t.append(f"proxy {feed.addon_dropped} · this view {feed.lost}", "bold red" if drops else "")
    if feed.addon_errors:
        t.append(f"  addon errors {feed.addon_errors}", "bold red")
    return t


class StatusBar(Static):
    """One line of fixed height: updated without a layout pass (it runs on every tick)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: Text | None = None

    def show(self, feed: Feed, paused: bool, note: str = "") -> None:
        text = status_text(feed, paused, note)
        if self._shown is not None and text.plain == self._shown.plain and text.spans == self._shown.spans:
            return
        self._shown = text
        self.update(text, layout=False)
