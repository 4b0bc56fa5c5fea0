"""nginx 1.22 (Debian nginx-light, libnginx-mod-http-js) against the lab's servers.

auth_request asks the forward-auth service on every request; with proxy_cache keyed on
the credential (the snippet in docs/fixes/, run here verbatim) it asks once. An njs
gateway that fetches a client_credentials token on every request is the token tax.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateways.harness import (
    Gateway,
    Wire,
    drop_lines,
    make_prefix,
    missing,
    port_open,
    render,
    sbin,
    template,
    wait_for,
)

NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
NGINX = sbin("nginx")
SKIP = missing(NGINX)


def nginx(wire: Wire, root: Path, http: str, *, modules: str = "", files: dict[str, str] | None = None) -> Gateway:
    prefix = make_prefix(root, "nginx")
    values = wire.values(prefix)
    for name, text in (files or {}).items():
        (prefix / name).write_text(render(text, **values))
    conf = render(template("nginx.conf"), **values, modules=modules, http=render(http, **values))
    (prefix / "nginx.conf").write_text(conf)
    cmd = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    return Gateway("nginx", [*cmd, "-g", "daemon off;"], prefix)


def ready(wire: Wire):
    def check(g: Gateway) -> None:
        wait_for("nginx listening", lambda: port_open(wire.gateway_port), g.proc)

    return check


def cache_snippet() -> str:
    return template("nginx-auth-request-cache.conf")


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
@pytest.mark.parametrize(("scenario", "decisions", "repeat"), [("no cache", 20, True), ("proxy_cache", 1, False)])
def test_auth_request(wire: Wire, prefix_root: Path, scenario: str, decisions: int, repeat: bool) -> None:
    http = cache_snippet() if decisions == 1 else drop_lines(cache_snippet(), "proxy_cache", "proxy_ignore_headers")
    assert ("proxy_cache" in http) is not repeat
    gw = nginx(wire, prefix_root, http)
    r = wire.run(gw, ready(wire))
    assert r.statuses == [200] * 20, gw.output()
    assert r.lab["forward_auth"] == decisions
    assert r.by_kind("forward_auth") == r.lab["forward_auth"]
    assert r.snap["callouts"]["by_kind"]["forward_auth"]["redundant"] == decisions - 1
    assert ("forward-auth-repeat" in r.finding_ids()) is repeat


@pytest.mark.skipif(SKIP is not None or missing(NJS_MODULE) is not None, reason=SKIP or missing(NJS_MODULE) or "")
def test_njs_token_per_request(wire: Wire, prefix_root: Path) -> None:
    gw = nginx(
        wire,
        prefix_root,
        template("nginx-njs-token.conf"),
        modules=f"load_module {NJS_MODULE};",
        files={"gw.js": template("nginx-njs-gw.js")},
    )
    r = wire.run(gw, ready(wire), bearer=False)
    assert r.statuses == [200] * 20, gw.output()
    assert r.lab["token"] == 20 and r.lab["backend"] == 20
    assert r.by_kind("token") == r.lab["token"]
    assert r.snap["callouts"]["by_kind"]["token"]["redundant"] == 19
    assert "token-refetch" in r.finding_ids()
