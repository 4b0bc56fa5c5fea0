"""Per-token and per-key state: what was issued, for how long, and who used it.

Both tables are bounded LRUs: an endless stream of distinct tokens evicts the oldest.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TokenInfo:
    fingerprint: str
    key: str | None = None
    lifetime_s: float | None = None
    lifetime_src: str | None = None
    issued_at: float | None = None
    expires_at: float | None = None
    fetches: int = 0
    uses: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    routes: list[str] = field(default_factory=list)
    kind: str | None = None
    client: bool = False  # the gateway received this bearer from its caller (a pass-through)

    @property
    def source(self) -> str:
        """Whose token: `client` (passed through from the caller), `callout` (a callout issued
        it: a service token) or `unknown` (only seen on backend calls)."""
        if self.client:
            return "client"
        return "callout" if self.fetches else "unknown"

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "key": self.key,
            "lifetime_s": self.lifetime_s,
            "lifetime_src": self.lifetime_src,
            "fetches": self.fetches,
            "uses": self.uses,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "expires_at": self.expires_at,
            "left_s": round(self.expires_at - now, 1) if self.expires_at is not None else None,
            "routes": list(self.routes),
            "source": self.source,
        }


class TokenTable:
    MAX_ROUTES = 16

    def __init__(self, limit: int = 10_000) -> None:
        self._t: OrderedDict[str, TokenInfo] = OrderedDict()
        self.limit = limit

    def __len__(self) -> int:
        return len(self._t)

    def __contains__(self, fp: str) -> bool:
        return fp in self._t

    def get_or_add(self, fp: str, ts: float) -> TokenInfo:
        info = self._t.get(fp)
        if info is None:
            info = self._t[fp] = TokenInfo(fp, first_seen=ts, last_seen=ts)
            if len(self._t) > self.limit:
                self._t.popitem(last=False)
        else:
            self._t.move_to_end(fp)
            if ts > info.last_seen:
                info.last_seen = ts
        return info

    def use(self, fp: str, ts: float, route: str) -> TokenInfo:
        info = self.get_or_add(fp, ts)
        info.uses += 1
        if route not in info.routes and len(info.routes) < self.MAX_ROUTES:
            info.routes.append(route)
        return info

    def peek(self, fp: str) -> TokenInfo | None:
        return self._t.get(fp)

    def newest(self, n: int) -> list[TokenInfo]:
        return sorted(self._t.values(), key=lambda t: t.last_seen, reverse=True)[:n]

    def values(self):
        return self._t.values()


class Issuances:
    """When tokens for one key were issued and until when they were valid.

    Answers "was some token issued at or before t still valid at t?" in O(log n) however
    many callouts overlap (a naive gateway under load has hundreds in flight, so the
    newest few issuances are all later than the start of the fetch being judged).
    Sorted issue times with a running maximum of validity; trimming the oldest keeps
    their maximum in `floor_valid`, so a long-lived old token still counts.
    """

    __slots__ = ("at", "valid", "pmax", "floor_at", "floor_valid")
    LIMIT = 512

    def __init__(self) -> None:
        self.at: list[float] = []  # issue times, sorted
        self.valid: list[float] = []  # valid_until of each
        self.pmax: list[float] = []  # pmax[i] = max valid_until up to and including i, trimmed ones included
        self.floor_at = float("-inf")
        self.floor_valid = float("-inf")

    def add(self, issued_at: float, valid_until: float) -> None:
        i = bisect_right(self.at, issued_at)  # the end, unless events arrived out of order
        self.at.insert(i, issued_at)
        self.valid.insert(i, valid_until)
        self.pmax.insert(i, valid_until)
        pmax = self.pmax
        if i:
            if pmax[i - 1] > valid_until:
                pmax[i] = pmax[i - 1]
        elif self.floor_valid > valid_until:
            pmax[i] = self.floor_valid
        # Later running maxima only rise to valid_until; they are sorted, so stop at the first
        # one already there (events out of order insert mid-list; this was a full rescan).
        for j in range(i + 1, len(pmax)):
            if pmax[j] >= valid_until:
                break
            pmax[j] = valid_until
        if len(self.at) > self.LIMIT:
            half = self.LIMIT // 2
            self.floor_at = self.at[half - 1]
            self.floor_valid = self.pmax[half - 1]
            del self.at[:half], self.valid[:half], self.pmax[:half]

    def valid_at(self, t: float) -> bool:
        i = bisect_right(self.at, t) - 1
        if i >= 0:
            return self.pmax[i] > t
        return t >= self.floor_at and self.floor_valid > t

    def valid_issue_at(self, t: float) -> tuple[float, float] | None:
        """(issued_at, valid_until) of the latest issuance at or before t still valid at t;
        None when there is none (or it was trimmed away)."""
        i = bisect_right(self.at, t) - 1
        while i >= 0 and self.pmax[i] > t:
            if self.valid[i] > t:
                return self.at[i], self.valid[i]
            i -= 1
        return None


# A fetch made while the key's newest valid token is in the last part of its lifetime is a
# proactive refresh (Envoy's credential injector refreshes at half), not a redundant fetch.
PROACTIVE_AFTER = 0.5


@dataclass(slots=True)
class KeyState:
    """One token key: the recent issuances (to judge the next fetch) and counters."""

    key: str
    issued: Issuances = field(default_factory=lambda: Issuances())
    fresh: Issuances = field(default_factory=lambda: Issuances())  # valid and in the first half of life
    callouts: int = 0
    redundant: int = 0
    identical: int = 0
    failed: int = 0
    proactive: int = 0  # fetches ahead of expiry, in the last half of a valid token's lifetime
    on_path: int = 0  # callouts an inbound request waited for
    nested: int = 0  # callouts inside another callout (a relay's own miss)
    background: int = 0  # callouts no inbound request waited for (and not nested)
    relayed: int = 0  # answered with a token first issued by another endpoint
    origin: int = 0  # answered by the endpoint that first issued the token
    ends: list = field(default_factory=list)  # sorted end times of recent callouts, for stampede checks
    last_burst_at: float = -1.0

    def valid_token_at(self, t: float) -> bool:
        return self.issued.valid_at(t)

    def judge(self, t: float) -> str | None:
        """How a fetch starting at `t` stands against the tokens already issued for this key:
        "redundant" (some token was valid and in the first half of its lifetime), "proactive"
        (valid tokens were all in their last half: a refresh ahead of expiry) or None."""
        if self.fresh.valid_at(t):
            return "redundant"
        if self.issued.valid_at(t):
            return "proactive"
        return None

    def as_row(self, path_known: bool) -> dict[str, Any]:
        return {
            "key": self.key,
            "callouts": self.callouts,
            "redundant": self.redundant,
            "identical": self.identical,
            "failed": self.failed,
            "proactive": self.proactive,
            "on_path": self.on_path if path_known else None,
            "background": self.background if path_known else None,
            "nested": self.nested,
            "origin": self.origin,
            "relayed": self.relayed,
        }

    def add_issue(self, at: float, remaining: float, skew: float) -> None:
        """A token for this key, received at `at`, valid `remaining` seconds (less `skew`)."""
        self.issued.add(at, at + remaining - skew)
        self.fresh.add(at, min(at + remaining * PROACTIVE_AFTER, at + remaining - skew))

    def in_flight_with(self, start: float, end: float) -> int:
        """Callouts for this key that had not ended when this one (start, end) began, itself included.

        Events arrive as flows finish, so every callout seen so far ended before `end`;
        those that ended after `start` overlapped this one.
        """
        ends = self.ends
        n = len(ends) - bisect_right(ends, start) + 1
        insort(ends, end)
        if len(ends) > 512:
            del ends[:256]
        return n


class KeyTable:
    def __init__(self, limit: int = 1_000) -> None:
        self._k: OrderedDict[str, KeyState] = OrderedDict()
        self.limit = limit

    def get(self, key: str) -> KeyState:
        st = self._k.get(key)
        if st is None:
            st = self._k[key] = KeyState(key)
            if len(self._k) > self.limit:
                self._k.popitem(last=False)
        return st

    def values(self):
        return self._k.values()

    def peek(self, key: str) -> KeyState | None:
        """The state of a key, if tracked, without adding or touching it."""
        return self._k.get(key)

    def __len__(self) -> int:
        return len(self._k)
