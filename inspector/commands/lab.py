"""`tokentax lab`: run the lab servers and print how to put mitmproxy in front of them."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.commands.args import examples
from inspector.lab.lab_cli import add_lab_options, config_from_args
from inspector.lab.modes import mode

if TYPE_CHECKING:
    from inspector.lab.stack import LabStack


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="run a demo gateway, auth server and backend on 127.0.0.1",
        description=(
            "Run the lab gateway, OAuth2 auth server and backend on 127.0.0.1 and print a mitmdump "
            "command that puts reverse listeners in front of all three. Runs until Ctrl+C."
        ),
        epilog=examples("tokentax lab", "tokentax lab --gateway cached --auth-latency 50ms"),
    )
    add_lab_options(parser)
    parser.add_argument(
        "--direct", action="store_true", help="gateway calls auth and backend directly (no proxy in between)"
    )
    parser.set_defaults(func=run)


def mitmdump_command(lab_urls: dict[str, str], listeners: dict[str, int]) -> str:
    """The mitmdump line with reverse listeners in front of gateway, auth server and backend,
    runnable when pasted into a shell in any directory (absolute paths; see `mitmdump_prefix`).

    `--listen-host 127.0.0.1` because mitmproxy otherwise listens on every interface.
    """
    modes = "".join(f" --mode reverse:{lab_urls[name]}@{port}" for name, port in listeners.items())
    return (
        f"{mitmdump_prefix()} -q --listen-host 127.0.0.1 -s {shlex.quote(str(addon_path()))}{modes}"
        f" --set tokentax_inbound={listeners['gateway']}"
    )


def checkout_root() -> Path | None:
    """The source checkout tokentax runs from (pyproject.toml beside the package), if any."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "addons" / "tokentax.py").is_file() else None


def addon_path() -> Path:
    root = checkout_root()
    if root is not None:
        return root / "addons" / "tokentax.py"
    from inspector.mitm.launch import SCRIPT

    return SCRIPT.resolve()


def mitmdump_prefix() -> str:
    """How to run this environment's mitmdump from anywhere: `uv run --project REPO mitmdump` from a
    checkout (when uv is installed), `mitmdump` when the one on PATH is ours, else its absolute path."""
    import shutil

    from inspector.mitm.launch import mitmdump_command

    root = checkout_root()
    if root is not None and shutil.which("uv"):
        return f"uv run --project {shlex.quote(str(root))} mitmdump"
    ours = mitmdump_command()
    if len(ours) == 1:
        on_path = shutil.which("mitmdump")
        if on_path and Path(on_path).resolve() == Path(ours[0]).resolve():
            return "mitmdump"
        return shlex.quote(str(Path(ours[0]).resolve()))
    return shlex.join(ours)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from inspector.lab.common import free_port
    from inspector.lab.stack import serve_until_stopped

    config = config_from_args(args)
    listeners: dict[str, int] = {}
    if not args.direct:
        taken = {config.auth_port, config.backend_port, config.gateway_port} - {0}
        extra = [u for u in ("authz", "relay") if u in mode(config.gateway.strategy).upstreams]
        for name in ("gateway", "auth", "backend", *extra):
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            listeners[name] = port
        gw = config.gateway
        gw.auth_url = gw.auth_url or f"http://127.0.0.1:{listeners['auth']}"
        gw.backend_url = gw.backend_url or f"http://127.0.0.1:{listeners['backend']}"
        if "authz" in listeners:
            gw.authz_url = gw.authz_url or f"http://127.0.0.1:{listeners['authz']}"
        if "relay" in listeners:
            gw.relay_url = gw.relay_url or f"http://127.0.0.1:{listeners['relay']}"
            config.relay.upstream_url = config.relay.upstream_url or gw.auth_url

    def ready(lab: LabStack) -> None:
        print(_banner(lab, listeners), flush=True)

    try:
        asyncio.run(serve_until_stopped(config, ready))
    except KeyboardInterrupt:  # Ctrl+C before the handlers were in place
        pass
    print("tokentax lab: stopped", flush=True)
    return 0


def _banner(lab: LabStack, listeners: dict[str, int]) -> str:
    u = lab.urls
    gw = lab.gateway.config
    lines = [
        f"tokentax lab: gateway strategy {gw.strategy}, auth latency {lab.config.auth.latency:g}s, "
        f"token mode {lab.config.auth.token_mode}, expires_in {lab.config.auth.expires_in}",
        f"  auth server  {u.token_url}  (client_id {lab.config.auth.client_id})",
        f"  backend      {u.backend}  (/orders, /orders/ID, /users/ID, /inventory)",
        f"  gateway      {u.gateway}  -> tokens from {u.gateway_auth_url}, backend at {u.gateway_backend_url}",
        f"  authz        {u.authz}/verify  relay {u.relay}/oauth2/token -> {u.relay_upstream_url}",
        f"  secrets      client secret and user passwords in {lab.secrets_file} (JSON; never printed)",
    ]
    if listeners:
        urls = {"gateway": u.gateway, "auth": u.auth, "backend": u.backend, "authz": u.authz, "relay": u.relay}
        lines += [
            "",
            "Put mitmproxy in front of all three (another terminal):",
            "  " + mitmdump_command(urls, listeners),
            "then call the gateway through it:",
            f"  curl http://127.0.0.1:{listeners['gateway']}/orders",
            "(until mitmdump runs, the gateway's token and backend calls fail with 502)",
        ]
    else:
        lines += ["", "Call the gateway:", f"  curl {u.gateway}/orders"]
    lines += ["", "Ctrl+C to stop."]
    return "\n".join(lines)
