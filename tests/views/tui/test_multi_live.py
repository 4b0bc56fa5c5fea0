"""`tokentax attach A B`: one TUI on two real sidecars (lab gateway + mitmdump with the addon each).

The KPI strip shows the sum, checked against each proxy's own summary read on a
separate connection; the Sources tab shows each one; the flows list names the source
and filters by it; the waterfall pairs hops with their own proxy's requests. Then one
sidecar is killed: the other keeps updating, the dead one shows disconnected, and it is
reattached when it comes back on the same ports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inspector.analyzer.combine import combine
from inspector.lab.common import free_port
from inspector.lab.session import LabSession, SessionSpec
from inspector.live.stream_client import StreamClient
from inspector.mitm.launch import Mitmdump
from inspector.views.tui.app import TokentaxApp
from inspector.views.tui.components.flow_list import FlowList, row_text
from inspector.views.tui.components.kpi import Kpi, kpi_values
from inspector.views.tui.components.sources import SourcesTable, source_rows
from inspector.views.tui.feed import MultiFeed
from tests.support.pilot import screen_text, until
from tests.support.tui import UTC

SIZE = (160, 45)


async def send(url: str, n: int, first: int = 0) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        for i in range(first, first + n):
            r = await client.get(f"{url}/orders/{i}", headers={"traceparent": f"00-{i + 1:032x}-{i + 1:016x}-01"})
            assert r.status_code == 200


async def proxy_summary(address: str) -> dict[str, Any]:
    """The proxy's own analyzer snapshot, read on a connection of our own (not the TUI's)."""
    host, port = address.rsplit(":", 1)
    client = StreamClient(host, int(port))
    try:
        async for ev in client.events():
            if ev["type"] == "summary":
                return ev["report"]
    finally:
        client.close()
    raise AssertionError(f"no summary from {address}")


@pytest.fixture
async def sidecars() -> AsyncIterator[list[LabSession]]:
    """Two sidecars: A in front of a naive gateway, B in front of a caching one."""
    specs = [
        SessionSpec(
            lab_args=["--gateway", gw, "--auth-latency", "20ms"],
            stream=f"127.0.0.1:{free_port()}",
            mitm_args=["--set", "tokentax_summary=false"],
        )
        for gw in ("naive", "cached")
    ]
    sessions = [LabSession(spec) for spec in specs]
    try:
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in sessions))
        yield sessions
    finally:
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in sessions))


def inbound_of(feed: MultiFeed, i: int) -> int:
    remote = feed.sources[i].remote
    return remote["flows"]["inbound"] if remote else -1


def kpi(app: TokentaxApp, kid: str) -> str:
    return str(app.query_one(f"#kpi-{kid}", Kpi).render())


async def test_two_sidecars_sum_sources_filter_and_one_dies(sidecars: list[LabSession]) -> None:
    a, b = sidecars
    addrs = [a.spec.stream, b.spec.stream]
    clients = [
        StreamClient(*addr.rsplit(":", 1)[0:1], int(addr.rsplit(":", 1)[1]), min_backoff=0.05, max_backoff=0.5)
        for addr in addrs
    ]
    feed = MultiFeed([c.address for c in clients], recombine_s=0)  # sum on every summary: exact checks below
    app = TokentaxApp(feed, clients=clients, clock=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: all(f.state == "live" for f in feed.sources), "both streams to attach", step=pilot.pause)
        await asyncio.gather(send(a.gateway_url, 6), send(b.gateway_url, 4))

        def settled() -> bool:
            reps = [f.remote for f in feed.sources]
            return (
                inbound_of(feed, 0) == 6
                and inbound_of(feed, 1) == 4
                and feed.flows_seen == sum(sum(r["flows"].values()) for r in reps if r)
            )

        await until(settled, "both proxies' summaries and all their flows", step=pilot.pause)

        # -- the sum, against the proxies' own summaries on connections of our own
        own = [await proxy_summary(addr) for addr in addrs]
        assert [r["flows"]["inbound"] for r in own] == [6, 4]
        assert own[0]["callouts"]["total"] == 6 and own[1]["callouts"]["total"] == 1  # naive: 6; cached: 1
        app._tick()  # no await from here on: the screen shows the report we check
        report = app._report
        assert report is feed.report() and report["combined"]["sources"] == 2
        for role in ("inbound", "callout", "backend"):
            assert report["flows"][role] == own[0]["flows"][role] + own[1]["flows"][role]
        for k in ("total", "redundant", "identical", "failed"):
            assert report["callouts"][k] == own[0]["callouts"][k] + own[1]["callouts"][k]
        assert report["callouts"]["per_inbound"] == round(7 / 10, 3)
        tax = own[0]["tax"]["total_ms"] + own[1]["tax"]["total_ms"]
        assert report["tax"]["ms_per_inbound"] == pytest.approx(tax / 10, abs=1e-3)
        ttfb = own[0]["inbound"]["ttfb_total_ms"] + own[1]["inbound"]["ttfb_total_ms"]
        assert report["tax"]["share_of_ttfb"] == pytest.approx(tax / ttfb, abs=1e-4)
        assert report["tokens_distinct"] == own[0]["tokens_distinct"] + own[1]["tokens_distinct"]
        for kid, (value, _sev) in kpi_values(report).items():
            assert value in kpi(app, kid), kid
        assert "≤ " in kpi(app, "tokens")

        # -- each source: header, Sources tab, source column and filter
        pa, pb = (":" + addr.rsplit(":", 1)[1] for addr in addrs)
        text = screen_text(app)
        assert "live, sum of 2 sources" in text and f"● {pa} live" in text and f"● {pb} live" in text
        await pilot.press("5")
        await pilot.pause()
        app._tick()
        table = app.query_one(SourcesTable)
        rows = source_rows(feed, app._report)
        assert [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)] == [list(r) for r in rows]
        assert [r[0] for r in rows] == [*addrs, "all (sum)"]
        assert rows[0][4] == "1.00" and rows[1][4] == "0.25" and rows[2][4] == "0.70"  # callouts/req each, sum
        assert rows[0][1] == rows[1][1] == "● live" and rows[2][1] == "2 of 2 live"
        assert rows[0][3] == str(sum(own[0]["flows"].values())) and rows[1][3] == str(sum(own[1]["flows"].values()))
        text = screen_text(app)
        assert all(cell in text for cell in (*rows[1][:2], *rows[1][3:5]))
        await pilot.press("1")
        fl = app.query_one(FlowList)
        assert fl.row_count == feed.flows_seen
        assert {fl.event_of_row(r)["source"] for r in range(fl.row_count)} == set(addrs)
        top = fl.event_of_row(0)
        assert f" {pa if top['source'] == addrs[0] else pb} " in row_text(
            top, UTC, fl.line_width, fl.source_w, feed.label_of
        )
        assert app.apply_filter(f"source:{pb[1:]}")
        b_flows = sum(own[1]["flows"].values())
        assert fl.row_count == b_flows and {fl.event_of_row(r)["source"] for r in range(b_flows)} == {addrs[1]}
        assert not app.apply_filter("source:nowhere") and "no source matches 'nowhere'" in app.filter_error

        # -- the waterfall of a B request holds B's hops only
        row = next(r for r in range(fl.row_count) if fl.event_of_row(r)["role"] == "inbound")
        fl.select_row(row)
        await pilot.pause()
        inbound = fl.event_of_row(row)
        hops = feed.feed_of(inbound).hops_for(inbound["id"])
        assert hops and all(feed.find({h.id})[h.id]["source"] == addrs[1] for h in hops)
        app.apply_filter("")

        # -- B dies: A keeps updating, B shows disconnected, its last figures stay in the sum
        await asyncio.to_thread(b.mitm.stop)
        await until(lambda: feed.sources[1].state == "disconnected", "B to show disconnected", step=pilot.pause)
        await send(a.gateway_url, 3, first=6)
        await until(lambda: inbound_of(feed, 0) == 9, "A's summary to keep updating", step=pilot.pause)
        app._tick()
        assert feed.sources[0].state == "live"
        text = screen_text(app)
        assert f"● {pa} live" in text and f"✖ {pb} disconnected" in text
        assert app._report["flows"]["inbound"] == 9 + 4
        assert app._report["combined"]["live"] == 1
        assert app._report["rates"]["inbound_per_s"] == feed.sources[0].remote["rates"]["inbound_per_s"]
        assert kpi_values(app._report)["redundant"][0] in kpi(app, "redundant")
        assert source_rows(feed, app._report)[1][1] == "✖ disconnected"

        # -- B comes back on the same ports: reattached, and its new proxy's figures replace the old
        b.mitm = await asyncio.to_thread(Mitmdump(b.mitm_args()).start)
        await until(
            lambda: feed.sources[1].state == "live" and clients[1].connects == 2, "B's reattach", step=pilot.pause
        )
        await send(b.gateway_url, 2, first=4)
        await until(lambda: inbound_of(feed, 1) == 2, "B's new summary", step=pilot.pause)
        app._tick()
        assert app._report["flows"]["inbound"] == 9 + 2
        assert app._report == combine([f.remote for f in feed.sources], addrs, [True, True])
        assert feed.lost == 0
