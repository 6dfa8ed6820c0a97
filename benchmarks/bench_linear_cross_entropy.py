"""Cross entropy of a linear layer's output at vocabulary scale: time and peak memory.

    python benchmarks/bench_linear_cross_entropy.py            # N=2048,d=256,V=32768 and N=8192,d=512,V=65536
    python benchmarks/bench_linear_cross_entropy.py --quick    # small sizes, a smoke test
    python benchmarks/bench_linear_cross_entropy.py --size 8192 256 32768   # any N, d, V

The default run takes about 3 minutes on 2 CPU cores (the plain variant needs 6 GiB of RAM for
the large case).

Every variant computes the mean loss of ``softmax_cross_entropy(X @ W.T, y)`` for float32 hidden
states ``X`` (N, d), an output layer ``W`` (V, d) and class-index targets ``y`` (N,), *and* its
gradients with respect to ``X`` and ``W`` (``loss.backward()``):

* ``reference``: ``F.cross_entropy(X @ W.T, y)``: the (N, V) logits, their log-softmax and
  their gradient are all materialized;
* ``torch chunked``: ``F.linear_cross_entropy(X, W, y, options=LinearCrossEntropyOptions())``,
  PyTorch's own chunked path with its default options;
* ``ce_lib.torch``: :func:`ce_lib.torch.linear_cross_entropy` with its default ``chunk_size``.

Time: the variants run in this process, interleaved round by round so that background noise
spreads over all of them (after a warm-up on a small problem); the table shows each one's median,
and the ratios are of medians measured in this one run. On a machine shared with other busy
processes the chunked variants slow down more than the reference: they issue many more, smaller
parallel operations, and each one waits for all of its threads to be scheduled.

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

import numpy as np
import torch
import torch.nn.functional as F
from _measure import Variant, median_times, peak_extra_bytes

import ce_lib.torch as ct

Inputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
NAMES = ("reference", "torch chunked", "ce_lib.torch")


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

    return run


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


def report(n: int, d: int, v: int, rounds: int) -> None:
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
    print(f"\n## N={n} tokens, d={d}, V={v}, float32 (logits would take {logits / 2**20:.0f} MiB), "
          f"median of {rounds} round(s), {torch.get_num_threads()} torch threads")
    print(f"max relative |grad(ce_lib.torch) - grad(reference)| at N=512: "
          f"{check_agreement(512, d, v):.1e}\n")
    print("| variant | time (s) | / reference | peak extra (MiB) | / reference | / torch chunked |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in NAMES:
        print(f"| {name} | {times[name]:.3f} | {times[name] / ref_t:.2f} | "
              f"{memory[name] / 2**20:.1f} | {memory[name] / ref_m:.3f} | "
              f"{memory[name] / chunk_m:.2f} |")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--size", nargs=3, type=int, metavar=("N", "D", "V"),
                        help="one problem of this size instead (3 rounds)")
    args = parser.parse_args()
    if args.size:
        report(*args.size, rounds=3)
    elif args.quick:
        report(1024, 128, 8192, rounds=3)
    else:
        report(2048, 256, 32768, rounds=5)
        report(8192, 512, 65536, rounds=2)


if __name__ == "__main__":
    main()
