"""Before/after: the figures of two sessions side by side, and which findings came or went.

The question after a gateway change is "did the token tax go away, and did anything get
worse?". Everything is computed from two report snapshots (pure), so the comparison
uses exactly the numbers each session's own report shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from inspector.schema.units import UNKNOWN, ms, with_unit
from inspector.views.report.kinds import kind_diff, kind_diff_lines

DIFF_SCHEMA = "tokentax.diff/1"
SAME_TOLERANCE = 0.05  # relative change below this is "same"


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    unit: str  # "" (a count), "x" (a ratio), "%", "ms", "/h"
    better: str  # "lower" or "higher"


FIGURES = (
    Figure("callouts_per_request", "callouts per request", "x", "lower"),
    Figure("redundant_pct", "redundant fetches", "%", "lower"),
    Figure("tax_ms_per_request", "token tax per request", "ms", "lower"),
    Figure("tax_share_of_ttfb_pct", "token tax share of time to first byte", "%", "lower"),
    Figure("inbound_ttfb_min_ms", "inbound time to first byte min", "ms", "lower"),
    Figure("inbound_ttfb_p50_ms", "inbound time to first byte p50", "ms", "lower"),
    Figure("inbound_ttfb_p95_ms", "inbound time to first byte p95", "ms", "lower"),
    Figure("inbound_ttfb_max_ms", "inbound time to first byte max", "ms", "lower"),
    Figure("auth_calls_per_hour", "auth calls per hour", "/h", "lower"),
    Figure("auth_calls_per_request", "auth-server calls per request", "", "lower"),
    Figure("avoidable_auth_calls_per_hour", "auth calls a cache removes per hour", "/h", "lower"),
    Figure("callout_min_ms", "callout latency min", "ms", "lower"),
    Figure("callout_p50_ms", "callout latency p50", "ms", "lower"),
    Figure("callout_p95_ms", "callout latency p95", "ms", "lower"),
    Figure("callout_max_ms", "callout latency max", "ms", "lower"),
    Figure("failed_callouts", "failed callouts", "", "lower"),
    Figure("inbound_requests", "inbound requests", "", "higher"),
)


def figures_of(s: dict[str, Any]) -> dict[str, float | None]:
    """The compared figures of one snapshot (None where the session cannot say)."""
    c, tax, inbound = s["callouts"], s["tax"], s["inbound"]
    return {
        "callouts_per_request": c["per_inbound"],
        "redundant_pct": round(c["redundant_share"] * 100, 2) if c["total"] else None,
        "tax_ms_per_request": tax["ms_per_inbound"] if s["flows"]["inbound"] else None,
        "tax_share_of_ttfb_pct": round(share * 100, 2) if (share := tax["share_of_ttfb"]) is not None else None,
        "inbound_ttfb_min_ms": inbound.get("ttfb_min_ms"),
        "inbound_ttfb_p50_ms": inbound["ttfb_p50_ms"],
        "inbound_ttfb_p95_ms": inbound["ttfb_p95_ms"],
        "inbound_ttfb_max_ms": inbound.get("ttfb_max_ms"),
        # calls that reached an auth server (a relay's answers are not its load), withheld like per_hour
        "auth_calls_per_hour": c.get("auth_calls_per_hour", c.get("per_hour")),
        "auth_calls_per_request": c.get("auth_calls_per_inbound"),
        "avoidable_auth_calls_per_hour": tax["avoidable_callouts_per_hour"],
        "callout_min_ms": c.get("min_ms"),
        "callout_p50_ms": c["p50_ms"],
        "callout_p95_ms": c.get("p95_ms"),
        "callout_max_ms": c.get("max_ms"),
        "failed_callouts": c["failed"],
        "inbound_requests": s["flows"]["inbound"],
    }


def _verdict(before: float | None, after: float | None, better: str) -> str:
    if before is None or after is None:
        return "n/a"
    scale = max(abs(before), abs(after))
    if scale == 0 or abs(after - before) <= SAME_TOLERANCE * scale:
        return "same"
    improved = after < before if better == "lower" else after > before
    return "better" if improved else "worse"


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Compare two report snapshots. Pure."""
    fb, fa = figures_of(before), figures_of(after)
    rows = []
    for f in FIGURES:
        b, a = fb[f.name], fa[f.name]
        delta = round(a - b, 3) if a is not None and b is not None else None
        rel = round(delta / b, 4) if delta is not None and b else None
        rows.append(
            {
                "name": f.name,
                "label": f.label,
                "unit": f.unit,
                "better": f.better,
                "before": b,
                "after": a,
                "delta": delta,
                "relative": rel,
                "verdict": _verdict(b, a, f.better),
            }
        )
    fb_ids = {f["id"]: f for f in before["findings"]}
    fa_ids = {f["id"]: f for f in after["findings"]}
    appeared = [fa_ids[i] for i in fa_ids if i not in fb_ids]
    gone = [fb_ids[i] for i in fb_ids if i not in fa_ids]
    changed = [
        {"id": i, "before": fb_ids[i]["severity"], "after": fa_ids[i]["severity"], "title": fa_ids[i]["title"]}
        for i in fa_ids
        if i in fb_ids and fb_ids[i]["severity"] != fa_ids[i]["severity"]
    ]
    kept = [i for i in fa_ids if i in fb_ids]
    tb, ta = fb["tax_ms_per_request"], fa["tax_ms_per_request"]
    return {
        "schema": DIFF_SCHEMA,
        "sessions": {
            "before": {
                "flows": before["flows"],
                "seconds": before["span"]["seconds"],
                "source": before["session"].get("source"),
            },
            "after": {
                "flows": after["flows"],
                "seconds": after["span"]["seconds"],
                "source": after["session"].get("source"),
            },
        },
        "figures": rows,
        "findings": {"appeared": appeared, "gone": gone, "changed": changed, "kept": kept},
        "by_kind": kind_diff(before, after),
        "tax_gone": bool(tb) and ta is not None and ta == 0 and fa["callouts_per_request"] is not None,
    }


