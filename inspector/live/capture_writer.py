"""The JSONL capture writer: off the event loop, flushed at least once a second.

The flow path only appends encoded lines to a queue; a daemon thread writes and flushes
them. A crash loses at most the last flush interval, and every line on disk is whole
except possibly the last, which readers tolerate. A write error (disk full, unwritable
path) stops the capture with one clear message and never touches the proxy.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

FLUSH_INTERVAL_S = 0.5


class CaptureWriter:
    def __init__(self, path: str | Path, flush_interval: float = FLUSH_INTERVAL_S) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.error = ""
        self.written = 0
        self._q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._fh = open(self.path, "ab")  # opening errors surface to the caller, at configure time
        self._thread = threading.Thread(target=self._run, name="tokentax-capture", daemon=True)
        self._thread.start()

    def write(self, line: bytes) -> None:
        if not self.error:
            self._q.put(line)

    def _run(self) -> None:
        fh = self._fh
        stop = False
        while not stop:
            batch: list[bytes] = []
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
            if batch and not self.error:
                try:
                    fh.write(b"".join(batch))
                    fh.flush()
                    self.written += len(batch)
                except OSError as exc:
                    self.error = f"capture {self.path}: {exc.strerror or exc}; capture stopped, proxy goes on"
        try:
            fh.close()
        except OSError as exc:
            self.error = self.error or f"capture {self.path}: {exc.strerror or exc}"

    def close(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)
