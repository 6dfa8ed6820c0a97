"""Softmax cross entropy, forward + gradient: ce_lib against PyTorch, the tutorials and a copy.

    python benchmarks/bench_softmax_cross_entropy.py            # 2048 x 32768 and 64 x 1000
    python benchmarks/bench_softmax_cross_entropy.py --quick    # smaller, for a smoke test

The full run writes its numbers, with the command, the date and the machine, to
``benchmarks/results/softmax_cross_entropy.json`` (the file the README quotes; ``--output PATH``
writes elsewhere, and ``--quick`` writes only with ``--output``).

Every variant computes the mean loss over the batch *and* its gradient with respect to the
float32 logits (class-index targets):

* ``copy``: ``np.copy(logits)``, the memory-bandwidth floor (one read, one write);
* ``tutorial (NumPy)``: the formula the tutorials teach: ``softmax``, ``clip`` to [1e-15, 1 - 1e-15],
  one-hot targets, ``-sum(y * log p) / N`` and the gradient ``(p - y) / N``;
* ``ce_lib.numpy``: :func:`ce_lib.numpy.softmax_cross_entropy_value_and_grad`;
* ``NumPy floor``: the NumPy operations ce_lib.numpy runs for this call (row max, subtract,
  exp, row sum, log, the target logits, scale, subtract at the targets, with the same ufunc
  buffer of one row) with nothing else: no validation, no Python around them. What NumPy alone
  costs, which no NumPy code can go below without fusing passes (64 x 1000 only);
* ``torch F.cross_entropy``: ``F.cross_entropy(z, y).backward()``;
* ``ce_lib.torch``: ``ce_lib.torch.softmax_cross_entropy(z, y).backward()``;
* ``torch explicit z-loss + softcap``: the formula of issue 11 in plain PyTorch,
  ``s = c * tanh(z / c)``, ``F.cross_entropy(s, y) + k * mean(logsumexp(s) ** 2)``, backward,
  with ``k = 1e-4`` (PaLM) and ``c = 30`` (Gemma 2);
* ``ce_lib.torch z-loss + softcap``: ``softmax_cross_entropy(z, y, z_loss=k,
  logit_softcap=c).backward()``.

How time and peak extra memory are measured: see ``benchmarks/_measure.py``.
The targets checked for the large case: ce_lib.numpy <= 1.5x a copy and <= 0.3x torch;
ce_lib.torch <= 0.8x torch's time and <= 0.5x its peak extra memory; with z-loss and soft-capping
ce_lib.torch <= 0.6x the time and <= 0.5x the peak extra memory of the explicit formula. At
64 x 1000, where per-call overhead (validation, autograd bookkeeping) dominates: ce_lib.torch
<= 1.25x torch's time and ce_lib.numpy <= 1.0x it (issue 11). Peak extra memory: each variant
runs once in a fresh child process;
after the inputs are allocated the child resets the kernel's high-water mark of its resident
memory (``/proc/self/clear_refs``), runs the variant once and reports ``VmHWM`` minus the
resident size before the call, i.e. every byte the call touched beyond its inputs, its output
included (NumPy and torch allocations alike, which tracemalloc would not see). Linux only.
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

import ce_lib.numpy as cn
import ce_lib.torch as ct


def inputs(n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, c), dtype=np.float32), rng.integers(0, c, n)


Z_LOSS, SOFTCAP = 1e-4, 30.0
SMALL = 1 << 17  # logits; the NumPy floor is measured only where per-call overhead matters


def variants(z: np.ndarray, y: np.ndarray) -> dict[str, Variant]:
    zt, yt = torch.from_numpy(z).requires_grad_(), torch.from_numpy(y)

    def tutorial() -> object:
        e = np.exp(z)
        p = np.clip(e / e.sum(axis=1, keepdims=True), 1e-15, 1 - 1e-15)
        onehot = np.eye(z.shape[1], dtype=z.dtype)[y]
        loss = -np.sum(onehot * np.log(p)) / len(y)
        return loss, (p - onehot) / len(y)

    def torch_reference() -> object:
        zt.grad = None
        F.cross_entropy(zt, yt).backward()
        return zt.grad

    def ce_lib_torch() -> object:
        zt.grad = None
        ct.softmax_cross_entropy(zt, yt).backward()
        return zt.grad

    def explicit_regularized() -> object:
        zt.grad = None
        s = SOFTCAP * torch.tanh(zt / SOFTCAP)
        loss = F.cross_entropy(s, yt) + Z_LOSS * torch.logsumexp(s, 1).square().mean()
        loss.backward()
        return zt.grad

    def ce_lib_torch_regularized() -> object:
        zt.grad = None
        ct.softmax_cross_entropy(zt, yt, z_loss=Z_LOSS, logit_softcap=SOFTCAP).backward()
        return zt.grad

    rows = np.arange(len(y))

    def numpy_floor() -> object:
        old = np.setbufsize(-(-z.shape[1] // 16) * 16)  # one row per ufunc buffer, as ce_lib
        try:
            m = z.max(axis=1, keepdims=True)
            g = np.subtract(z, m)
            np.exp(g, out=g)
            s = np.einsum("ij->i", g)[:, None]
            loss = ((m[:, 0] - z[rows, y]) + np.log(s)[:, 0]).sum() * (1 / len(y))
            np.multiply(g, (1 / len(y)) / s, out=g)
            g[rows, y] -= 1 / len(y)
        finally:
            np.setbufsize(old)
        return loss, g

    return {
        "copy": lambda: np.copy(z),
        "tutorial (NumPy)": tutorial,
        "ce_lib.numpy": lambda: cn.softmax_cross_entropy_value_and_grad(z, y),
        **({"NumPy floor": numpy_floor} if z.size <= SMALL else {}),
        "torch F.cross_entropy": torch_reference,
        "ce_lib.torch": ce_lib_torch,
        "torch explicit z-loss + softcap": explicit_regularized,
        "ce_lib.torch z-loss + softcap": ce_lib_torch_regularized,
    }


def _measured_call(n: int, c: int, name: str) -> Variant:
    return variants(*inputs(n, c))[name]


def check_agreement(z: np.ndarray, y: np.ndarray) -> float:
    """The variants compute the same thing: max |grad difference| between ce_lib and torch."""
    zt = torch.from_numpy(z).requires_grad_()
    F.cross_entropy(zt, torch.from_numpy(y)).backward()
    _, grad = cn.softmax_cross_entropy_value_and_grad(z, y)
    return float(np.abs(grad - zt.grad.numpy()).max())


def report(n: int, c: int, rounds: int, large: bool) -> dict[str, Any]:
    z, y = inputs(n, c)
    runs = variants(z, y)
    times = median_times(runs, rounds)
    memory = {name: peak_extra_bytes(_measured_call, n, c, name) for name in runs}
    copy_t, torch_t = times["copy"], times["torch F.cross_entropy"]
    torch_m = memory["torch F.cross_entropy"]
    agreement = check_agreement(z, y)
    print(f"\n## logits {n} x {c} float32 ({z.nbytes / 2**20:.0f} MiB), median of {rounds} rounds, "
          f"{torch.get_num_threads()} torch threads")
    print(f"max |grad(ce_lib.numpy) - grad(torch)| = {agreement:.1e}\n")
    print("| variant | time (ms) | / copy | / torch | peak extra (MiB) | / torch |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for name in runs:
        row = {
            "variant": name,
            "time_s": times[name],
            "time_over_copy": times[name] / copy_t,
            "time_over_torch": times[name] / torch_t,
            "peak_extra_bytes": memory[name],
            "peak_extra_mib": memory[name] / 2**20,
            "memory_over_torch": memory[name] / torch_m,
        }
        rows.append(row)
        print(f"| {name} | {row['time_s'] * 1e3:.2f} | {row['time_over_copy']:.2f} | "
              f"{row['time_over_torch']:.2f} | {row['peak_extra_mib']:.1f} | "
              f"{row['memory_over_torch']:.2f} |")
    print()
    case = {
        "n": n, "c": c, "dtype": "float32", "rounds": rounds,
        "torch_threads": torch.get_num_threads(),
        "logits_bytes": z.nbytes,
        "max_abs_grad_difference": agreement,
        "rows": rows,
        "targets": [],
    }
    explicit_t = times["torch explicit z-loss + softcap"]
    explicit_m = memory["torch explicit z-loss + softcap"]
    if large:
        targets = [
            ("ce_lib.numpy time <= 1.5x copy", times["ce_lib.numpy"] / copy_t, 1.5),
            ("ce_lib.numpy time <= 0.3x torch", times["ce_lib.numpy"] / torch_t, 0.3),
            ("ce_lib.torch time <= 0.8x torch", times["ce_lib.torch"] / torch_t, 0.8),
            ("ce_lib.torch peak extra memory <= 0.5x torch", memory["ce_lib.torch"] / torch_m,
             0.5),
            ("ce_lib.torch z-loss + softcap time <= 0.6x the explicit formula",
             times["ce_lib.torch z-loss + softcap"] / explicit_t, 0.6),
            ("ce_lib.torch z-loss + softcap peak extra memory <= 0.5x the explicit formula",
             memory["ce_lib.torch z-loss + softcap"] / explicit_m, 0.5),
        ]
    else:  # per-call overhead (issue 11)
        targets = [
            ("ce_lib.torch time <= 1.25x torch", times["ce_lib.torch"] / torch_t, 1.25),
            ("ce_lib.numpy time <= 1.0x torch", times["ce_lib.numpy"] / torch_t, 1.0),
        ]
        floor = times["NumPy floor"]
        case["numpy_floor_over_torch"] = floor / torch_t
        case["ce_lib_numpy_over_numpy_floor"] = times["ce_lib.numpy"] / floor
        print(f"- NumPy floor: {floor / torch_t:.2f}x torch; ce_lib.numpy is "
              f"{times['ce_lib.numpy'] / floor:.2f}x the floor")
    for label, ratio, limit in targets:
        print(f"- {label}: {ratio:.2f} -> {'met' if ratio <= limit else 'NOT met'}")
    case["targets"] = [{"target": label, "ratio": ratio, "limit": limit, "met": ratio <= limit}
                       for label, ratio, limit in targets]
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--output", type=Path, help="where to write the results (JSON)")
    args = parser.parse_args()
    if args.quick:
        cases = [report(256, 4096, rounds=5, large=True),
                 report(64, 1000, rounds=20, large=False)]
    else:
        cases = [report(2048, 32768, rounds=15, large=True),
                 report(64, 1000, rounds=1000, large=False)]
    if args.output or not args.quick:
        write_results("softmax_cross_entropy", cases, args.output)


if __name__ == "__main__":
    main()
