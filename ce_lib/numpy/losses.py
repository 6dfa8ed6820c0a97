"""Binary, categorical and softmax cross-entropy losses (NumPy backend)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .. import _softmax_ce
from .. import _validation as v
from .._docs import LOG_CLAMP, document
from .._reduction import mean_scale, reduce
from ._arrays import OPS, as_array, compute_dtype, kind, row_buffer

Reduction = Literal["mean", "sum", "none"]


def _floating(x: Any, name: str) -> np.ndarray:
    arr = as_array(x, name)
    v.check_floating(kind(arr), name, arr.dtype)
    return arr


def _binary_args(
    prediction: Any, target: Any, weight: Any, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.dtype]:
    pred = _floating(prediction, name)
    tgt = as_array(target, "target")
    v.check_binary_target(tgt, kind(tgt), pred, name)
    cd = compute_dtype(pred.dtype)
    w = None
    if weight is not None:
        w = _floating(weight, "weight")
        v.check_broadcastable(w, tuple(pred.shape), "weight", name)
        v.check_no_nan(w, "weight")
        w = w.astype(cd, copy=False)
    return pred.astype(cd, copy=False), tgt.astype(cd, copy=False), w, pred.dtype


def binary_cross_entropy(
    probs: Any, target: Any, weight: Any = None, reduction: Reduction = "mean"
) -> np.ndarray:
    reduction = v.check_reduction(reduction)
    p, t, w, dtype = _binary_args(probs, target, weight, "probs")
    v.check_probabilities(p, "probs")
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), LOG_CLAMP)
        log_1mp = np.maximum(np.log1p(-p), LOG_CLAMP)
    losses = (t - 1) * log_1mp - t * log_p
    if w is not None:
        losses = losses * w
    return reduce(losses, reduction).astype(dtype)


def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: Reduction = "mean",
) -> np.ndarray:
    reduction = v.check_reduction(reduction)
    losses, _, dtype = _bce_logits_terms(logits, target, weight, pos_weight, want_grad=False)
    return reduce(losses, reduction).astype(dtype)


def _bce_logits_terms(
    logits: Any, target: Any, weight: Any, pos_weight: Any, want_grad: bool
) -> tuple[np.ndarray, np.ndarray | None, np.dtype]:
    """Per-element losses, per-element derivatives if asked, and the logits' dtype."""
    z, t, w, dtype = _binary_args(logits, target, weight, "logits")
    if pos_weight is not None:
        pw = _floating(pos_weight, "pos_weight")
        v.check_broadcastable(pw, tuple(z.shape), "pos_weight", "logits")
        v.check_no_nan(pw, "pos_weight")
    else:
        pw = None
    # (1 - t) softplus(z) + pw t softplus(-z): both terms >= 0, so nothing cancels (PyTorch's
    # (1 - t) z - log sigmoid(z) loses the digits of small losses, e.g. at z = -30, t = 0).
    e = np.exp(-np.abs(z))
    log1p_e = np.log1p(e)
    softplus_pos, softplus_neg = np.maximum(z, 0) + log1p_e, np.maximum(-z, 0) + log1p_e
    positive = t if pw is None else pw.astype(z.dtype, copy=False) * t
    with np.errstate(invalid="ignore"):
        losses = (1 - t) * softplus_pos + positive * softplus_neg
    if w is not None:
        losses = losses * w
    if not np.isfinite(losses).all():
        v.check_finite_logits(z, "logits")
    grad = None
    if want_grad:
        sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        grad = sig - t if pw is None else (1 - t + positive) * sig - positive
        if w is not None:
            grad = grad * w
    return losses, grad, dtype


