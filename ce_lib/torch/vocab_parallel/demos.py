"""The multi-process experiments of the book's chapter 11, "Cross entropy across machines".

Each function here runs on every rank of a gloo group started by :func:`.launch.run` (the
children import it, so it must live in a module) and returns plain tensors and numbers; the
chapter's cells check them against references and print what they show. The tests run them too.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..linear import linear_cross_entropy
from ..losses import softmax_cross_entropy
from ._functions import vocab_parallel_cross_entropy

IGNORE = -100


def example(seed: int, rows: int, classes: int) -> dict[str, torch.Tensor]:
    """The same float64 inputs on every rank: logits, class indices (some ignored), weights..."""
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(rows, classes, generator=g, dtype=torch.float64)
    target = torch.randint(0, classes, (rows,), generator=g)
    target[::4] = IGNORE
    weight = 0.5 + torch.rand(classes, generator=g, dtype=torch.float64)
    probs = torch.softmax(torch.randn(rows, classes, generator=g, dtype=torch.float64), 1)
    x = torch.randn(rows, 5, generator=g, dtype=torch.float64)
    w = torch.randn(classes, 5, generator=g, dtype=torch.float64)
    b = torch.randn(classes, generator=g, dtype=torch.float64)
    return {"logits": logits, "target": target, "weight": weight, "probs": probs,
            "x": x, "w": w, "b": b}


def my_columns(splits: list[int], rank: int) -> slice:
    """This rank's columns of the vocabulary when rank r holds splits[r] of them."""
    start = sum(splits[:rank])
    return slice(start, start + splits[rank])


