"""Budgets: what a team agreed the auth work may cost, held against one report snapshot.

A budget is parsed from TOML (strictly: an unknown key, a wrong type or a value out of
range is a one-line UserError naming the key) and `evaluate(budget, snapshot)` returns
one result per limit. Pure: no files, no clock. Every measured value is read from the
report, so `tokentax check` says exactly what `tokentax report` shows.

A figure the report cannot compute (null) never passes silently: the result is
`unknown`, which counts as broken unless the budget says `allow_unknown = true`.
docs/budgets.md documents every key; a test holds it to SESSION_KEYS etc. below.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from typing import Any

from inspector.schema.errors import UserError
from inspector.schema.units import ms, with_unit
from inspector.schema.vocab import FINDING_IDS, KINDS

# Finding ids of the shared contract that other branches add to vocab.FINDING_IDS.
_CONTRACT_FINDINGS = (
    "introspection-repeat",
    "jwks-refetch",
    "userinfo-repeat",
    "exchange-refetch",
    "forward-auth-repeat",
)
KNOWN_FINDINGS = tuple(dict.fromkeys((*FINDING_IDS, *_CONTRACT_FINDINGS)))

# status of one result
OK, BROKEN, UNKNOWN, ALLOWED = "ok", "broken", "unknown", "unknown-allowed"
FAILING = (BROKEN, UNKNOWN)


@dataclass(frozen=True)
class Limit:
    """One budget key: the figure it bounds, how to show it, what values it accepts."""

    key: str
    label: str
    unit: str  # "x" ratio, "share" 0..1, "ms", "/h", "" count
    doc: str


def _limits(*rows: tuple[str, str, str, str]) -> dict[str, Limit]:
    return {r[0]: Limit(*r) for r in rows}


SESSION_LIMITS = _limits(
    ("auth_calls_per_request", "auth calls per inbound request", "x", "callouts.per_inbound"),
    ("redundant_share", "redundant share of auth calls", "share", "callouts.redundant_share"),
    ("redundant", "redundant auth calls", "", "callouts.redundant"),
    ("failed", "failed auth calls", "", "callouts.failed"),
    ("callout_p95_ms", "auth call latency p95", "ms", "callouts.p95_ms"),
    ("tax_ms_per_request", "token tax per request", "ms", "tax.ms_per_inbound"),
    ("tax_share_of_ttfb", "token tax share of time to first byte", "share", "tax.share_of_ttfb"),
    (
        "avoidable_auth_calls_per_hour",
        "auth calls a cache would remove per hour",
        "/h",
        "tax.avoidable_callouts_per_hour",
    ),
    ("stampedes", "stampedes", "", "stampedes.count"),
)
KIND_LIMITS = _limits(
    ("auth_calls_per_request", "calls per inbound request", "x", "callouts.by_kind.KIND.total / flows.inbound"),
    ("redundant_share", "redundant share", "share", "callouts.by_kind.KIND.redundant / total"),
    ("redundant", "redundant calls", "", "callouts.by_kind.KIND.redundant"),
    ("failed", "failed calls", "", "callouts.by_kind.KIND.failed"),
    ("p95_ms", "latency p95", "ms", "callouts.by_kind.KIND.p95_ms"),
)
KEY_LIMITS = _limits(
    ("auth_calls", "auth calls", "", "keys[].callouts"),
    ("redundant", "redundant calls", "", "keys[].redundant"),
    ("redundant_share", "redundant share", "share", "keys[].redundant / keys[].callouts"),
    ("failed", "failed calls", "", "keys[].failed"),
)
ROUTE_LIMITS = _limits(
    ("p50_ms", "latency p50", "ms", "routes[].p50_ms"),
    ("p95_ms", "latency p95", "ms", "routes[].p95_ms"),
    ("errors", "errors", "", "routes[].errors"),
    ("error_share", "error share", "share", "routes[].errors / routes[].count"),
)
ROLES_FOR_ROUTES = ("inbound", "callout", "backend", "other")

# Every key the parser accepts, per table (docs/budgets.md must list each of them).
SESSION_KEYS = ("allow_unknown", "never", *SESSION_LIMITS, "kinds", "keys", "routes")
KIND_KEYS = ("allow_unknown", *KIND_LIMITS)
KEY_KEYS = ("match", "allow_unknown", *KEY_LIMITS)
ROUTE_KEYS = ("match", "role", "allow_unknown", *ROUTE_LIMITS)

DEFAULT_BUDGET_TOML = """\
# tokentax default budget: no cached auth error, and no redundant auth call costing
# callers over 20 % of their time to first byte.
never = ["error-cached"]
tax_share_of_ttfb = 0.2
"""


@dataclass
class Section:
    """One table of limits: the session, a kind, a key pattern or a route pattern."""

    scope: str  # "session", "kind", "key", "route"
    limits: dict[str, float]
    allow_unknown: bool
    name: str = ""  # kind name or match pattern
    role: str = ""  # routes only: "" = any role


@dataclass
class Budget:
    source: str
    session: Section
    never: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)  # kinds, keys, routes in file order

    @property
    def count(self) -> int:
        return len(self.never) + sum(len(s.limits) for s in (self.session, *self.sections))


# -- parsing -----------------------------------------------------------------------------


def _bad(source: str, where: str, msg: str) -> UserError:
    return UserError(f"{source}: {where}: {msg}")


def _type_name(v: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", dict: "a table"}.get(type(v), type(v).__name__)


def _number(source: str, where: str, v: Any, unit: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(source, where, f"expected a number, got {_type_name(v)}")
    if v < 0:
        raise _bad(source, where, f"expected 0 or more, got {v}")
    if unit == "share" and v > 1:
        raise _bad(source, where, f"expected a share between 0 and 1 (0.2 = 20 %), got {v}")
    return float(v)


def _bool(source: str, where: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _bad(source, where, f"expected true or false, got {_type_name(v)}")
    return v


def _str(source: str, where: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _bad(source, where, f"expected a non-empty string, got {_type_name(v)}")
    return v


def _section(
    source: str,
    where: str,
    table: Any,
    scope: str,
    allowed: tuple[str, ...],
    limits: dict[str, Limit],
    inherit_unknown: bool,
) -> Section:
    if not isinstance(table, dict):
        raise _bad(source, where, f"expected a table, got {_type_name(table)}")
    for k in table:
        if k not in allowed:
            raise _bad(source, f"{where}.{k}" if where else k, f"unknown key (expected one of: {', '.join(allowed)})")
    sec = Section(scope, {}, inherit_unknown)
    for k, v in table.items():
        w = f"{where}.{k}" if where else k
        if k == "allow_unknown":
            sec.allow_unknown = _bool(source, w, v)
        elif k == "match":
            sec.name = _str(source, w, v)
        elif k == "role":
            sec.role = _str(source, w, v)
            if sec.role not in ROLES_FOR_ROUTES:
                raise _bad(source, w, f"expected one of {', '.join(ROLES_FOR_ROUTES)}, got {v!r}")
        elif k in limits:
            sec.limits[k] = _number(source, w, v, limits[k].unit)
    return sec


def parse_budget(text: str, source: str = "budget") -> Budget:
    """A budget from TOML text; UserError (one line, naming the key) for anything wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: not valid TOML ({exc})") from None
    top = {k: v for k, v in data.items() if k not in ("kinds", "keys", "routes", "never")}
    session = _section(source, "", top, "session", SESSION_KEYS, SESSION_LIMITS, False)
    for k in data:
        if k not in SESSION_KEYS:
            raise _bad(source, k, f"unknown key (expected one of: {', '.join(SESSION_KEYS)})")
    budget = Budget(source, session)
    never = data.get("never", [])
    if not isinstance(never, list):
        raise _bad(source, "never", f"expected a list of finding ids, got {_type_name(never)}")
    for i, fid in enumerate(never):
        if not isinstance(fid, str) or fid not in KNOWN_FINDINGS:
            raise _bad(source, f"never[{i}]", f"unknown finding id {fid!r} (known: {', '.join(KNOWN_FINDINGS)})")
        if fid not in budget.never:
            budget.never.append(fid)
    kinds = data.get("kinds", {})
    if not isinstance(kinds, dict):
        raise _bad(source, "kinds", f"expected a table of kinds, got {_type_name(kinds)}")
    for kind, table in kinds.items():
        if kind not in KINDS:
            raise _bad(source, f"kinds.{kind}", f"unknown kind (expected one of: {', '.join(KINDS)})")
        sec = _section(source, f"kinds.{kind}", table, "kind", KIND_KEYS, KIND_LIMITS, session.allow_unknown)
        sec.name = kind
        budget.sections.append(sec)
    for name, allowed, limits in (("keys", KEY_KEYS, KEY_LIMITS), ("routes", ROUTE_KEYS, ROUTE_LIMITS)):
        rows = data.get(name, [])
        if not isinstance(rows, list):
            raise _bad(source, name, f"expected an array of tables ([[{name}]]), got {_type_name(rows)}")
        for i, table in enumerate(rows):
            where = f"{name}[{i}]"
            sec = _section(source, where, table, name[:-1], allowed, limits, session.allow_unknown)
            if not sec.name:
                raise _bad(source, f"{where}.match", "missing: every entry needs a match pattern")
            budget.sections.append(sec)
    if budget.count == 0:
        raise UserError(f"{source}: no limits: set at least one key (see docs/budgets.md)")
    return budget


