"""Waiting on conditions in tests: poll with a bounded deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

DEADLINE_S = 60.0


async def until(
    cond: Callable[[], Any],
    what: str,
    *,
    deadline: float = DEADLINE_S,
    step: Callable[[], Awaitable[Any]] | None = None,
) -> Any:
    """Return cond()'s first truthy value; fail naming `what` if the deadline passes first.

    `step` is awaited between checks (a Pilot's pause, so the app runs its timers);
    by default the loop just yields briefly.
    """
    end = time.monotonic() + deadline
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        if step is not None:
            await step()
        else:
            await asyncio.sleep(0.01)


def screen_text(app: Any) -> str:
    """The plain text on the app's screen right now (what a person would read)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
