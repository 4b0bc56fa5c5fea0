"""Secret audit: secrets pass the proxy, and none comes out of any tokentax channel.

One session (module fixture) drives the lab's naive gateway (a known client secret; the
auth server in `--token-mode same` re-issues one access token, which the test fetches
directly to learn it) and, through a further listener of the same mitmdump, a small
OpenID-style upstream that issues refresh and ID tokens, takes a refresh grant, a bearer,
a cookie and a token in a query string. Then every output is collected:

- the live stream (tapped from the start), the JSONL capture, Prometheus /metrics;
- reports in every format, from the capture and from the raw flow file and HAR;
- the redacted raw flow file and HAR (`tokentax redact`);
- mitmdump's whole output: ready line, status lines every half second, the exit summary;
- the logs: tokentax's own mitmdump runs with `-q`, which hides warnings, so the OpenID
  traffic also goes through a second mitmdump with the addon, not quiet, at
  `termlog_verbosity=debug` (`flow_detail=0`: mitmproxy's own flow lines print URLs with
  their query strings, which is mitmproxy's output, not tokentax's);
- the TUI's screens (every tab, flow details) on the capture and on the raw flow file.

The raw flow file must contain every secret (else the audit proves nothing); no channel
may contain any of them, nor the Basic header values, nor a JWT's payload or signature.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inspector.analyzer import Analyzer
from inspector.capture.load import analyze_file
from inspector.lab.common import free_port
from inspector.lab.session import LabSession, SessionSpec
from inspector.mitm.launch import SCRIPT
from inspector.record.fingerprint import Fingerprinter, key_from_text
from inspector.views.report.render import FORMATS, render
from tests.hardening.servers import PlainMitmdump, StreamWatcher, ThreadedUvicorn
from tests.support.captures import capture_events

FP_KEY = "audit-fingerprint-key"
LAB_CLIENT = "tokentax-gateway"
OIDC_CLIENT = "oidc-client"


def _jwt_like(prefix: str) -> str:
    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return (
        seg({"alg": "RS256", "typ": "JWT"})
        + "."
        + seg({"sub": prefix, "nonce": secrets.token_hex(16)})
        + "."
        + prefix
        + secrets.token_urlsafe(32)
    )


@dataclass
class OidcSecrets:
    client_secret: str = field(default_factory=lambda: "oidc-cs-" + secrets.token_urlsafe(24))
    access: str = field(default_factory=lambda: "oidc-at-" + secrets.token_urlsafe(32))
    refresh: str = field(default_factory=lambda: "oidc-rt-" + secrets.token_urlsafe(32))
    refreshed_access: str = field(default_factory=lambda: "oidc-at2-" + secrets.token_urlsafe(32))
    id_token: str = field(default_factory=lambda: _jwt_like("idsig"))
    cookie: str = field(default_factory=lambda: "sess-" + secrets.token_urlsafe(24))
    query_token: str = field(default_factory=lambda: "qtok-" + secrets.token_urlsafe(24))


def oidc_app(s: OidcSecrets) -> Starlette:
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("client_secret") != s.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") == s.refresh:
            return JSONResponse(
                {
                    "access_token": s.refreshed_access,
                    "token_type": "Bearer",
                    "expires_in": 600,
                    "refresh_token": s.refresh,
                }
            )
        return JSONResponse(
            {
                "access_token": s.access,
                "token_type": "Bearer",
                "expires_in": 600,
                "refresh_token": s.refresh,
                "id_token": s.id_token,
                "scope": "openid",
            },
            headers={"set-cookie": f"session={s.cookie}; HttpOnly"},
        )

    async def api(request: Request) -> Response:
        return JSONResponse({"ok": request.headers.get("authorization", "").startswith("Bearer ")})

    return Starlette(routes=[Route("/oauth2/token", token, methods=["POST"]), Route("/api/{rest:path}", api)])


@dataclass
class Audit:
    secrets: dict[str, str]  # name -> secret value
    needles: dict[str, str]  # name -> what must not appear (secrets and their telling parts)
    channels: dict[str, bytes]
    raw_flows: bytes
    capture: Path
    raw_path: Path
    lab_token_fp: str


def _needles(named: dict[str, str]) -> dict[str, str]:
    out = {}
    for name, value in named.items():
        out[name] = value
        parts = value.split(".")
        if len(parts) == 3:  # a JWT: its header is public knowledge, payload and signature are not
            out[name + ".payload"], out[name + ".signature"] = parts[1], parts[2]
        else:
            out[name + "[:16]"] = value[:16]
    return out


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audit]:
    tmp = tmp_path_factory.mktemp("audit")
    capture, raw, har = tmp / "cap.jsonl", tmp / "raw.mitm", tmp / "raw.har"
    lab_secret = "lab-cs-" + secrets.token_urlsafe(24)
    oidc = OidcSecrets()
    upstream = ThreadedUvicorn(oidc_app(oidc))
    verbose_port = free_port()
    verbose = PlainMitmdump(
        [
            "-s",
            str(SCRIPT),
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:{upstream.url}@{verbose_port}",
            "--set",
            "termlog_verbosity=debug",
            "--set",
            "flow_detail=0",
            "--set",
            "tokentax_status=0.5",
            "--set",
            "tokentax_stream=127.0.0.1:0",
        ],
        listeners=1,
    )
    watcher = None
    session: LabSession | None = None
    try:
        verbose.start()
        # only now: verbose's mitmdump binds ports the kernel picks (its stream's), and one
        # of them could be a port free_port had just handed out (CI saw "address already in use")
        oidc_port = free_port()
        spec = SessionSpec(
            lab_args=[
                "--gateway",
                "naive",
                "--client-secret",
                lab_secret,
                "--auth-latency",
                "5ms",
                "--token-mode",
                "same",
            ],
            save=str(capture),
            status="0.5",
            mitm_args=[
                "-w",
                str(raw),
                "--set",
                f"hardump={har}",
                "--mode",
                f"reverse:{upstream.url}@{oidc_port}",
                "--set",
                "tokentax_metrics=127.0.0.1:0",
                "--set",
                f"tokentax_fingerprint_key={FP_KEY}",
            ],
        )
        session = LabSession(spec)
        session.start()
        assert session.mitm is not None
        watcher = StreamWatcher(session.mitm.stream)
        with httpx.Client(trust_env=False, timeout=30) as c:
            for i in range(8):
                assert c.get(f"{session.gateway_url}/orders/{i}").status_code == 200
            # the lab token, learned directly from the auth server (token mode "same" re-issues it)
            r = c.post(
                session.lab.info["token_url"], auth=(LAB_CLIENT, lab_secret), data={"grant_type": "client_credentials"}
            )
            lab_token = r.json()["access_token"]
            for o in (f"http://127.0.0.1:{verbose_port}", f"http://127.0.0.1:{oidc_port}"):
                _oidc_traffic(c, o, oidc)
        watcher.wait_for(lambda e: e.get("type") == "flow" and e.get("path") == "/api/last")
        watcher.wait_for(
            lambda e: (
                e.get("type") == "summary"
                and e["report"]["flows"]["other"] + e["report"]["flows"]["callout"] + e["report"]["flows"]["backend"]
                >= 20
            )
        )
        m = re.search(r"metrics (\S+?)(?:,|$)", session.mitm.ready_line)
        assert m, session.mitm.ready_line
        metrics = httpx.get(f"http://{m.group(1)}/metrics", trust_env=False, timeout=10).content
    finally:
        if session is not None:
            session.stop()
        verbose.stop()
        stream = watcher.close() if watcher is not None else b""
        upstream.stop()
    headless = session.mitm.output().encode() if session.mitm is not None else b""
    logs = "\n".join(verbose.lines).encode()
    named = {
        "lab client secret": lab_secret,
        "lab basic header": base64.b64encode(f"{LAB_CLIENT}:{lab_secret}".encode()).decode(),
        "lab access token": lab_token,
        "oidc client secret": oidc.client_secret,
        "oidc basic header": base64.b64encode(f"{OIDC_CLIENT}:{oidc.client_secret}".encode()).decode(),
        "oidc access token": oidc.access,
        "oidc refresh token": oidc.refresh,
        "oidc refreshed access token": oidc.refreshed_access,
        "oidc id token": oidc.id_token,
        "oidc cookie": oidc.cookie,
        "query token": oidc.query_token,
    }
    channels: dict[str, bytes] = {
        "stream": stream,
        "capture": capture.read_bytes(),
        "metrics": metrics,
        "headless output": headless,
        "logs": logs,
    }
    for source, path in (("capture", capture), ("raw flows", raw), ("har", har)):
        snap = analyze_file(path, show_progress=False).snapshot()
        for fmt in FORMATS:
            channels[f"report {fmt} from {source}"] = render(snap, fmt).encode()
    for src, dst in ((raw, tmp / "redacted.mitm"), (har, tmp / "redacted.har")):
        p = _run_cli("redact", str(src), str(dst))
        assert p.returncode == 0, p.stderr
        channels[f"redacted {src.suffix}"] = dst.read_bytes()
        channels[f"redact command output {src.suffix}"] = (p.stdout + p.stderr).encode()
    p = _run_cli("report", str(capture), "--format", "text")
    channels["tokentax report command"] = (p.stdout + p.stderr).encode()
    fp = Fingerprinter(key_from_text(FP_KEY)).fp(lab_token)
    yield Audit(named, _needles(named), channels, raw.read_bytes(), capture, raw, fp)


def _oidc_traffic(c: httpx.Client, o: str, oidc: OidcSecrets) -> None:
    """Client credentials (secret in Basic and in the form), refresh grant, bearer, cookie, query token."""
    basic = (OIDC_CLIENT, oidc.client_secret)
    r = c.post(
        o + "/oauth2/token",
        auth=basic,
        data={
            "grant_type": "client_credentials",
            "client_id": OIDC_CLIENT,
            "client_secret": oidc.client_secret,
            "scope": "openid",
        },
    )
    assert r.json()["refresh_token"] == oidc.refresh
    r = c.post(
        o + "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": oidc.refresh,
            "client_id": OIDC_CLIENT,
            "client_secret": oidc.client_secret,
        },
    )
    assert r.json()["access_token"] == oidc.refreshed_access
    c.get(o + "/api/one", headers={"authorization": f"Bearer {oidc.access}", "cookie": f"session={oidc.cookie}"})
    c.get(o + "/api/two", headers={"authorization": f"Bearer {oidc.refreshed_access}", "x-id-token": oidc.id_token})
    c.get(o + f"/api/three?access_token={oidc.query_token}&id_token_hint={oidc.id_token}")
    c.get(o + "/api/last", headers={"authorization": f"bearer {oidc.id_token}"})


def test_every_secret_passed_the_proxy(audit: Audit) -> None:
    """Else the audit would be vacuous: each secret is in the raw flows mitmproxy recorded."""
    # the lab gateway sends its client secret only inside the Basic header
    missing = [
        name
        for name, value in audit.secrets.items()
        if value.encode() not in audit.raw_flows and name != "lab client secret"
    ]
    assert not missing
    # and tokentax saw the lab token: as its keyed fingerprint, on callouts and backend calls
    evs = capture_events(audit.capture)
    fps = {(e.get("token") or e.get("bearer") or {}).get("fp") for e in evs if e.get("type") == "flow"}
    assert audit.lab_token_fp in fps
    refresh = [e for e in evs if e.get("type") == "flow" and (e.get("token") or {}).get("refresh")]
    assert refresh, "a token response with a refresh token was recorded"


CHANNELS = [
    "stream",
    "capture",
    "metrics",
    "headless output",
    "logs",
    "tokentax report command",
    "redacted .mitm",
    "redacted .har",
    "redact command output .mitm",
    "redact command output .har",
] + [f"report {fmt} from {src}" for src in ("capture", "raw flows", "har") for fmt in FORMATS]


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_secret_in(audit: Audit, channel: str) -> None:
    data = audit.channels[channel]
    assert data.strip(), f"{channel} is empty: nothing was audited"
    leaked = [name for name, needle in audit.needles.items() if needle.encode() in data]
    assert not leaked, f"{channel} carries: {', '.join(leaked)}"


def test_headless_output_and_logs_were_there_to_audit(audit: Audit) -> None:
    out = audit.channels["headless output"].decode()
    assert out.count("tokentax  in ") >= 2 and "tokentax summary" in out
    logs = audit.channels["logs"].decode()
    assert "client connect" in logs and "tokentax: ready" in logs and "tokentax summary" in logs  # debug level


async def test_no_secret_on_the_tui_screen(audit: Audit) -> None:
    pytest.importorskip("inspector.views.tui.app", reason="the TUI (inspector/tui) is not there yet")
    from inspector.analyzer.core import AnalyzerConfig
    from inspector.views.tui.app import TokentaxApp
    from inspector.views.tui.feed import RING, file_feed

    screens: list[str] = []
    for path in (audit.capture, audit.raw_path):
        analyzer = analyze_file(path, analyzer=Analyzer(AnalyzerConfig(recent_flows=RING)), show_progress=False)
        app = TokentaxApp(file_feed(path, analyzer), out_dir=path.parent)
        async with app.run_test(size=(200, 60)) as pilot:
            await pilot.pause()
            screens.append(app.export_screenshot())
            for _ in range(12):  # walk the flows list: each flow's detail pane in turn
                await pilot.press("down")
                await pilot.pause()
                screens.append(app.export_screenshot())
            for tab in ("2", "3", "4"):
                await pilot.press(tab)
                await pilot.pause()
                screens.append(app.export_screenshot())
    svg = "\n".join(screens).replace("&#160;", " ")
    assert "/orders" in svg and "oidc-client" in svg  # screen text is greppable: paths, token keys
    leaked = [name for name, needle in audit.needles.items() if needle in svg]
    assert not leaked, f"the TUI shows: {', '.join(leaked)}"
