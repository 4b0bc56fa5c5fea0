"""Trace ids that a gateway may carry from the inbound request to its outbound hops."""

from __future__ import annotations

from collections.abc import Mapping

from inspector.record.text import clean_text

# Checked in this order; the first present wins.
TRACE_HEADERS = ("traceparent", "x-b3-traceid", "b3", "x-request-id", "x-correlation-id")
MAX_ID = 128


def trace_id(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(id, source header) or None. W3C and B3 yield the trace id, not the span id."""
    for name in TRACE_HEADERS:
        value = headers.get(name)
        if not value:
            continue
        value = value.strip()
        if name == "traceparent":
            parts = value.split("-")
            if len(parts) >= 4 and len(parts[1]) == 32:
                return clean_text(parts[1].lower()), name
            continue
        if name == "b3":
            tid = value.split("-")[0]
            if tid and tid not in ("0", "1", "d"):
                return clean_text(tid.lower()[:MAX_ID]), name
            continue
        return clean_text(value[:MAX_ID]), name
    return None
