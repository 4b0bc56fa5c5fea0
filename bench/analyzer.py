"""Analyzer throughput and memory: events/s ingested from a JSONL capture on one core, and
RSS after 1,000,000 events against after the warm-up point: the first checkpoint where the big
tables are (nearly) full, printed with their sizes (flat after it means bounded state).

    uv run python bench/analyzer.py [--events 1000000] [--file-events 300000]
    uv run python bench/analyzer.py --floor [--file-events 100000] [--repeat 5]

Throughput is measured over the real capture path (read line, decode, ingest) in CPU time
of this process, repeated and reported as the median. The last line is the summary.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synth import events
from inspector.analyzer import Analyzer
from inspector.analyzer.routes import template
from inspector.capture.jsonl import read_events
from inspector.capture.load import offline_gc
from inspector.schema import events as E
from inspector.schema.lean import LeanEncoder


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def table_sizes(a: Analyzer) -> dict[str, int]:
    """The analyzer's bounded tables (and the route template memo), by entries held."""
    return {
        "recent": len(a.recent),
        "tokens": len(a.tokens),
        "keys": len(a.keys),
        "issued": len(a.issued_fps),
        "issuer": len(a.ledger.issuer),
        "hops_of": len(a.corr.hops_of),
        "pending": len(a.corr._pending),
        "routes": len(a.routes),
        "route_memo": len(a._route_of),
        "templates": template.cache_info().currsize,
    }


def warm_up_point(sizes_at: dict[int, dict[str, int]]) -> int:
    """The first checkpoint at which every big table (1,000 entries or more at the end) holds at
    least 95 % of what it holds at the end: the state is about as big as it gets, so RSS after
    it should stay flat. Small tables (tokens, keys, routes: a few hundred entries here) are
    left out; their growth is kilobytes."""
    points = sorted(sizes_at)
    final = sizes_at[points[-1]]
    big = [k for k, v in final.items() if v >= 1_000]
    for at in points:
        if all(sizes_at[at][k] >= 0.95 * final[k] for k in big):
            return at
    return points[-1]


def read_ingest(path: Path) -> Analyzer:
    a = Analyzer()
    with open(path, "rb") as fh, offline_gc():
        # as analyze_file reads: the reader cleans flow events (lean ones shape by shape)
        a.ingest_many(read_events(fh, str(path), clean=True), cleaned=True)
    a.snapshot()
    return a


def write_capture(path: Path, n: int, lean: bool) -> None:
    enc = LeanEncoder() if lean else None
    with open(path, "wb") as fh:
        fh.writelines(enc.encode(ev) if enc else E.encode(ev) for ev in events(n))


