"""Inbound requests inferred by containment where a capture has no listener information:
a HAR exported from a recorded mitmdump session (real mitmdump, real servers) gives the
same inbound count as the addon's JSONL capture of that session, with `--inbound PORT`
or with nothing given."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.capture.detect import LoadOptions
from inspector.capture.infer import inbound_destinations, infer_inbound
from inspector.capture.load import analyze_file
from tests.support import factory as F

from .conftest import Session


def snap(path: Path, inbound: str = "", rules: str = "", warnings: list[str] | None = None) -> dict:
    warn = warnings.append if warnings is not None else (lambda _m: None)
    return analyze_file(path, LoadOptions(inbound=inbound, rules=rules, warn=warn), show_progress=False).snapshot()


@pytest.mark.parametrize("which", ["naive_session", "cached_session"])
def test_har_gives_the_jsonl_inbound_count_with_and_without_inbound(which: str, request: pytest.FixtureRequest) -> None:
    s: Session = request.getfixturevalue(which)
    live = snap(s.capture)
    assert live["flows"]["inbound"] == s.requests == 12
    for inbound in ("", str(s.inbound_port)):
        har = snap(s.har, inbound)
        assert har["flows"]["inbound"] == live["flows"]["inbound"], inbound
        assert har["flows"]["backend"] == live["flows"]["backend"]
        assert har["callouts"]["total"] == live["callouts"]["total"]
        assert har["roles"] == {
            "inferred": True,
            "by": {"containment": 12, "shape": live["callouts"]["total"], "default": 12},
        }
        assert har["tax"]["ms_per_inbound"] is not None
        reason = {n["figure"]: n["reason"] for n in har["notes"]}["flows.inbound"]
        assert reason.startswith("roles inferred (no inbound listener named): 12 inbound by containment")
    assert snap(s.raw)["flows"]["inbound"] == 12  # a raw flow file without --inbound too


def test_har_with_rules_naming_the_inbound_does_not_warn(naive_session: Session, tmp_path: Path) -> None:
    gw_host = naive_session.inbound_spec.split("@")[0].split("//")[1]  # the gateway's host:port
    rules = tmp_path / "rules.toml"
    rules.write_text(f'[inbound]\nhosts = ["{gw_host}"]\n')
    warnings: list[str] = []
    s = snap(naive_session.har, "", str(rules), warnings)
    assert not any("no --inbound given" in w for w in warnings), warnings
    assert s["flows"]["inbound"] == 12 and s["roles"]["inferred"] is False
    assert s["roles"]["by"]["rule"] == 12


def test_concurrent_unrelated_hops_do_not_make_a_backend_inbound() -> None:
    evs = []
    for i in range(10):
        for ev in F.naive_request(1000.0 + i, i, "fp"):
            ev["role_by"] = "shape" if ev["role"] == "callout" else "default"
            if ev["role"] == "inbound":
                ev["role"], ev["port"] = "backend", 8080  # as read without listener information
            evs.append(ev)
    # one slow backend call that happens to span another request's callout
    slow = F.backend(1003.0, 900, "fp")
    slow["role_by"] = "default"
    evs.append(slow)
    assert inbound_destinations(evs) == {("127.0.0.1", 8080)}
    out = list(infer_inbound(evs))
    assert sum(1 for e in out if e["role"] == "inbound") == 10
    assert next(e for e in out if e["id"] == slow["id"])["role"] == "backend"


def test_live_without_an_inbound_listener_infers_the_same_inbound_count(tmp_path: Path) -> None:
    from .conftest import REQUESTS, Mitmdump, drive, free_port, mitmdump_argv
    from .servers import Stack

    capture = tmp_path / "cap.jsonl"
    stack = Stack("naive")
    md = None
    try:
        ports = (free_port(), free_port(), free_port())
        argv = mitmdump_argv(stack, ports, capture, None)
        i = argv.index(f"tokentax_inbound={ports[0]}")
        del argv[i - 1 : i + 1]  # no inbound listener named
        md = Mitmdump(argv)
        assert md.ready, "".join(md.lines)
        stack.gw_cfg.auth_url = f"http://127.0.0.1:{ports[1]}"
        stack.gw_cfg.backend_url = f"http://127.0.0.1:{ports[2]}"
        drive(stack, ports[0], REQUESTS)
        assert md.stop() == 0, "".join(md.lines)
    finally:
        if md is not None:
            md.stop()
        stack.stop()
    s = snap(capture)
    assert s["session"]["roles_inferred"] is True
    assert s["flows"]["inbound"] == REQUESTS
    assert s["roles"]["by"]["containment"] == REQUESTS
    assert s["callouts"]["total"] == REQUESTS and s["flows"]["backend"] == REQUESTS
