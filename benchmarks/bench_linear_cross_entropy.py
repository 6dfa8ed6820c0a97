"""Cross entropy of a linear layer's output at vocabulary scale: time and peak memory.

    python benchmarks/bench_linear_cross_entropy.py            # the full run, writes the results file
    python benchmarks/bench_linear_cross_entropy.py --quick    # small sizes, a smoke test
    python benchmarks/bench_linear_cross_entropy.py --size 8192 256 32768   # any N, d, V

The full run measures N=2048, d=256, V=32768 and N=8192, d=512, V=65536, a sweep of chunk
sizes at N=2048, d=256, V=16384, and the machine's balance (the speed of a large matrix
product against the speed of a copy), and writes everything, with the command, the date and
the machine, to ``benchmarks/results/linear_cross_entropy.json``, the file chapter 10 reads
(``--output PATH`` writes elsewhere; ``--quick`` and ``--size`` write only with ``--output``).
It takes about 6 minutes on 2 CPU cores and needs 9 GiB of RAM (the plain variant that keeps
its logits, large case).

Every variant computes the mean loss of ``softmax_cross_entropy(X @ W.T, y)`` for float32 hidden
states ``X`` (N, d), an output layer ``W`` (V, d) and class-index targets ``y`` (N,), *and* its
gradients with respect to ``X`` and ``W`` (``loss.backward()``):

* ``reference``: ``F.cross_entropy(X @ W.T, y)``: the (N, V) logits, their log-softmax and
  their gradient are all materialized (the logits are freed when the call returns: the matrix
  product saves X and W, not its output);
* ``reference, logits kept``: the same with the logits held in a variable until the backward
  pass is done, as in ordinary model code (``logits = head(h); loss = F.cross_entropy(...)``);
* ``torch chunked``: ``F.linear_cross_entropy(X, W, y, options=LinearCrossEntropyOptions())``,
  PyTorch's own chunked path with its default options;
* ``ce_lib.torch``: :func:`ce_lib.torch.linear_cross_entropy` with its default ``chunk_size``.

Time: the variants run in this process, interleaved round by round so that background noise
spreads over all of them (after a warm-up on a small problem); the table shows each one's median,
and the ratios are of medians measured in this one run. On a machine shared with other busy
processes the chunked variants can slow down more than the reference: they issue many more,
smaller parallel operations, and each one waits for all of its threads to be scheduled.

Peak extra memory: each variant runs once in a fresh child process. After allocating the inputs,
the child resets the kernel's high-water mark of its resident memory (writing ``5`` to
``/proc/self/clear_refs``), runs the variant once and reports ``VmHWM`` (the peak resident set
size) minus the resident size just before the call (a warm-up on a small problem first loads
the code and one-off buffers): every byte the call touched beyond its inputs,
the gradients ``X.grad`` and ``W.grad`` included (they are the same size for every variant).
The kernel counts NumPy, torch and allocator memory alike, which ``tracemalloc`` would not see.
Linux only.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _measure import Variant, median_times, peak_extra_bytes
from _results import write_results

import ce_lib.torch as ct

Inputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
NAMES = ("reference", "reference, logits kept", "torch chunked", "ce_lib.torch")
SWEEP_CHUNKS = (8, 16, 32, 64, 128, 256, 512, 2048)


def inputs(n: int, d: int, v: int) -> Inputs:
    """Hidden states of unit scale, a small random output layer, uniform random targets."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, d), dtype=np.float32))
    w = torch.from_numpy(rng.standard_normal((v, d), dtype=np.float32) * np.float32(d**-0.5))
    y = torch.from_numpy(rng.integers(0, v, n))
    return x.requires_grad_(), w.requires_grad_(), y


