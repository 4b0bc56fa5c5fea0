"""Parse the addon's option values: pure functions that raise ValueError with one line.

Options are typed `str` in mitmproxy (an `int` option given a bad value with --set
silently disables a script addon), so every value is parsed and checked here, and
`configure` turns a ValueError into an OptionsError that stops mitmdump with that line.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from inspector.schema.stream import DEFAULT_STREAM, is_loopback, parse_hostport

__all__ = ["DEFAULT_STREAM", "is_loopback", "parse_hostport"]


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
        raise ValueError(
            f"tokentax_metrics {text!r} is not a loopback address: set tokentax_metrics_expose=true to expose it"
        )
    return host, port


def parse_otlp_url(text: str) -> str | None:
    """`tokentax_otlp`: `off`/empty -> None; else an http(s) OTLP/HTTP traces endpoint URL."""
    if is_off(text):
        return None
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"tokentax_otlp must be an http(s) URL such as http://127.0.0.1:4318/v1/traces, got {_redact_url(url)!r}"
        )
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


_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_TIME_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_rotate(text: str) -> tuple[int | None, float | None] | None:
    """`tokentax_save_rotate`: `off`/empty -> None; `100MB` -> (bytes, None); `1h` -> (None, seconds)."""
    if is_off(text):
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", text)
    unit = m.group(2).lower() if m else ""
    if m is None or (unit not in _SIZE_UNITS and unit not in _TIME_UNITS):
        raise ValueError(
            f"tokentax_save_rotate must be a size such as 100MB or an age such as 1h (units: B KB MB GB, "
            f"s m h d), got {text!r}"
        )
    value = float(m.group(1))
    if unit in _SIZE_UNITS:
        size = int(value * _SIZE_UNITS[unit])
        if size < 1000:
            raise ValueError(f"tokentax_save_rotate {text!r} is too small: at least 1KB")
        return size, None
    seconds = value * _TIME_UNITS[unit]
    if seconds < 1:
        raise ValueError(f"tokentax_save_rotate {text!r} is too short: at least 1s")
    return None, seconds
