"""The HTML report (self-contained, escaped, with charts) and `tokentax diff` on real sessions."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from inspector.analyzer import Analyzer
from inspector.analyzer.waterfall import sample_waterfall
from inspector.capture.load import analyze_file
from inspector.commands.main import main
from inspector.views.report.diff import diff, figures_of
from inspector.views.report.html import rates_svg, to_html

from .conftest import Session


def test_html_report_is_self_contained(naive_session: Session, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(naive_session.capture), "-f", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for banned in ("<script", "http://", "https://", "<link", "@import", "url("):
        assert banned not in page, banned
    snap = analyze_file(naive_session.capture, show_progress=False).snapshot()
    for f in snap["findings"]:  # the same findings text as the other formats
        assert html.escape(f["title"], quote=True) in page
        for ev in f["evidence"]:
            assert html.escape(ev, quote=True) in page
    assert page.count("<svg") == 2
    assert 'aria-label="hop waterfall of one inbound request"' in page
    assert "(callout, exact)" in page and "(backend, exact)" in page


def test_waterfall_rows_from_the_analyzer(naive_session: Session) -> None:
    an = analyze_file(naive_session.capture, show_progress=False)
    rows = sample_waterfall(an)
    assert [r["role"] for r in rows] == ["inbound", "callout", "backend"]
    assert rows[0]["mode"] == "request" and rows[0]["start_ms"] == 0
    assert all(r["mode"] == "exact" for r in rows[1:])
    assert rows[1]["start_ms"] <= rows[2]["start_ms"] <= rows[0]["total"]
    for r in rows:
        assert set(r) >= {"label", "role", "start_ms", "connect", "tls", "wait", "receive", "total", "mode"}
    # the slowest inbound request with hops
    slowest = max((e for e in an.recent if e["role"] == "inbound"), key=lambda e: e["timing"]["ttfb"])
    assert rows[0]["total"] == slowest["timing"]["total"]
    assert sample_waterfall(Analyzer()) == []


def test_html_escapes_everything_from_traffic() -> None:
    snap = Analyzer().snapshot()
    evil = '<script>alert("x")</script>'
    snap["findings"] = [{"id": "token-refetch", "severity": "critical", "title": evil, "evidence": [evil]}]
    snap["routes"] = [
        {"role": "backend", "route": f"GET h:1/{evil}", "count": 1, "errors": 0, "p50_ms": 1.0, "p95_ms": 1.0}
    ]
    rows = [
        {
            "label": evil,
            "role": "inbound",
            "start_ms": 0,
            "connect": 0,
            "tls": 0,
            "send": 1,
            "wait": 5,
            "receive": 1,
            "total": 7,
            "mode": "request",
        }
    ]
    page = to_html(snap, rows)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_rates_chart_draws_both_series() -> None:
    svg = rates_svg(
        {
            "series": {"inbound": [0, 0, 3, 4, 2], "callout": [0, 0, 3, 4, 2], "redundant": [0, 0, 2, 4, 2]},
            "series_end": 1_700_000_000,
        }
    )
    assert svg.count("<polyline") == 3
    points = re.findall(r'points="([^"]+)"', svg)
    assert all(len(p.split()) == 5 for p in points)
    assert "No traffic" in rates_svg({"series": {"inbound": [0, 0], "callout": [0, 0]}})


def test_diff_naive_vs_cached_shows_the_tax_gone(naive_session: Session, cached_session: Session) -> None:
    before = analyze_file(naive_session.capture, show_progress=False).snapshot()
    after = analyze_file(cached_session.capture, show_progress=False).snapshot()
    d = diff(before, after)
    assert d["tax_gone"] is True
    rows = {r["name"]: r for r in d["figures"]}
    assert rows["callouts_per_request"]["before"] == 1.0
    assert rows["callouts_per_request"]["after"] == round(1 / cached_session.requests, 3)
    assert rows["callouts_per_request"]["verdict"] == "better"
    assert rows["tax_ms_per_request"]["before"] > 0 and rows["tax_ms_per_request"]["after"] == 0
    assert rows["redundant_pct"]["after"] == 0 and rows["redundant_pct"]["verdict"] == "better"
    assert rows["tax_ms_per_request"]["delta"] == -rows["tax_ms_per_request"]["before"]
    assert "token-refetch" in [f["id"] for f in d["findings"]["gone"]]
    assert "token-refetch" not in [f["id"] for f in d["findings"]["appeared"]]
    back = diff(after, before)  # and the other way round it appears
    assert back["tax_gone"] is False and "token-refetch" in [f["id"] for f in back["findings"]["appeared"]]


def test_diff_cli_formats(naive_session: Session, cached_session: Session, capsys) -> None:
    assert main(["diff", str(naive_session.capture), str(cached_session.capture)]) == 0
    text = capsys.readouterr().out
    assert "The token tax is gone" in text and "gone" in text and "[token-refetch]" in text
    assert (
        main(
            [
                "diff",
                str(naive_session.raw),
                str(cached_session.raw),
                "--inbound",
                ",".join(str(p) for p in (naive_session.inbound_port, cached_session.inbound_port)),
                "-f",
                "json",
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["schema"] == "tokentax.diff/1" and d["tax_gone"] is True
    assert main(["diff", str(naive_session.capture), str(cached_session.capture), "-f", "md"]) == 0
    assert "| callouts per request | 1.00 |" in capsys.readouterr().out


def test_diff_of_empty_sessions_does_not_guess() -> None:
    empty = Analyzer().snapshot()
    d = diff(empty, empty)
    assert d["tax_gone"] is False
    assert all(r["verdict"] in ("n/a", "same") for r in d["figures"])
    assert figures_of(empty)["auth_calls_per_hour"] is None
