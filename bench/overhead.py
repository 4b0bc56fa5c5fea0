"""Addon overhead: mitmdump throughput through one reverse listener to a fast local backend,
with the tokentax addon against without it, measured side by side.

    uv run python bench/overhead.py [--rounds 5] [--requests 3000] [--clients 4]
    uv run python bench/overhead.py --metrics             # addon + /metrics vs no addon
    uv run python bench/overhead.py --metrics-vs-addon    # addon + /metrics vs addon alone
    uv run python bench/overhead.py --split               # also an empty script addon: what any
                                                          # `-s` script costs vs what tokentax adds

Runs alternate (without, with / with, without, ...) so drift on this shared machine hits
both. Two figures per setup, medians over the rounds, printed last: the throughput ratio
with/without, and the ratio of mitmdump's own CPU time per request (without/with), which is
the throughput a saturated proxy keeps and is far less disturbed when a neighbour takes the
core for a while (a lost second halves one throughput run, not the CPU a request costs).
Goals: pinned >= 0.97, shared >= 0.93 (addon vs none); >= 0.98 for --metrics-vs-addon, the cost of the
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


def drive_wrk(port: int, seconds: float, clients: int, core: str) -> tuple[float, int]:
    """(requests per second, requests completed) of one wrk run."""
    out = subprocess.run(
        ["taskset", "-c", core, ensure_wrk(), "-t1", f"-c{clients}", f"-d{seconds:g}s", f"http://127.0.0.1:{port}/x"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = done = None
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            rps = float(line.split()[1])
        elif " requests in " in line:
            done = int(line.split()[0])
    if rps is None or done is None:
        raise SystemExit(f"wrk printed no Requests/sec: {out[-300:]}")
    return rps, done


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Both scripts below add up, in mitmdump's one thread, the CPU time of the garbage collector
# (gc.callbacks) and count the flows, and write them at exit (to $TOKENTAX_BENCH_TIMES).
_GC_TIMER = """
import atexit, gc, os, time

_spent = {"hooks": 0.0, "gc": 0.0, "flows": 0}
_gc_start = [0.0]


def _gc(phase, info):
    if phase == "start":
        _gc_start[0] = time.thread_time()
    else:
        _spent["gc"] += time.thread_time() - _gc_start[0]


gc.callbacks.append(_gc)
atexit.register(lambda: open(os.environ["TOKENTAX_BENCH_TIMES"], "w").write(
    f"{_spent['hooks']} {_spent['gc']} {_spent['flows']}"))
"""

# An addon that does nothing but count responses: the cost of mitmproxy's script machinery alone.
EMPTY_SCRIPT = (
    _GC_TIMER
    + """

class Empty:
    def response(self, flow):
        _spent["flows"] += 1


addons = [Empty()]
"""
)

# With --split, the addon runs under this wrapper: the CPU time spent inside each of its
# per-flow hooks and its ticker, summed. Set beside mitmdump's CPU time per request, measured
# in the same process at the same moment, it gives tokentax's share with host noise cancelled;
# the garbage collector's time per flow, against the empty script's, is the rest of its cost.
# Two clock reads per call: about half a microsecond.
TIMED_SCRIPT = (
    _GC_TIMER
    + """
from inspector.mitm.addon import TokenTax


def _timed(name):
    inner = getattr(TokenTax, name)

    def hook(self, *args):
        t0 = time.thread_time()
        try:
            return inner(self, *args)
        finally:
            _spent["hooks"] += time.thread_time() - t0
            _spent["flows"] += name == "response"

    return hook


