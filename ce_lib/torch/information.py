"""Entropy, cross entropy and KL divergence of discrete distributions (torch backend)."""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import _validation as v
from .._docs import document
from ._tensors import as_tensor, compute_dtype, kind


def _distribution(x: Any, name: str, *, allow_integer: bool, like: torch.Tensor | None = None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    t = as_tensor(x, name, like)
    k = kind(t)
    if allow_integer and k in ("i", "b"):
        t = t.to(dtype or torch.float64)
    else:
        v.check_floating(k, name, t.dtype)
    v.check_distribution(t, name, t.element_size())
    return t


def _in_base(h: torch.Tensor, base: float | None, dtype: torch.dtype) -> torch.Tensor:
    if base is not None:
        h = h / math.log(base)
    return h.to(dtype)


def entropy(p: Any, *, base: float | None = None) -> torch.Tensor:
    b = v.check_base(base)
    pt = _distribution(p, "p", allow_integer=True)
    pc = pt.to(compute_dtype(pt.dtype))
    return _in_base(0.0 - torch.special.xlogy(pc, pc).sum(-1), b, pt.dtype)  # +0, not -0


def _pair(p: Any, q: Any) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    qt = _distribution(q, "q", allow_integer=False)
    pt = _distribution(p, "p", allow_integer=True, like=qt, dtype=qt.dtype)
    v.check_broadcast_pair(pt, qt, "p", "q")
    dtype = torch.promote_types(pt.dtype, qt.dtype)
    cd = compute_dtype(dtype)
    return pt.to(cd), qt.to(cd), dtype


def cross_entropy(p: Any, q: Any, *, base: float | None = None) -> torch.Tensor:
    b = v.check_base(base)
    pc, qc, dtype = _pair(p, q)
    return _in_base(0.0 - torch.special.xlogy(pc, qc).sum(-1), b, dtype)


def kl_divergence(p: Any, q: Any, *, base: float | None = None) -> torch.Tensor:
    b = v.check_base(base)
    pc, qc, dtype = _pair(p, q)
    terms = torch.special.xlogy(pc, pc) - torch.special.xlogy(pc, qc)
    return _in_base(terms.sum(-1), b, dtype)


document(entropy, cross_entropy, kl_divergence)
