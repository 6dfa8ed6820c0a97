"""Cross entropy of a linear layer's output, chunk by chunk: the (N, V) logits are never formed."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _linear_ce
from .._docs import document
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
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
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
            z_loss, logit_softcap,
        )
        return _linear_ce.linear_value_and_grad(  # type: ignore[return-value]
            OPS, problem, (True, True, b is not None)
        )


document(linear_cross_entropy_value_and_grad)
