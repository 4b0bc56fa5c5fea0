"""Secret and personal-data audit for the new shapes of auth work (issue 11).

One session (module fixture): the lab's forward-auth gateway behind a real mitmdump with
the addon, callers presenting the lab users' bearers (decision calls carry them in
`Authorization`). Through the same mitmdump's auth-server listener, as a second gateway
sharing the auth server would, the test itself logs the users in (password grant: the
passwords and the user tokens pass the proxy), introspects their tokens (a raw token in
the body, an answer with name and email), asks userinfo (name and email) and exchanges
them (RFC 8693: subject token in, a new token out), all with the lab's confidential
client. Then every output is grepped: the capture, the live stream, the Prometheus
exposition, mitmdump's whole output (status lines, summary), and the report in every
format, from the capture and from the raw flow file (the record layer run again).

Needles: the users' passwords, names, emails and subs, the client secret and its Basic
header, every token issued (user bearers, exchanged tokens: whole, payload, signature).
The raw flow file must hold each of them, or the audit proves nothing.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from inspector.capture.load import analyze_file
from inspector.lab.auth import ACCESS_TOKEN_TYPE, INTROSPECT_PATH, JWKS_PATH, TOKEN_EXCHANGE, TOKEN_PATH, USERINFO_PATH
from inspector.lab.loadgen import fetch_user_tokens
from inspector.lab.secrets_file import read_users
from inspector.lab.session import LabSession, SessionSpec
from inspector.lab.users import default_users
from inspector.views.report.render import FORMATS, render
from tests.hardening.servers import StreamWatcher

LAB_CLIENT = "tokentax-gateway"
REQUESTS = 9  # through the gateway, round-robin over the three users


@dataclass
class Audit:
    needles: dict[str, str]  # what must not appear, by name
    channels: dict[str, bytes]
    raw_flows: bytes
    kinds: dict[str, int]  # by_kind totals of the session


def _needles(named: dict[str, str]) -> dict[str, str]:
    out = {}
    for name, value in named.items():
        out[name] = value
        parts = value.split(".")
        if len(parts) == 3:  # a JWT: its header is public knowledge, payload and signature are not
            out[name + ".payload"], out[name + ".signature"] = parts[1], parts[2]
    return out


def _auth_side_traffic(c: httpx.Client, auth: str, secret_file: str, client_secret: str) -> dict[str, str]:
    """Logins, introspection, userinfo, exchange and JWKS through the proxy's auth listener;
    returns every token issued, by name."""
    client_id, users = read_users(secret_file)
    bearers = asyncio.run(fetch_user_tokens(auth + TOKEN_PATH, client_id, users))
    basic = (LAB_CLIENT, client_secret)
    issued: dict[str, str] = {}
    for (username, _), bearer in zip(users, bearers, strict=True):
        issued[f"{username} bearer"] = bearer
        r = c.post(auth + INTROSPECT_PATH, auth=basic, data={"token": bearer, "token_type_hint": "access_token"})
        assert r.status_code == 200 and r.json()["active"] is True and "email" in r.json()
        r = c.get(auth + USERINFO_PATH, headers={"authorization": f"Bearer {bearer}"})
        assert r.status_code == 200 and "email" in r.json()
        r = c.post(
            auth + TOKEN_PATH,
            auth=basic,
            data={
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": bearer,
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "audience": "orders-service",
            },
        )
        assert r.status_code == 200, r.text
        issued[f"{username} exchanged token"] = r.json()["access_token"]
    assert c.get(auth + JWKS_PATH).status_code == 200
    return issued


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audit]:
    tmp = tmp_path_factory.mktemp("audit-kinds")
    capture, raw = tmp / "cap.jsonl", tmp / "raw.mitm"
    client_secret = "lab-cs-" + secrets.token_urlsafe(24)
    spec = SessionSpec(
        lab_args=["--gateway", "forward-auth", "--client-secret", client_secret, "--auth-latency", "5ms"],
        save=str(capture),
        status="0.5",
        mitm_args=["-w", str(raw), "--set", "tokentax_metrics=127.0.0.1:0"],
    )
    session = LabSession(spec)
    watcher = None
    try:
        session.start()
        assert session.mitm is not None
        watcher = StreamWatcher(session.mitm.stream)
        auth = f"http://127.0.0.1:{session.ports['auth']}"  # the proxy's listener in front of the auth server
        with httpx.Client(trust_env=False, timeout=30) as c:
            issued = _auth_side_traffic(c, auth, session.lab.info["secrets_file"], client_secret)
            bearers = [v for k, v in issued.items() if k.endswith(" bearer")]
            for i in range(REQUESTS):
                headers = {"authorization": f"Bearer {bearers[i % len(bearers)]}"}
                assert c.get(f"{session.gateway_url}/orders/{i}", headers=headers).status_code == 200
        watcher.wait_for(lambda e: e.get("type") == "flow" and e.get("path") == f"/orders/{REQUESTS - 1}")
        m = re.search(r"metrics (\S+?)(?:,|$)", session.mitm.ready_line)
        assert m, session.mitm.ready_line
        metrics = httpx.get(f"http://{m.group(1)}/metrics", trust_env=False, timeout=10).content
        passwords = dict(read_users(session.lab.info["secrets_file"])[1])
    finally:
        session.stop()
        stream = watcher.close() if watcher is not None else b""
    named: dict[str, str] = {
        "client secret": client_secret,
        "basic header": base64.b64encode(f"{LAB_CLIENT}:{client_secret}".encode()).decode(),
        **issued,
    }
    for user in default_users():
        named[f"{user.username} password"] = passwords[user.username]
        named[f"{user.username} email"] = user.email
        named[f"{user.username} name"] = user.name
        named[f"{user.username} sub"] = user.sub
    channels: dict[str, bytes] = {
        "stream": stream,
        "capture": capture.read_bytes(),
        "metrics": metrics,
        "mitmdump output": session.mitm.output().encode() if session.mitm is not None else b"",
    }
    snaps = {}
    for source, path in (("capture", capture), ("raw flows", raw)):
        snaps[source] = analyze_file(path, show_progress=False).snapshot()
        for fmt in FORMATS:
            channels[f"report {fmt} from {source}"] = render(snaps[source], fmt).encode()
    kinds = {k: v["total"] for k, v in snaps["capture"]["callouts"]["by_kind"].items()}
    yield Audit(_needles(named), channels, raw.read_bytes(), kinds)


def test_every_shape_and_every_secret_passed_the_proxy(audit: Audit) -> None:
    """Else the audit would be vacuous."""
    assert audit.kinds == {"token": 3, "introspection": 3, "userinfo": 3, "exchange": 3, "jwks": 1, "forward_auth": 9}
    # the client secret travels only inside the Basic header
    missing = [name for name, value in audit.needles.items() if value.encode() not in audit.raw_flows]
    assert missing == ["client secret"]


CHANNELS = ["stream", "capture", "metrics", "mitmdump output"] + [
    f"report {fmt} from {src}" for src in ("capture", "raw flows") for fmt in FORMATS
]


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_secret_or_personal_data_in(audit: Audit, channel: str) -> None:
    data = audit.channels[channel]
    assert data.strip(), f"{channel} is empty: nothing was audited"
    leaked = [name for name, needle in audit.needles.items() if needle.encode() in data]
    assert not leaked, f"{channel} carries: {', '.join(leaked)}"


def test_mitmdump_output_was_there_to_audit(audit: Audit) -> None:
    out = audit.channels["mitmdump output"].decode()
    assert "tokentax  in " in out and "tokentax summary" in out
    assert re.search(rb'tokentax_flows_total\{role="callout"\} 22\.0', audit.channels["metrics"])
