"""Addon overhead: mitmdump throughput through one reverse listener to a fast local backend,
with the tokentax addon against without it, measured side by side.

    uv run python bench/overhead.py [--rounds 5] [--requests 3000] [--clients 4]
    uv run python bench/overhead.py --metrics             # addon + /metrics vs no addon
    uv run python bench/overhead.py --metrics-vs-addon    # addon + /metrics vs addon alone
    uv run python bench/overhead.py --split               # also an empty script addon: what any
                                                          # `-s` script costs vs what tokentax adds

Runs alternate (without, with / with, without, ...) so drift on this shared machine hits
both; each round gives a ratio with/without and the median ratio is printed last.
Goal: ratio >= 0.97 (addon vs none); >= 0.98 for --metrics-vs-addon, the cost of the
Prometheus endpoint itself. With metrics on, /metrics is scraped every --scrape-interval
seconds during the measured run, so the figure includes scrapes, not just an idle port.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inspector.lab.common import free_port  # noqa: E402
from inspector.mitm.launch import SCRIPT, mitmdump_command  # noqa: E402

BACKEND = r"""
import asyncio, sys
BODY = b'{"ok":true,"items":[1,2,3]}'
RESP = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)
async def handle(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            if n:
                await r.readexactly(n)
            w.write(RESP)
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        w.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()
asyncio.run(main())
"""


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
        except Exception as exc:
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


class Scraper:
    """GET /metrics every `interval` seconds on its own thread, as Prometheus would."""

    def __init__(self, port: int, interval: float) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.interval = interval
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=10) as r:
                if b"tokentax_flows_total" not in r.read():
                    raise SystemExit("scrape without tokentax metrics")
            self.scrapes += 1

    def __enter__(self) -> Scraper:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(15)


def ensure_wrk() -> str:
    """wrk from Debian, installed if missing (the pinned setup's load generator is not Python)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get install -y wrk) ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and could not be installed")
    return found


def drive_wrk(port: int, seconds: float, clients: int, core: str) -> float:
    out = subprocess.run(
        ["taskset", "-c", core, ensure_wrk(), "-t1", f"-c{clients}", f"-d{seconds:g}s", f"http://127.0.0.1:{port}/x"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise SystemExit(f"wrk printed no Requests/sec: {out[-300:]}")


# An addon that does nothing on each response: the cost of mitmproxy's script machinery alone.
EMPTY_SCRIPT = "class Empty:\n    def response(self, flow):\n        pass\n\naddons = [Empty()]\n"


def one_run(backend_port: int, variant: str, args: argparse.Namespace, pinned: bool = False) -> float:
    """variant: 'none' (no addon), 'empty' (a script addon that does nothing), 'addon', or
    'metrics' (addon with tokentax_metrics on).

    pinned: mitmdump on core 0 alone, wrk and the backend on core 1 (as a sidecar runs);
    otherwise today's shared setup, Python clients and everything on any core."""
    port = free_port()
    cmd = (
        (["taskset", "-c", "0"] if pinned else [])
        + mitmdump_command()
        + [
            "-q",
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:http://127.0.0.1:{backend_port}@{port}",
        ]
    )
    metrics_port = 0
    if variant == "empty":
        cmd += ["-s", str(args.empty_script)]
    elif variant != "none":
        cmd += [
            "-s",
            str(SCRIPT),
            "--set",
            f"tokentax_inbound={port}",
            "--set",
            "tokentax_stream=127.0.0.1:0",
            "--set",
            "tokentax_status=0",
            "--set",
            "tokentax_summary=false",
        ]
        if variant == "metrics":
            # port 0 (the addon picks one) unless we scrape and so need to know it
            metrics_port = free_port() if args.scrape_interval > 0 else 0
            cmd += ["--set", f"tokentax_metrics=127.0.0.1:{metrics_port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_port(port, proc)
        if metrics_port:
            wait_port(metrics_port, proc)
        if pinned:
            drive_wrk(port, 1, args.clients, "1")  # warm-up
            return drive_wrk(port, args.wrk_seconds, args.clients, "1")
        drive(port, min(200, args.requests), args.clients)  # warm-up
        with Scraper(metrics_port, args.scrape_interval if metrics_port else 0):
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
    ap.add_argument(
        "--metrics-vs-addon",
        action="store_true",
        help="compare addon + metrics against the addon alone (the endpoint's own cost)",
    )
    ap.add_argument(
        "--scrape-interval",
        type=float,
        default=1.0,
        help="seconds between /metrics scrapes while metrics are on (0: never scrape)",
    )
    ap.add_argument("--setup", choices=("both", "pinned", "shared"), default="both")
    ap.add_argument("--wrk-seconds", type=float, default=5.0, help="length of one pinned wrk run")
    ap.add_argument(
        "--split",
        action="store_true",
        help="also run an empty script addon each round and split the ratio: script machinery, tokentax",
    )
    args = ap.parse_args()
    if args.metrics_vs_addon:
        base_v, test_v, names, goal = "addon", "metrics", ("addon", "addon+metrics"), 0.98
    else:
        base_v, test_v, goal = "none", "metrics" if args.metrics else "addon", 0.97
        names = ("without", "with addon" + (" + metrics" if args.metrics else ""))
    setups = ("pinned", "shared") if args.setup == "both" else (args.setup,)
    backends = {
        "shared": subprocess.Popen([sys.executable, "-c", BACKEND], stdout=subprocess.PIPE, text=True),
        "pinned": subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, "-c", BACKEND], stdout=subprocess.PIPE, text=True
        ),
    }
    if "pinned" in setups:
        ensure_wrk()
    tmp = tempfile.TemporaryDirectory()
    args.empty_script = Path(tmp.name) / "empty_addon.py"
    args.empty_script.write_text(EMPTY_SCRIPT)
    empty: dict[str, list[float]] = {k: [] for k in setups}
    try:
        ports = {k: int(b.stdout.readline()) for k, b in backends.items() if b.stdout is not None}
        ratios: dict[str, list[float]] = {k: [] for k in setups}
        base: dict[str, list[float]] = {k: [] for k in setups}
        addon: dict[str, list[float]] = {k: [] for k in setups}
        for r in range(args.rounds):
            for setup in setups:  # interleaved: setups alternate, and so do variants within each
                order: tuple[str, ...] = (base_v, "empty", test_v) if args.split else (base_v, test_v)
                order = order if r % 2 == 0 else order[::-1]
                res = {v: one_run(ports[setup], v, args, pinned=setup == "pinned") for v in order}
                if args.split:
                    empty[setup].append(res["empty"])
                base[setup].append(res[base_v])
                addon[setup].append(res[test_v])
                ratios[setup].append(res[test_v] / res[base_v])
                print(
                    f"round {r + 1} {setup:6s}: {names[0]} {res[base_v]:7.1f} req/s   {names[1]} "
                    f"{res[test_v]:7.1f} req/s   ratio {ratios[setup][-1]:.3f}",
                    flush=True,
                )
        for setup in setups:
            print(
                f"{setup}: median {names[0]} {statistics.median(base[setup]):.1f} req/s, {names[1]} "
                f"{statistics.median(addon[setup]):.1f} req/s"
            )
        if args.split:
            for setup in setups:
                none_m, empty_m, addon_m = (statistics.median(x[setup]) for x in (base, empty, addon))
                print(
                    f"{setup}: empty script {empty_m:.1f} req/s; script machinery (empty/none) "
                    f"{empty_m / none_m:.3f}, tokentax's own work (addon/empty) {addon_m / empty_m:.3f}"
                )
        goals = {"pinned": goal, "shared": 0.93 if goal == 0.97 else goal}
        print(
            "ratios: "
            + "  ".join(f"{setup}={statistics.median(ratios[setup]):.3f} (goal >= {goals[setup]})" for setup in setups)
            + f"  ({names[1]} / {names[0]}, median of {args.rounds})"
        )
    finally:
        tmp.cleanup()
        for b in backends.values():
            b.kill()


if __name__ == "__main__":
    main()
