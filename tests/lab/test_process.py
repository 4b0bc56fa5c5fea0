"""`python -m inspector.lab` and `tokentax lab` as real child processes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys

import httpx
import pytest

from inspector.commands.lab import addon_path, mitmdump_command, mitmdump_prefix
from inspector.commands.main import build_parser
from inspector.lab.common import free_port
from inspector.lab.lab_cli import config_from_args
from inspector.schema.errors import UserError

GUARD = 60  # hang guard only, never a performance bound


async def spawn(*args: str, stdin: int = asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_module_prints_one_ready_line_serves_and_exits_on_sigterm() -> None:
    proc = await spawn("-m", "inspector.lab", "--gateway", "cached", "--auth-latency", "0", "--backend-latency", "0ms")
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), GUARD)
        ready = json.loads(line)
        assert ready["ready"] is True and ready["client_id"] == "tokentax-gateway"
        assert ready["strategy"] == "cached" and ready["pid"] == proc.pid
        for key in ("auth", "backend", "gateway"):
            assert ready[key].startswith("http://127.0.0.1:")
        assert ready["gateway_auth_url"] == ready["auth"]
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(ready["gateway"] + "/orders")).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), GUARD) == 0
        rest, err = await proc.stdout.read(), await proc.stderr.read()
        assert rest == b"" and b"Traceback" not in err
        assert gone(proc.pid)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_module_pins_ports_and_gateway_urls() -> None:
    ports = [free_port(), free_port()]
    proc = await spawn(
        "-m",
        "inspector.lab",
        "--gateway-port",
        str(ports[0]),
        "--gateway-auth-url",
        f"http://127.0.0.1:{ports[1]}",
        "--gateway-backend-url",
        "http://127.0.0.1:9/",
    )
    try:
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), GUARD))
        assert ready["gateway"] == f"http://127.0.0.1:{ports[0]}"
        assert ready["gateway_auth_url"] == f"http://127.0.0.1:{ports[1]}"
        assert ready["gateway_backend_url"] == "http://127.0.0.1:9"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), GUARD) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_module_watch_stdin_exits_when_parent_closes_stdin() -> None:
    proc = await spawn("-m", "inspector.lab", "--watch-stdin", stdin=asyncio.subprocess.PIPE)
    try:
        assert json.loads(await asyncio.wait_for(proc.stdout.readline(), GUARD))["ready"] is True
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), GUARD) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_module_port_in_use_is_one_line_and_nonzero() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await spawn("-m", "inspector.lab", "--auth-port", str(port))
        out, err = await asyncio.wait_for(proc.communicate(), GUARD)
    assert proc.returncode == 2 and out == b""
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0]


async def test_module_bad_option_is_one_line_exit_2() -> None:
    proc = await spawn("-m", "inspector.lab", "--auth-latency", "soon")
    out, err = await asyncio.wait_for(proc.communicate(), GUARD)
    assert proc.returncode == 2 and out == b""
    assert err.decode().strip().count("\n") == 0 and "'soon'" in err.decode()


async def test_tokentax_lab_prints_mitmdump_and_curl_and_stops_cleanly_on_ctrl_c() -> None:
    proc = await spawn("-m", "inspector", "lab", "--auth-latency", "50ms", "--gateway", "cached")
    try:
        lines: list[str] = []
        while not any(line.startswith("Ctrl+C") for line in lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), GUARD)).decode()
            assert line, "tokentax lab exited early"
            lines.append(line.strip())
        mitm = next(line for line in lines if " -q --listen-host 127.0.0.1 -s " in line)
        assert mitm.startswith(mitmdump_prefix()) and f" -s {addon_path()} " in mitm
        assert mitm.count("--mode reverse:") == 3
        inbound = mitm.rsplit("tokentax_inbound=", 1)[1]
        assert f"curl http://127.0.0.1:{inbound}/orders" in lines
        assert "strategy cached" in lines[0] and "auth latency 0.05s" in lines[0]
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), GUARD) == 0
        assert b"Traceback" not in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def parse_lab(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["lab", *argv])


def test_lab_options_build_the_config() -> None:
    args = parse_lab(
        "--gateway",
        "poison",
        "--auth-latency",
        "50ms",
        "--auth-fail-first",
        "2",
        "--token-mode",
        "new",
        "--expires-in",
        "3600",
        "--cache-skew",
        "1m",
        "--auth-port",
        "0",
    )
    assert args.func.__module__ == "inspector.commands.lab"
    cfg = config_from_args(args)
    assert cfg.gateway.strategy == "poison" and cfg.gateway.skew == 60.0
    assert cfg.auth.latency == pytest.approx(0.05) and cfg.auth.fail_first == 2
    assert cfg.auth.token_mode == "new" and cfg.auth.expires_in == 3600


@pytest.mark.parametrize(
    "argv",
    [
        ("--auth-latency", "fast"),
        ("--auth-fail-first", "-1"),
        ("--auth-fail-first", "x"),
        ("--expires-in", "0"),
        ("--auth-401-rate", "1.5"),
        ("--auth-401-rate", "0.6", "--auth-500-rate", "0.6"),
        ("--auth-port", "70000"),
        ("--gateway-auth-url", "localhost:8080"),
    ],
)
def test_lab_bad_values_raise_user_error(argv: tuple[str, ...]) -> None:
    with pytest.raises(UserError):
        config_from_args(parse_lab(*argv))


def test_mitmdump_command_shape() -> None:
    urls = {"gateway": "http://127.0.0.1:1", "auth": "http://127.0.0.1:2", "backend": "http://127.0.0.1:3"}
    cmd = mitmdump_command(urls, {"gateway": 11, "auth": 12, "backend": 13})
    assert cmd == (
        f"{mitmdump_prefix()} -q --listen-host 127.0.0.1 -s {addon_path()} --mode reverse:http://127.0.0.1:1@11 "
        "--mode reverse:http://127.0.0.1:2@12 --mode reverse:http://127.0.0.1:3@13 --set tokentax_inbound=11"
    )


async def test_ready_line_names_every_server_and_the_secrets_file_never_a_secret() -> None:
    secret = "ready-secret-" + os.urandom(8).hex()
    proc = await spawn("-m", "inspector.lab", "--gateway", "loopback", "--auth-latency", "0", "--client-secret", secret)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), GUARD)
        assert secret.encode() not in line
        ready = json.loads(line)
        for key in (
            "authz",
            "relay",
            "control",
            "introspection_url",
            "jwks_url",
            "userinfo_url",
            "discovery_url",
            "verify_url",
            "relay_token_url",
            "stats_url",
            "gateway_authz_url",
            "gateway_relay_url",
        ):
            assert ready[key].startswith("http://127.0.0.1:"), key
        assert ready["relay_upstream_url"] == ready["auth"] and ready["kinds"] == ["token"]
        path = ready["secrets_file"]
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path, encoding="utf-8") as fh:
            secrets_doc = json.load(fh)
        assert secrets_doc["client_id"] == ready["client_id"] and secrets_doc["client_secret"] == secret
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(ready["gateway"] + "/orders")).status_code == 200
            stats = (await client.get(ready["stats_url"])).json()
        assert stats["relay"]["calls"] == 1 and stats["auth"]["by_kind"] == {"token": 1}
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), GUARD) == 0
        assert not os.path.exists(path)  # the lab's own secrets file goes with it
        assert secret.encode() not in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_the_printed_mitmdump_command_works_pasted_in_another_directory(tmp_path) -> None:
    """Issue 13, item 3: the line `tokentax lab` prints, run by a shell elsewhere, starts mitmdump."""
    lab = await spawn("-m", "inspector", "lab", "--auth-latency", "10ms")
    shell = None
    try:
        line = ""
        while " -q --listen-host 127.0.0.1 -s " not in line:
            line = (await asyncio.wait_for(lab.stdout.readline(), GUARD)).decode()
            assert line, "tokentax lab exited early"
        command = line.strip() + " --set tokentax_stream=127.0.0.1:0"
        shell = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        seen = []
        while True:
            out = (await asyncio.wait_for(shell.stdout.readline(), GUARD)).decode()
            assert out, f"the pasted command exited: {seen} {(await shell.stderr.read()).decode()[-500:]}"
            seen.append(out)
            if out.startswith("tokentax: ready"):
                break
    finally:
        if shell is not None and shell.returncode is None:
            os.killpg(shell.pid, signal.SIGINT)
            await asyncio.wait_for(shell.wait(), GUARD)
        if lab.returncode is None:
            lab.send_signal(signal.SIGINT)
            await asyncio.wait_for(lab.wait(), GUARD)
