"""Entropy, cross entropy and KL divergence of discrete distributions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _validation as v
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
    r"""Shannon entropy of the distributions along the last axis.

    .. math:: H(p) = -\sum_i p_i \log p_i, \qquad 0 \log 0 = 0

    Args:
        p: probabilities, one distribution per slice along the last axis (entries in [0, 1]
            summing to 1). Integer or boolean one-hot rows are accepted.
        base: logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns:
        An array of shape ``p.shape[:-1]``.
    """
    b = v.check_base(base)
    arr = _distribution(p, "p", allow_integer=True)
    pc = arr.astype(compute_dtype(arr.dtype), copy=False)
    h = 0.0 - np.sum(pc * np.log(np.where(pc > 0, pc, 1)), axis=-1)  # 0 - 0 is +0, -0 is not
    return _in_base(h, b, arr.dtype)


def cross_entropy(p: Any, q: Any, *, base: float | None = None) -> np.ndarray:
    r"""Cross entropy of ``q`` relative to ``p``, along the last axis.

    .. math:: H(p, q) = -\sum_i p_i \log q_i = H(p) + \mathrm{KL}(p \,\|\, q),
       \qquad 0 \log q = 0

    Args:
        p: the true distribution(s) (entries in [0, 1] summing to 1 along the last axis);
            integer or boolean one-hot rows are accepted.
        q: the predicted distribution(s), floating-point, broadcastable against ``p``.
        base: logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns:
        An array of the broadcast shape without its last axis; ``inf`` where some
        :math:`p_i > 0` has :math:`q_i = 0`.
    """
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
    r"""Kullback–Leibler divergence of ``q`` from ``p``, along the last axis.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i} = H(p, q) - H(p),
       \qquad 0 \log \frac{0}{q} = 0

    Args:
        p: the true distribution(s); integer or boolean one-hot rows are accepted.
        q: the approximating distribution(s), floating-point, broadcastable against ``p``.
        base: logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns:
        A non-negative array of the broadcast shape without its last axis; 0 exactly where
        ``p == q``, ``inf`` where some :math:`p_i > 0` has :math:`q_i = 0`.
    """
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
