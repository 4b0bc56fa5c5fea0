"""JWKS (a JSON key set). Key: the URL.

Redundant: an identical key set (same body fingerprint) was fetched earlier for the same
URL and was still fresh: by its HTTP caching headers (max-age / s-maxage / Expires minus
Age; no-store and no-cache make it stale at once), or within 5 min when it had none.
A refetch that brings a new `kid` is legitimate (a rotation) and never redundant.

Unknown-kid refetches are counted on their own: a fetch inside an inbound request whose
bearer JWT has a `kid` that no key set seen before the fetch held, and that the fetch
did not bring either. Anyone can mint such a token, so each one costs the auth server a
call: an amplification risk. They are a subset of the fetches (and may also be redundant).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from inspector.analyzer.kinds.base import Tagged, Verdict, facts, key_text, num
from inspector.schema.events import Event

DEFAULT_FRESH_S = 300.0


class _Fetch:
    __slots__ = ("ts", "end", "trace", "kids", "unknown")

    def __init__(self, ts: float, end: float, trace: str | None, kids: frozenset[str]) -> None:
        self.ts, self.end, self.trace, self.kids = ts, end, trace, kids
        self.unknown = False


class Jwks:
    kind = "jwks"
    PARTS: tuple[tuple[str, str], ...] = ()
    KEYS = 1_000

    def __init__(self) -> None:
        self._sets: OrderedDict[str, Tagged] = OrderedDict()
        self._fps: OrderedDict[str, None] = OrderedDict()
        self._kid_first: OrderedDict[str, float] = OrderedDict()  # kid -> when a key set first brought it
        self._recent: deque[_Fetch] = deque(maxlen=4096)
        self.unknown_kid = 0
        self.new_kid = 0
        self.no_headers = 0

    def key(self, ev: Event) -> str:
        return key_text(self.kind, ev.get("key"), self.PARTS)

    def judge(self, ev: Event, key: str, ts: float, end: float, ok: bool) -> Verdict:
        f = facts(ev, "jwks")
        fp = f.get("fp")
        if not ok:
            return Verdict()
        if not isinstance(fp, str):
            return Verdict(unreadable=True)
        kids = f.get("kids")
        kid_set = frozenset(k for k in kids if isinstance(k, str)) if isinstance(kids, list) else frozenset()
        trace = ev.get("trace")
        self._recent.append(_Fetch(ts, end, trace.get("id") if type(trace) is dict else None, kid_set))
        if any(self._kid_first.get(k, end) >= ts for k in kid_set) and self._sets:
            self.new_kid += 1  # brought a kid no earlier key set had: a rotation
        for k in kid_set:
            if k not in self._kid_first:
                self._kid_first[k] = end
                if len(self._kid_first) > 10_000:
                    self._kid_first.popitem(last=False)
        fresh = num(f.get("fresh_s"))
        if fresh is None:
            self.no_headers += 1
            fresh = DEFAULT_FRESH_S
        tagged = self._sets.get(key)
        if tagged is None:
            tagged = self._sets[key] = Tagged()
            if len(self._sets) > self.KEYS:
                self._sets.popitem(last=False)
        v = Verdict(redundant=tagged.valid_at(ts, fp), identical=fp in self._fps)
        tagged.add(end, end + fresh, fp)
        self._fps[fp] = None
        if len(self._fps) > 10_000:
            self._fps.popitem(last=False)
        return v

    def saw_kid(self, kid: str, ts: float, end: float, trace: str | None) -> None:
        """A bearer JWT with this `kid` was presented in an inbound request over [ts, end]."""
        for fetch in reversed(self._recent):
            if fetch.end < ts - 60.0:
                break
            if fetch.unknown or not ts <= fetch.ts <= end:
                continue
            if trace is not None and fetch.trace is not None and trace != fetch.trace:
                continue
            first = self._kid_first.get(kid)
            known_before = first is not None and first <= fetch.ts
            if not known_before and kid not in fetch.kids:
                fetch.unknown = True
                self.unknown_kid += 1

    def extras(self) -> dict[str, Any]:
        return {
            "unknown_kid": self.unknown_kid,
            "new_kid": self.new_kid,
            "kids_seen": len(self._kid_first),
            "without_cache_headers": self.no_headers,
            "default_fresh_s": DEFAULT_FRESH_S,
        }
