"""Feed a whole capture through the analyzer, with a progress bar when it takes a while."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from inspector.analyzer import Analyzer
from inspector.capture.detect import LoadOptions, load_events

PROGRESS_AFTER_S = 0.5


def _warn(msg: str) -> None:
    print(f"tokentax: warning: {msg}", file=sys.stderr)


def analyze_file(
    path: str | Path,
    opts: LoadOptions | None = None,
    analyzer: Analyzer | None = None,
    show_progress: bool | None = None,
) -> Analyzer:
    """Read a capture into an analyzer. Shows a rich progress bar on a terminal after half a second."""
    opts = opts or LoadOptions()
    if opts.warn is None:
        opts.warn = _warn
    analyzer = analyzer or Analyzer()
    path = Path(path)
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    size = os.path.getsize(path) if path.is_file() else 0
    started = time.monotonic()
    progress = None
    task = None

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
            task = progress.add_task(path.name, total=size or None)
        progress.update(task, completed=min(done, size) if size else done)

    opts.progress = on_progress
    try:
        ingest = analyzer.ingest
        for ev in load_events(path, opts):
            ingest(ev)
    finally:
        if progress is not None:
            progress.stop()
    return analyzer
