"""Shared test helpers: the two backends, hypothesis strategies and independent references.

Every reference here is computed without ce_lib: either with ``torch.nn.functional`` in float64 or
with NumPy in extended precision (``np.longdouble``), always from the *rounded* inputs the backend
actually received (a float16 input is compared with the exact answer for the float16 values).
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ce_lib.numpy as cn
import ce_lib.torch as ct

LD = np.longdouble

# On a failure hypothesis formats the falsifying example as a patch with libcst, imported then; in
# this environment that import emits a DeprecationWarning (mypy_extensions.TypedDict), which
# filterwarnings=error turns into a pytest INTERNALERROR that hides the failure. Import it now.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

#: Hypothesis settings for the property tests: small, fast and without deadlines (torch's first
#: call of an operator can be slow).
#: ``CE_LIB_TEST_PROFILE=mutation`` (scripts/mutation_test.sh) runs each property with a few
#: derandomized examples: every mutant then meets the same inputs, and a run takes hours, not days.
MUTATION_PROFILE = os.environ.get("CE_LIB_TEST_PROFILE") == "mutation"
SETTINGS = settings(
    max_examples=6 if MUTATION_PROFILE else 60,
    deadline=None,
    derandomize=MUTATION_PROFILE,
    database=None if MUTATION_PROFILE else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(SETTINGS, max_examples=4 if MUTATION_PROFILE else 25)

TORCH_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}

#: (rtol, atol) for comparing a backend's output in a dtype with the exact answer for its inputs.
TOL = {
    "float64": (1e-12, 1e-12),
    "float32": (1e-5, 1e-6),
    "float16": (1e-2, 1e-3),
    "bfloat16": (1e-2, 2e-3),
}
#: float64 results must agree with torch's float64 results "to the last digit".
TORCH_EXACT = (1e-13, 1e-13)


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    name: str
    mod: ModuleType

    @property
    def dtypes(self) -> tuple[str, ...]:
        if self.name == "numpy":
            return ("float16", "float32", "float64")
        return ("float16", "bfloat16", "float32", "float64")

    def array(self, values: Any, dtype: str | None = None) -> Any:
        """``values`` as this backend's array (a fresh copy), rounded to ``dtype`` if given."""
        a = np.array(values)
        if self.name == "numpy":
            return a.astype(dtype) if dtype is not None else a
        t = torch.from_numpy(a)
        return t.to(TORCH_DTYPES[dtype]) if dtype is not None else t

    def maybe(self, values: Any, dtype: str | None = None) -> Any:
        return None if values is None else self.array(values, dtype)

    def __repr__(self) -> str:
        return self.name


NUMPY = Backend("numpy", cn)
TORCH = Backend("torch", ct)
BACKENDS = (NUMPY, TORCH)

#: ``@backends`` runs a test once per backend, as argument ``be``.
backends = pytest.mark.parametrize("be", BACKENDS, ids=lambda b: b.name)


