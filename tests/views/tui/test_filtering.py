"""mitmproxy filter expressions evaluated on flow events (no HTTPFlow is ever built)."""

from __future__ import annotations

import pytest
from mitmproxy import flowfilter

from inspector.views.tui.filtering import EventFlow, compile_filter, help_rows, matches
from tests.support.factory import flow

CALL = flow(
    "callout",
    100.0,
    120,
    method="POST",
    host="auth.local",
    port=8443,
    path="/oauth2/token",
    token={"fp": "fp1", "type": "Bearer", "expires_in": 3600},
)
CALL["scheme"] = "https"
BACK = flow("backend", 100.2, 15, host="orders.internal", path="/orders/7", bearer={"fp": "fp1", "kind": "jwt"})
IN_404 = flow("inbound", 100.0, 150, status=404, host="gw.example", port=443, path="/missing")
FAILED = flow("backend", 101.0, 3, status=None, host="down.internal", error={"kind": "refused", "msg": "x"})
EVENTS = [CALL, BACK, IN_404, FAILED]


def pick(expr: str) -> list[dict]:
    flt = compile_filter(expr)
    assert flt is not None
    return [ev for ev in EVENTS if matches(flt, ev)]


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("~d auth", [CALL]),
        ("~d internal", [BACK, FAILED]),
        ("~u /orders/7", [BACK]),
        ("~u https://auth.local:8443/oauth2/token", [CALL]),
        ("/missing", [IN_404]),  # a bare regex is a URL regex, as in mitmproxy
        ("~c 404", [IN_404]),
        ("~m POST", [CALL]),
        ("!~m POST", [BACK, IN_404, FAILED]),
        ("~m GET & ~c 200", [BACK]),
        ("~c 404 | ~d auth", [CALL, IN_404]),
        ("!(~c 200 | ~c 404)", [FAILED]),
        ("~e", [FAILED]),
        ("~s", [CALL, BACK, IN_404]),
        ("~q", [FAILED]),
        ("~http", EVENTS),
        ("~dst orders.internal", [BACK]),
    ],
)
def test_operators_on_events(expr: str, expected: list[dict]) -> None:
    assert pick(expr) == expected


def test_default_port_left_out_of_url_like_mitmproxy() -> None:
    assert EventFlow(IN_404).request.pretty_url == "http://gw.example:443/missing"
    ev = flow("inbound", 1.0, 1, port=443, path="/x")
    ev["scheme"] = "https"
    assert EventFlow(ev).request.pretty_url == "https://127.0.0.1/x"


def test_every_mitmproxy_operator_runs_on_an_event() -> None:
    """No operator may raise on the stand-in flow: a filter never crashes the list."""
    for op, _ in flowfilter.help:
        name = op.split(" ")[0]
        if not name.startswith("~"):
            continue
        expr = name + (" x" if "regex" in op else (" 200" if "int" in op else ""))
        flt = flowfilter.parse(expr)
        for ev in EVENTS:
            flt(EventFlow(ev))


def test_headers_and_bodies_never_match() -> None:
    assert pick("~h authorization") == []
    assert pick("~b access_token") == []


@pytest.mark.parametrize("bad", ["~c abc", "~x", "(~d a", "~c", "~d"])
def test_bad_filter_is_a_one_line_error(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        compile_filter(bad)
    assert "\n" not in str(info.value) and bad.strip() in str(info.value)


def test_empty_filter_shows_all() -> None:
    assert compile_filter("  ") is None


def test_help_lists_only_terms_that_can_match() -> None:
    rows = dict(help_rows())
    for never in ("~h regex", "~b regex", "~dns", "~marked", "~websocket", "~t regex"):
        assert never not in rows
    for can in ("~d regex", "~u regex", "~c int", "~m regex", "~e", "role:NAME", "kind:NAME"):
        assert can in rows
    assert "forward_auth" in rows["kind:NAME"] and "callout" in rows["role:NAME"]


JWKS = flow("callout", 102.0, 30, path="/jwks", kind="jwks")
INTRO = flow("callout", 103.0, 30, method="POST", path="/introspect", kind="introspection")


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("role:callout", [CALL, JWKS, INTRO]),
        ("role:backend role:inbound", [BACK, IN_404, FAILED]),
        ("kind:token", [CALL]),  # a callout without a kind (older capture) is a token fetch
        ("kind:jwks", [JWKS]),
        ("kind:jwks kind:introspection", [JWKS, INTRO]),
        ("kind:introspection ~m POST", [INTRO]),
        ("role:callout !~m POST", [JWKS]),
    ],
)
def test_role_and_kind_terms(expr: str, expected: list[dict]) -> None:
    flt = compile_filter(expr)
    assert flt is not None
    assert [ev for ev in EVENTS + [JWKS, INTRO] if matches(flt, ev)] == expected


@pytest.mark.parametrize("expr", ["kind:tokens", "role:gateway", "kind:"])
def test_unknown_role_or_kind_is_one_line(expr: str) -> None:
    with pytest.raises(ValueError) as err:
        compile_filter(expr)
    assert "\n" not in str(err.value) and "one of:" in str(err.value)
