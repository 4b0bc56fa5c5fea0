"""`tokentax record`: real mitmdump under the wrapper, stopped with Ctrl+C (SIGINT)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from inspector.capture.detect import LoadOptions
from inspector.capture.load import analyze_file
from inspector.commands.main import main
from inspector.lab.common import free_port
from inspector.mitm.launch import pick_error

from .conftest import REPO, drive, run_cli, stop_process
from .servers import Stack


def start_record(
    tmp_path: Path, stack: Stack
) -> tuple[subprocess.Popen, list[str], threading.Thread, tuple[int, int, int], Path, Path]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(5):
        ports = (free_port(), free_port(), free_port())
        cap, raw = tmp_path / "rec.jsonl", tmp_path / "rec.mitm"
        argv = [
            sys.executable,
            "-m",
            "inspector",
            "record",
            "-o",
            str(cap),
            "--raw",
            str(raw),
            "--force",
            "--inbound",
            str(ports[0]),
            "--status-interval",
            "0",
            "--",
            "--mode",
            f"reverse:{stack.gateway.url}@127.0.0.1:{ports[0]}",
            "--mode",
            f"reverse:{stack.auth.url}@127.0.0.1:{ports[1]}",
            "--mode",
            f"reverse:{stack.backend.url}@127.0.0.1:{ports[2]}",
        ]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        err: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:  # readiness: the wrapper's "recording to" line
            err.append(line)
            if line.startswith("tokentax: recording to"):
                drain = threading.Thread(target=err.extend, args=(proc.stderr,), daemon=True)
                drain.start()
                return proc, err, drain, ports, cap, raw
        stop_process(proc)
        if "already in use" not in "".join(err):
            raise AssertionError("".join(err))
    raise AssertionError("no free ports")


def test_record_then_ctrl_c(tmp_path: Path, servers: Stack) -> None:
    proc, err, drain, ports, cap, raw = start_record(tmp_path, servers)
    try:
        servers.gw_cfg.auth_url = f"http://127.0.0.1:{ports[1]}"
        servers.gw_cfg.backend_url = f"http://127.0.0.1:{ports[2]}"
        drive(servers, ports[0], 5)
        proc.send_signal(signal.SIGINT)  # what Ctrl+C does
        assert proc.stdout is not None
        out = proc.stdout.read()  # until the wrapper exits and closes it
        proc.wait()
        drain.join()
    finally:
        stop_process(proc, signal.SIGKILL)
    stderr = "".join(err)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr + out
    assert "raw flow file" in stderr and "redact" in stderr  # the secrets warning
    assert f"capture saved to {cap} (15 flows" in out
    assert f"raw flows saved to {raw}" in out
    assert "flows 15 (in 5, callouts 5, backend 5)" in stderr  # the final status line
    s = analyze_file(cap, show_progress=False).snapshot()
    assert s["flows"]["inbound"] == 5 and s["callouts"]["total"] == 5 and s["callouts"]["redundant"] == 4
    s2 = analyze_file(raw, LoadOptions(inbound=str(ports[0])), show_progress=False).snapshot()
    assert s2["callouts"]["total"] == 5


def test_record_startup_failure_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_cli(
            "record",
            "-o",
            str(tmp_path / "c.jsonl"),
            "--",
            "--mode",
            f"reverse:http://127.0.0.1:9@127.0.0.1:{port}",
            cwd=tmp_path,
        )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokentax: error: mitmdump did not start: ")
    assert "already in use" in lines[0]


def test_record_bad_mitmdump_argument(tmp_path: Path) -> None:
    res = run_cli("record", "-o", str(tmp_path / "c.jsonl"), "--", "--no-such-option", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "tokentax: error: mitmdump did not start: unrecognized arguments: --no-such-option"
    ]


def test_record_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    cap = tmp_path / "c.jsonl"
    cap.write_text("{}\n")
    assert main(["record", "-o", str(cap), "--", "--mode", "regular@1"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert cap.read_text() == "{}\n"


def test_startup_error_picks_the_reason() -> None:
    lines = [
        "[00:48:29.064] [Errno 98] reverse proxy failed to listen on 127.0.0.1:1: address already in use",
        "Error logged during startup, exiting...",
    ]
    assert pick_error(lines).startswith("[Errno 98] reverse proxy failed")
    assert pick_error(["usage: mitmdump [options]", "/x/bin/mitmdump: error: bad"]) == "bad"
    assert pick_error([]) == ""
