"""Findings: the questions a team must settle before fixing the gateway, answered.

A pure function of the snapshot figures, so every view (TUI, report, metrics) shows
the same findings with the same numbers. Each finding has a stable id, a severity
(critical, warning, info, ok), a one-line title that carries the measured figure, and
evidence lines.
"""

from __future__ import annotations

from typing import Any

from inspector.analyzer.kinds.findings import kind_findings
from inspector.analyzer.notes import BYPASS_CAUSE, notes_for
from inspector.analyzer.severity import severity_by_cost
from inspector.schema.units import count, counted, human_seconds, ms, per_hour, plural
from inspector.schema.vocab import FINDING_IDS, SEVERITIES

__all__ = ["FINDING_IDS", "SEVERITIES", "findings"]


def _f(id_: str, severity: str, title: str, evidence: list[str]) -> dict[str, Any]:
    return {"id": id_, "severity": severity, "title": title, "evidence": evidence}


def _token_view(s: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(callouts, tax) of the token kind alone: the token findings must not count other kinds' calls.

    A report without `callouts.by_kind` (older, or combined) is all token calls.
    """
    c, tax = s["callouts"], s["tax"]
    by_kind = c.get("by_kind")
    if not isinstance(by_kind, dict):
        return c, tax
    row = by_kind.get("token") or {}
    total = int(row.get("total") or 0)
    redundant = int(row.get("redundant") or 0)
    tc = dict(c)
    for name in ("total", "ok", "redundant", "identical", "failed", "p50_ms", "p95_ms", "per_inbound"):
        tc[name] = row.get(name, 0 if name in ("total", "ok", "redundant", "identical", "failed") else None)
    tc["redundant_share"] = round(redundant / total, 4) if total else None
    for name in (
        "on_path",
        "background",
        "nested",
        "tax_calls",
        "proactive",
        "origin",
        "relayed",
        "relay_hit_mean_ms",
        "relays",
        "identical_origin",
    ):
        if name in row:
            tc[name] = row[name]
    tt = dict(tax)
    tt["total_ms"] = row.get("redundant_ms", 0.0)
    # unknown stays unknown: when the session-wide figure is null, so is the token kind's
    tt["ms_per_inbound"] = row.get("ms_per_inbound") if tax.get("ms_per_inbound") is not None else None
    tt["share_of_ttfb"] = row.get("share_of_ttfb") if tax.get("share_of_ttfb") is not None else None
    tt["avoidable_callouts_per_hour"] = row.get("avoidable_per_hour")
    return tc, tt


def _kinds_word(s: dict[str, Any], field: str) -> str:
    """`token` when only token callouts have `field`, else the kinds that do ("introspection, jwks")."""
    by_kind = s["callouts"].get("by_kind")
    if not isinstance(by_kind, dict):
        return "token"
    kinds = [k.replace("_", "-") for k, row in by_kind.items() if isinstance(row, dict) and row.get(field)]
    return ", ".join(kinds) if kinds else "token"


Finding = dict[str, Any]


def findings(s: dict[str, Any]) -> list[Finding]:
    """Every finding the report supports, worst first. Each rule is its own function of the
    report (the token rules read the token kind's figures, `_token_view`)."""
    c, tax = _token_view(s)
    lifetimes = s.get("lifetimes") or []
    life = lifetimes[0]["seconds"] if lifetimes else None
    candidates = [
        _token_refetch(s, c, tax, life) if c["redundant"] else None,
        _token_lifetime(lifetimes),
        _shared_across_routes(s),
        _identical_responses(c),
        _callout_latency(s, c, tax),
        _auth_failure(s),
        _error_cached(s),
        _stampede(s),
        _gateway_identified(s),
    ]
    out = [f for f in candidates if f is not None] + kind_findings(s)
    order = {sev: i for i, sev in enumerate(SEVERITIES)}
    out.sort(key=lambda f: order[f["severity"]])
    return out


def _token_lifetime(lifetimes: list[dict[str, Any]]) -> Finding | None:
    if not lifetimes:
        return None
    life, src = lifetimes[0]["seconds"], lifetimes[0]["source"]
    title = f"Service token lives {human_seconds(life)} ({src}: {count(life)} s)"
    ev = [
        f"{counted(lt['count'], 'token')} with lifetime {count(lt['seconds'])} s from {lt['source']}"
        for lt in lifetimes
    ]
    return _f("token-lifetime", "info", title, ev)


def _shared_across_routes(s: dict[str, Any]) -> Finding | None:
    """Only service tokens: issued by a callout, not a bearer the gateway got from its caller."""
    shared = [
        t for t in s.get("tokens") or [] if len(t.get("routes") or []) >= 2 and t.get("source", "callout") == "callout"
    ]
    if not shared:
        return None
    top = max(shared, key=lambda t: len(t["routes"]))
    title = f"One token served {len(top['routes'])} backend routes: cache per key, not per route"
    ev = [f"token {t['fingerprint']} used on: {', '.join(t['routes'][:6])}" for t in shared[:3]]
    return _f("token-shared-across-routes", "info", title, ev)


def _identical_responses(c: dict[str, Any]) -> Finding | None:
    """The auth server's own behaviour: origin answers only (a relay repeats what it cached)."""
    identical = c.get("identical_origin", c["identical"])
    ok = c.get("origin", c["ok"])
    if identical:
        title = (
            f"The auth server returned an already-issued token {counted(identical, 'time')} "
            f"of {counted(ok, 'successful fetch')}: reuse is safe"
        )
        ev = ["an identical fetch returns a token fingerprint seen before: the server itself reuses it"]
        return _f("identical-token-responses", "info", title, ev)
    if ok >= 2 and c.get("auth_redundant", c["redundant"]):
        return _f(
            "identical-token-responses",
            "info",
            f"Every one of {count(ok)} fetches returned a new token",
            ["the auth server mints a token per call: each extra fetch also adds a live token to revoke"],
        )
    return None


def _callout_latency(s: dict[str, Any], c: dict[str, Any], tax: dict[str, Any]) -> Finding | None:
    if not c["total"] or c["p50_ms"] is None:
        return None
    share = tax["share_of_ttfb"]
    p50_in = s["inbound"]["ttfb_p50_ms"]
    # it adds latency only where a request waited for a redundant call (on the path; unknown: any)
    waited = c.get("tax_calls") if c.get("tax_calls") is not None else c["redundant"]
    sev = "warning" if (c["p50_ms"] >= 100 or (share or 0.0) >= 0.2) and waited else "info"
    if c["total"] == 1:
        title = f"The single token callout (a startup fetch) took {ms(c['p50_ms'])}"
    else:
        title = (
            f"Token callout takes {ms(c['p50_ms'])} p50, {ms(c['p95_ms'])} p95 "
            f"(min {ms(c.get('min_ms'))}, max {ms(c.get('max_ms'))})"
        )
    if c["redundant"] and p50_in and share is not None:
        title += f"; redundant callouts are {share * 100:.0f} % of inbound time to first byte"
    ev = [f"inbound time to first byte: p50 {ms(p50_in)}, p95 {ms(s['inbound']['ttfb_p95_ms'])}"]
    ev += [r for r in notes_for(s, "tax.share_of_ttfb") if BYPASS_CAUSE in r]
    return _f("callout-latency", sev, title, ev)


def _auth_failure(s: dict[str, Any]) -> Finding | None:
    c_all = s["callouts"]
    if not c_all["failed"]:
        return None
    kinds = ", ".join(f"{count(n)}× {k}" for k, n in sorted(c_all["failures"].items(), key=lambda kv: -kv[1]))
    word = _kinds_word(s, "failed")
    title = f"{count(c_all['failed'])} {word} {plural(c_all['failed'], 'callout')} failed ({kinds})"
    after = s["aftermath"]
    ev = [f"inbound requests that got an error: {count(s['inbound']['errors'])} of {count(s['flows']['inbound'])}"]
    if after["error_reused"]:
        ev.append(f"{counted(after['error_reused'], 'inbound error')} came with no new callout (error reused)")
    if after["bad_bearer_after_failure"]:
        ev.append(f"{counted(after['bad_bearer_after_failure'], 'backend call')} carried an empty or garbage bearer")
    if not after["error_reused"] and not after["bad_bearer_after_failure"]:
        ev.append("the gateway retried the auth server on later requests: no error was cached")
    sev = "critical" if c_all["failed"] >= max(1, c_all["total"] // 2) else "warning"
    return _f("auth-failure", sev, title, ev)


def _error_cached(s: dict[str, Any]) -> Finding | None:
    after = s["aftermath"]
    reused, bad = after["error_reused"], after["bad_bearer_after_failure"]
    if reused < 2 and bad < 1:
        return None
    parts = []
    if reused:
        parts.append(f"{counted(reused, 'inbound error')} with no new callout")
    if bad:
        parts.append(f"{counted(bad, 'backend call')} with an empty or garbage bearer")
    word = _kinds_word(s, "error_reused") if reused else "token"
    title = "Gateway caches auth failures: " + ", ".join(parts) + f" after a failed {word} callout"
    ev = ["a safe cache never stores an auth error; it retries the token endpoint instead"]
    ev += list(after.get("examples") or [])
    return _f("error-cached", "critical", title, ev)


def _stampede(s: dict[str, Any]) -> Finding | None:
    st = s["stampedes"]
    if not st["count"]:
        return None
    title = (
        f"{count(st['count'])} {_kinds_word(s, 'stampedes')} {plural(st['count'], 'stampede')}: "
        f"up to {counted(st['max_burst'], 'callout')} for one key in flight at once"
    )
    ev = [
        f"a stampede is {st['threshold']} or more concurrent callouts for the same token key",
        "refresh single-flight: one fetch per key, the other callers wait for it",
    ]
    return _f("stampede", "warning", title, ev)


def _gateway_identified(s: dict[str, Any]) -> Finding | None:
    gws = s.get("gateway") or []
    named = s.get("gateway_named")
    if named:
        hinted = [g for g in gws if g != named]
        ev = ["named with --gateway / tokentax_gateway: the fixes in these findings are its own"]
        if hinted:  # the headers say otherwise: worth a second look at the name given
            ev.append(f"response headers suggest {', '.join(hinted)}")
        return _f("gateway-identified", "info", f"Gateway is {named} (named)", ev)
    if not gws:
        return None
    return _f(
        "gateway-identified",
        "info",
        f"Gateway looks like {gws[0]}",
        [f"response headers match {', '.join(gws)}", "a hint from headers, not a proof"],
    )


def _token_refetch(s: dict[str, Any], c: dict[str, Any], tax: dict[str, Any], life: float | None) -> dict[str, Any]:
    """Redundant token fetches: on the request path (the tax), in the background, or served by a relay.

    `c` and `tax` are the token kind's figures (`_token_view`)."""
    per_req, share = tax.get("ms_per_inbound"), tax.get("share_of_ttfb")
    avoidable = tax.get("avoidable_callouts_per_hour")
    on_path = c.get("tax_calls")
    sev = severity_by_cost(per_req, share, avoidable)
    per = c.get("per_inbound")
    per_txt = f", {per:.2f} callouts per inbound request" if per is not None else ""
    relayed, origin = c.get("relayed") or 0, c.get("origin")
    if relayed and origin is not None:
        hop = c.get("relay_hit_mean_ms")
        title = (
            f"Token served by a cache in front of the auth server (the loopback pattern): "
            f"the auth server saw {counted(origin, 'fetch')}"
        )
        if hop is not None:
            title += f"; the remaining per-request hop costs {ms(hop)}"
        head = (
            f"{count(relayed)} of {counted(c['total'], 'token callout')} {'was' if relayed == 1 else 'were'} "
            f"answered by a relay ({', '.join(c.get('relays') or [])})"
        )
    elif on_path == 0:
        title = (
            f"{count(c['redundant'])} of {counted(c['total'], 'token callout')} "
            f"{'was' if c['redundant'] == 1 else 'were'} redundant, none on a request's path: "
            f"background fetches, no token tax"
        )
        head = "no inbound request waited for these fetches: they load the auth server, not the callers"
    else:
        title = (
            f"{count(c['redundant'])} of {counted(c['total'], 'token callout')} "
            f"{'was' if c['redundant'] == 1 else 'were'} redundant{per_txt}"
        )
        if per_req is not None:
            title += f": {ms(per_req)} token tax per request"
        head = "a redundant fetch is one made while a token for the same key was still valid, in its first half of life"
    ev = [head]
    if on_path is not None:
        ev.append(
            f"on a request's path: {counted(c.get('on_path') or 0, 'callout')} ({count(on_path)} redundant); "
            f"background: {count(c.get('background'))}"
        )
    if tax.get("total_ms") is not None and share is not None and on_path:
        ev.append(
            f"time requests spent in redundant callouts: {ms(tax['total_ms'])} in total, "
            f"{share * 100:.0f} % of inbound time to first byte"
        )
    if c.get("nested"):
        ev.append(
            f"{counted(c['nested'], 'callout')} from a relay to the auth server ran inside another callout: "
            "counted once"
        )
    if c.get("proactive"):
        ev.append(
            f"{counted(c['proactive'], 'proactive refresh')} (in the last half of a valid token's life) "
            f"{'is' if c['proactive'] == 1 else 'are'} not redundant"
        )
    if life is not None and not relayed:
        ev.append(
            f"the token lives {human_seconds(life)}: a cache keyed on the token key with a TTL a little "
            f"under that would remove these calls"
        )
    ev += notes_for(s, "callouts.per_inbound", "tax.ms_per_inbound", "tax.share_of_ttfb")
    if avoidable is not None:
        ev.append(f"auth-server calls a cache would remove: {per_hour(avoidable)} at the observed rate")
    for k in (s.get("keys") or [])[:3]:
        if k["redundant"]:
            ev.append(f"key {k['key']}: {counted(k['callouts'], 'callout')}, {count(k['redundant'])} redundant")
    ev.append(
        f"severity by cost: {sev} (docs/findings.md: ms per request, share of time to first byte, calls per hour)"
    )
    return _f("token-refetch", sev, title, ev)
