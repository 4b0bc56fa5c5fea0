"""Regenerate tests/data/naive_gateway.jsonl: a naive lab gateway seen through mitmdump.

Run `uv run python tests/views/tui/make_capture.py` (not a test). The committed capture is the
fixed input of the TUI snapshot tests; regenerating it changes the snapshots.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from inspector.lab.common import free_port
from tests.support.procs import ROOT, start_lab, start_mitmdump

OUT = ROOT / "tests" / "data" / "naive_gateway.jsonl"


# (seconds, requests per second): a quiet start, a busier middle, a steady end
PHASES = ((12, 0.5), (14, 1.5), (14, 1.0))


async def traffic(url: str) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        paths = ["/orders", "/orders/17", "/users/3", "/inventory"]
        tasks = []

        async def one(i: int) -> None:
            headers = {}
            if i % 3 != 2:  # most requests carry a trace id; the rest are correlated by time
                headers["traceparent"] = f"00-{i:032x}-{i:016x}-01"
            await client.get(url + paths[i % len(paths)], headers=headers)

        loop = asyncio.get_running_loop()
        start = loop.time()
        i = 0
        offset = 0.0
        for seconds, rate in PHASES:
            n = int(seconds * rate)
            for j in range(n):
                due = start + offset + j / rate
                await asyncio.sleep(max(0.0, due - loop.time()))
                tasks.append(asyncio.create_task(one(i)))
                i += 1
            offset += seconds
        await asyncio.gather(*tasks)
        await client.get(url + "/missing")


def main() -> None:
    lg, la, lb = free_port(), free_port(), free_port()
    lab = start_lab(
        "--gateway",
        "naive",
        "--auth-latency",
        "120ms",
        "--backend-latency",
        "15ms",
        "--gateway-auth-url",
        f"http://127.0.0.1:{la}",
        "--gateway-backend-url",
        f"http://127.0.0.1:{lb}",
    )
    OUT.unlink(missing_ok=True)
    try:
        dump = start_mitmdump(
            "--mode",
            f"reverse:{lab.info['gateway']}@{lg}",
            "--mode",
            f"reverse:{lab.info['auth']}@{la}",
            "--mode",
            f"reverse:{lab.info['backend']}@{lb}",
            "--set",
            f"tokentax_inbound={lg}",
            "--set",
            f"tokentax_save={OUT}",
            "--set",
            "tokentax_stream=off",
            "--set",
            "tokentax_fingerprint_key=tokentax-test-key",
        )
        try:
            asyncio.run(traffic(f"http://127.0.0.1:{lg}"))
        finally:
            dump.stop()
    finally:
        lab.stop()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
