"""Text copied from traffic into events must be valid Unicode that encodes as UTF-8.

mitmproxy decodes non-UTF-8 bytes in a method, path or header with `surrogateescape`, and
Python's json module turns `"\\ud800"` escapes into lone surrogates. Either would make the
event unencodable (orjson refuses surrogates) and the flow would be lost.
"""

from __future__ import annotations

import math
from typing import Any

INT_RANGE = (-(2**63), 2**64)  # what orjson can encode


def clean_text(s: str) -> str:
    """`s` with lone surrogates replaced by U+FFFD; free for ASCII."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in s)


def clean_number(value: Any) -> int | float | None:
    """A number an event can carry: finite, and an int that fits 64 bits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if INT_RANGE[0] <= value < INT_RANGE[1] else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None