# -- rendering --------------------------------------------------------------------------


def fmt_value(value: float | None, unit: str) -> str:
    return UNKNOWN if value is None else with_unit(value, unit)  # unknown in that session


def fmt_delta(row: dict[str, Any]) -> str:
    d = row["delta"]
    if d is None:
        return "-"
    if d == 0:
        return "±0"
    unit = row["unit"]
    sign = "+" if d > 0 else ("-" if d < 0 else "±")
    mag = abs(d)
    if unit == "ms":
        body = ms(mag)
    elif unit == "%":
        body = f"{mag:.0f} pt"
    elif unit == "/h":
        body = f"{mag:.0f}/h"
    elif unit == "x":
        body = f"{mag:.2f}"
    else:
        body = f"{mag:g}"
    rel = f" ({row['relative'] * 100:+.0f} %)" if row.get("relative") is not None and unit != "%" else ""
    return f"{sign}{body}{rel}"


def _headline(d: dict[str, Any]) -> str:
    rows = {r["name"]: r for r in d["figures"]}
    tax = rows["tax_ms_per_request"]
    if d["tax_gone"]:
        return f"The token tax is gone: {fmt_value(tax['before'], 'ms')} per request before, none after."
    if tax["verdict"] == "better":
        return (
            f"The token tax went down: {fmt_value(tax['before'], 'ms')} -> {fmt_value(tax['after'], 'ms')} per request."
        )
    if tax["verdict"] == "worse":
        return (
            f"The token tax went up: {fmt_value(tax['before'], 'ms')} -> {fmt_value(tax['after'], 'ms')} per request."
        )
    return "The token tax did not change."


def to_text(d: dict[str, Any]) -> str:
    rows = d["figures"]
    w = max(len(r["label"]) for r in rows)
    lines = [
        "tokentax diff: before -> after",
        "",
        _headline(d),
        "",
        f"{'figure':<{w}}  {'before':>12}  {'after':>12}  {'change':>18}  verdict",
    ]
    for r in rows:
        lines.append(
            f"{r['label']:<{w}}  {fmt_value(r['before'], r['unit']):>12}  {fmt_value(r['after'], r['unit']):>12}"
            f"  {fmt_delta(r):>18}  {r['verdict']}"
        )
    lines += kind_diff_lines(d.get("by_kind") or [])
    f = d["findings"]
    lines += ["", "Findings"]
    for x in f["gone"]:
        lines.append(f"  gone      {x['severity']:<8} [{x['id']}] {x['title']}")
    for x in f["appeared"]:
        lines.append(f"  appeared  {x['severity']:<8} [{x['id']}] {x['title']}")
    for x in f["changed"]:
        lines.append(f"  changed   {x['before']} -> {x['after']} [{x['id']}] {x['title']}")
    if not (f["gone"] or f["appeared"] or f["changed"]):
        lines.append("  no finding appeared or went away")
    return "\n".join(lines) + "\n"


def to_markdown(d: dict[str, Any]) -> str:
    lines = [
        "# tokentax diff",
        "",
        _headline(d),
        "",
        "| figure | before | after | change | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in d["figures"]:
        lines.append(
            f"| {r['label']} | {fmt_value(r['before'], r['unit'])} | {fmt_value(r['after'], r['unit'])} | "
            f"{fmt_delta(r)} | {r['verdict']} |"
        )
    lines += kind_diff_lines(d.get("by_kind") or [], markdown=True)
    f = d["findings"]
    lines += ["", "## Findings", ""]
    for x in f["gone"]:
        lines.append(f"- gone: **{x['severity']}** `{x['id']}`: {x['title']}")
    for x in f["appeared"]:
        lines.append(f"- appeared: **{x['severity']}** `{x['id']}`: {x['title']}")
    for x in f["changed"]:
        lines.append(f"- changed {x['before']} -> {x['after']}: `{x['id']}`: {x['title']}")
    if not (f["gone"] or f["appeared"] or f["changed"]):
        lines.append("No finding appeared or went away.")
    return "\n".join(lines) + "\n"


def render_diff(d: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(d, indent=2, default=str) + "\n"
    if fmt == "md":
        return to_markdown(d)
    return to_text(d)
