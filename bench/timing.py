"""Timing helper shared by the benchmarks (imported as ``from timing import best_of``;
``python bench/bench_x.py`` puts bench/ on the path)."""
from __future__ import annotations

import time


def best_of(fn, repeats: int = 5) -> float:
    """Best wall time of ``repeats`` calls of ``fn()``, in seconds (least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
