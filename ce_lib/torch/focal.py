"""The focal losses (torch backend): closed-form gradients handed to autograd.

Each loss is a :class:`torch.autograd.Function` whose forward pass computes the loss and its
gradient with respect to the logits (see :mod:`ce_lib._focal`); the backward pass only scales
that gradient by the upstream one, as :func:`ce_lib.torch.softmax_cross_entropy` does. With
``gamma = 0`` a small plain call is softmax cross entropy and takes its path.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import _focal
from .. import _validation as v
from .._docs import document
from .._reduction import mean_scale
from ._tensors import OPS, as_tensor, compute_dtype, kind
from .losses import Reduction, plain_small_call, small_hard_label, small_value_and_grad


def _sigmoid_args(
    logits: Any, target: Any, alpha: object, gamma: object, reduction: object
) -> tuple[torch.Tensor, torch.Tensor, float, float, str]:
    a = _focal.check_alpha(alpha)
    g = _focal.check_gamma(gamma)
    reduction = v.check_reduction(reduction)
    z = as_tensor(logits, "logits")
    v.check_floating(kind(z), "logits", z.dtype)
    t = as_tensor(target, "target", z)
    v.check_binary_target(t, kind(t), z, "logits")
    return z, t, a, g, reduction


def _sigmoid_forward(
    z: torch.Tensor, t: torch.Tensor, a: float, g: float, reduction: str, want_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    with torch.no_grad():
        return _focal.sigmoid_focal_loss(OPS, z.detach(), t.detach(), a, g, reduction,
                                         want_grad)


class _SigmoidFocalLoss(torch.autograd.Function):
    """Backward: the gradient computed in the forward pass, times the upstream gradient; the
    gradient with respect to soft targets is computed in closed form only when asked for."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor, alpha: float,
                gamma: float, reduction: str) -> torch.Tensor:
        loss, grad = _sigmoid_forward(logits, target, alpha, gamma, reduction,
                                      want_grad=ctx.needs_input_grad[0])
        ctx.alpha, ctx.gamma, ctx.reduction = alpha, gamma, reduction
        ctx.save_for_backward(grad, logits, target)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        grad, logits, target = ctx.saved_tensors
        grad_logits = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_logits = grad * grad_output.to(grad.dtype)
        if ctx.needs_input_grad[1]:
            cd = torch.promote_types(compute_dtype(logits.dtype), compute_dtype(target.dtype))
            with torch.no_grad():
                d = _focal.sigmoid_focal_target_grad(
                    torch, logits.detach().to(cd), target.detach().to(cd), ctx.alpha, ctx.gamma
                )
            if ctx.reduction == "mean":
                d = d * mean_scale(math.prod(logits.shape))
            grad_target = (d * grad_output.to(cd)).to(target.dtype)
        return grad_logits, grad_target, None, None, None


def sigmoid_focal_loss(
    logits: Any,
    target: Any,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "none",
) -> torch.Tensor:
    z, t, a, g, reduction = _sigmoid_args(logits, target, alpha, gamma, reduction)
    return _SigmoidFocalLoss.apply(z, t, a, g, reduction)


def sigmoid_focal_loss_grad(
    logits: Any,
    target: Any,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "none",
) -> torch.Tensor:
    z, t, a, g, reduction = _sigmoid_args(logits, target, alpha, gamma, reduction)
    return _sigmoid_forward(z, t, a, g, reduction, want_grad=True)[1].contiguous()


def _is_small_cross_entropy(logits: Any, target: Any, gamma: object, weight: Any,
                            ignore_index: object, reduction: object,
                            need_autograd: bool = False) -> bool:
    """gamma = 0 is softmax_cross_entropy: a small plain call takes its path, so the two agree
    bit for bit as they do elsewhere (both run the one-pass kernel there)."""
    return (type(gamma) in (float, int) and gamma == 0
            and plain_small_call(logits, target, weight, ignore_index, reduction, 0.0, 0.0, None,
                                 need_autograd))


def _softmax_tensors(
    logits: Any, target: Any, weight: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    z = as_tensor(logits, "logits")
    t = as_tensor(target, "target", z)
    w = None if weight is None else as_tensor(weight, "weight", z)
    return z, t, w


def _softmax_forward(
    z: torch.Tensor, t: torch.Tensor, w: torch.Tensor | None, gamma: object,
    ignore_index: object, reduction: object, want_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    kinds = (kind(z), kind(t), None if w is None else kind(w))
    if kind(t) == "i" and t.dtype != torch.int64:
        t = t.long()  # int8/int16/uint8 indices: tensors index only with int64
    with torch.no_grad():
        return _focal.softmax_focal_loss(
            OPS, z.detach(), t.detach(), None if w is None else w.detach(), gamma,
            ignore_index, reduction, kinds, want_grad,
        )


class _SoftmaxFocalLoss(torch.autograd.Function):
    """Backward: the gradient computed (and saved) in the forward pass, times the upstream one."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None, gamma: float, ignore_index: int,
                reduction: str) -> torch.Tensor:
        loss, grad = _softmax_forward(logits, target, weight, gamma, ignore_index, reduction,
                                      want_grad=ctx.needs_input_grad[0])
        ctx.reduction = reduction
        ctx.class_axis = 0 if logits.ndim == 1 else 1
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        (grad,) = ctx.saved_tensors
        grad_logits = None
        if ctx.needs_input_grad[0]:
            upstream = grad_output
            if ctx.reduction == "none":
                upstream = grad_output.unsqueeze(ctx.class_axis)
            grad_logits = grad * upstream.to(grad.dtype)
        return grad_logits, None, None, None, None, None


def softmax_focal_loss(
    logits: Any,
    target: Any,
    gamma: float = 2.0,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    if _is_small_cross_entropy(logits, target, gamma, weight, ignore_index, reduction):
        return small_hard_label(logits, target, reduction)
    z, t, w = _softmax_tensors(logits, target, weight)
    if w is not None and w.requires_grad:
        raise ValueError("weight must not require grad: gradients with respect to class weights "
                         "are not supported")
    return _SoftmaxFocalLoss.apply(z, t, w, gamma, ignore_index, reduction)


def softmax_focal_loss_value_and_grad(
    logits: Any,
    target: Any,
    gamma: float = 2.0,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> tuple[torch.Tensor, torch.Tensor]:
    if _is_small_cross_entropy(logits, target, gamma, weight, ignore_index, reduction,
                               need_autograd=True):
        return small_value_and_grad(logits, target, reduction)
    z, t, w = _softmax_tensors(logits, target, weight)
    return _softmax_forward(z, t, w, gamma, ignore_index, reduction, want_grad=True)


def softmax_focal_loss_grad(
    logits: Any,
    target: Any,
    gamma: float = 2.0,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    return softmax_focal_loss_value_and_grad(
        logits, target, gamma, weight, ignore_index, reduction
    )[1]


document(
    sigmoid_focal_loss,
    sigmoid_focal_loss_grad,
    softmax_focal_loss,
    softmax_focal_loss_value_and_grad,
    softmax_focal_loss_grad,
)
