"""Per-kind counters and the rules of the kinds other than the token fetch: `callouts.by_kind`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from inspector.analyzer.kinds.base import KindRule, Verdict
from inspector.analyzer.kinds.forward_auth import ForwardAuth
from inspector.analyzer.kinds.introspection import Introspection
from inspector.analyzer.kinds.jwks import Jwks
from inspector.analyzer.kinds.userinfo import Userinfo
from inspector.analyzer.quantiles import Quantiles
from inspector.schema.events import Event
from inspector.schema.vocab import KINDS

TOKEN_PATH_KINDS = ("token", "exchange")  # judged by the token rule in analyzer/core.py


def kind_of(ev: Event) -> str:
    """A callout's kind; an old capture without one (or an unknown word) reads as `token`."""
    k = ev.get("kind")
    return k if k in KINDS else "token"


def failed(kind: str, status: int | None, error: Any) -> bool:
    """A failure, as opposed to an answer. A forward-auth deny (401/403) is a decision, not a failure."""
    if error is not None or status is None:
        return True
    if kind == "forward_auth":
        return status >= 500 or status == 429
    return status >= 400


class KindStats:
    __slots__ = (
        "total",
        "ok",
        "redundant",
        "identical",
        "failed",
        "unreadable",
        "redundant_ms",
        "hist",
        "failures",
        "stampedes",
        "max_burst",
        "error_reused",
    )

    def __init__(self) -> None:
        self.total = self.ok = self.redundant = self.identical = self.failed = self.unreadable = 0
        self.stampedes = self.max_burst = self.error_reused = 0
        self.redundant_ms = 0.0
        self.hist = Quantiles()
        self.failures: Counter[str] = Counter()


class KindBook:
    def __init__(self, forward_auth_window: Callable[[], float]) -> None:
        self.stats: dict[str, KindStats] = {}
        self.jwks = Jwks()
        self.rules: dict[str, KindRule] = {
            "introspection": Introspection(),
            "jwks": self.jwks,
            "userinfo": Userinfo(),
            "forward_auth": ForwardAuth(forward_auth_window),
        }

    def of(self, kind: str) -> KindStats:
        st = self.stats.get(kind)
        if st is None:
            st = self.stats[kind] = KindStats()
        return st

    def judge(self, kind: str, ev: Event, key: str, ts: float, end: float, ok: bool) -> Verdict:
        return self.rules[kind].judge(ev, key, ts, end, ok)

    def snapshot(self, inbound: int, ttfb_total_ms: float, hours: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in KINDS:
            st = self.stats.get(kind)
            if st is None:
                continue
            row: dict[str, Any] = {
                "total": st.total,
                "ok": st.ok,
                "redundant": st.redundant,
                "identical": st.identical,
                "failed": st.failed,
                "unreadable": st.unreadable,
                **st.hist.summary(),
                "per_inbound": round(st.total / inbound, 3) if inbound else None,
                "redundant_ms": round(st.redundant_ms, 3),
                "ms_per_inbound": round(st.redundant_ms / inbound, 3) if inbound else None,
                "share_of_ttfb": round(st.redundant_ms / ttfb_total_ms, 4) if ttfb_total_ms else None,
                "avoidable_per_hour": round(st.redundant / hours, 1) if hours > 0 else None,
                "failures": dict(st.failures),
                "stampedes": st.stampedes,
                "max_burst": st.max_burst,
                "error_reused": st.error_reused,
            }
            rule = self.rules.get(kind)
            if rule is not None:
                row.update(rule.extras())
            out[kind] = row
        return out
