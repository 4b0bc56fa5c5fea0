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
