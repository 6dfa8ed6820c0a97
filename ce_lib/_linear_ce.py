"""linear_cross_entropy: the softmax cross-entropy kernel behind a linear layer, chunk by chunk.

loss(X W^T + b) is computed for chunks of ``chunk_size`` rows of X at a time; the chunk's logits
never leave a (chunk_size, V) buffer, which the kernel of ce_lib._softmax_ce overwrites with their closed-form
gradient G = dloss/dlogits. G is consumed at once: grad_X[chunk] = G W, grad_W += G^T X[chunk],
grad_b += sum_rows G. The full (N, V) logits are never materialized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _validation as v
from ._reduction import mean_scale, reduce
from ._softmax_ce import Ops, Rows, loss_and_grad, resolve_rows

#: Elements of one chunk's logits when ``chunk_size`` is None (float32: 16 MiB).
LINEAR_CHUNK_ELEMENTS = 1 << 22
#: ... but at least this many rows per chunk: each chunk reads the whole weight matrix three times,
#: so fewer rows make the matrix products memory-bound. The chunk's buffer then takes at most
#: 64 * V * 4 bytes (float32), less than the weight's own gradient (V * d * 4) once d >= 64.
LINEAR_MIN_CHUNK_ROWS = 64
#: Rows the kernel processes at a time inside a chunk (float32: 4 MiB, cache-sized), writing the
#: gradient into a buffer of this size, then over the slab's logits, which are no longer needed.
LINEAR_SLAB_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class _Shape:
    """What the validators read from an array, for the logits that are never materialized."""

    shape: tuple[int, ...]
    dtype: Any

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass
class LinearProblem:
    """A validated ``linear_cross_entropy`` call, flattened to ``N`` rows of ``d`` features."""

    x: Any  #: (N, d) input
    w: Any  #: (V, d) linear weight
    b: Any  #: (V,) linear bias or None
    target: Any  #: (N,) class indices or (N, V) class probabilities
    weight: Any  #: (V,) class weights or None
    rows: Rows  #: resolved for all N rows, so that the mean divides by the global denominator
    reduction: str
    label_smoothing: float
    chunk_size: int  #: rows per chunk
    dtype: Any  #: the input's dtype: that of the outputs
    compute_dtype: Any
    input_shape: tuple[int, ...]
    loss_shape: tuple[int, ...]  #: () for 1-D input, (N,) otherwise
    z_loss: float = 0.0  #: weight of the z-loss term (0: off)
    logit_softcap: float | None = None  #: the cap c of c tanh(z / c) (None: off)


def check_chunk_size(chunk_size: object) -> int | None:
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not hasattr(chunk_size, "__index__"):
        raise TypeError(f"chunk_size must be a positive int or None, got {type(chunk_size).__name__}")
    if chunk_size.__index__() < 1:
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size}")
    return chunk_size.__index__()


def default_chunk_size(num_rows: int, num_classes: int) -> int:
    """Rows per chunk: :data:`LINEAR_CHUNK_ELEMENTS` logits, at least :data:`LINEAR_MIN_CHUNK_ROWS`."""
    rows = max(LINEAR_MIN_CHUNK_ROWS, LINEAR_CHUNK_ELEMENTS // max(num_classes, 1))
    return max(1, min(num_rows, rows))


def prepare_linear(
    ops: Ops,
    input: Any,
    linear_weight: Any,
    target: Any,
    linear_bias: Any,
    weight: Any,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    chunk_size: object,
    kinds: tuple[str, str, str, str | None, str | None],
    z_loss: object = 0.0,
    logit_softcap: object = None,
) -> LinearProblem:
    """Validate the arguments of ``linear_cross_entropy`` and resolve the rows' targets.

    ``kinds`` are the dtype kinds of (input, linear_weight, target, linear_bias, weight).
    ``ignore_index=None`` means -100, as in ``torch.nn.functional.linear_cross_entropy``.
    """
    ignore_index = v.check_ignore_index(-100 if ignore_index is None else ignore_index)
    reduction = v.check_reduction(reduction)
    eps = v.check_label_smoothing(label_smoothing)
    z_loss = v.check_z_loss(z_loss)
    logit_softcap = v.check_logit_softcap(logit_softcap)
    chunk = check_chunk_size(chunk_size)
    input_kind, lw_kind, target_kind, lb_kind, weight_kind = kinds
    v.check_floating(input_kind, "input", input.dtype)
    v.check_floating(lw_kind, "linear_weight", linear_weight.dtype)
    if input.ndim not in (1, 2):
        raise ValueError(
            f"input must have shape (d,) or (N, d), got shape {tuple(input.shape)}"
        )
    if linear_weight.ndim != 2:
        raise ValueError(
            f"linear_weight must have shape (V, d), got shape {tuple(linear_weight.shape)}"
        )
    num_features = input.shape[-1]
    num_classes = linear_weight.shape[0]
    if linear_weight.shape[1] != num_features:
        raise ValueError(
            f"linear_weight must have shape (V, {num_features}) to match input of shape "
            f"{tuple(input.shape)} (the last axes are the features), "
            f"got shape {tuple(linear_weight.shape)}"
        )
    if num_classes == 0:
        raise ValueError("linear_weight must have at least one row (one class), got shape "
                         f"{tuple(linear_weight.shape)}")
    if linear_weight.dtype != input.dtype:
        raise TypeError(
            f"linear_weight must have the input's dtype {input.dtype}, got {linear_weight.dtype}"
        )
    if linear_bias is not None:
        v.check_floating(lb_kind or "o", "linear_bias", linear_bias.dtype)
        if tuple(linear_bias.shape) != (num_classes,):
            raise ValueError(
                f"linear_bias must have shape ({num_classes},), one entry per row of "
                f"linear_weight, got shape {tuple(linear_bias.shape)}"
            )
        if linear_bias.dtype != input.dtype:
            raise TypeError(
                f"linear_bias must have the input's dtype {input.dtype}, got {linear_bias.dtype}"
            )
    batch = tuple(input.shape[:-1])
    logits_shape = (*batch, num_classes)
    if target_kind == "i" and tuple(target.shape) != batch:
        raise ValueError(
            f"target of class indices must have shape {batch} for input of shape "
            f"{tuple(input.shape)}, got shape {tuple(target.shape)}"
        )
    if target_kind == "f" and tuple(target.shape) != logits_shape:
        raise ValueError(
            f"target of class probabilities must have shape {logits_shape} (input's batch shape "
            f"and linear_weight's rows), got shape {tuple(target.shape)}"
        )
    _, index_target = v.softmax_ce_target_kind(
        _Shape(logits_shape, input.dtype), input_kind, target, target_kind
    )
    if weight is not None:
        v.check_weight(weight, weight_kind or "o", num_classes)
    if index_target:
        v.check_class_indices(target, num_classes, ignore_index)

    x = input.reshape(-1, num_features)
    t = target.reshape(-1) if index_target else target.reshape(-1, num_classes)
    num_rows = x.shape[0]
    cd = ops.compute_dtype(input.dtype)
    rows = resolve_rows(ops, t, weight, ignore_index, index_target, num_rows, cd, x)
    return LinearProblem(
        x=x,
        w=linear_weight,
        b=linear_bias,
        target=t,
        weight=weight,
        rows=rows,
        reduction=reduction,
        label_smoothing=eps,
        chunk_size=chunk if chunk is not None else default_chunk_size(num_rows, num_classes),
        dtype=input.dtype,
        compute_dtype=cd,
        input_shape=tuple(input.shape),
        loss_shape=batch,
        z_loss=z_loss,
        logit_softcap=logit_softcap,
    )


def _add_matmul(acc: Any, a: Any, b: Any) -> None:
    """``acc += a @ b`` through a temporary product (NumPy); torch passes its in-place addmm_."""
    acc += a @ b


def _rows_slice(rows: Rows, start: int, stop: int) -> Rows:
    """The rows [start, stop) of ``rows``, with the denominator of all of them."""

    def cut(a: Any) -> Any:
        return None if a is None else a[start:stop]

    return Rows(cut(rows.coeff_sum_per_row), rows.denominator, cut(rows.valid),
                cut(rows.safe_target))


def linear_pass(
    ops: Ops,
    p: LinearProblem,
    need: tuple[bool, bool, bool],
    upstream: Any = None,
    add_matmul: Callable[[Any, Any, Any], None] = _add_matmul,
) -> tuple[Any, Any, Any, Any]:
    """Per-row losses and the gradients asked for by ``need`` (input, linear_weight, linear_bias).

    The gradients are those of ``sum_n s_n loss_n`` with ``s_n`` the mean's ``1 / denominator`` (1
    for "sum" and "none") times ``upstream[n]`` when given; all four results are in the compute
    dtype, the gradients with the flattened shapes (N, d), (V, d), (V,) (None where not asked).
    ``add_matmul(acc, a, b)`` does ``acc += a @ b`` (a backend can do it without a temporary).

    Memory: one (chunk, V) buffer for a chunk's logits, overwritten slab by slab (about
    :data:`LINEAR_SLAB_ELEMENTS` each) by their gradient, which the kernel writes into a small
    slab-sized buffer that stays in cache; then three matrix products consume the chunk.
    """
    xp = ops.xp
    cd = p.compute_dtype
    x = ops.astype(p.x, cd)
    w = ops.astype(p.w, cd)
    b = None if p.b is None else ops.astype(p.b, cd)
    need_x, need_w, need_b = need[0], need[1], need[2] and b is not None
    want = need_x or need_w or need_b
    num_rows, num_classes = x.shape[0], w.shape[0]
    chunk = max(1, min(p.chunk_size, num_rows))
    slab = max(1, min(chunk, LINEAR_SLAB_ELEMENTS // num_classes))
    scale = None
    if want:
        scale = mean_scale(p.rows.denominator) if p.reduction == "mean" else 1.0
    losses = ops.empty((num_rows,), cd, x)
    z = ops.empty((chunk, num_classes), cd, x)
    g = ops.empty((slab, num_classes), cd, x) if want else None
    grad_x = ops.empty(tuple(x.shape), cd, x) if need_x else None
    grad_w = xp.zeros_like(w) if need_w else None
    grad_b = xp.zeros_like(b) if need_b else None
    u = None if upstream is None else ops.astype(upstream, cd)
    w_t = w.T
    for start in range(0, num_rows, chunk):
        stop = min(start + chunk, num_rows)
        x_c, z_c = x[start:stop], z[: stop - start]
        xp.matmul(x_c, w_t, out=z_c)
        if b is not None:
            z_c += b
        for first in range(start, stop, slab):  # the kernel, slab by slab; z_c becomes G
            last = min(first + slab, stop)
            z_s = z_c[first - start : last - start]
            losses[first:last], g_s = loss_and_grad(
                ops, z_s, p.target[first:last], _rows_slice(p.rows, first, last), p.weight,
                p.label_smoothing, cd, scale, None if g is None else g[: last - first],
                p.z_loss, p.logit_softcap,
            )
            if g_s is not None and u is not None:
                xp.multiply(g_s, u[first:last, None], out=z_s)
            elif g_s is not None:
                z_s[...] = g_s
        if need_x:
            xp.matmul(z_c, w, out=grad_x[start:stop])
        if need_w:
            add_matmul(grad_w, z_c.T, x_c)
        if need_b:
            grad_b += z_c.sum(0)
    return losses, grad_x, grad_w, grad_b


def check_linear_losses(p: LinearProblem, losses: Any, ops: Ops) -> None:
    """Explain non-finite losses: NaN or inf in an argument, or a bias that masks every class."""
    if bool(ops.xp.isfinite(losses).all()):
        return
    v.check_finite_logits(p.x, "input")
    v.check_finite_logits(p.w, "linear_weight")
    if p.b is not None:
        v.check_finite_logits(p.b, "linear_bias", allow_neg_inf=True)
        v.check_not_all_masked(p.b.reshape(1, -1), 1, "linear_bias")
    # Otherwise a target class is masked by a -inf bias (an infinite loss, as in torch), or the
    # logits overflowed.


def linear_value_and_grad(
    ops: Ops,
    p: LinearProblem,
    need: tuple[bool, bool, bool],
    add_matmul: Callable[[Any, Any, Any], None] = _add_matmul,
) -> tuple[Any, Any, Any, Any]:
    """The reduced loss and the gradients asked for, in the input's dtype and shapes.

    For ``reduction="none"`` the gradients are those of the sum of the per-row losses.
    """
    losses, gx, gw, gb = linear_pass(ops, p, need, None, add_matmul)
    check_linear_losses(p, losses, ops)
    loss = ops.astype(reduce(losses.reshape(p.loss_shape), p.reduction, p.rows.denominator),
                      p.dtype)
    return loss, *finish_linear_grads(ops, p, gx, gw, gb)


def finish_linear_grads(ops: Ops, p: LinearProblem, gx: Any, gw: Any, gb: Any) -> tuple[Any, ...]:
    """The gradients of :func:`linear_pass` in the arguments' dtype, ``grad_x`` in the input's shape."""
    return (
        None if gx is None else ops.astype(gx, p.dtype).reshape(p.input_shape),
        None if gw is None else ops.astype(gw, p.dtype),
        None if gb is None else ops.astype(gb, p.dtype),
    )
