"""`tokentax redact`: no secret survives, mitmproxy still opens the file, the figures stay the same."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from mitmproxy.io import FlowReader, FlowWriter
from mitmproxy.test import tflow

from inspector.capture.detect import LoadOptions
from inspector.capture.load import analyze_file
from inspector.capture.redact import FP_PREFIX, Redactor, redact_flow
from inspector.commands.main import main
from inspector.record.fingerprint import Fingerprinter, key_from_text

from .conftest import Session
from .test_readers import counts


def read_flows(path: Path) -> list:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        return list(FlowReader(fh).stream())


def assert_no_secret(data: bytes, secrets: list[str]) -> None:
    leaked = [s for s in secrets if s.encode() in data]
    assert not leaked, f"{len(leaked)} secrets survived, e.g. {leaked[0][:6]}..."


def test_flow_file_redacted(naive_session: Session, tmp_path: Path, capsys) -> None:
    s = naive_session
    raw = s.raw.read_bytes()
    assert all(x.encode() in raw for x in s.secrets), "the raw file should hold every secret"
    out = tmp_path / "red.mitm"
    assert main(["redact", str(s.raw), str(out), "--key", "k1"]) == 0
    printed = capsys.readouterr().out
    assert (
        f"wrote {out}" in printed and "authorization header" in printed and "client_secret in request form" in printed
    )
    data = out.read_bytes()
    assert_no_secret(data, s.secrets)
    flows = read_flows(out)  # mitmproxy's own reader
    assert len(flows) == 3 * s.requests
    fpr = Fingerprinter(key_from_text("k1"))
    backend = [f for f in flows if f.request.path.startswith("/api/") and f.request.headers.get("authorization")]
    assert all(f.request.headers["authorization"].startswith(f"Bearer {FP_PREFIX}") for f in backend)
    issued = FP_PREFIX + fpr.fp(s.secrets[1])  # the first access token the auth server issued
    assert issued.encode() in data
    set_cookies = [f.response.headers.get("set-cookie") for f in flows if f.response.headers.get("set-cookie")]
    assert set_cookies and all(c.startswith(f"backend_sid={FP_PREFIX}") and "HttpOnly" in c for c in set_cookies)
    # the figures do not change
    want = counts(analyze_file(s.capture, show_progress=False).snapshot())
    got = counts(analyze_file(out, LoadOptions(inbound=s.inbound_spec), show_progress=False).snapshot())
    assert got == want


def test_har_redacted(naive_session: Session, tmp_path: Path, capsys) -> None:
    s = naive_session
    out = tmp_path / "red.har"
    assert main(["redact", str(s.har), str(out)]) == 0
    data = out.read_bytes()
    assert_no_secret(data, s.secrets)
    doc = json.loads(data)
    assert len(doc["log"]["entries"]) == 3 * s.requests
    assert len(read_flows(out)) == 3 * s.requests  # mitmproxy's FlowReader reads HAR too
    want = counts(analyze_file(s.capture, show_progress=False).snapshot())
    got = counts(analyze_file(out, LoadOptions(inbound=s.inbound_spec), show_progress=False).snapshot())
    assert got == want


def test_gzip_in_gzip_out(naive_session: Session, tmp_path: Path) -> None:
    gz = tmp_path / "raw.mitm.gz"
    gz.write_bytes(gzip.compress(naive_session.raw.read_bytes()))
    out = tmp_path / "red.mitm.gz"
    assert main(["redact", str(gz), str(out)]) == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert_no_secret(gzip.decompress(out.read_bytes()), naive_session.secrets)
    assert len(read_flows(out)) == 3 * naive_session.requests


def _token_flows() -> list:
    """Synthetic flows with secrets in every place the redactor knows about."""
    f1 = tflow.tflow(resp=True)
    f1.request.method = "POST"
    f1.request.path = "/token?access_token=QUERYSECRET123&x=1"
    f1.request.headers["content-type"] = "application/json"
    f1.request.headers["authorization"] = "Basic Y2xpZW50OnNlY3JldHNlY3JldA=="
    f1.request.headers["proxy-authorization"] = "Basic cHJveHk6cHJveHlwYXNzd29yZA=="
    f1.request.headers["cookie"] = "a=COOKIEONE12345; b=COOKIETWO12345"
    f1.request.content = json.dumps(
        {"grant_type": "password", "client_secret": "JSONCLIENTSECRET", "password": "hunter2hunter2"}
    ).encode()
    f1.response.headers["content-type"] = "application/json"
    f1.response.headers["content-encoding"] = "gzip"
    f1.response.content = json.dumps(
        {
            "access_token": "ACCESSTOKEN123456",
            "token_type": "Bearer",
            "nested": {"refresh_token": "REFRESHTOKEN12345", "id_token": "IDTOKEN1234567890"},
        }
    ).encode()
    f2 = tflow.tflow(resp=True)
    f2.request.headers["authorization"] = "Bearer ACCESSTOKEN123456"
    f2.response.headers["content-type"] = "text/plain"
    f2.response.content = b"log: presented ACCESSTOKEN123456 and REFRESHTOKEN12345"  # only the sweep finds these
    f3 = tflow.tflow(resp=True)
    f3.request.method = "POST"
    f3.request.headers["content-type"] = "application/x-www-form-urlencoded"
    f3.request.content = b"grant_type=refresh_token&refresh_token=REFRESHTOKEN12345&client_secret=FORM%2BSECRET%2F1"
    return [f1, f2, f3]


SYNTHETIC_SECRETS = [
    "QUERYSECRET123",
    "Y2xpZW50OnNlY3JldHNlY3JldA==",
    "cHJveHk6cHJveHlwYXNzd29yZA==",
    "COOKIEONE12345",
    "COOKIETWO12345",
    "JSONCLIENTSECRET",
    "hunter2hunter2",
    "ACCESSTOKEN123456",
    "REFRESHTOKEN12345",
    "IDTOKEN1234567890",
    "FORM%2BSECRET%2F1",
    "FORM+SECRET/1",
]


def test_every_kind_of_secret(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.mitm"
    with open(src, "wb") as fh:
        w = FlowWriter(fh)
        for f in _token_flows():
            w.add(f)
    plain = [x for x in SYNTHETIC_SECRETS if x != "IDTOKEN1234567890"]  # that one is inside a gzip body
    assert all(x.encode() in src.read_bytes() for x in plain if x != "FORM+SECRET/1")
    out = tmp_path / "out.mitm"
    assert main(["redact", str(src), str(out)]) == 0
    printed = capsys.readouterr().out
    for what in (
        "proxy-authorization header",
        "cookie header",
        "access_token in query",
        "client_secret in request JSON",
        "password in request JSON",
        "refresh_token in response JSON",
        "id_token in response JSON",
        "client_secret in request form",
        "other occurrences",
    ):
        assert what in printed, what
    assert_no_secret(out.read_bytes(), SYNTHETIC_SECRETS)
    f1, f2, f3 = read_flows(out)
    assert f1.request.headers["authorization"].startswith(f"Basic {FP_PREFIX}")
    assert (
        f1.request.headers["cookie"].startswith(f"a={FP_PREFIX}") and f"; b={FP_PREFIX}" in f1.request.headers["cookie"]
    )
    assert f1.request.query["x"] == "1"
    body = json.loads(f1.response.content)  # still gzip-encoded, still JSON
    assert f1.response.headers["content-encoding"] == "gzip"
    assert body["token_type"] == "Bearer" and body["access_token"].startswith(FP_PREFIX)
    assert body["nested"]["id_token"].startswith(FP_PREFIX)
    # one secret, one fingerprint, wherever it appears
    assert f2.request.headers["authorization"] == f"Bearer {body['access_token']}"
    assert body["access_token"].encode() in f2.response.content
    assert f3.request.urlencoded_form["refresh_token"] == body["nested"]["refresh_token"]


def test_redactor_keeps_json_layout() -> None:
    r = Redactor(Fingerprinter(b"k" * 32))
    text = '{\n  "access_token" : "abcdefgh12345",\n  "n": 1\n}'
    out = r.json_text(text, "response")
    assert out == text.replace("abcdefgh12345", r.mask("abcdefgh12345"))


def test_redact_is_idempotent() -> None:
    r = Redactor(Fingerprinter(b"k" * 32))
    f = _token_flows()[1]
    redact_flow(f, r)
    once = f.request.headers["authorization"]
    redact_flow(f, r)
    assert f.request.headers["authorization"] == once


@pytest.mark.parametrize("case", ["jsonl", "exists", "same", "missing"])
def test_redact_refuses_bad_arguments(case: str, naive_session: Session, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.mitm"
    src = str(naive_session.raw)
    if case == "jsonl":
        src = str(naive_session.capture)
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "same":
        out = naive_session.raw
    elif case == "missing":
        src = str(tmp_path / "nope.mitm")
    assert main(["redact", src, str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tokentax: error: ")
    if case == "exists":
        assert out.read_bytes() == b"keep me"
