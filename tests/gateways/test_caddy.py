"""Caddy 2.6 (Debian) forward_auth: a decision call per request (Caddy has no decision cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.lab.common import free_port
from tests.gateways.harness import (
    Gateway,
    Wire,
    assert_decision_per_request,
    make_prefix,
    missing,
    port_open,
    render,
    template,
    wait_for,
)

SKIP = missing("caddy")
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


def test_forward_auth_every_request(wire: Wire, prefix_root: Path) -> None:
    prefix = make_prefix(prefix_root, "caddy")
    values = wire.values(prefix, admin_port=free_port())
    (prefix / "Caddyfile").write_text(render(template("caddy-forward-auth.Caddyfile"), **values))
    env = {"XDG_DATA_HOME": str(prefix / "data"), "XDG_CONFIG_HOME": str(prefix / "config"), "HOME": str(prefix)}
    cmd = ["caddy", "run", "--config", str(prefix / "Caddyfile"), "--adapter", "caddyfile"]
    gw = Gateway("caddy", cmd, prefix, env)

    def ready(g: Gateway) -> None:
        wait_for("caddy listening", lambda: port_open(wire.gateway_port), g.proc)

    r = wire.run(gw, ready)
    assert_decision_per_request(r, gw)
