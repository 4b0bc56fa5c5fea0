"""A session given as several files: a directory or a glob of capture segments, read in order.

Order is by file name with numbers compared as numbers (`cap-00002` before `cap-00010`,
`x-9` before `x-10`), which is the order the rotating writer names its segments. When a
segment is there both plain and compressed (a crash between compressing and removing the
plain file), the complete `.gz` is read and the plain twin skipped. Half-written
compression output (`*.gz.tmp`) and hidden files are never read.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

from inspector.schema.errors import UserError

_GLOB_CHARS = re.compile(r"[*?\[]")


def _natural(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def session_files(spec: str | Path) -> list[Path]:
    """The files of a session: [the file] for a file, else the segments of a directory or glob."""
    path = Path(spec)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        what = f"{path}: is a directory with no capture segments in it"
    elif not path.exists() and _GLOB_CHARS.search(str(spec)):
        files = [Path(p) for p in glob.glob(str(spec)) if Path(p).is_file()]
        what = f"{spec}: no file matches"
    else:
        return [path]
    files = [p for p in files if not p.name.startswith(".") and not p.name.endswith(".tmp")]
    names = {p.name for p in files}
    files = [p for p in files if p.name + ".gz" not in names]
    if not files:
        raise UserError(what)
    return sorted(files, key=_natural)


def is_session_spec(spec: str | Path) -> bool:
    path = Path(spec)
    return path.is_dir() or (not path.exists() and bool(_GLOB_CHARS.search(str(spec))))
