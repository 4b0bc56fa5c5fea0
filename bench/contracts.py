"""Events as plain dicts (TypedDict contracts) against a dataclass per event, side by side.

Why this bench exists: the architecture keeps events as dicts typed by TypedDicts
(inspector/schema/types.py) rather than dataclasses. This measures what a dataclass per
flow event would cost on the capture path: decode a line, build the object, read the
fields the analyzer reads. Interleaved rounds, median; prints the ratio last.

    uv run python bench/contracts.py [--rounds 7] [--events 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.synth import events as synth_events


@dataclass(slots=True)
class FlowObj:
    v: int
    type: str
    id: str
    ts: float
    end: float | None
    role: str
    role_by: str
    extra: dict[str, Any]


FIELDS = ("v", "type", "id", "ts", "end", "role", "role_by")


def as_dicts(lines: list[bytes]) -> float:
    acc = 0.0
    for line in lines:
        ev = orjson.loads(line)
        acc += ev["ts"] + ((ev.get("timing") or {}).get("total") or 0.0)
        _ = ev["role"], ev.get("status"), ev.get("trace")
    return acc


def as_dataclasses(lines: list[bytes]) -> float:
    acc = 0.0
    for line in lines:
        raw = orjson.loads(line)
        ev = FlowObj(*(raw.pop(k, None) for k in FIELDS), extra=raw)
        acc += ev.ts + ((ev.extra.get("timing") or {}).get("total") or 0.0)
        _ = ev.role, ev.extra.get("status"), ev.extra.get("trace")
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    lines = [orjson.dumps(e) for e in synth_events(args.events) if e.get("type") == "flow"]
    dict_rates, dc_rates = [], []
    for _ in range(args.rounds):
        for fn, out in ((as_dicts, dict_rates), (as_dataclasses, dc_rates)):
            t0 = time.perf_counter()
            fn(lines)
            out.append(len(lines) / (time.perf_counter() - t0))
    d, c = statistics.median(dict_rates), statistics.median(dc_rates)
    print(
        f"dict events/s median {d:,.0f}; dataclass events/s median {c:,.0f} ({args.rounds} rounds, {len(lines)} flows)"
    )
    print(f"ratio dataclass/dict={c / d:.3f}")


if __name__ == "__main__":
    main()
