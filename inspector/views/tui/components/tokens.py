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


class TokensTable(DataTable):
    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(zebra_stripes=True, cursor_type="row", **kwargs)
        self.clock = clock
        self._shown: list[tuple[str, ...]] | None = None

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, report: dict[str, Any]) -> None:
        rows = [token_row(t, self.clock) for t in report.get("tokens") or []]
        if rows == self._shown:
            return
        self._shown = rows
        self.clear()
        for row in rows:
            fetches = int(row[3].replace(" ", "") or 0)
            cells = list(row)
            styled: list[Any] = cells[:]
            if fetches > 1:  # the same token fetched again: proof a cache was possible
                styled[3] = Text(cells[3], style="bold red")
            self.add_row(*styled, key=row[0])
