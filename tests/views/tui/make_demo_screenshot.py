"""Regenerate docs/demo.png: the live demo in action (not a test):

    uv run python tests/views/tui/make_demo_screenshot.py

What `tokentax demo` runs, driven here instead of by hand: the lab's naive gateway
(0.8 s auth latency) behind mitmdump with the addon, the load generator at 5 requests
a second as a child, and the TUI attached to the live stream, headless at 120x36. Once
the proxy's summary has counted enough requests (polled, with a deadline) it selects an
inbound request whose callout and backend hops are both correlated, shows the Timing
tab (the waterfall), and exports the SVG; rsvg-convert turns it into the PNG (with the
no-break-space fix of make_screenshot.py). Every process started here is stopped.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from inspector.lab.session import LabSession, SessionSpec
from inspector.live.stream_client import StreamClient, parse_address
from inspector.views.tui.app import TokentaxApp
from inspector.views.tui.components.flow_list import FlowList
from inspector.views.tui.feed import Feed
from tests.support.pilot import until
from tests.support.procs import ROOT
from tests.views.tui.make_screenshot import svg_to_png

OUT = ROOT / "docs" / "demo.png"
SIZE = (120, 36)  # a normal terminal
MIN_REQUESTS = 150  # about 30 s of load: enough for the rates and the sparklines to have a shape
DEADLINE_S = 120.0


def hop_roles(app: TokentaxApp, inbound: dict) -> set[str]:
    hops = app.feed.hops_for(str(inbound["id"]))
    return {str(ev.get("role")) for ev in app.feed.find({h.id for h in hops}).values()}


async def shoot(session: LabSession) -> str:
    assert session.mitm is not None and session.mitm.stream
    host, port = parse_address(session.mitm.stream)
    client = StreamClient(host, port)
    app = TokentaxApp(Feed(client.address, "live"), client=client, child=session.mitm)
    async with app.run_test(size=SIZE) as pilot:

        def counted() -> bool:
            remote = app.feed.remote
            return bool(remote) and remote["flows"]["inbound"] >= MIN_REQUESTS

        await until(
            counted, f"{MIN_REQUESTS} inbound requests in the proxy's summary", deadline=DEADLINE_S, step=pilot.pause
        )
        fl = app.query_one(FlowList)

        def complete_inbound() -> int | None:
            """A recent inbound row whose token callout and backend call are both in the waterfall."""
            for r in range(min(fl.row_count, 60)):
                ev = fl.event_of_row(r)
                if ev and ev.get("role") == "inbound" and {"callout", "backend"} <= hop_roles(app, ev):
                    return r
            return None

        while True:
            await until(
                lambda: complete_inbound() is not None,
                "an inbound request with its callout and backend hops",
                deadline=DEADLINE_S,
                step=pilot.pause,
            )
            await pilot.press("space")  # freeze the display: the rows must not move under the selection
            row = complete_inbound()
            if row is not None:
                break
            await pilot.press("space")
        fl.select_row(row)
        await pilot.press("3")
        await pilot.press("space")  # live again for the header, the selection stays on its flow
        await pilot.pause()
        return app.export_screenshot(title="tokentax demo")


def main() -> None:
    spec = SessionSpec(
        lab_args=["--gateway", "naive", "--auth-latency", "0.8s"], mitm_args=["--set", "tokentax_summary=false"]
    )
    session = LabSession(spec)
    load: subprocess.Popen[bytes] | None = None
    try:
        session.start()
        load = subprocess.Popen(
            [sys.executable, "-m", "inspector.lab.loadgen", session.gateway_url, "--rate", "5", "--duration", "90s"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        svg = asyncio.run(shoot(session))
    finally:
        if load is not None and load.poll() is None:
            load.terminate()
            try:
                load.wait(10)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait()
        session.stop()
    svg_to_png(svg, OUT)


if __name__ == "__main__":
    main()
