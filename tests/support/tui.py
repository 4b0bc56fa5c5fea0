"""TUI test support: the committed capture, file apps with a fixed clock, and a live stack
(lab servers in the test's loop, a real mitmdump child with the addon). Fixtures are
re-exported by the conftest files of the folders that use them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import pytest

from inspector.analyzer import Analyzer
from inspector.analyzer.core import AnalyzerConfig
from inspector.capture.load import analyze_file
from inspector.lab.common import free_port
from inspector.views.format import Clock
from inspector.views.tui.app import TokentaxApp
from inspector.views.tui.feed import RING, MultiFeed, file_feed
from tests.support.procs import ROOT, Child, start_mitmdump

CAPTURE = Path(__file__).resolve().parents[1] / "data" / "naive_gateway.jsonl"
UTC = Clock(UTC)


def file_app(path: Path = CAPTURE, out_dir: Path | None = None) -> TokentaxApp:
    """The app over a capture, with UTC times so screens do not depend on the machine."""
    analyzer = analyze_file(path, analyzer=Analyzer(AnalyzerConfig(recent_flows=RING)), show_progress=False)
    label = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    return TokentaxApp(file_feed(path, analyzer, label), clock=UTC, out_dir=out_dir)


MULTI = ("127.0.0.1:7391", "127.0.0.1:7392")


def multi_app(
    path: Path = CAPTURE,
    out_dir: Path | None = None,
    states: tuple[tuple[str, str], ...] = (("live", ""), ("live", "")),
) -> TokentaxApp:
    """Two sources with no socket: the capture's first half of flows as if from stream
    127.0.0.1:7391 and the second half from 127.0.0.1:7392, each preceded by its session
    and the summary its own proxy would have sent (an analyzer over that half)."""
    import copy
    import json

    evs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    session = next(e for e in evs if e["type"] == "session")
    flows = [e for e in evs if e["type"] == "flow"]
    halves = (flows[: len(flows) // 2], flows[len(flows) // 2 :])
    feed = MultiFeed(list(MULTI))
    for i, part in enumerate(halves):
        proxy = Analyzer()
        proxy.ingest(dict(session))
        for ev in part:
            proxy.ingest(copy.deepcopy(ev))
        summary = {"v": 1, "type": "summary", "ts": proxy.now, "report": proxy.snapshot()}
        feed.ingest_from(i, [dict(session), summary, *(copy.deepcopy(ev) for ev in part)])
        feed.set_source_state(i, *states[i])
    return TokentaxApp(feed, clock=UTC, out_dir=out_dir)


@pytest.fixture
def capture() -> Path:
    return CAPTURE


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., TokentaxApp]:
    def factory(path: Path = CAPTURE) -> TokentaxApp:
        return file_app(path, out_dir=tmp_path)

    return factory


@dataclass
class LiveStack:
    """Lab gateway/auth/backend behind a mitmdump with the addon; `restart()` keeps every port."""

    gateway_url: str
    stream_port: int
    args: list[str]
    dump: Child | None = None
    children: list[Child] = field(default_factory=list)

    async def start(self) -> None:
        self.dump = await asyncio.to_thread(start_mitmdump, *self.args)
        self.children.append(self.dump)

    async def kill(self) -> None:
        if self.dump is not None:
            await asyncio.to_thread(self.dump.stop)
            self.dump = None

    async def stop_all(self) -> None:
        for child in self.children:
            await asyncio.to_thread(child.stop)


@pytest.fixture
async def live_stack() -> AsyncIterator[LiveStack]:
    from inspector.lab.auth import AuthConfig
    from inspector.lab.backend import BackendConfig
    from inspector.lab.gateway import GatewayConfig
    from inspector.lab.stack import LabConfig, LabStack

    lg, la, lb, ls = free_port(), free_port(), free_port(), free_port()
    lab = LabStack(
        LabConfig(
            auth=AuthConfig(latency=0.02),
            backend=BackendConfig(latency=0.0),
            gateway=GatewayConfig(
                strategy="naive", auth_url=f"http://127.0.0.1:{la}", backend_url=f"http://127.0.0.1:{lb}"
            ),
        )
    )
    await lab.start()
    args = [
        "--mode",
        f"reverse:{lab.urls.gateway}@{lg}",
        "--mode",
        f"reverse:{lab.urls.auth}@{la}",
        "--mode",
        f"reverse:{lab.urls.backend}@{lb}",
        "--set",
        f"tokentax_inbound={lg}",
        "--set",
        f"tokentax_stream=127.0.0.1:{ls}",
    ]
    stack = LiveStack(f"http://127.0.0.1:{lg}", ls, args)
    try:
        await stack.start()
        yield stack
    finally:
        await stack.stop_all()
        await lab.stop()
