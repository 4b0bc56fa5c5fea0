"""One sample inbound request and its hops, laid out as waterfall rows for the HTML report.

The report snapshot holds aggregates only; per-request hops live in the analyzer
(`recent` flow events and `hops_for`). This picks one request worth looking at, the
slowest inbound request (by time to first byte) that has correlated hops, and turns it
and its hops into plain rows, so the renderer needs no analyzer. Pure: reads, never
changes the analyzer.
"""

from __future__ import annotations

from typing import Any

PHASES = ("connect", "tls", "send", "wait", "receive")


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
