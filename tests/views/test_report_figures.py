"""The report renderers and diff show exact percentiles with min and max, "—" for unknown
figures, and the report's notes."""

from __future__ import annotations

from inspector.analyzer import Analyzer
from inspector.views.report.diff import diff, fmt_value
from inspector.views.report.html import to_html
from inspector.views.report.render import render
from tests.support import factory as F

CLUSTER = [801.8, 802.0, 802.4, 802.8, 803.1, 805.4, 808.9]  # p50 802.8, p95 807.85


def _session(with_inbound: bool) -> dict:
    a = Analyzer()
    for i, v in enumerate(CLUSTER):
        a.ingest(F.callout(1000.0 + i * 20, v, fp=f"fp{i}"))
        if with_inbound:
            a.ingest(F.flow("inbound", 1000.0 + i * 20, v + 30, port=8080))
    return a.snapshot()


def test_text_md_html_show_min_p50_p95_max() -> None:
    s = _session(True)
    c = s["callouts"]
    assert (c["min_ms"], c["p50_ms"], c["p95_ms"], c["max_ms"]) == (801.8, 802.8, 807.85, 808.9)
    want = "min 802 ms  p50 803 ms  p95 808 ms  max 809 ms"
    assert want in render(s, "text")
    assert f"| callout latency | {want} |" in render(s, "md")
    assert "min 832 ms  p50 833 ms  p95 838 ms  max 839 ms" in to_html(s)


def test_diff_compares_min_and_max_and_shows_unknowns_as_a_dash() -> None:
    before, after = _session(False), _session(True)
    rows = {r["name"]: r for r in diff(before, after)["figures"]}
    assert rows["callout_min_ms"]["before"] == 801.8 and rows["callout_max_ms"]["after"] == 808.9
    assert rows["callout_p95_ms"]["before"] == 807.85
    assert rows["tax_ms_per_request"]["before"] is None  # no inbound requests: unknown, not 0
    assert rows["inbound_ttfb_min_ms"]["before"] is None and rows["inbound_ttfb_min_ms"]["after"] == 831.8
    assert fmt_value(None, "ms") == "—"
    assert rows["auth_calls_per_hour"]["before"] == round(7 / (s := before["span"]["seconds"]) * 3600, 1)
    assert s >= 60


def test_notes_are_printed_where_figures_are_unknown() -> None:
    s = _session(False)
    text, md, page = render(s, "text"), render(s, "md"), to_html(s)
    reason = next(n["reason"] for n in s["notes"] if n["figure"] == "tax.ms_per_inbound")
    assert "Notes" in text and "tax.ms_per_inbound" in text and reason[:40] in text
    assert f"- `tax.ms_per_inbound`: {reason}" in md
    assert "<code>tax.ms_per_inbound</code>" in page
