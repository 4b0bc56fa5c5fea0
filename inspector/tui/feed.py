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

import time
from pathlib import Path
from typing import Any

from inspector import events as E
from inspector.analyzer import Analyzer
from inspector.analyzer.core import AnalyzerConfig

RING = 10_000  # flow events the TUI holds (flows list, waterfall, save)

FILE = "file"


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

    # -- in --------------------------------------------------------------------------

    def ingest(self, batch: list[E.Event]) -> None:
        """Take a batch of events from a source. Cheap: no rendering, no messages."""
        ingest = self.analyzer.ingest
        for ev in batch:
            t = ev.get("type")
            if t == E.FLOW:
                ingest(ev)
                self._since_base += 1
            elif t == E.SUMMARY:
                report = ev.get("report")
                if isinstance(report, dict) and "flows" in report:
                    self._summary(report)
            elif t == E.SESSION:
                if self.session is None:
                    self.session = ev
                    ingest(ev)
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

    # -- out -------------------------------------------------------------------------

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
        found: dict[str, E.Event] = {}
        if not ids:
            return found
        for ev in reversed(self.analyzer.recent):
            fid = ev.get("id")
            if fid in ids and fid not in found:
                found[fid] = ev
                if len(found) == len(ids):
                    break
        return found

    def correlation_of(self, flow_id: str) -> tuple[str, str] | None:
        """(inbound id, mode) of a correlated hop, from the local analyzer's correlator."""
        for inbound_id, hops in reversed(self.analyzer.corr.hops_of.items()):
            for hop in hops:
                if hop.id == flow_id:
                    return inbound_id, hop.mode
        return None

    def save(self, path: Path) -> int:
        """Write the held flows, after the session event, as a JSONL capture. Returns flows written."""
        session = self.session or E.session_event(time.time(), source=self.source, key_id="")
        flows = list(self.analyzer.recent)
        with open(path, "wb") as fh:
            fh.write(E.encode(session))
            for ev in flows:
                fh.write(E.encode(ev))
            fh.write(E.encode(E.addon_event(time.time(), errors=self.addon_errors,
                                            dropped=self.addon_dropped + self.lost)))
        return len(flows)


def file_feed(path: str | Path, analyzer: Analyzer, label: str | None = None) -> Feed:
    """A Feed over an analyzer that already read a capture (inspector.sources.load.analyze_file).
    `label` is how the header names the file (default: the path as given)."""
    feed = Feed(label or str(path), FILE, analyzer=analyzer)
    if analyzer.session:
        feed.session = {"v": E.SCHEMA_VERSION, "type": E.SESSION, **analyzer.session}
    feed.addon_errors = analyzer.addon_errors
    feed.addon_dropped = analyzer.dropped
    return feed
