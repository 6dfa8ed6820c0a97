"""Closed-form derivatives: the softmax Jacobian and the gradients of the cross-entropy losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as v
from .._reduction import mean_scale
from .activations import prepare, softmax_in_compute_dtype
from .losses import Reduction, _bce_logits_terms, _softmax_ce_numpy


def softmax_jacobian(logits: Any, axis: int = -1) -> np.ndarray:
    r"""The Jacobian of softmax, batched over all other axes.

    .. math:: J_{ij} = \frac{\partial p_i}{\partial z_j} = p_i (\delta_{ij} - p_j),
       \qquad J = \operatorname{diag}(p) - p p^\top

    Args:
        logits: floating-point array; the classes lie along ``axis``.
        axis: the class axis.

    Returns:
        An array of shape ``batch + (C, C)``, where ``batch`` is the logits' shape without
        ``axis``; ``J[..., i, j]`` is the derivative of output ``i`` with respect to input ``j``.
        Each ``J`` is symmetric, its rows sum to 0, and it is positive semi-definite of rank
        ``C - 1`` when every :math:`p_i > 0`.
    """
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
) -> tuple[np.ndarray, np.ndarray]:
    r"""The loss of :func:`softmax_cross_entropy` and its gradient, in one pass over the logits.

    .. math:: \frac{\partial \ell_n}{\partial z_n} = S_n \operatorname{softmax}(z_n) - a_n,
       \qquad S_n = \sum_c a_{nc}

    where :math:`a_n` is the effective target row: :math:`a_n = \text{one-hot}(y_n)` in the plain
    case, so the gradient is :math:`(\operatorname{softmax}(z_n) - y_n)/N` for the mean. The
    arguments are those of :func:`softmax_cross_entropy`.

    Returns:
        ``(loss, grad)``, ``grad`` with the logits' shape and dtype; for ``reduction="none"`` it
        is the gradient of the sum of the per-element losses.
    """
    return _softmax_ce_numpy(
        logits, target, weight, ignore_index, reduction, label_smoothing, want_grad=True
    )


def softmax_cross_entropy_grad(
    logits: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
) -> np.ndarray:
    r"""Gradient of :func:`softmax_cross_entropy` with respect to the logits, in closed form.

    .. math:: \frac{\partial L}{\partial z_{n}} = \frac{1}{N}\left(\operatorname{softmax}(z_n)
       - \text{one-hot}(y_n)\right) \quad \text{(plain mean)}

    With weights, ``ignore_index``, label smoothing or probability targets the row becomes
    :math:`S_n \operatorname{softmax}(z_n) - a_n` (see
    :func:`softmax_cross_entropy_value_and_grad`), scaled by the mean's denominator. For
    ``reduction="none"`` it is the gradient of the sum of the per-element losses.

    Returns:
        An array of the logits' shape and dtype.
    """
    return softmax_cross_entropy_value_and_grad(
        logits, target, weight, ignore_index, reduction, label_smoothing
    )[1]


def binary_cross_entropy_with_logits_grad(
    logits: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: Reduction = "mean",
) -> np.ndarray:
    r"""Gradient of :func:`binary_cross_entropy_with_logits` with respect to the logits.

    .. math:: \frac{\partial \ell_i}{\partial z_i} = w_i \left[ (1 + (\rho - 1) t_i)\, \sigma(z_i)
       - \rho\, t_i \right] = w_i (\sigma(z_i) - t_i) \quad \text{when } \rho = 1

    divided by the number of elements for ``reduction="mean"``; for ``"none"`` it is the
    gradient of the sum of the per-element losses.

    Returns:
        An array of the logits' shape and dtype.
    """
    reduction = v.check_reduction(reduction)
    losses, grad, dtype = _bce_logits_terms(logits, target, weight, pos_weight, want_grad=True)
    if grad.shape != losses.shape:  # weight or pos_weight broadcast the loss to a larger shape
        grad = np.broadcast_to(grad, losses.shape)
    if reduction == "mean":
        grad = grad * mean_scale(losses.size)
    return grad.astype(dtype)
