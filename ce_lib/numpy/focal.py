"""The focal losses and their closed-form gradients (NumPy backend); see :mod:`ce_lib._focal`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _focal
from .. import _validation as v
from .._docs import document
from ._arrays import OPS, as_array, kind
from .losses import Reduction


def _sigmoid_focal(
    logits: Any, target: Any, alpha: object, gamma: object, reduction: object, want_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    a = _focal.check_alpha(alpha)
    g = _focal.check_gamma(gamma)
    reduction = v.check_reduction(reduction)
    z = as_array(logits, "logits")
    v.check_floating(kind(z), "logits", z.dtype)
    t = as_array(target, "target")
    v.check_binary_target(t, kind(t), z, "logits")
    with np.errstate(all="ignore"):
        return _focal.sigmoid_focal_loss(OPS, z, t, a, g, reduction, want_grad)


def sigmoid_focal_loss(
    logits: Any,
    target: Any,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "none",
) -> np.ndarray:
    return _sigmoid_focal(logits, target, alpha, gamma, reduction, want_grad=False)[0]


def sigmoid_focal_loss_grad(
    logits: Any,
    target: Any,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "none",
) -> np.ndarray:
    return _sigmoid_focal(logits, target, alpha, gamma, reduction, want_grad=True)[1]


def _softmax_focal(
    logits: Any, target: Any, gamma: object, weight: Any, ignore_index: object,
    reduction: object, want_grad: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    z = as_array(logits, "logits")
    t = as_array(target, "target")
    w = None if weight is None else as_array(weight, "weight")
    with np.errstate(all="ignore"):
        return _focal.softmax_focal_loss(
            OPS, z, t, w, gamma, ignore_index, reduction,
            (kind(z), kind(t), None if w is None else kind(w)), want_grad,
        )


def softmax_focal_loss(
    logits: Any,
    target: Any,
    gamma: float = 2.0,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> np.ndarray:
    return _softmax_focal(logits, target, gamma, weight, ignore_index, reduction, False)[0]


def softmax_focal_loss_value_and_grad(
    logits: Any,
    target: Any,
    gamma: float = 2.0,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    return _softmax_focal(logits, target, gamma, weight, ignore_index, reduction, True)


def softmax_focal_loss_grad(
    logits: Any,
    target: Any,
    gamma: float = 2.0,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> np.ndarray:
    return _softmax_focal(logits, target, gamma, weight, ignore_index, reduction, True)[1]


document(
    sigmoid_focal_loss,
    sigmoid_focal_loss_grad,
    softmax_focal_loss,
    softmax_focal_loss_value_and_grad,
    softmax_focal_loss_grad,
)