class CountCollectives:
    """Counts the calls of torch.distributed's collectives (and the values they carry)."""

    NAMES = ("all_gather_single", "all_gather_into_tensor", "all_gather", "all_reduce",
             "broadcast", "reduce_scatter_tensor", "all_to_all_single", "reduce", "gather",
             "scatter", "barrier")

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __enter__(self) -> CountCollectives:
        self._saved = {n: getattr(dist, n) for n in self.NAMES if hasattr(dist, n)}
        for name, fn in self._saved.items():
            setattr(dist, name, self._wrap(name, fn))
        return self

    def _wrap(self, name: str, fn: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            size = sum(a.numel() for a in args if isinstance(a, torch.Tensor))
            self.calls.append((name, size))
            return fn(*args, **kwargs)
        return counted

    def __exit__(self, *exc: object) -> None:
        for name, fn in self._saved.items():
            setattr(dist, name, fn)


def knobs(rank: int, world: int, splits: list[int], rows: int = 8) -> dict[str, Any]:
    """vocab_parallel_cross_entropy with each knob, and the reference on the gathered logits.

    Returns, per setting, this rank's loss and the gradient of its slice (concatenate the ranks'
    to compare), ``F.cross_entropy`` of the full logits with its gradient (computed on every rank
    alike), and the collectives called in the forward and the backward pass.
    """
    ex = example(0, rows, sum(splits))
    cols = my_columns(splits, rank)
    settings: dict[str, dict[str, Any]] = {
        "class indices": {},
        "ignore_index + weights": {"weight": True},
        "label smoothing": {"label_smoothing": 0.1},
        "smoothing + weights, sum": {"weight": True, "label_smoothing": 0.1, "reduction": "sum"},
        "probabilities + smoothing": {"probs": True, "label_smoothing": 0.1},
        "every target ignored": {"all_ignored": True, "label_smoothing": 0.1},
    }
    out: dict[str, Any] = {}
    for name, s in settings.items():
        target = ex["probs"] if s.get("probs") else ex["target"].clone()
        if s.get("all_ignored"):
            target[:] = IGNORE
        kw = {"reduction": s.get("reduction", "mean"),
              "label_smoothing": s.get("label_smoothing", 0.0)}
        w = ex["weight"] if s.get("weight") else None
        z = ex["logits"][:, cols].clone().requires_grad_()
        with CountCollectives() as fwd:
            loss = vocab_parallel_cross_entropy(
                z, target[:, cols] if s.get("probs") else target,
                weight=None if w is None else w[cols], **kw)
        with CountCollectives() as bwd:
            loss.backward()
        full = ex["logits"].clone().requires_grad_()
        ref = F.cross_entropy(full, target, weight=w, **kw)
        ref.backward()
        out[name] = {"loss": loss.detach(), "grad": z.grad, "ref_loss": ref.detach(),
                     "ref_grad": full.grad, "forward_calls": fwd.calls,
                     "backward_calls": bwd.calls}
    return out


def linear_form(rank: int, world: int, splits: list[int], rows: int = 8) -> dict[str, Any]:
    """linear_cross_entropy(..., group=) against F.cross_entropy(F.linear(...)) in float64."""
    ex = example(1, rows, sum(splits))
    cols = my_columns(splits, rank)
    x = ex["x"].clone().requires_grad_()
    w = ex["w"][cols].clone().requires_grad_()
    b = ex["b"][cols].clone().requires_grad_()
    with CountCollectives() as fwd:
        loss = linear_cross_entropy(x, w, ex["target"], linear_bias=b, label_smoothing=0.1,
                                    weight=ex["weight"][cols], chunk_size=3,
                                    group=dist.group.WORLD)
    with CountCollectives() as bwd:
        loss.backward()
    xf, wf, bf = (ex[k].clone().requires_grad_() for k in ("x", "w", "b"))
    ref = F.cross_entropy(F.linear(xf, wf, bf), ex["target"], weight=ex["weight"],
                          label_smoothing=0.1)
    ref.backward()
    return {"loss": loss.detach(), "ref_loss": ref.detach(), "grad_x": x.grad,
            "ref_grad_x": xf.grad, "grad_w": w.grad, "ref_grad_w": wf.grad,
            "grad_b": b.grad, "ref_grad_b": bf.grad, "forward_calls": fwd.calls,
            "backward_calls": bwd.calls}


def bad_inputs(rank: int, world: int) -> dict[str, tuple[str, str, float]]:
    """One rank's bad argument: what EVERY rank raises, and how fast (seconds)."""
    ex = example(2, 4, 3 * world)
    cols = my_columns([3] * world, rank)
    z, t, w = ex["logits"][:, cols], ex["target"], ex["weight"][cols]
    cases = {
        "batch size differs on the last rank": lambda: vocab_parallel_cross_entropy(
            z[: 3 if rank == world - 1 else 4], t[: 3 if rank == world - 1 else 4]),
        "weight slice of the wrong length on rank 0": lambda: vocab_parallel_cross_entropy(
            z, t, weight=w[:2] if rank == 0 else w),
        "class index outside the global vocabulary": lambda: vocab_parallel_cross_entropy(
            z, torch.tensor([0, 1, 3 * world, 2])),
    }
    return errors_of(cases)


def errors_of(cases: dict[str, Any]) -> dict[str, tuple[str, str, float]]:
    """Call each case; record the exception it raised (or "no error"), its message and the time."""
    out = {}
    for name, call in cases.items():
        start = time.perf_counter()
        try:
            call()
            out[name] = ("no error", "", time.perf_counter() - start)
        except (ValueError, TypeError, RuntimeError) as exc:
            out[name] = (type(exc).__name__, str(exc), time.perf_counter() - start)
    return out


def loss_parallel_defects(rank: int, world: int) -> dict[str, tuple[Any, ...]]:
    """PyTorch's ``loss_parallel`` on logits sharded by class, against the single-process loss.

    Returns, per case, ("ok", loss error, largest gradient error) or ("raised", type, message).
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor
    from torch.distributed.tensor.parallel import loss_parallel

    mesh = init_device_mesh("cpu", (world,))
    ex = example(3, 4, 6)
    z, t, w, q = ex["logits"], ex["target"], ex["weight"], ex["probs"]
    out: dict[str, tuple[Any, ...]] = {}
    for name, target, kw in (("class indices", t, {}),
                             ("weights + ignore_index", t, {"weight": w}),
                             ("probability targets", q, {}),
                             ("label smoothing", t, {"label_smoothing": 0.1})):
        ref_z = z.clone().requires_grad_()
        ref = F.cross_entropy(ref_z, target, **kw)
        ref.backward()
        dz = distribute_tensor(z, mesh, [Shard(1)]).requires_grad_()
        dt = distribute_tensor(target, mesh, [Shard(1)]) if target.is_floating_point() else target
        try:
            with loss_parallel():
                loss = F.cross_entropy(dz, dt, **kw)
                loss.backward()
            grad = dz.grad.full_tensor()
            out[name] = ("ok", float((loss.full_tensor() - ref).abs().detach()),
                         float((grad - ref_z.grad).abs().max()), float(ref_z.grad.abs().max()))
        except RuntimeError as exc:
            out[name] = ("raised", type(exc).__name__, str(exc).splitlines()[0])
    return out


def padded_batches(seed: int, world: int, micro: int = 2, batch: int = 2, length: int = 6,
                   features: int = 4, classes: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Token features (world, micro, batch, length, d) and targets, padded with IGNORE."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(world, micro, batch, length, features, generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (world, micro, batch, length), generator=g)
    lengths = torch.randint(1, length + 1, (world, micro, batch), generator=g)
    y[torch.arange(length) >= lengths[..., None]] = IGNORE
    return x, y


def normalization(rank: int, world: int, seed: int = 0) -> dict[str, Any]:
    """DistributedDataParallel + gradient accumulation over padded sequences, two ways.

    ``naive``: each micro-batch's mean loss, divided by the number of micro-batches (DDP then
    averages over ranks). ``global count``: each micro-batch's SUMMED loss, times the world size
    (undoing DDP's average), divided by the number of non-ignored targets over all micro-batches
    of all ranks. ``reference``: one process, the whole batch, the mean over its tokens.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    x, y = padded_batches(seed, world)
    micro, features, classes = x.shape[1], x.shape[-1], 5
    torch.manual_seed(seed)
    model = torch.nn.Linear(features, classes, dtype=torch.float64)
    ddp = DDP(model)

    def accumulate(loss_of: Any) -> list[torch.Tensor]:
        model.zero_grad()
        for m in range(micro):
            sync = contextlib.nullcontext() if m == micro - 1 else ddp.no_sync()
            with sync:
                logits = ddp(x[rank, m]).reshape(-1, classes)
                loss_of(logits, y[rank, m].reshape(-1)).backward()
        return [p.grad.clone() for p in model.parameters()]

    naive = accumulate(lambda z, t: softmax_cross_entropy(z, t) / micro)
    count = (y[rank] != IGNORE).sum()
    dist.all_reduce(count)  # the global number of targets that count, known before any step
    right = accumulate(
        lambda z, t: softmax_cross_entropy(z, t, reduction="sum") * world / count)
    single = torch.nn.Linear(features, classes, dtype=torch.float64)
    single.load_state_dict(model.state_dict())
    ref = F.cross_entropy(single(x.reshape(-1, features)), y.reshape(-1), ignore_index=IGNORE)
    ref.backward()
    return {"naive": naive, "global count": right,
            "reference": [p.grad for p in single.parameters()],
            "tokens per micro-batch": (y != IGNORE).sum((2, 3)), "global count value": count}


def chapter(rank: int, world: int,
            splits: tuple[list[int], list[int]] = ([2, 5], [4, 3])) -> dict[str, Any]:
    """Everything chapter 11 runs on several processes, in one launch (each start costs seconds).

    ``splits``: the vocabulary's columns per rank for :func:`knobs` and :func:`linear_form`.
    """
    return {
        "knobs": knobs(rank, world, splits[0]),
        "linear": linear_form(rank, world, splits[1]),
        "bad inputs": bad_inputs(rank, world),
        "loss_parallel": loss_parallel_defects(rank, world),
        "normalization": normalization(rank, world),
    }
