"""Read a tokentax JSONL capture back into events: line format v1, or v2 (lean, see
inspector/schema/lean.py), told apart by the session line.

A capture that a crash cut short ends in a partial line: that one line is skipped with
a warning. Any other bad line is an error naming the file and line number, because
silently skipping data in the middle would make the figures lie.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from inspector.schema import events as E
from inspector.schema.errors import UserError
from inspector.schema.lean import LeanDecoder, is_lean_header
from inspector.schema.vocab import ROLES

_NUM = (int, float)
_V1_SESSION, _V2_SESSION = b'{"v":1,"type":"session"', b'{"v":2,"type":"session"'


def _decode_v1(raw: bytes) -> E.Event:
    """E.decode with its checks inlined for the common well-formed flow line."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise E.EventError(f"not JSON ({exc.__class__.__name__})") from None
    if (
        type(obj) is dict
        and obj.get("type") == E.FLOW
        and obj.get("v") == 1
        and obj.get("role") in ROLES
        and type(obj.get("ts")) in _NUM
    ):
        return obj
    E.check(obj)
    return obj


def read_events(
    fh: IO[bytes],
    name: str,
    warn: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
    clean: bool = False,
) -> Iterator[E.Event]:
    """The capture's events. `clean`: every flow event as the analyzer's `clean_flow` leaves it
    (ill-typed fields dropped, a flow with no real time skipped): for `Analyzer.ingest_many(...,
    cleaned=True)`. Lean records are then vetted shape by shape, which is cheaper."""
    if clean:
        from inspector.analyzer.sanitize import clean_flow, shape_vet

        def lean() -> Callable[[bytes], Any]:
            return LeanDecoder(vet=shape_vet, fallback=clean_flow).decode

        def v1(raw: bytes) -> Any:
            ev = _decode_v1(raw)
            return clean_flow(ev) if ev.get("type") == E.FLOW else ev
    else:

        def lean() -> Callable[[bytes], Any]:
            return LeanDecoder().decode

        v1 = _decode_v1

    lineno = 0
    pending_error: tuple[int, str] | None = None
    read = 0
    decode: Callable[[bytes], Any] = v1
    first = True
    for raw in fh:
        lineno += 1
        read += len(raw)
        if progress is not None and lineno % 4096 == 0:
            progress(read)
        if pending_error is not None:
            raise UserError(f"{name}: line {pending_error[0]}: {pending_error[1]}")
        if raw[:1] == b"[" and not first:  # a v2 flow record (most lines): no session line to look for
            pass
        elif first:
            if not raw.strip():
                continue
            first = False
            try:
                head = orjson.loads(raw)
            except orjson.JSONDecodeError:
                head = None
            if is_lean_header(head):
                decode = lean()
        elif raw.startswith(_V2_SESSION):  # a writer appended a new session: fresh tables
            decode = lean()
        elif raw.startswith(_V1_SESSION):
            decode = v1
        try:
            ev = decode(raw)
        except E.NewerSchemaError as exc:
            raise UserError(f"{name}: {exc}") from None
        except E.EventError as exc:
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                # the last line of a capture whose writer died mid-line
                if warn is not None:
                    warn(f"{name}: line {lineno} is cut short (the capture was not closed cleanly); skipped it")
                continue
            pending_error = (lineno, str(exc))
            continue
        if ev is not None:
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


class LineDecoder:
    """Decodes a capture line by line (v1 or v2, switching at each session line), for code
    that tails a capture as it grows: `decode(line)` -> the event, or None for a line that
    only defines (v2). Raises EventError."""

    def __init__(self) -> None:
        self._decode: Callable[[bytes], Any] = _decode_v1
        self._first = True

    def decode(self, line: bytes) -> E.Event | None:
        if line.startswith(_V2_SESSION) or (self._first and line.lstrip()[:1] == b"["):
            self._decode = LeanDecoder().decode
        elif line.startswith(_V1_SESSION):
            self._decode = _decode_v1
        self._first = False
        return self._decode(line)
