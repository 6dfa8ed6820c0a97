"""Softmax, log-softmax, log-sum-exp, sigmoid and log-sigmoid: PyTorch's own kernels, validated."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import _validation as v
from .._docs import document
from ._tensors import as_tensor, compute_dtype, kind


def prepare(x: Any, name: str = "x") -> tuple[torch.Tensor, torch.Tensor]:
    """The tensor, and the tensor in the precision to compute in (float32 for half precision:
    PyTorch's own bfloat16 kernels round intermediate results and lose digits)."""
    t = as_tensor(x, name)
    v.check_floating(kind(t), name, t.dtype)
    return t, t.to(compute_dtype(t.dtype))


def explain_nan(result: torch.Tensor, x: torch.Tensor, axis: int | None,
                name: str = "x") -> torch.Tensor:
    """Valid input never gives NaN: if the result has one, say which input caused it."""
    if bool(torch.isnan(result).any()):
        v.check_no_nan(x, name)
        if axis is not None:
            v.check_finite_logits(x, name, allow_neg_inf=True)
            v.check_not_all_masked(x, axis, name)
    return result


def logsumexp(x: Any, axis: int = -1, keepdims: bool = False) -> torch.Tensor:
    t, tc = prepare(x)
    return explain_nan(torch.logsumexp(tc, dim=axis, keepdim=keepdims), t, None).to(t.dtype)


def log_softmax(x: Any, axis: int = -1) -> torch.Tensor:
    t, tc = prepare(x)
    return explain_nan(torch.log_softmax(tc, dim=axis), t, axis).to(t.dtype)


def softmax(x: Any, axis: int = -1) -> torch.Tensor:
    t, tc = prepare(x)
    return explain_nan(torch.softmax(tc, dim=axis), t, axis).to(t.dtype)


def sigmoid(x: Any) -> torch.Tensor:
    t, tc = prepare(x)
    return explain_nan(torch.sigmoid(tc), t, None).to(t.dtype)


def log_sigmoid(x: Any) -> torch.Tensor:
    t, tc = prepare(x)
    return explain_nan(F.logsigmoid(tc), t, None).to(t.dtype)


document(logsumexp, log_softmax, softmax, sigmoid, log_sigmoid)
