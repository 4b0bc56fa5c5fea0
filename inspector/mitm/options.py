"""Parse the addon's option values: pure functions that raise ValueError with one line.

Options are typed `str` in mitmproxy (an `int` option given a bad value with --set
silently disables a script addon), so every value is parsed and checked here, and
`configure` turns a ValueError into an OptionsError that stops mitmdump with that line.
"""

from __future__ import annotations

import ipaddress
import math
from urllib.parse import urlsplit

DEFAULT_STREAM = "127.0.0.1:7391"


def parse_hostport(text: str, what: str) -> tuple[str, int]:
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


def parse_endpoint(text: str, what: str, token: str) -> tuple[str, int] | None:
    """`off` -> None; HOST:PORT -> (host, port). A non-loopback bind needs a token."""
    if text.strip().lower() in ("off", "none", "false", "0", ""):
        return None
    host, port = parse_hostport(text, what)
    if not is_loopback(host) and not token:
        raise ValueError(f"{what} {text!r} is not a loopback address: set tokentax_stream_token to expose it")
    return host, port


def parse_seconds(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be 0 or more seconds, got {text!r}")
    return value


def is_off(text: str) -> bool:
    return text.strip().lower() in ("off", "none", "false", "")


def parse_metrics(text: str, expose: bool) -> tuple[str, int] | None:
    """`tokentax_metrics`: `off` -> None; HOST:PORT -> (host, port).

    Metrics carry no secret, but they do describe the traffic; like the stream, a
    non-loopback bind must be asked for explicitly (`tokentax_metrics_expose=true`).
    """
    if is_off(text):
        return None
    host, port = parse_hostport(text, "tokentax_metrics")
    if not is_loopback(host) and not expose:
        raise ValueError(f"tokentax_metrics {text!r} is not a loopback address: "
                         f"set tokentax_metrics_expose=true to expose it")
    return host, port


def parse_otlp_url(text: str) -> str | None:
    """`tokentax_otlp`: `off`/empty -> None; else an http(s) OTLP/HTTP traces endpoint URL."""
    if is_off(text):
        return None
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"tokentax_otlp must be an http(s) URL such as http://127.0.0.1:4318/v1/traces, "
                         f"got {_redact_url(url)!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"tokentax_otlp has a bad port: {_redact_url(url)!r}") from None
    return url


def _redact_url(url: str) -> str:
    """The URL without any user:password part, for error lines."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
