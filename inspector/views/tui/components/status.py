"""The header line: where the data comes from, its state, and what was lost on the way."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from inspector.views.format import count, counted
from inspector.views.tui.feed import FILE, Feed, MultiFeed

STATE_STYLE = {
    "live": "bold green",
    "paused": "bold yellow",
    "disconnected": "bold red",
    "refused": "bold red",
    "connecting": "yellow",
    FILE: "bold cyan",
}
STATE_MARK = {"live": "●", "paused": "❚❚", "disconnected": "✖", "refused": "✖", "connecting": "…", FILE: "■"}


MANY = 4  # more sources than this: the header counts states instead of naming each source


def _sources_text(t: Text, feed: MultiFeed) -> None:
    """Each source's mark and state (or, for many sources, how many are in each state)."""
    if len(feed.sources) > MANY:
        counts: dict[str, int] = {}
        for f in feed.sources:
            counts[f.state] = counts.get(f.state, 0) + 1
        for i, (state, n) in enumerate(sorted(counts.items(), key=lambda kv: kv[0] != "live")):
            t.append("  " if i else "")
            t.append(f"{STATE_MARK.get(state, '?')} {n} {state}", STATE_STYLE.get(state, ""))
        return
    for i, (f, short) in enumerate(zip(feed.sources, feed.shorts)):
        t.append("  " if i else "")
        t.append(f"{STATE_MARK.get(f.state, '?')} {short} {f.state}", STATE_STYLE.get(f.state, ""))


def status_text(feed: Feed | MultiFeed, paused: bool, note: str = "") -> Text:
    if isinstance(feed, MultiFeed):
        t = Text.assemble(
            ("tokentax ", "bold"), ("│ ", "dim"), (f"live, sum of {len(feed.sources)} sources", ""), ("  │ ", "dim")
        )
        if paused:
            t.append(f"{STATE_MARK['paused']} paused", STATE_STYLE["paused"])
            t.append("  (display paused, ingest goes on)  ", "yellow")
        _sources_text(t, feed)
        if note:
            t.append(f"  {note}", "red")
        _tail(t, feed)
        return t
    state = "paused" if paused else feed.state
    where = f"stream {feed.source}" if feed.kind != FILE else feed.source
    t = Text.assemble(
        ("tokentax ", "bold"),
        ("│ ", "dim"),
        (f"{STATE_MARK.get(state, '?')} {state}", STATE_STYLE.get(state, "")),
        " ",
        (where, ""),
    )
    if paused:
        t.append("  (display paused, ingest goes on)", "yellow")
    elif feed.state in ("disconnected", "refused", "connecting") and feed.kind != FILE and not note:
        why = feed.reason or ""
        t.append(f"  {why}{'; ' if why else ''}{'reattaching' if feed.state != 'connecting' else 'waiting'}", "dim")
    if note:
        t.append(f"  {note}", "red")
    _tail(t, feed)
    return t


def _plural(n: int, word: str) -> str:
    return counted(n, word)


def _tail(t: Text, feed: Feed | MultiFeed) -> None:
    """Losses and addon errors first, then what the list and the KPIs cover: a narrow terminal
    cuts the header's end, and it must cut the explanation, never the warning."""
    lost = feed.addon_dropped + feed.lost
    if lost:
        t.append("  │ ", "dim")
        why = []
        if feed.addon_dropped:
            why.append(f"{count(feed.addon_dropped)} dropped by the proxy's stream queue")
        if feed.lost:
            why.append(f"{count(feed.lost)} lost on the way here")
        t.append(f"⚠ {_plural(lost, 'flow')} missing: " + ", ".join(why), "bold red")
    if feed.addon_errors:
        t.append(f"  ⚠ {counted(feed.addon_errors, 'addon error')}", "bold red")
    t.append("  │ ", "dim")
    if feed.kind == FILE:
        t.append(_plural(feed.flows_held, "flow"))
    else:
        # Attached to a running proxy: its summaries count everything since it started, the
        # list holds what arrived since this view attached.
        t.append(f"list: {_plural(feed.flows_held, 'flow')} since attach · KPIs: whole proxy run", "")


class StatusBar(Static):
    """One line of fixed height: updated without a layout pass (it runs on every tick)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: Text | None = None

    def show(self, feed: Feed | MultiFeed, paused: bool, note: str = "") -> None:
        text = status_text(feed, paused, note)
        if self._shown is not None and text.plain == self._shown.plain and text.spans == self._shown.spans:
            return
        self._shown = text
        self.update(text, layout=False)
