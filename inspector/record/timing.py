"""Per-hop timing from mitmproxy's own timestamps.

A kept-alive server connection keeps its old timestamps, so connect and TLS are only
counted on the first flow of a connection; the caller says whether the connection was
seen before (`reused`). All figures are milliseconds, never negative.
"""

from __future__ import annotations

from typing import Any


def _ms(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return 0.0
    return round(max(0.0, (b - a) * 1000.0), 3)


def hop_timing(flow: Any, reused: bool) -> dict[str, Any]:
    req = flow.request
    resp = flow.response
    sc = flow.server_conn
    t0 = req.timestamp_start
    out: dict[str, Any] = {"reused": reused}
    connect = tls = 0.0
    ready = req.timestamp_end
    if not reused and sc is not None and sc.timestamp_start is not None:
        connect = _ms(sc.timestamp_start, sc.timestamp_tcp_setup)
        if sc.timestamp_tls_setup is not None:
            tls = _ms(sc.timestamp_tcp_setup, sc.timestamp_tls_setup)
        setup_done = sc.timestamp_tls_setup or sc.timestamp_tcp_setup
        if setup_done is not None and ready is not None:
            ready = max(ready, setup_done)
    out["connect"] = connect
    out["tls"] = tls
    out["send"] = _ms(t0, req.timestamp_end)
    if resp is not None and resp.timestamp_start is not None:
        out["wait"] = _ms(ready, resp.timestamp_start)
        out["receive"] = _ms(resp.timestamp_start, resp.timestamp_end)
        out["ttfb"] = _ms(t0, resp.timestamp_start)
        out["total"] = _ms(t0, resp.timestamp_end or resp.timestamp_start)
    else:
        end = flow.error.timestamp if flow.error is not None else None
        out["wait"] = 0.0
        out["receive"] = 0.0
        out["ttfb"] = None
        out["total"] = _ms(t0, end)
    return out
