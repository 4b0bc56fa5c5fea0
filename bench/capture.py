"""Capture reading: how fast `tokentax report` gets through a big JSONL capture, and how much
faster the JSONL path is than re-reading mitmproxy's raw flow file of the same session.

    uv run python bench/capture.py [--events 1000000] [--flows 20000] [--repeat 3]

1. A 1,000,000-event JSONL capture of a naive gateway (every inbound request makes a
   token callout and a backend call) is generated from events the real record layer
   (`flow_event`) built for synthetic mitmproxy flows, then reported in-process
   (analyze_file + snapshot + text rendering), as `tokentax report` does.
2. One smaller session (--flows HTTP flows) is written both ways: as a .mitm with
   mitmproxy's FlowWriter, and as the JSONL the addon would have written for it. Both are
   read through `analyze_file` (the JSONL reader vs FlowReader + flow_event), median of
   --repeat runs, and compared in events per second. The ratio is the last line.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mitmproxy import connection, http
from mitmproxy.io import FlowWriter
from mitmproxy.proxy.mode_specs import ProxyMode

from inspector.capture.detect import LoadOptions
from inspector.capture.load import analyze_file
from inspector.record.flow_record import RecordContext, flow_event
from inspector.record.roles import parse_listeners
from inspector.schema import events as E
from inspector.schema.lean import LeanEncoder
from inspector.views.report.render import render

T0 = 1_800_000_000.0
RATE = 5.0  # inbound requests per second (callouts of ~0.8 s overlap a few at a time)
INBOUND = "reverse:http://127.0.0.1:9000@8081"
AUTH = "reverse:http://127.0.0.1:9001@8082"
BACKEND = "reverse:http://127.0.0.1:9002@8083"


def _flow(
    spec: str,
    method: str,
    url: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    status: int,
    resp_body: bytes,
    resp_headers: list[tuple[bytes, bytes]],
    start: float,
    wait_ms: float,
    server: connection.Server | None,
) -> tuple[http.HTTPFlow, connection.Server]:
    mode = ProxyMode.parse(spec)
    client = connection.Client(
        peername=("127.0.0.1", 50000),
        sockname=("127.0.0.1", mode.custom_listen_port or 0),
        timestamp_start=start,
        proxy_mode=mode,
    )
    if server is None:  # a new upstream connection: connect time counted once
        server = connection.Server(address=("127.0.0.1", 9000))
        server.timestamp_start = start
        server.timestamp_tcp_setup = start + 0.0004
    f = http.HTTPFlow(client, server)
    f.request = http.Request.make(method, url, body, headers)
    f.request.timestamp_start = start
    f.request.timestamp_end = start + 0.00005
    f.response = http.Response.make(status, resp_body, resp_headers)
    f.response.timestamp_start = start + 0.0005 + wait_ms / 1000.0
    f.response.timestamp_end = f.response.timestamp_start + 0.0002
    return f, server


def session_flows(requests: int) -> Iterator[http.HTTPFlow]:
    """A naive gateway: per inbound request one token callout (same token re-issued for a while) and one
    backend call; kept-alive upstream connections; x-request-id travels. Completion order, like -w."""
    conns: dict[str, connection.Server] = {}
    for i in range(requests):
        t = T0 + i / RATE
        rid = f"req-{i:08d}".encode()
        token = f"at_{i // 1000:06d}_{'x' * 32}"
        auth_ms, be_ms = 780.0 + (i * 37) % 120, 5.0 + (i * 13) % 35
        form = b"grant_type=client_credentials&client_id=gw&client_secret=s3cr3t-" + b"y" * 24
        callout, conns["a"] = _flow(
            AUTH,
            "POST",
            "http://127.0.0.1:9001/oauth2/token",
            form,
            [(b"content-type", b"application/x-www-form-urlencoded"), (b"x-request-id", rid)],
            200,
            b'{"access_token":"' + token.encode() + b'","token_type":"Bearer","expires_in":38399}',
            [(b"content-type", b"application/json")],
            t + 0.001,
            auth_ms,
            conns.get("a"),
        )
        t_be = t + 0.002 + auth_ms / 1000.0
        backend, conns["b"] = _flow(
            BACKEND,
            "GET",
            f"http://127.0.0.1:9002/orders/{i % 5000}",
            b"",
            [(b"authorization", b"Bearer " + token.encode()), (b"x-request-id", rid)],
            200,
            b'{"ok":true}',
            [(b"content-type", b"application/json")],
            t_be,
            be_ms,
            conns.get("b"),
        )
        inbound, _ = _flow(
            INBOUND,
            "GET",
            f"http://127.0.0.1:9000/orders/{i % 5000}",
            b"",
            [(b"x-request-id", rid)],
            200,
            b'{"ok":true}',
            [(b"content-type", b"application/json"), (b"server", b"kong/3.6")],
            t,
            auth_ms + be_ms + 4,
            None,
        )
        yield callout
        yield backend
        yield inbound


def record_events(flows: Iterator[http.HTTPFlow]) -> Iterator[E.Event]:
    ctx = RecordContext(inbound=parse_listeners(INBOUND))
    yield E.session_event(T0, source="live", key_id=ctx.fpr.key_id, inbound=INBOUND)
    for f in flows:
        yield flow_event(f, ctx)


def write_big_jsonl(path: Path, n_events: int, lean: bool = False) -> None:
    """n_events events: the record layer's events for 1,000 requests, repeated with fresh ids and times.
    `lean`: line format v2, as the addon writes it (inspector/schema/lean.py); else v1."""
    base = list(record_events(session_flows(1000)))
    session, flows = base[0], base[1:]
    period = 1000 / RATE
    enc = LeanEncoder() if lean else None
    encode = enc.encode if enc is not None else E.encode
    with open(path, "wb") as fh:
        fh.write(encode(session))
        written, rnd = 1, 0
        buf: list[bytes] = []
        while written < n_events:
            shift = rnd * period
            for ev in flows:
                if written >= n_events:
                    break
                ev2 = copy.copy(ev)
                ev2["id"] = f"{ev['id']}-{rnd}"
                ev2["ts"] = ev["ts"] + shift
                ev2["end"] = ev["end"] + shift
                if "trace" in ev:
                    ev2["trace"] = {"id": f"{ev['trace']['id']}-{rnd}", "src": ev["trace"]["src"]}
                if "token" in ev:  # a new token every 1,000 requests, as in the template
                    ev2["token"] = dict(ev["token"], fp=f"{rnd:04x}{ev['token']['fp'][4:]}")
                if "bearer" in ev:
                    ev2["bearer"] = dict(ev["bearer"], fp=f"{rnd:04x}{ev['bearer']['fp'][4:]}")
                buf.append(encode(ev2))
                written += 1
                if len(buf) >= 10_000:
                    fh.write(b"".join(buf))
                    buf.clear()
            rnd += 1
        fh.write(b"".join(buf))


def timed_report(path: Path, inbound: str = "") -> tuple[float, int, dict[str, Any]]:
    """Seconds for analyze_file + snapshot + text rendering; events ingested; the snapshot."""
    start = time.perf_counter()
    analyzer = analyze_file(path, LoadOptions(inbound=inbound, warn=lambda _m: None), show_progress=False)
    snap = analyzer.snapshot()
    render(snap, "text")
    return time.perf_counter() - start, analyzer.events, snap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the big JSONL capture")
    ap.add_argument("--flows", type=int, default=20_000, help="HTTP flows in the side-by-side session")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-format", choices=("v1", "v2", "both"), default="both", help="line format of the big capture")
    ap.add_argument("--big-only", action="store_true", help="only the big report, not the side-by-side session")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="tokentax-bench-") as tmp:
        formats = ("v1", "v2") if args.big_format == "both" else (args.big_format,)
        report_s: dict[str, float] = {}
        for fmt in formats:  # v2 is what the addon writes; v1 is what older captures hold
            big = Path(tmp) / f"big-{fmt}.jsonl"
            t = time.perf_counter()
            write_big_jsonl(big, args.events, lean=fmt == "v2")
            print(
                f"generated {args.events:,} events, line format {fmt} ({big.stat().st_size / 1e6:.0f} MB) "
                f"in {time.perf_counter() - t:.1f} s"
            )
            cpu0 = time.process_time()
            secs, n, snap = timed_report(big)
            cpu = time.process_time() - cpu0  # on a shared machine, what this process itself spent
            report_s[fmt] = secs
            print(
                f"tokentax report on {n:,} flow events ({fmt}): {secs:.1f} s wall, {cpu:.1f} s CPU, "
                f"{n / secs:,.0f} events/s (callouts {snap['callouts']['total']:,}, "
                f"redundant {snap['callouts']['redundant']:,})"
            )
            big.unlink()
        if args.big_only:
            print("summary: " + ", ".join(f"report {args.events:,} events {f}: {s:.1f} s" for f, s in report_s.items()))
            return

        mitm, jsonl = Path(tmp) / "s.mitm", Path(tmp) / "s.jsonl"
        requests = max(1, args.flows // 3)
        with open(mitm, "wb") as fh:
            w = FlowWriter(fh)
            for f in session_flows(requests):
                w.add(f)
        with open(jsonl, "wb") as fh:
            for ev in record_events(session_flows(requests)):
                fh.write(E.encode(ev))
        print(
            f"side by side: {3 * requests:,} flows as .mitm ({mitm.stat().st_size / 1e6:.1f} MB) and as JSONL "
            f"({jsonl.stat().st_size / 1e6:.1f} MB)"
        )
        rates: dict[str, list[float]] = {"jsonl": [], "mitm": []}
        counts: dict[str, tuple] = {}
        for _ in range(args.repeat):
            for name, path, inbound in (("jsonl", jsonl, ""), ("mitm", mitm, INBOUND)):
                secs, n, snap = timed_report(path, inbound)
                rates[name].append(n / secs)
                counts[name] = (snap["flows"]["inbound"], snap["callouts"]["total"], snap["callouts"]["redundant"])
        if counts["jsonl"] != counts["mitm"]:
            raise SystemExit(f"the two paths disagree: jsonl {counts['jsonl']} vs mitm {counts['mitm']}")
        j, m = statistics.median(rates["jsonl"]), statistics.median(rates["mitm"])
        print(f"JSONL capture path:           {j:,.0f} events/s (median of {args.repeat})")
        print(f"mitmproxy FlowReader path:    {m:,.0f} events/s (median of {args.repeat})")
        print(f"ratio JSONL / FlowReader: {j / m:.1f}x")


if __name__ == "__main__":
    main()
