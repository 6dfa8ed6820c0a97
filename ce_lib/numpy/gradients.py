"""Closed-form derivatives: the softmax Jacobian and the gradients of the cross-entropy losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as v
from .._docs import document
from .._reduction import mean_scale
from .activations import prepare, softmax_in_compute_dtype
from .losses import Reduction, _bce_logits_terms, _softmax_ce_numpy


def softmax_jacobian(logits: Any, axis: int = -1) -> np.ndarray:
    arr, zc = prepare(logits, "logits")
    p = np.moveaxis(softmax_in_compute_dtype(arr, zc, axis, "logits"), axis, -1)
    jac = -p[..., :, None] * p[..., None, :]
    diagonal = np.einsum("...ii->...i", jac)  # a writable view of the diagonals
    diagonal += p
    return jac.astype(arr.dtype, copy=False)  # half precision: computed in float32, rounded once


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
) -> tuple[np.ndarray, np.ndarray]:
    return _softmax_ce_numpy(
        logits, target, weight, ignore_index, reduction, label_smoothing, True, z_loss,
        logit_softcap,
    )


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
) -> np.ndarray:
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
) -> np.ndarray:
    reduction = v.check_reduction(reduction)
    losses, grad, dtype = _bce_logits_terms(logits, target, weight, pos_weight, want_grad=True)
    # (weight and pos_weight broadcast to the logits' shape, never beyond: grad has that shape)
    if reduction == "mean":
        grad = grad * mean_scale(losses.size)
    return grad.astype(dtype)


document(softmax_jacobian, softmax_cross_entropy_value_and_grad, softmax_cross_entropy_grad, binary_cross_entropy_with_logits_grad)