def to_np(x: Any) -> np.ndarray:
    """A backend result (or input) as a NumPy array, floating point widened to float64."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.is_floating_point():
            x = x.to(torch.float64)
        return x.numpy()
    a = np.asarray(x)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def dtype_name(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return str(x.dtype).removeprefix("torch.")
    return np.asarray(x).dtype.name


def is_backend_array(be: Backend, x: Any) -> bool:
    return isinstance(x, torch.Tensor) if be.name == "torch" else isinstance(x, np.ndarray)


def assert_close(actual: Any, expected: Any, dtype: str, *, tol: tuple[float, float] | None = None,
                 check_dtype: bool = True) -> None:
    """``actual`` (a backend result) equals ``expected`` (float64) within ``dtype``'s tolerance.

    Also checks the shape, the type of array and, unless told not to, the dtype.
    """
    rtol, atol = tol if tol is not None else TOL[dtype]
    exp = np.asarray(expected, dtype=np.float64)
    assert isinstance(actual, (np.ndarray, np.generic, torch.Tensor)), type(actual)
    if check_dtype:
        assert dtype_name(actual) == dtype, (dtype_name(actual), dtype)
    act = to_np(actual)
    assert act.shape == exp.shape, (act.shape, exp.shape)
    np.testing.assert_allclose(act, exp, rtol=rtol, atol=atol, equal_nan=False)


def torch64(x: Any) -> torch.Tensor:
    """A float64 (or integer) tensor with the values of a backend array."""
    return torch.from_numpy(np.array(to_np(x)))


def snapshot(*arrays: Any) -> list[Any]:
    """Copies of the given arrays, to check afterwards that nothing was modified."""
    out = []
    for a in arrays:
        if isinstance(a, torch.Tensor):
            out.append(a.detach().clone())
        elif isinstance(a, np.ndarray):
            out.append(a.copy())
        else:
            out.append(a)
    return out


def assert_unchanged(arrays: list[Any], copies: list[Any]) -> None:
    for a, c in zip(arrays, copies, strict=True):
        if isinstance(a, torch.Tensor):
            assert a.dtype == c.dtype and a.shape == c.shape
            assert torch.equal(a.detach(), c) or (
                a.is_floating_point() and torch.equal(a.detach().isnan(), c.isnan())
                and torch.equal(a.detach().nan_to_num(), c.nan_to_num())
            )
        elif isinstance(a, np.ndarray):
            assert a.dtype == c.dtype and a.shape == c.shape
            np.testing.assert_array_equal(a, c)


def assert_refused(fn: Any, args: tuple | list, kwargs: dict, exc: type, match: str) -> None:
    """``fn(*args, **kwargs)`` raises ``exc`` matching ``match`` and modifies none of its
    array arguments: bad input gets a clear error and changes nothing."""
    copies = snapshot(*args, *kwargs.values())
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
    assert_unchanged([*args, *kwargs.values()], copies)


# --------------------------------------------------------------------------------------------
# Independent references (extended precision NumPy)
# --------------------------------------------------------------------------------------------


def ref_logsumexp(x: Any, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    x = np.asarray(x, dtype=LD)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out


def ref_log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=LD)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        return (x - m) - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def ref_softmax(x: Any, axis: int = -1) -> np.ndarray:
    return np.exp(ref_log_softmax(x, axis))


def ref_sigmoid(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=LD)
    with np.errstate(all="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def ref_log_sigmoid(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=LD)
    with np.errstate(all="ignore"):
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _reduce(losses: np.ndarray, reduction: str, denominator: Any = None) -> np.ndarray:
    if reduction == "none":
        return losses
    total = np.sum(losses, dtype=LD)
    if reduction == "sum":
        return total
    d = losses.size if denominator is None else denominator
    return total / d if d > 0 else LD(0)


def ref_bce(p: Any, t: Any, weight: Any = None, reduction: str = "mean") -> np.ndarray:
    """torch's binary cross entropy: every log clamped at -100."""
    p = np.asarray(p, dtype=LD)
    t = np.asarray(t, dtype=LD)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100)
        log_1mp = np.maximum(np.log1p(-p), -100)
    losses = -(t * log_p + (1 - t) * log_1mp)
    if weight is not None:
        losses = losses * np.asarray(weight, dtype=LD)
    return _reduce(losses, reduction)


def ref_bce_with_logits(z: Any, t: Any, weight: Any = None, pos_weight: Any = None,
                        reduction: str = "mean") -> np.ndarray:
    z = np.asarray(z, dtype=LD)
    t = np.asarray(t, dtype=LD)
    pw = LD(1) if pos_weight is None else np.asarray(pos_weight, dtype=LD)
    losses = -(pw * t * ref_log_sigmoid(z) + (1 - t) * ref_log_sigmoid(-z))
    if weight is not None:
        losses = losses * np.asarray(weight, dtype=LD)
    return _reduce(losses, reduction)


def ref_bce_with_logits_grad(z: Any, t: Any, weight: Any = None, pos_weight: Any = None,
                             reduction: str = "mean") -> np.ndarray:
    """d/dz of -w [pw t log s(z) + (1 - t) log(1 - s(z))], summed for 'none'."""
    z = np.asarray(z, dtype=LD)
    t = np.asarray(t, dtype=LD)
    pw = LD(1) if pos_weight is None else np.asarray(pos_weight, dtype=LD)
    s = ref_sigmoid(z)
    g = -(pw * t * (1 - s) - (1 - t) * s)
    if weight is not None:
        g = g * np.asarray(weight, dtype=LD)
    g = np.broadcast_to(g, np.broadcast_shapes(z.shape, g.shape))
    return g / z.size if reduction == "mean" else g


