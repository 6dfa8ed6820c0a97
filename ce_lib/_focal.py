"""The focal losses (Lin et al., 2017), written once for both backends.

The arithmetic uses only what NumPy and torch spell alike (``xp.exp``, ``xp.log1p``,
``xp.expm1``, ``xp.where``, ``x ** gamma``, ...); the rest comes from the backend's
:class:`ce_lib._softmax_ce.Ops`. Both losses are computed with their closed-form gradient, in
forms that stay exact where the textbook formulas lose digits or divide 0 by 0.

**Binary form** (``torchvision.ops.sigmoid_focal_loss``). With :math:`\\sigma_+ = \\sigma(z)`,
:math:`\\sigma_- = \\sigma(-z) = 1 - \\sigma_+`, :math:`s_\\pm = \\operatorname{softplus}(\\pm z)`:

    ce = (1 - t) s_+ + t s_-           (binary cross entropy with logits, both terms >= 0)
    q  = 1 - p_t = (1 - t) sigma_+ + t sigma_-     (both terms >= 0: no cancellation)
    loss = a_t ce q^g,                 a_t = alpha t + (1 - alpha)(1 - t), or 1 if alpha < 0.

Since ``dce/dz = (1 - t) sigma_+ - t sigma_-`` and ``dq/dz = sigma_+ sigma_- (1 - 2t)``,

    dloss/dz = a_t q^g [ (1 - t) sigma_+ - t sigma_-  +  g ce r (1 - 2t) ],
    r = sigma_+ sigma_- / q = 1 / (1 + (1 - t) e^z + t e^-z),

so the factor ``q^(g - 1)``, infinite at ``q = 0`` for ``g < 1``, never appears: ``r`` is in
[0, 1] and is evaluated with ``e^-|z|`` only.

**Multi-class form.** For the target class ``y`` of a row, ``l = -log p_y`` and
``u = 1 - p_y = -expm1(-l)``; the loss is ``w_y u^g l``. From ``dl/dz_j = p_j - [j = y]`` and
``du/dz_j = p_y (p_j - [j = y])``,

    dloss/dz_j = w_y F (p_j - [j = y]),     F = u^g (1 + g p_y l / u),

where ``l / u`` tends to 1 as ``p_y -> 1`` (``l ~ u``): the singular ``u^(g - 1)`` of the
textbook derivative is replaced by this bounded ratio. ``l`` itself is computed as
``log1p(sum_{c != y} exp(z_c - z_y))`` when ``z_y`` is within 1 of the row's maximum (so a
confident row keeps all the digits of its tiny loss), else as ``logsumexp(z) - z_y``; and the
target column of the gradient is ``-w_y F u``, not ``p_y - 1``.
"""

from __future__ import annotations

import math
from typing import Any

from . import _softmax_ce
from . import _validation as v
from ._reduction import mean_scale, reduce


def check_gamma(gamma: object) -> float:
    """The focusing parameter: a finite real number >= 0."""
    value = v.real_number(gamma, "gamma", "a real number")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"gamma must be finite and non-negative, got {value}")
    return value


def check_alpha(alpha: object) -> float:
    """The balancing weight of the positive class: finite, at most 1; negative disables it."""
    value = v.real_number(alpha, "alpha", "a real number")
    if not (math.isfinite(value) and value <= 1):
        raise ValueError(
            "alpha must be finite and at most 1 (a negative alpha disables the balancing "
            f"term), got {value}"
        )
    return value


# ---------------------------------------------------------------------------------------------
# Binary (sigmoid) focal loss
# ---------------------------------------------------------------------------------------------


