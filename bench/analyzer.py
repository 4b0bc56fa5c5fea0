"""Analyzer throughput and memory: events/s ingested from a JSONL capture on one core, and
RSS after 1,000,000 events against after 100,000 (flat means bounded state).

    uv run python bench/analyzer.py [--events 1000000] [--file-events 300000]

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
from inspector.capture.jsonl import read_events
from inspector.schema import events as E


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--file-events", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    # memory first, in a clean process state: RSS is a high-water mark
    a = Analyzer()
    rss_at = {}
    for i, ev in enumerate(events(args.events, seed=2), 1):
        a.ingest(ev)
        if i in (100_000, args.events) or i % 200_000 == 0:
            if i % 200_000 == 0 or i == 100_000:
                print(f"  after {i:>9,} events: RSS {rss_mb():7.1f} MB")
            rss_at[i] = rss_mb()
    a.snapshot()
    del a
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "bench.jsonl"
        with open(cap, "wb") as fh:
            fh.writelines(E.encode(ev) for ev in events(args.file_events))
        size_mb = cap.stat().st_size / 1e6
        rates, ingest_rates = [], []
        for _ in range(args.repeat):
            a = Analyzer()
            c0 = time.process_time()
            with open(cap, "rb") as fh:
                for ev in read_events(fh, str(cap)):
                    a.ingest(ev)
            a.snapshot()
            rates.append(args.file_events / (time.process_time() - c0))
            # the analyzer alone, without JSON decoding
            with open(cap, "rb") as fh:
                decoded = [E.decode(line) for line in fh]
            a = Analyzer()
            c0 = time.process_time()
            for ev in decoded:
                a.ingest(ev)
            ingest_rates.append(len(decoded) / (time.process_time() - c0))
            del decoded
        print(f"capture: {args.file_events} events, {size_mb:.0f} MB")
        print(
            f"read+decode+ingest: median {statistics.median(rates):,.0f} events/s (runs: "
            + ", ".join(f"{r:,.0f}" for r in rates)
            + ")"
        )
        print(f"ingest only:        median {statistics.median(ingest_rates):,.0f} events/s")

    ratio = rss_at[args.events] / rss_at[100_000]
    print(f"RSS after {args.events:,}: {rss_at[args.events]:.1f} MB vs after 100,000: {rss_at[100_000]:.1f} MB")
    print(
        f"summary: events_per_s={statistics.median(rates):,.0f} (goal >= 100,000) "
        f"rss_ratio={ratio:.2f} (goal: flat, ~1.0)"
    )


if __name__ == "__main__":
    main()
