"""The "by kind" table every report view shows: one row per auth kind seen, from the
analyzer's `callouts.by_kind` (absent in older reports: then there is no table).

Views only format: every number comes from the report; an unknown figure is "—".
"""

from __future__ import annotations

from typing import Any

from inspector.schema.units import ms

HEAD = ("kind", "calls", "redundant", "identical", "failed", "p50", "p95")
NUMERIC = {1, 2, 3, 4, 5, 6}
DASH = "—"


def _n(value: Any) -> str:
    return DASH if value is None else str(value)


def _ms(value: Any) -> str:
    return DASH if value is None else ms(value)


def by_kind(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    kinds = (s.get("callouts") or {}).get("by_kind")
    return kinds if isinstance(kinds, dict) else {}


def kind_rows(s: dict[str, Any]) -> list[tuple[str, ...]]:
    """(kind, calls, redundant, identical, failed, p50, p95) for each kind, the busiest first."""
    kinds = by_kind(s)
    order = sorted(kinds, key=lambda k: (-(kinds[k] or {}).get("total", 0) or 0, k))
    rows: list[tuple[str, ...]] = []
    for kind in order:
        f = kinds[kind] or {}
        rows.append(
            (
                kind,
                _n(f.get("total")),
                _n(f.get("redundant")),
                _n(f.get("identical")),
                _n(f.get("failed")),
                _ms(f.get("p50_ms")),
                _ms(f.get("p95_ms")),
            )
        )
    return rows


def kind_markdown(s: dict[str, Any]) -> list[str]:
    rows = kind_rows(s)
    if not rows:
        return []
    lines = ["", "## Auth calls by kind", "", "| " + " | ".join(HEAD) + " |", "|---" * len(HEAD) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def kind_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Per kind: calls and redundant calls before and after (a kind seen on one side only is 0 on the other
    when that side has kinds at all, and None when it has none)."""
    kb, ka = by_kind(before), by_kind(after)
    if not kb and not ka:
        return []
    out = []
    for kind in sorted(set(kb) | set(ka)):
        b, a = kb.get(kind), ka.get(kind)

        def fig(side: dict[str, Any] | None, known: bool, name: str) -> Any:
            if side is not None:
                return side.get(name)
            return 0 if known else None

        out.append(
            {
                "kind": kind,
                "calls": {"before": fig(b, bool(kb), "total"), "after": fig(a, bool(ka), "total")},
                "redundant": {"before": fig(b, bool(kb), "redundant"), "after": fig(a, bool(ka), "redundant")},
            }
        )
    return out


def kind_diff_lines(rows: list[dict[str, Any]], markdown: bool = False) -> list[str]:
    if not rows:
        return []
    if markdown:
        lines = ["", "## Auth calls by kind", "", "| kind | calls before | after | redundant before | after |"]
        lines.append("|---|---|---|---|---|")
        for r in rows:
            c, d = r["calls"], r["redundant"]
            lines.append(
                f"| {r['kind']} | {_n(c['before'])} | {_n(c['after'])} | {_n(d['before'])} | {_n(d['after'])} |"
            )
        return lines
    w = max(len("kind"), *(len(r["kind"]) for r in rows))
    lines = [
        "",
        "Auth calls by kind",
        f"  {'kind':<{w}}  {'calls before':>12}  {'after':>8}  {'redundant before':>16}  {'after':>8}",
    ]
    for r in rows:
        c, d = r["calls"], r["redundant"]
        lines.append(
            f"  {r['kind']:<{w}}  {_n(c['before']):>12}  {_n(c['after']):>8}  {_n(d['before']):>16}  {_n(d['after']):>8}"
        )
    return lines
