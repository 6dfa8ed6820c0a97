"""Cross entropy of a linear layer's output, chunk by chunk: the (N, V) logits are never formed."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _linear_ce
from ._arrays import OPS, as_array, kind
from .losses import Reduction


def linear_cross_entropy_value_and_grad(
    input: Any,
    linear_weight: Any,
    target: Any,
    *,
    linear_bias: Any = None,
    weight: Any = None,
    reduction: Reduction = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    r"""Softmax cross entropy of the logits ``input @ linear_weight.T + linear_bias``, and its gradients.

    The value is that of :func:`softmax_cross_entropy` applied to the logits
    :math:`Z = X W^\top + b` (the semantics of ``torch.nn.functional.linear_cross_entropy``), but
    the :math:`N \times V` logits are never formed: the rows of :math:`X` are processed
    ``chunk_size`` at a time, and the closed-form gradient :math:`G` of each chunk's logits is
    consumed at once,

    .. math:: \nabla_X L = G W, \qquad \nabla_W L = G^\top X, \qquad \nabla_b L = \textstyle\sum_n G_n.

    Only one chunk of logits (and one of its gradient) exists at any time. The mean divides by
    the denominator of the whole batch, so chunking changes nothing but rounding.

    Args:
        input: :math:`X`, shape ``(N, d)`` or ``(d,)``, floating-point.
        linear_weight: :math:`W`, shape ``(V, d)``, the input's dtype.
        target: class indices of shape ``(N,)`` (``()`` for 1-D input), or class probabilities
            of shape ``(N, V)`` (``(V,)``).
        linear_bias: optional :math:`b`, shape ``(V,)``, the input's dtype.
        weight, reduction, ignore_index, label_smoothing: as in :func:`softmax_cross_entropy`
            (``ignore_index=None`` means -100, as in PyTorch's ``linear_cross_entropy``).
        chunk_size: rows of :math:`X` per chunk; ``None`` picks :math:`\max(64, 2^{22}/V)` rows
            (16 MiB of float32 logits per chunk, with at most N rows). Beyond the gradients
            themselves, the extra memory is one chunk of logits (overwritten by their gradient)
            and a cache-sized slab of :math:`2^{20}` elements.

    Returns:
        ``(loss, grad_input, grad_linear_weight, grad_linear_bias)``: the loss as reduced, and its
        gradients with the shapes and dtype of ``input``, ``linear_weight`` and ``linear_bias``
        (``None`` without a bias). For ``reduction="none"`` they are the gradients of the sum of
        the per-row losses.
    """
    x = as_array(input, "input")
    w = as_array(linear_weight, "linear_weight")
    t = as_array(target, "target")
    b = None if linear_bias is None else as_array(linear_bias, "linear_bias")
    cw = None if weight is None else as_array(weight, "weight")
    with np.errstate(all="ignore"):
        problem = _linear_ce.prepare_linear(
            OPS, x, w, t, b, cw, ignore_index, reduction, label_smoothing, chunk_size,
            (kind(x), kind(w), kind(t), None if b is None else kind(b),
             None if cw is None else kind(cw)),
        )
        return _linear_ce.linear_value_and_grad(  # type: ignore[return-value]
            OPS, problem, (True, True, b is not None)
        )
