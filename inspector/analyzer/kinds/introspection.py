"""RFC 7662 introspection. Key: endpoint + client + the introspected token's fingerprint.

Redundant: an earlier answer for the same key said `active: true` and the token had not
expired yet (its `exp`, from the answer or from the token itself when it is a JWT).
What-if: the calls a cache of 30 s, 5 min, or until the token's exp would have removed
(the usual gateway settings: Kong 30 s, mod_auth_openidc until expiry).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from inspector.analyzer.kinds.base import Verdict, WhatIf, facts, key_text, num, what_if_label
from inspector.analyzer.tokens import Issuances
from inspector.schema.events import Event

WHAT_IF_TTLS: tuple[float | None, ...] = (30.0, 300.0, None)  # None: until the token's exp


class Introspection:
    kind = "introspection"
    PARTS = (("client_id", "client"), ("token_fp", "token"))
    KEYS = 10_000

    def __init__(self) -> None:
        self._valid: OrderedDict[str, Issuances] = OrderedDict()
        self._answers: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._what_if = [(ttl, WhatIf(ttl if ttl is not None else math.inf)) for ttl in WHAT_IF_TTLS]
        self.active = self.inactive = self.no_exp = 0

    def key(self, ev: Event) -> str:
        return key_text(self.kind, ev.get("key"), self.PARTS)

    def judge(self, ev: Event, key: str, ts: float, end: float, ok: bool) -> Verdict:
        f = facts(ev, "introspection")
        active = f.get("active")
        if ok and not isinstance(active, bool):
            return Verdict(unreadable=True)
        exp = num(f.get("exp"))
        if exp is None:
            exp = num(f.get("token_exp"))
        iss = self._valid.get(key)
        v = Verdict(redundant=bool(iss is not None and iss.valid_at(ts)))
        cacheable = ok and active is True
        for ttl, w in self._what_if:
            if ttl is None:
                w.call(key, ts, end, cacheable and exp is not None, exp if exp is not None else math.inf)
            else:
                w.call(key, ts, end, cacheable, exp if exp is not None else math.inf)
        if not ok:
            return v
        fp = f.get("fp")
        if isinstance(fp, str):
            v.identical = (key, fp) in self._answers
            self._answers[(key, fp)] = None
            if len(self._answers) > self.KEYS:
                self._answers.popitem(last=False)
        if active:
            self.active += 1
            if exp is None:
                self.no_exp += 1  # an active answer with no exp cannot make a later call redundant
            else:
                if iss is None:
                    iss = self._valid[key] = Issuances()
                    if len(self._valid) > self.KEYS:
                        self._valid.popitem(last=False)
                iss.add(end, exp)
        else:
            self.inactive += 1
        return v

    def extras(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "inactive": self.inactive,
            "active_without_exp": self.no_exp,
            "what_if": {what_if_label(ttl): w.removed for ttl, w in self._what_if},
        }
