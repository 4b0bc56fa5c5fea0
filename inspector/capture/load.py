"""Feed a whole capture through the analyzer, with a progress bar when it takes a while.

A capture is a file, or a session of several (a directory or a glob of rotated segments,
inspector/capture/segments.py) read in order into one analyzer.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inspector.analyzer import Analyzer
from inspector.capture.detect import LoadOptions, load_events
from inspector.capture.segments import session_files

PROGRESS_AFTER_S = 0.5
OFFLINE_GC_THRESHOLD = 200_000


def _warn(msg: str) -> None:
    print(f"tokentax: warning: {msg}", file=sys.stderr)


@contextmanager
def offline_gc() -> Iterator[None]:
    """Reading a capture allocates several containers per event, and Python's cyclic GC runs
    every 700 allocations, walking young objects each time (20-25 % of the offline time,
    bench/analyzer.py --profile). Events and the analyzer's tables hold no cycles, so while a
    capture is read the collector runs far less often; the old thresholds come back after."""
    old = gc.get_threshold()
    gc.set_threshold(OFFLINE_GC_THRESHOLD, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _disk_and_plain_size(path: Path) -> tuple[int, int]:
    """(bytes on disk, bytes once uncompressed): gzip keeps the latter mod 2**32 in its last 4 bytes."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b" or size < 18:
                return size, size
            fh.seek(-4, os.SEEK_END)
            plain = int.from_bytes(fh.read(4), "little")
        return size, max(plain, size)
    except OSError:
        return 0, 0


def analyze_file(
    path: str | Path,
    opts: LoadOptions | None = None,
    analyzer: Analyzer | None = None,
    show_progress: bool | None = None,
) -> Analyzer:
    """Read a capture (or a session of segments) into an analyzer. Shows a rich progress bar on
    a terminal after half a second."""
    opts = opts or LoadOptions()
    if opts.warn is None:
        opts.warn = _warn
    analyzer = analyzer or Analyzer()
    files = session_files(path)
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    sizes = [_disk_and_plain_size(f) for f in files]
    total = sum(disk for disk, _ in sizes)
    label = Path(path).name if len(files) == 1 else f"{Path(str(path)).name} ({len(files)} segments)"
    started = time.monotonic()
    progress = None
    task = None
    before = 0  # disk bytes of the files already read
    scale = 1.0  # disk bytes per uncompressed byte of the current file

    def on_progress(done: int) -> None:
        nonlocal progress, task
        if not show_progress:
            return
        if progress is None:
            if time.monotonic() - started < PROGRESS_AFTER_S:
                return
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            progress = Progress(
                TextColumn("reading {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                transient=True,
                console=None,
            )
            progress.start()
            task = progress.add_task(label, total=total or None)
        at = before + int(done * scale)
        progress.update(task, completed=min(at, total) if total else at)

    opts.progress = on_progress
    opts.clean = True  # the readers clean flow events (lean ones shape by shape): ingest_many skips it
    try:
        with offline_gc():
            for f, (disk, plain) in zip(files, sizes, strict=True):
                scale = disk / plain if plain else 1.0
                analyzer.ingest_many(load_events(f, opts), cleaned=True)
                before += disk
    finally:
        if progress is not None:
            progress.stop()
    return analyzer
