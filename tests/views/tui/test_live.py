"""The TUI attached to a real mitmdump running the addon, in front of the lab's naive gateway.

The proxy is killed and started again on the same stream port: the TUI says
"disconnected", keeps what it has, and reattaches by itself.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from inspector.live.stream_client import StreamClient
from inspector.views.tui.app import TokentaxApp
from inspector.views.tui.components.flow_list import FlowList
from inspector.views.tui.components.kpi import Kpi, kpi_values
from inspector.views.tui.feed import Feed
from tests.support.pilot import screen_text, until
from tests.support.tui import UTC, LiveStack

SIZE = (160, 45)


async def send(url: str, n: int) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        for i in range(n):
            r = await client.get(f"{url}/orders/{i}", headers={"traceparent": f"00-{i + 1:032x}-{i + 1:016x}-01"})
            assert r.status_code == 200


def remote_inbound(app: TokentaxApp) -> int:
    return app.feed.remote["flows"]["inbound"] if app.feed.remote else -1


async def test_live_flows_kpis_and_reattach(live_stack: LiveStack, tmp_path: Path) -> None:
    client = StreamClient("127.0.0.1", live_stack.stream_port, min_backoff=0.05, max_backoff=0.5)
    app = TokentaxApp(Feed(client.address, "live"), client=client, clock=UTC, out_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.feed.state == "live", "the stream to attach", step=pilot.pause)
        await send(live_stack.gateway_url, 6)
        await until(
            lambda: remote_inbound(app) == 6 and app.feed.flows_seen == 18,
            "6 requests (18 flows) in the proxy's summary and in the flows list",
            step=pilot.pause,
        )
        app._tick()
        fl = app.query_one(FlowList)
        assert fl.row_count == 18
        roles = sorted(fl.event_of_row(r)["role"] for r in range(fl.row_count))
        assert roles == ["backend"] * 6 + ["callout"] * 6 + ["inbound"] * 6
        # the KPI strip shows the proxy's own figures (its summary), not a local recount
        report = app.feed.remote
        assert app._report is report
        assert report["callouts"]["total"] == 6 and report["callouts"]["per_inbound"] == 1.0
        assert report["callouts"]["redundant"] == 5  # the first fetch was needed, the next five were not
        for kid, (value, _sev) in kpi_values(report).items():
            assert value in str(app.query_one(f"#kpi-{kid}", Kpi).render())
        assert app.feed.lost == 0
        text = screen_text(app)
        assert f"live stream 127.0.0.1:{live_stack.stream_port}" in text and "● live" in text

        await live_stack.kill()
        await until(lambda: app.feed.state == "disconnected", "the TUI to notice the proxy died", step=pilot.pause)
        app._tick()
        assert fl.row_count == 18  # kept what it had
        assert "✖ disconnected" in screen_text(app) and "reattaching" in screen_text(app)

        await live_stack.start()
        await until(lambda: app.feed.state == "live" and client.connects == 2, "the reattach", step=pilot.pause)
        await send(live_stack.gateway_url, 2)
        await until(
            lambda: remote_inbound(app) == 2 and app.feed.flows_seen == 24, "the new proxy's flows", step=pilot.pause
        )
        app._tick()
        assert fl.row_count == 24
        assert app._report is app.feed.remote and app.feed.remote["flows"]["inbound"] == 2
        assert app.feed.lost == 0
