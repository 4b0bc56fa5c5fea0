"""Several sources in one TUI, driven by Pilot over a fixed two-source feed (no sockets):
the source column, `source:NAME` in the filter, the Sources tab, per-source states in the
header, help, saving one capture per source, export of the combined report."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, TabbedContent

from inspector.analyzer import Analyzer
from inspector.analyzer.combine import combine
from inspector.capture.load import analyze_file
from inspector.views.tui.components.dialogs import HelpScreen
from inspector.views.tui.components.flow_list import FlowList, header_text, row_text
from inspector.views.tui.components.kpi import Kpi, kpi_values
from inspector.views.tui.components.sources import SourcesTable, source_rows
from inspector.views.tui.components.waterfall import Waterfall
from inspector.views.tui.feed import MultiFeed
from tests.support.pilot import screen_text
from tests.support.tui import MULTI, UTC, multi_app

SIZE = (160, 45)
A, B = MULTI


async def test_kpis_are_the_sum_of_the_sources_reports() -> None:
    app = multi_app()
    feed = app.feed
    assert isinstance(feed, MultiFeed)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        ra, rb = (f.remote for f in feed.sources)
        report = app._report
        assert report == combine([ra, rb], [A, B])
        assert report["flows"]["inbound"] == ra["flows"]["inbound"] + rb["flows"]["inbound"]
        for kid, (value, _sev) in kpi_values(report).items():
            assert value in str(app.query_one(f"#kpi-{kid}", Kpi).render()), kid
        text = screen_text(app)
        assert "live, sum of 2 sources" in text and "● :7391 live" in text and "● :7392 live" in text


async def test_source_column_and_filter_by_source() -> None:
    app = multi_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        fl = app.query_one(FlowList)
        assert fl.row_count == 126 and fl.source_w == len("source")
        assert header_text(fl.line_width, fl.source_w).split()[:3] == ["ended", "source", "role"]
        top, bottom = fl.event_of_row(0), fl.event_of_row(125)  # newest first: the second half is on top
        assert top["source"] == B and bottom["source"] == A
        assert f" :7392  {top['role']}" in row_text(top, UTC, fl.line_width, fl.source_w, app.feed.label_of)
        assert row_text(top, UTC, fl.line_width, fl.source_w, app.feed.label_of).rstrip() in screen_text(app)
        await pilot.press("slash", *"source:7391 ~m POST", "enter")
        rows = [fl.event_of_row(r) for r in range(fl.row_count)]
        assert rows and all(e["source"] == A and e["method"] == "POST" for e in rows)
        assert len(rows) == app.feed.sources[0].remote["flows"]["callout"]
        await pilot.press("slash", "ctrl+u", *"source:127.0.0.1", "enter")  # part of both addresses: any of them
        assert fl.row_count == 126
        await pilot.press("slash", "ctrl+u", *"source:7392 source:7391", "enter")
        assert fl.row_count == 126
        await pilot.press("slash", "ctrl+u", *"source:9999", "enter")
        assert "no source matches '9999'" in app.filter_error and fl.row_count == 126
        assert "no source matches '9999'" in screen_text(app)


async def test_sources_tab_and_enter_filters_the_flows() -> None:
    app = multi_app(states=(("live", ""), ("disconnected", "connection refused")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "sources"
        table = app.query_one(SourcesTable)
        rows = source_rows(app.feed, app._report)
        assert table.row_count == 3
        assert rows[0][:2] == (A, "● live") and rows[1][:2] == (B, "✖ disconnected")
        assert rows[1][-1] == "connection refused; reattaching" and rows[1][2] == "-" and rows[2][1] == "1 of 2 live"
        assert rows[2][7].startswith("max ")  # percentiles over sources: the largest, labelled
        text = screen_text(app)
        assert "✖ :7392 disconnected" in text and "connection refused" in text and "all (sum)" in text
        table.focus()
        await pilot.press("down", "enter")  # the second row: B
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "flows"
        assert app.query_one("#filter", Input).value == f"source:{B}"
        fl = app.query_one(FlowList)
        assert fl.row_count == 63 and {fl.event_of_row(r)["source"] for r in range(63)} == {B}
        await pilot.press("5")
        table.focus()
        await pilot.press("down", "enter")  # the sum row: every source again
        await pilot.pause()
        assert app.query_one("#filter", Input).value == "" and fl.row_count == 126


async def test_waterfall_of_a_sources_request() -> None:
    app = multi_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        fl = app.query_one(FlowList)
        row = next(r for r in range(fl.row_count) if fl.event_of_row(r)["role"] == "callout")
        fl.select_row(row)
        await pilot.press("3")
        await pilot.pause()
        wf = app.query_one(Waterfall)
        text = screen_text(app)
        assert "callout" in text and "backend" in text and wf.display
        callout = fl.event_of_row(row)
        assert app.feed.feed_of(callout) is app.feed.sources[1]
        src = app.feed.feed_of(callout)
        corr = src.correlation_of(callout["id"])
        assert corr is not None
        hops = src.hops_for(corr[0])
        assert callout["id"] in {h.id for h in hops}
        assert all(app.feed.find({h.id})[h.id]["source"] == B for h in hops)


async def test_help_explains_sources() -> None:
    app = multi_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "source:NAME" in text and "Sources tab" in text


async def test_save_writes_one_capture_per_source(tmp_path: Path) -> None:
    app = multi_app(out_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        paths = app.saved_paths
        assert len(paths) == 2 and "127.0.0.1-7391" in paths[0].name and "127.0.0.1-7392" in paths[1].name
        assert "saved 126 flows from 2 sources" in app.last_message
        for path, src in zip(paths, app.feed.sources):
            an = analyze_file(path, analyzer=Analyzer(), show_progress=False)
            assert an.flows == src.analyzer.flows  # each capture reads back as that source alone
            first = json.loads(path.read_text().splitlines()[1])
            assert first["source"] == src.source


async def test_export_writes_the_combined_report(tmp_path: Path) -> None:
    app = multi_app(out_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.export_report("json")
        data = json.loads(app.last_export.read_text())
        assert data["combined"]["sources"] == 2 and data["flows"] == app._report["flows"]
        assert data["callouts"]["p95_ms"] is None and data["combined"]["max_percentiles"]["callout_p95_ms"]


async def test_single_source_app_has_no_sources_tab(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        assert app.query_one(TabbedContent).active == "flows"
        assert not app.query(SourcesTable) and app.query_one(FlowList).source_w == 0
        assert not app.query(DataTable).filter("#sources-table")


def test_sums_at_most_every_recombine_s_but_states_at_once() -> None:
    import copy

    feed = multi_app().feed
    assert isinstance(feed, MultiFeed) and feed.recombine_s == 0.5
    feed.recombine_s = 3600.0
    first = feed.report()
    newer = copy.deepcopy(feed.sources[0].remote)
    newer["flows"]["inbound"] += 1
    feed.ingest_from(0, [{"v": 1, "type": "summary", "ts": 1.0, "report": newer}])
    assert feed.report() is first  # a new summary waits for the next recombination
    feed.set_source_state(1, "disconnected", "connection refused")
    again = feed.report()
    assert again is not first and again["combined"]["live"] == 1
    assert again["flows"]["inbound"] == first["flows"]["inbound"] + 1
    feed.recombine_s = 0.0
    assert feed.report() is again  # nothing changed since
