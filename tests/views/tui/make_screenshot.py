"""Regenerate docs/tui.png (120x36, a callout selected) and docs/tui-80x24.png (the first
screen in a newcomer's 80x24 terminal) from the committed capture (not a test):

    uv run python tests/views/tui/make_screenshot.py

The app exports an SVG screenshot; rsvg-convert turns it into the PNG. Textual writes
spaces as no-break spaces, which rsvg draws narrower than a cell, so they are made
plain spaces (with xml:space="preserve") first, or columns after padding would shift.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from inspector.views.tui.components.flow_list import FlowList
from tests.support.procs import ROOT
from tests.support.tui import file_app

OUT = ROOT / "docs" / "tui.png"
OUT_SMALL = ROOT / "docs" / "tui-80x24.png"
SIZE = (120, 36)  # a normal terminal
SMALL = (80, 24)


async def shoot(size: tuple[int, int] = SIZE, select: bool = True) -> str:
    app = file_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        if select:
            fl = app.query_one(FlowList)
            fl.select_row(next(r for r in range(fl.row_count) if fl.event_of_row(r)["role"] == "callout"))
        await pilot.pause()
        return app.export_screenshot(title="tokentax open tests/data/naive_gateway.jsonl")


def svg_to_png(svg: str, out: Path) -> None:
    """Textual's SVG as a PNG: no-break spaces made plain first, or rsvg shifts columns."""
    svg = svg.replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "shot.svg"
        src.write_text(svg, encoding="utf-8")
        out.parent.mkdir(exist_ok=True)
        subprocess.run(["rsvg-convert", "-o", str(out), str(src)], check=True)
    print(f"wrote {out}")


def main() -> None:
    svg_to_png(asyncio.run(shoot()), OUT)
    svg_to_png(asyncio.run(shoot(SMALL, select=False)), OUT_SMALL)


if __name__ == "__main__":
    main()
