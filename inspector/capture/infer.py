"""Inbound requests recognised by containment, for captures without listener information.

A HAR file, or a raw flow file read without `--inbound`, does not say which flows came
from clients. The gateway's own hops do say it: while the gateway serves an inbound
request it calls the auth server and the backend, so the inbound flow's time span
contains those hops. The rule, per destination (host:port), not per flow, so that two
unrelated concurrent hops do not make one of them "inbound":

- a flow whose role came from no listener, rule or shape (`role_by` "default": the
  backend/other fallback) is a candidate; callouts found by their shape never are;
- a candidate *contains* a hop when another flow, to a different destination, starts at
  or after it and ends at or before it (within `EDGE_S`, HAR times are in milliseconds);
- a destination at least half of whose candidate flows contain a hop is the gateway's
  client-facing address: every candidate flow to it becomes `inbound`, `role_by`
  "containment".

The decision is made on the first `SAMPLE` flows (buffered, so memory stays bounded on
big flow files) and applied to the rest as they stream. The analyzer counts flows by
`role_by`, so the report says how many flows each rule classified.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from inspector.schema import events as E

SAMPLE = 5_000
EDGE_S = 0.002  # HAR timestamps and timings are whole milliseconds
MIN_SHARE = 0.5


def _dest(ev: E.Event) -> tuple[object, object]:
    return ev.get("host"), ev.get("port")


def inbound_destinations(flows: list[E.Event]) -> set[tuple[object, object]]:
    """Destinations whose candidate flows mostly contain another destination's hop."""
    spans = sorted(
        (
            (float(ev["ts"]), float(ev.get("end") or ev["ts"]), _dest(ev), ev.get("role_by") == "default")
            for ev in flows
            if isinstance(ev.get("ts"), (int, float))
        ),
        key=lambda s: s[0],
    )
    candidates: Counter[tuple[object, object]] = Counter()
    containing: Counter[tuple[object, object]] = Counter()
    for i, (start, end, dest, candidate) in enumerate(spans):
        if not candidate:
            continue
        candidates[dest] += 1
        # earlier-starting flows within the edge tolerance count too
        j = i
        while j > 0 and spans[j - 1][0] >= start - EDGE_S:
            j -= 1
        for k in range(j, len(spans)):
            s2, e2, d2, _ = spans[k]
            if s2 > end + EDGE_S:
                break
            if k != i and d2 != dest and e2 <= end + EDGE_S and (e2 - s2) < (end - start):
                containing[dest] += 1
                break
    return {d for d, n in candidates.items() if containing[d] and containing[d] >= MIN_SHARE * n}


def _reroled(ev: E.Event, inbound: set[tuple[object, object]]) -> E.Event:
    if ev.get("type") == E.FLOW and ev.get("role_by") == "default" and _dest(ev) in inbound:
        return {**ev, "role": "inbound", "role_by": "containment"}
    return ev


def infer_inbound(events: Iterable[E.Event], sample: int = SAMPLE) -> Iterator[E.Event]:
    """The same events, flows to the gateway's client-facing destination marked inbound."""
    it = iter(events)
    buffered: list[E.Event] = []
    flows: list[E.Event] = []
    for ev in it:
        buffered.append(ev)
        if ev.get("type") == E.FLOW:
            flows.append(ev)
            if len(flows) >= sample:
                break
    inbound = inbound_destinations(flows)
    for ev in buffered:
        yield _reroled(ev, inbound)
    for ev in it:
        yield _reroled(ev, inbound)


class LiveContainment:
    """The same rule, online, for a live proxy with no inbound listener named.

    Flows arrive as they finish, so an inbound request arrives after the hops it
    contains. Each candidate flow is checked against the recent flows (the last `window`
    finished ones) and its destination's tally updated; a flow is inbound when its
    destination's flows so far mostly contained another destination's hop. Memory: the
    ring of recent spans and one tally per destination (bounded by `max_dests`).
    """

    def __init__(self, window: int = 2_000, max_dests: int = 1_000) -> None:
        from collections import deque

        self.recent: deque[tuple[float, float, tuple[object, object]]] = deque(maxlen=window)
        self.candidates: Counter[tuple[object, object]] = Counter()
        self.containing: Counter[tuple[object, object]] = Counter()
        self.max_dests = max_dests

    def classify(self, ev: E.Event) -> E.Event:
        ts = ev.get("ts")
        if ev.get("type") != E.FLOW or not isinstance(ts, (int, float)):
            return ev
        start, end, dest = float(ts), float(ev.get("end") or ts), _dest(ev)
        if ev.get("role_by") == "default" and (dest in self.candidates or len(self.candidates) < self.max_dests):
            self.candidates[dest] += 1
            if any(
                d2 != dest and s2 >= start - EDGE_S and e2 <= end + EDGE_S and (e2 - s2) < (end - start)
                for s2, e2, d2 in self.recent
            ):
                self.containing[dest] += 1
            self.recent.append((start, end, dest))
            if self.containing[dest] and self.containing[dest] >= MIN_SHARE * self.candidates[dest]:
                return {**ev, "role": "inbound", "role_by": "containment"}
            return ev
        self.recent.append((start, end, dest))
        return ev
