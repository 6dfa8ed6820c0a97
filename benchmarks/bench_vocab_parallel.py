"""Cross entropy with the vocabulary split across 2 processes: per-rank peak memory and time.

    python benchmarks/bench_vocab_parallel.py            # the full run, writes the results file
    python benchmarks/bench_vocab_parallel.py --quick    # small sizes, a smoke test

The full run measures N=4096 tokens, d=512, V=65536, float32 (the loss and the gradients with
respect to the hidden states X (N, d) and the output layer W (V, d)), and writes the numbers,
with the command, the date and the machine, to ``benchmarks/results/vocab_parallel.json``, the
file chapter 11 reads (``--output PATH`` writes elsewhere; ``--quick`` writes only with
``--output``). Variants:

* ``one process``: :func:`ce_lib.torch.linear_cross_entropy` of the whole W, in one process
  with as many torch threads as the ranks together (2);
* ``2 ranks, vocab-parallel``: ``linear_cross_entropy(X, W_r, y, group=WORLD)`` on each of 2
  gloo ranks (1 thread each), rank r holding the rows W_r of W: the (N, V) logits never exist;
* ``2 ranks, gathered logits``: each rank computes its logits X W_r^T, all-gathers the full
  (N, V) logits and runs ``F.cross_entropy`` on them (forward and backward), then takes the
  gradient of its own columns (the input's gradient is all-reduced, as in the other variant).

A second case measures what the logit regularizers cost across ranks: ``2 ranks, vocab-parallel,
z-loss + soft-cap`` (``z_loss=1e-4, logit_softcap=30``, Gemma 2's cap and PaLM's weight)
against the plain ``2 ranks, vocab-parallel`` call, per-rank peak extra memory and time, as
ratios over the plain call (neither regularizer adds a collective; soft-capping adds one
elementwise ``tanh`` per logit in each pass and one block of rows of scratch).

Peak extra memory: in a fresh process per variant (per rank, for the 2-rank variants), after a
warm-up on a small problem and after the inputs exist, the kernel's high-water mark of the
resident set is reset (``/proc/self/clear_refs``); the figure is ``VmHWM`` after one call minus
the resident size before it: every byte the call touched beyond its inputs, the gradients
included. Time: medians of interleaved rounds (the 2-rank variants start each round together,
after a barrier; the time of a round is the slower rank's). Two ranks on a 2-core machine that
other processes also use are noisy: compare the ratios of one run, not seconds. Linux only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from _measure import median_times, peak_extra_bytes, status_kib
from _results import write_results

import ce_lib.torch as ct
from ce_lib.torch.vocab_parallel import launch

RANKS = 2
VARIANTS = ("2 ranks, vocab-parallel", "2 ranks, gathered logits")
REGULARIZED = "2 ranks, vocab-parallel, z-loss + soft-cap"
#: The keywords of each vocab-parallel variant.
VOCAB_PARALLEL = {VARIANTS[0]: {}, REGULARIZED: {"z_loss": 1e-4, "logit_softcap": 30.0}}


def inputs(n: int, d: int, v: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, ...]:
    """X (N, d), this rank's rows of W (V/world, d) and the targets y (N,): float32, seeded."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, d), dtype=np.float32))
    w = torch.from_numpy(rng.standard_normal((v, d), dtype=np.float32) * np.float32(d**-0.5))
    y = torch.from_numpy(rng.integers(0, v, n))
    rows = v // world
    w = w[rank * rows : (rank + 1) * rows].clone()
    return x.requires_grad_(), w.requires_grad_(), y


def one_process(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> Any:
    def run() -> object:
        x.grad = w.grad = None
        loss = ct.linear_cross_entropy(x, w, y)
        loss.backward()
        return loss
    return run


def _gathered(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor, world: int) -> torch.Tensor:
    """F.cross_entropy of the all-gathered logits; backward by hand for this rank's columns."""
    with torch.no_grad():
        local = x @ w.T
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local)
        del local
        full = torch.cat(parts, 1).requires_grad_()
        del parts
    loss = F.cross_entropy(full, y)
    loss.backward()
    rank, cols = dist.get_rank(), w.shape[0]
    with torch.no_grad():
        g = full.grad[:, rank * cols : (rank + 1) * cols]
        w.grad = g.T @ x
        gx = g @ w
        dist.all_reduce(gx)
        x.grad = gx
    return loss.detach()


def rank_variant(name: str, x: torch.Tensor, w: torch.Tensor, y: torch.Tensor,
                 world: int) -> Any:
    def run() -> object:
        x.grad = w.grad = None
        if name in VOCAB_PARALLEL:
            loss = ct.linear_cross_entropy(x, w, y, group=dist.group.WORLD,
                                           **VOCAB_PARALLEL[name])
            loss.backward()
            return loss.detach()
        return _gathered(x, w, y, world)
    return run


def _rank_memory(rank: int, world: int, name: str, size: tuple[int, int, int]) -> int:
    rank_variant(name, *inputs(256, 64, 1024, rank, world), world)()  # warm-up
    run = rank_variant(name, *inputs(*size, rank, world), world)
    dist.barrier()
    before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    run()
    return (status_kib("VmHWM") - before) * 1024


