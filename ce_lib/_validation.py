"""Argument validation shared by both backends.

Every check here works on NumPy arrays and torch tensors alike: it only uses what both have
(``.shape``, ``.ndim``, comparisons, ``.any()``, ``.min()``, ``.max()``, ``.sum(axis)``). What
differs between the libraries, the *kind* of a dtype, is passed in by the backend as one letter:
``"f"`` floating, ``"i"`` integer (signed or unsigned), ``"b"`` boolean, ``"c"`` complex, ``"o"``
anything else. The same bad input therefore raises the same exception type with the same
message in both backends.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

REDUCTIONS = ("mean", "sum", "none")

# Row sums of a probability vector must be 1 within sqrt(machine epsilon) of its dtype.
_SUM_TOLERANCE = {2: 3.2e-2, 4: 3.5e-4, 8: 1.5e-8}

_KIND_NAMES = {
    "f": "floating-point",
    "i": "integer",
    "b": "boolean",
    "c": "complex",
    "o": "non-numeric",
}


def _size(x: Any) -> int:
    return math.prod(x.shape)


def _any(mask: Any) -> bool:
    return bool(mask.any())


def _value(x: Any) -> float:
    """A 0-d array or tensor as a float (detached: no autograd warning for inputs that need grad)."""
    return float(x.detach() if hasattr(x, "detach") else x)


# Plain Python floats and ints (the common case) skip the abstract-base-class checks, which cost
# more than the rest of a small call's validation.
FLOAT_OR_INT = (float, int)


def check_reduction(reduction: object) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction  # type: ignore[return-value]


def real_number(value: object, name: str, expected: str = "a float") -> float:
    """``value`` as a float; TypeError naming ``name`` unless it is a real number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return float(value)


def check_label_smoothing(label_smoothing: object) -> float:
    if type(label_smoothing) is float and 0.0 <= label_smoothing <= 1.0:
        return label_smoothing
    value = real_number(label_smoothing, "label_smoothing")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {value}")
    return value


def check_z_loss(z_loss: object) -> float:
    """``z_loss``: the weight of PaLM's z-loss term, a finite real number >= 0 (0 turns it off)."""
    if type(z_loss) in FLOAT_OR_INT and 0 <= z_loss < math.inf:
        return float(z_loss)
    value = real_number(z_loss, "z_loss")
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"z_loss must be a finite number >= 0, got {value}")
    return value


def check_logit_softcap(logit_softcap: object) -> float | None:
    """``logit_softcap``: None (no capping) or the cap c of ``c * tanh(z / c)``, finite and > 0."""
    if logit_softcap is None:
        return None
    if type(logit_softcap) in FLOAT_OR_INT and 0 < logit_softcap < math.inf:
        return float(logit_softcap)
    value = real_number(logit_softcap, "logit_softcap", "a float or None")
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"logit_softcap must be a finite number > 0 or None, got {value}")
    return value


def check_ignore_index(ignore_index: object) -> int:
    if type(ignore_index) is int:
        return ignore_index
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    return int(ignore_index)


def check_base(base: object) -> float | None:
    """``base`` of an information measure: None for nats, else a real number > 0 and != 1."""
    if base is None:
        return None
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be a positive number or None, got {type(base).__name__}")
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise ValueError(f"base must be positive, finite and not 1, got {base}")
    return float(base)


def check_floating(kind: str, name: str, dtype: object) -> None:
    """Losses and activations are defined on real numbers: refuse integer or boolean arrays."""
    if kind != "f":
        raise TypeError(
            f"{name} must be a floating-point array, got {_KIND_NAMES.get(kind, kind)} dtype {dtype}"
        )


def check_no_nan(x: Any, name: str) -> None:
    if _size(x) and _any(x != x):
        raise ValueError(f"{name} contains NaN")


def check_probabilities(x: Any, name: str) -> None:
    """Every entry is a probability: no NaN, all in [0, 1]."""
    check_no_nan(x, name)
    if _size(x) and (_any(x < 0) or _any(x > 1)):
        lo, hi = _value(x.min()), _value(x.max())
        raise ValueError(f"{name} must contain probabilities in [0, 1], got values in [{lo}, {hi}]")