# every hook with per-flow work, the ticker, and the batch flush scheduled after a hook
_HOOKS = ("response", "error", "requestheaders", "client_disconnected", "_tick", "_scheduled_flush")
Timed = type("Timed", (TokenTax,), {n: _timed(n) for n in _HOOKS})
addons = [Timed()]
"""
)


def one_run(
    backend_port: int, variant: str, args: argparse.Namespace, pinned: bool = False
) -> tuple[float, float, tuple[float, float] | None]:
    """variant: 'none' (no addon), 'empty' (a script addon that does nothing), 'addon', or
    'metrics' (addon with tokentax_metrics on). Returns (requests per second, mitmdump's CPU
    microseconds per request, and (hook, garbage collector) CPU microseconds per flow measured
    inside mitmdump, or None): the second is what a saturated proxy pays per flow; the third
    comes from the empty script and, with --split, the addon.

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
            str(args.timed_script if args.split else SCRIPT),
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
    times = Path(args.empty_script).with_name(f"times-{port}")
    env = dict(os.environ, TOKENTAX_BENCH_TIMES=str(times))
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env
    )
    try:
        wait_port(port, proc)
        if metrics_port:
            wait_port(metrics_port, proc)
        if pinned:
            drive_wrk(port, 1, args.clients, "1")  # warm-up
            c0 = cpu_seconds(proc.pid)
            rps, done = drive_wrk(port, args.wrk_seconds, args.clients, "1")
        else:
            drive(port, min(200, args.requests), args.clients)  # warm-up
            with Scraper(metrics_port, args.scrape_interval if metrics_port else 0):
                c0 = cpu_seconds(proc.pid)
                rps = drive(port, args.requests, args.clients)
                done = args.requests
        cpu_us = (cpu_seconds(proc.pid) - c0) / done * 1e6
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    inside = None
    if times.exists():  # written at exit by EMPTY_SCRIPT / TIMED_SCRIPT
        hooks_s, gc_s, flows = times.read_text().split()
        if int(flows):
            inside = (float(hooks_s) / int(flows) * 1e6, float(gc_s) / int(flows) * 1e6)
        times.unlink()
    return rps, cpu_us, inside


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
    args.timed_script = Path(tmp.name) / "timed_tokentax.py"
    args.timed_script.write_text(TIMED_SCRIPT)
    try:
        ports = {k: int(b.stdout.readline()) for k, b in backends.items() if b.stdout is not None}
        variants = (base_v, "empty", test_v) if args.split else (base_v, test_v)
        rps: dict[str, dict[str, list[float]]] = {k: {v: [] for v in variants} for k in setups}
        cpu: dict[str, dict[str, list[float]]] = {k: {v: [] for v in variants} for k in setups}
        share: dict[str, list[float]] = {k: [] for k in setups}  # addon's own CPU / mitmdump's, per flow
        hook: dict[str, list[float]] = {k: [] for k in setups}
        gc_us: dict[str, dict[str, list[float]]] = {k: {"empty": [], "addon": []} for k in setups}
        ratios: dict[str, list[float]] = {k: [] for k in setups}
        for r in range(args.rounds):
            for setup in setups:  # interleaved: setups alternate, and so do variants within each
                order = variants if r % 2 == 0 else variants[::-1]
                for v in order:
                    got = one_run(ports[setup], v, args, pinned=setup == "pinned")
                    rps[setup][v].append(got[0])
                    cpu[setup][v].append(got[1])
                    if got[2] is not None:
                        gc_us[setup]["empty" if v == "empty" else "addon"].append(got[2][1])
                        if v != "empty":
                            hook[setup].append(got[2][0])
                            share[setup].append(got[2][0] / got[1])
                ratios[setup].append(rps[setup][test_v][-1] / rps[setup][base_v][-1])
                print(
                    f"round {r + 1} {setup:6s}: "
                    + "   ".join(
                        f"{v} {rps[setup][v][-1]:7.1f} req/s {cpu[setup][v][-1]:6.0f} us CPU/req" for v in variants
                    )
                    + f"   ratio {ratios[setup][-1]:.3f}",
                    flush=True,
                )
        med = statistics.median
        cpu_ratio: dict[str, float] = {}
        for setup in setups:
            c = {v: med(cpu[setup][v]) for v in variants}
            cpu_ratio[setup] = c[base_v] / c[test_v]
            print(
                f"{setup}: median {names[0]} {med(rps[setup][base_v]):.1f} req/s, {names[1]} "
                f"{med(rps[setup][test_v]):.1f} req/s; mitmdump CPU per request {c[base_v]:.0f} us -> "
                f"{c[test_v]:.0f} us (+{c[test_v] - c[base_v]:.0f} us per flow)"
            )
            if args.split and share[setup] and gc_us[setup]["empty"]:
                extra_gc = med(gc_us[setup]["addon"]) - med(gc_us[setup]["empty"])
                inside = med(share[setup]) + extra_gc / c[test_v]
                print(
                    f"{setup}: inside mitmdump: tokentax's hooks {med(hook[setup]):.1f} us CPU per flow "
                    f"({med(share[setup]):.1%} of mitmdump's CPU per request, same process and moment: host "
                    f"noise cancels); garbage collector {med(gc_us[setup]['empty']):.1f} -> "
                    f"{med(gc_us[setup]['addon']):.1f} us per flow ({extra_gc:+.1f}); together "
                    f"{inside:.1%}, a ratio of {1 - inside:.3f}"
                )
            if args.split:
                e = c["empty"]
                print(
                    f"{setup}: split by CPU per request: script machinery (empty script / none) "
                    f"{c[base_v] / e:.3f} (+{e - c[base_v]:.0f} us), tokentax's own work (addon / empty script) "
                    f"{e / c[test_v]:.3f} (+{c[test_v] - e:.0f} us)"
                )
        goals = {"pinned": goal, "shared": 0.93 if goal == 0.97 else goal}
        print(
            "ratios (throughput, median of rounds): "
            + "  ".join(f"{setup}={med(ratios[setup]):.3f}" for setup in setups)
            + f"  ({names[1]} / {names[0]}, {args.rounds} rounds)"
        )
        print(
            "ratios (CPU per request, without / with: the throughput a saturated proxy keeps): "
            + "  ".join(f"{setup}={cpu_ratio[setup]:.3f} (goal >= {goals[setup]})" for setup in setups)
        )
    finally:
        tmp.cleanup()
        for b in backends.values():
            b.kill()


if __name__ == "__main__":
    main()
