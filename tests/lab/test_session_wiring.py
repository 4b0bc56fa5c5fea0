"""The mitmdump wiring per gateway mode: a reverse listener per upstream, a rules file the inspector reads."""

from __future__ import annotations

import pytest

from inspector.commands.lab import mitmdump_command
from inspector.lab.gateway import STRATEGIES
from inspector.lab.lab_cli import STRATEGY_CHOICES
from inspector.lab.session import LabSession, SessionSpec, rules_text
from inspector.record.roles import Listeners, parse_rules, role_by_listener, rule_by_listener


def test_cli_choices_and_gateway_strategies_are_one_list() -> None:
    assert STRATEGY_CHOICES == STRATEGIES
    assert {"introspect", "jwks-cached", "forward-auth-poison", "loopback", "refresh", "passthrough"} <= set(STRATEGIES)


@pytest.mark.parametrize(
    ("mode", "extra"), [("naive", []), ("forward-auth", ["authz"]), ("loopback", ["relay"]), ("introspect-cached", [])]
)
def test_session_opens_a_listener_per_upstream_and_names_them_in_the_rules(mode: str, extra: list[str]) -> None:
    session = LabSession(SessionSpec(lab_args=["--gateway", mode]))
    try:
        assert list(session.ports) == ["gateway", "auth", "backend", *extra]
        args = session.lab.args
        if "authz" in extra:
            assert args[args.index("--gateway-authz-url") + 1] == f"http://127.0.0.1:{session.ports['authz']}"
        if "relay" in extra:
            assert args[args.index("--gateway-relay-url") + 1] == f"http://127.0.0.1:{session.ports['relay']}"
            assert args[args.index("--relay-upstream-url") + 1] == f"http://127.0.0.1:{session.ports['auth']}"
        session.lab.info = {name: f"http://127.0.0.1:{9000 + i}" for i, name in enumerate(session.ports)}
        modes = [a for a in session.mitm_args() if a.startswith("reverse:")]
        assert len(modes) == len(session.ports)
        rules = parse_rules(rules_text(session.ports))  # the inspector's own reader accepts it
        for name in ("auth", *extra):
            assert role_by_listener(session.ports[name], None, Listeners(), rules) == "callout"
        assert role_by_listener(session.ports["backend"], None, Listeners(), rules) == "backend"
    finally:
        session.stop()


def test_rules_text_states_the_kind_of_single_kind_listeners_and_leaves_the_auth_server_to_shape() -> None:
    ports = {"gateway": 1, "auth": 2, "backend": 3, "authz": 4, "relay": 5}
    text = rules_text(ports)
    assert '[[callout]]\nlisteners = ["4"]\nkind = "forward_auth"' in text
    rules = parse_rules(text)  # the inspector's own reader: one rule per callout listener
    kinds = {name: rule_by_listener(ports[name], None, rules) for name in ("auth", "authz", "relay", "backend")}
    assert {n: (r.role, r.kind) for n, r in kinds.items() if r is not None} == {
        "auth": ("callout", None),  # token, exchange, introspection, jwks, userinfo: by shape
        "authz": ("callout", "forward_auth"),
        "relay": ("callout", "token"),
        "backend": ("backend", None),
    }
    assert role_by_listener(ports["gateway"], None, Listeners(), rules) is None  # inbound comes from the option


def test_mitmdump_command_adds_the_extra_listeners() -> None:
    urls = {
        "gateway": "http://127.0.0.1:1",
        "auth": "http://127.0.0.1:2",
        "backend": "http://127.0.0.1:3",
        "relay": "http://127.0.0.1:4",
    }
    cmd = mitmdump_command(urls, {"gateway": 11, "auth": 12, "backend": 13, "relay": 14})
    assert cmd.count("--mode reverse:") == 4 and "reverse:http://127.0.0.1:4@14" in cmd
