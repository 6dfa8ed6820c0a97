"""The two differentiable functions: logits split by vocabulary, and the linear layer's rows."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from ... import _validation as v
from ..._linear_ce import check_chunk_size, default_chunk_size
from .._tensors import as_tensor, kind
from ..losses import Reduction, softmax_cross_entropy
from . import _loss as L


class _VocabParallelCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, p: L.Plan) -> torch.Tensor:
        with torch.no_grad():
            z = logits.reshape(p.rows, p.columns)
            stats = torch.empty(L._STATS, p.rows, dtype=p.cd, device=z.device)
            for start, stop in L.blocks(p.rows, L.default_block(p.columns)):
                L.row_stats(p, z[start:stop].to(p.cd), start, stop, stats[:, start:stop])
            rows = L.combine(p, stats)
            loss = L.reduced_loss(p, rows)
        ctx.p, ctx.rows = p, rows
        ctx.save_for_backward(logits)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        (logits,) = ctx.saved_tensors
        p, rows = ctx.p, ctx.rows
        with torch.no_grad():
            z = logits.reshape(p.rows, p.columns)
            scale = L.row_scale(p, rows, grad_output)
            grad = torch.empty(p.rows, p.columns, dtype=p.cd, device=z.device)
            for start, stop in L.blocks(p.rows, L.default_block(p.columns)):
                g = grad[start:stop]
                g.copy_(z[start:stop])
                L.local_grad(p, rows, g, start, stop, scale)
        return grad.to(logits.dtype).reshape(logits.shape), None


def vocab_parallel_cross_entropy(
    logits: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    group: Any = None,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
) -> torch.Tensor:
    r"""Cross entropy of logits whose class axis is split across the ranks of a process group.

    Rank ``r`` of ``group`` holds the columns of the ``(N, V)`` logits that follow those of
    ranks ``0..r-1`` (the slices may differ in size, down to one column). Every rank returns the
    same loss, equal to ``torch.nn.functional.cross_entropy`` of the gathered logits, and the
    backward pass gives each rank the gradient of its own slice; the ``(N, V)`` logits are never
    gathered. Class weights, ``ignore_index``, label smoothing (PyTorch's: :math:`\varepsilon/V`
    over the global vocabulary) and the three reductions follow PyTorch exactly; as everywhere in
    ``ce_lib``, the mean over a batch without a counted target is 0, not NaN.

    ``logit_softcap`` and ``z_loss`` act as in :func:`softmax_cross_entropy`: each rank caps
    its own columns, :math:`s = c \tanh(z / c)` with :math:`c` = ``logit_softcap``
    (elementwise, no communication), the loss is that of :math:`s`, and every counted row (not
    ``ignore_index``; every row for probability targets) adds :math:`\lambda
    \operatorname{LSE}_n^2`, :math:`\lambda` = ``z_loss`` and :math:`\operatorname{LSE}_n =
    \operatorname{logsumexp}_c s_{nc}`, reduced like the loss (the mean divides by the same
    denominator; class weights do not scale it). :math:`\operatorname{LSE}_n` is the global
    log-sum-exp every rank already holds after the statistics' all-gather, so neither knob adds
    a collective, and the gradient :math:`(A_n p_n - a_n + 2 \lambda \operatorname{LSE}_n p_n)
    \odot (1 - (s_n / c)^2)`, :math:`p_n = \operatorname{softmax}(s_n)` (:math:`a_n`: the
    row's coefficients from its target, weights and smoothing; :math:`A_n = \sum_c a_{nc}`), is
    computed on each rank's own columns. With both off the arithmetic is exactly that of the call without them.

    Communication: the forward pass makes two all-gathers, one of a fixed-size record per rank
    (shapes, settings, and the error its arguments raised, if any) and one of five numbers per
    row (the local max, log-sum-exp, coefficient sum, :math:`\sum_c a_c (m - z_c)` and target
    weight); the backward pass makes none. Bad input on any rank (batch sizes that differ, a
    class index outside the global vocabulary, a weight slice of the wrong length, ...) raises
    the same error on **every** rank, so none is left waiting in a collective.

    Args:
        logits: this rank's columns, shape ``(N, V_r)`` or ``(V_r,)``, floating-point (the
            same dtype on every rank).
        target: global class indices of shape ``(N,)`` (``()`` for 1-D logits), the same on
            every rank; or this rank's slice of class probabilities, the logits' shape.
        weight: this rank's slice of the class weights, shape ``(V_r,)``, or None (on every rank).
        ignore_index, reduction, label_smoothing: as in :func:`softmax_cross_entropy`, the same
            on every rank.
        z_loss, logit_softcap: as in :func:`softmax_cross_entropy` (a finite ``z_loss >= 0``;
            None or a finite cap > 0), the same on every rank (their bits are compared).
        group: the process group; None means the default (world) group. Without an
            initialized process group and with ``group=None``, this is
            :func:`softmax_cross_entropy` of ``logits``.

    Returns:
        The loss, in the logits' dtype: a scalar, or per row for ``reduction="none"``.
    """
    grp = L.resolve_group(group)
    if grp is None:
        return softmax_cross_entropy(logits, target, weight=weight, ignore_index=ignore_index,
                                     reduction=reduction, label_smoothing=label_smoothing,
                                     z_loss=z_loss, logit_softcap=logit_softcap)
    z = as_tensor(logits, "logits")

    def describe() -> tuple[tuple[int, ...], torch.dtype, str, dict[str, int]]:
        return tuple(z.shape), z.dtype, kind(z), {}

    p = L.plan(describe, z.device, target, weight, ignore_index, reduction, label_smoothing, grp,
               z_loss=z_loss, logit_softcap=logit_softcap)
    return _VocabParallelCrossEntropy.apply(z, p)


# ---------------------------------------------------------------------------------------------
# The linear form: input (N, d) on every rank, linear_weight (V_r, d) this rank's rows.


class _LinearVocabParallel(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
                p: L.Plan, chunk: int) -> torch.Tensor:
        with torch.no_grad():
            xs = x.reshape(p.rows, -1).to(p.cd)
            ws, bs = w.to(p.cd), None if b is None else b.to(p.cd)
            stats = torch.empty(L._STATS, p.rows, dtype=p.cd, device=x.device)
            buf = torch.empty(min(chunk, p.rows), p.columns, dtype=p.cd, device=x.device)
            slab = L.default_block(p.columns)
            for start, stop in L.blocks(p.rows, chunk):
                z = _logits(xs[start:stop], ws, bs, buf[: stop - start])
                for a, e in L.blocks(stop - start, slab):
                    L.row_stats(p, z[a:e], start + a, start + e, stats[:, start + a : start + e])
            del buf
            rows = L.combine(p, stats)
            loss = L.reduced_loss(p, rows)
        ctx.p, ctx.rows, ctx.chunk = p, rows, chunk
        ctx.save_for_backward(x, w, b)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        x, w, b = ctx.saved_tensors
        p, rows, chunk = ctx.p, ctx.rows, ctx.chunk
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        with torch.no_grad():
            xs = x.reshape(p.rows, -1).to(p.cd)
            ws, bs = w.to(p.cd), None if b is None else b.to(p.cd)
            scale = L.row_scale(p, rows, grad_output)
            gx = torch.empty_like(xs) if need_x else None
            gw = torch.zeros_like(ws) if need_w else None
            gb = torch.zeros_like(bs) if need_b and bs is not None else None
            buf = torch.empty(min(chunk, p.rows), p.columns, dtype=p.cd, device=x.device)
            slab = L.default_block(p.columns)
            for start, stop in L.blocks(p.rows, chunk):
                z = _logits(xs[start:stop], ws, bs, buf[: stop - start])
                for a, e in L.blocks(stop - start, slab):
                    L.local_grad(p, rows, z[a:e], start + a, start + e, scale)
                if gx is not None:
                    torch.matmul(z, ws, out=gx[start:stop])
                if gw is not None:
                    gw.addmm_(z.T, xs[start:stop])
                if gb is not None:
                    gb += z.sum(0)
            del buf
            if gx is not None:  # the input is shared: its gradient is the sum over the ranks
                dist.all_reduce(gx, group=p.group)
        return (
            None if gx is None else gx.to(x.dtype).reshape(x.shape),
            None if gw is None else gw.to(w.dtype),
            None if gb is None else gb.to(b.dtype),
            None,
            None,
        )


def _logits(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
            out: torch.Tensor) -> torch.Tensor:
    torch.matmul(x, w.T, out=out)
    if b is not None:
        out += b
    return out


def linear_vocab_parallel_cross_entropy(
    input: Any,
    linear_weight: Any,
    target: Any,
    linear_bias: Any,
    weight: Any,
    reduction: object,
    ignore_index: object,
    label_smoothing: object,
    chunk_size: object,
    group: Any,
    *,
    z_loss: object = 0.0,
    logit_softcap: object = None,
) -> torch.Tensor:
    """``linear_cross_entropy(..., group=group)``: see its documentation."""
    grp = L.resolve_group(group)
    assert grp is not None  # resolve_group raises for a group without a process group
    grad_on = torch.is_grad_enabled()
    chunk_holder: list[int] = []
    tensors: list[Any] = []
    device = input.device if isinstance(input, torch.Tensor) else torch.device("cpu")

    def describe() -> tuple[tuple[int, ...], torch.dtype, str, dict[str, int]]:
        x = as_tensor(input, "input")
        w = as_tensor(linear_weight, "linear_weight", x)
        b = None if linear_bias is None else as_tensor(linear_bias, "linear_bias", x)
        tensors.extend((x, w, b))
        chunk = check_chunk_size(chunk_size)
        v.check_floating(kind(x), "input", x.dtype)
        v.check_floating(kind(w), "linear_weight", w.dtype)
        if x.ndim not in (1, 2):
            raise ValueError(f"input must have shape (d,) or (N, d), got shape {tuple(x.shape)}")
        if w.ndim != 2 or w.shape[1] != x.shape[-1] or w.shape[0] == 0:
            raise ValueError(f"linear_weight must have shape (V_r, {x.shape[-1]}): this rank's "
                             f"rows (at least one), got shape {tuple(w.shape)}")
        if w.dtype != x.dtype:
            raise TypeError(f"linear_weight must have the input's dtype {x.dtype}, got {w.dtype}")
        if b is not None:
            if tuple(b.shape) != (w.shape[0],):
                raise ValueError(f"linear_bias must have shape ({w.shape[0]},), one entry per "
                                 f"row of linear_weight, got shape {tuple(b.shape)}")
            if b.dtype != x.dtype:
                raise TypeError(f"linear_bias must have the input's dtype {x.dtype}, "
                                f"got {b.dtype}")
        chunk_holder.append(chunk or 0)
        grads = sum(bit << i for i, bit in enumerate(
            (grad_on and t is not None and t.requires_grad) for t in (x, w, b)))
        shape = (*x.shape[:-1], w.shape[0])
        return shape, x.dtype, "f", {"features": x.shape[-1], "grad": grads,
                                    "has_bias": b is not None}

    agree = (
        ("features", "input must have the same number of features d on every rank"),
        ("grad", "input, linear_weight and linear_bias must require grad alike on every rank "
                 "(the input's gradient is summed over the ranks in the backward pass)"),
        ("has_bias", "linear_bias must be given on every rank (its slice) or on none"),
    )
    p = L.plan(describe, device, target, weight, ignore_index, reduction,
               label_smoothing, grp, logits_name="input", agree=agree, z_loss=z_loss,
               logit_softcap=logit_softcap)
    x, w, b = tensors
    # By default as many rows per chunk as one process would take for the whole vocabulary:
    # each rank's chunk of logits is then 1/R of that process's.
    chunk = chunk_holder[0] or default_chunk_size(p.rows, p.num_classes)
    return _LinearVocabParallel.apply(x, w, b, p, chunk)
