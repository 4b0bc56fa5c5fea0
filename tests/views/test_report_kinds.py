"""Reports and diff show auth calls by kind when the report has `callouts.by_kind` (issue 11)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from inspector.capture.load import analyze_file
from inspector.views.report.diff import diff, render_diff
from inspector.views.report.render import render

DATA = Path(__file__).resolve().parents[1] / "data" / "naive_gateway.jsonl"


def snapshots() -> tuple[dict, dict]:
    plain = analyze_file(str(DATA)).snapshot()
    plain["callouts"].pop("by_kind", None)  # a report from before kinds: no table, no diff rows
    kinds = copy.deepcopy(plain)
    kinds["callouts"]["by_kind"] = {
        "token": {"total": 40, "redundant": 39, "identical": 39, "failed": 0, "p50_ms": 803.0, "p95_ms": 812.0},
        "introspection": {"total": 12, "redundant": 11, "identical": 0, "failed": 1, "p50_ms": None, "p95_ms": 40.5},
    }
    return plain, kinds


def test_text_md_html_show_the_kinds_table() -> None:
    plain, kinds = snapshots()
    text = render(kinds, "text", width=80)
    assert "Auth calls by kind" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("introspection"))
    assert line.split()[:5] == ["introspection", "12", "11", "0", "1"] and "—" in line  # unknown p50 is a dash
    assert max(len(x) for x in text.splitlines()) <= 80
    md = render(kinds, "md")
    assert "## Auth calls by kind" in md and "| introspection | 12 | 11 | 0 | 1 | — |" in md
    html = render(kinds, "html")
    assert "<h2>Auth calls by kind</h2>" in html and "<td>introspection</td>" in html
    # a report without kinds: no table, nothing invented
    for fmt in ("text", "md", "html"):
        assert "by kind" not in render(plain, fmt)


def test_diff_shows_kinds_before_and_after() -> None:
    plain, kinds = snapshots()
    cached = copy.deepcopy(kinds)
    cached["callouts"]["by_kind"] = {"token": {"total": 1, "redundant": 0, "identical": 0, "failed": 0}}
    d = diff(kinds, cached)
    rows = {r["kind"]: r for r in d["by_kind"]}
    assert rows["introspection"]["calls"] == {"before": 12, "after": 0}
    assert rows["token"]["redundant"] == {"before": 39, "after": 0}
    text = render_diff(d, "text")
    assert "Auth calls by kind" in text and "introspection" in text
    assert "## Auth calls by kind" in render_diff(d, "md")
    assert json.loads(render_diff(d, "json"))["by_kind"]
    # neither side has kinds: nothing shown
    assert diff(plain, plain)["by_kind"] == [] and "by kind" not in render_diff(diff(plain, plain), "text")
