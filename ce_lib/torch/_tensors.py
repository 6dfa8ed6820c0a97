"""How the torch backend turns arguments into tensors and picks the precision it computes in."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _softmax_ce

_HALF = (torch.float16, torch.bfloat16)


def as_tensor(x: Any, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` as a tensor on ``like``'s device (array-likes accepted); never a copy of a tensor."""
    if isinstance(x, torch.Tensor):
        return x
    try:
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError
        tensor = torch.as_tensor(arr)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be a tensor or array-like, got {type(x).__name__}") from exc
    return tensor if like is None else tensor.to(like.device)


def kind(x: torch.Tensor) -> str:
    """The dtype's kind as ce_lib._validation spells it."""
    if x.dtype.is_floating_point:
        return "f"
    if x.dtype.is_complex:
        return "c"
    return "b" if x.dtype == torch.bool else "i"


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16 and bfloat16 are computed in float32 and rounded once at the end."""
    return torch.float32 if dtype in _HALF else dtype


def _block_elements(like: torch.Tensor) -> int:
    # On a CPU, blocks of rows that fit in L3 (fewer, larger ops beat L2-sized ones for torch); on an accelerator, one block: kernels are fast
    # and launches are what costs.
    return 1 << 20 if like.device.type == "cpu" else 1 << 62


def min_max(x: torch.Tensor) -> tuple[int, int]:
    lo, hi = torch.aminmax(x)  # one reduction; then one transfer of both values from a device
    return (int(lo), int(hi)) if x.is_cpu else tuple(torch.stack((lo, hi)).tolist())


def _take_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.gather(x, 1, y.unsqueeze(1)).squeeze(1)


def _sub_rows(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> None:
    x.scatter_add_(1, y.unsqueeze(1), torch.neg(v).unsqueeze(1))  # x - v is x + (-v), exactly


OPS = _softmax_ce.Ops(
    xp=torch,
    arange=lambda n, like: torch.arange(n, device=like.device),
    empty=lambda shape, dtype, like: torch.empty(shape, dtype=dtype, device=like.device),
    astype=lambda x, dtype: x.to(dtype),
    block_elements=_block_elements,
    compute_dtype=compute_dtype,
    moveaxis=torch.movedim,
    contiguous=lambda x: x.contiguous(),
    row_sum=lambda x: torch.sum(x, 1, keepdim=True),
    map_blocks=lambda run, num_rows, block: run(0, num_rows),  # torch ops use every core already
    min_max=min_max,
    take_rows=_take_rows,
    sub_rows=_sub_rows,
)
