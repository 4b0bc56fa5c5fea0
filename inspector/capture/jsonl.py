"""Read a tokentax JSONL capture back into events.

A capture that a crash cut short ends in a partial line: that one line is skipped with
a warning. Any other bad line is an error naming the file and line number, because
silently skipping data in the middle would make the figures lie.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO

from inspector.schema import events as E
from inspector.schema.errors import UserError


def read_events(
    fh: IO[bytes], name: str, warn: Callable[[str], None] | None = None, progress: Callable[[int], None] | None = None
) -> Iterator[E.Event]:
    lineno = 0
    pending_error: tuple[int, str] | None = None
    read = 0
    for raw in fh:
        lineno += 1
        read += len(raw)
        if progress is not None and lineno % 4096 == 0:
            progress(read)
        if pending_error is not None:
            raise UserError(f"{name}: line {pending_error[0]}: {pending_error[1]}")
        if not raw.strip():
            continue
        try:
            ev = E.decode(raw)
        except E.NewerSchemaError as exc:
            raise UserError(f"{name}: {exc}") from None
        except E.EventError as exc:
            if not raw.endswith(b"\n"):
                # the last line of a capture whose writer died mid-line
                if warn is not None:
                    warn(f"{name}: line {lineno} is cut short (the capture was not closed cleanly); skipped it")
                continue
            pending_error = (lineno, str(exc))
            continue
        yield ev
    if progress is not None:
        progress(read)
    if pending_error is not None:
        # A bad final line that still ends in a newline: also what a crash leaves mid-write.
        if warn is not None:
            warn(
                f"{name}: line {pending_error[0]} is unreadable ({pending_error[1]}); skipped it as a cut-short "
                f"last line"
            )
