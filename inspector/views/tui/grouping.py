"""The flows list grouped by inbound request: each request, then the hops it caused.

Arrangement only: which hop belongs to which request is the analyzer's correlation
(`Analyzer.hops_for(inbound_id)`, exact by trace id or inferred by time), read through
the Feed; nothing is matched here. A hop that no held inbound request claims (no trace
id, ambiguous in time, its request not finished yet or no longer held) goes to one group
of its own, after the requests, under a label that says so.

Rows are addressed as in the flat list, by the Feed's append number k; a label row has
k = LABEL.

Only the newest SCAN flows are grouped: laying out all 10,000 a ring holds took 100 ms and
more live at 5,000 events/s (bench/tui.py --grouped), twice the frame budget; grouping
is for reading the pattern of recent requests, and the flat list (g again) holds them all.
A last label row says so when flows were left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inspector.schema.events import Event

LABEL = -1
# The tree marks in front of a row: a request, a hop under it (last one closes the branch),
# and a hop under no request.
MARK_REQUEST, MARK_HOP, MARK_LAST, MARK_LOOSE = "", "├ ", "└ ", "· "
MARK_WIDTH = 2
SCAN = 2_000  # newest held flows grouped


@dataclass(slots=True)
class Grouped:
    """Rows newest request first: (k, mark); `index` maps k to its row; `loose` counts the
    hops under no request (shown after the label row); `left_out` counts the older held
    flows not grouped (named by a last label row)."""

    rows: list[tuple[int, str]] = field(default_factory=list)
    index: dict[int, int] = field(default_factory=dict)
    loose: int = 0
    left_out: int = 0
    scan: int = SCAN


def loose_label(n: int) -> str:
    hops = "hop" if n == 1 else "hops"
    return (
        f"── {n} {hops} under no inbound request: no trace id, ambiguous in time, "
        "or the request not finished or no longer held ──"
    )


def left_out_label(n: int, scan: int) -> str:
    return f"── {n:,} older held flows are not grouped (the newest {scan:,} are): g for the flat list ──".replace(
        ",", " "
    )


def group(feed: Any, match: Callable[[Event], bool] | None = None, scan: int = SCAN) -> Grouped:
    """Group the newest `scan` of the Feed's held flows (`feed.ring`, oldest first;
    `feed.flows_seen` is the next append number) by the inbound request their correlation
    names. With `match`, a request shows when it or one of its hops matches, and only the
    matching hops show under it."""
    held = feed.ring
    n = min(scan, len(held))
    ring = list(itertools.islice(reversed(held), n))[::-1]  # a list: indexing a deque walks it
    first = feed.flows_seen - n
    k_of: dict[str, int] = {}
    for k, ev in enumerate(ring, start=first):
        fid = ev.get("id")
        if fid:
            k_of[str(fid)] = k
    out = Grouped(left_out=len(held) - n, scan=scan)
    rows = out.rows
    placed: set[int] = set()
    last = first + len(ring) - 1
    for off, ev in enumerate(reversed(ring)):
        if ev.get("role") != "inbound":
            continue
        k = last - off
        hops = feed.feed_of(ev).hops_for(str(ev.get("id")))
        kids = sorted(
            (k_of[h.id] for h in hops if h.id in k_of),
            key=lambda kk: (ring[kk - first].get("ts") or 0.0, kk),
        )
        placed.update(kids)
        if match is not None:
            kids = [kk for kk in kids if match(ring[kk - first])]
            if not kids and not match(ev):
                continue
        rows.append((k, MARK_REQUEST))
        for i, kk in enumerate(kids):
            rows.append((kk, MARK_LAST if i == len(kids) - 1 else MARK_HOP))
    loose = [
        last - off
        for off, ev in enumerate(reversed(ring))
        if ev.get("role") != "inbound" and (last - off) not in placed and (match is None or match(ev))
    ]
    if loose:
        rows.append((LABEL, ""))
        rows.extend((k, MARK_LOOSE) for k in loose)
    out.loose = len(loose)
    if out.left_out:
        rows.append((LABEL, "end"))
    out.index = {k: r for r, (k, _) in enumerate(rows) if k != LABEL}
    return out
