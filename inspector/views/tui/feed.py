"""What the TUI shows, kept apart from the widgets: a Feed is fed events, the UI reads it.

Why a separate object: the socket reader must never post a Textual message per event
(Textual falls behind at a few thousand messages a second). The reader only calls
`Feed.ingest(batch)`, which is plain Python; the app reads the Feed on one timer.

Figures come from one analyzer, never from a widget:
- live: the proxy's own analyzer, via the `summary` events of the stream (complete since
  the proxy started, even for a late viewer). The local analyzer only keeps the flow
  ring and the hop correlation for the flows list and the waterfall.
- file: the local analyzer, fed the whole capture.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from inspector.analyzer import Analyzer
from inspector.analyzer.core import AnalyzerConfig
from inspector.schema import events as E

RING = 10_000  # flow events the TUI holds (flows list, waterfall, save)

FILE = "file"
HANDOVER = 1024  # MultiFeed: each source's own ring, only to hand its new flows to the merged ring


def newest_by_id(events: Sequence[E.Event], ids: Collection[str]) -> dict[str, E.Event]:
    """The newest held event for each of `ids` (a flow id may repeat in a ring: the latest wins)."""
    found: dict[str, E.Event] = {}
    if not ids:
        return found
    for ev in reversed(events):
        fid = ev.get("id")
        if isinstance(fid, str) and fid in ids and fid not in found:
            found[fid] = ev
            if len(found) == len(ids):
                break
    return found


class Feed:
    """The state a view reads. `kind` is live or file; `state` is what the header shows."""

    def __init__(self, source: str, kind: str, *, ring: int = RING, analyzer: Analyzer | None = None) -> None:
        self.source = source
        self.kind = kind
        self.analyzer = analyzer or Analyzer(AnalyzerConfig(recent_flows=ring))
        self.state = FILE if kind == FILE else "connecting"
        self.reason = ""
        self.remote: dict[str, Any] | None = None  # the latest summary report from the proxy
        self.remote_at = 0.0
        self.session: E.Event | None = None
        self.addon_errors = 0
        self.addon_dropped = 0  # the proxy's stream drops (all clients)
        self.lost = 0  # flows the proxy counted that never reached this viewer
        self.bad_lines = 0
        self.version = 0  # bumps on every change a view could show
        self._lost_before = 0
        self._base_total: int | None = None
        self._since_base = 0
        self._snap: dict[str, Any] | None = None
        self._snap_version = -1
        # mitmdump restarts seen on a live stream: the first flow after each -> what to say
        self.restarts: dict[str, str] = {}
        self._restart_pending = ""

    # -- in --------------------------------------------------------------------------

    def ingest(self, batch: list[E.Event]) -> None:
        """Take a batch of events from a source. Cheap: no rendering, no messages."""
        ingest = self.analyzer.ingest
        for ev in batch:
            t = ev.get("type")
            if t == E.FLOW:
                ingest(ev)
                self._since_base += 1
                if self._restart_pending and ev.get("id"):
                    self.restarts[str(ev["id"])] = self._restart_pending
                    self._restart_pending = ""
            elif t == E.SUMMARY:
                report = ev.get("report")
                if isinstance(report, dict) and "flows" in report:
                    self._summary(report)
            elif t == E.SESSION:
                if self.session is None:
                    self.session = ev
                    ingest(ev)
                elif (ev.get("ts"), ev.get("key_id")) != (self.session.get("ts"), self.session.get("key_id")):
                    # A new proxy session on the same address: mitmdump restarted. Its KPIs
                    # start again from zero while the flows held here stay: mark the spot.
                    self.session = ev
                    self._restart_pending = "first flow after mitmdump restarted: the KPIs count from this flow on"
                # A (re)connection: the next summary is the new baseline for counting losses.
                self._lost_before = self.lost
                self._base_total = None
                self._since_base = 0
            elif t == E.ADDON:
                self.addon_errors = int(ev.get("errors") or 0)
                self.addon_dropped = int(ev.get("dropped") or 0)
        self.version += 1

    def _summary(self, report: dict[str, Any]) -> None:
        self.remote = report
        self.remote_at = time.monotonic()
        total = int(report.get("events") or sum(report["flows"].values()))
        if self._base_total is None:
            self._base_total = total
            self._since_base = 0
        else:
            # The stream is ordered: every flow the proxy counted before this summary was
            # queued to us before it, so any shortfall is a flow we never got.
            self.lost = self._lost_before + max(0, total - self._base_total - self._since_base)
        addon = report.get("addon") or {}
        self.addon_errors = int(addon.get("errors") or self.addon_errors)
        self.addon_dropped = int(addon.get("dropped") or self.addon_dropped)

    def set_state(self, state: str, reason: str = "") -> None:
        self.state, self.reason = state, reason
        self.version += 1

    # -- the same calls on one source and on several (MultiFeed) ---------------------

    multi = False
    source_width = 0  # no source column in the flows list

    @property
    def sources(self) -> list[Feed]:
        return [self]

    def ingest_from(self, i: int, batch: list[E.Event]) -> None:
        self.ingest(batch)

    def set_source_state(self, i: int, state: str, reason: str = "") -> None:
        self.set_state(state, reason)

    def feed_of(self, ev: E.Event | None) -> Feed:
        """The per-source feed a flow event came from (correlation, hops, its capture)."""
        return self

    def hops_for(self, inbound_id: str) -> list[Any]:
        return self.analyzer.hops_for(inbound_id)

    def restart_note(self, ev: E.Event | None) -> str:
        """Non-empty for the first flow after a mitmdump restart."""
        if ev is None or not self.restarts:
            return ""
        return self.restarts.get(str(ev.get("id")), "")

    # -- out -------------------------------------------------------------------------

    @property
    def ring(self) -> deque[E.Event]:
        """The held flow events, oldest first (the flows list reads it by append number)."""
        return self.analyzer.recent

    @property
    def flows_held(self) -> int:
        return len(self.analyzer.recent)

    @property
    def flows_seen(self) -> int:
        """Flow events ingested so far; the append number of the next one."""
        return self.analyzer.events

    def report(self) -> dict[str, Any]:
        """The snapshot every figure on screen comes from (see the module docstring)."""
        if self.kind != FILE and self.remote is not None:
            return self.remote
        if self._snap is None or self._snap_version != self.analyzer.events:
            self._snap = self.analyzer.snapshot()
            self._snap_version = self.analyzer.events
        return self._snap

    def event_at(self, k: int) -> E.Event | None:
        """The flow event with append number k, if still held."""
        ring = self.analyzer.recent
        first = self.analyzer.events - len(ring)
        if first <= k < self.analyzer.events:
            return ring[k - first]
        return None

    def find(self, ids: set[str]) -> dict[str, E.Event]:
        """Held flow events by id, newest first, stopping once all are found."""
        return newest_by_id(self.analyzer.recent, ids)

    def correlation_of(self, flow_id: str) -> tuple[str, str] | None:
        """(inbound id, mode) of a correlated hop, from the local analyzer's correlator."""
        for inbound_id, hops in reversed(self.analyzer.corr.hops_of.items()):
            for hop in hops:
                if hop.id == flow_id:
                    return inbound_id, hop.mode
        return None

    def save(self, path: Path, flows: list[E.Event] | None = None) -> int:
        """Write the held flows (or `flows`), after the session event, as a JSONL capture.
        Returns flows written."""
        session = self.session or E.session_event(time.time(), source=self.source, key_id="")
        flows = list(self.analyzer.recent) if flows is None else flows
        with open(path, "wb") as fh:
            fh.write(E.encode(session))
            for ev in flows:
                fh.write(E.encode(ev))
            fh.write(
                E.encode(
                    E.addon_event(
                        self.analyzer.now or time.time(),
                        errors=self.addon_errors,
                        dropped=self.addon_dropped + self.lost,
                    )
                )
            )
        return len(flows)


