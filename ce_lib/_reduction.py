"""``reduction="mean" | "sum" | "none"``, the same for every loss and both backends."""

from __future__ import annotations

import math
from typing import Any


def mean_scale(denominator: Any) -> float:
    """1 / denominator; 0 for an empty mean (nothing to average: the loss is 0, not NaN)."""
    d = float(denominator)
    return 1.0 / d if d > 0 else 0.0


def reduce(losses: Any, reduction: str, denominator: Any = None) -> Any:
    """Sum, average or keep per-element ``losses``.

    ``denominator`` is what the mean divides by; by default the number of elements.
    """
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    n = math.prod(losses.shape) if denominator is None else denominator
    return total * mean_scale(n)
