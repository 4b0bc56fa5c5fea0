"""The sources table (`tokentax attach A B ...`): each stream, its state, and its own figures.

One row per source, read as is from that source's latest summary report
(`aggregate.source_figures`), and a last row with the sum (`aggregate.combine`, via the
feed's report): percentiles there are the largest per-source value, labelled "max".
Rebuilt only when the report or a connection state changed (a few rows: a DataTable is fine).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from inspector.analyzer.combine import source_figures
from inspector.views import format as fmt
from inspector.views.tui.components.status import STATE_MARK, STATE_STYLE
from inspector.views.tui.feed import MultiFeed

COLUMNS = (
    "source",
    "state",
    "inbound/s",
    "flows",
    "callouts/req",
    "redundant",
    "token tax/req",
    "p95 callout · ttfb",
    "errors",
    "drops",
    "why",
)
# drops: events the proxy's stream dropped (all its clients) · flows this view missed
TOTAL = "all (sum)"


def _per(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}"


def _figure_cells(fig: dict[str, Any]) -> list[str]:
    return [
        fmt.rate(fig["inbound_per_s"]),
        fmt.count(fig["flows"]),
        _per(fig["per_inbound"]),
        f"{fmt.count(fig['redundant'])} ({fmt.pct(fig['redundant_share'])})",
        f"{fmt.ms(fig['tax_ms_per_inbound'])} · {fmt.pct(fig['tax_share_of_ttfb'])}"
        if fig["tax_ms_per_inbound"] is not None
        else "-",
        _p95(fig["callout_p95_ms"], fig["ttfb_p95_ms"]),
        fmt.count(fig["errors"]),
    ]


def _p95(callout: float | None, ttfb: float | None) -> str:
    if callout is None and ttfb is None:
        return "-"
    return f"{fmt.ms(callout)} · {fmt.ms(ttfb)}"


def source_rows(feed: MultiFeed, report: dict[str, Any]) -> list[tuple[str, ...]]:
    """The table's rows as plain text: one per source, then the sum (tests read these too)."""
    rows: list[tuple[str, ...]] = []
    for f, name in zip(feed.sources, feed.names):
        fig = source_figures(f.remote)
        cells = _figure_cells(fig) if f.remote is not None else ["-"] * 7
        why = ""
        if f.state != "live":
            cells[0] = "-"  # its last rate is stale (and left out of the sum); its counts are kept
            then = "waiting" if f.state == "connecting" else "reattaching"
            why = f"{f.reason}; {then}" if f.reason else then
        rows.append((name, f"{STATE_MARK.get(f.state, '?')} {f.state}", *cells, f"{fig['dropped']} · {f.lost}", why))
    total = source_figures(report)
    mx = (report.get("combined") or {}).get("max_percentiles") or {}
    total["callout_p95_ms"], total["ttfb_p95_ms"] = mx.get("callout_p95_ms"), mx.get("ttfb_p95_ms")
    cells = _figure_cells(total)
    if cells[5] != "-":
        cells[5] = f"max {cells[5]}"  # a percentile over sources is not summable: the largest one
    live = sum(1 for f in feed.sources if f.state == "live")
    rows.append((TOTAL, f"{live} of {len(feed.sources)} live", *cells, f"{total['dropped']} · {feed.lost}", ""))
    return rows


class SourcesTable(DataTable):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(zebra_stripes=True, cursor_type="row", **kwargs)
        self._shown: list[tuple[str, ...]] | None = None

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, feed: MultiFeed, report: dict[str, Any]) -> None:
        rows = source_rows(feed, report)
        if rows == self._shown:
            return
        self._shown = rows
        cursor = self.cursor_row
        self.clear()
        for row in rows:
            styled: list[Any] = list(row)
            state = row[1].split(" ", 1)[-1]
            if row[0] != TOTAL:
                styled[1] = Text(row[1], style=STATE_STYLE.get(state, ""))
                styled[-1] = Text(row[-1], style="dim")
            else:
                styled = [Text(c, style="bold") for c in row]
            self.add_row(*styled, key=row[0])
        if 0 <= cursor < len(rows):
            self.move_cursor(row=cursor)