def default_budget() -> Budget:
    return parse_budget(DEFAULT_BUDGET_TOML, "default budget")


# -- evaluation --------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    return "unknown" if value is None else with_unit(value, unit)


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def _note(s: dict[str, Any], *figures: str) -> str:
    """The report's own reason for a null figure (contract: notes = [{figure, reason}])."""
    for n in s.get("notes") or ():
        if not isinstance(n, dict):
            continue
        fig = str(n.get("figure", ""))
        # "tax.share_of_ttfb", "share_of_ttfb", or a whole group such as "tax"
        if fig and any(fig == f or fig == f.rsplit(".", 1)[-1] or f.startswith(fig + ".") for f in figures):
            return str(n.get("reason", ""))
    return ""


def _ratio(num: Any, den: Any) -> float | None:
    if not isinstance(num, (int, float)) or not isinstance(den, (int, float)) or not den:
        return None
    return num / den


def _result(
    sec: Section, key: str, limit_def: Limit, limit: float, measured: Any, reason: str, scope_text: str
) -> dict[str, Any]:
    value = float(measured) if isinstance(measured, (int, float)) and not isinstance(measured, bool) else None
    where = f"{scope_text}: " if scope_text else ""
    name = f"{scope_text} {key}" if scope_text else key
    if value is None:
        status = ALLOWED if sec.allow_unknown else UNKNOWN
        why = reason or "the report cannot compute it"
        tail = "allowed by allow_unknown" if sec.allow_unknown else "set allow_unknown = true to accept this"
        message = f"{where}{limit_def.label} ({key}) is unknown, limit {fmt(limit, limit_def.unit)}: {why}; {tail}"
    else:
        status = OK if value <= limit + 1e-9 else BROKEN
        word = "over" if status == BROKEN else "within"
        message = (
            f"{where}{limit_def.label} ({key}) {fmt(value, limit_def.unit)}, {word} the limit "
            f"{fmt(limit, limit_def.unit)}"
        )
    return {
        "type": "budget",
        "name": name,
        "scope": sec.scope,
        "target": sec.name or None,
        "key": key,
        "figure": limit_def.doc,
        "unit": limit_def.unit,
        "limit": limit,
        "measured": value,
        "status": status,
        "message": message,
        "evidence": [],
    }


