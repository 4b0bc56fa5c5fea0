"""Addon overhead: mitmdump throughput through one reverse listener to a fast local backend,
with the tokentax addon against without it, measured side by side.

    uv run python bench/overhead.py [--rounds 5] [--requests 3000] [--clients 4]

Runs alternate (without, with / with, without, ...) so drift on this shared machine hits
both; each round gives a ratio with/without and the median ratio is printed last.
Goal: ratio >= 0.97.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inspector.mitmdump import SCRIPT, mitmdump_command  # noqa: E402

BACKEND = r'''
import asyncio, sys
BODY = b'{"ok":true,"items":[1,2,3]}'
RESP = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)
async def handle(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            w.write(RESP)
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        w.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()
asyncio.run(main())
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mitmdump exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("mitmdump did not listen in time")


def drive(port: int, requests: int, clients: int) -> float:
    """requests GETs over `clients` kept-alive connections; returns requests per second."""
    per = requests // clients
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for i in range(per):
                conn.request("GET", f"/orders/{i}", headers={"authorization": "Bearer " + "x" * 40})
                conn.getresponse().read()
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"client errors: {errors[:3]}")
    return per * clients / elapsed


def one_run(backend_port: int, with_addon: bool, args: argparse.Namespace) -> float:
    port = free_port()
    cmd = mitmdump_command() + ["-q", "--listen-host", "127.0.0.1",
                                "--mode", f"reverse:http://127.0.0.1:{backend_port}@{port}"]
    if with_addon:
        cmd += ["-s", str(SCRIPT), "--set", f"tokentax_inbound={port}", "--set", "tokentax_stream=127.0.0.1:0",
                "--set", "tokentax_status=0", "--set", "tokentax_summary=false"]
        if args.metrics:
            cmd += ["--set", "tokentax_metrics=127.0.0.1:0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_port(port, proc)
        drive(port, min(200, args.requests), args.clients)  # warm-up
        return drive(port, args.requests, args.clients)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--metrics", action="store_true", help="with the addon's Prometheus endpoint on")
    args = ap.parse_args()
    backend = subprocess.Popen([sys.executable, "-c", BACKEND], stdout=subprocess.PIPE, text=True)
    try:
        assert backend.stdout is not None
        backend_port = int(backend.stdout.readline())
        ratios, base, addon = [], [], []
        for r in range(args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            res = {variant: one_run(backend_port, variant, args) for variant in order}
            base.append(res[False])
            addon.append(res[True])
            ratios.append(res[True] / res[False])
            print(f"round {r + 1}: without {res[False]:7.1f} req/s   with addon {res[True]:7.1f} req/s   "
                  f"ratio {ratios[-1]:.3f}", flush=True)
        print(f"median without {statistics.median(base):.1f} req/s, with {statistics.median(addon):.1f} req/s")
        print(f"ratio={statistics.median(ratios):.3f} (goal >= 0.97{', metrics on' if args.metrics else ''})")
    finally:
        backend.kill()


if __name__ == "__main__":
    main()
