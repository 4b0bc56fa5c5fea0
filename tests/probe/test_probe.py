"""`tokentax probe` against real uvicorn servers on 127.0.0.1 with real sockets.

The server socket is bound and listening before uvicorn starts, so requests queue in
the backlog until it accepts: no sleeping to wait for startup. Timing assertions are
relative only (a 200 ms handler is at least 200 ms; an immediate one is faster).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from inspector.commands import main as cli
from inspector.lab.common import free_port
from inspector.probe.timing import (
    PHASES,
    SCHEMA,
    Target,
    estimate_tax,
    mask_header,
    mask_headers,
    mask_url,
    percentile,
    report,
    run_probe,
)

SLOW_S = 0.2
TOKEN = "tok-VERY-SECRET-0123456789"
CLIENT_SECRET = "s3cr3t-client-pw"


@dataclass
class Lab:
    base: str
    seen: list[dict[str, str]] = field(default_factory=list)


def _app(lab: Lab) -> Starlette:
    async def fast(request: Request) -> PlainTextResponse:
        lab.seen.append({k.lower(): v for k, v in request.headers.items()})
        return PlainTextResponse("ok")

    async def slow(request: Request) -> PlainTextResponse:
        await asyncio.sleep(SLOW_S)
        return PlainTextResponse("ok")

    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))  # no python-multipart here
        lab.seen.append({**{k.lower(): v for k, v in request.headers.items()}, "form": str(form)})
        return JSONResponse({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 38399})

    return Starlette(
        routes=[
            Route("/fast", fast),
            Route("/slow", slow),
            Route("/token", token, methods=["POST", "GET"]),
        ]
    )


@pytest.fixture
def lab() -> Iterator[Lab]:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when
    # the listener's proto is TCP; socket.socket() gives proto 0, and then keep-alive
    # responses stall ~40 ms between headers and body (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue here until uvicorn accepts them
    port = sock.getsockname()[1]
    state = Lab(base=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(_app(state), log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield state
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """Accepts TCP (kernel backlog) but never answers: a read timeout."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()


