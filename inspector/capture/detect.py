"""Open any capture tokentax reads and say what it is, by content, not by file name.

Formats: tokentax JSONL, mitmproxy flow files (.mitm/.flows, tnetstring), HAR, and the
gzip-compressed form of each. Every problem becomes a UserError of one line that names
the file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from inspector.schema import events as E
from inspector.schema.errors import UserError

JSONL, MITM, HAR = "jsonl", "mitm", "har"


@dataclass
class LoadOptions:
    inbound: str = ""  # listeners that faced clients, for raw files that do not record roles
    rules: str = ""  # rules TOML path
    warn: Callable[[str], None] | None = None
    progress: Callable[[int], None] | None = None  # bytes of the (uncompressed) input read so far
    notes: list[str] = field(default_factory=list)  # what the reader wants the user to know
    clean: bool = False  # flow events as analyzer/sanitize.clean_flow leaves them (for ingest_many)


def _open(path: Path) -> tuple[IO[bytes], bool]:
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a capture") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb"), True  # type: ignore[return-value]
    return fh, False


def sniff(head: bytes) -> str | None:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()  # Fiddler's HAR files start with a BOM
    if not text:
        return None
    if text[:1] == b"{":
        # JSONL events start with {"v": ...}; a HAR document is one object with "log".
        first = text.split(b"\n", 1)[0]
        if b'"log"' in text[:4096] and b'"type"' not in first:
            return HAR
        if b'"v"' in first or b'"type"' in first:
            return JSONL
        if b'"log"' in text:
            return HAR
        return None
    # tnetstring: <length>:<payload><type char>
    colon = text.find(b":")
    if 0 < colon <= 12 and text[:colon].isdigit():
        return MITM
    return None


def detect(path: Path) -> str:
    fh, compressed = _open(path)
    try:
        head = fh.read(65536)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UserError(f"{path}: broken gzip data ({exc})") from None
    finally:
        fh.close()
    if not head.strip():
        raise UserError(f"{path}: the file is empty")
    kind = sniff(head)
    if kind is None:
        raise UserError(
            f"{path}: not a tokentax capture, mitmproxy flow file or HAR file"
            + (" (inside gzip)" if compressed else "")
        )
    return kind


def load_events(path: str | Path, opts: LoadOptions | None = None) -> Iterator[E.Event]:
    """Events of any supported capture, in file order."""
    opts = opts or LoadOptions()
    path = Path(path)
    kind = detect(path)
    fh, _ = _open(path)
    try:
        if kind == JSONL:
            try:
                yield from _guard(path, _jsonl(fh, path, opts))
            except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise UserError(f"{path}: cannot read ({exc})") from None
        elif kind == MITM:
            from inspector.capture.flowfile import read_flow_file

            yield from _cleaned(read_flow_file(fh, path, opts), opts.clean)
        else:
            from inspector.capture.har import read_har

            yield from _cleaned(read_har(fh, path, opts), opts.clean)
    finally:
        fh.close()


def _jsonl(fh: IO[bytes], path: Path, opts: LoadOptions) -> Iterator[E.Event]:
    from inspector.capture.jsonl import read_events

    return read_events(fh, str(path), opts.warn, opts.progress, clean=opts.clean)


def _cleaned(it: Iterator[E.Event], clean: bool) -> Iterator[E.Event]:
    if not clean:
        return it
    from inspector.analyzer.sanitize import clean_flow

    return (ev for ev in (clean_flow(e) if e.get("type") == E.FLOW else e for e in it) if ev is not None)


def _guard(path: Path, it: Iterator[E.Event]) -> Iterator[E.Event]:
    seen = False
    for ev in it:
        seen = True
        yield ev
    if not seen:
        raise UserError(f"{path}: no events in the capture")
