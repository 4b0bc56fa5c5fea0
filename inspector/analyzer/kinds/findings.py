"""Findings per kind: a repeat of auth work while an earlier answer was still reusable.

Severity follows the cost, not the share of calls: the tax per inbound request, its
share of time to first byte, and the auth-server calls per hour a cache would remove.
"""

from __future__ import annotations

from typing import Any

from inspector.analyzer.kinds.fixes import fix_for
from inspector.analyzer.severity import severity_by_cost
from inspector.schema.units import count, counted, ms, per_hour, plural

FINDING_OF_KIND = {
    "introspection": "introspection-repeat",
    "jwks": "jwks-refetch",
    "userinfo": "userinfo-repeat",
    "exchange": "exchange-refetch",
    "forward_auth": "forward-auth-repeat",
}
NOUN = {
    "introspection": "introspection",
    "jwks": "JWKS fetch",
    "userinfo": "userinfo call",
    "exchange": "token exchange",
    "forward_auth": "forward-auth decision call",
}
RULE = {
    "introspection": "a redundant introspection is one made while an earlier answer for the same endpoint, "
    "client and token said active and the token had not expired",
    "jwks": "a redundant JWKS fetch brought the same key set as an earlier fetch of the URL that was still "
    "fresh (its Cache-Control/Expires, or 5 min without them)",
    "userinfo": "a redundant userinfo call got the same answer as an earlier call with the same bearer while "
    "the bearer was valid",
    "exchange": "a redundant exchange is one made while a token exchanged for the same subject token, "
    "audience/resource, scope and requested type was still valid",
    "forward_auth": "a redundant decision call repeats one made for the same endpoint and credential within "
    "the decision window",
}


def severity(row: dict[str, Any]) -> str:
    """One rule for every kind (analyzer/severity.py): the cost to callers and the auth side."""
    return severity_by_cost(row.get("ms_per_inbound"), row.get("share_of_ttfb"), row.get("avoidable_per_hour"))


def _what_if(row: dict[str, Any]) -> str | None:
    w = row.get("what_if")
    if not isinstance(w, dict) or not w:
        return None
    parts = [f"{label.replace('_', ' ')}: {count(n)} of {count(row['total'])}" for label, n in w.items()]
    return "calls a cache would have removed: " + ", ".join(parts)


def kind_findings(s: dict[str, Any]) -> list[dict[str, Any]]:
    by_kind = (s.get("callouts") or {}).get("by_kind") or {}
    gateways = list(s.get("gateway") or [])
    out: list[dict[str, Any]] = []
    for kind, fid in FINDING_OF_KIND.items():
        row = by_kind.get(kind)
        if not row:
            continue
        unknown = int(row.get("unknown_kid") or 0)
        if not row.get("redundant") and not unknown:
            continue
        noun = NOUN[kind]
        r, n = row["redundant"], row["total"]
        per = row.get("ms_per_inbound")
        share = row.get("share_of_ttfb")
        if per is not None:
            cost = f"{ms(per)} tax per request"
            if share is not None:
                cost += f" ({share * 100:.0f} % of time to first byte)"
        else:
            cost = f"{ms(row.get('redundant_ms'))} spent in them (no inbound requests seen)"
        if r:
            title = f"{count(r)} of {counted(n, noun)} {'was' if r == 1 else 'were'} redundant: {cost}"
        else:
            title = f"{count(unknown)} JWKS {plural(unknown, 'refetch')} for tokens with an unknown kid"
        ev = [RULE[kind]]
        ev.append(f"time in redundant calls: {ms(row.get('redundant_ms'))}; {noun} p50 {ms(row.get('p50_ms'))}")
        if row.get("avoidable_per_hour") is not None:
            ev.append(f"auth-side calls a cache would remove: {per_hour(row['avoidable_per_hour'])} at this rate")
        wi = _what_if(row)
        if wi:
            ev.append(wi)
        if kind == "forward_auth":
            ev.append(f"decision window: {row.get('window_s', 60):g} s (tokentax_forward_auth_window)")
        if kind == "introspection" and row.get("active_without_exp"):
            n_exp = row["active_without_exp"]
            ev.append(
                f"{counted(n_exp, 'active answer')} had no exp: {'it' if n_exp == 1 else 'they'} "
                "cannot make a call redundant"
            )
        if kind == "jwks":
            if unknown:
                ev.append(
                    f"{counted(unknown, 'refetch')} came with a bearer whose kid no key set held: anyone "
                    "can trigger these, one auth-server call per forged token (rate-limit unknown-kid refetches)"
                )
            if row.get("new_kid"):
                n_kid = row["new_kid"]
                ev.append(f"{counted(n_kid, 'fetch')} brought a new kid (a rotation): legitimate, not counted")
        product, fix = fix_for(kind, gateways)
        if fix:
            ev.append(f"fix ({product}): {fix}" if product else f"fix: {fix}")
        sev = severity(row)
        if not r:
            sev = "warning"
        out.append({"id": fid, "severity": sev, "title": title, "evidence": ev})
    return out