def profile(n: int) -> None:
    """Where the time goes: cProfile over read+decode+ingest of a v1 and a v2 capture."""
    import cProfile
    import pstats

    with tempfile.TemporaryDirectory() as tmp:
        for lean in (False, True):
            cap = Path(tmp) / "p.jsonl"
            write_capture(cap, n, lean)
            prof = cProfile.Profile()
            prof.runcall(read_ingest, cap)
            print(f"== capture v{2 if lean else 1}: {n:,} events, top 20 by own time")
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def floor(n: int, repeat: int) -> None:
    """What the 100,000 events/s goal leaves for analysis: the per-event cost of each stage of
    reading a v2 capture, measured side by side (medians of `repeat` interleaved runs), against
    the goal's budget of 10 us and the cost of one Python attribute increment on this host."""
    import orjson

    from inspector.analyzer.sanitize import clean_flow, shape_vet
    from inspector.schema.lean import LeanDecoder

    class Counter:
        n = 0

    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "v2.jsonl"
        write_capture(cap, n, lean=True)
        lines = cap.read_bytes().splitlines(keepends=True)
        runs: dict[str, list[float]] = {
            k: [] for k in ("read lines", "+ JSON parse", "+ expand and vet", "+ ingest", "one attribute increment")
        }
        for _ in range(repeat):
            c0 = time.process_time()
            with open(cap, "rb") as fh:
                for _line in fh:
                    pass
            runs["read lines"].append(time.process_time() - c0)
            loads = orjson.loads
            c0 = time.process_time()
            with open(cap, "rb") as fh:
                for line in fh:
                    loads(line)
            runs["+ JSON parse"].append(time.process_time() - c0)
            decode = LeanDecoder(vet=shape_vet, fallback=clean_flow).decode
            c0 = time.process_time()
            with open(cap, "rb") as fh:
                for line in fh:
                    decode(line)
            runs["+ expand and vet"].append(time.process_time() - c0)
            c0 = time.process_time()
            read_ingest(cap)
            runs["+ ingest"].append(time.process_time() - c0)
            c = Counter()
            c0 = time.process_time()
            for _line in lines:  # ten increments a line, so the loop's own cost is a tenth of it
                c.n += 1
                c.n += 1
                c.n += 1
                c.n += 1
                c.n += 1
                c.n += 1
                c.n += 1
                c.n += 1
                c.n += 1
                c.n += 1
            runs["one attribute increment"].append((time.process_time() - c0) / 10)
    us = {k: statistics.median(v) / n * 1e6 for k, v in runs.items()}
    for k, v in us.items():
        print(f"  {k:<24} {v:6.2f} us/event")
    left = 10.0 - us["+ JSON parse"]
    print(
        f"summary: the 100,000 events/s goal is 10 us/event; reading and parsing take {us['+ JSON parse']:.2f} us, "
        f"leaving {left:.2f} us = {left / us['one attribute increment']:.0f} attribute increments for everything the "
        f"analyzer does; today's read+decode+ingest takes {us['+ ingest']:.2f} us "
        f"({10.0 / us['+ ingest']:.2f}x the goal's rate)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--file-events", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one read+decode+ingest pass and print the top")
    ap.add_argument("--memory-only", action="store_true", help="only the RSS part")
    ap.add_argument(
        "--floor", action="store_true", help="per-event cost of each reading stage, against the 10 us budget"
    )
    args = ap.parse_args()
    if args.profile:
        profile(args.file_events)
        return
    if args.floor:
        floor(args.file_events, args.repeat)
        return

    # memory first, in a clean process state: RSS is a high-water mark
    a = Analyzer()
    rss_at: dict[int, float] = {}
    sizes_at: dict[int, dict[str, int]] = {}
    step = max(1, args.events // 10)
    for i, ev in enumerate(events(args.events, seed=2), 1):
        a.ingest(ev)
        if i % step == 0 or i in (100_000, args.events):
            rss_at[i], sizes_at[i] = rss_mb(), table_sizes(a)
            print(f"  after {i:>9,} events: RSS {rss_at[i]:7.1f} MB  tables {sizes_at[i]}")
    a.snapshot()
    del a
    warm = warm_up_point(sizes_at)
    if args.memory_only:
        print(
            f"summary: rss_ratio_after_warmup={rss_at[args.events] / rss_at[warm]:.2f} (warm-up at {warm:,} events, "
            f"{rss_at[warm]:.1f} -> {rss_at[args.events]:.1f} MB); ratio to 100,000: "
            f"{rss_at[args.events] / rss_at[100_000]:.2f}"
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        caps = {1: Path(tmp) / "v1.jsonl", 2: Path(tmp) / "v2.jsonl"}
        for v, cap in caps.items():
            write_capture(cap, args.file_events, lean=v == 2)
        rates: dict[int, list[float]] = {1: [], 2: []}
        ingest_rates = []
        for _ in range(args.repeat):
            for v, cap in caps.items():  # interleaved, so drift on a shared machine hits both
                c0 = time.process_time()
                read_ingest(cap)
                rates[v].append(args.file_events / (time.process_time() - c0))
            # the analyzer alone, without JSON decoding
            with open(caps[1], "rb") as fh:
                decoded = [E.decode(line) for line in fh]
            a = Analyzer()
            with offline_gc():
                c0 = time.process_time()
                a.ingest_many(decoded)
                ingest_rates.append(len(decoded) / (time.process_time() - c0))
            del decoded
        for v, cap in caps.items():
            print(
                f"capture v{v}: {args.file_events:,} events, {cap.stat().st_size / 1e6:.0f} MB, "
                f"{cap.stat().st_size / args.file_events:.0f} bytes/event"
            )
        for v in caps:
            print(
                f"read+decode+ingest v{v}: median {statistics.median(rates[v]):,.0f} events/s (runs: "
                + ", ".join(f"{r:,.0f}" for r in rates[v])
                + ")"
            )
        print(f"ingest only:             median {statistics.median(ingest_rates):,.0f} events/s")

    ratio = rss_at[args.events] / rss_at[warm]
    print(
        f"warm-up point: {warm:,} events (the first checkpoint where every table of 1,000+ entries is at 95 % of its final size: {sizes_at[warm]})"
    )
    print(
        f"RSS after {args.events:,}: {rss_at[args.events]:.1f} MB vs after warm-up ({warm:,}): {rss_at[warm]:.1f} MB "
        f"vs after 100,000: {rss_at[100_000]:.1f} MB (ratio to 100,000: {rss_at[args.events] / rss_at[100_000]:.2f})"
    )
    print(
        f"summary: events_per_s v1={statistics.median(rates[1]):,.0f} v2={statistics.median(rates[2]):,.0f} "
        f"(goal >= 100,000) "
        f"rss_ratio_after_warmup={ratio:.2f} (goal <= 1.10; warm-up at {warm:,} events)"
    )


if __name__ == "__main__":
    main()
