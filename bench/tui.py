"""TUI under load: a headless app attached to a stream that sends N flow events a second.

    uv run python bench/tui.py [--rate 5000] [--seconds 60] [--sources 1]

A producer child process runs the addon's own stream server (inspector.live.stream_server)
and publishes realistic flow events (re-stamped from the committed naive-gateway
capture) at --rate per second, plus an `addon` event and a `summary` of its own
analyzer every 0.5 s, as the addon does. This process runs the real TokentaxApp
(headless, 160x45, flows tab showing) attached through the real StreamClient.

It prints: events sent / received / lost (goal: 0 lost), the timer update time and the
paint that follows it (p50, p95, max; goal: p95 frame <= 50 ms), RSS at start and end,
CPU use of the TUI process, and, last, a one-line summary with the ratios
received/sent and p95 frame/budget.

`--grouped` shows the flows list grouped by inbound request (key `g`).

`--sources N` runs N producers, each at rate/N, and attaches one app to all of them
(`tokentax attach A B ...`: one reader per stream, one timer, figures summed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAPTURE = ROOT / "tests" / "data" / "naive_gateway.jsonl"
FRAME_BUDGET_MS = 50.0
SUMMARY_TICK_S = 0.5
BATCH_S = 0.01


# -- producer (child process) ------------------------------------------------------------


def templates() -> list[dict]:
    return [json.loads(line) for line in CAPTURE.read_text().splitlines() if '"type":"flow"' in line]


async def produce(rate: float, seconds: float) -> None:
    """Serve the stream; once a client attached, publish `rate` events/s for `seconds`; report."""
    from inspector.analyzer import Analyzer
    from inspector.live.stream_server import StreamServer
    from inspector.schema import events as E

    analyzer = Analyzer()
    session = E.session_event(time.time(), source="bench", key_id="bench")
    analyzer.ingest(session)

    def summary() -> bytes:
        analyzer.advance(time.time())
        return E.encode({"v": 1, "type": "summary", "ts": time.time(), "report": analyzer.snapshot()})

    server = StreamServer("127.0.0.1", 0, "", lambda: [E.encode(session), summary()])
    host, port = await server.start()
    print(json.dumps({"ready": True, "port": port}), flush=True)
    while not server.clients:
        await asyncio.sleep(0.01)
    tpl = templates()
    t0_data = tpl[0]["ts"]
    sent = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    next_summary = start + SUMMARY_TICK_S
    wall0 = time.time()
    while True:
        now = loop.time()
        elapsed = now - start
        if elapsed >= seconds:
            break
        due = min(int(elapsed * rate), int(seconds * rate))
        while sent < due:
            ev = dict(tpl[sent % len(tpl)])
            shift = wall0 + sent / rate - t0_data - (ev["ts"] - t0_data)
            ev["ts"] = ev["ts"] + shift
            if ev.get("end"):
                ev["end"] = ev["end"] + shift
            ev["id"] = f"b{sent}"
            analyzer.ingest(ev)
            server.publish(E.encode(ev))
            sent += 1
        if now >= next_summary:
            next_summary += SUMMARY_TICK_S
            server.publish(E.encode(E.addon_event(time.time(), errors=0, dropped=server.dropped)))
            server.publish(summary())
        await asyncio.sleep(BATCH_S)
    while sent < int(seconds * rate):  # the tail of the last batch
        ev = dict(tpl[sent % len(tpl)])
        ev["id"] = f"b{sent}"
        analyzer.ingest(ev)
        server.publish(E.encode(ev))
        sent += 1
    server.publish(E.encode(E.addon_event(time.time(), errors=0, dropped=server.dropped)))
    server.publish(summary())
    # let the client drain what is queued before reporting
    while any(c.queue for c in server.clients):
        await asyncio.sleep(0.05)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"sent": sent, "dropped": server.dropped, "cpu_s": ru.ru_utime + ru.ru_stime}), flush=True)
    await asyncio.sleep(3600)  # until the parent ends us


# -- consumer (this process) -------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def consume(rate: float, seconds: float, sources: int = 1, grouped: bool = False) -> int:
    from inspector.live.stream_client import StreamClient
    from inspector.views.tui.app import TokentaxApp
    from inspector.views.tui.components.flow_list import FlowList
    from inspector.views.tui.feed import Feed, MultiFeed

    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--produce",
            "--rate",
            str(rate / sources),
            "--seconds",
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        for _ in range(sources)
    ]
    clients = []
    for proc in procs:
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        clients.append(StreamClient("127.0.0.1", ready["port"]))
    if sources == 1:
        app = TokentaxApp(Feed(clients[0].address, "live"), client=clients[0], refresh_hz=5.0)
    else:
        app = TokentaxApp(MultiFeed([c.address for c in clients]), clients=clients, refresh_hz=5.0)
    paints: list[float] = []
    frames: list[float] = []
    gc_pauses: list[tuple[int, float]] = []  # (generation, ms)
    gc_started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], (time.perf_counter() - gc_started[0]) * 1000.0))

    gc.callbacks.append(on_gc)
    rss0 = rss_mb()
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            screen = app.screen
            original = screen._on_timer_update

            profiler = None
            if os.environ.get("BENCH_PROFILE"):
                import cProfile

                profiler = cProfile.Profile()

            def timed_paint() -> None:
                t = time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                original()
                if profiler is not None:
                    profiler.disable()
                ms = (time.perf_counter() - t) * 1000.0
                paints.append(ms)
                if last_tick[0] is not None:
                    frames.append(last_tick[0] + ms)
                    last_tick[0] = None

            last_tick: list[float | None] = [None]
            original_tick = app._tick

            def timed_tick() -> None:
                before = len(app.tick_ms)
                original_tick()
                if len(app.tick_ms) > before:
                    last_tick[0] = app.tick_ms[-1]

            screen._on_timer_update = timed_paint  # type: ignore[method-assign]
            screen._update_timer._callback = timed_paint  # the timer holds the bound method
            app._tick = timed_tick  # type: ignore[method-assign]
            for t in app._timers:
                if t.name == "refresh":
                    t._callback = timed_tick
            app.query_one(FlowList).focus()
            if grouped:  # the flows list grouped by inbound request (key g)
                app.query_one(FlowList).set_grouped(True)
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            wall0 = time.monotonic()
            lines = [await asyncio.wait_for(proc.stdout.readline(), seconds + 120) for proc in procs]  # type: ignore[union-attr]
            wall = time.monotonic() - wall0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            reports = [json.loads(line) for line in lines]
            produced = {k: sum(r[k] for r in reports) for k in ("sent", "dropped", "cpu_s")}
            # the last summary tells the proxy's total; wait until we have caught up with it
            deadline = time.monotonic() + 30
            while app.feed.flows_seen < produced["sent"] and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.pause(0.3)
            received = app.feed.flows_seen
            rss1 = rss_mb()
    finally:
        gc.callbacks.remove(on_gc)
        for proc in procs:
            proc.kill()
            await proc.wait()
    if profiler is not None:
        import pstats

        profiler.dump_stats("/tmp/paint.prof")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    sent = produced["sent"]
    lost = sent - received
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    ticks = list(app.tick_ms)
    print(
        f"events: sent {sent} at {rate:g}/s from {sources} source(s) for {seconds:g} s, received {received}, lost {lost} "
        f"(stream server drops {produced['dropped']}, lost as the TUI counts them {app.feed.lost})"
    )
    print(
        f"timer updates: {len(ticks)}  update p50 {pct(ticks, 0.5):.1f} ms  p95 {pct(ticks, 0.95):.1f} ms  "
        f"max {max(ticks, default=float('nan')):.1f} ms"
    )
    print(
        f"paints: {len(paints)}  p50 {pct(paints, 0.5):.1f} ms  p95 {pct(paints, 0.95):.1f} ms  "
        f"max {max(paints, default=float('nan')):.1f} ms"
    )
    print(
        f"frame (update + its paint): p50 {pct(frames, 0.5):.1f} ms  p95 {pct(frames, 0.95):.1f} ms  "
        f"max {max(frames, default=float('nan')):.1f} ms  (budget {FRAME_BUDGET_MS:.0f} ms)"
    )
    full = [ms for gen, ms in gc_pauses if gen == 2]
    print(
        f"GC: {len(gc_pauses)} collections, {sum(ms for _, ms in gc_pauses):.0f} ms in all; "
        f"{len(full)} full, longest {max(full, default=0.0):.0f} ms"
    )
    print(f"RSS: start {rss0:.0f} MB, end {rss1:.0f} MB ({rss1 - rss0:+.0f} MB); flows held {app.feed.flows_held}")
    print(
        f"CPU: TUI process {cpu:.1f} s over {wall:.1f} s = {cpu / wall * 100:.0f} % of one core; "
        f"producer {produced['cpu_s']:.1f} s"
    )
    frame95 = pct(frames, 0.95)
    ok = lost == 0 and frame95 <= FRAME_BUDGET_MS
    print(
        f"summary: {'PASS' if ok else 'FAIL'} received/sent {received / sent if sent else 0:.4f} ({lost} lost), "
        f"p95 frame/budget {frame95 / FRAME_BUDGET_MS:.2f} ({frame95:.1f} ms), "
        f"RSS {rss0:.0f}->{rss1:.0f} MB, CPU {cpu / wall * 100:.0f} %"
    )
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=5000.0, help="flow events per second (default 5000)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to send (default 60)")
    p.add_argument("--sources", type=int, default=1, help="streams to attach to, each sending rate/N (default 1)")
    p.add_argument("--grouped", action="store_true", help="the flows list grouped by inbound request (key g)")
    p.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.sources < 1:
        p.error("--rate and --seconds must be more than 0, --sources at least 1")
    if args.produce:
        asyncio.run(produce(args.rate, args.seconds))
        return 0
    return asyncio.run(consume(args.rate, args.seconds, args.sources, args.grouped))


if __name__ == "__main__":
    raise SystemExit(main())
