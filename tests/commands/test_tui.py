"""`tokentax tui | attach | open`: bad input is one line and exit status 2, before any UI starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.commands import main as cli
from inspector.lab.common import free_port
from inspector.mitm.child import TUI_DEFAULTS
from inspector.mitm.launch import with_defaults
from inspector.views.tui import app as app_module
from tests.support.procs import ROOT


def tokentax(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokentax: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_open_missing_file() -> None:
    assert "no such file" in one_line_error(tokentax("open", "does-not-exist.jsonl"))


def test_open_garbage_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"v": 1, "type": "session", "ts": 1}\nthis is not json\n{"v": 1, "type": "addon", "ts": 2}\n')
    assert "bad.jsonl" in one_line_error(tokentax("open", str(bad)))


def test_open_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "empty" in one_line_error(tokentax("open", str(empty)))


def test_attach_to_nothing() -> None:
    msg = one_line_error(tokentax("attach", f"127.0.0.1:{free_port()}"))
    assert "cannot connect" in msg and "connection refused" in msg


def test_attach_bad_address() -> None:
    assert "HOST:PORT" in one_line_error(tokentax("attach", "nonsense"))


def test_tui_with_bad_mitmdump_args() -> None:
    assert "unrecognized arguments: --bogus" in one_line_error(tokentax("tui", "--", "--bogus"))


def test_tui_with_proxy_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        msg = one_line_error(tokentax("tui", "--", "--listen-host", "127.0.0.1", "-p", str(port)))
    assert "address already in use" in msg


def test_tui_with_stream_off() -> None:
    msg = one_line_error(tokentax("tui", "--", "-p", "0", "--set", "tokentax_stream=off"))
    assert "stream is off" in msg


def test_our_defaults_give_way_to_the_users_settings() -> None:
    argv = with_defaults(
        ["--set", "tokentax_stream=127.0.0.1:9999", "--set=tokentax_status=3"],
        {"tokentax_stream": "127.0.0.1:0", **TUI_DEFAULTS},
    )
    assert argv.count("--set") + sum(a.startswith("--set=") for a in argv) == 3
    assert "tokentax_stream=127.0.0.1:0" not in argv and "tokentax_status=0" not in argv
    assert "tokentax_summary=false" in argv


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> list[app_module.TokentaxApp]:
    """Replace App.run (no terminal here) with a check of how the app was set up."""
    seen: list[app_module.TokentaxApp] = []

    def run(self: app_module.TokentaxApp, *args: object, **kwargs: object) -> int:
        seen.append(self)
        if self.child is not None:
            assert self.child.exit_status is None  # mitmdump is up while the UI runs
            with socket.create_connection(("127.0.0.1", int(self.child.stream.rsplit(":", 1)[1])), timeout=10):
                pass
        return 0

    monkeypatch.setattr(app_module.TokentaxApp, "run", run)
    return seen


def test_tui_starts_mitmdump_attaches_and_stops_it(fake_run: list[app_module.TokentaxApp]) -> None:
    assert cli.main(["tui", "--", "-p", "0"]) == 0
    app = fake_run[0]
    assert app.child is not None and app.feed.kind == "live" and app.feed.source == app.child.stream
    assert app.child.exit_status is not None  # terminated when the TUI exited


def test_no_arguments_is_tui(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspector.commands.tui as tui_cli

    calls = []
    monkeypatch.setattr(tui_cli, "run_tui", lambda args: calls.append(args) or 0)
    assert cli.main([]) == 0
    assert len(calls) == 1 and calls[0].command == "tui" and calls[0].mitm_args == []


def test_open_builds_a_file_app(fake_run: list[app_module.TokentaxApp], capture: Path) -> None:
    assert cli.main(["open", str(capture)]) == 0
    app = fake_run[0]
    assert app.feed.kind == "file" and app.feed.flows_held == 126 and app.client is None


# -- attach to several streams -----------------------------------------------------------


@pytest.fixture
def streams():
    """Real addon stream servers (inspector.live.stream_server) on a loop in a thread of this process."""
    import asyncio
    import threading

    from inspector.live.stream_server import StreamServer
    from inspector.schema import events as E

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers: list[StreamServer] = []

    def start(token: str = "") -> str:
        greeting = [E.encode(E.session_event(1.0, source="live", key_id="k"))]
        server = StreamServer("127.0.0.1", 0, token, lambda: greeting)
        host, port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        servers.append(server)
        return f"{host}:{port}"

    try:
        yield start
    finally:
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def test_attach_several_builds_one_app_over_all(fake_run: list[app_module.TokentaxApp], streams) -> None:
    from inspector.views.tui.feed import MultiFeed

    a, b = streams("s3cret"), streams("s3cret")
    down = f"127.0.0.1:{free_port()}"  # a node that is not up yet: shown as connecting, attached later
    assert cli.main(["attach", a, b, down, "--token", "s3cret"]) == 0
    app = fake_run[0]
    assert isinstance(app.feed, MultiFeed) and app.feed.names == [a, b, down]
    assert [c.address for c in app.clients] == [a, b, down]
    assert all(c.token == "s3cret" for c in app.clients)


def test_attach_one_address_stays_single(fake_run: list[app_module.TokentaxApp], streams) -> None:
    a = streams()
    assert cli.main(["attach", a]) == 0
    app = fake_run[0]
    assert not app.feed.multi and app.feed.source == a and len(app.clients) == 1


def test_attach_several_with_a_bad_address() -> None:
    msg = one_line_error(tokentax("attach", f"127.0.0.1:{free_port()}", "127.0.0.1:nope"))
    assert "bad port 'nope'" in msg


def test_attach_same_address_twice() -> None:
    msg = one_line_error(tokentax("attach", "127.0.0.1:7391", "127.0.0.1:7391"))
    assert "given twice" in msg


def test_attach_several_none_up() -> None:
    msg = one_line_error(tokentax("attach", f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"))
    assert "none of the 2 streams answers" in msg and "connection refused" in msg


def test_attach_several_one_refuses_the_token(streams) -> None:
    a, b = streams(), streams("s3cret")
    msg = one_line_error(tokentax("attach", a, b))
    assert f"{b} refused us" in msg