def ref_categorical_ce(p: Any, t: Any, reduction: str = "mean") -> np.ndarray:
    """Tutorial categorical cross entropy, classes on the last axis, logs clamped at -100."""
    p = np.asarray(p, dtype=LD)
    t = np.asarray(t)
    if t.dtype.kind in "iu":
        t = np.eye(p.shape[-1], dtype=LD)[t]
    t = np.asarray(t, dtype=LD)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100)
    losses = -np.sum(t * log_p, axis=-1)
    return _reduce(losses, reduction)


def ce_coefficients(logits_shape: tuple[int, ...], target: Any, weight: Any, ignore_index: int,
                    label_smoothing: float) -> tuple[np.ndarray, Any]:
    """torch's cross entropy as sum_c a_c (-log softmax(z)_c): the coefficients ``a`` with the
    classes moved to the last axis, and the denominator of reduction="mean".
    """
    nc = logits_shape[0] if len(logits_shape) == 1 else logits_shape[1]
    w = np.ones(nc, dtype=LD) if weight is None else np.asarray(weight, dtype=LD)
    eps = LD(label_smoothing)
    target = np.asarray(target)
    if target.dtype.kind in "iu":
        valid = target != ignore_index
        safe = np.where(valid, target, 0)
        onehot = np.eye(nc, dtype=LD)[safe]
        w_y = w[safe] * valid
        a = (1 - eps) * w_y[..., None] * onehot + (eps / nc) * w * valid[..., None]
        denominator = np.sum(w_y, dtype=LD)
    else:
        t = np.asarray(target, dtype=LD)
        if t.ndim > 1:
            t = np.moveaxis(t, 1, -1)
        a = w * ((1 - eps) * t + eps / nc)
        denominator = math.prod(a.shape[:-1])
    return a, denominator


def classes_last(z: Any) -> np.ndarray:
    z = np.asarray(z)
    return z if z.ndim == 1 else np.moveaxis(z, 1, -1)


def ref_softmax_ce_losses(logits: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                          label_smoothing: float = 0.0) -> tuple[np.ndarray, Any]:
    """Per-element losses (shape of the target's batch) and the mean's denominator."""
    z = classes_last(np.asarray(logits, dtype=LD))
    a, denominator = ce_coefficients(np.shape(logits), target, weight, ignore_index,
                                     label_smoothing)
    logp = ref_log_softmax(z, -1)
    with np.errstate(invalid="ignore"):
        terms = np.where(a != 0, -a * logp, 0)
    return np.sum(terms, axis=-1), denominator


def ref_softmax_ce(logits: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                   reduction: str = "mean", label_smoothing: float = 0.0) -> np.ndarray:
    """torch.nn.functional.cross_entropy in extended precision; 0 for an empty mean."""
    losses, denominator = ref_softmax_ce_losses(logits, target, weight, ignore_index,
                                                label_smoothing)
    return _reduce(losses, reduction, denominator)


def ref_softmax_ce_grad(logits: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                        reduction: str = "mean", label_smoothing: float = 0.0) -> np.ndarray:
    """Closed form sum_c a_c softmax(z) - a, written independently of ce_lib's kernel."""
    z = classes_last(np.asarray(logits, dtype=LD))
    a, denominator = ce_coefficients(np.shape(logits), target, weight, ignore_index,
                                     label_smoothing)
    g = np.sum(a, axis=-1, keepdims=True) * ref_softmax(z, -1) - a
    if reduction == "mean":
        g = g / denominator if denominator > 0 else g * 0
    return g if g.ndim == 1 else np.moveaxis(g, -1, 1)


