"""The softmax cross-entropy kernel, written once for both backends.

One pass over the logits computes the loss *and* its closed-form gradient, block of rows by block
of rows, so that the intermediate ``exp(z - max)`` stays in cache and is turned into the gradient
in place (the trick fused GPU kernels use). Every row ``m`` is an instance of

    loss_m = sum_c a_mc (logsumexp(z_m) - z_mc)        grad_m = S_m softmax(z_m) - a_m,

where ``S_m = sum_c a_mc`` and the coefficients ``a`` encode the target, the class weights and
label smoothing exactly as ``torch.nn.functional.cross_entropy`` defines them:

* class index ``y`` without smoothing: ``a = w_y onehot(y)``;
* class index with smoothing ``eps``: ``a = (1 - eps) w_y onehot(y) + (eps / C) w``;
* class probabilities ``t``: ``a = w * ((1 - eps) t + eps / C)``.

Rows whose target is ``ignore_index`` get ``a = 0``.

Two optional regularizers of large models change the row (both off: the code above, unchanged):

* logit soft-capping (Gemma 2), cap ``c``: the loss is computed on ``s = c tanh(z / c)``, and the
  chain rule multiplies the gradient by ``ds/dz = 1 - tanh(z / c)**2``;
* z-loss (PaLM), weight ``k``: ``k * logsumexp(s_m)**2`` is added to every row that is not
  ignored (class weights do not scale it), whose gradient ``2 k logsumexp(s_m) softmax(s_m)``
  only changes the multiplier of ``softmax``: ``grad_m = ((S_m + 2 k lse_m) p_m - a_m) * ds/dz``.

The block keeps ``tanh(z / c)`` in a block-sized buffer; nothing logits-sized is added. The
arithmetic uses only functions that NumPy
and torch spell the same way (``xp.exp(x, out=x)``, ``xp.amax(x, axis=1, keepdims=True)``, ...);
the little that differs is behind :class:`Ops`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from math import inf
from typing import Any

from . import _validation as v
from ._reduction import mean_scale, reduce


@dataclass(frozen=True)
class Ops:
    """What the kernel needs from an array library beyond the functions both spell alike."""

    xp: Any  #: the module: numpy or torch
    arange: Callable[[int, Any], Any]  #: arange(n, like)
    empty: Callable[[tuple[int, ...], Any, Any], Any]  #: empty(shape, dtype, like)
    astype: Callable[[Any, Any], Any]  #: astype(x, dtype), no copy when already that dtype
    block_elements: Callable[[Any], int]  #: elements per block of rows, for this array's device
    compute_dtype: Callable[[Any], Any]  #: the dtype to compute in for an input dtype
    moveaxis: Callable[[Any, int, int], Any]  #: moveaxis(x, source, destination), a view
    contiguous: Callable[[Any], Any]  #: a C-contiguous copy, or x itself if it already is one
    row_sum: Callable[[Any], Any]  #: sums along axis 1, keeping it (shape (rows, 1))
    map_blocks: Callable[[Callable[[int, int], None], int, int], None]
    """map_blocks(run, num_rows, block) calls run(first, last) over ranges covering the rows."""
    min_max: Callable[[Any], tuple[int, int]]
    """min_max(indices): the smallest and largest entry of a non-empty integer array, as ints."""
    take_rows: Callable[[Any, Any], Any]
    """take_rows(x, y): the 1-D array of x[n, y[n]] over the rows n of the 2-D array x."""
    sub_rows: Callable[[Any, Any, Any], None]
    """sub_rows(x, y, v): x[n, y[n]] -= v[n] in place, for every row n."""


@dataclass
class Rows:
    """Targets and weights resolved per row, before the pass over the logits."""

    coeff_sum_per_row: Any  #: w_y for class-index targets (0 where ignored); None for probabilities
    denominator: Any  #: what reduction="mean" divides by
    valid: Any  #: bool per row, False where the target is ignore_index (None: every row counts)
    safe_target: Any  #: class indices with ignored rows set to 0 (None for probabilities)
    unit: bool = False  #: every coeff_sum_per_row is 1 (no class weights, no ignored row)


def resolve_rows(
    ops: Ops,
    target: Any,
    weight: Any,
    ignore_index: int,
    index_target: bool,
    num_rows: int,
    compute_dtype: Any,
    like: Any,
    num_classes: int | None = None,
) -> Rows:
    """Per-row weights and the mean's denominator, as torch defines them.

    With ``num_classes`` the class indices are also validated, cheaply: two reductions of the
    indices prove them in range (the full check runs only to explain a failure), and a batch
    without ignored rows takes a shorter path (same arithmetic, fewer operations).
    """
    xp = ops.xp
    if not index_target:
        return Rows(None, num_rows, None, None)
    if num_classes is not None and num_rows:
        lo, hi = ops.min_max(target)
        if 0 <= lo and hi < num_classes and not 0 <= ignore_index < num_classes:
            if weight is None:  # every row counts once
                ones = xp.ones_like(target, dtype=compute_dtype)
                return Rows(ones, float(num_rows), None, target, unit=True)
            w_row = ops.astype(weight, compute_dtype)[target]
            return Rows(w_row, w_row.sum(), None, target)
    valid = target != ignore_index
    safe = xp.where(valid, target, 0)
    if num_classes is not None and num_rows:
        lo, hi = ops.min_max(safe)
        if not (0 <= lo and hi < num_classes):  # explain which index is out of range
            v.check_class_indices(target, num_classes, ignore_index)
    if weight is None:
        w_row = ops.astype(valid, compute_dtype)
    else:
        w_row = ops.astype(weight, compute_dtype)[safe] * ops.astype(valid, compute_dtype)
    return Rows(w_row, w_row.sum(), valid, safe)


def loss_and_grad(
    ops: Ops,
    z: Any,
    target: Any,
    rows: Rows,
    weight: Any,
    label_smoothing: float,
    compute_dtype: Any,
    grad_scale: float | None,
    out: Any = None,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
) -> tuple[Any, Any]:
    """Per-row losses of the 2-D logits ``z`` (rows, C), and the gradient if ``grad_scale`` is set.

    ``z_loss`` and ``logit_softcap`` (validated by the caller) add the regularizers of the module
    docstring; at their defaults the arithmetic is exactly that without them.

    The gradient (of ``grad_scale`` times the summed losses) is written into a new array of ``z``'s
    dtype, or into ``out`` (of ``z``'s shape and dtype, not ``z`` itself) when given; it is
    ``None`` when ``grad_scale`` is None. Blocks of rows are independent, so
    ``ops.map_blocks`` may process them on several threads; each row's result does not depend on
    how rows are grouped.
    """
    xp = ops.xp
    num_rows, num_classes = z.shape
    losses = ops.empty((num_rows,), compute_dtype, z)
    grad = None
    if grad_scale is not None:
        grad = out if out is not None else ops.empty(tuple(z.shape), z.dtype, z)
    in_place = grad is not None and z.dtype == compute_dtype
    cap = logit_softcap
    block = max(1, ops.block_elements(z) // max(num_classes, 1))
    eps = label_smoothing
    w = None if weight is None else ops.astype(weight, compute_dtype)
    smooth_w = None
    if eps > 0:
        ones = xp.ones_like(z[:1, :], dtype=compute_dtype)
        smooth_w = (ones if w is None else w.reshape(1, num_classes)) * (eps / num_classes)

    def run(first: int, last: int) -> None:
        """Rows [first, last), one cache-sized block at a time."""
        rows_max = min(block, last - first)
        scratch = None if in_place else ops.empty((rows_max, num_classes), compute_dtype, z)
        tanh_buf = None if cap is None else ops.empty((rows_max, num_classes), compute_dtype, z)
        for start in range(first, last, block):
            stop = min(start + block, last)
            whole = start == 0 and stop == num_rows  # one block: no views to make
            zb = ops.astype(z if whole else z[start:stop], compute_dtype)
            if in_place:
                g = grad if whole else grad[start:stop]
            else:
                g = scratch if whole else scratch[: stop - start]
            t = None
            if cap is not None:  # s = cap * tanh(z / cap), built in g; tanh kept for ds/dz
                t = tanh_buf[: stop - start]
                xp.divide(zb, cap, out=t)
                xp.tanh(t, out=t)
                xp.multiply(t, cap, out=g)
                zb = None  # the capped logits live in g until exp overwrites them
                m = xp.amax(g, axis=1, keepdims=True)
                xp.subtract(g, m, out=g)
            else:
                m = xp.amax(zb, axis=1, keepdims=True)
                xp.subtract(zb, m, out=g)
            xp.exp(g, out=g)
            s = ops.row_sum(g)
            log_s = xp.log(s)[:, 0]
            z_row = None  # the z-loss gradient's extra multiplier of softmax, per row
            if rows.safe_target is not None and eps == 0:
                # Hard labels: only the target logit enters the loss.
                y = rows.safe_target if whole else rows.safe_target[start:stop]
                w_row = rows.coeff_sum_per_row if whole else rows.coeff_sum_per_row[start:stop]
                z_y = ops.take_rows(zb, y) if t is None else ops.take_rows(t, y) * cap
                gap = hard_label_gap(m, z_y, log_s)
                if rows.unit:  # w_row * gap is gap, and no row lacks a weight
                    losses[start:stop] = gap
                else:
                    # A row without weight (ignored, or a class weight of 0) has loss 0, even
                    # when its stand-in target 0 has logit -inf (0 * inf would be NaN); NaN
                    # logits still give NaN, which the check below explains.
                    losses[start:stop] = xp.where((w_row == 0) & (gap == inf), 0, w_row * gap)
                if z_loss:
                    valid = None if rows.valid is None else rows.valid[start:stop]
                    z_row = _add_z_loss(xp, losses, start, stop, m, log_s, z_loss, valid)
                if grad is not None:
                    w_scaled = w_row * grad_scale
                    mult = w_scaled if z_row is None else (w_row + z_row) * grad_scale
                    if t is None:
                        scale_softmax(xp, g, mult[:, None], s)
                        ops.sub_rows(g, y, w_scaled)
                    else:  # the negated row, for the chain rule below (negation is exact)
                        xp.multiply(g, -(mult[:, None] / s), out=g)
                        ops.sub_rows(g, y, -w_scaled)
            else:
                zc = zb if t is None else t * cap
                a = _coefficients(ops, zc, target, rows, start, stop, w, smooth_w, eps)
                coeff_sum = xp.sum(a, axis=1)
                # sum_c a_c (m - z_c), with 0 * inf = 0 for masked classes without a coefficient.
                gap = xp.where(a != 0, (m - zc) * a, 0)
                losses[start:stop] = xp.sum(gap, axis=1) + coeff_sum * log_s
                if z_loss:
                    valid = None if rows.valid is None else rows.valid[start:stop]
                    z_row = _add_z_loss(xp, losses, start, stop, m, log_s, z_loss, valid)
                if grad is not None:
                    mult = coeff_sum if z_row is None else coeff_sum + z_row
                    if t is None:
                        xp.multiply(g, (mult * grad_scale)[:, None] / s, out=g)
                        g -= a * grad_scale
                    else:  # the negated row, for the chain rule below (negation is exact)
                        xp.multiply(g, -((mult * grad_scale)[:, None] / s), out=g)
                        g += a * grad_scale
            if grad is not None and t is not None:
                # Chain rule, ds/dz = 1 - tanh(z / cap)**2: the negated row times tanh**2 - 1.
                xp.multiply(t, t, out=t)
                t -= 1
                g *= t
            if grad is not None and not in_place:
                grad[start:stop] = g

    ops.map_blocks(run, num_rows, block)
    return losses, grad


def hard_label_gap(m: Any, z_y: Any, log_s: Any) -> Any:
    """Per-row loss of a hard label: ``logsumexp(z) - z_y`` as ``(max - z_y) + log(sum)``."""
    return (m[:, 0] - z_y) + log_s


def scale_softmax(xp: Any, g: Any, mult: Any, s: Any) -> None:
    """``g`` (the rows of ``exp(z - max)``) times ``mult / s``, in place: ``mult`` softmax.

    ``s`` is the column of row sums; ``mult`` a column of per-row multipliers or one number.
    """
    xp.multiply(g, mult / s, out=g)


def plain_hard_label(z: Any, y: Any, ignore_index: object, reduction: object,
                     label_smoothing: object, z_loss: object, max_elements: int) -> bool:
    """Whether a call's arguments are those of the plain common case a backend's short path may
    compute, all but the values of the class indices.

    That is: 2-D logits of at most ``max_elements`` entries, one class index per row,
    ``ignore_index`` out of range (so, once the caller has proved every index in range with one
    reduction, no row is ignored), no smoothing and no z-loss, as plain Python numbers. The
    caller also checks the array types and that there is no class weight and no cap. Anything
    else takes the general path, which validates it and explains what is wrong.
    """
    if not (z.ndim == 2 and y.ndim == 1 and type(ignore_index) is int
            and type(label_smoothing) in v.FLOAT_OR_INT and label_smoothing == 0
            and type(z_loss) in v.FLOAT_OR_INT and z_loss == 0 and reduction in v.REDUCTIONS):
        return False
    num_rows, num_classes = z.shape
    return not (y.shape[0] != num_rows or not num_rows or not num_classes
                or 0 <= ignore_index < num_classes or num_rows * num_classes > max_elements)


def explain_non_finite(ops: Ops, reduced: Any, losses: Any, reduction: str, logits: Any,
                        class_axis: int) -> None:
    """Raise the right error if the loss is not finite because of invalid logits.

    A non-finite loss makes the sum or mean non-finite too (losses are >= 0, and NaN * 0 and
    inf * 0 are NaN), so one scalar tells whether something is off. Valid input gives finite
    losses, or +inf when a target class has logit -inf; find out which, reading the logits only
    now that something is off.
    """
    finite = (math.isfinite(float(reduced)) if reduction != "none"
              else bool(ops.xp.isfinite(losses).all()))
    if not finite:
        v.check_finite_logits(logits, "logits", allow_neg_inf=True)
        v.check_not_all_masked(logits, class_axis)


def _add_z_loss(
    xp: Any, losses: Any, start: int, stop: int, m: Any, log_s: Any, z_loss: float, valid: Any
) -> Any:
    """Add ``z_loss * lse**2`` to the rows' losses (not to ignored rows); return ``2 z_loss lse``.

    ``valid`` is None when every row counts (probability targets).
    """
    lse = m[:, 0] + log_s
    term = z_loss * (lse * lse)
    dterm = (2 * z_loss) * lse
    if valid is not None:  # an ignored row gets nothing, even if its logsumexp is infinite
        term = xp.where(valid, term, 0)
        dterm = xp.where(valid, dterm, 0)
    losses[start:stop] += term
    return dterm


def _coefficients(
    ops: Ops,
    zb: Any,
    target: Any,
    rows: Rows,
    start: int,
    stop: int,
    w: Any,
    smooth_w: Any,
    eps: float,
) -> Any:
    """The coefficient rows ``a`` of one block (see the module docstring)."""
    xp = ops.xp
    if rows.safe_target is not None:  # class indices with label smoothing
        a = xp.zeros_like(zb) + smooth_w
        r = ops.arange(stop - start, zb)
        a[r, rows.safe_target[start:stop]] += (1 - eps) * rows.coeff_sum_per_row[start:stop]
        if rows.valid is None:  # (multiplying by 1 changes nothing)
            return a
        return a * ops.astype(rows.valid[start:stop], zb.dtype)[:, None]
    t = ops.astype(target[start:stop], zb.dtype)
    a = t * (1 - eps) if eps > 0 else t
    if w is not None:
        a = a * w
    if smooth_w is not None:
        a = a + smooth_w
    return a


def softmax_cross_entropy(
    ops: Ops,
    logits: Any,
    target: Any,
    weight: Any,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    kinds: tuple[str, str, str | None],
    want_grad: bool,
    z_loss: object = 0.0,
    logit_softcap: object = None,
) -> tuple[Any, Any]:
    """Validate, lay the classes out along the last axis, run the kernel, reduce.

    ``kinds`` are the dtype kinds of (logits, target, weight). Returns ``(loss, grad)``: the loss
    reduced as asked, in the logits' dtype, and the gradient of that loss (of the summed per-element
    losses for ``reduction="none"``) with the logits' shape and dtype, or ``None``.
    """
    ignore_index = v.check_ignore_index(ignore_index)
    reduction = v.check_reduction(reduction)
    eps = v.check_label_smoothing(label_smoothing)
    z_loss = v.check_z_loss(z_loss)
    logit_softcap = v.check_logit_softcap(logit_softcap)
    logits_kind, target_kind, weight_kind = kinds
    class_axis, index_target = v.softmax_ce_target_kind(logits, logits_kind, target, target_kind)
    num_classes = logits.shape[class_axis]
    if weight is not None:
        v.check_weight(weight, weight_kind or "o", num_classes)

    batch_shape = tuple(logits.shape[:class_axis]) + tuple(logits.shape[class_axis + 1 :])
    if logits.ndim == 2:  # (no reshape: a view costs as much as the rest of a small call)
        z, t = logits, target
    elif logits.ndim == 1:
        z = logits.reshape(-1, num_classes)
        t = target.reshape(-1) if index_target else target.reshape(-1, num_classes)
    else:  # (N, C, d1, ...) -> (N * d1 * ..., C)
        z = ops.contiguous(ops.moveaxis(logits, 1, -1)).reshape(-1, num_classes)
        t = (
            target.reshape(-1)
            if index_target
            else (ops.contiguous(ops.moveaxis(target, 1, -1)).reshape(-1, num_classes))
        )

    cd = ops.compute_dtype(logits.dtype)
    # (resolve_rows also checks the class indices: cheaply, before any is used)
    rows = resolve_rows(ops, t, weight, ignore_index, index_target, z.shape[0], cd, z,
                        num_classes)
    scale = None
    if want_grad:
        scale = mean_scale(rows.denominator) if reduction == "mean" else 1.0
    losses, grad = loss_and_grad(ops, z, t, rows, weight, eps, cd, scale, None, z_loss,
                                 logit_softcap)
    reduced = reduce(losses if logits.ndim == 2 else losses.reshape(batch_shape), reduction,
                     rows.denominator)
    explain_non_finite(ops, reduced, losses, reduction, logits, class_axis)
    loss = ops.astype(reduced, logits.dtype)
    if grad is not None and logits.ndim > 2:
        shape = (logits.shape[0], *logits.shape[2:], num_classes)
        grad = ops.contiguous(ops.moveaxis(grad.reshape(shape), -1, 1))
    elif grad is not None and logits.ndim == 1:
        grad = grad.reshape(logits.shape)
    return loss, grad
