"""Rates over time: inbound requests against token callouts, per second, last minutes.

The series are the report's own per-second counts (`rates.series`); a new list is
assigned on each change because Sparkline repaints only when its `data` changes.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from inspector.views.format import count

SERIES = (("inbound", "inbound"), ("callout", "callouts"))


class RateRow(Horizontal):
    def __init__(self, name: str, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.series_name = name
        self.label = label

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="rate-label")
        yield Sparkline([], id=f"spark-{self.series_name}", classes=f"spark-{self.series_name}")
        yield Label("", id=f"peak-{self.series_name}", classes="rate-peak")


class Rates(Vertical):
    def compose(self) -> ComposeResult:
        for name, label in SERIES:
            yield RateRow(name, label, classes="rate-row")

    def show(self, report: dict[str, Any]) -> None:
        rates = report["rates"]
        series = rates.get("series") or {}
        seconds = len(series.get("inbound") or [])
        for name, _label in SERIES:
            data = list(series.get(name) or [])
            spark = self.query_one(f"#spark-{name}", Sparkline)
            if data != spark.data:
                spark.data = data
            peak = max(data) if data else 0
            span = f"last {seconds // 60} min" if seconds >= 120 else f"last {seconds} s"
            self.query_one(f"#peak-{name}", Label).update(
                f"peak {count(peak) if float(peak).is_integer() else f'{peak:g}'}/s · {span}", layout=False
            )
