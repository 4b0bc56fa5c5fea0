"""Reading a capture the addon is still writing: its events through the real reader.

Captures are lean (v2) lines whose shapes and values are defined once and referenced, so
a test must not grep the raw bytes for a field; it reads events. A line cut short by the
writer (still mid-flush) is skipped, exactly as `tokentax report` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspector.capture.jsonl import read_events


def capture_events(path: Path) -> list[dict[str, Any]]:
    """Every event the capture at `path` holds now ([] when it does not exist yet)."""
    if not path.exists():
        return []
    with path.open("rb") as fh:
        return list(read_events(fh, str(path), warn=lambda _msg: None))
