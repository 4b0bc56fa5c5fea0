"""Flow events shaped exactly as inspector.record.flow_record emits them, for analyzer tests."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


def flow(
    role: str,
    ts: float,
    dur_ms: float,
    *,
    status: int | None = 200,
    trace: str | None = None,
    path: str = "/orders",
    host: str = "127.0.0.1",
    port: int = 9000,
    method: str = "GET",
    **extra: Any,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "v": 1,
        "type": "flow",
        "id": f"f{next(_ids)}",
        "ts": ts,
        "end": ts + dur_ms / 1000,
        "role": role,
        "role_by": "listener",
        "listener": "",
        "method": method,
        "scheme": "http",
        "host": host,
        "port": port,
        "path": path,
        "status": status,
        "timing": {
            "reused": False,
            "connect": 0.0,
            "tls": 0.0,
            "send": 0.0,
            "wait": dur_ms,
            "receive": 0.0,
            "ttfb": dur_ms,
            "total": dur_ms,
        },
        "size": {"req": 0, "resp": 0},
    }
    if trace:
        ev["trace"] = {"id": trace, "src": "traceparent"}
    ev.update(extra)
    return ev


KEY = {"endpoint": "127.0.0.1:9001/oauth2/token", "client_id": "gw", "grant_type": "client_credentials"}


def callout(
    ts: float,
    dur_ms: float,
    fp: str | None = "aaaa",
    expires_in: float | None = 3600,
    *,
    status: int = 200,
    error: str | None = None,
    endpoint: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A token callout; `endpoint` sets the key's endpoint (another auth server, or a relay)."""
    token: dict[str, Any] = {"type": "Bearer", "refresh": False}
    if fp:
        token["fp"] = fp
    if expires_in is not None:
        token["expires_in"] = expires_in
    if error:
        token = {"error": error, "refresh": False}
    kw.setdefault("method", "POST")
    kw.setdefault("path", "/oauth2/token")
    kw.setdefault("port", 9001)
    key = {**KEY, "endpoint": endpoint} if endpoint else dict(KEY)
    return flow("callout", ts, dur_ms, status=status, key=key, token=token, **kw)


def backend(ts: float, dur_ms: float, fp: str | None = "aaaa", kind: str = "jwt", **kw: Any) -> dict[str, Any]:
    bearer = {"fp": fp, "kind": kind} if fp else {"kind": kind}
    return flow("backend", ts, dur_ms, port=9002, bearer=bearer, **kw)


def naive_request(t: float, i: int, fp: str, auth_ms: float = 800, trace: str | None = None):
    """One inbound request through a gateway that fetches a token first: [callout, backend, inbound]."""
    return [
        callout(t + 0.001, auth_ms, fp, trace=trace),
        backend(t + 0.002 + auth_ms / 1000, 5, fp, trace=trace, path=f"/orders/{i}"),
        flow("inbound", t, auth_ms + 10, port=8080, trace=trace, path=f"/orders/{i}"),
    ]
