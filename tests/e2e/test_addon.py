"""The addon inside real mitmdump: option validation, the stream's gatekeeping, passivity, errors."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from inspector.mitm.launch import SCRIPT, Mitmdump, mitmdump_command


@pytest.fixture
def upstream():
    """A plain HTTP server that answers with a fixed, odd body."""

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"\x00\xffbinary\xfe" + self.path.encode()
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("x-odd", "Value With  Spaces")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def run_mitmdump(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        mitmdump_command() + ["-q", "--listen-host", "127.0.0.1", "--listen-port", "0", "-s", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "option, needle",
    [
        ("tokentax_status=abc", "tokentax_status must be a number of seconds, got 'abc'"),
        ("tokentax_inbound=8080,banana", "'banana' is neither a port nor a mitmproxy mode spec"),
        ("tokentax_inbound=99999", "port 99999 is out of range"),
        ("tokentax_stream=0.0.0.0:7391", "is not a loopback address: set tokentax_stream_token"),
        ("tokentax_stream=nowhere", "tokentax_stream must be HOST:PORT"),
        ("tokentax_rules=/nonexistent/rules.toml", "cannot read rules file /nonexistent/rules.toml"),
        ("tokentax_save=/nonexistent/dir/cap.jsonl", "cannot write capture /nonexistent/dir/cap.jsonl"),
        ("tokentax_gateway=gatewayx", "tokentax_gateway: unknown gateway 'gatewayx'; known: Kong, Gravitee"),
    ],
)
def test_bad_option_stops_mitmdump_with_one_clear_line(option: str, needle: str) -> None:
    p = run_mitmdump("--set", option)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if "tokentax:" in line]
    assert len(lines) == 1 and needle in lines[0], out


def test_bad_rules_file_is_named(tmp_path: Path) -> None:
    rules = tmp_path / "r.toml"
    rules.write_text("[callout\nhosts = 1\n")
    p = run_mitmdump("--set", f"tokentax_rules={rules}")
    assert p.returncode != 0 and f"rules file {rules}: not valid TOML" in p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr


def _hello(addr: str, token: str | None) -> bytes:
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        hello = {"hello": "tokentax/1"} if token is None else {"hello": "tokentax/1", "token": token}
        s.sendall(json.dumps(hello).encode() + b"\n")
        return s.makefile("rb").readline()


def test_stream_token_required_when_set() -> None:
    with Mitmdump(
        [
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            "0",
            "--set",
            "tokentax_stream=127.0.0.1:0",
            "--set",
            "tokentax_stream_token=right-token",
            "--set",
            "tokentax_status=0",
        ]
    ) as m:
        assert b'"refused"' in _hello(m.stream, None)
        assert b'"refused"' in _hello(m.stream, "wrong")
        assert json.loads(_hello(m.stream, "right-token"))["type"] == "session"
    assert "right-token" not in m.output()


def test_garbage_client_dropped_others_unaffected(upstream: str, unused_port: int) -> None:
    port = unused_port
    with Mitmdump(
        [
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:{upstream}@{port}",
            "--set",
            "tokentax_stream=127.0.0.1:0",
            "--set",
            "tokentax_status=0",
        ]
    ) as m:
        host, sport = m.stream.rsplit(":", 1)
        good = socket.create_connection((host, int(sport)), timeout=10)
        good.sendall(b'{"hello": "tokentax/1"}\n')
        good_r = good.makefile("rb")
        assert json.loads(good_r.readline())["type"] == "session"
        bad = socket.create_connection((host, int(sport)), timeout=10)
        bad.sendall(b'{"hello": "tokentax/1"}\n')
        bad_r = bad.makefile("rb")
        bad_r.readline()
        bad.sendall(b"\x00\x01 not json at all\n")
        # the server closes the garbage client: reading drains to EOF
        while bad_r.readline():
            pass
        httpx.get(f"http://127.0.0.1:{port}/after", trust_env=False)
        while True:  # the good client still gets the live flow event
            ev = json.loads(good_r.readline())
            if ev["type"] == "flow":
                assert ev["path"] == "/after"
                break
        good.close()
        bad.close()


def test_traffic_passes_byte_for_byte(upstream: str, unused_port: int) -> None:
    direct = httpx.get(upstream + "/x?q=1", trust_env=False)
    with Mitmdump(
        [
            "--listen-host",
            "127.0.0.1",
            "--mode",
            f"reverse:{upstream}@{unused_port}",
            "--set",
            f"tokentax_inbound={unused_port}",
            "--set",
            "tokentax_stream=off",
            "--set",
            "tokentax_status=0",
        ]
    ):
        proxied = httpx.get(f"http://127.0.0.1:{unused_port}/x?q=1", trust_env=False)
    assert proxied.status_code == direct.status_code and proxied.content == direct.content
    drop = {"date", "server"}
    assert [(k, v) for k, v in proxied.headers.items() if k not in drop] == [
        (k, v) for k, v in direct.headers.items() if k not in drop
    ]


def test_addon_error_is_counted_and_never_raised(caplog) -> None:
    from mitmproxy.test import taddons

    from inspector.mitm.addon import TokenTax

    addon = TokenTax()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, tokentax_stream="off")

        class Broken:
            request = property(lambda self: (_ for _ in ()).throw(RuntimeError("Bearer s3cr3t-in-message")))

        addon.response(Broken())
        addon.error(Broken())
        assert addon.errors == 2
        assert addon.analyzer.snapshot()["events"] == 0
        addon._tick()  # the periodic addon event carries the count to the summary
        assert addon.analyzer.snapshot()["addon"]["errors"] == 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "addon error #1 in response: RuntimeError" in logged
    assert "s3cr3t" not in logged  # the exception message could quote traffic: never logged


def test_flows_wait_in_a_small_batch_yet_every_reader_sees_them_all(tmp_path: Path) -> None:
    """Events are built a batch at a time (cheaper inside mitmdump), in the order the flows
    finished; reading the analyzer, a tick or a probe flushes the batch first, and a flow
    with big bodies is never held."""
    from mitmproxy.test import taddons, tflow

    from inspector.capture.jsonl import read_events
    from inspector.mitm import addon as A

    cap = tmp_path / "cap.jsonl"
    addon = A.TokenTax()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, tokentax_stream="off", tokentax_save=str(cap))
        flows = [tflow.tflow(resp=True) for _ in range(3)]
        for f in flows:
            addon.response(f)
        assert addon.pending == 3  # held, not built yet
        assert addon.analyzer.flows.total() == 3  # the reader sees them all
        assert addon.pending == 0

        for _ in range(A.FLOW_BATCH - 1):
            addon.response(tflow.tflow(resp=True))
        assert addon.pending == A.FLOW_BATCH - 1
        addon.response(tflow.tflow(resp=True))
        assert addon.pending == 0  # a full batch is built at once

        small = tflow.tflow(resp=True)
        big = tflow.tflow(resp=True)
        big.response.content = b"x" * (A.BATCH_MAX_BYTES + 1)
        addon.response(small)
        addon.response(big)
        assert addon.pending == 0  # the big flow and what waited before it: built at once

        last = tflow.tflow(resp=True)
        addon.response(last)
        addon._tick()
        assert addon.pending == 0
        addon.capture.close()
    with cap.open("rb") as fh:
        ids = [ev["id"] for ev in read_events(fh, str(cap)) if ev.get("type") == "flow"]
    assert ids[:3] == [f.id for f in flows]
    assert ids[-3:] == [small.id, big.id, last.id]  # in the order the flows finished
    assert len(ids) == len(set(ids)) == 3 + A.FLOW_BATCH + 3


def test_a_named_gateway_goes_with_the_capture(tmp_path: Path) -> None:
    """tokentax_gateway lands in the capture's session line, so a later report gives that
    product's fixes without --gateway; a name given to the report wins."""
    from mitmproxy.test import taddons, tflow

    from inspector.analyzer import Analyzer
    from inspector.analyzer.core import AnalyzerConfig
    from inspector.capture.load import analyze_file
    from inspector.mitm import addon as A

    cap = tmp_path / "cap.jsonl"
    addon = A.TokenTax()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, tokentax_stream="off", tokentax_gateway="traefik", tokentax_save=str(cap))
        addon.response(tflow.tflow(resp=True))
        assert addon.analyzer.snapshot()["gateway_named"] == "Traefik"
        addon.capture.close()
    first = json.loads(cap.read_bytes().splitlines()[0])
    assert first["type"] == "session" and first["gateway"] == "Traefik"
    assert analyze_file(cap, show_progress=False).snapshot()["gateway"][0] == "Traefik"
    told = analyze_file(cap, analyzer=Analyzer(AnalyzerConfig(gateway="Caddy")), show_progress=False)
    assert told.snapshot()["gateway_named"] == "Caddy"


