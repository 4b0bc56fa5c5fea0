"""Apache 2.4 + mod_auth_openidc 2.4.12 (Debian) as an OAuth 2.0 resource server that
introspects the caller's bearer (RFC 7662) at the lab's auth server, through mitmdump's
TLS listener (the module only introspects over https; it trusts mitmproxy's CA).

`OIDCOAuthTokenIntrospectionInterval -1` introspects on every request; the fix (the
snippet in docs/fixes/, run here verbatim) caches an active result until the token's
exp: one introspection for all requests.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.gateways.harness import Gateway, Wire, make_prefix, missing, port_open, render, sbin, template, wait_for

APACHE_MODULE = "/usr/lib/apache2/modules/mod_auth_openidc.so"
APACHE = sbin("apache2")
SKIP = missing(APACHE, APACHE_MODULE)
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

EVERY_REQUEST = "OIDCOAuthTokenIntrospectionInterval -1"


def apache(wire: Wire, root: Path, introspection: str) -> Gateway:
    prefix = make_prefix(root, "apache")
    values = wire.values(prefix, passphrase=secrets.token_urlsafe(16), introspection=introspection)
    (prefix / "httpd.conf").write_text(render(template("apache.conf"), **values))
    return Gateway("apache", [APACHE, "-f", str(prefix / "httpd.conf"), "-DFOREGROUND"], prefix)


def ready(wire: Wire):
    def check(g: Gateway) -> None:
        wait_for("apache listening", lambda: port_open(wire.gateway_port), g.proc)

    return check


@pytest.mark.parametrize(
    ("scenario", "introspections", "repeat"),
    [("interval -1", 20, True), ("default, cached (docs/fixes)", 1, False)],
)
def test_introspection(wire: Wire, prefix_root: Path, scenario: str, introspections: int, repeat: bool) -> None:
    setting = EVERY_REQUEST if repeat else template("apache-introspection-cache.conf")
    gw = apache(wire, prefix_root, setting)
    r = wire.run(gw, ready(wire))
    assert r.statuses == [200] * 20, gw.output()
    assert r.lab["introspection"] == introspections
    assert r.by_kind("introspection") == r.lab["introspection"]
    assert r.snap["callouts"]["by_kind"]["introspection"]["redundant"] == introspections - 1
    assert ("introspection-repeat" in r.finding_ids()) is repeat
