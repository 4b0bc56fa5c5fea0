"""Per-second counters over a fixed ring: rates and sparkline series in O(1) memory."""

from __future__ import annotations

SERIES = ("inbound", "callout", "backend", "other", "redundant", "errors")


class RateWindow:
    def __init__(self, seconds: int = 600) -> None:
        self.seconds = seconds
        self._slots = {name: [0] * seconds for name in SERIES}
        self._sec = [-1] * seconds  # which absolute second each slot currently holds
        self._first: int | None = None  # the first second anything was counted in
        # the second last counted and its slot: most adds fall in it (one check, no modulo);
        # only the slow path below rewrites a slot, and it moves this along
        self._last: int | None = None
        self._last_i = 0

    def add(self, name: str, ts: float, n: int = 1) -> None:
        sec = int(ts)
        if sec == self._last:
            self._slots[name][self._last_i] += n
            return
        if self._first is None or sec < self._first:
            self._first = sec
        i = sec % self.seconds
        if self._sec[i] != sec:
            if self._sec[i] > sec:
                return  # older than the ring: too late to count in a window
            self._sec[i] = sec
            for slots in self._slots.values():
                slots[i] = 0
        self._last, self._last_i = sec, i
        self._slots[name][i] += n

    def series(self, name: str, now: float, n: int) -> list[int]:
        """Counts per second for the last n whole seconds up to now (oldest first), never reaching
        back before the first counted second: an 11 s capture has at most 12 values, not n zeros."""
        end = int(now)
        start = end - n + 1
        if self._first is not None:
            start = min(end, max(start, self._first))
        slots = self._slots[name]
        out = []
        for sec in range(start, end + 1):
            i = sec % self.seconds
            out.append(slots[i] if self._sec[i] == sec else 0)
        return out

    def rate(self, name: str, now: float, window: int, since: float | None = None) -> float:
        """Mean per second over the last `window` complete seconds (the current one excluded).

        `since` (the first traffic) shortens the window at the start, so a session two
        seconds old is not averaged over ten.
        """
        if since is not None:
            window = max(1, min(window, int(now) - int(since)))
        counts = self.series(name, now - 1, window)
        return sum(counts) / window if window else 0.0
