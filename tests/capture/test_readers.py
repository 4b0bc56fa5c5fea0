"""One session read three ways (live JSONL capture, raw flow file, HAR export) gives one answer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from inspector.capture.detect import LoadOptions, load_events
from inspector.capture.load import analyze_file
from inspector.commands.main import main

from .conftest import Session


def counts(s: dict) -> dict:
    c = s["callouts"]
    return {
        "callout": c["total"],
        "redundant": c["redundant"],
        "identical": c["identical"],
        "inbound": s["flows"]["inbound"],
        "backend": s["flows"]["backend"],
        "failed": c["failed"],
    }


def snap(path: Path, inbound: str = "", warnings: list[str] | None = None) -> dict:
    warn = warnings.append if warnings is not None else (lambda _m: None)
    return analyze_file(path, LoadOptions(inbound=inbound, warn=warn), show_progress=False).snapshot()


def test_jsonl_flowfile_and_har_agree(naive_session: Session) -> None:
    s = naive_session
    live = counts(snap(s.capture))
    assert live == {
        "callout": s.requests,
        "redundant": s.requests - 1,
        "identical": s.requests - 3,
        "inbound": s.requests,
        "backend": s.requests,
        "failed": 0,
    }
    assert counts(snap(s.raw, s.inbound_spec)) == live
    assert counts(snap(s.raw, str(s.inbound_port))) == live  # a bare listener port works for flow files
    assert counts(snap(s.har, s.inbound_spec)) == live


def test_readers_yield_a_session_event_first(naive_session: Session) -> None:
    for path, source in ((naive_session.raw, "mitm"), (naive_session.har, "har")):
        first = next(iter(load_events(path, LoadOptions(inbound=naive_session.inbound_spec))))
        assert first["type"] == "session" and first["source"] == source and first["roles_inferred"] is False
        assert first["inbound"] == naive_session.inbound_spec


def test_har_keeps_time_to_first_byte(naive_session: Session) -> None:
    """mitmproxy's HAR reader puts the response start at the request start; the timings put it back."""
    live = snap(naive_session.capture)["inbound"]
    har = snap(naive_session.har, naive_session.inbound_spec)["inbound"]
    assert har["ttfb_p50_ms"] and har["ttfb_p50_ms"] > 0
    assert abs(har["ttfb_p50_ms"] - live["ttfb_p50_ms"]) <= 0.1 * live["ttfb_p50_ms"] + 1


def test_without_inbound_roles_are_inferred_and_said(naive_session: Session) -> None:
    warnings: list[str] = []
    s = snap(naive_session.raw, "", warnings)
    assert s["session"]["roles_inferred"] is True
    assert any("roles are inferred" in w and str(naive_session.raw) in w for w in warnings)
    assert s["callouts"]["total"] == naive_session.requests  # token calls are recognised by their shape
    assert s["flows"]["inbound"] == naive_session.requests  # the gateway's flows contain its hops
    assert s["roles"]["by"]["containment"] == naive_session.requests


def test_har_with_a_bare_port_says_it_cannot_match(naive_session: Session) -> None:
    warnings: list[str] = []
    s = snap(naive_session.har, str(naive_session.inbound_port), warnings)
    assert s["flows"]["inbound"] == naive_session.requests  # inferred by containment instead
    assert any("does not record proxy listeners" in w and "inferred by containment" in w for w in warnings)


def test_gzip_compressed_flow_file_and_har(naive_session: Session, tmp_path: Path) -> None:
    want = counts(snap(naive_session.capture))
    for src in (naive_session.raw, naive_session.har, naive_session.capture):
        gz = tmp_path / (src.name + ".gz")
        gz.write_bytes(gzip.compress(src.read_bytes()))
        assert counts(snap(gz, naive_session.inbound_spec)) == want, src.name


def test_truncated_flow_file_keeps_whole_flows_with_a_warning(naive_session: Session, tmp_path: Path) -> None:
    data = naive_session.raw.read_bytes()
    cut = tmp_path / "cut.mitm"
    cut.write_bytes(data[: len(data) - 40])
    warnings: list[str] = []
    s = snap(cut, naive_session.inbound_spec, warnings)
    total = sum(s["flows"].values())
    assert 0 < total < 3 * naive_session.requests
    assert any("cut short" in w and str(cut) in w for w in warnings)


def test_report_cli_reads_raw_files(naive_session: Session, capsys) -> None:
    assert main(["report", str(naive_session.raw), "--inbound", naive_session.inbound_spec, "-f", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["callouts"]["total"] == naive_session.requests
    assert out["session"]["source"] == "mitm"


def _browser_entry(start: str, url: str, timings: dict, status: int = 200, **extra) -> dict:
    entry = {
        "startedDateTime": start,
        "time": sum(v for v in timings.values() if v > 0),
        "request": {
            "method": "GET",
            "url": url,
            "httpVersion": "http/2.0",
            "headers": [],
            "cookies": [],
            "queryString": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": "",
            "httpVersion": "http/2.0",
            "headers": [],
            "cookies": [],
            "content": {"size": 0, "mimeType": "text/plain"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": timings,
        "serverIPAddress": "10.0.0.1",
    }
    entry.update(extra)
    return entry


def test_browser_style_har(tmp_path: Path) -> None:
    """A HAR as browsers write it: sequential phases, params-only form bodies, failed entries, a BOM."""
    token_entry = _browser_entry(
        "2026-01-01T10:00:00.000Z",
        "https://idp.example/oauth2/token",
        {"blocked": 1, "dns": 2, "connect": 10, "ssl": 6, "send": 1, "wait": 50, "receive": 3},
    )
    token_entry["request"]["method"] = "POST"
    token_entry["request"]["postData"] = {
        "mimeType": "application/x-www-form-urlencoded",
        "params": [{"name": "grant_type", "value": "client_credentials"}, {"name": "client_id", "value": "web"}],
    }
    token_entry["response"]["content"] = {
        "size": 60,
        "mimeType": "application/json",
        "text": '{"access_token":"abcdefgh12345678","token_type":"Bearer","expires_in":600}',
    }
    reused = _browser_entry(
        "2026-01-01T10:00:01.000Z",
        "https://idp.example/oauth2/token",
        {"blocked": 0, "dns": -1, "connect": -1, "ssl": -1, "send": 1, "wait": 40, "receive": 2},
    )
    reused["request"] = dict(token_entry["request"])
    reused["response"] = dict(token_entry["response"])
    failed = _browser_entry(
        "2026-01-01T10:00:02.000Z", "https://api.example/x", {"send": 0, "wait": 0, "receive": 0}, status=0, time=120
    )
    failed["response"]["_error"] = "net::ERR_CONNECTION_RESET"
    doc = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [],
            "entries": [token_entry, reused, failed],
        }
    }
    har = tmp_path / "browser.har"
    har.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    evs = [e for e in load_events(har, LoadOptions()) if e["type"] == "flow"]
    first, second, third = evs
    assert first["role"] == "callout" and first["token"]["expires_in"] == 600
    assert first["key"]["client_id"] == "web"
    t = first["timing"]
    assert (t["connect"], t["tls"], t["send"], t["wait"], t["receive"]) == (4.0, 6.0, 1.0, 50.0, 3.0)
    assert t["ttfb"] == 64.0 and t["total"] == 67.0 and t["reused"] is False
    assert second["timing"]["reused"] is True and second["timing"]["connect"] == 0.0
    assert second["timing"]["ttfb"] == 41.0
    assert third["status"] is None and third["error"]["kind"] == "reset"
    assert abs(third["end"] - third["ts"] - 0.12) < 1e-6
