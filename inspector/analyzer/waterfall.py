"""Request waterfalls: one inbound request and its hops, and the time the gateway itself took.

For the HTML report, one sample request laid out as rows; for every view, the gateway's
own share of a request (time not covered by any of its hops).

The report snapshot holds aggregates only; per-request hops live in the analyzer
(`recent` flow events and `hops_for`). This picks one request worth looking at, the
slowest inbound request (by time to first byte) that has correlated hops, and turns it
and its hops into plain rows, so the renderer needs no analyzer. Pure: reads, never
changes the analyzer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from inspector.schema.vocab import PHASES


def _row(ev: dict[str, Any], t0: float, mode: str) -> dict[str, Any]:
    timing = ev.get("timing") or {}
    label = f"{ev.get('method') or '-'} {ev.get('host')}:{ev.get('port')}{ev.get('path') or ''}"
    if ev.get("status") is not None:
        label += f" {ev['status']}"
    elif ev.get("error"):
        label += f" ({(ev['error'] or {}).get('kind', 'error')})"
    row: dict[str, Any] = {
        "label": label,
        "role": ev.get("role", "other"),
        "start_ms": round(max(0.0, (float(ev["ts"]) - t0) * 1000.0), 3),
        "total": float(timing.get("total") or 0.0),
        "mode": mode,
        "reused": bool(timing.get("reused")),
    }
    for phase in PHASES:
        row[phase] = float(timing.get(phase) or 0.0)
    return row


def sample_waterfall(analyzer: Any) -> list[dict[str, Any]]:
    """Rows for the slowest recent inbound request with correlated hops; [] if there is none.

    Each row: label, role, start_ms (from the inbound request's start), connect, tls, send,
    wait, receive, total (ms), mode (how the hop was tied to the request: exact or
    inferred; "request" for the inbound row itself), reused.
    """
    by_id: dict[str, dict[str, Any]] = {}
    inbound: list[dict[str, Any]] = []
    for ev in analyzer.recent:
        ev_id = ev.get("id")
        if ev_id:
            by_id[ev_id] = ev
        if ev.get("role") == "inbound":
            inbound.append(ev)
    best: tuple[float, dict[str, Any], list[Any]] | None = None
    for ev in inbound:
        hops = [h for h in analyzer.hops_for(ev.get("id", "")) if h.id in by_id]
        if not hops:
            continue
        timing = ev.get("timing") or {}
        slowness = float(timing.get("ttfb") or timing.get("total") or 0.0)
        if best is None or slowness > best[0]:
            best = (slowness, ev, hops)
    if best is None:
        return []
    _, ev, hops = best
    t0 = float(ev["ts"])
    rows = [_row(ev, t0, "request")]
    for hop in sorted(hops, key=lambda h: h.start):
        rows.append(_row(by_id[hop.id], t0, hop.mode))
    return rows


def union_ms(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length in ms of the union of (start, end) intervals given in seconds."""
    total = 0.0
    cur: tuple[float, float] | None = None
    for s, e in sorted(intervals):
        if cur is None or s > cur[1]:
            if cur is not None:
                total += cur[1] - cur[0]
            cur = (s, e)
        else:
            cur = (cur[0], max(cur[1], e))
    if cur is not None:
        total += cur[1] - cur[0]
    return total * 1000.0


def gateway_overhead_ms(inbound: dict[str, Any], hops: Iterable[dict[str, Any]]) -> tuple[float, float]:
    """(inbound total ms, ms of it not covered by any of its hops): the gateway's own time.

    Hop spans are clipped to the inbound request and overlapping hops counted once, so
    the overhead is never negative and never more than the total.
    """
    start, end = float(inbound["ts"]), float(inbound.get("end") or inbound["ts"])
    total = (inbound.get("timing") or {}).get("total") or (end - start) * 1000.0
    spans = []
    for ev in hops:
        s, e = max(float(ev["ts"]), start), min(float(ev.get("end") or ev["ts"]), end)
        if e > s:
            spans.append((s, e))
    return total, max(0.0, total - union_ms(spans))
