"""Token fetches told apart: on a request's path or in the background, answered by the
origin or by a relay, nested inside another callout or not (docs/findings.md).

- On the request path: a callout that an inbound request waited for (the correlator
  matched it by trace id or time containment, ambiguous included). Only those are
  charged to the token tax. The others are background refreshes. At the live edge the
  split is provisional: the inbound request that contains a callout arrives after it.
- Origin and relay: the endpoint that first returned a token fingerprint is that
  token's origin; an endpoint that answers with a token first issued elsewhere is a
  relay (a cache in front of the auth server, such as the loopback API). Auth-server
  load (avoidable calls per hour, whether the server reuses tokens) is read from origin
  answers only.
- Nested: a token callout to an origin that lies inside a callout to a relay of that
  origin (the relay's own miss; trace ids, where both carry one, must agree). Its time
  is already part of the outer call, so the tax counts it once, in the outer call.

Memory is bounded: the fingerprint -> origin map is an LRU, endpoints are capped, and
nesting looks back over a fixed ring of recent callouts.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict, deque
from dataclasses import dataclass
from typing import Any

from inspector.analyzer.correlate import Hop
from inspector.analyzer.tokens import KeyState

OTHER_ENDPOINTS = "(other endpoints)"


@dataclass(slots=True, eq=False)
class CalloutHop(Hop):
    """A token callout as the correlator sees it, plus what the tax needs to know of it."""

    endpoint: str = ""
    kind: str = "token"
    ks: KeyState | None = None
    cost_ms: float = 0.0
    redundant: bool = False
    on_path: bool = False
    nested: bool = False
    charged: bool = False


class TokenLedger:
    LOOKBACK = 2_000  # recent callouts examined for nesting
    MAX_ENDPOINTS = 256

    def __init__(self, max_fps: int = 50_000) -> None:
        self.max_fps = max_fps
        self.issuer: OrderedDict[str, str] = OrderedDict()  # fingerprint -> endpoint that first returned it
        self.relays: dict[str, set[str]] = {}  # endpoint that answered with a token issued elsewhere -> origins
        self.client_fps: OrderedDict[str, None] = OrderedDict()  # bearers the gateway received from callers
        self.recent: deque[CalloutHop] = deque(maxlen=self.LOOKBACK)
        self.redundant_at: Counter[str] = Counter()  # endpoint -> redundant callouts to it
        self.redundant_at_kind: dict[str, Counter[str]] = {}  # kind -> endpoint -> redundant callouts
        self.calls_at: Counter[str] = Counter()  # endpoint -> callouts to it
        self.callouts = 0
        self.on_path = 0
        self.nested = 0
        self.background = 0
        self.proactive = 0
        self.origin = 0
        self.relayed = 0
        self.relay_hits = 0  # relayed answers to redundant fetches: the cache's hits
        self.relay_hits_ms = 0.0
        self.identical_origin = 0
        self.tax_ms = 0.0
        self.tax_calls = 0
        # per kind: on_path, background, nested, tax_calls, tax_ms (the same split, for callouts.by_kind)
        self.per_kind: dict[str, defaultdict[str, float]] = {}

    # -- callouts ----------------------------------------------------------------------

    def hop(self, ev: dict[str, Any], ts: float, end: float, trace: str | None) -> CalloutHop:
        """A callout event's hop, for the correlator; judged later by `judged`."""
        key = ev.get("key") or {}
        endpoint = str(key.get("endpoint") or ev.get("host") or "?")
        kind = ev.get("kind")
        return CalloutHop(
            ev.get("id", ""),
            "callout",
            ts,
            end,
            trace,
            endpoint=endpoint,
            kind=kind if isinstance(kind, str) else "token",
        )

    def judged(self, hop: CalloutHop, ks: KeyState, verdict: str | None, cost_ms: float, token_kind: bool) -> None:
        """Count the callout: `verdict` from KeyState.judge; nesting checked for token callouts."""
        self.callouts += 1
        hop.ks = ks
        hop.cost_ms = cost_ms
        hop.redundant = verdict == "redundant"
        if verdict == "proactive":
            self.proactive += 1
            ks.proactive += 1
        known = hop.endpoint in self.calls_at or len(self.calls_at) < self.MAX_ENDPOINTS
        ep = hop.endpoint if known else OTHER_ENDPOINTS
        self.calls_at[ep] += 1
        if hop.redundant:
            self.redundant_at[ep] += 1
            at_kind = self.redundant_at_kind.get(hop.kind)
            if at_kind is None:
                at_kind = self.redundant_at_kind[hop.kind] = Counter()
            at_kind[ep] += 1
        self._add(hop, 1)
        if token_kind:
            self.recent.append(hop)
            self._nesting(hop)

    def matched(self, hop: Hop) -> None:
        """Correlator hook: `hop` lies on some inbound request's path."""
        if isinstance(hop, CalloutHop) and not hop.on_path and hop.ks is not None:
            self._add(hop, -1)
            hop.on_path = True
            self._add(hop, 1)

    def answered(self, hop: CalloutHop, ks: KeyState, fp: str, cost_ms: float) -> bool:
        """A successful answer carrying token `fp`; True when the endpoint is the token's origin."""
        first = self.issuer.get(fp)
        if first is None:
            self.issuer[fp] = hop.endpoint
            if len(self.issuer) > self.max_fps:
                self.issuer.popitem(last=False)
        else:
            self.issuer.move_to_end(fp)
        if first is None or first == hop.endpoint:
            self.origin += 1
            ks.origin += 1
            if first is not None:
                self.identical_origin += 1
            return True
        self.relayed += 1
        if hop.redundant:
            self.relay_hits += 1
            self.relay_hits_ms += cost_ms
        ks.relayed += 1
        origins = self.relays.get(hop.endpoint)
        if origins is None and len(self.relays) < self.MAX_ENDPOINTS:
            origins = self.relays[hop.endpoint] = set()
        if origins is not None and len(origins) < 16:
            origins.add(first)
        self._nesting(hop)
        return False

    def client_bearer(self, fp: str) -> None:
        self.client_fps[fp] = None
        self.client_fps.move_to_end(fp)
        if len(self.client_fps) > self.max_fps:
            self.client_fps.popitem(last=False)

    # -- internals ---------------------------------------------------------------------

    def _add(self, hop: CalloutHop, sign: int) -> None:
        """Add (sign 1) or remove (sign -1) one hop's share of the path, nesting and tax counters."""
        ks = hop.ks
        assert ks is not None
        if hop.on_path:
            self.on_path += sign
            ks.on_path += sign
        if hop.nested:
            self.nested += sign
            ks.nested += sign
        if not hop.on_path and not hop.nested:
            self.background += sign
            ks.background += sign
        pk = self.per_kind.get(hop.kind)
        if pk is None:
            pk = self.per_kind[hop.kind] = defaultdict(float)
        pk["on_path" if hop.on_path else "nested" if hop.nested else "background"] += sign
        if hop.on_path and hop.nested:
            pk["nested"] += sign
        charged = hop.on_path and hop.redundant and not hop.nested
        if charged:
            pk["tax_calls"] += sign
            pk["tax_ms"] += sign * hop.cost_ms
        if charged:
            self.tax_ms += sign * hop.cost_ms
            self.tax_calls += sign

    def _nest(self, hop: CalloutHop) -> None:
        if not hop.nested and hop.ks is not None:
            self._add(hop, -1)
            hop.nested = True
            self._add(hop, 1)

    def _relays_to(self, outer: str, inner: str) -> bool:
        return inner in self.relays.get(outer, ())

    def _may_nest(self, endpoint: str) -> bool:
        """Whether `endpoint` is a known relay or a relay's origin: else no callout to it nests or holds one."""
        relays = self.relays
        return bool(relays) and (endpoint in relays or any(endpoint in o for o in relays.values()))

    def _nesting(self, hop: CalloutHop) -> None:
        """Mark `hop` or recent callouts nested where one is an origin call inside a call to its relay."""
        if not self._may_nest(hop.endpoint):
            return  # the walk below could only find pairs `_relays_to` rejects (the hot path: no relays)
        for other in reversed(self.recent):
            if other.end < hop.start - 1.0:
                break  # arrival order is end order, give or take: older ones ended earlier still
            if other is hop or (other.trace is not None and hop.trace is not None and other.trace != hop.trace):
                continue
            if hop.start <= other.start and other.end <= hop.end and self._relays_to(hop.endpoint, other.endpoint):
                self._nest(other)
            elif other.start <= hop.start and hop.end <= other.end and self._relays_to(other.endpoint, hop.endpoint):
                self._nest(hop)

    # -- read out ----------------------------------------------------------------------

    def auth_redundant(self, kind: str | None = None) -> int:
        """Redundant callouts (of `kind`, or any) that reached an auth server, not a relay: the load a
        cache would remove."""
        at = self.redundant_at if kind is None else self.redundant_at_kind.get(kind, Counter())
        return sum(n for ep, n in at.items() if ep not in self.relays)

    def auth_calls(self) -> int:
        """Callouts that reached an auth server (any endpoint not known as a relay)."""
        return sum(n for ep, n in self.calls_at.items() if ep not in self.relays)

    def is_client(self, fp: str) -> bool:
        return fp in self.client_fps

    def figures(self, path_known: bool) -> dict[str, Any]:
        """The `callouts` figures this ledger owns. `path_known` is False when no inbound request
        was seen and no inbound listener named: then on-path and background are unknown (null)."""
        return {
            "on_path": self.on_path if path_known else None,
            "background": self.background if path_known else None,
            "nested": self.nested,
            "proactive": self.proactive,
            "origin": self.origin,
            "relayed": self.relayed,
            "relay_hit_mean_ms": round(self.relay_hits_ms / self.relay_hits, 3) if self.relay_hits else None,
            "relays": sorted(self.relays),
            "identical_origin": self.identical_origin,
            "auth_calls": self.auth_calls(),
            "auth_redundant": self.auth_redundant(),
            "tax_calls": self.tax_calls if path_known else None,
        }

    def kind_figures(self, kind: str, path_known: bool) -> dict[str, Any]:
        """The on-path split for one kind's row in `callouts.by_kind`."""
        pk = self.per_kind.get(kind) or defaultdict(float)
        return {
            "on_path": pk["on_path"] if path_known else None,
            "background": pk["background"] if path_known else None,
            "nested": pk["nested"],
            "tax_calls": pk["tax_calls"] if path_known else None,
        }
