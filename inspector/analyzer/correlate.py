"""Which inbound request caused an outbound hop.

Exact where a trace id travelled through the gateway. Otherwise by time containment:
a hop inside exactly one inbound request's interval is *inferred*; inside several it is
*ambiguous* and left uncorrelated. Hops finish before the inbound request that caused
them, so they wait in a bounded pending buffer (ordered by arrival, which is their end
time) until inbound requests complete. Work per inbound request is proportional to the
hops that ended during it, not to the buffer.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

MODES = ("exact", "inferred", "ambiguous", "none")


@dataclass(slots=True, eq=False)
class Hop:
    id: str
    role: str
    start: float
    end: float
    trace: str | None
    inbound: str | None = None
    mode: str = "none"
    candidates: int = 0


class Correlator:
    def __init__(self, pending_seconds: float = 120.0, limit: int = 20_000) -> None:
        self.pending_seconds = pending_seconds
        self.limit = limit
        self._pending: deque[Hop] = deque()  # every hop not yet correlated exactly, in arrival order
        self._untraced: deque[Hop] = deque()  # the subset without a trace id
        self._pending_by_trace: OrderedDict[str, list[Hop]] = OrderedDict()
        self.hops_of: OrderedDict[str, list[Hop]] = OrderedDict()  # inbound id -> its hops
        self.counts = dict.fromkeys(MODES, 0)
        self.traces_forwarded = False  # learned: some hop carried its inbound request's trace id
        # Called once a hop is known to lie on some inbound request's path (exact, inferred
        # or ambiguous): the token tax counts only calls a request waited for.
        self.on_match: Callable[[Hop], None] | None = None

    def _set_mode(self, hop: Hop, mode: str, inbound: str | None) -> None:
        if hop.inbound is not None and hop.inbound != inbound:
            lst = self.hops_of.get(hop.inbound)
            if lst is not None and hop in lst:
                lst.remove(hop)
        self.counts[hop.mode] -= 1
        self.counts[mode] += 1
        hop.mode = mode
        if inbound is not None and hop.inbound != inbound:
            lst = self.hops_of.get(inbound)
            if lst is None:
                lst = self.hops_of[inbound] = []
                if len(self.hops_of) > self.limit:
                    self.hops_of.popitem(last=False)
            lst.append(hop)
        hop.inbound = inbound
        if mode != "none" and self.on_match is not None:
            self.on_match(hop)

    def add_hop(self, hop: Hop) -> None:
        self.counts["none"] += 1
        horizon = hop.end - self.pending_seconds
        for q in (self._pending, self._untraced) if hop.trace is None else (self._pending,):
            q.append(hop)
            while len(q) > self.limit or q[0].end < horizon:
                q.popleft()
        if hop.trace is not None:
            lst = self._pending_by_trace.get(hop.trace)
            if lst is None:
                lst = self._pending_by_trace[hop.trace] = []
                if len(self._pending_by_trace) > self.limit:
                    self._pending_by_trace.popitem(last=False)
            lst.append(hop)

    def add_inbound(self, inbound_id: str, start: float, end: float, trace: str | None) -> None:
        if trace is not None:
            for hop in self._pending_by_trace.pop(trace, ()):
                if start - 1.0 <= hop.start <= end + 1.0:
                    self._set_mode(hop, "exact", inbound_id)
                    self.traces_forwarded = True
        # Containment: walk back over hops that ended during this request. Once the gateway
        # is known to forward trace ids, traced hops are matched by id alone.
        for hop in reversed(self._untraced if self.traces_forwarded else self._pending):
            if hop.end < start:
                break
            if hop.mode == "exact" or hop.end > end or hop.start < start:
                continue
            if self.traces_forwarded and hop.trace is not None and trace is not None and hop.trace != trace:
                continue
            hop.candidates += 1
            if hop.candidates == 1:
                self._set_mode(hop, "inferred", inbound_id)
            elif hop.mode == "inferred":
                self._set_mode(hop, "ambiguous", None)
