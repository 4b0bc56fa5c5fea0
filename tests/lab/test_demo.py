"""`tokentax demo --headless` as a user runs it: a real subprocess, then `tokentax report` on its capture."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.commands.main import main

MARK = "TOKENTAX_TEST_MARK"


def marked_env(tmp_path: Path) -> dict[str, str]:
    """Children inherit the environment: a unique mark finds every process this demo started."""
    return dict(os.environ, **{MARK: str(tmp_path)})


def demo(tmp_path: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, dict, Path]:
    cap = tmp_path / "s.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "inspector", "demo", "--headless", "--save", str(cap), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=marked_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    report = subprocess.run(
        [sys.executable, "-m", "inspector", "report", str(cap), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    return proc, json.loads(report.stdout), cap


def leftovers(tmp_path: Path) -> list[str]:
    """Command lines of live processes carrying this test's environment mark."""
    mark = f"{MARK}={tmp_path}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if mark not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                continue
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def ports_of(output: str) -> list[int]:
    m = re.search(r"gateway http://127\.0\.0\.1:(\d+) \(through mitmdump\), stream 127\.0\.0\.1:(\d+)", output)
    assert m, output
    return [int(m.group(1)), int(m.group(2))]


def assert_free(port: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_naive_demo_about_one_callout_per_request_and_cleans_up(tmp_path: Path) -> None:
    proc, rep, cap = demo(tmp_path, "--duration", "10", "--auth-latency", "50ms", "--rate", "20")
    # demo load: the open-loop generator sent 20 req/s for 10 s and all 200 went through the proxy
    assert rep["flows"]["inbound"] == 200
    assert 0.95 <= rep["callouts"]["per_inbound"] <= 1.05
    assert "token-refetch" in {f["id"] for f in rep["findings"]}
    assert "tokentax summary" in proc.stdout and "token-refetch" in proc.stdout
    assert "auth latency 50 ms" in proc.stdout.splitlines()[0]  # not "0 s": a sub-second latency in ms
    assert leftovers(tmp_path) == []
    for port in ports_of(proc.stdout):
        assert_free(port)


def test_cached_demo_exactly_one_callout(tmp_path: Path) -> None:
    _, rep, _ = demo(tmp_path, "--gateway", "cached", "--duration", "3", "--auth-latency", "50ms", "--rate", "10")
    assert rep["callouts"]["total"] == 1 and rep["callouts"]["redundant"] == 0
    assert "token-refetch" not in {f["id"] for f in rep["findings"]}


def test_poison_demo_error_cached(tmp_path: Path) -> None:
    _, rep, _ = demo(
        tmp_path,
        "--gateway",
        "poison",
        "--auth-fail-first",
        "1",
        "--duration",
        "3",
        "--auth-latency",
        "50ms",
        "--rate",
        "10",
    )
    assert "error-cached" in {f["id"] for f in rep["findings"]}


@pytest.mark.parametrize(
    ("mode", "kind", "finding"),
    [
        ("introspect", "introspection", "introspection-repeat"),
        ("jwks-nocache", "jwks", "jwks-refetch"),
        ("userinfo", "userinfo", "userinfo-repeat"),
        ("exchange", "exchange", "exchange-refetch"),
        ("forward-auth", "forward_auth", "forward-auth-repeat"),
    ],
)
def test_demo_per_kind_shows_its_finding(tmp_path: Path, mode: str, kind: str, finding: str) -> None:
    """The README's demo command for each kind of auth work runs and shows the kind's finding."""
    _, rep, _ = demo(tmp_path, "--gateway", mode, "--duration", "3", "--auth-latency", "50ms", "--rate", "10")
    row = rep["callouts"]["by_kind"][kind]
    assert row["redundant"] > 0 and finding in {f["id"] for f in rep["findings"]}
    # --auth-latency applies to the forward-auth service too: every kind's call costs it
    assert row["p50_ms"] >= 50


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    cap = tmp_path / "c.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inspector",
            "demo",
            "--headless",
            "--duration",
            "600",
            "--auth-latency",
            "50ms",
            "--save",
            str(cap),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=marked_env(tmp_path),
    )
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:  # wait until traffic flows: the first status line with flows in it
        seen += line
        if line.startswith("tokentax  in") and " flows 0" not in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err and "stopping" in err
    assert leftovers(tmp_path) == []
    for port in ports_of(seen):
        assert_free(port)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--rate", "fast"], "invalid --rate 'fast'"),
        (["--auth-latency", "soon"], "invalid duration 'soon'"),
        (["--duration", "0"], "--duration"),
        (["--auth-fail-first", "-1"], "--auth-fail-first"),
    ],
)
def test_bad_demo_options_one_line_exit_2(args: list[str], needle: str, capsys) -> None:
    assert main(["demo", "--headless", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
