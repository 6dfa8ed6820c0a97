"""Closed-form derivatives (torch backend): computed directly, no autograd involved."""

from __future__ import annotations

from typing import Any

import torch

from .. import _validation as v
from .._docs import document
from .._reduction import mean_scale
from .activations import explain_nan, prepare
from .losses import (
    Reduction,
    _binary_args,
    _pos_weight,
    plain_small_call,
    small_value_and_grad,
    softmax_ce_forward,
    softmax_ce_tensors,
)


def softmax_jacobian(logits: Any, axis: int = -1) -> torch.Tensor:
    z, zc = prepare(logits, "logits")
    p = torch.movedim(explain_nan(torch.softmax(zc, dim=axis), z, axis, "logits"), axis, -1)
    jac = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
    return jac.to(z.dtype)  # half precision: computed in float32, rounded once


def softmax_cross_entropy_value_and_grad(
    logits: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    if plain_small_call(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                        logit_softcap, need_autograd=True):  # as backward() gives it, bitwise
        return small_value_and_grad(logits, target, reduction)
    z, t, w = softmax_ce_tensors(logits, target, weight)
    return softmax_ce_forward(z.detach(), t.detach(), None if w is None else w.detach(),
                              ignore_index, reduction, label_smoothing, True, z_loss,
                              logit_softcap)


def softmax_cross_entropy_grad(
    logits: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
) -> torch.Tensor:
    return softmax_cross_entropy_value_and_grad(
        logits, target, weight, ignore_index, reduction, label_smoothing, z_loss=z_loss,
        logit_softcap=logit_softcap,
    )[1]


def binary_cross_entropy_with_logits_grad(
    logits: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    reduction = v.check_reduction(reduction)
    with torch.no_grad():
        z, t, w, dtype = _binary_args(logits, target, weight, "logits")
        if not bool(torch.isfinite(z).all()):
            v.check_finite_logits(z, "logits")
        pw = _pos_weight(pos_weight, z)
        sig = torch.sigmoid(z)
        grad = sig - t if pw is None else (1 + (pw - 1) * t) * sig - pw * t
        if w is not None:
            grad = grad * w
        # (weight and pos_weight broadcast to the logits' shape, never beyond: grad has it)
        if reduction == "mean":
            grad = grad * mean_scale(grad.numel())
        return grad.to(dtype).contiguous()


document(softmax_jacobian, softmax_cross_entropy_value_and_grad, softmax_cross_entropy_grad, binary_cross_entropy_with_logits_grad)
