"""Findings: the questions a team must settle before fixing the gateway, answered.

A pure function of the snapshot figures, so every view (TUI, report, metrics) shows
the same findings with the same numbers. Each finding has a stable id, a severity
(critical, warning, info, ok), a one-line title that carries the measured figure, and
evidence lines.
"""

from __future__ import annotations

from typing import Any

from inspector.analyzer.notes import BYPASS_CAUSE, notes_for
from inspector.schema.units import human_seconds, ms, plural
from inspector.schema.vocab import FINDING_IDS, SEVERITIES

__all__ = ["FINDING_IDS", "SEVERITIES", "findings"]


def _f(id_: str, severity: str, title: str, evidence: list[str]) -> dict[str, Any]:
    return {"id": id_, "severity": severity, "title": title, "evidence": evidence}


def findings(s: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    c = s["callouts"]
    tax = s["tax"]
    inbound = s["flows"]["inbound"]
    lifetimes = s.get("lifetimes") or []
    life = lifetimes[0]["seconds"] if lifetimes else None

    if c["redundant"]:
        per = c["per_inbound"]
        share = c["redundant_share"]
        sev = "critical" if share >= 0.5 else "warning"
        per_txt = f", {per:.2f} callouts per inbound request" if per is not None else ""
        title = f"{c['redundant']} of {c['total']} token callouts were redundant{per_txt}"
        if tax["ms_per_inbound"] is not None:  # an unknown figure never goes in a title
            title += f": {ms(tax['ms_per_inbound'])} token tax per request"
        share_txt = (
            f", {tax['share_of_ttfb'] * 100:.0f} % of inbound time to first byte"
            if tax["share_of_ttfb"] is not None
            else ""
        )
        ev = [
            "a redundant fetch is one made while a token for the same key was still valid",
            f"time spent in redundant callouts: {ms(tax['total_ms'])} in total{share_txt}",
        ]
        ev += notes_for(s, "callouts.per_inbound", "tax.ms_per_inbound", "tax.share_of_ttfb")
        if life is not None:
            ev.append(
                f"the token lives {human_seconds(life)}: a cache keyed on the token key with a TTL a little "
                f"under that would remove these calls"
            )
        if tax.get("avoidable_callouts_per_hour") is not None:
            ev.append(
                f"auth-server calls a cache would remove: {tax['avoidable_callouts_per_hour']:.0f} per hour "
                f"at the observed rate"
            )
        for k in (s.get("keys") or [])[:3]:
            if k["redundant"]:
                ev.append(f"key {k['key']}: {k['callouts']} callouts, {k['redundant']} redundant")
        out.append(_f("token-refetch", sev, title, ev))

    if life is not None:
        src = lifetimes[0]["source"]
        title = f"Service token lives {human_seconds(life)} ({src}: {life:.0f} s)"
        ev = [f"{lt['count']} token(s) with lifetime {lt['seconds']:.0f} s from {lt['source']}" for lt in lifetimes]
        out.append(_f("token-lifetime", "info", title, ev))

    shared = [t for t in s.get("tokens") or [] if len(t.get("routes") or []) >= 2]
    if shared:
        top = max(shared, key=lambda t: len(t["routes"]))
        title = f"One token served {len(top['routes'])} backend routes: cache per key, not per route"
        ev = [f"token {t['fingerprint']} used on: {', '.join(t['routes'][:6])}" for t in shared[:3]]
        out.append(_f("token-shared-across-routes", "info", title, ev))

    if c["identical"]:
        title = (
            f"The auth server returned an already-issued token {c['identical']} times "
            f"of {c['ok']} successful fetches: reuse is safe"
        )
        ev = ["an identical fetch returns a token fingerprint seen before: the server itself reuses it"]
        out.append(_f("identical-token-responses", "info", title, ev))
    elif c["ok"] >= 2 and c["redundant"]:
        out.append(
            _f(
                "identical-token-responses",
                "info",
                f"Every one of {c['ok']} fetches returned a new token",
                ["the auth server mints a token per call: each extra fetch also adds a live token to revoke"],
            )
        )

    if c["total"] and c["p50_ms"] is not None:
        share = tax["share_of_ttfb"]
        p50_in = s["inbound"]["ttfb_p50_ms"]
        sev = "warning" if (c["p50_ms"] >= 100 or (share or 0.0) >= 0.2) and c["redundant"] else "info"
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
        out.append(_f("callout-latency", sev, title, ev))

    if c["failed"]:
        kinds = ", ".join(f"{n}× {k}" for k, n in sorted(c["failures"].items(), key=lambda kv: -kv[1]))
        title = f"{c['failed']} token {plural(c['failed'], 'callout')} failed ({kinds})"
        after = s["aftermath"]
        ev = [f"inbound requests that got an error: {s['inbound']['errors']} of {inbound}"]
        if after["error_reused"]:
            ev.append(f"{after['error_reused']} inbound errors came with no new callout (error reused)")
        if after["bad_bearer_after_failure"]:
            ev.append(f"{after['bad_bearer_after_failure']} backend calls carried an empty or garbage bearer")
        if not after["error_reused"] and not after["bad_bearer_after_failure"]:
            ev.append("the gateway retried the auth server on later requests: no error was cached")
        sev = "critical" if c["failed"] >= max(1, c["total"] // 2) else "warning"
        out.append(_f("auth-failure", sev, title, ev))

    after = s["aftermath"]
    reused, bad = after["error_reused"], after["bad_bearer_after_failure"]
    if reused >= 2 or bad >= 1:
        parts = []
        if reused:
            parts.append(f"{reused} inbound errors with no new callout")
        if bad:
            parts.append(f"{bad} backend calls with an empty or garbage bearer")
        title = "Gateway caches auth failures: " + ", ".join(parts) + " after a failed token fetch"
        ev = ["a safe cache never stores an auth error; it retries the token endpoint instead"]
        ev += list(after.get("examples") or [])
        out.append(_f("error-cached", "critical", title, ev))

    st = s["stampedes"]
    if st["count"]:
        title = (
            f"{st['count']} token {plural(st['count'], 'stampede')}: up to {st['max_burst']} callouts for one key "
            f"in flight at once"
        )
        ev = [
            f"a stampede is {st['threshold']} or more concurrent callouts for the same token key",
            "refresh single-flight: one fetch per key, the other callers wait for it",
        ]
        out.append(_f("stampede", "warning", title, ev))

    gws = s.get("gateway") or []
    if gws:
        out.append(
            _f(
                "gateway-identified",
                "info",
                f"Gateway looks like {gws[0]}",
                [f"response headers match {', '.join(gws)}", "a hint from headers, not a proof"],
            )
        )
    order = {sev: i for i, sev in enumerate(SEVERITIES)}
    out.sort(key=lambda f: order[f["severity"]])
    return out
