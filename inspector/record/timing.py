"""Per-hop timing from mitmproxy's own timestamps.

A kept-alive server connection keeps its old timestamps, so connect and TLS are only
counted on the first flow of a connection; the caller says whether the connection was
seen before (`reused`). All figures are milliseconds, never negative.

This runs inside mitmproxy's event loop for every flow, so the timestamps are read once
from the messages' plain data records (`Message.data`), not through the properties that
wrap them.
"""

from __future__ import annotations

from typing import Any


def _ms(a: float | None, b: float | None) -> float:
    """b - a in ms to the microsecond (0.0 when unknown or negative). Not round(x, 3): its
    correctly rounded decimal conversion was the addon's costliest line in mitmdump."""
    if a is None or b is None:
        return 0.0
    d = b - a
    return int(d * 1_000_000.0 + 0.5) / 1000.0 if d > 0.0 else 0.0


def hop_timing(flow: Any, reused: bool) -> dict[str, Any]:
    rq = flow.request.data
    resp = flow.response
    sc = flow.server_conn
    t0 = rq.timestamp_start
    req_end = rq.timestamp_end
    connect = tls = 0.0
    ready = req_end
    if not reused and sc is not None:
        s0 = sc.timestamp_start
        if s0 is not None:
            tcp = sc.timestamp_tcp_setup
            tls_done = sc.timestamp_tls_setup
            connect = _ms(s0, tcp)
            if tls_done is not None:
                tls = _ms(tcp, tls_done)
            setup_done = tls_done or tcp
            if setup_done is not None and ready is not None and setup_done > ready:
                ready = setup_done
    if resp is not None and resp.data.timestamp_start is not None:
        r0 = resp.data.timestamp_start
        r1 = resp.data.timestamp_end
        return {
            "reused": reused,
            "connect": connect,
            "tls": tls,
            "send": _ms(t0, req_end),
            "wait": _ms(ready, r0),
            "receive": _ms(r0, r1),
            "ttfb": _ms(t0, r0),
            "total": _ms(t0, r1 or r0),
        }
    end = flow.error.timestamp if flow.error is not None else None
    return {
        "reused": reused,
        "connect": connect,
        "tls": tls,
        "send": _ms(t0, req_end),
        "wait": 0.0,
        "receive": 0.0,
        "ttfb": None,
        "total": _ms(t0, end),
    }