def _session(sec: Section, s: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, limit in sec.limits.items():
        d = SESSION_LIMITS[key]
        value = _get(s, d.doc)
        reason = _note(s, d.doc) if value is None else ""
        if (
            value is not None
            and d.doc.startswith("tax.")
            and d.unit in ("ms", "share")
            and not _get(s, "flows.inbound")
        ):
            # Reports from before the null-figures contract gave 0 here: with no inbound
            # request seen, a tax per request (or share of its time) is unknown, not zero.
            value, reason = None, "no inbound requests seen, so no tax per request (name the client-facing listener)"
        if value is None and not reason and d.doc == "callouts.per_inbound":
            reason = "no inbound requests seen (name the client-facing listener with --inbound)"
        out.append(_result(sec, key, d, limit, value, reason, ""))
    return out


def _kind(sec: Section, s: dict[str, Any]) -> list[dict[str, Any]]:
    by_kind = _get(s, "callouts.by_kind")
    inbound = _get(s, "flows.inbound")
    out = []
    for key, limit in sec.limits.items():
        d = KIND_LIMITS[key]
        reason = ""
        value: Any = None
        if not isinstance(by_kind, dict):
            reason = "this report has no per-kind figures (callouts.by_kind)"
        else:
            row = by_kind.get(sec.name) or {}
            total = row.get("total", 0) or 0
            if key == "auth_calls_per_request":
                value = _ratio(total, inbound)
                reason = "" if value is not None else "no inbound requests seen"
            elif key == "redundant_share":
                value = _ratio(row.get("redundant", 0), total)
                reason = "" if value is not None else f"no {sec.name} calls seen, so no share of them"
            elif key == "p95_ms":
                value = row.get("p95_ms")
                if value is None:
                    reason = _note(s, f"callouts.by_kind.{sec.name}.p95_ms") or f"no {sec.name} calls seen"
            else:
                value = row.get(key, 0)
        out.append(_result(sec, key, d, limit, value, reason, f"kind {sec.name}"))
    return out


def _matched(sec: Section, rows: list[dict[str, Any]], field_name: str) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if isinstance(r, dict)
        and fnmatch.fnmatchcase(str(r.get(field_name, "")), sec.name)
        and (not sec.role or r.get("role") == sec.role)
    ]


