"""`rates.series` covers the capture's span, not the whole window (issue 13, item 18)."""

from __future__ import annotations

import re

from inspector.analyzer.rates import RateWindow
from inspector.views.report.html import _window_caption, chart_window, rates_svg


def test_series_does_not_reach_back_before_the_first_second() -> None:
    w = RateWindow(600)
    for t in range(1000, 1011):  # an 11 s capture
        w.add("inbound", t + 0.5)
    s = w.series("inbound", 1010.9, 180)
    assert len(s) == 11 and s == [1] * 11
    assert RateWindow(600).series("inbound", 5.0, 10) == [0] * 10  # nothing counted: the window as before
    assert w.rate("inbound", 1011.0, 10, since=1000.5) == 1.0


def test_chart_ticks_are_even_and_the_caption_matches_the_window() -> None:
    rates = {"series": {"inbound": [0] * 3 + [1] * 38, "callout": [0] * 3 + [1] * 38}, "series_end": 0}
    m = len(next(iter(chart_window(rates).values())))
    svg = rates_svg(rates)
    ticks = [int(x) for x in re.findall(r">-(\d+) s<", svg)]
    assert ticks == sorted(ticks) and len({b - a for a, b in zip([0, *ticks], ticks)}) == 1, ticks
    assert _window_caption(m) == f"The last {m} s of the session, per second."


def test_counts_stay_in_their_second_when_the_ring_wraps_and_events_arrive_late() -> None:
    """The ring reuses a second's slot 600 s later: the counts of the new second start from zero,
    a late event for a second still held is counted in it, and one older than the ring is not."""
    w = RateWindow(600)
    for ts in (100.1, 100.2, 101.5, 100.9):  # the last one late, its second still in the ring
        w.add("inbound", ts)
    assert w.series("inbound", 101.9, 2) == [3, 1]
    w.add("inbound", 700.3)  # slot of second 100, now second 700
    w.add("callout", 700.4)
    w.add("inbound", 100.5)  # older than the ring: dropped, and second 700 keeps its counts
    w.add("inbound", 100.7)  # again: the dropped second must not become the last counted one
    w.add("inbound", 700.6)
    assert w.series("inbound", 700.9, 1) == [2]
    assert w.series("callout", 700.9, 1) == [1]
    assert w.series("inbound", 701.9, 2) == [2, 0]  # second 101's slot was never reused: not counted as 701
