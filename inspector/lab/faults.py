"""Latency, holds and injected failures shared by the lab's auth-side servers.

A missing cache shows as latency and load; a poisoned one only shows when something
fails. So every auth-side endpoint (token, exchange, introspection, jwks, userinfo,
discovery, and the forward-auth service) draws from one failure plan: the first N
calls of the selected kinds fail, then random rates apply. Holds end promptly at
shutdown, and pause()/resume() let tests line callers up on an event, not a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # keep `tokentax --help` (which reads KINDS) free of starlette
    from starlette.requests import Request

FailKind = Literal["401", "500", "timeout"]
KINDS = ("token", "exchange", "introspection", "jwks", "userinfo", "discovery", "forward_auth")


class Faults:
    """Decides, per call, whether it fails and how. fail_on None = every kind."""

    def __init__(
        self,
        *,
        fail_first: int = 0,
        fail_kind: FailKind = "401",
        rate_401: float = 0.0,
        rate_500: float = 0.0,
        rate_timeout: float = 0.0,
        seed: int | None = None,
        fail_on: Iterable[str] | None = None,
    ) -> None:
        self.fail_first = fail_first
        self.fail_kind: FailKind = fail_kind
        self.rates = (rate_401, rate_500, rate_timeout)
        self.fail_on = None if fail_on is None else frozenset(fail_on)
        self._rng = random.Random(seed)
        self._seen = 0

    def next(self, kind: str) -> FailKind | None:
        """Call once per arriving request of `kind`; the failure to inject, if any."""
        if self.fail_on is not None and kind not in self.fail_on:
            return None
        self._seen += 1
        if self._seen <= self.fail_first:
            return self.fail_kind
        r401, r500, rtimeout = self.rates
        if r401 or r500 or rtimeout:
            u = self._rng.random()
            if u < r401:
                return "401"
            if u < r401 + r500:
                return "500"
            if u < r401 + r500 + rtimeout:
                return "timeout"
        return None


class Valve:
    """Pause/resume/close for one server, and waits that shutdown (or a hung-up client) cuts short."""

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        self._gate = asyncio.Event()
        self._gate.set()

    def pause(self) -> None:
        self._gate.clear()

    def resume(self) -> None:
        self._gate.set()

    def close(self) -> None:
        self._closing.set()
        self._gate.set()

    async def gate(self) -> None:
        await self._gate.wait()

    async def wait(self, seconds: float, request: Request | None = None) -> bool:
        """Wait `seconds`; True if cut short by close() or by the client hanging up."""
        waits: list[asyncio.Task[Any]] = [asyncio.create_task(self._closing.wait())]
        if request is not None:
            waits.append(asyncio.create_task(disconnected(request)))
        try:
            done, _ = await asyncio.wait(waits, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return bool(done)


async def disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body has been read, so receive() only reports that)."""
    with contextlib.suppress(Exception):
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return
    # receive() failed: we cannot tell; never claim a disconnect.
    await asyncio.Event().wait()
