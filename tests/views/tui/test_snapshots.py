"""Screens of the TUI over the committed capture, compared with the accepted SVG snapshots.

Regenerate after an intended change with `uv run pytest tests/tui --snapshot-update`, then
look at the SVGs under __snapshots__ before committing them. Times are shown in UTC and
the data is the fixed capture, so the screens do not depend on the machine or the clock.
"""

from __future__ import annotations

from textual.pilot import Pilot

from inspector.views.tui.components.flow_list import FlowList
from tests.support.tui import file_app, multi_app

SIZE = (160, 45)


def _row(pilot: Pilot, role: str, nth: int = 0) -> int:
    fl = pilot.app.query_one(FlowList)
    rows = [r for r in range(fl.row_count) if fl.event_of_row(r)["role"] == role]
    return rows[nth]


async def _select_callout(pilot: Pilot) -> None:
    pilot.app.query_one(FlowList).select_row(_row(pilot, "callout"))
    await pilot.pause()


async def _select_inbound(pilot: Pilot) -> None:
    fl = pilot.app.query_one(FlowList)
    fl.select_row(_row(pilot, "inbound", 1))
    await pilot.pause()


def test_flows_with_selected_callout(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, run_before=_select_callout)


def test_timing_waterfall(snap_compare) -> None:
    async def before(pilot: Pilot) -> None:
        await _select_inbound(pilot)
        await pilot.press("3")

    assert snap_compare(file_app(), terminal_size=SIZE, run_before=before)


def test_tokens_tab(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, press=["2"])


def test_findings_tab(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, press=["4"])


def test_filter_applied(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, press=["slash", *"~m POST | ~c 404", "enter"])


def test_bad_filter(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, press=["slash", *"~c abc", "enter", "escape"])


def test_paused(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, press=["space"])


def test_help(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, press=["question_mark"])


def test_export_dialog(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SIZE, press=["e"])


def test_narrow_terminal(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=(100, 32), run_before=_select_callout)


# Several sources (tokentax attach A B): the capture split in two, the second one disconnected.
DOWN = (("live", ""), ("disconnected", "connection refused"))


def test_multi_flows_with_source_column(snap_compare) -> None:
    assert snap_compare(multi_app(states=DOWN), terminal_size=SIZE, run_before=_select_callout)


def test_multi_sources_tab(snap_compare) -> None:
    assert snap_compare(multi_app(states=DOWN), terminal_size=SIZE, press=["5"])


# A newcomer's terminal first (80×24), then a normal one (120×40).
SMALL, NORMAL = (80, 24), (120, 40)


def test_small_first_screen(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SMALL)


def test_small_callout_selected(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SMALL, run_before=_select_callout)


def test_small_timing_latest(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SMALL, press=["3"])


def test_small_findings(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=SMALL, press=["4"])


def test_normal_first_screen(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=NORMAL, run_before=_select_callout)


def test_normal_timing_recent(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=NORMAL, press=["3"])


def test_normal_auth_calls(snap_compare) -> None:
    assert snap_compare(file_app(), terminal_size=NORMAL, press=["2"])


def test_normal_grouped_by_request(snap_compare) -> None:
    """g: each inbound request with its token callout and backend call indented under it."""

    async def before(pilot: Pilot) -> None:
        await pilot.press("g")
        await pilot.pause()
        pilot.app.query_one(FlowList).select_row(1)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(file_app(), terminal_size=NORMAL, run_before=before)