def variant(name: str, args: Inputs) -> Variant:
    x, w, y = args

    def loss() -> torch.Tensor:
        if name == "reference":
            return F.cross_entropy(x @ w.T, y)
        if name == "torch chunked":
            return F.linear_cross_entropy(x, w, y, options=torch.nn.LinearCrossEntropyOptions())
        return ct.linear_cross_entropy(x, w, y)

    def run() -> object:
        x.grad = w.grad = None
        value = loss()
        value.backward()
        return value

    def run_logits_kept() -> object:
        x.grad = w.grad = None
        logits = x @ w.T  # alive until this function returns, through the backward pass
        value = F.cross_entropy(logits, y)
        value.backward()
        return value, logits

    return run_logits_kept if name == "reference, logits kept" else run


def _measured_call(size: tuple[int, int, int], name: str, threads: int) -> Variant:
    torch.set_num_threads(threads)
    variant(name, inputs(256, 64, 1024))()  # warm-up: code pages and one-off buffers
    return variant(name, inputs(*size))


def check_agreement(n: int, d: int, v: int) -> float:
    """The variants compute the same thing: max relative difference of ce_lib's loss and grads."""
    x, w, y = inputs(n, d, v)
    F.cross_entropy(x @ w.T, y).backward()
    ref = [x.grad.clone(), w.grad.clone()]
    x.grad = w.grad = None
    ct.linear_cross_entropy(x, w, y).backward()
    ours = [x.grad, w.grad]
    return max(float((a - b).abs().max() / a.abs().max()) for a, b in zip(ref, ours, strict=True))


