"""Softmax, log-softmax, log-sum-exp, sigmoid and log-sigmoid, computed stably."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as v
from .._docs import document
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


def _max(xc: np.ndarray, axis: int) -> np.ndarray:
    """The maximum along ``axis`` (kept); ``-inf`` along an empty axis, as in torch."""
    return np.amax(xc, axis=axis, keepdims=True, initial=-np.inf)


def logsumexp(x: Any, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    arr, xc = prepare(x)
    with np.errstate(all="ignore"):
        m = _max(xc, axis)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(xc - m), axis=axis, keepdims=True)) + m
    _explain_nan(out, arr, None)
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out.astype(arr.dtype, copy=False)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    arr, xc = prepare(x)
    with np.errstate(all="ignore"):
        m = _max(xc, axis)
        shifted = xc - m
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    _explain_nan(out, arr, axis)
    return out.astype(arr.dtype, copy=False)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    arr, xc = prepare(x)
    return softmax_in_compute_dtype(arr, xc, axis, "x").astype(arr.dtype, copy=False)


def softmax_in_compute_dtype(arr: np.ndarray, xc: np.ndarray, axis: int, name: str) -> np.ndarray:
    """Softmax of ``xc`` (``arr`` in its compute dtype), not yet rounded back to ``arr``'s dtype."""
    with np.errstate(all="ignore"):
        e = np.exp(xc - _max(xc, axis))
        out = e / np.sum(e, axis=axis, keepdims=True)
    _explain_nan(out, arr, axis, name)
    return out


def sigmoid(x: Any) -> np.ndarray:
    arr, xc = prepare(x)
    e = np.exp(-np.abs(xc))
    with np.errstate(invalid="ignore"):
        out = np.where(xc >= 0, 1 / (1 + e), e / (1 + e))
    _explain_nan(out, arr, None)
    return out.astype(arr.dtype, copy=False)


def log_sigmoid(x: Any) -> np.ndarray:
    arr, xc = prepare(x)
    out = np.minimum(xc, 0) - np.log1p(np.exp(-np.abs(xc)))
    _explain_nan(out, arr, None)
    return out.astype(arr.dtype, copy=False)


document(logsumexp, log_softmax, softmax, sigmoid, log_sigmoid)
