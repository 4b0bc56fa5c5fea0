"""Forward auth (Envoy ext_authz, Traefik forwardAuth, Caddy forward_auth, nginx auth_request).

Key: endpoint + the fingerprint of the credential forwarded (Authorization, else Cookie).
The protocol gives a decision no lifetime, so "redundant" is a repeat within a window
(AnalyzerConfig.forward_auth_window_s, default 60 s) of an earlier decision for the same
key; the report also says what a decision cache of 1 s, 10 s and 60 s would have removed.
An allow and a deny are both decisions; a 5xx, 429 or broken connection is a failure.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from inspector.analyzer.kinds.base import Verdict, WhatIf, facts, key_text, what_if_label
from inspector.analyzer.tokens import Issuances
from inspector.schema.events import Event

WHAT_IF_TTLS = (1.0, 10.0, 60.0)


class ForwardAuth:
    kind = "forward_auth"
    PARTS = (("cred_fp", "cred"),)
    KEYS = 10_000

    def __init__(self, window: Callable[[], float]) -> None:
        self._window = window
        self._valid: OrderedDict[str, Issuances] = OrderedDict()
        self._decisions: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._what_if = [(ttl, WhatIf(ttl)) for ttl in WHAT_IF_TTLS]
        self.allow = self.deny = 0

    def key(self, ev: Event) -> str:
        return key_text(self.kind, ev.get("key"), self.PARTS)

    def judge(self, ev: Event, key: str, ts: float, end: float, ok: bool) -> Verdict:
        iss = self._valid.get(key)
        v = Verdict(redundant=bool(iss is not None and iss.valid_at(ts)))
        for _ttl, w in self._what_if:
            w.call(key, ts, end, ok)
        if not ok:
            return v
        decision = str(facts(ev, "forward_auth").get("decision") or ev.get("status"))
        if decision == "allow":
            self.allow += 1
        elif decision == "deny":
            self.deny += 1
        v.identical = (key, decision) in self._decisions
        self._decisions[(key, decision)] = None
        if len(self._decisions) > self.KEYS:
            self._decisions.popitem(last=False)
        if iss is None:
            iss = self._valid[key] = Issuances()
            if len(self._valid) > self.KEYS:
                self._valid.popitem(last=False)
        iss.add(end, end + self._window())
        return v

    def extras(self) -> dict[str, Any]:
        return {
            "window_s": self._window(),
            "allow": self.allow,
            "deny": self.deny,
            "what_if": {what_if_label(ttl): w.removed for ttl, w in self._what_if},
        }