def _sigmoid_parts(xp: Any, z: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
    """``e = exp(-|z|)``, ``log1p(e)``, ``softplus(z)``, ``softplus(-z)``, ``sigmoid(z)``,
    ``sigmoid(-z)``."""
    e = xp.exp(-xp.abs(z))
    log1p_e = xp.log1p(e)
    sp_pos = xp.where(z > 0, z, 0) + log1p_e
    sp_neg = xp.where(z < 0, -z, 0) + log1p_e
    inv = 1 / (1 + e)
    sig_pos = xp.where(z >= 0, inv, e * inv)
    sig_neg = xp.where(z >= 0, e * inv, inv)
    return e, log1p_e, sp_pos, sp_neg, sig_pos, sig_neg


def _saturated(xp: Any, z: Any, t: Any, q: Any) -> Any:
    """Where ``q = 1 - p_t`` is below the smallest normal number because a hard target is
    predicted with certainty (``t = 1, z > 0`` or ``t = 0, z < 0``): there
    ``q = sigma(-|z|)``, whose logarithm ``-(|z| + log1p(e^-|z|))`` is still exact."""
    tiny = xp.finfo(z.dtype).tiny
    return (q < tiny) & (((t == 1) & (z > 0)) | ((t == 0) & (z < 0)))


def _modulating(xp: Any, z: Any, q: Any, saturated: Any, log1p_e: Any, gamma: float) -> Any:
    """``q ** gamma``, also where ``q`` underflows but ``q ** gamma`` does not (``gamma < 1``)."""
    if gamma == 0:
        return q**gamma  # 1, as torchvision's (1 - p_t) ** 0, even at q = 0
    return xp.where(saturated, xp.exp(-gamma * (xp.abs(z) + log1p_e)), q**gamma)


def sigmoid_focal_terms(
    xp: Any, z: Any, t: Any, alpha: float, gamma: float, want_grad: bool
) -> tuple[Any, Any]:
    """Per-element losses of the logits ``z`` (compute dtype) and targets ``t`` (same shape and
    dtype), and the per-element derivatives ``dloss/dz`` if ``want_grad`` (else ``None``)."""
    e, _, sp_pos, sp_neg, sig_pos, sig_neg = _sigmoid_parts(xp, z)
    ce = (1 - t) * sp_pos + t * sp_neg
    q = (1 - t) * sig_pos + t * sig_neg
    # (where q underflows, ce <= e and |grad| <= (1 + gamma) e are below the smallest normal
    # number themselves: q ** gamma is as good as the exact q^gamma of the target gradient)
    mod = q**gamma
    losses = ce * mod
    a_t = None
    if alpha >= 0:
        a_t = alpha * t + (1 - alpha) * (1 - t)
        losses = a_t * losses
    grad = None
    if want_grad:
        # r = sigma(z) sigma(-z) / q = e / (e + a + b e^2), (a, b) = (1 - t, t) for z >= 0 and
        # (t, 1 - t) for z < 0; where a = 0 (a hard target), r = 1 / (1 + b e) without 0 / 0.
        a = xp.where(z >= 0, 1 - t, t)
        b = 1 - a
        r = xp.where(a > 0, e / (e + a + b * e * e), 1 / (1 + b * e))
        grad = mod * (((1 - t) * sig_pos - t * sig_neg) + gamma * ce * r * (1 - 2 * t))
        if a_t is not None:
            grad = a_t * grad
    return losses, grad


def sigmoid_focal_target_grad(xp: Any, z: Any, t: Any, alpha: float, gamma: float) -> Any:
    """``dloss/dt`` per element (soft targets that require grad, torch backend).

    ``d ce/dt = s_- - s_+ = -z`` and ``dq/dt = sigma_- - sigma_+ = -tanh(z / 2)`` (exact near
    ``z = 0``, where the difference cancels); the term
    ``g ce q^(g - 1) dq/dt`` is written ``g q^g (ce / q) dq/dt``, finite where ``q`` underflows
    (a hard target predicted with certainty: there ``ce / q`` is 1 and ``q^g`` comes from
    ``log q``, see :func:`_modulating`).
    """
    _, log1p_e, sp_pos, sp_neg, sig_pos, sig_neg = _sigmoid_parts(xp, z)
    ce = (1 - t) * sp_pos + t * sp_neg
    q = (1 - t) * sig_pos + t * sig_neg
    saturated = _saturated(xp, z, t, q)  # (q = 0 only there)
    mod = _modulating(xp, z, q, saturated, log1p_e, gamma)
    # there ce / q = (1 + e) log1p(e) / e with e = exp(-|z|) < 2.3e-308: 1 to within e / 2
    ce_over_q = xp.where(saturated, 1, ce / xp.where(q > 0, q, 1))
    d = mod * (-z - gamma * ce_over_q * xp.tanh(z / 2))  # sigma(-z) - sigma(z) = -tanh(z/2)
    if alpha < 0:
        return d
    a_t = alpha * t + (1 - alpha) * (1 - t)
    return a_t * d + (2 * alpha - 1) * ce * mod


def sigmoid_focal_loss(
    ops: _softmax_ce.Ops,
    z: Any,
    t: Any,
    alpha: float,
    gamma: float,
    reduction: str,
    want_grad: bool,
) -> tuple[Any, Any]:
    """Reduced loss and the gradient of that loss (of the summed losses for ``"none"``), both in
    ``z``'s dtype. ``z`` and ``t`` are validated arrays of one shape; ``alpha``, ``gamma`` and
    ``reduction`` validated values.

    The elements are processed in cache-sized blocks (on a CPU; one block on an accelerator):
    the formulas make some twenty temporaries, which would otherwise each be as large as ``z``.
    """
    cd = ops.compute_dtype(z.dtype)
    zf, tf = z.reshape(-1), t.reshape(-1)
    n = zf.shape[0]
    losses = ops.empty((n,), cd, z)
    grad = ops.empty((n,), cd, z) if want_grad else None
    block = max(1, ops.block_elements(z) >> 4)  # ~20 temporaries of a block fit in a cache

    def run(first: int, last: int) -> None:
        for start in range(first, last, block):
            stop = min(start + block, last)
            zc, tc = ops.astype(zf[start:stop], cd), ops.astype(tf[start:stop], cd)
            lb, gb = sigmoid_focal_terms(ops.xp, zc, tc, alpha, gamma, want_grad)
            losses[start:stop] = lb
            if grad is not None:
                grad[start:stop] = gb

    ops.map_blocks(run, n, block)
    if not bool(ops.xp.isfinite(losses).all()):
        v.check_finite_logits(z, "logits")
    loss = ops.astype(reduce(losses.reshape(z.shape), reduction), z.dtype)
    if grad is not None:
        if reduction == "mean":
            grad = grad * mean_scale(n)
        grad = ops.astype(grad.reshape(z.shape), z.dtype)
    return loss, grad


# ---------------------------------------------------------------------------------------------
# Multi-class (softmax) focal loss
# ---------------------------------------------------------------------------------------------


def softmax_focal_rows(
    ops: _softmax_ce.Ops, z: Any, rows: _softmax_ce.Rows, gamma: float, grad_scale: float | None
) -> tuple[Any, Any]:
    """Per-row losses of the 2-D logits ``z`` (rows, C) in the compute dtype, and the gradient
    of ``grad_scale`` times their sum (``None`` when ``grad_scale`` is None)."""
    xp = ops.xp
    num_rows, num_classes = z.shape
    r = ops.arange(num_rows, z)
    y = rows.safe_target
    w_row = rows.coeff_sum_per_row
    m = xp.amax(z, axis=1, keepdims=True)
    e = xp.exp(z - m)
    is_target = ops.arange(num_classes, z)[None, :] == y[:, None]
    e_y = e[r, y]
    s_other = ops.row_sum(xp.where(is_target, 0, e))[:, 0]
    gap = m[:, 0] - z[r, y]  # >= 0
    # -log p_y: log1p of the other classes' mass relative to the target's when the target is
    # (nearly) the largest logit, so that a confident row keeps the digits of its small loss.
    ell = xp.where(gap <= 1, xp.log1p(s_other / e_y), gap + xp.log(e_y + s_other))
    u = -xp.expm1(-ell)  # 1 - p_y, without cancellation
    mod = u**gamma
    # A row without weight (ignored, or class weight 0) has loss 0 even if its logit is -inf
    # (0 * inf would be NaN); NaN logits still give NaN, which the caller then explains.
    losses = xp.where((w_row == 0) & (ell == math.inf), 0, w_row * mod * ell)
    if grad_scale is None:
        return losses, None
    p_y = xp.exp(-ell)
    ell_over_u = xp.where(ell > 0, ell / xp.where(ell > 0, u, 1), 1)  # -> 1 as p_y -> 1
    h = xp.where(p_y > 0, p_y * ell_over_u, 0)  # p_y l / u; 0 at p_y = 0 (l = inf)
    coeff = w_row * mod * (1 + gamma * h) * grad_scale  # finite: mod <= 1, 0 <= h <= 1
    grad = e * (coeff / (e_y + s_other))[:, None]
    grad[r, y] = -coeff * u
    return losses, grad


def softmax_focal_loss(
    ops: _softmax_ce.Ops,
    logits: Any,
    target: Any,
    weight: Any,
    gamma: object,
    ignore_index: object,
    reduction: object,
    kinds: tuple[str, str, str | None],
    want_grad: bool,
) -> tuple[Any, Any]:
    """Validate, lay the classes out along the last axis, compute, reduce.

    ``kinds`` are the dtype kinds of (logits, target, weight). Returns ``(loss, grad)`` as
    :func:`ce_lib._softmax_ce.softmax_cross_entropy` does. With ``gamma = 0`` the loss is
    ``softmax_cross_entropy``'s, computed by its kernel (so the two agree bit for bit).
    """
    g = check_gamma(gamma)
    ignore_index = v.check_ignore_index(ignore_index)
    reduction = v.check_reduction(reduction)
    logits_kind, target_kind, weight_kind = kinds
    v.check_floating(logits_kind, "logits", logits.dtype)
    if target_kind != "i":
        raise TypeError(
            "target must hold integer class indices (the focal loss takes no class "
            f"probabilities), got dtype {target.dtype}"
        )
    if g == 0:
        return _softmax_ce.softmax_cross_entropy(
            ops, logits, target, weight, ignore_index, reduction, 0.0, kinds, want_grad
        )
    class_axis, _ = v.softmax_ce_target_kind(logits, logits_kind, target, target_kind)
    num_classes = logits.shape[class_axis]
    if weight is not None:
        v.check_weight(weight, weight_kind or "o", num_classes)
    v.check_class_indices(target, num_classes, ignore_index)

    batch_shape = tuple(logits.shape[:class_axis]) + tuple(logits.shape[class_axis + 1 :])
    if logits.ndim <= 2:
        z = logits.reshape(-1, num_classes)
    else:  # (N, C, d1, ...) -> (N * d1 * ..., C)
        z = ops.contiguous(ops.moveaxis(logits, 1, -1)).reshape(-1, num_classes)
    t = target.reshape(-1)
    cd = ops.compute_dtype(logits.dtype)
    rows = _softmax_ce.resolve_rows(ops, t, weight, ignore_index, True, z.shape[0], cd, z)
    scale = None
    if want_grad:
        scale = mean_scale(rows.denominator) if reduction == "mean" else 1.0
    losses, grad = softmax_focal_rows(ops, ops.astype(z, cd), rows, g, scale)
    if not bool(ops.xp.isfinite(losses).all()):
        v.check_finite_logits(logits, "logits", allow_neg_inf=True)
        v.check_not_all_masked(logits, class_axis)
    loss = ops.astype(
        reduce(losses.reshape(batch_shape), reduction, rows.denominator), logits.dtype
    )
    if grad is not None:
        grad = ops.astype(grad, logits.dtype)
        if logits.ndim > 2:
            shape = (logits.shape[0], *logits.shape[2:], num_classes)
            grad = ops.contiguous(ops.moveaxis(grad.reshape(shape), -1, 1))
        else:
            grad = grad.reshape(logits.shape)
    return loss, grad