def report(n: int, d: int, v: int, rounds: int) -> dict[str, Any]:
    small = inputs(256, 64, 1024)
    for name in NAMES:  # warm-up at a small size: imports, one-off initialisation
        variant(name, small)()
    args = inputs(n, d, v)
    times = median_times({name: variant(name, args) for name in NAMES}, rounds)
    threads = torch.get_num_threads()
    memory = {name: peak_extra_bytes(_measured_call, (n, d, v), name, threads) for name in NAMES}
    ref_t, ref_m = times["reference"], memory["reference"]
    chunk_t, chunk_m = times["torch chunked"], memory["torch chunked"]
    logits = n * v * 4
    agreement = check_agreement(512, d, v)
    print(f"\n## N={n} tokens, d={d}, V={v}, float32 (logits would take {logits / 2**20:.0f} MiB), "
          f"median of {rounds} round(s), {threads} torch threads")
    print(f"max relative |grad(ce_lib.torch) - grad(reference)| at N=512: {agreement:.1e}\n")
    print("| variant | time (s) | / reference | peak extra (MiB) | / reference | / torch chunked |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for name in NAMES:
        row = {
            "variant": name,
            "time_s": times[name],
            "time_over_reference": times[name] / ref_t,
            "peak_extra_bytes": memory[name],
            "peak_extra_mib": memory[name] / 2**20,
            "memory_over_reference": memory[name] / ref_m,
            "memory_over_torch_chunked": memory[name] / chunk_m,
            "memory_over_logits": memory[name] / logits,
        }
        rows.append(row)
        print(f"| {name} | {row['time_s']:.3f} | {row['time_over_reference']:.2f} | "
              f"{row['peak_extra_mib']:.1f} | {row['memory_over_reference']:.3f} | "
              f"{row['memory_over_torch_chunked']:.2f} |")
    print()
    ours_t, ours_m = times["ce_lib.torch"], memory["ce_lib.torch"]
    targets = [
        ("ce_lib.torch time <= 1.2x reference", ours_t / ref_t, 1.2),
        ("ce_lib.torch peak extra memory <= torch chunked", ours_m / chunk_m, 1.0),
        ("ce_lib.torch peak extra memory <= 0.1x reference", ours_m / ref_m, 0.1),
    ]
    for label, ratio, limit in targets:
        print(f"- {label}: {ratio:.2f} -> {'met' if ratio <= limit else 'NOT met'}")
    print(f"- for comparison, torch chunked time / reference: {chunk_t / ref_t:.2f}")
    return {
        "kind": "variants",
        "n": n, "d": d, "v": v, "dtype": "float32", "rounds": rounds, "torch_threads": threads,
        "logits_bytes": logits,
        "max_relative_grad_difference_at_n512": agreement,
        "rows": rows,
        "targets": [{"target": label, "ratio": ratio, "limit": limit, "met": ratio <= limit}
                    for label, ratio, limit in targets],
    }


def chunk_sweep(n: int, d: int, v: int, chunks: tuple[int, ...], rounds: int) -> dict[str, Any]:
    """Forward + backward time of ce_lib.torch for each chunk size, over the reference's time."""
    args = inputs(n, d, v)
    x, w, y = args

    def chunked(c: int) -> Variant:
        def run() -> object:
            x.grad = w.grad = None
            value = ct.linear_cross_entropy(x, w, y, chunk_size=c)
            value.backward()
            return value

        return run

    runs = {"reference": variant("reference", args)}
    runs.update({f"chunk_size={c}": chunked(c) for c in chunks})
    times = median_times(runs, rounds)
    ref_t = times["reference"]
    print(f"\n## chunk sizes, N={n}, d={d}, V={v}, float32, median of {rounds} rounds, "
          f"{torch.get_num_threads()} torch threads: time / reference")
    rows = []
    for c in chunks:
        t = times[f"chunk_size={c}"]
        rows.append({"chunk_size": c, "time_s": t, "time_over_reference": t / ref_t})
        print(f"- chunk_size={c}: {t / ref_t:.2f}")
    return {
        "kind": "chunk_sweep",
        "n": n, "d": d, "v": v, "dtype": "float32", "rounds": rounds,
        "torch_threads": torch.get_num_threads(),
        "reference_time_s": ref_t,
        "rows": rows,
    }


def machine_balance(size: int, copy_mib: int, rounds: int) -> dict[str, Any]:
    """Floating-point operations per second of a large matrix product, bytes per second of a copy.

    Their ratio is how many operations the processor can do in the time it moves one byte to or
    from main memory: products whose arithmetic intensity is below it are memory-bound.
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g)
    b = torch.randn(size, size, generator=g)
    out = torch.empty(size, size)
    src = torch.randn(copy_mib * 2**20 // 4, generator=g)
    dst = torch.empty_like(src)
    times = median_times({"matmul": lambda: torch.mm(a, b, out=out),
                          "copy": lambda: dst.copy_(src)}, rounds)
    flops = 2 * size**3 / times["matmul"]
    bytes_per_s = 2 * src.numel() * 4 / times["copy"]  # each byte is read once and written once
    print(f"\n## machine balance, {torch.get_num_threads()} torch threads: float32 matmul "
          f"{size}^3 at {flops / 1e9:.1f} GFLOP/s, copy of {copy_mib} MiB at "
          f"{bytes_per_s / 1e9:.1f} GB/s (read + write): {flops / bytes_per_s:.1f} operations "
          "per byte")
    return {
        "kind": "machine_balance",
        "matmul_size": size, "copy_mib": copy_mib, "rounds": rounds,
        "torch_threads": torch.get_num_threads(),
        "matmul_time_s": times["matmul"], "matmul_flop_per_s": flops,
        "copy_time_s": times["copy"], "copy_bytes_per_s": bytes_per_s,
        "flop_per_byte": flops / bytes_per_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--size", nargs=3, type=int, metavar=("N", "D", "V"),
                        help="one problem of this size instead (3 rounds)")
    parser.add_argument("--output", type=Path, help="where to write the results (JSON)")
    args = parser.parse_args()
    if args.size:
        cases = [report(*args.size, rounds=3)]
    elif args.quick:
        cases = [report(1024, 128, 8192, rounds=3),
                 chunk_sweep(512, 64, 4096, (8, 64, 512), rounds=3),
                 machine_balance(512, 64, rounds=3)]
    else:
        cases = [report(2048, 256, 32768, rounds=5),
                 report(8192, 512, 65536, rounds=2),
                 chunk_sweep(2048, 256, 16384, SWEEP_CHUNKS, rounds=5),
                 machine_balance(2048, 512, rounds=7)]
    if args.output or not (args.size or args.quick):
        write_results("linear_cross_entropy", cases, args.output)


if __name__ == "__main__":
    main()
