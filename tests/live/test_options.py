"""Metrics and OTLP options inside real mitmdump: a bad value stops it with one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from inspector.mitm.launch import SCRIPT, Mitmdump, mitmdump_command


def run_mitmdump(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        mitmdump_command()
        + [
            "-q",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            "0",
            "--set",
            "tokentax_stream=off",
            "-s",
            str(SCRIPT),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def one_line(p: subprocess.CompletedProcess, needle: str) -> None:
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if "tokentax:" in line]
    assert len(lines) == 1 and needle in lines[0], out


@pytest.mark.parametrize(
    "option, needle",
    [
        ("tokentax_metrics=nowhere", "tokentax_metrics must be HOST:PORT, got 'nowhere'"),
        ("tokentax_metrics=127.0.0.1:99999", "tokentax_metrics has a bad port '99999'"),
        (
            "tokentax_metrics=0.0.0.0:9464",
            "tokentax_metrics '0.0.0.0:9464' is not a loopback address: set tokentax_metrics_expose=true",
        ),
        ("tokentax_otlp=ftp://collector:4318/v1/traces", "tokentax_otlp must be an http(s) URL"),
        ("tokentax_otlp=http://user:hunter2@collector:99999/v1/traces", "tokentax_otlp has a bad port"),
    ],
)
def test_bad_option_stops_mitmdump_with_one_clear_line(option: str, needle: str) -> None:
    p = run_mitmdump("--set", option)
    one_line(p, needle)
    assert "hunter2" not in p.stdout + p.stderr


def test_otlp_without_the_extra_names_the_install(tmp_path: Path) -> None:
    # A package that shadows opentelemetry as if the extra were not installed.
    shadow = tmp_path / "opentelemetry"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('tokentax[otel] not installed')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    p = run_mitmdump("--set", "tokentax_otlp=http://127.0.0.1:4318/v1/traces", env=env)
    one_line(p, "tokentax_otlp needs the OpenTelemetry protobuf package: pip install tokentax[otel]")


def test_non_loopback_metrics_with_expose() -> None:
    with Mitmdump(
        [
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            "0",
            "--set",
            "tokentax_stream=off",
            "--set",
            "tokentax_metrics=0.0.0.0:0",
            "--set",
            "tokentax_metrics_expose=true",
            "--set",
            "tokentax_status=0",
        ]
    ) as m:
        line = next(line for line in m.lines if "tokentax: ready" in line)
        assert line.startswith("tokentax: ready; stream off, metrics 0.0.0.0:")
        port = int(line.split("metrics 0.0.0.0:")[1].split(",")[0])
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).status_code == 200


def test_metrics_port_taken_is_one_line_and_the_proxy_runs() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with Mitmdump(
            [
                "--listen-host",
                "127.0.0.1",
                "--listen-port",
                "0",
                "--set",
                "tokentax_stream=127.0.0.1:0",
                "--set",
                f"tokentax_metrics=127.0.0.1:{port}",
                "--set",
                "tokentax_status=0",
            ]
        ) as m:
            assert m.stream and m.stream != "off"  # the stream address is still parsed from the ready line
            ready = next(line for line in m.lines if "tokentax: ready" in line)
            assert ", metrics off" in ready
            # the error goes to stderr, the ready line to stdout: two pipes read apart, so await it
            guard = time.monotonic() + 30  # a hang guard, not a performance bound
            while not any("cannot serve metrics" in line for line in m.lines) and time.monotonic() < guard:
                time.sleep(0.01)
            errors = [line for line in m.lines if "cannot serve metrics" in line]
            assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0]
