"""Reading a capture, in CPU instructions per event: this tree against another revision, side by side.

    uv run python bench/instructions.py [--base HEAD~1] [--events 20000]

Time on this shared, 2-core machine moves by 10-20 % between runs, more than most changes to
the analyzer gain or lose. Instruction counts do not: valgrind's callgrind counts the
instructions a process runs, the same for the same binary and input whatever the neighbours
do (with string hashing fixed: PYTHONHASHSEED=0). Each tree reads the same two v2 captures (written once, by this tree) through the real
report path (`analyze_file`: read, decode, vet, ingest, snapshot); the difference between a
small and a large capture, divided by the events between them, cancels start-up and imports.
The base revision is checked out in a temporary git worktree and removed after.

The last line prints instructions per event for both and their ratio (base / this tree:
above 1 means this tree is cheaper), and the events/s the goal of 10 us per event would need.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synth import events  # noqa: E402
from inspector.schema import events as E  # noqa: E402
from inspector.schema.lean import LeanEncoder  # noqa: E402

# Run inside each tree (its own `inspector` first on the path): the public report path only,
# so any revision that has `analyze_file` can be measured.
RUNNER = """
import sys
sys.path.insert(0, sys.argv[1])
from inspector.capture.load import analyze_file
analyze_file(sys.argv[2], show_progress=False).snapshot()
"""
SMALL = 2_000  # events in the small capture: start-up, imports and the first shapes


def fail(msg: str) -> None:
    print(f"bench/instructions.py: {msg}", file=sys.stderr)
    raise SystemExit(2)


def write(path: Path, n: int) -> None:
    enc = LeanEncoder()
    with open(path, "wb") as fh:
        fh.write(enc.header(E.session_event(0.0, source="bench", key_id="k")))
        fh.writelines(enc.encode(ev) for ev in events(n))


def instructions(tree: Path, capture: Path, runner: Path) -> int:
    """Instructions callgrind counted for one read of `capture` by `tree`'s code."""
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(runner),
            str(tree),
            str(capture),
        ],
        capture_output=True,
        text=True,
        cwd=tree,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # string hashes vary per process, and dict probing with them
    )
    m = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if out.returncode != 0 or m is None:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        fail(f"valgrind run in {tree} failed (status {out.returncode}): {last}")
    assert m is not None
    return int(m.group(1))


def per_event(tree: Path, small: Path, large: Path, n: int, runner: Path) -> float:
    a = instructions(tree, small, runner)
    b = instructions(tree, large, runner)
    return (b - a) / (n - SMALL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="HEAD~1", help="the revision to compare with (default HEAD~1)")
    ap.add_argument("--events", type=int, default=20_000, help="events in the large capture (default 20000)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        fail("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.events <= SMALL * 2:
        fail(f"--events must be above {SMALL * 2}")
    rev = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", args.base + "^{commit}"], cwd=ROOT, capture_output=True, text=True
    )
    if rev.returncode != 0:
        fail(f"--base {args.base!r} is not a revision of this repository")
    base_rev = rev.stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        small, large, runner = t / "small.jsonl", t / "large.jsonl", t / "runner.py"
        write(small, SMALL)
        write(large, args.events)
        runner.write_text(RUNNER, encoding="utf-8")
        base = t / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(base), base_rev], cwd=ROOT, check=True)
        try:
            print(
                f"capture: {args.events:,} events ({large.stat().st_size / args.events:.0f} bytes/event), under callgrind"
            )
            ours = per_event(ROOT, small, large, args.events, runner)
            print(f"  this tree:          {ours:,.0f} instructions/event")
            theirs = per_event(base, small, large, args.events, runner)
            print(f"  base {base_rev[:10]}:   {theirs:,.0f} instructions/event")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    print(
        f"summary: instructions per event base={theirs:,.0f} this={ours:,.0f} "
        f"ratio base/this={theirs / ours:.3f} (above 1: this tree reads captures with fewer instructions)"
    )


if __name__ == "__main__":
    main()
