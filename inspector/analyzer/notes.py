"""Known unknowns: which figures a session cannot support, and why.

A figure the traffic cannot give is `None` in the report (JSON `null`, "—" on screen),
never 0, and the report's `notes` (a list of {"figure", "reason"}) says why. A figure
that can be computed but is likely misleading keeps its value and gets a note too (a
caveat). Pure: reads and amends a report snapshot; the analyzer and the combined
report both call it before the findings are built, so findings see the same nulls.

Rules (docs/findings.md states them too):

- no inbound request identified: every per-request figure (callouts per request, token
  tax per request, its share of time to first byte, caller seconds per day) is null.
- no time to first byte on any inbound request: the tax's share of it is null.
- no auth call seen: the redundant share of auth calls is null (a share of none).
- per-hour and per-day extrapolations need an observation window of at least
  `MIN_WINDOW_S` (60 s) and at least `MIN_CALLS` (3) callouts; below that they are null.
  A session with a single callout names it as a single startup fetch.
- a per-request ratio above 1 (callouts per request, tax above time to first byte)
  while some hops were under no inbound request gets a caveat naming the likely cause:
  traffic that bypassed the inbound listener.
"""

from __future__ import annotations

from typing import Any

MIN_WINDOW_S = 60.0
MIN_CALLS = 3

NO_INBOUND = (
    "no inbound requests identified (no inbound listener, and none inferred): a per-request figure "
    "needs the requests it is divided by"
)
NO_CALLOUTS = (
    "no auth calls seen, so no share of them is redundant or not (are the gateway's calls to its auth "
    "server routed through the proxy?)"
)
BYPASS_CAUSE = "likely traffic bypassing the inbound listener"
BYPASS = (
    "{none} callout/backend {hops} under no inbound request: " + BYPASS_CAUSE + " "
    "(clients calling the gateway directly), so this per-request figure is inflated"
)


def _note(notes: list[dict[str, str]], figure: str, reason: str) -> None:
    notes.append({"figure": figure, "reason": reason})


def known_unknowns(s: dict[str, Any]) -> list[dict[str, str]]:
    """Null what `s` cannot support, add caveats; returns the notes (also set as s["notes"])."""
    notes: list[dict[str, str]] = list(s.get("notes") or [])
    c, tax, inbound = s["callouts"], s["tax"], s["inbound"]
    n_inbound = s["flows"].get("inbound", 0)
    span = float((s.get("span") or {}).get("seconds") or 0.0)
    if not n_inbound:
        c["per_inbound"] = None
        if "auth_calls_per_inbound" in c:
            c["auth_calls_per_inbound"] = None
        tax["ms_per_inbound"] = None
        tax["share_of_ttfb"] = None
        tax["caller_seconds_per_day"] = None
        for fig in ("callouts.per_inbound", "tax.ms_per_inbound", "tax.share_of_ttfb"):
            _note(notes, fig, NO_INBOUND)
    elif not inbound.get("ttfb_total_ms"):
        tax["share_of_ttfb"] = None
        _note(notes, "tax.share_of_ttfb", "no inbound request had a time to first byte (none answered)")

    total = int(c.get("total") or 0)
    if not total:
        c["redundant_share"] = None
        _note(notes, "callouts.redundant_share", NO_CALLOUTS)
    if span < MIN_WINDOW_S or total < MIN_CALLS:
        withheld = [k for k in ("avoidable_callouts_per_hour", "caller_seconds_per_day") if tax.get(k) is not None]
        for k in ("auth_calls_per_hour", "per_hour"):
            if c.get(k) is not None:
                c[k] = None
                withheld.insert(0, f"callouts.{k}")
        for k in ("avoidable_callouts_per_hour", "caller_seconds_per_day"):
            tax[k] = None
        if total == 1:
            why = "a single startup fetch: one token callout in the session, nothing to extrapolate from"
        else:
            why = (
                f"observed {span:.0f} s and {total} {'callout' if total == 1 else 'callouts'}: "
                f"per-hour and per-day figures need at least {MIN_WINDOW_S:.0f} s and {MIN_CALLS} callouts"
            )
        for k in withheld or ["tax.avoidable_callouts_per_hour"]:
            _note(notes, k if "." in k else f"tax.{k}", why)

    _per_kind(c, bool(n_inbound), bool(inbound.get("ttfb_total_ms")), span)

    roles = s.get("roles") or {}
    if roles.get("inferred"):
        by = roles.get("by") or {}
        counts = ", ".join(f"{n} by {rule}" for rule, n in sorted(by.items(), key=lambda kv: -kv[1]))
        _note(
            notes,
            "flows.inbound",
            f"roles inferred (no inbound listener named): {by.get('containment', 0)} inbound by containment (flows whose span "
            f"contains the gateway's callout and backend hops); flows per rule: {counts or 'none'}",
        )

    none = int((s.get("correlation") or {}).get("none") or 0)
    if none and n_inbound:
        caveat = BYPASS.format(none=none, hops="hop was" if none == 1 else "hops were")
        per = c.get("per_inbound")
        if per is not None and per > 1:
            _note(notes, "callouts.per_inbound", caveat)
        share = tax.get("share_of_ttfb")
        if share is not None and share > 1:
            _note(notes, "tax.share_of_ttfb", caveat)
    s["notes"] = notes
    return notes


def _per_kind(c: dict[str, Any], has_inbound: bool, has_ttfb: bool, span: float) -> None:
    """The same rules for each row of `callouts.by_kind` (the session-wide notes say why)."""
    for row in (c.get("by_kind") or {}).values():
        if not isinstance(row, dict):
            continue
        if not has_inbound:
            for k in ("per_inbound", "ms_per_inbound", "share_of_ttfb"):
                if k in row:
                    row[k] = None
        elif not has_ttfb and "share_of_ttfb" in row:
            row["share_of_ttfb"] = None
        if span < MIN_WINDOW_S or int(row.get("total") or 0) < MIN_CALLS:
            for k in ("avoidable_per_hour", "per_hour"):
                if k in row:
                    row[k] = None


def notes_for(s: dict[str, Any], *figures: str) -> list[str]:
    """The reasons noted for any of `figures`, each once, in order."""
    out: list[str] = []
    for n in s.get("notes") or []:
        if n.get("figure") in figures and n.get("reason") not in out:
            out.append(str(n["reason"]))
    return out
