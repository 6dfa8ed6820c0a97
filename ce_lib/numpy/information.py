"""Entropy, cross entropy and KL divergence of discrete distributions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _validation as v
from .._docs import document
from ._arrays import as_array, compute_dtype, kind


def _distribution(
    x: Any, name: str, *, allow_integer: bool, like: np.dtype | None = None
) -> np.ndarray:
    """A float array of probability vectors along the last axis.

    The true distribution ``p`` may be given as integers or booleans (a one-hot row); the
    predicted ``q`` must be floating-point.
    """
    arr = as_array(x, name)
    k = kind(arr)
    if allow_integer and k in ("i", "b"):
        arr = arr.astype(like if like is not None else np.float64)
    else:
        v.check_floating(k, name, arr.dtype)
    v.check_distribution(arr, name, arr.dtype.itemsize)
    return arr


def _in_base(h: np.ndarray, base: float | None, dtype: np.dtype) -> np.ndarray:
    if base is not None:
        h = h / math.log(base)
    return h.astype(dtype, copy=False)


def entropy(p: Any, *, base: float | None = None) -> np.ndarray:
    b = v.check_base(base)
    arr = _distribution(p, "p", allow_integer=True)
    pc = arr.astype(compute_dtype(arr.dtype), copy=False)
    h = 0.0 - np.sum(pc * np.log(np.where(pc > 0, pc, 1)), axis=-1)  # 0 - 0 is +0, -0 is not
    return _in_base(h, b, arr.dtype)


def cross_entropy(p: Any, q: Any, *, base: float | None = None) -> np.ndarray:
    b = v.check_base(base)
    q_arr = _distribution(q, "q", allow_integer=False)
    p_arr = _distribution(p, "p", allow_integer=True, like=q_arr.dtype)
    v.check_broadcast_pair(p_arr, q_arr, "p", "q")
    dtype = np.result_type(p_arr.dtype, q_arr.dtype)
    cd = compute_dtype(dtype)
    pc, qc = p_arr.astype(cd, copy=False), q_arr.astype(cd, copy=False)
    with np.errstate(divide="ignore"):
        terms = np.where(pc > 0, pc * np.log(np.where(pc > 0, qc, 1)), 0)
    return _in_base(0.0 - np.sum(terms, axis=-1), b, dtype)


def kl_divergence(p: Any, q: Any, *, base: float | None = None) -> np.ndarray:
    b = v.check_base(base)
    q_arr = _distribution(q, "q", allow_integer=False)
    p_arr = _distribution(p, "p", allow_integer=True, like=q_arr.dtype)
    v.check_broadcast_pair(p_arr, q_arr, "p", "q")
    dtype = np.result_type(p_arr.dtype, q_arr.dtype)
    cd = compute_dtype(dtype)
    pc, qc = p_arr.astype(cd, copy=False), q_arr.astype(cd, copy=False)
    with np.errstate(divide="ignore"):
        safe_p = np.where(pc > 0, pc, 1)
        terms = np.where(pc > 0, pc * (np.log(safe_p) - np.log(np.where(pc > 0, qc, 1))), 0)
    return _in_base(np.sum(terms, axis=-1), b, dtype)


document(entropy, cross_entropy, kl_divergence)
