"""A stalled TUI must not slow the proxy: mitmdump throughput with one stream client that
connected and never reads, against mitmdump with no stream client, side by side.

    uv run python bench/stall.py [--rounds 5] [--requests 3000] [--clients 4]

Two mitmdump processes with the addon (same options: stream, metrics, no status lines)
sit in front of one fast local backend. B gets the stalled client (a socket with a 4 KiB
receive buffer that never calls recv) and is first driven until its per-client queue is
full and the stream drops events (tokentax_stream_dropped_events_total > 0 on B's
/metrics): about 28,000 flows with the real 20,000-event queue and the kernel's
autotuned send buffer. Then rounds alternate (A, B / B, A, ...) so drift on this shared
machine hits both; each round's ratio is B / A, the median is printed last.
Goal: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.overhead import BACKEND, drive  # noqa: E402  (the same backend and client)
from inspector.lab.common import free_port  # noqa: E402
from inspector.mitm.launch import Mitmdump  # noqa: E402


def dropped(metrics: str) -> int:
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^tokentax_stream_dropped_events_total (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else 0


def start_proxy(backend_port: int) -> tuple[Mitmdump, int, str]:
    port = free_port()
    m = Mitmdump(
        [
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:http://127.0.0.1:{backend_port}@{port}",
            "--set",
            f"tokentax_inbound={port}",
            "--set",
            "tokentax_stream=127.0.0.1:0",
            "--set",
            "tokentax_metrics=127.0.0.1:0",
            "--set",
            "tokentax_status=0",
            "--set",
            "tokentax_summary=false",
        ]
    ).start()
    metrics = re.search(r"metrics (\S+?)(?:,|$)", m.ready_line)
    if metrics is None:
        m.stop()
        raise SystemExit(f"no metrics address in {m.ready_line!r}")
    return m, port, metrics.group(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--fill-step", type=int, default=2000, help="requests per step while filling B's queue")
    ap.add_argument("--fill-max", type=int, default=100_000, help="give up filling after this many requests")
    args = ap.parse_args()
    backend = subprocess.Popen([sys.executable, "-c", BACKEND], stdout=subprocess.PIPE, text=True)
    procs: list[Mitmdump] = []
    stalled = None
    try:
        assert backend.stdout is not None
        backend_port = int(backend.stdout.readline())
        a, a_port, _a_metrics = start_proxy(backend_port)
        procs.append(a)
        b, b_port, b_metrics = start_proxy(backend_port)
        procs.append(b)
        host, sport = b.stream.rsplit(":", 1)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect((host, int(sport)))
        stalled.sendall(b'{"hello": "tokentax/1"}\n')  # and never a recv()
        filled = 0
        t0 = time.monotonic()
        while dropped(b_metrics) == 0:
            if filled >= args.fill_max:
                raise SystemExit(f"B never dropped an event after {filled} requests")
            drive(b_port, args.fill_step, args.clients)
            filled += args.fill_step
            print(f"filling B: {filled:>6} requests, dropped {dropped(b_metrics)}", flush=True)
        drops_before = dropped(b_metrics)
        print(f"B drops events after {filled} requests ({time.monotonic() - t0:.0f} s); measuring", flush=True)
        drive(a_port, min(2000, args.requests), args.clients)  # warm A too
        ratios, none, stall = [], [], []
        for r in range(args.rounds):
            order = ("none", "stalled") if r % 2 == 0 else ("stalled", "none")
            res = {v: drive(a_port if v == "none" else b_port, args.requests, args.clients) for v in order}
            none.append(res["none"])
            stall.append(res["stalled"])
            ratios.append(res["stalled"] / res["none"])
            print(
                f"round {r + 1}: no client {res['none']:7.1f} req/s   stalled client {res['stalled']:7.1f} req/s   "
                f"ratio {ratios[-1]:.3f}",
                flush=True,
            )
        drops_after = dropped(b_metrics)
        if drops_after <= drops_before:
            raise SystemExit("B stopped dropping during the rounds: the client was not stalled")
        print(f"B dropped {drops_after - drops_before} events during the rounds ({drops_after} in all)")
        print(
            f"median no client {statistics.median(none):.1f} req/s, stalled client {statistics.median(stall):.1f} req/s"
        )
        print(f"ratio={statistics.median(ratios):.3f} (stalled client / no client, goal >= 0.95)")
    finally:
        if stalled is not None:
            stalled.close()
        for m in procs:
            m.stop()
        backend.kill()


if __name__ == "__main__":
    main()
