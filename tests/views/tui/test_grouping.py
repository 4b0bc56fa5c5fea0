"""The flows list grouped by inbound request (issue 13, item 8): `g` toggles it."""

from __future__ import annotations

from pathlib import Path

from inspector.analyzer import Analyzer
from inspector.analyzer.core import AnalyzerConfig
from inspector.views.tui.app import TokentaxApp
from inspector.views.tui.components.flow_list import FlowList
from inspector.views.tui.feed import RING, file_feed
from inspector.views.tui.grouping import LABEL, group, loose_label
from tests.support.factory import backend, callout, flow, naive_request
from tests.support.pilot import screen_text
from tests.support.tui import UTC


def scenario() -> list[dict]:
    """Two requests with a token callout and a backend call each (the first traced, exact; the
    second by time, inferred), a backend call inside no request, and a callout inside two
    overlapping requests (ambiguous): the last two are under no request."""
    evs = naive_request(1_000.0, 1, "aaaa", auth_ms=100, trace="t1")
    evs += naive_request(1_002.0, 2, "bbbb", auth_ms=100)
    evs.append(backend(1_010.0, 5, "bbbb", path="/stray"))
    evs.append(callout(1_020.1, 100, "cccc", path="/oauth2/ambiguous"))
    evs.append(flow("inbound", 1_020.0, 500, port=8080, path="/a"))
    evs.append(flow("inbound", 1_020.05, 500, port=8080, path="/b"))
    return evs


def analyzer_of(events: list[dict]) -> Analyzer:
    a = Analyzer(AnalyzerConfig(recent_flows=RING))
    for ev in events:
        a.ingest(ev)
    return a


def paths(fl: FlowList) -> list[tuple[str, str]]:
    """(tree mark, path) of each row; the label row as ("label", "")."""
    out = []
    for r in range(fl.row_count):
        ev = fl.event_of_row(r)
        out.append(("label", "") if ev is None else (fl.mark_of_row(r) or "", str(ev["path"])))
    return out


def test_groups_follow_the_analyzers_correlation() -> None:
    a = analyzer_of(scenario())
    feed = file_feed("synthetic.jsonl", a)
    g = group(feed)
    by_k = {k: feed.event_at(k) for k, _ in g.rows if k != LABEL}
    inbound = [by_k[k] for k, mark in g.rows if k != LABEL and mark == ""]
    assert [ev["path"] for ev in inbound] == ["/b", "/a", "/orders/2", "/orders/1"]
    # under each request: exactly the hops the analyzer correlated with it
    for i, (k, mark) in enumerate(g.rows):
        if k == LABEL or mark != "":
            continue
        kids = []
        for k2, m2 in g.rows[i + 1 :]:
            if m2 not in ("├ ", "└ "):
                break
            kids.append(by_k[k2]["id"])
        assert sorted(kids) == sorted(h.id for h in a.hops_for(by_k[k]["id"]))
    assert g.loose == 2
    assert [by_k[k]["path"] for k, m in g.rows if m == "· "] == ["/oauth2/ambiguous", "/stray"]


async def test_g_groups_the_list_by_request_and_back(tmp_path: Path) -> None:
    app = TokentaxApp(file_feed("synthetic.jsonl", analyzer_of(scenario())), clock=UTC, out_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        fl = app.query_one(FlowList)
        flat = paths(fl)
        assert [p for _, p in flat][:3] == ["/b", "/a", "/oauth2/ambiguous"]
        await pilot.press("g")
        await pilot.pause()
        assert fl.grouped
        assert paths(fl) == [
            ("", "/b"),
            ("", "/a"),
            ("", "/orders/2"),
            ("├ ", "/oauth2/token"),
            ("└ ", "/orders/2"),
            ("", "/orders/1"),
            ("├ ", "/oauth2/token"),
            ("└ ", "/orders/1"),
            ("label", ""),
            ("· ", "/oauth2/ambiguous"),
            ("· ", "/stray"),
        ]
        text = screen_text(app)
        assert loose_label(2)[:40] in text
        assert "├ " in text and "└ " in text
        # the arrow keys step over the label row
        fl.select_row(7)
        await pilot.press("down")
        await pilot.pause()
        assert fl.cursor_row == 9 and fl.selected["path"] == "/oauth2/ambiguous"
        await pilot.press("up")
        await pilot.pause()
        assert fl.cursor_row == 7
        # a filter keeps each request that has a matching hop, with only those hops under it
        assert app.apply_filter("role:callout")
        await pilot.pause()
        assert paths(fl) == [
            ("", "/orders/2"),
            ("└ ", "/oauth2/token"),
            ("", "/orders/1"),
            ("└ ", "/oauth2/token"),
            ("label", ""),
            ("· ", "/oauth2/ambiguous"),
        ]
        assert app.apply_filter("")
        await pilot.press("g")
        await pilot.pause()
        assert not fl.grouped and paths(fl) == flat


def test_loose_label_counts_in_words() -> None:
    assert loose_label(1).startswith("── 1 hop under no inbound request")
    assert loose_label(3).startswith("── 3 hops under no inbound request")


def test_only_the_newest_flows_are_grouped_and_a_label_says_so() -> None:
    from inspector.views.tui.grouping import left_out_label

    feed = file_feed("synthetic.jsonl", analyzer_of(scenario()))
    g = group(feed, scan=4)  # /b, /a, the ambiguous callout, the stray backend call
    assert g.left_out == feed.flows_held - 4
    assert g.rows[-1] == (LABEL, "end")
    assert [feed.event_at(k)["path"] for k, m in g.rows if k != LABEL and m == ""] == ["/b", "/a"]
    assert left_out_label(12345, 2000) == (
        "── 12 345 older held flows are not grouped (the newest 2 000 are): g for the flat list ──"
    )