def _run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["probe", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- measurement


def test_phases_present_and_ordered(lab: Lab) -> None:
    [result] = run_probe([Target(lab.base + "/fast", "fast")], count=5)
    assert len(result.samples) == 5
    for s in result.samples:
        assert s.ok and s.status == 200
        assert set(s.phases) == set(PHASES)
        assert s.phases["dns"] == 0  # IP literal: no lookup
        assert s.phases["tls"] == 0  # plain http
        assert s.phases["connect"] > 0  # fresh connection per sample
        assert s.phases["connect"] + s.phases["wait"] <= s.phases["ttfb"] <= s.phases["total"]


def test_slow_server_shows_in_ttfb_and_fast_is_faster(lab: Lab) -> None:
    doc = report(run_probe([Target(lab.base + "/fast", "fast"), Target(lab.base + "/slow", "slow")], count=5))
    fast, slow = (t["phases"] for t in doc["targets"])
    assert slow["ttfb"]["p50"] >= SLOW_S * 1000
    assert slow["wait"]["p50"] >= SLOW_S * 1000
    assert fast["ttfb"]["p50"] < slow["ttfb"]["p50"]
    for phases in (fast, slow):
        for stats in phases.values():
            assert stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"]


def test_reuse_keeps_the_connection(lab: Lab) -> None:
    [result] = run_probe([Target(lab.base + "/fast", "fast")], count=4, reuse=True)
    connects = [s.phases["connect"] for s in result.samples]
    assert connects[0] > 0
    assert connects[1:] == [0.0, 0.0, 0.0]


def test_refused_port_counts_errors_not_crash(refused_url: str) -> None:
    doc = report(run_probe([Target(refused_url, "gone")], count=3))
    [t] = doc["targets"]
    assert t["samples"] == 3 and t["ok"] == 0
    assert t["errors"] == {"refused": 3}
    assert t["status"] == {}
    assert all(v is None for stats in t["phases"].values() for v in stats.values())


def test_timeout_counts_as_error(silent_url: str) -> None:
    [result] = run_probe([Target(silent_url, "silent")], count=2, timeout=0.1)
    assert [s.error for s in result.samples] == ["timeout", "timeout"]


# ---------------------------------------------------------------- stats and estimate


def test_percentile_interpolates() -> None:
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0


def test_estimate_callout_explains_the_gap() -> None:
    est = estimate_tax(direct_ttfb_p50=100.0, gateway_ttfb_p50=912.0, auth_ttfb_p50=803.0)
    assert est["gateway_added_ms"] == 812.0
    assert est["auth_share_pct"] == 98.9
    assert est["summary"] == (
        "gateway adds 812 ms over direct; auth server alone takes 803 ms: the callout explains 99 % of it"
    )


def test_estimate_edge_cases() -> None:
    no_gap = estimate_tax(100.0, 95.0, 800.0)
    assert no_gap["gateway_added_ms"] == -5.0 and no_gap["auth_share_pct"] is None
    assert "no measurable time" in no_gap["summary"]
    more = estimate_tax(100.0, 300.0, 400.0)
    assert more["auth_share_pct"] == 200.0 and "more than explain" in more["summary"]
    no_auth = estimate_tax(100.0, 300.0)
    assert no_auth["summary"] == "gateway adds 200 ms over direct" and no_auth["auth_share_pct"] is None
    missing = estimate_tax(None, 300.0, 10.0)
    assert missing["gateway_added_ms"] is None and "direct" in missing["summary"]


# ---------------------------------------------------------------- masking


def test_mask_header_and_url() -> None:
    assert mask_header("Authorization", "Bearer abc.def") == "Bearer ***"
    assert mask_header("authorization", "opaque-token") == "***"
    assert mask_header("Cookie", "sid=123") == "***"
    assert mask_header("X-Trace", "visible") == "visible"
    assert mask_headers([("Proxy-Authorization", "Basic Zm9vOmJhcg==")]) == [["Proxy-Authorization", "Basic ***"]]
    assert mask_url("http://u:pw@127.0.0.1:1/a?access_token=x&q=1") == "http://u:***@127.0.0.1:1/a?access_token=***&q=1"
    assert mask_url("http://127.0.0.1:1/a?q=a%20b") == "http://127.0.0.1:1/a?q=a%20b"


def test_cli_masks_header_values_but_sends_them(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("json", "text"):
        code, out, err = _run_cli(
            capsys,
            lab.base + "/fast",
            "-n",
            "1",
            "--interval",
            "0",
            "--format",
            fmt,
            "-H",
            "Authorization: Bearer sekrit-bearer",
            "-H",
            "Cookie: sid=cookie-value",
            "-H",
            "X-Trace: visible-value",
        )
        assert code == 0
        assert "sekrit-bearer" not in out + err and "cookie-value" not in out + err
        assert "Bearer ***" in out and "visible-value" in out
    assert lab.seen[-1]["authorization"] == "Bearer sekrit-bearer"
    assert lab.seen[-1]["cookie"] == "sid=cookie-value"


# ---------------------------------------------------------------- CLI


def test_cli_json_schema(lab: Lab, refused_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run_cli(
        capsys,
        lab.base + "/fast",
        "--label",
        f"down={refused_url}",
        "-n",
        "2",
        "--interval",
        "0",
        "--format",
        "json",
    )
    assert code == 1  # one URL never answered
    doc = json.loads(out)
    assert doc["schema"] == SCHEMA and doc["estimate"] is None
    assert [t["label"] for t in doc["targets"]] == [lab.base + "/fast", "down"]
    for t in doc["targets"]:
        assert set(t) >= {"label", "url", "samples", "errors", "status", "phases"}
        assert list(t["phases"]) == list(PHASES)
        for stats in t["phases"].values():
            assert list(stats) == ["min", "p50", "p95", "max"]
    up, down = doc["targets"]
    assert up["status"] == {"200": 2} and up["errors"] == {}
    assert down["errors"] == {"refused": 2}


def test_cli_tax_estimate_with_token_request(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--label",
        f"direct={lab.base}/fast",
        "--label",
        f"gateway={lab.base}/slow",
        "--label",
        f"auth={lab.base}/token",
        "--auth-basic",
        f"probe-client:{CLIENT_SECRET}",
        "-n",
        "3",
        "--interval",
        "0",
    ]
    code, out, err = _run_cli(capsys, *args, "--format", "json")
    assert code == 0
    est = json.loads(out)["estimate"]
    assert est["gateway_added_ms"] > 0 and est["auth_share_pct"] is not None and est["notes"] == []
    assert est["summary"].startswith("gateway adds ")
    token_req = lab.seen[-1]
    assert token_req["form"] == str({"grant_type": "client_credentials"})
    assert token_req["authorization"] == "Basic " + base64.b64encode(f"probe-client:{CLIENT_SECRET}".encode()).decode()

    code, text, err = _run_cli(capsys, *args)
    assert code == 0 and "tax estimate: gateway adds" in text and "ttfb" in text
    basic = base64.b64encode(f"probe-client:{CLIENT_SECRET}".encode()).decode()
    for secret in (CLIENT_SECRET, TOKEN, basic):
        assert secret not in out + text + err


def test_cli_estimate_notes_untokened_auth(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run_cli(
        capsys,
        "--label",
        f"direct={lab.base}/fast",
        "--label",
        f"gateway={lab.base}/fast",
        "--label",
        f"auth={lab.base}/token",
        "-n",
        "1",
        "--interval",
        "0",
        "--format",
        "json",
    )
    assert code == 0
    assert any("--auth-basic" in n for n in json.loads(out)["estimate"]["notes"])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["not-a-url"], "bad URL"),
        (["ftp://127.0.0.1/x"], "bad URL"),
        (["http://127.0.0.1:1/", "-n", "abc"], "-n"),
        (["http://127.0.0.1:1/", "-n", "0"], "-n"),
        (["http://127.0.0.1:1/", "--interval", "soon"], "--interval"),
        (["http://127.0.0.1:1/", "--timeout", "0"], "--timeout"),
        (["http://127.0.0.1:1/", "--format", "xml"], "--format"),
        (["http://127.0.0.1:1/", "--method", "PUT"], "--method"),
        (["http://127.0.0.1:1/", "-H", "Authorization Bearer leaked"], "-H"),
        (["--label", "direct"], "--label"),
        (["http://127.0.0.1:1/", "--auth-basic", "id:leaked"], "--auth-basic"),
        ([], "at least one URL"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("tokentax: error: ") and err.count("\n") == 1
    assert needle in err and "leaked" not in err