def _keys(sec: Section, s: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _matched(sec, s.get("keys") or [], "key")
    calls = sum(r.get("callouts", 0) or 0 for r in rows)
    figures: dict[str, Any] = {
        "auth_calls": calls,
        "redundant": sum(r.get("redundant", 0) or 0 for r in rows),
        "failed": sum(r.get("failed", 0) or 0 for r in rows),
    }
    figures["redundant_share"] = _ratio(figures["redundant"], calls)
    out = []
    for key, limit in sec.limits.items():
        value = figures[key] if rows else None
        reason = "" if rows else f"no token key in the report matches {sec.name!r}"
        if value is None and rows:
            reason = f"the keys matching {sec.name!r} had no calls, so no share of them"
        r = _result(sec, key, KEY_LIMITS[key], limit, value, reason, f"key {sec.name}")
        r["evidence"] = [
            f"key {x.get('key')}: {x.get('callouts')} calls, {x.get('redundant')} redundant, {x.get('failed')} failed"
            for x in rows[:5]
        ]
        out.append(r)
    return out


def _routes(sec: Section, s: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _matched(sec, s.get("routes") or [], "route")
    count = sum(r.get("count", 0) or 0 for r in rows)
    errors = sum(r.get("errors", 0) or 0 for r in rows)
    figures: dict[str, Any] = {"errors": errors, "error_share": _ratio(errors, count) if count else 0.0}
    for p in ("p50_ms", "p95_ms"):
        # several routes match: the worst of them holds the budget
        vals = [r.get(p) for r in rows]
        nums = [float(v) for v in vals if isinstance(v, (int, float))]
        figures[p] = max(nums) if nums and len(nums) == len(vals) else None
    scope = f"route {sec.name}" + (f" ({sec.role})" if sec.role else "")
    out = []
    for key, limit in sec.limits.items():
        value = figures[key] if rows else None
        reason = "" if rows else f"no {sec.role or ''} route in the report matches {sec.name!r}".replace("  ", " ")
        if rows and value is None:
            reason = "a matching route has no timing"
        r = _result(sec, key, ROUTE_LIMITS[key], limit, value, reason, scope)
        r["evidence"] = [
            f"{x.get('role')} {x.get('route')}: {x.get('count')} flows, {x.get('errors')} errors, "
            f"p50 {ms(x.get('p50_ms'))}, p95 {ms(x.get('p95_ms'))}"
            for x in rows[:5]
        ]
        out.append(r)
    return out


def _never(fid: str, s: dict[str, Any]) -> dict[str, Any]:
    hit = next((f for f in s.get("findings") or () if f.get("id") == fid), None)
    if hit is None:
        message = f"finding {fid} (never) did not fire"
    else:
        message = f"finding {fid} (never) fired: {hit.get('title', '')}"
    return {
        "type": "budget",
        "name": f"never {fid}",
        "scope": "session",
        "target": fid,
        "key": "never",
        "figure": f"findings[id={fid}]",
        "unit": "",
        "limit": 0,
        "measured": 0 if hit is None else 1,
        "status": OK if hit is None else BROKEN,
        "message": message,
        "evidence": list(hit.get("evidence") or []) if hit else [],
    }


def evaluate(budget: Budget, s: dict[str, Any]) -> list[dict[str, Any]]:
    """One result per limit of the budget, in file order. Pure."""
    out = [_never(fid, s) for fid in budget.never]
    out += _session(budget.session, s)
    for sec in budget.sections:
        out += {"kind": _kind, "key": _keys, "route": _routes}[sec.scope](sec, s)
    # evidence for session figures: the finding that explains them, when there is one
    for r in out:
        if r["scope"] == "session" and r["key"] != "never" and r["status"] in FAILING and not r["evidence"]:
            for f in s.get("findings") or ():
                if f.get("id") in ("token-refetch", "stampede", "auth-failure"):
                    r["evidence"] = [f.get("title", ""), *(f.get("evidence") or [])]
                    break
    return out


def finding_results(s: dict[str, Any], fail_on: str | None) -> list[dict[str, Any]]:
    """Each finding of the report as a result: failing when its severity is at or above `fail_on`."""
    from inspector.schema.vocab import SEVERITIES

    rank: dict[str, int] = {sev: i for i, sev in enumerate(SEVERITIES)}  # critical = 0
    out = []
    for f in s.get("findings") or ():
        sev = f.get("severity", "info")
        failing = fail_on is not None and rank.get(sev, 99) <= rank[fail_on]
        out.append(
            {
                "type": "finding",
                "name": f"{f.get('id')}",
                "severity": sev,
                "status": BROKEN if failing else OK,
                "message": f"{sev} [{f.get('id')}] {f.get('title', '')}",
                "evidence": list(f.get("evidence") or []),
            }
        )
    return out


def summary(results: list[dict[str, Any]], fail_on: str | None) -> dict[str, Any]:
    budgets = [r for r in results if r["type"] == "budget"]
    broken = [r for r in budgets if r["status"] in FAILING]
    findings = [r for r in results if r["type"] == "finding" and r["status"] == BROKEN]
    return {
        "budgets": len(budgets),
        "broken": len(broken),
        "unknown": sum(1 for r in budgets if r["status"] == UNKNOWN),
        "findings_failing": len(findings),
        "fail_on": fail_on,
        "passed": not broken and not findings,
    }
