"""How durations, counts and rates are read and written everywhere: durations parsed as
people type them on a command line (`50ms`, `0.8s`, `2`, `1m`, `1h`); durations, counts
("16 897"), counted nouns ("1 backend call") and rates ("16 897 calls/h") spelled one way
in finding titles, reports and the TUI.

Pure and shared by the analyzer (finding titles carry figures) and every view and
command, so all of them accept the same spellings and print the same units.
"""

from __future__ import annotations

import math
import re

from inspector.schema.errors import UserError

_UNITS: dict[str, float] = {
    "": 1.0,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([a-zµ]*)$")


UNKNOWN = "—"  # how a figure the session cannot give is written, everywhere (null in JSON)


def parse_duration(text: str) -> float:
    """Seconds as a float; UserError naming the bad text for anything else (negative, no number, unknown unit)."""
    raw = text.strip().lower() if isinstance(text, str) else ""
    match = _DURATION.match(raw)
    if not match or match.group(2) not in _UNITS:
        raise UserError(
            f"invalid duration {text!r}: use a number with an optional unit ms, s, m or h (e.g. 50ms, 0.8s, 2)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds):
        raise UserError(f"invalid duration {text!r}: too large")
    return seconds


def human_seconds(seconds: float) -> str:
    s = int(round(seconds))
    if s < 120:
        return f"{s} s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{m} min {sec} s" if sec else f"{m} min"


def plural(n: float, word: str) -> str:
    """`word` for one, its plural otherwise: the last word takes -s, or -es after s, x, z,
    ch, sh ("fetch" -> "fetches"), or -ies after a consonant and y ("proxy" -> "proxies")."""
    if n == 1:
        return word
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def count(n: float | None) -> str:
    """A count as every screen and report writes it: whole, thousands set apart by a space
    ("16 897"); a float is rounded. None (unknown) is "—", never 0."""
    if n is None:
        return UNKNOWN
    return f"{round(n):,}".replace(",", " ")


def counted(n: float, word: str) -> str:
    """A count and its noun, in agreement: "1 backend call", "16 897 backend calls"."""
    return f"{count(n)} {plural(round(n), word)}"


def per_hour(x: float | None, unit: str = "calls") -> str:
    """A rate per hour: "16 897 calls/h". None (unknown) is "—"."""
    return UNKNOWN if x is None else f"{count(x)} {unit}/h"


def ms(value: float | None) -> str:
    if value is None:
        return UNKNOWN  # unknown, not zero: the report's notes say why
    # thousands set apart as count() does ("58 414 ms"), so a long total reads at a glance
    return f"{value:,.0f} ms".replace(",", " ") if value >= 10 else f"{value:.1f} ms"


def with_unit(value: float, unit: str) -> str:
    """A figure in its unit, as budgets, regressions and diffs print it: `ms` (milliseconds),
    `share` (a fraction, printed as a percentage), `%` (already a percentage), `x` (a ratio),
    `/h` (per hour); anything else as the bare number."""
    if unit == "ms":
        return ms(value)
    if unit == "share":
        return f"{value * 100:.1f} %"
    if unit == "%":
        return f"{value:.0f} %"
    if unit == "x":
        return f"{value:.2f}"
    if unit == "/h":
        return f"{value:.0f}/h"
    return f"{value:g}"
