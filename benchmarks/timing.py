"""The timing rule of the benchmarks: the median of `runs` calls after one warm-up call."""

import statistics
import time


def median_time(fn, runs):
    """Seconds: the median of `runs` timed calls of fn(), after one untimed call (tracing or
    compilation, kernel selection, allocations)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