def torch_ce(logits: Any, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """torch.nn.functional.cross_entropy in float64 of the (rounded) inputs."""
    z = torch64(logits)
    t = torch64(target)
    w = None if weight is None else torch64(weight)
    if t.is_floating_point():
        ignore_index = -100  # torch refuses any other value with probability targets
    return F.cross_entropy(z, t, weight=w, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)


def central_difference(f: Any, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Gradient of the scalar function ``f`` at ``x`` by central differences."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = float(f(xp) - f(xm)) / (2 * h)
    return g


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

REDUCTIONS = ("mean", "sum", "none")


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def float_arrays(shape: tuple[int, ...], lo: float = -10.0, hi: float = 10.0) -> st.SearchStrategy:
    return hnp.arrays(np.float64, shape, elements=floats(lo, hi))


def logits_range(dtype: str) -> tuple[float, float]:
    return (-8.0, 8.0) if dtype in ("float16", "bfloat16") else (-20.0, 20.0)


@st.composite
def class_shapes(draw: Any, max_classes: int = 5, max_batch: int = 4, max_extra: int = 3,
                 min_classes: int = 1) -> tuple[int, ...]:
    """(C,), (N, C), (N, C, d1) or (N, C, d1, d2): torch's layouts."""
    ndim = draw(st.integers(1, 4))
    c = draw(st.integers(min_classes, max_classes))
    if ndim == 1:
        return (c,)
    n = draw(st.integers(1, max_batch))
    extra = tuple(draw(st.integers(1, max_extra)) for _ in range(ndim - 2))
    return (n, c, *extra)


@st.composite
def last_axis_shapes(draw: Any, min_dims: int = 1, max_dims: int = 3, max_side: int = 4,
                     max_classes: int = 5) -> tuple[int, ...]:
    lead = draw(hnp.array_shapes(min_dims=min_dims - 1, max_dims=max_dims - 1, min_side=1,
                                 max_side=max_side)) if max_dims > 1 else ()
    if min_dims == 1 and draw(st.booleans()):
        lead = ()
    return (*lead, draw(st.integers(1, max_classes)))


@dataclass
class CECase:
    """One call of softmax_cross_entropy: values as float64/int64 NumPy arrays."""

    logits: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    ignore_index: int
    reduction: str
    label_smoothing: float

    @property
    def index_target(self) -> bool:
        return self.target.dtype.kind == "i"

    def kwargs(self, be: Backend, dtype: str) -> dict[str, Any]:
        return dict(
            weight=be.maybe(self.weight, dtype),
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def args(self, be: Backend, dtype: str) -> tuple[Any, Any]:
        target = be.array(self.target, None if self.index_target else dtype)
        return be.array(self.logits, dtype), target

    def empty_mean(self) -> bool:
        """A mean whose denominator sum_n w_{y_n} is 0: every target ignored, or every remaining
        target's class weight 0. ce_lib's loss and gradient are 0 there, torch's NaN."""
        if not (self.index_target and self.reduction == "mean"):
            return False
        valid = self.target != self.ignore_index
        w = np.ones(self.logits.shape[class_axis(self.logits.shape)]) if self.weight is None \
            else self.weight
        return bool(np.sum(w[np.where(valid, self.target, 0)] * valid) == 0)


def class_axis(shape: tuple[int, ...]) -> int:
    return 0 if len(shape) == 1 else 1


def batch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    ax = class_axis(shape)
    return shape[:ax] + shape[ax + 1:]


@st.composite
def ce_cases(draw: Any, dtype: str = "float64", shapes: st.SearchStrategy | None = None,
             reductions: tuple[str, ...] = REDUCTIONS, lo: float | None = None,
             hi: float | None = None, masked: bool = True) -> CECase:
    """softmax_cross_entropy arguments with every knob: index or probability targets, class
    weights (some 0), a default or non-default ignore_index (some targets equal to it), label
    smoothing, and, if ``masked``, ``-inf`` logits (impossible classes) where the target puts no
    mass, the stand-in class 0 of ignored elements included.
    """
    shape = draw(shapes if shapes is not None else class_shapes())
    nc = shape[class_axis(shape)]
    dlo, dhi = logits_range(dtype)
    logits = draw(float_arrays(shape, dlo if lo is None else lo, dhi if hi is None else hi))
    ignore_index = draw(st.sampled_from([-100, 3, -1]))
    if draw(st.booleans()):
        target = draw(hnp.arrays(np.int64, batch_shape(shape), elements=st.integers(0, nc - 1)))
        ignored = draw(hnp.arrays(np.bool_, target.shape,
                                  elements=st.sampled_from([False, False, False, True])))
        target = np.where(ignored, ignore_index, target).astype(np.int64)
    else:
        target = draw(hnp.arrays(np.float64, shape, elements=floats(0.0, 1.0)))
        if draw(st.booleans()):  # proper distributions, sometimes
            s = target.sum(axis=class_axis(shape), keepdims=True)
            target = np.where(s > 0, target / np.where(s > 0, s, 1), 1.0 / nc)
    weight = draw(st.none() | hnp.arrays(np.float64, (nc,),
                                         elements=st.just(0.0) | floats(0.1, 3.0)))
    label_smoothing = draw(st.sampled_from([0.0, 0.0, 0.1, 1.0]) | floats(0.0, 1.0))
    reduction = draw(st.sampled_from(reductions))
    # (probability targets with a -inf logit are a deviation from torch, which gives NaN for
    # 0 * log 0: tested in test_pinned_behaviours.py, not drawn here, where torch is a reference)
    index = target.dtype.kind == "i"
    if masked and index and label_smoothing == 0 and nc > 1 and draw(st.booleans()):
        mask = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
        m = np.moveaxis(mask, class_axis(shape), -1)  # a view: classes last
        valid = target != ignore_index
        m &= ~((np.arange(nc) == target[..., None]) & valid[..., None])
        m[..., -1] &= ~m[..., :-1].all(-1)  # a row keeps a possible class
        logits = np.where(mask, -np.inf, logits)
    return CECase(logits, target, weight, ignore_index, reduction, label_smoothing)


@dataclass
class BCECase:
    x: np.ndarray  # probabilities or logits
    target: np.ndarray
    weight: np.ndarray | None
    pos_weight: np.ndarray | None
    reduction: str


@st.composite
def bce_cases(draw: Any, logits: bool, dtype: str = "float64",
              reductions: tuple[str, ...] = REDUCTIONS) -> BCECase:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    if logits:
        lo, hi = logits_range(dtype)
        x = draw(float_arrays(shape, lo, hi))
    else:
        edge = st.sampled_from([0.0, 1.0])
        x = draw(hnp.arrays(np.float64, shape, elements=floats(0.0, 1.0) | edge))
    target = draw(hnp.arrays(np.float64, shape,
                             elements=st.sampled_from([0.0, 1.0]) | floats(0.0, 1.0)))
    weight = None
    if draw(st.booleans()):
        # any shape that broadcasts to x: a suffix of its shape with some sides set to 1
        k = draw(st.integers(0, len(shape)))
        wshape = tuple(s if draw(st.booleans()) else 1 for s in shape[len(shape) - k:])
        weight = draw(hnp.arrays(np.float64, wshape, elements=floats(0.0, 3.0)))
    pos_weight = None
    if logits and draw(st.booleans()):
        pshape = draw(st.sampled_from([(shape[-1],), (1,), shape]))  # per class, one, full
        pos_weight = draw(hnp.arrays(np.float64, pshape, elements=floats(0.1, 5.0)))
    reduction = draw(st.sampled_from(reductions))
    return BCECase(x, target, weight, pos_weight, reduction)


@st.composite
def distributions(draw: Any, shape: tuple[int, ...], zeros: bool = True) -> np.ndarray:
    """Probability vectors along the last axis (some entries exactly 0 if ``zeros``)."""
    raw = draw(hnp.arrays(np.float64, shape, elements=floats(0.0, 1.0)))
    if zeros:
        mask = draw(hnp.arrays(np.bool_, shape, elements=st.sampled_from([True, True, False])))
        raw = raw * mask
    s = raw.sum(axis=-1, keepdims=True)
    # rows that came out all zero become one-hot on their first class
    first = np.zeros(shape)
    first[..., 0] = 1.0
    return np.where(s > 0, raw / np.where(s > 0, s, 1), first)


def assert_matches(actual: Any, reference: Any, dtype: str, torch_reference: Any = None) -> None:
    """``actual`` equals the extended-precision ``reference`` within ``dtype``'s tolerance and,
    in float64, torch's float64 result to the last digits (rtol 1e-13).
    """
    assert_close(actual, np.asarray(reference, dtype=np.float64), dtype)
    if torch_reference is not None and dtype == "float64":
        assert_close(actual, to_np(torch_reference), dtype, tol=TORCH_EXACT)


def backend_dtypes(keep: Any = lambda dtype: True) -> Any:
    """Parametrize a test over the (backend, floating dtype) pairs whose dtype ``keep`` accepts."""
    return pytest.mark.parametrize(
        ("be", "dtype"),
        [(be, d) for be in BACKENDS for d in be.dtypes if keep(d)],
        ids=lambda x: getattr(x, "name", x),
    )


dtypes_of = backend_dtypes()
"""``@dtypes_of`` runs a test for every (backend, floating dtype) pair, as ``be`` and ``dtype``."""
half_dtypes_of = backend_dtypes(lambda d: d in ("float16", "bfloat16"))


@dataclass
class LinearCase:
    """One call of linear_cross_entropy: logits = x @ w.T + b, never formed by ce_lib."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    ce: CECase  # target and knobs (its logits are unused)
    chunk_size: int | None

    def kwargs(self, be: Backend, dtype: str) -> dict[str, Any]:
        kw = self.ce.kwargs(be, dtype)
        kw["linear_bias"] = be.maybe(self.b, dtype)
        kw["chunk_size"] = self.chunk_size
        return kw

    def args(self, be: Backend, dtype: str) -> tuple[Any, Any, Any]:
        target = be.array(self.ce.target, None if self.ce.index_target else dtype)
        return be.array(self.x, dtype), be.array(self.w, dtype), target


@st.composite
def linear_cases(draw: Any) -> LinearCase:
    classes = st.integers(1, 6)
    shape = draw(st.tuples(classes) | st.tuples(st.integers(1, 7), classes))
    ce = draw(ce_cases(shapes=st.just(shape)))
    d = draw(st.integers(1, 4))
    x = draw(float_arrays((*shape[:-1], d), -3.0, 3.0))
    w = draw(float_arrays((shape[-1], d), -3.0, 3.0))
    b = draw(st.none() | float_arrays((shape[-1],), -3.0, 3.0))
    if (b is not None and shape[-1] > 1 and ce.index_target and ce.label_smoothing == 0
            and draw(st.booleans())):
        # class 0 impossible (bias -inf): no mass on it, so targets of class 0 become ignored
        b[0] = -np.inf
        ce.target = np.where(ce.target == 0, ce.ignore_index, ce.target)
    chunk_size = draw(st.sampled_from([None, 1, 2, 3, 1000]))
    return LinearCase(x, w, b, ce, chunk_size)


def torch_linear_ce_and_grads(case: LinearCase, upstream: Any = None
                              ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """F.cross_entropy(F.linear(x, w, b)) in float64 and autograd's gradients with respect to
    x, w and b of the loss (of <loss, upstream> for reduction='none', the sum by default).
    """
    x = torch.from_numpy(case.x.copy()).requires_grad_(True)
    w = torch.from_numpy(case.w.copy()).requires_grad_(True)
    b = None if case.b is None else torch.from_numpy(case.b.copy()).requires_grad_(True)
    ce = case.ce
    t = torch.from_numpy(ce.target.copy())
    loss = F.cross_entropy(F.linear(x, w, b), t,
                           weight=None if ce.weight is None else torch.from_numpy(ce.weight),
                           ignore_index=ce.ignore_index if ce.index_target else -100,
                           reduction=ce.reduction, label_smoothing=ce.label_smoothing)
    if case.ce.reduction == "none":
        g = torch.ones_like(loss) if upstream is None else upstream
        loss.backward(g)
    else:
        loss.backward()
    return loss.detach(), [x.grad, w.grad, None if b is None else b.grad]


@contextlib.contextmanager
def one_rank_group() -> Any:
    """A gloo process group of this process alone (127.0.0.1, bounded by timeouts), destroyed on
    exit: the distributed code paths run in the test process, where coverage and mutmut see them."""
    store = dist.TCPStore("127.0.0.1", 0, 1, is_master=True, timeout=timedelta(seconds=30))
    dist.init_process_group("gloo", store=store, rank=0, world_size=1,
                            timeout=timedelta(seconds=30))
    try:
        yield
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def torch_warns_always() -> Any:
    """torch emits some warnings once per process (TORCH_WARN_ONCE); inside this block it emits
    them every time, so that filterwarnings=error catches them in every test, not just the first.
    """
    previous = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        yield
    finally:
        torch.set_warn_always(previous)


#: Half precision is computed in float32 and rounded once: within 2 units of half-precision
#: roundoff of the exact answer, or within 2 float32 ulps of 1 (2.4e-7) absolutely, the error
#: the float32 computation itself may make near 0 (log(1 + tiny) in log_softmax, say).
HALF_TOL = {"float16": (2.0**-10, 2.4e-7), "bfloat16": (2.0**-7, 2.4e-7)}
HALF_PAIRS = [(be, d) for be in BACKENDS for d in be.dtypes if d in HALF_TOL]
halves_of = pytest.mark.parametrize(("be", "dtype"), HALF_PAIRS,
                                    ids=lambda x: getattr(x, "name", x))
