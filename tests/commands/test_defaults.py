"""Safe defaults (issue 13, items 2 and 4): a loopback proxy unless asked, where to send traffic,
and `demo --save` refusing to append to an existing capture."""

from __future__ import annotations

import socket
from pathlib import Path

from inspector.commands.main import main
from inspector.commands.record import build_argv
from inspector.mitm.child import start_mitmdump
from inspector.mitm.listen import hints, loopback_default


def test_loopback_unless_the_user_picks_a_host() -> None:
    assert loopback_default(["--mode", "regular"]) == ["--listen-host", "127.0.0.1", "--mode", "regular"]
    assert loopback_default(["--listen-host", "0.0.0.0"]) == ["--listen-host", "0.0.0.0"]
    assert loopback_default(["--listen-host=::"]) == ["--listen-host=::"]
    argv = build_argv(Path("c.jsonl"), "", "", ["--listen-port", "0"])
    assert argv[argv.index("--listen-host") + 1] == "127.0.0.1"


def test_bare_tui_child_binds_loopback_and_reports_its_listener() -> None:
    child = start_mitmdump(["--listen-port", "0"])
    try:
        assert len(child.listen) == 1
        addr, mode = child.listen[0].split(" ")
        assert mode == "regular" and addr.startswith("127.0.0.1:")
        port = int(addr.rsplit(":", 1)[1])
        assert port > 0
        # really bound on loopback only: another address of this host is free for that port
        with socket.create_connection(("127.0.0.1", port)):
            pass
        assert any(f"HTTPS_PROXY=http://127.0.0.1:{port}" in h for h in hints(child.listen))
    finally:
        child.stop()


def test_hints_without_listener_suggest_the_demo() -> None:
    assert "tokentax demo" in hints([])[0]
    assert any("reverse listener" in h for h in hints(["127.0.0.1:8081 reverse"]))


def test_demo_save_refuses_an_existing_file(tmp_path: Path, capsys) -> None:
    cap = tmp_path / "s.jsonl"
    cap.write_text('{"v":1}\n')
    assert main(["demo", "--headless", "--save", str(cap)]) == 2
    err = capsys.readouterr().err
    assert "exists; pass --force" in err and err.count("\n") == 1
    assert cap.read_text() == '{"v":1}\n'
