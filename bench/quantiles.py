"""Percentile sketches side by side: the in-house log sketch (inspector/analyzer/quantiles.py)
against DDSketch and HdrHistogram, on the same samples in one run: worst relative error
of p50/p95/p99 against the exact value, CPU time per added value, and memory per series.

    uv run python bench/quantiles.py            # the in-house sketch only
    python bench/quantiles.py                   # in a venv that also has ddsketch, hdrhistogram

The libraries are optional: a missing one is skipped (they are not project dependencies;
this bench is how the choice in quantiles.py was made).
"""

from __future__ import annotations

import pickle
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspector.analyzer.quantiles import LogHistogram

QS = (0.5, 0.95, 0.99)


def exact(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ours() -> tuple[Callable[[float], None], Callable[[float], float], Any]:
    h = LogHistogram()
    return h.add, lambda q: h.percentile(q) or 0.0, h


def dd() -> tuple[Callable[[float], None], Callable[[float], float], Any]:
    from ddsketch import DDSketch  # type: ignore[import-not-found]

    s = DDSketch(relative_accuracy=0.01)
    return s.add, lambda q: s.get_quantile_value(q), s


def hdr() -> tuple[Callable[[float], None], Callable[[float], float], Any]:
    from hdrh.histogram import HdrHistogram  # type: ignore[import-not-found]

    h = HdrHistogram(1, 3_600_000_000, 3)  # 1 us .. 1 h, 3 significant digits

    def add(ms: float) -> None:
        h.record_value(max(1, int(ms * 1000)))

    return add, lambda q: h.get_value_at_percentile(q * 100) / 1000.0, h


def samples(n: int, rng: random.Random) -> dict[str, list[float]]:
    return {
        "lognormal": [rng.lognormvariate(4.0, 0.8) for _ in range(n)],
        "cluster 800-809": [rng.uniform(801.8, 808.9) for _ in range(n)],
        "bimodal 1ms/800ms": [rng.choice((rng.gauss(1.2, 0.2), rng.gauss(805, 3))) for _ in range(n)],
    }


def main() -> None:
    rng = random.Random(7)
    impls = {"log sketch (ours)": ours, "DDSketch 1%": dd, "HdrHistogram 3sd": hdr}
    for n in (20_000, 200_000):
        for name, values in samples(n, rng).items():
            truth = {q: exact(values, q) for q in QS}
            for label, make in impls.items():
                try:
                    add, pct, obj = make()
                except ImportError:
                    continue
                t0 = time.process_time()
                for v in values:
                    add(max(v, 0.001))
                dt = time.process_time() - t0
                err = max(abs(pct(q) - truth[q]) / truth[q] for q in QS)
                if hasattr(obj, "counts_len"):  # HdrHistogram: a fixed array of counters
                    size = obj.counts_len * obj.word_size
                else:
                    size = len(pickle.dumps(obj))
                print(
                    f"n={n:>7} {name:<18} {label:<18} worst p50/p95/p99 error {err * 100:5.2f} %  "
                    f"{dt / n * 1e6:6.2f} us/value  {size / 1024:8.1f} KB"
                )
    print("median exact p50 of the cluster:", round(statistics.median(samples(1000, rng)["cluster 800-809"]), 1))


if __name__ == "__main__":
    main()
