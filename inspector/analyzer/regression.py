"""Regressions between two sessions: is the after-session worse than the before-session?

`regressions(before, after, tolerance)` compares two report snapshots (pure) and lists
what got worse beyond the tolerance: auth calls per inbound request (overall and per
kind when both reports have callouts.by_kind), the token tax (per request and as a
share of time to first byte), redundant calls, stampedes, and findings of warning or
critical severity that appeared or whose severity rose. A figure regresses when

    after - before > tolerance * before + FLOOR[figure]

so a tax that came back from zero is caught (any rise above the small absolute floor),
and noise of a few percent on a large figure is not. A figure unknown on either side
is not compared (the diff table shows it as "-").
"""

from __future__ import annotations

from typing import Any

from inspector.schema.units import with_unit
from inspector.schema.vocab import SEVERITIES

DEFAULT_TOLERANCE = 0.10

# figure -> (label, path in the report, absolute floor, unit)
FIGURES: dict[str, tuple[str, str, float, str]] = {
    "auth_calls_per_request": ("auth calls per inbound request", "callouts.per_inbound", 0.01, "x"),
    "redundant_share": ("redundant share of auth calls", "callouts.redundant_share", 0.005, "share"),
    "tax_ms_per_request": ("token tax per request", "tax.ms_per_inbound", 1.0, "ms"),
    "tax_share_of_ttfb": ("token tax share of time to first byte", "tax.share_of_ttfb", 0.005, "share"),
    "stampedes": ("stampedes", "stampedes.count", 0.0, ""),
}
WORSE_SEVERITIES = ("critical", "warning")


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d if isinstance(d, (int, float)) and not isinstance(d, bool) else None


def _fmt(v: float, unit: str) -> str:
    return with_unit(v, unit)


def _per_kind(s: dict[str, Any]) -> dict[str, float] | None:
    by_kind = (s.get("callouts") or {}).get("by_kind")
    inbound = _get(s, "flows.inbound")
    if not isinstance(by_kind, dict) or not inbound:
        return None
    return {k: (row.get("total") or 0) / inbound for k, row in by_kind.items() if isinstance(row, dict)}


def _worse(name: str, label: str, b: float, a: float, floor: float, unit: str, tol: float) -> dict[str, Any] | None:
    if a - b <= tol * max(b, 0.0) + floor + 1e-12:
        return None
    came_back = " (came back)" if b == 0 else ""
    return {
        "type": "figure",
        "name": name,
        "before": b,
        "after": a,
        "message": f"{label} {_fmt(b, unit)} -> {_fmt(a, unit)}{came_back}, beyond the tolerance of {tol * 100:g} %",
    }


def regressions(before: dict[str, Any], after: dict[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> list[dict]:
    out: list[dict[str, Any]] = []
    for name, (label, path, floor, unit) in FIGURES.items():
        b, a = _get(before, path), _get(after, path)
        if b is None or a is None:
            continue
        r = _worse(name, label, b, a, floor, unit, tolerance)
        if r:
            out.append(r)
    kb, ka = _per_kind(before), _per_kind(after)
    if kb is not None and ka is not None:
        for kind in sorted(set(ka)):
            r = _worse(
                f"kind.{kind}.auth_calls_per_request",
                f"{kind} calls per inbound request",
                kb.get(kind, 0.0),
                ka[kind],
                0.01,
                "x",
                tolerance,
            )
            if r:
                out.append(r)
    rank = {sev: i for i, sev in enumerate(SEVERITIES)}
    fb = {f["id"]: f for f in before.get("findings") or ()}
    for f in after.get("findings") or ():
        sev = f.get("severity", "info")
        if sev not in WORSE_SEVERITIES:
            continue
        old = fb.get(f["id"])
        if old is None:
            msg = f"new finding {sev} [{f['id']}] {f.get('title', '')}"
        elif rank.get(sev, 9) < rank.get(old.get("severity", "info"), 9):
            msg = f"finding [{f['id']}] rose from {old.get('severity')} to {sev}: {f.get('title', '')}"
        else:
            continue
        out.append({"type": "finding", "name": f["id"], "before": None, "after": sev, "message": msg})
    return out


def parse_tolerance(text: str) -> float:
    """`10%` or `0.1` -> 0.1; ValueError for anything else."""
    t = text.strip()
    pct = t.endswith("%")
    v = float(t.rstrip("%").strip())
    if pct:
        v /= 100
    if not 0 <= v <= 100 or v != v:
        raise ValueError(text)
    return v