def file_feed(path: str | Path, analyzer: Analyzer, label: str | None = None) -> Feed:
    """A Feed over an analyzer that already read a capture (inspector.capture.load.analyze_file).
    `label` is how the header names the file (default: the path as given)."""
    feed = Feed(label or str(path), FILE, analyzer=analyzer)
    if analyzer.session:
        feed.session = {"v": E.SCHEMA_VERSION, "type": E.SESSION, **analyzer.session}
    feed.addon_errors = analyzer.addon_errors
    feed.addon_dropped = analyzer.dropped
    return feed


def short_names(addresses: Sequence[str]) -> list[str]:
    """How the flows list names each source: `:PORT` when all share one host, else HOST:PORT."""
    hosts = {a.rsplit(":", 1)[0] for a in addresses}
    if len(hosts) == 1:
        return [":" + a.rsplit(":", 1)[-1] for a in addresses]
    return list(addresses)


class MultiFeed:
    """Several live streams in one view (`tokentax attach A B ...`).

    Each source is a `Feed` of its own: its connection state, its latest summary report,
    its drops, and a local analyzer whose hop correlation serves that source's waterfall
    (correlating flows across proxies by time would pair hops with the wrong gateway's
    requests). The flow events themselves are held once, in one merged ring, each tagged
    with `source` (its stream's HOST:PORT): the per-source analyzers keep only a small
    ring, enough to hand over each batch's events, so N sources hold no more flows than
    one. The figures are `aggregate.combine()` over the sources' reports, recomputed only
    when one of them changed. Ingest stays plain Python: each reader calls
    `ingest_from(i, batch)`.
    """

    multi = True
    kind = "live"

    def __init__(self, addresses: Sequence[str], *, ring: int = RING, recombine_s: float = 0.5) -> None:
        self.names = list(addresses)
        self.shorts = short_names(self.names)
        self.sources: list[Feed] = [Feed(a, "live", ring=HANDOVER) for a in self.names]
        self._by_name = dict(zip(self.names, self.sources))
        self._short = dict(zip(self.names, self.shorts))
        self.ring: deque[E.Event] = deque(maxlen=ring)
        self.flows_seen = 0
        self.version = 0
        self.session: E.Event | None = None
        self.source = f"{len(self.names)} sources"
        # the flows list's source column: the title fits, a long HOST:PORT is cut
        self.source_width = min(21, max([len("source"), *(len(n) for n in self.shorts)]))
        self._empty: dict[str, Any] | None = None
        self._report: dict[str, Any] | None = None
        self._report_key: tuple[Any, ...] | None = None
        self._report_at = 0.0
        # N proxies each send a summary every 0.5 s: summing them on every arrival would redraw
        # the KPIs and sparklines N times as often as one proxy does. A new connection state
        # is shown at once.
        self.recombine_s = recombine_s

    # -- in --------------------------------------------------------------------------

    def ingest_from(self, i: int, batch: list[E.Event]) -> None:
        feed = self.sources[i]
        analyzer = feed.analyzer
        name = self.names[i]
        append = self.ring.append
        for at in range(0, len(batch), HANDOVER):  # at most a ring's worth at a time: none is missed
            before = analyzer.events
            feed.ingest(batch[at : at + HANDOVER] if len(batch) > HANDOVER else batch)
            new = analyzer.events - before
            if new:
                # the analyzer's own (sanitised) event objects, as the single-source ring holds them
                for ev in list(itertools.islice(reversed(analyzer.recent), new))[::-1]:
                    ev["source"] = name
                    append(ev)
                self.flows_seen += new
        self.version += 1

    def set_source_state(self, i: int, state: str, reason: str = "") -> None:
        self.sources[i].set_state(state, reason)
        self.version += 1

    # -- out -------------------------------------------------------------------------

    def label_of(self, name: Any) -> str:
        return self._short.get(name, str(name or "?"))

    @property
    def state(self) -> str:
        states = [f.state for f in self.sources]
        if "live" in states:
            return "live"
        return "connecting" if all(s == "connecting" for s in states) else "disconnected"

    @property
    def reason(self) -> str:
        return ""

    @property
    def flows_held(self) -> int:
        return len(self.ring)

    @property
    def addon_errors(self) -> int:
        return sum(f.addon_errors for f in self.sources)

    @property
    def addon_dropped(self) -> int:
        return sum(f.addon_dropped for f in self.sources)

    @property
    def lost(self) -> int:
        return sum(f.lost for f in self.sources)

    def empty_report(self) -> dict[str, Any]:
        if self._empty is None:
            self._empty = Analyzer(AnalyzerConfig(recent_flows=0)).snapshot()
        return self._empty

    def report(self) -> dict[str, Any]:
        """The sum over the sources' latest summary reports (inspector.analyzer.combine)."""
        from inspector.analyzer.combine import combine

        key = tuple((id(f.remote), f.state) for f in self.sources)
        if self._report is not None and key != self._report_key:
            states_same = self._report_key is not None and all(a[1] == b[1] for a, b in zip(key, self._report_key))
            if states_same and time.monotonic() - self._report_at < self.recombine_s:
                return self._report
        if self._report is None or key != self._report_key:
            self._report_at = time.monotonic()
            empty = self.empty_report()
            self._report = combine(
                [f.remote or empty for f in self.sources], self.names, [f.state == "live" for f in self.sources]
            )
            self._report_key = key
        return self._report

    def event_at(self, k: int) -> E.Event | None:
        ring = self.ring
        first = self.flows_seen - len(ring)
        if first <= k < self.flows_seen:
            return ring[k - first]
        return None

    def feed_of(self, ev: E.Event | None) -> Feed:
        if ev is not None:
            feed = self._by_name.get(ev.get("source"))  # type: ignore[arg-type]
            if feed is not None:
                return feed
        return self.sources[0]

    def restart_note(self, ev: E.Event | None) -> str:
        return self.feed_of(ev).restart_note(ev) if ev is not None else ""

    def save_source(self, i: int, path: Path) -> int:
        """One source's held flows as a capture of its own (its session, its fingerprint key)."""
        name = self.names[i]
        return self.sources[i].save(path, [ev for ev in self.ring if ev.get("source") == name])

    def find(self, ids: set[str]) -> dict[str, E.Event]:
        return newest_by_id(self.ring, ids)
