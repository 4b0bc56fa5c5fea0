"""Connections to the inbound listener that carry no request (load balancer health checks)
are counted apart, as probes, never as inbound requests: real mitmdump, real sockets."""

from __future__ import annotations

import socket
from pathlib import Path

from inspector.analyzer import Analyzer
from inspector.capture.jsonl import read_events

from .conftest import drive, start_mitmdump
from .servers import Stack

PROBES = 5


def _analyze(capture: Path) -> dict:
    a = Analyzer()
    with capture.open("rb") as fh:
        for ev in read_events(fh, str(capture)):
            a.ingest(ev)
    return a.snapshot()


def _bare_connects(port: int, n: int) -> None:
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)):
            pass  # connect, then close: nothing sent


def test_bare_tcp_connects_to_the_inbound_listener_are_probes(tmp_path: Path) -> None:
    capture = tmp_path / "cap.jsonl"
    stack = Stack("naive")
    md = None
    try:
        md, ports = start_mitmdump(stack, capture, None)
        stack.gw_cfg.auth_url = f"http://127.0.0.1:{ports[1]}"
        stack.gw_cfg.backend_url = f"http://127.0.0.1:{ports[2]}"
        _bare_connects(ports[0], PROBES)
        drive(stack, ports[0], 2)  # two real requests among them
        assert md.stop() == 0, "".join(md.lines)
    finally:
        if md is not None:
            md.stop()
        stack.stop()
    s = _analyze(capture)
    assert s["flows"]["inbound"] == 2
    assert s["probes"] == {"total": PROBES, "by_reason": {"no request": PROBES}}


def test_bare_connects_while_the_gateway_refuses_are_probes_not_failed_requests(tmp_path: Path) -> None:
    capture = tmp_path / "cap.jsonl"
    stack = Stack("naive")
    stack.gateway.stop()  # the inbound listener's upstream now refuses connections
    md = None
    try:
        md, ports = start_mitmdump(stack, capture, None)
        _bare_connects(ports[0], PROBES)
        assert md.stop() == 0, "".join(md.lines)
    finally:
        if md is not None:
            md.stop()
        stack.stop()
    s = _analyze(capture)
    assert s["flows"]["inbound"] == 0 and s["inbound"]["errors"] == 0
    assert s["probes"] == {"total": PROBES, "by_reason": {"upstream refused": PROBES}}
    assert s["tax"]["ms_per_inbound"] is None  # no inbound request: unknown, not 0
