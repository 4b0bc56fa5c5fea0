"""The event stream protocol, one definition for both ends (server in the addon, client in views).

Newline-delimited JSON over TCP: the client sends one hello line, the server answers with
the session event, its current summary and then every event as it happens; a client with a
wrong token gets one `refused` line. Addresses are HOST:PORT, loopback unless a token is set.
"""

from __future__ import annotations

import ipaddress

import orjson

HELLO = "tokentax/1"
HELLO_TIMEOUT_S = 5.0
DEFAULT_STREAM = "127.0.0.1:7391"
REFUSED = "refused"


def hello_line(token: str) -> bytes:
    """What a client sends first."""
    return orjson.dumps({"hello": HELLO, "token": token}) + b"\n"


def refused_line(reason: str) -> bytes:
    """What the server answers a client it will not serve, before closing."""
    return orjson.dumps({"v": 1, "type": REFUSED, "reason": reason}) + b"\n"


def parse_hostport(text: str, what: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets) -> (host, port); ValueError with one line naming `what`."""
    host, sep, port_s = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{what} must be HOST:PORT, got {text!r}")
    host = host.strip("[]")
    if not port_s.isdigit() or not 0 <= int(port_s) < 65536:
        raise ValueError(f"{what} has a bad port {port_s!r} (expected 0-65535)")
    return host, int(port_s)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
