"""The tokens table: each token the gateway was issued, its lifetime and how often it was fetched.

At most the report's top tokens (50), rebuilt only when the report changes, so a
DataTable is fine here (the flows list is the high-rate view).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from inspector.views.format import Clock, count, human_seconds, left

COLUMNS = ("fingerprint", "key", "lifetime", "fetches", "uses", "first seen", "last seen", "left")


def token_row(t: dict[str, Any], clock: Clock) -> tuple[str, ...]:
    life = t.get("lifetime_s")
    return (
        str(t["fingerprint"]),
        str(t.get("key") or "-"),
        human_seconds(life) if life is not None else "-",
        count(t.get("fetches", 0)),
        count(t.get("uses", 0)),
        clock.time(t.get("first_seen")),
        clock.time(t.get("last_seen")),
        left(t.get("left_s")),
    )


NUMERIC = {"fetches", "uses"}
KEY_MIN = 12  # below this the key says nothing: the row scrolls sideways instead
CELL_PAD = 2  # a DataTable cell's padding, one cell each side


def key_width(rows: list[tuple[str, ...]], width: int) -> int:
    """How wide the key column may be for every column to fit `width` cells: the key is the
    one long cell (it is shown whole in the Auth calls tab's "By key" table above)."""
    ki = COLUMNS.index("key")
    others = sum(max(len(name), *(len(r[i]) for r in rows)) + CELL_PAD for i, name in enumerate(COLUMNS) if i != ki)
    longest = max(len("key"), *(len(r[ki]) for r in rows))
    return max(KEY_MIN, min(longest, width - others - CELL_PAD))


def cut(text: str, w: int) -> str:
    return text if len(text) <= w else text[: w - 1] + "…"


class TokensTable(DataTable):
    """Fits its width: the key column gives way (cut with an ellipsis), numbers are never cut."""

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(zebra_stripes=True, cursor_type="row", **kwargs)
        self.clock = clock
        self._shown: tuple[list[tuple[str, ...]], int] | None = None
        self._report: dict[str, Any] | None = None

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def on_resize(self) -> None:
        if self._report is not None:
            self.show(self._report)

    def show(self, report: dict[str, Any]) -> None:
        self._report = report
        rows = [token_row(t, self.clock) for t in report.get("tokens") or []]
        # the pane's width less its scrollbar (the table sits in a scrolling container)
        width = (self.size.width or self.app.size.width) - 1
        if (rows, width) == self._shown:
            return
        self._shown = (rows, width)
        # clear the columns too: a DataTable column only ever widens, and the key may narrow
        self.clear(columns=True)
        for name in COLUMNS:
            self.add_column(Text(name, justify="right") if name in NUMERIC else name, key=name)
        kw = key_width(rows, width) if rows else 0
        ki = COLUMNS.index("key")
        for row in rows:
            fetches = int(row[3].replace(" ", "") or 0)
            styled: list[Any] = list(row)
            styled[ki] = cut(row[ki], kw)
            for i, name in enumerate(COLUMNS):
                if name in NUMERIC:
                    styled[i] = Text(row[i], justify="right")
            if fetches > 1:  # the same token fetched again: proof a cache was possible
                styled[3].stylize("bold red")
            self.add_row(*styled, key=row[0])