def check_distribution(x: Any, name: str, itemsize: int, axis: int = -1) -> None:
    """Rows along ``axis`` are probability vectors: entries in [0, 1] that sum to 1."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (the classes), got a scalar")
    check_probabilities(x, name)
    if _size(x):
        deviation = _value(abs(x.sum(axis) - 1).max())
        tolerance = _SUM_TOLERANCE.get(itemsize, 1.5e-8)
        if deviation > tolerance:
            raise ValueError(
                f"{name} must sum to 1 along axis {axis} (a probability distribution); "
                f"a row is off by {deviation:.3g}"
            )


def check_same_shape(a: Any, b: Any, name_a: str, name_b: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{name_b} must have the same shape as {name_a}: "
            f"{name_a} has shape {tuple(a.shape)}, {name_b} has shape {tuple(b.shape)}"
        )


def check_broadcast_pair(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """``a`` and ``b`` broadcast against each other (NumPy's rules, which torch follows)."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if not all(x == y or 1 in (x, y) for x, y in zip(reversed(sa), reversed(sb), strict=False)):
        raise ValueError(f"{name_a} of shape {sa} and {name_b} of shape {sb} do not broadcast together")


def check_broadcastable(x: Any, to_shape: tuple[int, ...], name: str, to_name: str) -> None:
    shape = tuple(x.shape)
    ok = len(shape) <= len(to_shape) and all(
        s in (1, t) for s, t in zip(reversed(shape), reversed(to_shape), strict=False)
    )
    if not ok:
        raise ValueError(
            f"{name} of shape {shape} cannot be broadcast to {to_name}'s shape {to_shape}"
        )


def check_finite_logits(logits: Any, name: str = "logits", allow_neg_inf: bool = False) -> None:
    """Explain why a result came out non-finite: NaN, +inf, or (unless allowed) -inf logits.

    The backends call this only after a computation produced a non-finite value, so valid input
    pays nothing for the check.
    """
    check_no_nan(logits, name)
    if _any(logits == math.inf):
        raise ValueError(
            f"{name} contains +inf; logits must be finite"
            + (" or -inf (a masked class)" if allow_neg_inf else "")
        )
    if not allow_neg_inf and _any(logits == -math.inf):
        raise ValueError(f"{name} contains -inf; logits must be finite")


def check_not_all_masked(logits: Any, axis: int, name: str = "logits") -> None:
    """A row whose logits are all -inf has no probability distribution."""
    if _size(logits) and _any((logits == -math.inf).all(axis)):
        raise ValueError(f"{name} has a row whose logits are all -inf: no class is possible")


def check_weight(weight: Any, kind: str, num_classes: int, name: str = "weight") -> None:
    """Class weights: a 1-D floating array of length C with finite, non-negative entries."""
    check_floating(kind, name, weight.dtype)
    if tuple(weight.shape) != (num_classes,):
        raise ValueError(
            f"{name} must have shape ({num_classes},), one weight per class, "
            f"got shape {tuple(weight.shape)}"
        )
    check_no_nan(weight, name)
    if num_classes and (_any(weight < 0) or _any(weight == math.inf)):
        raise ValueError(f"{name} must be finite and non-negative")


def check_class_indices(
    target: Any, num_classes: int, ignore_index: int | None, name: str = "target"
) -> None:
    """Every class index is in [0, C) or equals ``ignore_index`` (if there is one)."""
    if not _size(target):
        return
    bad = (target < 0) | (target >= num_classes)
    if ignore_index is not None:
        bad = bad & (target != ignore_index)
    if _any(bad):
        value = int(target[bad].reshape(-1)[0])
        also = "" if ignore_index is None else f" (and not ignore_index={ignore_index})"
        raise ValueError(f"{name} contains class index {value} outside [0, {num_classes}){also}")


def softmax_ce_target_kind(
    logits: Any, logits_kind: str, target: Any, target_kind: str
) -> tuple[int, bool]:
    """Check the shapes of ``softmax_cross_entropy``'s arguments, as torch lays them out.

    Logits are ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``: the class axis is 0 for 1-D logits and 1
    otherwise. Returns ``(class_axis, is_class_index_target)``.
    """
    check_floating(logits_kind, "logits", logits.dtype)
    if logits.ndim == 0:
        raise ValueError("logits must have shape (C,), (N, C) or (N, C, d1, ...), got a scalar")
    class_axis = 0 if logits.ndim == 1 else 1
    shape = tuple(logits.shape)
    if shape[class_axis] == 0:
        raise ValueError(f"logits must have at least one class, got shape {shape}")
    if target_kind == "i":
        expected = shape[:class_axis] + shape[class_axis + 1 :]
        if tuple(target.shape) != expected:
            raise ValueError(
                f"target of class indices must have shape {expected} for logits of shape {shape}, "
                f"got shape {tuple(target.shape)}"
            )
        return class_axis, True
    if target_kind == "f":
        if tuple(target.shape) != shape:
            raise ValueError(
                f"target of class probabilities must have the logits' shape {shape}, "
                f"got shape {tuple(target.shape)}"
            )
        check_probabilities(target, "target")
        return class_axis, False
    raise TypeError(
        "target must hold integer class indices or floating-point class probabilities, "
        f"got {_KIND_NAMES.get(target_kind, target_kind)} dtype {target.dtype}"
    )


def check_binary_target(target: Any, target_kind: str, reference: Any, reference_name: str) -> None:
    """Targets of the binary losses: the prediction's shape, values in [0, 1]."""
    if target_kind not in ("f", "i", "b"):
        raise TypeError(f"target must be numeric, got dtype {target.dtype}")
    check_same_shape(reference, target, reference_name, "target")
    check_probabilities(target, "target")