def categorical_cross_entropy(probs: Any, target: Any, reduction: Reduction = "mean") -> np.ndarray:
    reduction = v.check_reduction(reduction)
    p = _floating(probs, "probs")
    v.check_distribution(p, "probs", p.dtype.itemsize)
    tgt = as_array(target, "target")
    cd = compute_dtype(p.dtype)
    pc = p.astype(cd, copy=False)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(pc), LOG_CLAMP)
    if kind(tgt) == "i" and tuple(tgt.shape) == tuple(p.shape[:-1]):
        v.check_class_indices(tgt, p.shape[-1], None)
        losses = -np.take_along_axis(log_p, tgt[..., None].astype(np.intp), axis=-1)[..., 0]
    else:
        if kind(tgt) not in ("f", "i", "b"):
            raise TypeError(f"target must be numeric, got dtype {tgt.dtype}")
        v.check_same_shape(p, tgt, "probs", "target")
        v.check_probabilities(tgt, "target")
        losses = -np.sum(tgt.astype(cd, copy=False) * log_p, axis=-1)
    return reduce(losses, reduction).astype(p.dtype)


def softmax_cross_entropy(
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
    loss, _ = _softmax_ce_numpy(
        logits, target, weight, ignore_index, reduction, label_smoothing, False, z_loss,
        logit_softcap,
    )
    return loss


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _plain_hard_label(
    z: np.ndarray, t: np.ndarray, reduction: str, want_grad: bool
) -> tuple[Any, Any]:
    """``softmax_cross_entropy`` and its gradient (if ``want_grad``) for a plain small call
    (``_softmax_ce.plain_hard_label``, every index in range, float32/float64 logits, one block).

    The one-pass kernel's operations for such a block, bitwise (tested), without its
    bookkeeping (per-row weights that are all 1, blocks, masks, views): at 64 x 1000 that
    bookkeeping costs as much as a third of the NumPy operations themselves.
    """
    num_rows = z.shape[0]
    rows = np.arange(num_rows)
    m = np.amax(z, axis=1, keepdims=True)
    g = np.empty(z.shape, z.dtype)  # C order whatever z's: the row sums' order depends on it
    np.subtract(z, m, out=g)
    np.exp(g, out=g)
    s = OPS.row_sum(g)
    losses = _softmax_ce.hard_label_gap(m, z[rows, t], np.log(s)[:, 0])
    reduced = reduce(losses, reduction, float(num_rows))
    _softmax_ce.explain_non_finite(OPS, reduced, losses, reduction, z, 1)
    loss = reduced.astype(z.dtype, copy=False)  # (NumPy 1.x: float32 scalar * float is float64)
    if not want_grad:
        return loss, None
    scale = mean_scale(float(num_rows)) if reduction == "mean" else 1.0
    # NumPy rounds the number scale to the dtype, as the kernel rounds its weights 1 * scale.
    _softmax_ce.scale_softmax(np, g, scale, s)
    g[rows, t] -= scale
    return loss, g


def _softmax_ce_numpy(
    logits: Any,
    target: Any,
    weight: Any,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    want_grad: bool,
    z_loss: object = 0.0,
    logit_softcap: object = None,
) -> tuple[Any, Any]:
    z = as_array(logits, "logits")
    t = as_array(target, "target")
    if (weight is None and logit_softcap is None and z.dtype in _FAST_DTYPES
            and t.dtype.kind in "iu"
            and _softmax_ce.plain_hard_label(z, t, ignore_index, reduction, label_smoothing,
                                             z_loss, OPS.block_elements(z))
            and 0 <= t.min() and t.max() < z.shape[1]):
        with np.errstate(all="ignore"), row_buffer(z.shape[1]):
            return _plain_hard_label(z, t, reduction, want_grad)
    w = None if weight is None else as_array(weight, "weight")
    num_classes = z.shape[min(1, z.ndim - 1)] if z.ndim else 0  # (the class axis, if valid)
    with np.errstate(all="ignore"), row_buffer(num_classes):
        return _softmax_ce.softmax_cross_entropy(
            OPS,
            z,
            t,
            w,
            ignore_index,
            reduction,
            label_smoothing,
            (kind(z), kind(t), None if w is None else kind(w)),
            want_grad,
            z_loss,
            logit_softcap,
        )


document(binary_cross_entropy, binary_cross_entropy_with_logits, categorical_cross_entropy, softmax_cross_entropy)
