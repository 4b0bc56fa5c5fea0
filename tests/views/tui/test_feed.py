"""The Feed: what the UI reads, fed by a stream or a capture."""

from __future__ import annotations

import json
from pathlib import Path

from inspector.capture.load import analyze_file
from inspector.schema import events as E
from inspector.views.tui.components.status import status_text
from inspector.views.tui.feed import Feed
from tests.support.factory import flow


def summary(events: int, dropped: int = 0) -> E.Event:
    return {
        "v": 1,
        "type": "summary",
        "ts": 1.0,
        "report": {"events": events, "flows": {"inbound": events}, "addon": {"errors": 0, "dropped": dropped}},
    }


def test_flows_the_proxy_counted_but_we_never_got_are_lost() -> None:
    feed = Feed("127.0.0.1:1", "live")
    feed.ingest([E.session_event(0.0, source="live", key_id="a"), summary(10)])
    feed.ingest([flow("inbound", 1.0 + i, 1) for i in range(3)] + [summary(15)])
    assert feed.lost == 2
    # a reconnect (new session) starts a new baseline; earlier losses stay counted
    feed.ingest([E.session_event(5.0, source="live", key_id="b"), summary(0)])
    feed.ingest([flow("inbound", 9.0, 1), flow("inbound", 9.5, 1), summary(2, dropped=4)])
    assert feed.lost == 2
    assert feed.addon_dropped == 4
    assert feed.flows_seen == 5


def test_live_figures_come_from_the_proxy_summary() -> None:
    feed = Feed("x:1", "live")
    assert feed.report()["flows"]["inbound"] == 0  # before any summary: the local (empty) analyzer
    s = summary(7)
    feed.ingest([s])
    assert feed.report() is s["report"]


def test_event_at_follows_the_bounded_ring() -> None:
    feed = Feed("x:1", "live", ring=3)
    evs = [flow("inbound", float(i), 1) for i in range(5)]
    feed.ingest(evs)
    assert feed.event_at(0) is None and feed.event_at(1) is None
    assert [feed.event_at(k) for k in (2, 3, 4)] == evs[2:]
    assert feed.event_at(5) is None


def test_save_writes_a_capture_that_reads_back(tmp_path: Path, capture: Path) -> None:
    feed = Feed(str(capture), "live")
    feed.ingest([json.loads(line) for line in capture.read_text().splitlines()])
    out = tmp_path / "saved.jsonl"
    n = feed.save(out)
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["type"] == "session"
    assert json.loads(lines[-1])["type"] == "addon"
    assert n == len(lines) - 2 == feed.flows_held
    again = analyze_file(out, show_progress=False)
    original = analyze_file(capture, show_progress=False)
    assert again.snapshot()["callouts"] == original.snapshot()["callouts"]
    text = out.read_text()
    assert "access_token" not in text and "Bearer " not in text and "eyJ" not in text


def test_the_header_shows_missing_flows_within_80_columns() -> None:
    """At 80 columns the header's end is cut: the warning about missing flows and addon errors
    comes before the explanation of what the list covers, so it is the part that shows."""
    feed = Feed("127.0.0.1:45519", "live")
    feed.ingest([E.session_event(0.0, source="live", key_id="a"), summary(10)])
    feed.ingest([flow("inbound", 1.0 + i, 1) for i in range(3)] + [summary(15, dropped=4)])
    assert feed.lost == 2 and feed.addon_dropped == 4
    shown = status_text(feed, paused=False).plain[:80]
    assert "⚠ 6 flows missing" in shown, shown
