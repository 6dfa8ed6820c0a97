"""How the benchmarks measure: median times of interleaved rounds, peak extra memory per child.

Time: all variants run in one process, interleaved round by round (in a new random order each
round) so that background noise spreads over all of them; each gets its median. Peak extra
memory: each variant runs once in a fresh child process; after its inputs exist (and after an
optional warm-up), the child resets the kernel's high-water mark of its resident memory
(``/proc/self/clear_refs``), runs the variant once and reports ``VmHWM`` minus the resident size
before the call: every byte the call touched beyond its inputs, its outputs included, NumPy and
torch allocations alike (tracemalloc would miss torch's). Linux only.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Variant = Callable[[], object]


def status_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM, ...), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_in_child(make_run: Callable[..., Variant], args: tuple[Any, ...], queue: mp.Queue) -> None:
    run = make_run(*args)
    before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    run()
    queue.put((status_kib("VmHWM") - before) * 1024)


def peak_extra_bytes(make_run: Callable[..., Variant], *args: Any) -> int:
    """Peak extra resident bytes of one call of ``make_run(*args)()`` in a fresh process.

    ``make_run`` must be a module-level function (the child imports it): it builds the inputs,
    warms up if it wants to, and returns the call to measure.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_peak_in_child, args=(make_run, args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def median_times(runs: dict[str, Variant], rounds: int) -> dict[str, float]:
    """Median seconds of each variant over ``rounds`` interleaved rounds (after one warm-up each).

    Each round runs the variants in a new random order (seeded, so a rerun draws the same
    orders): a call pays for what ran just before it (caches, the allocator: measured up to
    50 us at 64 x 1000 logits), and a fixed order would charge that to one variant every time.
    """
    for run in runs.values():
        run()
    order = random.Random(0)
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        order.shuffle(names)
        for name in names:
            run = runs[name]
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}
