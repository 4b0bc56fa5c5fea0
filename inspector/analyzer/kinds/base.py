"""The interface every kind rule has, and what they share: verdicts, what-if caches."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from inspector.schema.events import Event


@dataclass(slots=True)
class Verdict:
    """What the rule says about one answered (or failed) callout."""

    redundant: bool = False
    identical: bool = False
    unreadable: bool = False  # answered, but with nothing the rule can read


class KindRule(Protocol):
    kind: str

    def key(self, ev: Event) -> str: ...

    def judge(self, ev: Event, key: str, ts: float, end: float, ok: bool) -> Verdict: ...

    def extras(self) -> dict[str, Any]: ...


def num(v: Any) -> float | None:
    """A finite number, or None (a bool, a string, NaN: absent)."""
    if type(v) is int or (type(v) is float and math.isfinite(v)):
        return float(v)
    return None


def facts(ev: Event, name: str) -> dict[str, Any]:
    v = ev.get(name)
    return v if type(v) is dict else {}


def key_text(kind: str, key: Any, parts: tuple[tuple[str, str], ...]) -> str:
    """`kind endpoint label=value ...` for the named key parts that are present."""
    key = key if type(key) is dict else {}
    out = [kind, str(key.get("endpoint", "?"))]
    for name, label in parts:
        v = key.get(name)
        if isinstance(v, (str, int)) and v != "":
            out.append(f"{label}={v}")
    return " ".join(out)


class Tagged:
    """Like Valid, with a tag per answer (a fingerprint): "was an answer with this tag reusable at t?"."""

    __slots__ = ("rows",)
    LIMIT = 256

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, str]] = []  # (at, until, tag), in arrival order

    def add(self, at: float, until: float, tag: str) -> None:
        self.rows.append((at, until, tag))
        if len(self.rows) > self.LIMIT:
            del self.rows[: self.LIMIT // 2]

    def valid_at(self, t: float, tag: str) -> bool:
        return any(at <= t < until and g == tag for at, until, g in reversed(self.rows))

    def seen(self, tag: str) -> bool:
        return any(g == tag for _, _, g in self.rows)


class WhatIf:
    """What a cache with TTL `ttl` would have removed: per key, the misses' (end, until).

    A call is a hit when an earlier miss for its key had arrived and its entry was still
    live (end <= start < min(end + ttl, cap)); otherwise it is a miss and, once answered,
    fills the cache. `cap` is the answer's own limit (a token's exp), or infinity.
    """

    __slots__ = ("ttl", "removed", "_misses")
    KEYS = 2_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.removed = 0
        self._misses: OrderedDict[str, list[tuple[float, float]]] = OrderedDict()

    def call(self, key: str, ts: float, end: float, cacheable: bool, cap: float = math.inf) -> None:
        rows = self._misses.get(key)
        if rows is not None and any(e <= ts < u for e, u in rows):
            self.removed += 1
            return
        if not cacheable:
            return
        if rows is None:
            rows = self._misses[key] = []
            if len(self._misses) > self.KEYS:
                self._misses.popitem(last=False)
        rows.append((end, min(end + self.ttl, cap)))
        if len(rows) > 64:
            del rows[:32]


def what_if_label(ttl: float | None) -> str:
    if ttl is None:
        return "until_expiry"
    if ttl <= 60:
        return f"{ttl:g}s"
    return f"{ttl / 60:g}min"
