"""Where the proxy listens, and how to tell a user to send traffic there.

mitmdump listens on every interface unless told otherwise; tokentax starts it on
127.0.0.1 unless the user passes --listen-host (an open proxy is never a default).
The addon reports its listeners as "host:port mode" strings, in its ready line and in
the session event's `listen` field, so `record` and the TUI's empty state can say
where to send traffic.
"""

from __future__ import annotations

from typing import Any

LOOPBACK = "127.0.0.1"


def gives_listen_host(args: list[str]) -> bool:
    return any(a == "--listen-host" or a.startswith("--listen-host=") for a in args)


def loopback_default(args: list[str]) -> list[str]:
    """mitmdump arguments with `--listen-host 127.0.0.1` first, unless the user chose a host."""
    return list(args) if gives_listen_host(args) else ["--listen-host", LOOPBACK, *args]


def _fmt(host: str, port: int, mode: str) -> str:
    host = host or "0.0.0.0"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port} {mode}"


def listen_from_options(options: Any) -> list[str]:
    """The listeners mitmdump's options ask for ("host:port mode"), before they are bound."""
    from mitmproxy.proxy.mode_specs import ProxyMode

    out: list[str] = []
    for spec in getattr(options, "mode", None) or ["regular"]:
        try:
            mode = ProxyMode.parse(spec)
        except ValueError:
            continue
        port = mode.listen_port(getattr(options, "listen_port", None))
        if port is None:
            continue
        out.append(_fmt(mode.listen_host(getattr(options, "listen_host", "")), port, mode.type_name))
    return out


def listen_bound(master: Any) -> list[str]:
    """The listeners as bound (a port 0 resolved), from mitmproxy's proxyserver; [] if unknown."""
    try:
        servers = master.addons.get("proxyserver").servers
        out = []
        for server in servers:
            for addr in server.listen_addrs:
                out.append(_fmt(addr[0], addr[1], server.mode.type_name))
        return out
    except Exception:  # an internal API: never let it break the addon
        return []


def hints(listen: list[str]) -> list[str]:
    """Lines saying where to send traffic, for record's startup and the TUI's empty state."""
    if not listen:
        return ["no proxy listener; try `tokentax demo` to see the token tax on a lab gateway"]
    lines = []
    for entry in listen:
        addr, _, mode = entry.partition(" ")
        host = addr.rsplit(":", 1)[0]
        show = addr.replace("0.0.0.0", LOOPBACK).replace("[::]", LOOPBACK) if host in ("0.0.0.0", "[::]") else addr
        if mode == "regular":
            lines.append(
                f"proxy {addr}: send traffic with HTTPS_PROXY=http://{show} HTTP_PROXY=http://{show} "
                f"(trust ~/.mitmproxy/mitmproxy-ca-cert.pem for HTTPS)"
            )
        elif mode == "reverse":
            lines.append(f"reverse listener {addr}: point clients (or the gateway's upstream URL) at http://{show}")
        else:
            lines.append(f"{mode} listener {addr}")
    if all(" regular" in e for e in listen):
        lines.append(
            "a gateway: give each hop its reverse listener, e.g. -- --mode reverse:http://GATEWAY@8081 "
            "--mode reverse:https://IDP@8082, with --inbound 8081; or try `tokentax demo`"
        )
    return lines
