"""Name what went wrong with a flow in a few stable words."""

from __future__ import annotations

from inspector.record.text import clean_text

# (kind, substrings of mitmproxy's error message, lower-cased)
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("refused", ("refused", "connect call failed", "unreachable")),
    ("timeout", ("timed out", "timeout")),
    ("abandoned", ("client disconnected",)),  # the caller gave up waiting (its own timeout)
    ("tls", ("tls", "ssl", "certificate")),
    ("killed", ("killed",)),
    ("reset", ("reset", "closed", "disconnect", "broken pipe", "eof")),
)
MAX_MSG = 160


def error_kind(message: str) -> str:
    low = message.lower()
    for kind, needles in _KINDS:
        if any(n in low for n in needles):
            return kind
    return "other"


def error_facts(message: str) -> dict[str, str]:
    return {"kind": error_kind(message), "msg": clean_text(message[:MAX_MSG])}
