"""Cross entropy of a linear layer's output, chunk by chunk, differentiable (torch backend).

The forward pass computes the gradients with respect to the input, the linear weight and the
bias in closed form, chunk of rows by chunk of rows (see :mod:`ce_lib._linear_ce`), and hands
them to autograd: the (N, V) logits never exist, in the forward pass or the backward pass.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import _linear_ce
from .._docs import document
from .._reduction import reduce
from ._tensors import OPS, as_tensor, kind
from .losses import Reduction


def _add_matmul(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    acc.addmm_(a, b)  # acc += a @ b, without a temporary


def _args(
    input: Any, linear_weight: Any, target: Any, linear_bias: Any, weight: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    x = as_tensor(input, "input")
    w = as_tensor(linear_weight, "linear_weight", x)
    t = as_tensor(target, "target", x)
    b = None if linear_bias is None else as_tensor(linear_bias, "linear_bias", x)
    cw = None if weight is None else as_tensor(weight, "weight", x)
    return x, w, t, b, cw


def _prepare(
    x: torch.Tensor, w: torch.Tensor, t: torch.Tensor, b: torch.Tensor | None,
    cw: torch.Tensor | None, ignore_index: object, reduction: object, label_smoothing: object,
    chunk_size: object, z_loss: object = 0.0, logit_softcap: object = None,
) -> _linear_ce.LinearProblem:
    with torch.no_grad():
        return _linear_ce.prepare_linear(
            OPS, x.detach(), w.detach(), t.detach(), None if b is None else b.detach(),
            None if cw is None else cw.detach(), ignore_index, reduction, label_smoothing,
            chunk_size,
            (kind(x), kind(w), kind(t), None if b is None else kind(b),
             None if cw is None else kind(cw)),
            z_loss, logit_softcap,
        )


class _LinearCrossEntropy(torch.autograd.Function):
    """Gradients computed in the forward pass ("mean", "sum") or in the backward pass ("none").

    With a reduced loss the gradients are computed with the loss and handed to autograd by the
    first backward pass without a copy (a second one, after ``retain_graph=True``, recomputes
    them). With ``reduction="none"`` the upstream gradient weighs each row differently, so the
    backward pass runs the chunked pass again, with the row weights applied to each chunk.
    """

    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, linear_weight: torch.Tensor,
                linear_bias: torch.Tensor | None, problem: _linear_ce.LinearProblem,
                grad_enabled: bool) -> torch.Tensor:
        # needs_input_grad says True under no_grad() too: ask the caller's grad mode as well.
        need = tuple(grad_enabled and n for n in ctx.needs_input_grad[:3])
        precompute = problem.reduction != "none" and any(need)
        losses, gx, gw, gb = _linear_ce.linear_pass(
            OPS, problem, need if precompute else (False, False, False), None, _add_matmul
        )
        _linear_ce.check_linear_losses(problem, losses, OPS)
        loss = reduce(losses.reshape(problem.loss_shape), problem.reduction,
                                  problem.rows.denominator).to(problem.dtype)
        ctx.problem = problem
        ctx.grads = _linear_ce.finish_linear_grads(OPS, problem, gx, gw, gb) if precompute else None
        ctx.save_for_backward(input, linear_weight, linear_bias)  # in-place changes are caught
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        ctx.saved_tensors  # noqa: B018 (raises if an argument was modified in place)
        problem, grads = ctx.problem, ctx.grads
        ctx.grads = None  # give autograd the only reference: it adopts the tensors, no copy
        need = tuple(ctx.needs_input_grad[:3])
        with torch.no_grad():
            if problem.reduction == "none":
                _, gx, gw, gb = _linear_ce.linear_pass(
                    OPS, problem, need, grad_output.reshape(-1), _add_matmul
                )
                grads = _linear_ce.finish_linear_grads(OPS, problem, gx, gw, gb)
            else:
                if grads is None:  # a second backward pass through a retained graph
                    _, gx, gw, gb = _linear_ce.linear_pass(OPS, problem, need, None, _add_matmul)
                    grads = _linear_ce.finish_linear_grads(OPS, problem, gx, gw, gb)
                if not bool(grad_output == 1):
                    grads = tuple(None if g is None else g * grad_output.to(g.dtype)
                                  for g in grads)
        gx, gw, gb = grads
        return (gx if need[0] else None, gw if need[1] else None, gb if need[2] else None, None,
                None)


def linear_cross_entropy(
    input: Any,
    linear_weight: Any,
    target: Any,
    *,
    linear_bias: Any = None,
    weight: Any = None,
    reduction: Reduction = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    group: Any = None,
) -> torch.Tensor:
    r"""``softmax_cross_entropy(input @ linear_weight.T + linear_bias, target, ...)``, chunked.

    The semantics of ``torch.nn.functional.linear_cross_entropy`` (PyTorch 2.13), differentiable
    with respect to ``input``, ``linear_weight`` and ``linear_bias``, without ever forming the
    :math:`N \times V` logits: rows of the input are processed ``chunk_size`` at a time and each
    chunk's closed-form gradient :math:`G = \partial L / \partial Z` is turned at once into

    .. math:: \nabla_X L = G W, \qquad \nabla_W L = G^\top X, \qquad \nabla_b L = \textstyle\sum_n G_n.

    For a reduced loss the gradients are computed in the forward pass (autograd receives them
    without a copy); for ``reduction="none"`` the backward pass recomputes the logits chunk by
    chunk, weighing each row by its upstream gradient. Device-agnostic: the same code runs on any
    device PyTorch supports.

    Args:
        input: :math:`X`, shape ``(N, d)`` or ``(d,)``, floating-point.
        linear_weight: :math:`W`, shape ``(V, d)``, the input's dtype.
        target: class indices of shape ``(N,)`` (``()`` for 1-D input), or class probabilities
            of shape ``(N, V)`` (``(V,)``); the target receives no gradient.
        linear_bias: optional :math:`b`, shape ``(V,)``, the input's dtype.
        weight, reduction, ignore_index, label_smoothing: as in :func:`softmax_cross_entropy`
            (``ignore_index=None`` means -100, as in PyTorch's ``linear_cross_entropy``); the
            class weights receive no gradient.
        chunk_size: rows of :math:`X` per chunk; ``None`` picks :math:`\max(64, 2^{22}/V)` rows
            (16 MiB of float32 logits per chunk, with at most N rows). Beyond the gradients
            themselves, the extra memory is one chunk of logits (overwritten by their gradient)
            and a cache-sized slab of :math:`2^{20}` elements.
        z_loss, logit_softcap: z-loss weight and logit soft-cap, as in
            :func:`softmax_cross_entropy`, applied to the logits :math:`Z` slab by slab.
        group: a ``torch.distributed`` process group (or ``torch.distributed.group.WORLD``) over
            which the vocabulary is split: ``linear_weight``, ``linear_bias`` and ``weight`` are
            then this rank's rows (those after the rows of ranks ``0..r-1``), ``input`` and
            class-index targets the same on every rank (probability targets: this rank's
            columns). The loss is that of the gathered weight, on every rank; each rank gets the
            gradient of its own rows, and the input's gradient summed over the ranks. See
            :func:`vocab_parallel_cross_entropy` for the communication (one more all-reduce, of
            the input's gradient, in the backward pass).

    Returns:
        The loss, in the input's dtype: a scalar, or per row for ``reduction="none"``.
    """
    if group is not None:  # the vocabulary split across ranks (checks the arguments on all)
        from .vocab_parallel._functions import linear_vocab_parallel_cross_entropy

        return linear_vocab_parallel_cross_entropy(input, linear_weight, target, linear_bias,
                                                   weight, reduction, ignore_index,
                                                   label_smoothing, chunk_size, group,
                                                   z_loss=z_loss, logit_softcap=logit_softcap)
    x, w, t, b, cw = _args(input, linear_weight, target, linear_bias, weight)
    for name, tensor in (("target", t), ("weight", cw)):
        if tensor is not None and tensor.requires_grad:
            raise ValueError(f"{name} must not require grad: linear_cross_entropy computes "
                             "gradients with respect to input, linear_weight and linear_bias only")
    problem = _prepare(x, w, t, b, cw, ignore_index, reduction, label_smoothing, chunk_size,
                       z_loss, logit_softcap)
    return _LinearCrossEntropy.apply(x, w, b, problem, torch.is_grad_enabled())


def linear_cross_entropy_value_and_grad(
    input: Any,
    linear_weight: Any,
    target: Any,
    *,
    linear_bias: Any = None,
    weight: Any = None,
    reduction: Reduction = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    x, w, t, b, cw = _args(input, linear_weight, target, linear_bias, weight)
    problem = _prepare(x, w, t, b, cw, ignore_index, reduction, label_smoothing, chunk_size,
                       z_loss, logit_softcap)
    with torch.no_grad():
        return _linear_ce.linear_value_and_grad(  # type: ignore[return-value]
            OPS, problem, (True, True, b is not None), _add_matmul
        )


document(linear_cross_entropy_value_and_grad)
