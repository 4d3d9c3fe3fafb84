"""What the benchmarks time, and how: the photo, the timing rule (the median of `runs` calls after
one warm-up call), and the interleaved rule for comparing paths on a machine shared with other
jobs."""

import os
import statistics
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "..", "shared", "data", "real_blur", "01.png")


def photo(height, width):
    """uint8 [height, width, 3]: the real blurry photo real_blur/01.png (1280×720) resized
    (bicubic) to the size; without that folder, scikit-image's astronaut at 1280×720 resized."""
    from PIL import Image
    if os.path.exists(PHOTO):
        source = Image.open(PHOTO).convert("RGB")
    else:
        import skimage.data
        source = Image.fromarray(skimage.data.astronaut()).resize((1280, 720), Image.BICUBIC)
    if source.size != (width, height):
        source = source.resize((width, height), Image.BICUBIC)
    image = np.asarray(source)
    source.close()
    return image


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


def interleaved_times(fns, rounds):
    """{name: [seconds per round]} for the callables `fns` ({name: fn}), each called once untimed,
    then `rounds` rounds calling every one in turn (A, B, A, B, ...): a load that comes and goes
    slows them alike, so their per-round ratios stay fair on a shared machine."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def load_average():
    """"load 2.9, 3.4, 4.1 on 2 cores": the 1, 5 and 15-minute load averages (Unix)."""
    try:
        loads = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load {', '.join(f'{v:.1f}' for v in loads)} on {os.cpu_count()} cores"
