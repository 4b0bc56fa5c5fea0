"""A TTL cache with single flight: concurrent misses for one key share one fetch.

What each mode stores is its own policy, given as ttl(result): a positive number of
seconds stores the result, anything else does not (a correct cache never stores a
failure; a poisoned one does). The clock is replaceable so expiry is testable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from inspector.lab.gateway_modes.base import Answer, Callouts, GatewayConfig, GatewayStats

T = TypeVar("T")


class TtlCache[T]:
    def __init__(self, stats: GatewayStats) -> None:
        self.stats = stats
        self.clock: Callable[[], float] = time.monotonic
        self._store: dict[Hashable, tuple[T, float]] = {}
        self._inflight: dict[Hashable, asyncio.Task[T]] = {}

    def peek(self, key: Hashable) -> T | None:
        held = self._store.get(key)
        return held[0] if held is not None and held[1] > self.clock() else None

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[T]], ttl: Callable[[T], float | None]) -> T:
        held = self._store.get(key)
        if held is not None and held[1] > self.clock():
            self.stats.bump("cache_hits")
            return held[0]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fill(key, fetch, ttl))
            self._inflight[key] = task
        # shield: a caller that gives up must not cancel the fetch the others wait for
        return await asyncio.shield(task)

    async def _fill(self, key: Hashable, fetch: Callable[[], Awaitable[T]], ttl: Callable[[T], float | None]) -> T:
        try:
            result = await fetch()
            seconds = ttl(result)
            if seconds is not None and seconds > 0:
                self._store[key] = (result, self.clock() + seconds)
            return result
        finally:
            self._inflight.pop(key, None)


class CachingMode:
    """What the one-callout-per-request modes share (exchange, introspection, userinfo,
    forward-auth): one URL, the lab's callout helper and counters, and a TtlCache that the
    mode's policy either uses or bypasses. Each mode keeps its own key and its own ttl."""

    def __init__(
        self, config: GatewayConfig, callouts: Callouts, stats: GatewayStats, url: str, *, caches: bool
    ) -> None:
        self.config = config
        self.url = url
        self.cache: TtlCache[Answer] = TtlCache(stats)
        self._callouts = callouts
        self._stats = stats
        self._caches = caches

    async def _answer(
        self, key: Callable[[], Hashable], ask: Callable[[], Awaitable[Answer]], ttl: Callable[[Answer], float | None]
    ) -> Answer:
        """`ask()` itself when the mode does not cache, else through the cache under `key()`
        (a callable, so an uncached mode never computes a key it does not use)."""
        if not self._caches:
            return await ask()
        return await self.cache.get(key(), ask, ttl)
