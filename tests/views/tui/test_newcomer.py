"""Issue 13's TUI items, as a newcomer meets them: focus after tab switches, the problem
on the first screen, 80 columns, redundancy explained, quitting with ctrl+c, settings."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import TabbedContent

from inspector.analyzer import Analyzer
from inspector.analyzer.core import AnalyzerConfig
from inspector.views.tui.app import TokentaxApp
from inspector.views.tui.components.flow_list import FlowList, header_text, row_text
from inspector.views.tui.components.kpi import Kpi
from inspector.views.tui.config import load, save_theme
from inspector.views.tui.feed import RING, file_feed
from tests.support.factory import callout, flow, naive_request
from tests.support.pilot import screen_text
from tests.support.tui import UTC, file_app


def synthetic_app(events: list[dict], tmp_path: Path, **kw) -> TokentaxApp:
    a = Analyzer(AnalyzerConfig(recent_flows=RING))
    for ev in events:
        a.ingest(ev)
    return TokentaxApp(file_feed("synthetic.jsonl", a), clock=UTC, out_dir=tmp_path, **kw)


async def test_arrow_keys_work_after_switching_tabs(tmp_path: Path) -> None:
    app = file_app(out_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        fl = app.query_one(FlowList)
        await pilot.press("escape", "4", "1", "down", "down")
        await pilot.pause()
        assert app.focused is fl and fl.cursor_row == 1
        await pilot.press("2")
        await pilot.pause()
        assert app.focused is app.query_one("#tokens-table")
        await pilot.press("1")
        await pilot.pause()
        assert app.focused is fl
        # the focused pane is marked: the list's header bar takes the accent colour
        header = app.query_one("#flow-header")
        focused_bg = header.styles.background
        app.query_one("#filter").focus()
        await pilot.pause()
        assert header.styles.background != focused_bg


def poisoned(t0: float = 1_000.0) -> list[dict]:
    """A gateway that caches an auth failure: one 401 token call, then 502s with no callout."""
    evs = [callout(t0, 50, None, None, status=401, error="invalid_client", trace="t0")]
    evs.append(flow("inbound", t0 - 0.001, 60, status=502, port=8080, trace="t0"))
    for i in range(1, 4):
        evs.append(flow("inbound", t0 + i, 2, status=502, port=8080))
    return evs


async def test_the_problem_is_on_the_first_screen(tmp_path: Path) -> None:
    app = synthetic_app(poisoned(), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        report = app.feed.report()
        worst = report["findings"][0]
        assert worst["severity"] == "critical"
        tab = app.query_one(TabbedContent).get_tab("findings")
        n = sum(1 for f in report["findings"] if f["severity"] in ("critical", "warning"))
        assert str(tab.label) == f"Findings ✖{n}"
        text = screen_text(app)
        assert f"✖ critical {worst['title']}"[:60] in text  # the headline under the KPIs
        errors = str(app.query_one("#kpi-errors", Kpi).render())
        assert f"{report['inbound']['errors']} in · {report['callouts']['failed']} auth" in errors
        assert report["inbound"]["errors"] == 4 and report["callouts"]["failed"] == 1


async def test_ctrl_c_quits_and_says_what_was_saved(tmp_path: Path) -> None:
    app = file_app(out_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == 0
    assert app.last_saved is not None and app.last_saved.exists()
    assert f"capture saved to {app.last_saved}" in app.farewell()


async def test_screenshot_goes_to_the_current_directory(tmp_path: Path) -> None:
    app = file_app(out_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        path = app.deliver_screenshot()
        assert path is not None and Path(path).parent == tmp_path and Path(path).read_text().startswith("<svg")
    assert f"screenshot saved to {path}" in app.farewell()


def test_80_columns_keep_numbers_whole() -> None:
    ev = callout(1_000.0, 803.4, "abcdef123456")
    for width in (60, 78, 98, 118, 158):
        text = row_text(ev, UTC, width)
        assert len(text) == width, (width, text)
        assert "803 ms" in text and "200" in text  # never "8" for 803 ms
        assert "127.0.0.1:9001" in text or width < 70
    assert "token" in row_text(ev, UTC, 78).split()  # the kind folded into the role column
    assert header_text(78).split()[:2] == ["ended", "role"]
    assert "kind" in header_text(118).split()
    failed = callout(1_000.0, 12, None, None, status=401, error="invalid_client")
    assert "✖ invalid_client" in row_text(failed, UTC, 158)


async def test_detail_folds_at_80_columns_and_opens_with_a_selection(tmp_path: Path) -> None:
    app = file_app(out_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        detail = app.query_one("#detail")
        assert not detail.display or detail.size.width == 0 or detail.region.height == 0
        await pilot.press("down")
        await pilot.pause()
        assert detail.region.height > 0 and detail.region.width >= 70


async def test_a_redundant_callout_says_why(tmp_path: Path) -> None:
    evs = naive_request(1_000.0, 0, "aaaa", auth_ms=100, trace="t0") + naive_request(
        1_002.0, 1, "bbbb", auth_ms=100, trace="t1"
    )
    app = synthetic_app(evs, tmp_path)
    second = evs[3]
    why = app.feed.analyzer.why_redundant(second["id"])
    assert why is not None and why["issued_at"] == evs[0]["end"]
    assert app.feed.analyzer.why_redundant(evs[0]["id"]) is None  # the first fetch was needed
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        fl = app.query_one(FlowList)
        row = next(r for r in range(fl.row_count) if fl.event_of_row(r)["id"] == second["id"])
        fl.select_row(row)
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "redundant a valid token for this key was issued at" in text and "00:16:40.101 (1.9 s earlier)" in text
        await pilot.press("3")
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "redundant: a valid token for this key was issued at 00:16:40.101" in text


async def test_timing_shows_the_latest_request_and_recent_ones(tmp_path: Path) -> None:
    evs: list[dict] = []
    for i in range(5):
        evs += naive_request(1_000.0 + i, i, f"fp{i}", auth_ms=100 + 50 * i, trace=f"t{i}")
    app = synthetic_app(evs, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "/orders/4" in text.split("Recent requests")[0]  # the newest, with nothing selected
        assert "the latest request" in text
        recent = text.split("Recent requests, slowest first")[1]
        assert recent.index("/orders/4") < recent.index("/orders/0")
        await pilot.press("o")
        await pilot.pause()
        assert "Recent requests, newest first" in screen_text(app)


async def test_kinds_in_the_list_the_filter_and_the_auth_calls_tab(tmp_path: Path) -> None:
    evs = [
        callout(1_000.0, 20, "aaaa"),
        flow("callout", 1_001.0, 15, path="/introspect", method="POST", kind="introspection"),
        flow("callout", 1_002.0, 5, path="/jwks", kind="jwks"),
    ]
    app = synthetic_app(evs, tmp_path)
    report = app.feed.report()
    report["callouts"]["by_kind"] = {  # the shared contract's shape, as the kinds branch will send it
        "token": {"total": 1, "redundant": 0, "identical": 0, "failed": 0, "p50_ms": 20.0, "p95_ms": 20.0},
        "introspection": {"total": 1, "redundant": 1, "identical": 0, "failed": 0, "p50_ms": 15.0, "p95_ms": 15.0},
        "jwks": {"total": 1, "redundant": 0, "identical": 0, "failed": 0, "p50_ms": None, "p95_ms": None},
    }
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "introspection" in text and "jwks" in text
        app.apply_filter("kind:jwks")
        await pilot.pause()
        assert app.query_one(FlowList).row_count == 1
        await pilot.press("2")
        await pilot.pause()
        text = screen_text(app)
        assert "Auth calls" in text and "By kind" in text
        line = next(ln for ln in text.splitlines() if ln.strip().startswith("introspection"))
        assert "1 (100 %)" in line
        jwks = next(ln for ln in text.splitlines() if ln.strip().startswith("jwks"))
        assert "—" in jwks  # unknown percentiles are a dash, never 0


async def test_null_figures_show_a_dash_not_zero(tmp_path: Path) -> None:
    app = synthetic_app([callout(1_000.0, 20, "aaaa")], tmp_path)
    report = app.feed.report()
    report["tax"]["ms_per_inbound"] = None
    report["callouts"]["per_inbound"] = None
    report["notes"] = [{"figure": "tax.ms_per_inbound", "reason": "no inbound requests seen"}]
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        tax = app.query_one("#kpi-tax", Kpi)
        assert "—" in str(tax.render()) and "no inbound requests seen" in str(tax.tooltip)
        assert "—" in str(app.query_one("#kpi-per-inbound", Kpi).render())


def test_config_keymap_and_theme(tmp_path: Path) -> None:
    path = tmp_path / "tokentax" / "tui.toml"
    path.parent.mkdir()
    path.write_text('# mine\n[keys]\nsave = "ctrl+s"\n')
    cfg = load(path)
    assert cfg.keymap == {"save": "ctrl+s"} and cfg.theme is None and not cfg.problem
    save_theme(path, "nord")
    text = path.read_text()
    assert text.startswith('theme = "nord"\n') and '[keys]\nsave = "ctrl+s"' in text
    save_theme(path, "gruvbox")
    assert load(path).theme == "gruvbox" and load(path).keymap == {"save": "ctrl+s"}
    (tmp_path / "bad.toml").write_text("[keys\n")
    bad = load(tmp_path / "bad.toml")
    assert bad.problem and "\n" not in bad.problem


async def test_keymap_remaps_and_theme_is_remembered(tmp_path: Path) -> None:
    path = tmp_path / "tui.toml"
    path.write_text('[keys]\nsave = "ctrl+s"\n')
    app = file_app(out_dir=tmp_path)
    app.config = load(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert app.last_saved is None  # s is no longer save
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.last_saved is not None
        app.theme = "nord"
        await pilot.pause()
    assert load(path).theme == "nord"
    assert json.dumps("nord") in path.read_text()


async def test_a_mitmdump_restart_is_marked(tmp_path: Path) -> None:
    from inspector.schema import events as E
    from inspector.views.tui.feed import Feed

    feed = Feed("127.0.0.1:7391", "live")
    first = E.session_event(1_000.0, source="live", key_id="k1")
    a = flow("inbound", 1_000.5, 5)
    again = E.session_event(1_000.0, source="live", key_id="k1")  # a reconnect: same session
    b = flow("inbound", 1_001.0, 5)
    restarted = E.session_event(1_050.0, source="live", key_id="k2")
    c = flow("inbound", 1_051.0, 5)
    feed.ingest([first, a, again, b, restarted, c])
    assert feed.restart_note(a) == feed.restart_note(b) == ""
    assert "restarted" in feed.restart_note(c)
    app = TokentaxApp(feed, clock=UTC, out_dir=tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "↻" in text and "since attach" in text and "whole proxy run" in text


async def test_tokens_table_fits_120_columns(tmp_path: Path) -> None:
    """The last column (time left) shows at 120 columns: the long key gives way, with an ellipsis."""
    from textual.widgets import DataTable

    app = file_app(out_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        table = app.query_one("#tokens-table", DataTable)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[1].endswith("…") and row[-1].startswith("10 h")
        widths = sum(col.get_render_width(table) for col in table.columns.values())
        assert widths <= 120
        lines = screen_text(app).splitlines()
        row_line = next(line for line in lines if line.lstrip().startswith(row[0]))
        assert row_line.rstrip().endswith("10 h 39 min")  # on screen, not cut off