def test_every_addon_option_is_in_the_readme() -> None:
    """Docs match the code: each `tokentax_*` option the addon registers is named in the README."""
    from mitmproxy.test import taddons

    from inspector.mitm.addon import TokenTax

    addon = TokenTax()
    with taddons.context(addon) as tctx:
        names = sorted(n for n in tctx.options.keys() if n.startswith("tokentax_"))
    assert len(names) >= 10
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [n for n in names if f"`{n}`" not in readme] == []


def test_a_full_batch_is_built_after_the_hook_that_filled_it_returns() -> None:
    """Inside mitmproxy's event loop the flush is scheduled, not run in the hook: the flow whose
    response completed the batch is not held up while the batch's events are built."""
    import asyncio

    from mitmproxy.test import taddons, tflow

    from inspector.mitm import addon as A

    addon = A.TokenTax()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, tokentax_stream="off")

        async def fill() -> tuple[int, int]:
            for _ in range(A.FLOW_BATCH):
                addon.response(tflow.tflow(resp=True))
            held = addon.pending  # the hook that filled the batch has returned; nothing built yet
            await asyncio.sleep(0)  # the loop runs the scheduled flush
            return held, addon.pending

        held, after = asyncio.run(fill())
    assert (held, after) == (A.FLOW_BATCH, 0)
    assert addon.analyzer.flows.total() == A.FLOW_BATCH
