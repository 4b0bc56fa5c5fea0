"""Formatting of figures for the screen. Formatting only: no figure is computed here.

Clock times go through one `Clock` so tests can fix the time zone (UTC) and the
snapshots do not depend on where they run.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from inspector.schema.units import UNKNOWN, count, counted, human_seconds, ms, per_hour, plural

__all__ = [
    "Clock",
    "ms",
    "human_seconds",
    "count",
    "counted",
    "per_hour",
    "plural",
    "pct",
    "rate",
    "left",
    "dash",
    "spread",
    "UNKNOWN",
]


class Clock:
    """Formats epoch seconds as wall-clock times in one time zone (local unless given)."""

    def __init__(self, tz: tzinfo | None = None) -> None:
        self.tz = tz

    def _dt(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz or None) if self.tz else datetime.fromtimestamp(ts)

    def time(self, ts: float | None, millis: bool = False) -> str:
        if ts is None:
            return "-"
        dt = self._dt(ts)
        return dt.strftime("%H:%M:%S.%f")[:12] if millis else dt.strftime("%H:%M:%S")

    def datetime(self, ts: float | None) -> str:
        if ts is None:
            return "-"
        dt = self._dt(ts)
        zone = "UTC" if self.tz is UTC else dt.astimezone().strftime("%Z")
        return dt.strftime("%Y-%m-%d %H:%M:%S") + f" {zone}"


def dash(value: Any) -> str:
    return "-" if value is None else str(value)


def pct(share: float | None, sep: str = " ") -> str:
    """A share as a whole percentage; `sep=""` for the compact "82%" of a status line."""
    return UNKNOWN if share is None else f"{share * 100:.0f}{sep}%"


def spread(d: dict[str, Any], prefix: str = "") -> str:
    """`min … p50 … p95 … max …` of one latency series in a report (`{prefix}min_ms` etc.)."""
    return "  ".join(f"{q} {ms(d.get(f'{prefix}{q}_ms'))}" for q in ("min", "p50", "p95", "max"))


def rate(per_s: float | None) -> str:
    if per_s is None:
        return "-"
    return f"{per_s:.1f}/s" if per_s < 100 else f"{count(per_s)}/s"


def left(seconds: float | None) -> str:
    """Time left until a token expires; negative means it already has."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "expired"
    return human_seconds(seconds)
