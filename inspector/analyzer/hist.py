"""A log-bucket histogram: bounded memory, mergeable, percentiles within ~2 %."""

from __future__ import annotations

import math

_BASE = 1.04
_LOG_BASE = math.log(_BASE)
_MIN_MS = 0.01


class LogHistogram:
    __slots__ = ("counts", "n", "total", "max")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, ms: float) -> None:
        idx = int(math.log(ms / _MIN_MS) / _LOG_BASE) if ms > _MIN_MS else 0
        self.counts[idx] = self.counts.get(idx, 0) + 1
        self.n += 1
        self.total += ms
        if ms > self.max:
            self.max = ms

    def percentile(self, q: float) -> float | None:
        if not self.n:
            return None
        rank = q * (self.n - 1)
        seen = 0
        for idx in sorted(self.counts):
            seen += self.counts[idx]
            if seen > rank:
                # geometric middle of the bucket, never above the observed max
                value = _MIN_MS * _BASE ** (idx + 0.5) if idx else 0.0
                return round(min(value, self.max), 3)
        return round(self.max, 3)
