"""Binary, categorical and softmax cross-entropy losses (NumPy backend)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .. import _softmax_ce
from .. import _validation as v
from .._reduction import reduce
from ._arrays import OPS, as_array, compute_dtype, kind

Reduction = Literal["mean", "sum", "none"]

#: torch.nn.functional.binary_cross_entropy clamps each log at -100 so that p = 0 or 1 stays finite.
LOG_CLAMP = -100.0


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
    r"""Binary cross entropy between predicted probabilities and targets.

    .. math:: \ell_i = -w_i \left[ t_i \log p_i + (1 - t_i) \log(1 - p_i) \right]

    Each logarithm is clamped at :math:`-100`, exactly as
    ``torch.nn.functional.binary_cross_entropy`` does, so ``p = 0`` or ``1`` gives a finite loss.
    Prefer :func:`binary_cross_entropy_with_logits` when the probabilities come from a sigmoid.

    Args:
        probs: predicted probabilities :math:`p \in [0, 1]`, any shape, floating-point.
        target: targets :math:`t \in [0, 1]` of the same shape (integer or boolean 0/1 accepted).
        weight: optional weights :math:`w`, broadcastable to ``probs``.
        reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.

    Returns:
        The loss, in ``probs``' dtype: a scalar, or per element for ``reduction="none"``.
    """
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
    r"""Binary cross entropy of ``sigmoid(logits)``, computed from the logits without overflow.

    .. math:: \ell_i = -w_i \left[ \rho\, t_i \log \sigma(z_i) + (1 - t_i) \log(1 - \sigma(z_i)) \right]
       = w_i \left[ (1 - t_i) \operatorname{softplus}(z_i) + \rho\, t_i \operatorname{softplus}(-z_i) \right]

    with :math:`\operatorname{softplus}(z) = \log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})`,
    exact for any finite :math:`z` (for :math:`z = 40`, :math:`t = 0` it gives 40, where
    ``log(1 - sigmoid(40))`` is ``-inf``). Equals
    ``torch.nn.functional.binary_cross_entropy_with_logits`` to rounding, and is more accurate for
    small losses: both terms are non-negative, so nothing cancels (at :math:`z = -30, t = 0`
    PyTorch's form keeps 2 correct digits of :math:`9.36 \times 10^{-14}`, this one all of them).

    Args:
        logits: raw scores :math:`z`, any shape, finite, floating-point.
        target: targets :math:`t \in [0, 1]` of the same shape (integer or boolean 0/1 accepted).
        weight: optional weights :math:`w`, broadcastable to ``logits``.
        pos_weight: optional weight :math:`\rho` of the positive term, broadcast along the last
            axis (one per class in multi-label problems): :math:`\rho > 1` raises recall.
        reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.

    Returns:
        The loss, in ``logits``' dtype.
    """
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
    r"""Categorical cross entropy from predicted probabilities, classes on the last axis.

    .. math:: \ell_n = -\sum_{c=1}^{C} t_{nc} \log p_{nc}

    The form the tutorials teach; with a one-hot target it is :math:`-\log p_{n,y_n}`. Each
    logarithm is clamped at :math:`-100` (as in :func:`binary_cross_entropy`), so a zero
    probability gives a large finite loss. When the probabilities come from a softmax, use
    :func:`softmax_cross_entropy` on the logits instead: it is exact where this one saturates.

    Args:
        probs: predicted distributions, shape ``(..., C)``, rows in [0, 1] summing to 1.
        target: either distributions of the same shape (one-hot or soft rows; integers
            accepted), or integer class indices of shape ``probs.shape[:-1]``.
        reduction: ``"mean"`` (over rows), ``"sum"`` or ``"none"``.

    Returns:
        The loss, in ``probs``' dtype: a scalar, or one value per row for ``reduction="none"``.
    """
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
) -> np.ndarray:
    r"""Cross entropy between ``softmax(logits)`` and the target; equals ``F.cross_entropy``.

    For class indices :math:`y_n`, class weights :math:`w` and label smoothing :math:`\varepsilon`:

    .. math:: \ell_n = (1 - \varepsilon)\, w_{y_n} \left(\operatorname{logsumexp}(z_n) - z_{n,y_n}\right)
       + \frac{\varepsilon}{C} \sum_{c} w_c \left(\operatorname{logsumexp}(z_n) - z_{nc}\right)

    and ``"mean"`` divides :math:`\sum_n \ell_n` by :math:`\sum_n w_{y_n}` over the elements whose
    target is not ``ignore_index`` (PyTorch's weighted mean). For class probabilities
    :math:`t_n`: :math:`\ell_n = -\sum_c w_c \tilde t_{nc} \log \operatorname{softmax}(z_n)_c` with
    :math:`\tilde t = (1 - \varepsilon) t + \varepsilon / C`, and ``"mean"`` divides by the number
    of elements. Never forms ``log(softmax(z))``.

    Args:
        logits: unnormalised scores of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``: the class
            axis is 1 (0 for 1-D input), as in PyTorch. ``-inf`` marks an impossible class.
        target: integer class indices of shape ``(N, d1, ...)`` (``()`` for 1-D logits), each in
            ``[0, C)`` or equal to ``ignore_index``; or class probabilities of the logits' shape.
        weight: optional class weights of shape ``(C,)``, finite and non-negative.
        ignore_index: a class-index target value that contributes neither loss nor gradient nor
            count (padding). Ignored for probability targets.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one loss per element, shape ``(N, d1, ...)``).
        label_smoothing: :math:`\varepsilon \in [0, 1]`, mixing the target with the uniform
            distribution.

    Returns:
        The loss, in the logits' dtype (float16 is computed in float32). If every target is
        ``ignore_index`` the mean is 0, where PyTorch returns NaN (the one deliberate difference).

    Raises:
        TypeError: integer or boolean logits; a target that is neither integer nor floating.
        ValueError: inconsistent shapes, class indices out of range, target probabilities outside
            [0, 1], a bad ``weight``/``reduction``/``label_smoothing``, NaN or ``+inf`` logits, or a
            row whose logits are all ``-inf``.
    """
    loss, _ = _softmax_ce_numpy(
        logits, target, weight, ignore_index, reduction, label_smoothing, want_grad=False
    )
    return loss


def _softmax_ce_numpy(
    logits: Any,
    target: Any,
    weight: Any,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    want_grad: bool,
) -> tuple[Any, Any]:
    z = as_array(logits, "logits")
    t = as_array(target, "target")
    w = None if weight is None else as_array(weight, "weight")
    with np.errstate(all="ignore"):
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
        )
