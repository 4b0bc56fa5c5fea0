"""OIDC userinfo. Key: endpoint + the bearer's fingerprint.

Redundant: an identical answer (same fingerprint) came earlier for the same key while
the bearer was still valid (its JWT `exp`; an opaque bearer the server still accepted
counts as valid).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from inspector.analyzer.kinds.base import Tagged, Verdict, facts, key_text, num
from inspector.schema.events import Event


class Userinfo:
    kind = "userinfo"
    PARTS = (("bearer_fp", "bearer"),)
    KEYS = 10_000

    def __init__(self) -> None:
        self._answers: OrderedDict[str, Tagged] = OrderedDict()
        self.claims: set[str] = set()

    def key(self, ev: Event) -> str:
        return key_text(self.kind, ev.get("key"), self.PARTS)

    def judge(self, ev: Event, key: str, ts: float, end: float, ok: bool) -> Verdict:
        if not ok:
            return Verdict()
        f = facts(ev, "userinfo")
        fp = f.get("fp")
        if not isinstance(fp, str):
            return Verdict(unreadable=True)
        claims = f.get("claims")
        if isinstance(claims, list) and len(self.claims) < 64:
            self.claims.update(c for c in claims[:64] if isinstance(c, str))
        bearer = facts(ev, "bearer")
        jwt = bearer.get("jwt")
        exp = num(jwt.get("exp")) if type(jwt) is dict else None
        tagged = self._answers.get(key)
        if tagged is None:
            tagged = self._answers[key] = Tagged()
            if len(self._answers) > self.KEYS:
                self._answers.popitem(last=False)
        v = Verdict(redundant=tagged.valid_at(ts, fp), identical=tagged.seen(fp))
        tagged.add(end, exp if exp is not None else math.inf, fp)
        return v

    def extras(self) -> dict[str, Any]:
        return {"claim_names": sorted(self.claims)}
