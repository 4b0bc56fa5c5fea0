"""The JSONL capture writer: off the event loop, flushed at least once a second.

The flow path only appends events (or encoded lines) to a queue; a daemon thread encodes,
writes and flushes them. A crash loses at most the last flush interval, and every line on
disk is whole except possibly the last, which readers tolerate. A write error (disk full,
unwritable path) stops the capture with one clear message and never touches the proxy.

Events given as dicts are written in the lean line format v2 (inspector/schema/lean.py).
With a rotation policy the capture is a series of segments `STEM-00001.jsonl`, ... beside
the path given; each segment opens with the session line and its own definitions, so each
is readable alone, and a closed segment is gzip-compressed (to a temporary name, then
renamed, then the plain file removed: a crash leaves either the plain segment or the
complete `.gz`, and readers prefer the `.gz` when both are there).
"""

from __future__ import annotations

import gzip
import os
import queue
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.schema.lean import LeanEncoder

FLUSH_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Rotation:
    """When to close a segment and start the next: by size, by age, or both (whichever first)."""

    max_bytes: int | None = None
    max_seconds: float | None = None


def segment_path(base: Path, seq: int) -> Path:
    suffix = "".join(base.suffixes) or ".jsonl"
    stem = base.name[: len(base.name) - len("".join(base.suffixes))] if base.suffixes else base.name
    return base.with_name(f"{stem}-{seq:05d}{suffix}")


def next_segment_number(base: Path) -> int:
    """After a restart, continue after the highest segment already beside `base`."""
    first = segment_path(base, 0).name
    head, tail = first.split("-00000", 1)
    pat = re.compile(re.escape(head) + r"-(\d{5,})" + re.escape(tail) + r"(\.gz)?$")
    best = 0
    if base.parent.is_dir():
        for p in base.parent.iterdir():
            m = pat.match(p.name)
            if m:
                best = max(best, int(m.group(1)))
    return best + 1


def compress(path: Path) -> Path:
    """path -> path.gz, crash-safe: tmp, fsync, rename, then remove the plain file."""
    gz = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with open(path, "rb") as src, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, compresslevel=6, mtime=0) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, gz)
    path.unlink()
    return gz


class CaptureWriter:
    def __init__(
        self,
        path: str | Path,
        flush_interval: float = FLUSH_INTERVAL_S,
        *,
        session: dict[str, Any] | None = None,
        rotate: Rotation | None = None,
        compress_closed: bool = True,
    ) -> None:
        self.base = Path(path)
        self.flush_interval = flush_interval
        self.error = ""
        self.written = 0
        self.segments: list[Path] = []  # closed segments (compressed when compress_closed)
        self.rotate = rotate
        self.compress_closed = compress_closed
        self._session = session
        self._encoder: LeanEncoder | None = None
        self._q: queue.SimpleQueue[bytes | dict | None] = queue.SimpleQueue()
        self._compressors: list[threading.Thread] = []
        if rotate is not None:
            self._seq = next_segment_number(self.base)
            self.path = segment_path(self.base, self._seq)
        else:
            self.path = self.base
        self._fh = open(self.path, "ab")  # opening errors surface to the caller, at configure time
        self._seg_bytes = self._fh.tell()
        self._seg_started = time.monotonic()
        if session is not None:
            self._start_segment_header()
        self._thread = threading.Thread(target=self._run, name="tokentax-capture", daemon=True)
        self._thread.start()

    def _start_segment_header(self) -> None:
        self._encoder = LeanEncoder()
        assert self._session is not None
        head = dict(self._session)
        if self.rotate is not None:
            head["segment"] = self._seq
        line = self._encoder.header(head)
        self._fh.write(line)
        self._seg_bytes += len(line)

    def write(self, line: bytes) -> None:
        """An encoded line, written as is (v1, or a non-flow line)."""
        if not self.error:
            self._q.put(line)

    def write_event(self, ev: dict[str, Any]) -> None:
        """An event, encoded in the writer thread in the lean format (needs `session`)."""
        if not self.error:
            self._q.put(ev)

    def _encode(self, item: bytes | dict) -> bytes:
        if type(item) is bytes:
            return item
        if self._encoder is None:
            self._encoder = LeanEncoder()
        return self._encoder.encode(item)  # type: ignore[arg-type]

    def _due(self) -> bool:
        r = self.rotate
        if r is None:
            return False
        if r.max_bytes is not None and self._seg_bytes >= r.max_bytes:
            return True
        return r.max_seconds is not None and time.monotonic() - self._seg_started >= r.max_seconds

    def _roll(self) -> None:
        """Close the current segment (compressing it in the background) and open the next."""
        self._fh.close()
        closed = self.path
        self._seq += 1
        self.path = segment_path(self.base, self._seq)
        self._fh = open(self.path, "ab")
        self._seg_bytes = self._fh.tell()
        self._seg_started = time.monotonic()
        if self._session is not None:
            self._start_segment_header()
        else:
            self._encoder = None
        if self.compress_closed:
            t = threading.Thread(target=self._compress, args=(closed,), name="tokentax-gzip", daemon=True)
            self._compressors.append(t)
            t.start()
        else:
            self.segments.append(closed)

    def _compress(self, path: Path) -> None:
        try:
            self.segments.append(compress(path))
        except OSError as exc:
            # the plain segment stays, complete and readable
            self.segments.append(path)
            self.error = self.error or f"capture {path}: compressing failed ({exc.strerror or exc}); kept it plain"

    def _write_batch(self, batch: list[bytes | dict]) -> None:
        """Encode and write; a segment that is due rolls between two events, never inside one."""
        buf: list[bytes] = []
        for item in batch:
            line = self._encode(item)
            buf.append(line)
            self._seg_bytes += len(line)
            if self.rotate is not None and self._due():
                self._fh.write(b"".join(buf))
                self._fh.flush()
                self.written += len(buf)
                buf.clear()
                self._roll()
        if buf:
            self._fh.write(b"".join(buf))
            self._fh.flush()
            self.written += len(buf)
        elif not batch and self._due():  # an idle capture still rolls on time
            self._roll()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[bytes | dict] = []
            try:
                item = self._q.get(timeout=self.flush_interval)
                if item is None:
                    stop = True
                else:
                    batch.append(item)
                # take whatever else is waiting, without blocking
                while True:
                    item = self._q.get_nowait()
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
            except queue.Empty:
                pass
            if not self.error:
                try:
                    self._write_batch(batch)
                except OSError as exc:
                    self.error = f"capture {self.path}: {exc.strerror or exc}; capture stopped, proxy goes on"
        try:
            self._fh.close()
        except OSError as exc:
            self.error = self.error or f"capture {self.path}: {exc.strerror or exc}"

    def close(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)
        for t in self._compressors:
            t.join(timeout)
