"""The lab behind mitmdump: the wiring `tokentax demo` and the end-to-end tests share.

Reverse listeners put mitmdump on every hop: one in front of the gateway (the inbound
listener, facing clients), one in front of the auth server, one in front of the
backend, and one in front of each other upstream the gateway mode uses (the
forward-auth service, the loopback token relay, whose own misses then go through the
auth listener); the gateway and relay are started pointed at them. A small rules file
names the callout and backend listeners so even a refused connection gets the right role.
Both children are started with readiness lines awaited, never with sleeps, and stopped
(and killed if need be) on exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.lab.common import free_port
from inspector.lab.modes import mode as lookup_mode
from inspector.mitm.children import child_kwargs
from inspector.mitm.launch import Mitmdump
from inspector.schema.errors import UserError

# What each callout listener serves, by tokentax's kind names: a kind the rules file states
# for every call on that listener, or None where the shape of each call tells (the auth
# server serves several kinds on one listener).
LISTENER_KINDS: dict[str, str | None] = {
    "auth": None,  # token, exchange, introspection, jwks, userinfo: by shape
    "authz": "forward_auth",
    "relay": "token",  # a relay: a cache in front of the auth server
}


@dataclass
class SessionSpec:
    lab_args: list[str] = field(default_factory=list)  # options for `python -m inspector.lab`
    save: str | None = None  # JSONL capture path
    stream: str = "127.0.0.1:0"
    status: str = "0"  # seconds between headless status lines
    mitm_args: list[str] = field(default_factory=list)  # more mitmdump arguments (e.g. -w raw.mitm)
    echo: bool = False  # copy mitmdump's output to our stdout as it comes
    upstreams: dict[str, str] = field(default_factory=dict)  # override a listener's target (e.g. a dead auth server)

    @property
    def mode(self) -> str:
        """The gateway mode named in lab_args (the lab's default when none)."""
        args = self.lab_args
        named = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--gateway"]
        named += [a.split("=", 1)[1] for a in args if a.startswith("--gateway=")]
        return named[-1] if named else "naive"


def rules_text(ports: dict[str, int]) -> str:
    """The rules file: one `[[callout]]` per callout listener present (auth, authz, relay),
    with its `kind` where the listener serves only one, and the backend listener."""
    lines: list[str] = []
    for name in ("auth", "authz", "relay"):
        if name not in ports:
            continue
        kind = LISTENER_KINDS[name]
        lines += [f"# listener {ports[name]} ({name}): {kind or 'kind by shape'}", "[[callout]]"]
        lines += [f'listeners = ["{ports[name]}"]', *([f'kind = "{kind}"'] if kind else []), ""]
    return "\n".join([*lines, "[backend]", f'listeners = ["{ports["backend"]}"]', ""])


class LabProcess:
    """`python -m inspector.lab` as a child; `start()` returns its ready JSON."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.stderr: list[str] = []

    def start(self, timeout: float = 30.0) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "inspector.lab", *self.args, "--watch-stdin"]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **child_kwargs(),
        )
        ready = threading.Event()

        def read_stdout() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                if not self.info:
                    try:
                        self.info = json.loads(line)
                    except ValueError:
                        continue
                    ready.set()
            ready.set()

        def read_stderr() -> None:
            assert self.proc and self.proc.stderr
            for line in self.proc.stderr:
                self.stderr.append(line.rstrip())

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not ready.wait(timeout) or not self.info.get("ready"):
            self.proc.wait(timeout=2) if self.proc.poll() is not None else None
            msg = self.stderr[-1] if self.stderr else "no ready line"
            self.stop()
            raise UserError(f"the lab failed to start: {msg}")
        return self.info

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


class LabSession:
    """Lab servers + mitmdump with the addon, wired hop by hop. Use as a context manager."""

    def __init__(self, spec: SessionSpec | None = None) -> None:
        self.spec = spec or SessionSpec()
        upstreams = lookup_mode(self.spec.mode).upstreams
        names = ["gateway", "auth", "backend", *(u for u in ("authz", "relay") if u in upstreams)]
        self.ports = {name: free_port() for name in names}
        via = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        wiring = ["--gateway-auth-url", via["auth"], "--gateway-backend-url", via["backend"]]
        if "authz" in via:
            wiring += ["--gateway-authz-url", via["authz"]]
        if "relay" in via:  # both hops seen: gateway -> relay, and the relay's misses -> auth server
            wiring += ["--gateway-relay-url", via["relay"], "--relay-upstream-url", via["auth"]]
        self.lab = LabProcess([*self.spec.lab_args, *wiring])
        self.mitm: Mitmdump | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="tokentax-lab-")
        self.rules_path = Path(self._tmp.name) / "roles.toml"

    @property
    def gateway_url(self) -> str:
        """Where clients send requests: the inbound listener in front of the gateway."""
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def direct(self) -> dict[str, str]:
        """The lab servers themselves, bypassing the proxy."""
        keys = ("auth", "backend", "gateway", "authz", "relay", "control", "token_url", "stats_url")
        return {k: self.lab.info[k] for k in keys if k in self.lab.info}

    def mitm_args(self) -> list[str]:
        info = {**self.lab.info, **self.spec.upstreams}
        p = self.ports
        args = ["--listen-host", "127.0.0.1"]  # mitmproxy listens on every interface unless told
        for name, port in p.items():
            args += ["--mode", f"reverse:{info[name]}@{port}"]
        args += [
            "--set",
            f"tokentax_inbound={p['gateway']}",
            "--set",
            f"tokentax_rules={self.rules_path}",
            "--set",
            f"tokentax_stream={self.spec.stream}",
            "--set",
            f"tokentax_status={self.spec.status}",
        ]
        if self.spec.save:
            args += ["--set", f"tokentax_save={self.spec.save}"]
        return args + list(self.spec.mitm_args)

    def start(self) -> LabSession:
        try:
            self.lab.start()
            self.rules_path.write_text(rules_text(self.ports), encoding="utf-8")
            self.mitm = Mitmdump(self.mitm_args(), echo=self.spec.echo).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # The lab first: its gateway holds kept-alive connections through the proxy, and
        # mitmdump shutting down under open connections prints asyncio noise.
        self.lab.stop()
        if self.mitm is not None:
            self.mitm.stop()
        self._tmp.cleanup()

    def __enter__(self) -> LabSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