def _rank_times(rank: int, world: int, size: tuple[int, int, int], rounds: int,
                variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    args = inputs(*size, rank, world)
    runs = {name: rank_variant(name, *args, world) for name in variants}
    losses = {name: float(run()) for name, run in runs.items()}  # warm-up, and the values
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in runs.items():
            dist.barrier()
            start = time.perf_counter()
            run()
            dist.barrier()  # the round ends when the slower rank is done
            times[name].append(time.perf_counter() - start)
    return {"median_s": {n: statistics.median(t) for n, t in times.items()}, "loss": losses}


def _one_memory(size: tuple[int, int, int], threads: int) -> Any:
    torch.set_num_threads(threads)
    one_process(*inputs(256, 64, 1024))()
    return one_process(*inputs(*size))


def measure(n: int, d: int, v: int, rounds: int) -> dict[str, Any]:
    size = (n, d, v)
    threads = RANKS
    torch.set_num_threads(threads)
    one_mem = peak_extra_bytes(_one_memory, size, threads)
    memory = {name: launch.run(_rank_memory, RANKS, name, size, timeout=600)
              for name in VARIANTS}
    ranks = launch.run(_rank_times, RANKS, size, rounds, timeout=600)
    one_process(*inputs(256, 64, 1024))()
    args = inputs(*size)
    one_t = median_times({"one": one_process(*args)}, rounds)["one"]
    one_loss = float(ct.linear_cross_entropy(args[0].detach(), args[1].detach(), args[2]))
    rows = [{"variant": "one process", "processes": 1, "threads_per_process": threads,
             "peak_extra_bytes_per_process": one_mem, "time_s": one_t, "loss": one_loss}]
    for name in VARIANTS:
        rows.append({
            "variant": name, "processes": RANKS, "threads_per_process": 1,
            "peak_extra_bytes_per_rank": memory[name],
            "peak_extra_bytes_per_process": max(memory[name]),
            "time_s": max(r["median_s"][name] for r in ranks),
            "loss": ranks[0]["loss"][name],
        })
    for row in rows:
        row["memory_over_one_process"] = row["peak_extra_bytes_per_process"] / one_mem
        row["time_over_one_process"] = row["time_s"] / one_t
    ratio = rows[1]["memory_over_one_process"]
    print(f"\n## N={n}, d={d}, V={v}, float32, {RANKS} ranks, median of {rounds} round(s)\n")
    print("| variant | peak extra per process (MiB) | / one process | time (s) | / one process |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['peak_extra_bytes_per_process'] / 2**20:.1f} | "
              f"{row['memory_over_one_process']:.2f} | {row['time_s']:.3f} | "
              f"{row['time_over_one_process']:.2f} |")
    print(f"\n- per-rank peak extra memory at {RANKS} ranks <= 0.6x one process: {ratio:.2f} -> "
          f"{'met' if ratio <= 0.6 else 'NOT met'}")
    spread = max(r["loss"] for r in rows) - min(r["loss"] for r in rows)
    print(f"- the three losses agree to {spread:.1e} (float32)")
    return {"n": n, "d": d, "v": v, "dtype": "float32", "ranks": RANKS, "rounds": rounds,
            "rows": rows, "target": {"target": "per-rank peak extra memory <= 0.6x one process",
                                     "ratio": ratio, "limit": 0.6, "met": ratio <= 0.6}}


def measure_regularizers(n: int, d: int, v: int, rounds: int) -> dict[str, Any]:
    """The vocab-parallel call with z_loss=1e-4, logit_softcap=30 against the plain one."""
    size = (n, d, v)
    names = tuple(VOCAB_PARALLEL)
    memory = {name: launch.run(_rank_memory, RANKS, name, size, timeout=600) for name in names}
    ranks = launch.run(_rank_times, RANKS, size, rounds, names, timeout=600)
    rows = [{"variant": name, "processes": RANKS, "threads_per_process": 1,
             "keywords": VOCAB_PARALLEL[name], "peak_extra_bytes_per_rank": memory[name],
             "peak_extra_bytes_per_process": max(memory[name]),
             "time_s": max(r["median_s"][name] for r in ranks), "loss": ranks[0]["loss"][name]}
            for name in names]
    for row in rows:
        row["memory_over_plain"] = row["peak_extra_bytes_per_process"] / rows[0][
            "peak_extra_bytes_per_process"]
        row["time_over_plain"] = row["time_s"] / rows[0]["time_s"]
    print(f"\n## Regularizers across ranks: N={n}, d={d}, V={v}, float32, {RANKS} ranks, "
          f"median of {rounds} round(s)\n")
    print("| variant | peak extra per process (MiB) | / plain | time (s) | / plain |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['peak_extra_bytes_per_process'] / 2**20:.1f} | "
              f"{row['memory_over_plain']:.2f} | {row['time_s']:.3f} | "
              f"{row['time_over_plain']:.2f} |")
    return {"n": n, "d": d, "v": v, "dtype": "float32", "ranks": RANKS, "rounds": rounds,
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--output", type=Path, help="where to write the results (JSON)")
    args = parser.parse_args()
    size, rounds = ((512, 64, 4096), args.rounds or 2) if args.quick else \
        ((4096, 512, 65536), args.rounds or 5)
    # cases[0] is the one chapter 11 reads; the regularizers' case comes second
    cases = [measure(*size, rounds), measure_regularizers(*size, rounds)]
    if args.output or not args.quick:
        write_results("vocab_parallel", cases, args.output)


if __name__ == "__main__":
    main()
