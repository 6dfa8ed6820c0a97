"""Where a benchmark's numbers go: a JSON file that says what was run, where and when.

A full run of a benchmark script writes ``benchmarks/results/<name>.json``; the book and the
README quote those files, never a copy of a terminal. Each file records

* ``command``: the command line that produced it (run from the repository root);
* ``date``: when the run finished (UTC, ISO 8601);
* ``machine``: CPU model (``/proc/cpuinfo``), logical cores and the cores this process may use,
  memory, operating system, Python, NumPy and PyTorch versions, and the thread settings
  (``torch.get_num_threads()`` and the ``*_NUM_THREADS`` environment variables);
* ``cases``: whatever the script measured, raw (seconds, bytes) and as the ratios it reports.

Timings depend on the machine and on what else it was running; a results file is one run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _cpuinfo(field: str) -> str | None:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == field:
            return value.strip()
    return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, memory, library versions, thread settings."""
    import numpy
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": _cpuinfo("model name") or platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "thread_environment": {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }


def command_line() -> str:
    """This process's command line as it would be typed at the repository root.

    Thread settings given in the environment (``OMP_NUM_THREADS=1 python ...``) are part of it.
    """
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = str(script)
    env = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    return " ".join([*env, "python", script_text, *sys.argv[1:]])


def write_results(name: str, cases: list[dict[str, Any]], path: Path | None = None) -> Path:
    """Write ``cases`` with the command, date and machine to ``path`` (default results/name.json)."""
    path = RESULTS / f"{name}.json" if path is None else Path(path)
    record = {
        "benchmark": name,
        "command": command_line(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "machine": machine(),
        "cases": cases,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return path


def read_results(name: str) -> dict[str, Any]:
    """The record a full run of benchmark ``name`` wrote."""
    return json.loads((RESULTS / f"{name}.json").read_text())
