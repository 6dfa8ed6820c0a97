"""Closed-form derivatives against torch autograd and central finite differences (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import (
    BACKENDS,
    FEW,
    HALF_TOL,
    REDUCTIONS,
    SETTINGS,
    assert_close,
    backends,
    bce_cases,
    ce_cases,
    central_difference,
    class_shapes,
    dtypes_of,
    float_arrays,
    halves_of,
    linear_cases,
    logits_range,
    ref_bce_with_logits,
    ref_bce_with_logits_grad,
    ref_softmax,
    ref_softmax_ce,
    ref_softmax_ce_grad,
    to_np,
    torch64,
    torch_linear_ce_and_grads,
)

FD_TOL = 1e-7  # central differences with h = 1e-6 on an extended-precision loss


def _autograd_ce_grad(case, logits64):
    """d/dz of F.cross_entropy (of the sum of per-element losses for reduction='none')."""
    z = torch.from_numpy(np.array(logits64)).requires_grad_(True)
    t = torch.from_numpy(np.array(case.target))
    w = None if case.weight is None else torch.from_numpy(case.weight)
    loss = F.cross_entropy(z, t, weight=w,
                           ignore_index=case.ignore_index if case.index_target else -100,
                           reduction=case.reduction, label_smoothing=case.label_smoothing)
    loss.sum().backward()
    return z.grad.numpy()


def _summed(reduction):
    return lambda v: np.sum(v) if reduction == "none" else v


# ---------------------------------------------------------------------------------------------
# softmax_jacobian
# ---------------------------------------------------------------------------------------------


@dtypes_of
@SETTINGS
@given(data=st.data())
def test_softmax_jacobian_matches_autograd(be, dtype, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    lo, hi = logits_range(dtype)
    x = be.array(data.draw(float_arrays(shape, lo, hi)), dtype)
    x64 = to_np(x)
    jac = be.mod.softmax_jacobian(x)
    c = shape[-1]
    rows = x64.reshape(-1, c)
    expected = np.stack([
        torch.autograd.functional.jacobian(lambda r: F.softmax(r, -1), torch.from_numpy(r)).numpy()
        for r in rows
    ]).reshape(*shape, c)
    assert_close(jac, expected, dtype)
    # diag(p) - p p^T from an extended-precision softmax
    p = ref_softmax(x64, -1)
    formula = np.eye(c) * p[..., None, :] - p[..., :, None] * p[..., None, :]
    assert_close(jac, formula.astype(np.float64), dtype)


@backends
@SETTINGS
@given(x=float_arrays((3, 4), -10, 10))
def test_softmax_jacobian_properties(be, x):
    jac = to_np(be.mod.softmax_jacobian(be.array(x)))
    assert jac.shape == (3, 4, 4)
    np.testing.assert_allclose(jac, np.swapaxes(jac, -1, -2), rtol=0, atol=1e-15)  # symmetric
    np.testing.assert_allclose(jac.sum(-1), 0.0, atol=1e-15)  # rows sum to 0 (shift invariance)
    eig = np.linalg.eigvalsh(jac)
    assert (eig > -1e-12).all()  # positive semi-definite


@backends
def test_softmax_jacobian_other_axis(be):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 2))
    jac = to_np(be.mod.softmax_jacobian(be.array(x), axis=1))
    assert jac.shape == (4, 2, 3, 3)
    expected = to_np(be.mod.softmax_jacobian(be.array(np.moveaxis(x, 1, -1))))
    np.testing.assert_allclose(jac, expected, rtol=1e-15, atol=1e-17)


@backends
def test_softmax_jacobian_by_finite_differences(be):
    x = np.array([0.3, -1.2, 2.0, 0.0])
    jac = to_np(be.mod.softmax_jacobian(be.array(x)))
    for j in range(4):
        e = np.zeros(4)
        e[j] = 1e-6
        col = (ref_softmax(x + e) - ref_softmax(x - e)) / 2e-6
        np.testing.assert_allclose(jac[:, j], col.astype(float), atol=FD_TOL)


# ---------------------------------------------------------------------------------------------
# softmax_cross_entropy_grad and value_and_grad
# ---------------------------------------------------------------------------------------------


@dtypes_of
@SETTINGS
@given(case=ce_cases())
def test_softmax_cross_entropy_grad_matches_autograd(be, dtype, case):
    logits, target = case.args(be, dtype)
    kwargs = case.kwargs(be, dtype)
    grad = be.mod.softmax_cross_entropy_grad(logits, target, **kwargs)
    z64 = to_np(logits)
    w64 = None if kwargs["weight"] is None else to_np(kwargs["weight"])
    t64 = to_np(target)
    expected = ref_softmax_ce_grad(z64, t64, w64, case.ignore_index, case.reduction,
                                   case.label_smoothing)
    assert_close(grad, expected.astype(np.float64), dtype)
    if dtype == "float64" and not case.empty_mean():
        case.weight = w64
        assert_close(grad, _autograd_ce_grad(case, z64), dtype)


@backends
@FEW
@given(case=ce_cases(shapes=class_shapes(max_classes=4, max_batch=3, max_extra=2), masked=False))
def test_softmax_cross_entropy_grad_by_finite_differences(be, case):
    logits, target = case.args(be, "float64")
    grad = to_np(be.mod.softmax_cross_entropy_grad(logits, target, **case.kwargs(be, "float64")))

    def loss(z):
        v = ref_softmax_ce(z, case.target, case.weight, case.ignore_index, case.reduction,
                           case.label_smoothing)
        return np.sum(v)

    fd = central_difference(loss, case.logits)
    np.testing.assert_allclose(grad, fd, rtol=FD_TOL, atol=FD_TOL)


@dtypes_of
@SETTINGS
@given(case=ce_cases())
def test_value_and_grad_equals_separate_calls(be, dtype, case):
    logits, target = case.args(be, dtype)
    kwargs = case.kwargs(be, dtype)
    loss, grad = be.mod.softmax_cross_entropy_value_and_grad(logits, target, **kwargs)
    loss2 = be.mod.softmax_cross_entropy(logits, target, **kwargs)
    grad2 = be.mod.softmax_cross_entropy_grad(logits, target, **kwargs)
    assert_close(loss, to_np(loss2), dtype, tol=(1e-15, 0) if dtype == "float64" else None)
    assert_close(grad, to_np(grad2), dtype, tol=(1e-15, 0) if dtype == "float64" else None)
    assert tuple(grad.shape) == tuple(logits.shape)
    # and both equal the independent extended-precision reference
    w64 = None if kwargs["weight"] is None else to_np(kwargs["weight"])
    ref = ref_softmax_ce(to_np(logits), to_np(target), w64, case.ignore_index, case.reduction,
                         case.label_smoothing)
    ref_grad = ref_softmax_ce_grad(to_np(logits), to_np(target), w64, case.ignore_index,
                                   case.reduction, case.label_smoothing)
    assert_close(loss, np.asarray(ref, dtype=np.float64), dtype)
    assert_close(grad, ref_grad.astype(np.float64), dtype)


@backends
@SETTINGS
@given(data=st.data())
def test_plain_mean_gradient_is_softmax_minus_onehot_over_n(be, data):
    shape = data.draw(class_shapes(min_classes=1))
    c = shape[0 if len(shape) == 1 else 1]
    batch = () if len(shape) == 1 else (shape[0], *shape[2:])
    z = data.draw(float_arrays(shape))
    y = data.draw(hnp.arrays(np.int64, batch, elements=st.integers(0, c - 1)))
    grad = be.mod.softmax_cross_entropy_grad(be.array(z), be.array(y))
    zl = z if z.ndim == 1 else np.moveaxis(z, 1, -1)
    expected = (ref_softmax(zl, -1) - np.eye(c)[y]) / max(1, math.prod(batch))
    expected = expected if z.ndim == 1 else np.moveaxis(expected, -1, 1)
    assert_close(grad, expected.astype(float), "float64")


@backends
def test_gradient_of_none_is_gradient_of_the_sum(be):
    rng = np.random.default_rng(4)
    z = be.array(rng.normal(size=(5, 3)))
    y = be.array(rng.integers(0, 3, size=5))
    g_none = to_np(be.mod.softmax_cross_entropy_grad(z, y, reduction="none"))
    g_sum = to_np(be.mod.softmax_cross_entropy_grad(z, y, reduction="sum"))
    g_mean = to_np(be.mod.softmax_cross_entropy_grad(z, y, reduction="mean"))
    np.testing.assert_array_equal(g_none, g_sum)
    np.testing.assert_allclose(g_mean, g_sum / 5, rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits_grad
# ---------------------------------------------------------------------------------------------


@dtypes_of
@SETTINGS
@given(case=bce_cases(logits=True))
def test_bce_with_logits_grad_matches_autograd(be, dtype, case):
    z = be.array(case.x, dtype)
    t = be.array(case.target, dtype)
    w = be.maybe(case.weight, dtype)
    pw = be.maybe(case.pos_weight, dtype)
    grad = be.mod.binary_cross_entropy_with_logits_grad(z, t, weight=w, pos_weight=pw,
                                                        reduction=case.reduction)
    args = [None if a is None else to_np(a) for a in (z, t, w, pw)]
    assert_close(grad, ref_bce_with_logits_grad(*args, case.reduction).astype(float), dtype)
    if dtype == "float64":
        zt = torch.from_numpy(args[0].copy()).requires_grad_(True)
        F.binary_cross_entropy_with_logits(
            zt, torch64(t), weight=None if w is None else torch64(w),
            pos_weight=None if pw is None else torch64(pw), reduction=case.reduction,
        ).sum().backward()
        assert_close(grad, zt.grad.numpy(), dtype)


@backends
@FEW
@given(case=bce_cases(logits=True))
def test_bce_with_logits_grad_by_finite_differences(be, case):
    grad = to_np(be.mod.binary_cross_entropy_with_logits_grad(
        be.array(case.x), be.array(case.target), weight=be.maybe(case.weight),
        pos_weight=be.maybe(case.pos_weight), reduction=case.reduction))

    def loss(z):
        return np.sum(ref_bce_with_logits(z, case.target, case.weight, case.pos_weight,
                                          case.reduction))

    fd = central_difference(loss, case.x)
    np.testing.assert_allclose(grad, fd, rtol=FD_TOL, atol=FD_TOL)


@backends
def test_bce_with_logits_plain_mean_gradient(be):
    z = np.array([[0.0, 2.0, -3.0], [1.0, -0.5, 40.0]])
    t = np.array([[1.0, 0.0, 1.0], [0.5, 0.0, 1.0]])
    s = 1 / (1 + np.exp(-z))
    for reduction, scale in (("mean", 1 / 6), ("sum", 1.0), ("none", 1.0)):
        grad = be.mod.binary_cross_entropy_with_logits_grad(be.array(z), be.array(t),
                                                            reduction=reduction)
        assert_close(grad, (s - t) * scale, "float64")


@dtypes_of
@pytest.mark.parametrize("magnitude", [100.0, 1e4])
def test_bce_with_logits_grad_saturates(be, dtype, magnitude):
    z = be.array([magnitude, -magnitude, magnitude, -magnitude], dtype)
    t = be.array([1.0, 0.0, 0.0, 1.0], dtype)
    grad = be.mod.binary_cross_entropy_with_logits_grad(z, t, reduction="sum")
    assert_close(grad, [0.0, 0.0, 1.0, -1.0], dtype)


# ---------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------


@dtypes_of
def test_gradients_have_the_logits_dtype(be, dtype):
    z = be.array(np.random.default_rng(7).normal(size=(3, 4)), dtype)
    y = be.array(np.array([0, 3, 1]))
    assert be.mod.softmax_cross_entropy_grad(z, y).dtype == z.dtype
    loss, grad = be.mod.softmax_cross_entropy_value_and_grad(z, y)
    assert grad.dtype == z.dtype and loss.dtype == z.dtype
    assert be.mod.softmax_jacobian(z).dtype == z.dtype
    t = be.array(np.ones((3, 4)), dtype)
    assert be.mod.binary_cross_entropy_with_logits_grad(z, t).dtype == z.dtype


@backends
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_smoothed_ignored_gradient_by_hand(be, reduction):
    """One row by hand: a = (1 - eps) w_y onehot(y) + eps/C w; grad = sum(a) p - a."""
    z = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]])
    y = np.array([2, 7])  # the second row is ignored (ignore_index=7)
    w = np.array([1.0, 2.0, 3.0])
    eps = 0.3
    p = np.exp(z[0]) / np.exp(z[0]).sum()
    a = (1 - eps) * w[2] * np.eye(3)[2] + eps / 3 * w
    row0 = a.sum() * p - a
    expected = np.stack([row0, np.zeros(3)])
    if reduction == "mean":
        expected = expected / w[2]
    grad = be.mod.softmax_cross_entropy_grad(be.array(z), be.array(y), weight=be.array(w),
                                             ignore_index=7, reduction=reduction,
                                             label_smoothing=eps)
    assert_close(grad, expected, "float64")


# ---------------------------------------------------------------------------------------------
# linear_cross_entropy_value_and_grad: the chunked loss of a linear layer and its gradients
# ---------------------------------------------------------------------------------------------


LINEAR_DTYPES = [(be, d) for be in BACKENDS for d in be.dtypes]


@pytest.mark.parametrize(("be", "dtype"), LINEAR_DTYPES, ids=lambda x: getattr(x, "name", x))
@SETTINGS
@given(case=linear_cases())
def test_linear_value_and_grad_matches_autograd(be, dtype, case):
    args = case.args(be, dtype)
    loss, gx, gw, gb = be.mod.linear_cross_entropy_value_and_grad(*args,
                                                                   **case.kwargs(be, dtype))
    # the reference sees the rounded inputs
    case.x, case.w = to_np(args[0]), to_np(args[1])
    case.b = None if case.b is None else to_np(be.array(case.b, dtype))
    if case.ce.weight is not None:
        case.ce.weight = to_np(be.array(case.ce.weight, dtype))
    if not case.ce.index_target:
        case.ce.target = to_np(args[2])
    if case.ce.empty_mean():
        assert float(to_np(loss)) == 0.0
        for g in (gx, gw) if gb is None else (gx, gw, gb):
            assert not to_np(g).any()
        return
    ref_loss, ref_grads = torch_linear_ce_and_grads(case)
    # half precision: computed in float32 and rounded once (a unit of roundoff relative, plus
    # the float32 error of sums of a few terms of size 10 absolute)
    tol = {"float64": (1e-12, 1e-12), "float32": (1e-4, 1e-5), "float16": (2.0**-10, 1e-5),
           "bfloat16": (2.0**-7, 1e-5)}[dtype]
    assert_close(loss, ref_loss.numpy(), dtype, tol=tol)
    assert_close(gx, ref_grads[0].numpy(), dtype, tol=tol)
    assert_close(gw, ref_grads[1].numpy(), dtype, tol=tol)
    if case.b is None:
        assert gb is None
    else:
        assert_close(gb, ref_grads[2].numpy(), dtype, tol=tol)


@backends
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_chunking_changes_nothing_but_rounding(be, reduction):
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=(37, 5)), rng.normal(size=(11, 5)), rng.normal(size=11)
    y = rng.integers(0, 11, size=37)
    y[::5] = -100
    results = [be.mod.linear_cross_entropy_value_and_grad(
        be.array(x), be.array(w), be.array(y), linear_bias=be.array(b), reduction=reduction,
        label_smoothing=0.1, chunk_size=chunk) for chunk in (None, 1, 4, 36, 37, 100)]
    for other in results[1:]:
        for a, c in zip(results[0], other, strict=True):
            np.testing.assert_allclose(to_np(c), to_np(a), rtol=1e-13, atol=1e-15)
    # and each equals autograd through torch's own F.cross_entropy(F.linear(...))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = F.cross_entropy(F.linear(xt, wt, bt), torch.tensor(y), reduction=reduction,
                          label_smoothing=0.1)
    ref.sum().backward()
    for result in results:
        np.testing.assert_allclose(to_np(result[0]), ref.detach().numpy(), rtol=1e-12,
                                   atol=1e-15)
        for got, want in zip(result[1:], (xt.grad, wt.grad, bt.grad), strict=True):
            np.testing.assert_allclose(to_np(got), want.numpy(), rtol=1e-11, atol=1e-14)


@backends
def test_linear_ignore_index_none_means_minus_100(be):
    rng = np.random.default_rng(10)
    x, w = be.array(rng.normal(size=(4, 3))), be.array(rng.normal(size=(5, 3)))
    y = be.array(np.array([0, -100, 4, 2]))
    a = be.mod.linear_cross_entropy_value_and_grad(x, w, y, ignore_index=None)
    b = be.mod.linear_cross_entropy_value_and_grad(x, w, y)
    for u, v in zip(a, b, strict=True):
        if u is None:
            assert v is None
        else:
            np.testing.assert_array_equal(to_np(u), to_np(v))


@halves_of
@SETTINGS
@given(data=st.data())
def test_half_precision_jacobian_is_computed_in_float32(be, dtype, data):
    """diag(p) - p p^T cancels where p is near 1: it must not be evaluated in half precision."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4))
    x = be.array(data.draw(float_arrays(shape, -8, 8)), dtype)
    p = ref_softmax(to_np(x), -1)
    jac = np.eye(shape[-1]) * p[..., None, :] - p[..., :, None] * p[..., None, :]
    assert_close(be.mod.softmax_jacobian(x), jac.astype(np.float64), dtype, tol=HALF_TOL[dtype])


