"""Soak: 1,000,000 flows through the real addon in one process, with a reading stream client;
RSS every 100,000 flows. Goal: flat after warm-up (bounded state everywhere).

    uv run python bench/soak.py [--flows 1000000] [--every 100000]

What runs is the production path: `TokenTax.response(flow)` on real mitmproxy HTTPFlow
objects (the record layer, the in-process analyzer, event encoding, the stream server
with one client attached), inside mitmproxy's addon context, on one asyncio loop. The
flows are three reusable templates (an inbound request, the gateway's token callout with
a JWT in a JSON token response, the backend call with the bearer), changed cheaply per
request: ids, timestamps, paths, trace ids, and the token rotating every 300 requests.
The client reads on its own thread and only counts lines. The last line is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mitmproxy.http import Headers
from mitmproxy.test import taddons, tflow

from inspector.mitm.addon import TokenTax

T0 = 1_700_000_000.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def jwt(i: int) -> str:
    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {
        "iss": "https://auth.example",
        "sub": "gw",
        "client_id": "gw",
        "aud": "api",
        "scope": "orders",
        "iat": int(T0) + i,
        "exp": int(T0) + i + 38399,
        "jti": f"{i:032x}",
    }
    return seg({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}) + "." + seg(claims) + "." + "s" * 43


class Reader(threading.Thread):
    """The stream client: hello, then count lines until the server closes."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection((host, port))
        self.sock.sendall(b'{"hello": "tokentax/1"}\n')
        self.lines = 0
        self.flows = 0
        self.bytes = 0
        self._tail = b""

    def run(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 18)
            except OSError:
                return
            if not data:
                return
            self.bytes += len(data)
            self.lines += data.count(b"\n")
            both = self._tail + data  # a marker may straddle two reads
            self.flows += both.count(b'"type":"flow"') - self._tail.count(b'"type":"flow"')
            self._tail = data[-16:]


def templates() -> tuple:
    def flow(
        port: int,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        resp_headers: list[tuple[bytes, bytes]],
        resp_body: bytes,
    ):
        f = tflow.tflow(resp=True)
        f.client_conn.sockname = ("127.0.0.1", port)
        f.request.method = method
        f.request.host = "127.0.0.1"
        f.request.port = {8080: 9000, 8081: 9001, 8082: 9002}[port]
        f.request.path = path
        f.request.headers = Headers(headers)
        f.request.raw_content = body
        f.response.headers = Headers(resp_headers)
        f.response.raw_content = resp_body
        return f

    json_ct = [(b"content-type", b"application/json")]
    inbound = flow(
        8080, "GET", "/orders/1", [(b"traceparent", b"")], b"", json_ct + [(b"via", b"kong/3.6")], b'{"ok":true}'
    )
    basic = base64.b64encode(b"gw:soak-client-secret")
    callout = flow(
        8081,
        "POST",
        "/oauth2/token",
        [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"authorization", b"Basic " + basic),
            (b"traceparent", b""),
        ],
        b"grant_type=client_credentials&scope=orders",
        json_ct,
        b"",
    )
    backend = flow(
        8082, "GET", "/orders/1", [(b"authorization", b""), (b"traceparent", b"")], b"", json_ct, b'{"id":1}'
    )
    return inbound, callout, backend


def stamp(f, start: float, end: float) -> None:
    req, resp = f.request, f.response
    req.timestamp_start = start
    req.timestamp_end = start + 0.0002
    resp.timestamp_start = end - 0.0005
    resp.timestamp_end = end


async def soak(total: int, every: int) -> None:
    addon = TokenTax()
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon, tokentax_stream="127.0.0.1:0", tokentax_status="0", tokentax_summary=False, tokentax_inbound="8080"
        )
        await addon.running()
        assert addon.stream is not None
        reader = Reader("127.0.0.1", addon.stream.port)
        reader.start()
        async with asyncio.timeout(30):  # flows before the client is registered are not sent to it
            while not addon.stream.clients:
                await asyncio.sleep(0.01)
        inbound, callout, backend = templates()
        tokens = [jwt(i) for i in range(4000)]
        bodies = [
            json.dumps({"access_token": t, "token_type": "Bearer", "expires_in": 38399, "scope": "orders"}).encode()
            for t in tokens
        ]
        response = addon.response
        rows: list[tuple[int, float]] = []
        t_start = time.perf_counter()
        n = 0
        req = 0
        while n < total:
            k = req // 300 % len(tokens)
            t = T0 + req * 0.004
            trace = f"00-{req:032x}-{req:016x}-01"
            callout.id, backend.id, inbound.id = f"c{req}", f"b{req}", f"i{req}"
            callout.request.headers["traceparent"] = trace
            backend.request.headers["traceparent"] = trace
            inbound.request.headers["traceparent"] = trace
            callout.response.raw_content = bodies[k]
            backend.request.headers["authorization"] = "Bearer " + tokens[k]
            path = f"/orders/{req % 5000}"
            backend.request.path = path
            inbound.request.path = path
            stamp(callout, t + 0.001, t + 0.021)
            stamp(backend, t + 0.022, t + 0.030)
            stamp(inbound, t, t + 0.031)
            for f in (callout, backend, inbound):
                if n == total:
                    break
                response(f)
                n += 1
                if n % every == 0:
                    gc.collect()
                    rows.append((n, rss_mb()))
                    el = time.perf_counter() - t_start
                    print(
                        f"{n:>9,} flows  {el:6.1f} s  {n / el:7.0f} flows/s  RSS {rows[-1][1]:7.1f} MB  "
                        f"stream client read {reader.lines:>9,}  dropped {addon.stream.dropped:>7,}  "
                        f"addon errors {addon.errors}",
                        flush=True,
                    )
            req += 1
            if req % 64 == 0:
                await asyncio.sleep(0)  # the loop's turn: the stream pump, the ticker
        elapsed = time.perf_counter() - t_start
        # let the client read what is queued, then stop the addon as mitmdump would
        async with asyncio.timeout(60):
            while any(c.queue for c in addon.stream.clients):
                await asyncio.sleep(0.05)
        snap = addon.analyzer.snapshot()
        await addon.done()
        await asyncio.to_thread(reader.join, 30)  # the loop keeps running: the last bytes get flushed
    warm = next((r for r in rows if r[0] >= 2 * every), rows[0])
    first, last = rows[0], rows[-1]
    growth = last[1] - warm[1]
    print(
        f"analyzer: {snap['events']:,} flow events, {snap['callouts']['total']:,} callouts "
        f"({snap['callouts']['redundant']:,} redundant), {snap['tokens_distinct']:,} tokens held, "
        f"{len(snap['routes'])} routes"
    )
    print(
        f"soak: {total:,} flows in {elapsed:.0f} s ({total / elapsed:,.0f} flows/s); RSS {first[1]:.1f} MB at "
        f"{first[0]:,}, {warm[1]:.1f} MB at {warm[0]:,} (after warm-up), {last[1]:.1f} MB at {last[0]:,}: "
        f"{growth:+.1f} MB ({growth / warm[1] * 100:+.1f} %) after warm-up; stream client read "
        f"{reader.lines:,} events ({reader.flows:,} flows), dropped {addon.stream.dropped:,}; "
        f"addon errors {addon.errors}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=1_000_000)
    ap.add_argument("--every", type=int, default=100_000)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(soak(args.flows, args.every))


if __name__ == "__main__":
    main()
