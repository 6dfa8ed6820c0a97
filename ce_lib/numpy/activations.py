"""Softmax, log-softmax, log-sum-exp, sigmoid and log-sigmoid, computed stably."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as v
from ._arrays import as_array, compute_dtype, kind


def prepare(x: Any, name: str = "x") -> tuple[np.ndarray, np.ndarray]:
    arr = as_array(x, name)
    v.check_floating(kind(arr), name, arr.dtype)
    return arr, arr.astype(compute_dtype(arr.dtype), copy=False)


def _explain_nan(result: np.ndarray, x: np.ndarray, axis: int | None, name: str = "x") -> None:
    """Valid input never gives NaN: if the result has one, say which input caused it."""
    if np.isnan(result).any():
        v.check_no_nan(x, name)
        if axis is not None:
            v.check_finite_logits(x, name, allow_neg_inf=True)
            v.check_not_all_masked(x, axis, name)


def logsumexp(x: Any, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    r"""Log-sum-exp along ``axis``, without overflow.

    .. math:: \operatorname{logsumexp}(x) = \log \sum_j e^{x_j} = m + \log \sum_j e^{x_j - m},
       \quad m = \max_j x_j

    Args:
        x: floating-point array.
        axis: the axis to reduce.
        keepdims: keep ``axis`` with length 1.

    Returns:
        An array of ``x``'s dtype. ``-inf`` entries contribute nothing (a row of only ``-inf`` gives
        ``-inf``, the log of 0); ``+inf`` gives ``+inf``. NaN in ``x`` raises ``ValueError``.
    """
    arr, xc = prepare(x)
    with np.errstate(all="ignore"):
        m = np.amax(xc, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(xc - m), axis=axis, keepdims=True)) + m
    _explain_nan(out, arr, None)
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out.astype(arr.dtype, copy=False)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    r"""Logarithm of the softmax along ``axis``, computed without forming the softmax.

    .. math:: \log \operatorname{softmax}(x)_i = x_i - \operatorname{logsumexp}(x)

    Args:
        x: floating-point array of logits; ``-inf`` marks an impossible class.
        axis: the class axis.

    Returns:
        An array of ``x``'s shape and dtype. Raises ``ValueError`` for NaN or ``+inf`` logits and
        for a slice whose logits are all ``-inf``.
    """
    arr, xc = prepare(x)
    with np.errstate(all="ignore"):
        m = np.amax(xc, axis=axis, keepdims=True)
        shifted = xc - m
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    _explain_nan(out, arr, axis)
    return out.astype(arr.dtype, copy=False)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    r"""Softmax along ``axis``: turns logits into a probability distribution.

    .. math:: \operatorname{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}
       = e^{x_i - \operatorname{logsumexp}(x)}

    Computed as :math:`e^{x_i - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`, which cannot
    overflow.

    Args:
        x: floating-point array of logits; ``-inf`` marks an impossible class (probability 0).
        axis: the class axis.

    Returns:
        An array of ``x``'s shape and dtype whose slices along ``axis`` sum to 1. Raises
        ``ValueError`` for NaN or ``+inf`` logits and for a slice whose logits are all ``-inf``.
    """
    arr, xc = prepare(x)
    return softmax_in_compute_dtype(arr, xc, axis, "x").astype(arr.dtype, copy=False)


def softmax_in_compute_dtype(arr: np.ndarray, xc: np.ndarray, axis: int, name: str) -> np.ndarray:
    """Softmax of ``xc`` (``arr`` in its compute dtype), not yet rounded back to ``arr``'s dtype."""
    with np.errstate(all="ignore"):
        e = np.exp(xc - np.amax(xc, axis=axis, keepdims=True))
        out = e / np.sum(e, axis=axis, keepdims=True)
    _explain_nan(out, arr, axis, name)
    return out


def sigmoid(x: Any) -> np.ndarray:
    r"""The logistic sigmoid, elementwise, without overflow for any input.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}} = \frac{e^{x}}{1 + e^{x}}

    The first form is used for :math:`x \ge 0` and the second for :math:`x < 0`, so ``exp`` only
    ever sees non-positive arguments.

    Args:
        x: floating-point array.

    Returns:
        An array of ``x``'s shape and dtype with values in [0, 1]. NaN raises ``ValueError``.
    """
    arr, xc = prepare(x)
    e = np.exp(-np.abs(xc))
    with np.errstate(invalid="ignore"):
        out = np.where(xc >= 0, 1 / (1 + e), e / (1 + e))
    _explain_nan(out, arr, None)
    return out.astype(arr.dtype, copy=False)


def log_sigmoid(x: Any) -> np.ndarray:
    r"""The logarithm of the sigmoid, elementwise, stable for any input.

    .. math:: \log \sigma(x) = -\operatorname{softplus}(-x) = \min(x, 0) - \log(1 + e^{-|x|})

    Args:
        x: floating-point array.

    Returns:
        An array of ``x``'s shape and dtype with values in (-inf, 0]. NaN raises ``ValueError``.
    """
    arr, xc = prepare(x)
    out = np.minimum(xc, 0) - np.log1p(np.exp(-np.abs(xc)))
    _explain_nan(out, arr, None)
    return out.astype(arr.dtype, copy=False)
