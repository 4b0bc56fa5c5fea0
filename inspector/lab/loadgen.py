"""Steady traffic for the lab: N requests per second spread over the backend routes.

Open-loop pacing: request i is due at start + i/rate, whatever the previous responses
did, so a slow gateway shows up as latency rather than as a quietly lower rate (a
closed loop that sleeps after each response would hide exactly the tax we measure).
Concurrency caps requests in flight; a late request goes out as soon as a slot frees.
Each request carries a fresh W3C `traceparent` so the inspector can correlate hops.
For gateway modes that check the caller (introspection, JWKS, userinfo, exchange,
forward-auth, pass-through), callers present `Authorization: Bearer` user tokens,
fetched once up front from the auth server the way a real client logs in.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_PATHS: tuple[str, ...] = ("/orders", "/orders/{id}", "/users/{id}", "/inventory")


def new_traceparent() -> str:
    """A random W3C trace context (version 00, sampled)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


@dataclass
class LoadConfig:
    """Target gateway base URL, rate (req/s), concurrency cap, duration (s) and paths (`{id}` = random id)."""

    url: str
    rate: float = 5.0
    concurrency: int = 32
    duration: float = 10.0
    paths: Sequence[str] = DEFAULT_PATHS
    timeout: float = 30.0
    bearers: Sequence[str] = ()  # caller tokens, used round-robin; empty = no Authorization header

    @property
    def planned(self) -> int:
        """Requests the schedule holds: those due before `duration` has passed."""
        return max(0, math.ceil(self.rate * self.duration - 1e-9))


@dataclass
class LoadStats:
    """Outcome counts and latencies. ok = 2xx; errors = any other status or no response."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile of response latencies in seconds; None before any response."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.percentile(95)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "p50_ms": None if self.p50 is None else round(self.p50 * 1000, 1),
            "p95_ms": None if self.p95 is None else round(self.p95 * 1000, 1),
            "elapsed_s": round(self.elapsed, 3),
        }

    def summary(self) -> str:
        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v * 1000:.0f} ms"

        rate = self.sent / self.elapsed if self.elapsed > 0 else 0.0
        by_status = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"sent {self.sent} ({rate:.1f}/s), ok {self.ok}, errors {self.errors}"
            f" [{by_status}]; latency p50 {ms(self.p50)}, p95 {ms(self.p95)}"
        )


async def fetch_user_tokens(
    token_url: str, client_id: str, users: Sequence[tuple[str, str]], *, client: httpx.AsyncClient | None = None
) -> list[str]:
    """One password-grant login per lab user (public client); ValueError naming the user that failed."""
    own = client is None
    client = client or httpx.AsyncClient(trust_env=False, timeout=30)
    try:
        tokens = []
        for username, password in users:
            r = await client.post(
                token_url,
                data={"grant_type": "password", "client_id": client_id, "username": username, "password": password},
            )
            token = r.json().get("access_token") if r.status_code == 200 else None
            if not isinstance(token, str):
                raise ValueError(f"login of lab user {username!r} failed with status {r.status_code}")
            tokens.append(token)
        return tokens
    finally:
        if own:
            await client.aclose()


def _path(template: str, rng: random.Random) -> str:
    return template.replace("{id}", str(rng.randint(1, 999)))


async def run_load(
    config: LoadConfig,
    *,
    client: httpx.AsyncClient | None = None,
    stop: asyncio.Event | None = None,
    on_result: Callable[[int | None, float], None] | None = None,
) -> LoadStats:
    """Send the scheduled requests (or until `stop` is set), wait for them, return the stats.

    on_result(status or None, latency seconds) is called per finished request (live displays).
    """
    if config.rate <= 0 or config.concurrency < 1 or not config.paths:
        raise ValueError("rate must be > 0, concurrency >= 1 and paths non-empty")
    own = client is None
    client = client or httpx.AsyncClient(trust_env=False, timeout=config.timeout)
    stats = LoadStats()
    slots = asyncio.Semaphore(config.concurrency)
    rng = random.Random()
    base = config.url.rstrip("/")
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def one(path: str, i: int) -> None:
        t0 = time.perf_counter()
        status: int | None = None
        headers = {"traceparent": new_traceparent()}
        if config.bearers:
            headers["authorization"] = f"Bearer {config.bearers[i % len(config.bearers)]}"
        try:
            try:
                response = await client.get(base + path, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                stats.statuses[type(exc).__name__] += 1
            else:
                stats.statuses[str(status)] += 1
                stats.latencies.append(time.perf_counter() - t0)
            if status is not None and 200 <= status < 300:
                stats.ok += 1
            else:
                stats.errors += 1
            if on_result is not None:
                on_result(status, time.perf_counter() - t0)
        finally:
            slots.release()  # after on_result, so a stop it sets is seen before the next send

    start = loop.time()
    try:
        for i in range(config.planned):
            delay = start + i / config.rate - loop.time()
            if stop is not None:
                if stop.is_set():
                    break
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                        break
                    except TimeoutError:
                        pass
            elif delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            if stop is not None and stop.is_set():
                slots.release()
                break
            stats.sent += 1
            task = asyncio.create_task(one(_path(config.paths[i % len(config.paths)], rng), i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        stats.elapsed = loop.time() - start
        if own:
            await client.aclose()
    return stats


def main(argv: list[str] | None = None) -> int:
    """`python -m inspector.lab.loadgen URL`: run a load and print the summary line."""
    parser = argparse.ArgumentParser(prog="python -m inspector.lab.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("url", help="gateway base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second (default 5)")
    parser.add_argument("--concurrency", type=int, default=32, help="max requests in flight (default 32)")
    parser.add_argument("--duration", default="10s", help="how long to send (default 10s)")
    parser.add_argument("--path", action="append", dest="paths", help="path to call (repeatable; {id} = random id)")
    parser.add_argument("--token-url", default=None, help="log the lab users in here and send their bearer tokens")
    parser.add_argument("--secrets-file", default=None, help="the lab's secrets file (users and passwords)")
    args = parser.parse_args(argv)
    from inspector.lab.secrets_file import read_users
    from inspector.schema.errors import UserError
    from inspector.schema.units import parse_duration

    try:
        cfg = LoadConfig(
            url=args.url,
            rate=args.rate,
            concurrency=args.concurrency,
            duration=parse_duration(args.duration),
            paths=args.paths or DEFAULT_PATHS,
        )
        if bool(args.token_url) != bool(args.secrets_file):
            raise ValueError("--token-url and --secrets-file go together")
        if args.token_url:
            client_id, users = read_users(args.secrets_file)
            cfg.bearers = asyncio.run(fetch_user_tokens(args.token_url, client_id, users))
        stats = asyncio.run(run_load(cfg))
    except (UserError, ValueError) as exc:
        print(f"loadgen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(stats.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