@halves_of
@SETTINGS
@given(data=st.data())
def test_half_precision_gradients_are_computed_in_float32(be, dtype, data):
    """softmax(z) - y and sigmoid(z) - t cancel too: computed in float32, rounded once."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4))
    x = be.array(data.draw(float_arrays(shape, -8, 8)), dtype)
    x64 = to_np(x)
    tol = HALF_TOL[dtype]
    case = data.draw(ce_cases(dtype, shapes=class_shapes()))
    logits, target = case.args(be, dtype)
    kwargs = case.kwargs(be, dtype)
    w64 = None if kwargs["weight"] is None else to_np(kwargs["weight"])
    expected = ref_softmax_ce_grad(to_np(logits), to_np(target), w64, case.ignore_index,
                                   case.reduction, case.label_smoothing)
    assert_close(be.mod.softmax_cross_entropy_grad(logits, target, **kwargs),
                 expected.astype(np.float64), dtype, tol=tol)
    t = be.array(data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1))), dtype)
    # sigmoid(z) - t cancels in float32 itself near z = 0, t = 1/2: HALF_TOL's absolute part
    assert_close(be.mod.binary_cross_entropy_with_logits_grad(x, t, reduction="sum"),
                 ref_bce_with_logits_grad(x64, to_np(t), reduction="sum").astype(np.float64),
                 dtype, tol=tol)


@halves_of
def test_half_precision_jacobian_near_certainty(be, dtype):
    """p = softmax([a, 0, 0, 0]) near 1: p(1 - p) loses every digit if p is rounded first."""
    for a in np.arange(4.0, 8.0, 0.25):
        x = be.array([a, 0.0, 0.0, 0.0], dtype)
        p = ref_softmax(to_np(x))
        jac = np.diag(p) - np.outer(p, p)
        assert_close(be.mod.softmax_jacobian(x), jac.astype(np.float64), dtype,
                     tol=HALF_TOL[dtype])
