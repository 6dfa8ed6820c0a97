"""sigmoid_focal_loss and softmax_focal_loss, their closed-form gradients, and their validation.

References, none of them ce_lib: float64 torch autograd of the written-out formulas (for the
binary loss, torchvision's ``sigmoid_focal_loss`` line by line: torchvision itself cannot be
imported next to the CPU build of torch), and mpmath at 50 digits (values, and gradients by
mpmath's numerical differentiation) where float64 formulas lose digits: extreme logits and
``p_t -> 1``.
"""

from __future__ import annotations

import functools
import math

import mpmath
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
    NUMPY,
    SETTINGS,
    TORCH,
    TORCH_DTYPES,
    Backend,
    assert_refused,
    backends,
    batch_shape,
    class_axis,
    class_shapes,
    floats,
    to_np,
)

import ce_lib

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


# ---------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss (v0.28), copied line by line."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "none":
        pass
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def written_softmax_focal_loss(z, y, gamma, weight=None, ignore_index=-100, reduction="mean"):
    """-w_y (1 - p_y)^gamma log p_y with torch's weighted-mean semantics, classes on axis 1."""
    logp = torch.log_softmax(z, dim=class_axis(tuple(z.shape)))
    valid = y != ignore_index
    safe = torch.where(valid, y, 0)
    logp_y = logp.gather(class_axis(tuple(z.shape)), safe.unsqueeze(class_axis(tuple(z.shape))))
    logp_y = logp_y.squeeze(class_axis(tuple(z.shape)))
    w = torch.ones(z.shape[class_axis(tuple(z.shape))], dtype=z.dtype) if weight is None \
        else weight
    w_y = w[safe] * valid
    losses = -w_y * (1 - logp_y.exp()) ** gamma * logp_y
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    d = w_y.sum()
    return losses.sum() / d if d > 0 else losses.sum() * 0


def autograd(fn, z, *args, **kwargs):
    """(value, d sum(value) / dz) of a float64 torch function of the logits ``z`` (NumPy)."""
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = fn(zt, *args, **kwargs)
    out.sum().backward()
    return out.detach().numpy(), zt.grad.numpy()


mpmath.mp.dps = 50
MP = mpmath.mp


def mp_sigmoid_focal(z, t, alpha, gamma):
    """One element of the binary focal loss in 50-digit arithmetic (z, t mpf). At z = 1e4,
    1 - p = e^-1e4 is not 1 minus a 50-digit p, and log p is not the log of a 50-digit p: both
    are computed as such."""
    p, one_minus_p = 1 / (1 + MP.exp(-z)), 1 / (1 + MP.exp(z))
    ce = t * MP.log1p(MP.exp(-z)) + (1 - t) * MP.log1p(MP.exp(z))  # -log p, -log(1 - p)
    q = (1 - t) * p + t * one_minus_p  # 1 - p_t
    a_t = alpha * t + (1 - alpha) * (1 - t) if alpha >= 0 else 1
    return a_t * ce * q**gamma


def mp_softmax_focal_row(z, y, gamma):
    """-(1 - p_y)^gamma log p_y of one row (a list of mpf) in 50-digit arithmetic."""
    m = max(z)
    lse = m + MP.log(MP.fsum(MP.exp(zc - m) for zc in z))
    logp = z[y] - lse
    return -((-MP.expm1(logp)) ** gamma) * logp  # 1 - p_y, exact for p_y -> 1


def mp_value_and_grad(f, xs):
    """f(xs) and its gradient, both in mpmath, by mpmath's numerical differentiation."""
    xs = [MP.mpf(x) for x in xs]
    grad = []
    for i in range(len(xs)):
        def fi(v, i=i):
            ys = list(xs)
            ys[i] = v
            return f(ys)
        grad.append(MP.diff(fi, xs[i]))
    return f(xs), grad


def assert_rel(actual, expected, rtol, atol=0.0):
    np.testing.assert_allclose(to_np(actual), np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol)


def call(be: Backend, name: str, *args, **kwargs):
    return getattr(be.mod, name)(*args, **kwargs)


def value_and_grad(be: Backend, kind: str, z, *args, **kwargs):
    """A backend's loss and its gradient: torch through .backward() of the autograd Function,
    NumPy through the _grad companion (softmax: value_and_grad)."""
    if be is TORCH:
        zt = torch.tensor(np.asarray(z), requires_grad=True)
        args = tuple(torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args)
        kwargs = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v
                  for k, v in kwargs.items()}
        out = getattr(ct_mod(), f"{kind}_focal_loss")(zt, *args, **kwargs)
        out.sum().backward()
        return out.detach(), zt.grad
    if kind == "sigmoid":
        return (NUMPY.mod.sigmoid_focal_loss(z, *args, **kwargs),
                NUMPY.mod.sigmoid_focal_loss_grad(z, *args, **kwargs))
    return NUMPY.mod.softmax_focal_loss_value_and_grad(z, *args, **kwargs)


def ct_mod():
    return TORCH.mod


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

ALPHAS = st.sampled_from([0.25, -1.0, 0.0, 1.0, 0.75]) | floats(-2.0, 1.0)
GAMMAS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]) | floats(0.0, 6.0)
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])


@st.composite
def binary_arrays(draw, lo=-6.0, hi=6.0):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    z = draw(hnp.arrays(np.float64, shape, elements=floats(lo, hi)))
    t = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0]) | floats(0, 1)))
    return z, t


@st.composite
def index_cases(draw, lo=-3.0, hi=3.0, min_classes=2):
    shape = draw(class_shapes(min_classes=min_classes))
    nc = shape[class_axis(shape)]
    z = draw(hnp.arrays(np.float64, shape, elements=floats(lo, hi)))
    ignore_index = draw(st.sampled_from([-100, 1, -1]))
    y = draw(hnp.arrays(np.int64, batch_shape(shape), elements=st.integers(0, nc - 1)))
    ignored = draw(hnp.arrays(np.bool_, y.shape, elements=st.sampled_from([False] * 3 + [True])))
    y = np.where(ignored, ignore_index, y).astype(np.int64)
    weight = draw(st.none() | hnp.arrays(np.float64, (nc,),
                                         elements=st.just(0.0) | floats(0.1, 3.0)))
    return z, y, weight, ignore_index


# ---------------------------------------------------------------------------------------------
# Equal to float64 autograd of the written-out formulas
# ---------------------------------------------------------------------------------------------


@backends
@SETTINGS
@given(arrays=binary_arrays(), alpha=ALPHAS, gamma=GAMMAS, reduction=REDUCTIONS)
def test_sigmoid_focal_loss_equals_autograd_of_torchvision_formula(be, arrays, alpha, gamma,
                                                                   reduction):
    z, t = arrays
    ref, ref_grad = autograd(torchvision_sigmoid_focal_loss, z, torch.from_numpy(t), alpha,
                             gamma, reduction)
    value, grad = value_and_grad(be, "sigmoid", z, t, alpha, gamma, reduction)
    # |z| <= 6 keeps 1 - p_t >= 2.5e-3, so the reference's own cancellation costs < 3 digits.
    assert_rel(value, ref, 1e-12, 1e-300)
    assert_rel(grad, ref_grad, 1e-12, 1e-15 * float(np.max(np.abs(ref_grad), initial=0)))


@SETTINGS
@given(arrays=binary_arrays(), alpha=ALPHAS, gamma=GAMMAS, reduction=REDUCTIONS)
def test_sigmoid_focal_loss_target_gradient_equals_autograd(arrays, alpha, gamma, reduction):
    z, t = arrays
    zr = torch.tensor(z, requires_grad=True)
    tr = torch.tensor(t, requires_grad=True)
    torchvision_sigmoid_focal_loss(zr, tr, alpha, gamma, reduction).sum().backward()
    tc = torch.tensor(t, requires_grad=True)
    TORCH.mod.sigmoid_focal_loss(torch.tensor(z), tc, alpha, gamma, reduction).sum().backward()
    ref = tr.grad.numpy()
    # near z = 0 the reference's sigma(-z) - sigma(z) cancels (ce_lib uses -tanh(z / 2)): its
    # error is a few eps absolute, per element, times the (1 + gamma)-sized factors around it
    atol = 1e-14 * (1 + gamma) / (z.size if reduction == "mean" else 1)
    assert_rel(tc.grad, ref, 1e-12, atol)


@backends
@SETTINGS
@given(case=index_cases(), gamma=GAMMAS, reduction=REDUCTIONS)
def test_softmax_focal_loss_equals_autograd_of_written_formula(be, case, gamma, reduction):
    z, y, weight, ignore_index = case
    w = None if weight is None else torch.from_numpy(weight)
    ref, ref_grad = autograd(written_softmax_focal_loss, z, torch.from_numpy(y), gamma, w,
                             ignore_index, reduction)
    value, grad = value_and_grad(be, "softmax", z, y, gamma, weight, ignore_index, reduction)
    # |z| <= 3 keeps 1 - p_y >= 2.5e-3 (C >= 2): the reference loses < 3 digits to 1 - p_y.
    assert_rel(value, ref, 1e-12, 1e-300)
    assert_rel(grad, ref_grad, 1e-12, 1e-15 * float(np.max(np.abs(ref_grad), initial=0)))


@backends
@FEW
@given(case=index_cases(lo=-20.0, hi=20.0, min_classes=1), gamma=GAMMAS, reduction=REDUCTIONS)
def test_softmax_focal_gradient_matches_finite_differences(be, case, gamma, reduction):
    """Over a wide range of logits, where the written formula loses digits: the loss is smooth,
    so a central difference with h = 1e-5 is within O(h^2 f''') + O(eps |f| / h) of it."""
    z, y, weight, ignore_index = case
    _, grad = value_and_grad(be, "softmax", z, y, gamma, weight, ignore_index, reduction)

    def f(x):
        return float(np.sum(to_np(call(NUMPY, "softmax_focal_loss", x, y, gamma, weight,
                                       ignore_index, reduction))))

    h = 1e-5
    fd = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        fd[i] = (f(zp) - f(zm)) / (2 * h)
    scale = max(1.0, abs(f(z)))
    assert_rel(grad, fd, 1e-5, 1e-7 * scale * (1 + gamma) ** 3)


# ---------------------------------------------------------------------------------------------
# Extreme logits and p_t -> 1: against 50-digit arithmetic
# ---------------------------------------------------------------------------------------------

BINARY_POINTS = [(z, t) for z in (-1e4, -800.0, -100.0, -40.0, -20.0, -1e-3, 0.0, 5.0, 40.0,
                                   90.0, 100.0, 720.0, 800.0, 1e4)
                 for t in (0.0, 1.0, 0.3)]
#: (value rtol, gradient rtol, atol): below the smallest normal number of the dtype (the
#: gradient at |z| = 1e4, say) only absolute accuracy is possible.
EXTREME_TOL = {"float64": (8 * EPS64, 16 * EPS64, 1e-300),
               "float32": (8 * EPS32, 16 * EPS32, 1e-37)}


@backends
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_sigmoid_focal_loss_at_extreme_logits_equals_50_digit_arithmetic(be, dtype, gamma,
                                                                         alpha):
    z = np.array([p[0] for p in BINARY_POINTS], dtype=dtype)
    t = np.array([p[1] for p in BINARY_POINTS], dtype=dtype)
    value, grad = value_and_grad(be, "sigmoid", z, t, alpha, gamma)
    assert str(value.dtype).endswith(dtype) and str(grad.dtype).endswith(dtype)
    value, grad = to_np(value), to_np(grad)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    rtol, grad_rtol, atol = EXTREME_TOL[dtype]
    for i, (zi, ti) in enumerate(zip(z.tolist(), t.tolist(), strict=True)):
        ref, (dref,) = mp_value_and_grad(lambda x, ti=ti: mp_sigmoid_focal(x[0], MP.mpf(ti),
                                                                          alpha, gamma), [zi])
        assert value[i] == pytest.approx(float(ref), rel=rtol, abs=atol), (zi, ti)
        assert grad[i] == pytest.approx(float(dref), rel=grad_rtol, abs=atol), (zi, ti)


def mp_sigmoid_focal_dt(z, t, alpha, gamma):
    """d loss / d t by the textbook chain rule in 50 digits: q^(gamma - 1) is fine there."""
    p, one_minus_p = 1 / (1 + MP.exp(-z)), 1 / (1 + MP.exp(z))
    ce = t * MP.log1p(MP.exp(-z)) + (1 - t) * MP.log1p(MP.exp(z))  # -log p, -log(1 - p)
    q = (1 - t) * p + t * one_minus_p
    d = -z * q**gamma + (gamma * q ** (gamma - 1) * ce * (one_minus_p - p) if gamma else 0)
    if alpha < 0:
        return d
    return (alpha * t + (1 - alpha) * (1 - t)) * d + (2 * alpha - 1) * ce * q**gamma


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_sigmoid_focal_target_gradient_equals_50_digit_arithmetic(gamma, alpha):
    """Soft targets that require grad, at tiny logits (where sigma(-z) - sigma(z) cancels) and
    at extreme ones (where q = 1 - p_t is 0 in float64 and q^(gamma - 1) infinite)."""
    points = [(z, t) for z in (1e-10, -3e-9, 0.0, 1.5, -40.0, 800.0, 1e4, -1e4)
              for t in (0.0, 1.0, 0.3)]
    z = torch.tensor([p[0] for p in points], dtype=torch.float64)
    t = torch.tensor([p[1] for p in points], dtype=torch.float64, requires_grad=True)
    TORCH.mod.sigmoid_focal_loss(z, t, alpha, gamma).sum().backward()
    for i, (zi, ti) in enumerate(points):
        ref = float(mp_sigmoid_focal_dt(MP.mpf(zi), MP.mpf(ti), alpha, gamma))
        assert float(t.grad[i]) == pytest.approx(ref, rel=64 * EPS64, abs=1e-300), (zi, ti)


SOFTMAX_ROWS = [
    ([1e4, 0.0, -1e4], 0), ([1e4, 0.0, -1e4], 1), ([1e4, 0.0, -1e4], 2),
    ([40.0, 0.0], 0), ([40.0, 0.0], 1), ([30.0, 29.5, -3.0], 0), ([30.0, 29.5, -3.0], 1),
    ([800.0, 0.0, 1.0], 0), ([-1e4, 0.0, 2.0], 2), ([0.0, 0.0, 0.0], 1),
    ([25.0, -12.0, 3.0, 3.0], 0),
]


@backends
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("gamma", [0.5, 2.0, 0.1])
def test_softmax_focal_loss_at_extreme_logits_equals_50_digit_arithmetic(be, dtype, gamma):
    """p_y -> 1 with gamma < 1: the textbook gradient has (1 - p_y)^(gamma - 1) = inf there;
    the loss and gradient must be finite and exact."""
    rtol, grad_rtol, atol = EXTREME_TOL[dtype]
    for row, y in SOFTMAX_ROWS:
        z = np.array([row], dtype=dtype)
        value, grad = value_and_grad(be, "softmax", z, np.array([y]), gamma, None, -100, "sum")
        value, grad = float(to_np(value)), to_np(grad)[0]
        assert math.isfinite(value) and np.isfinite(grad).all(), (row, y)
        ref, dref = mp_value_and_grad(lambda x, y=y: mp_softmax_focal_row(x, y, gamma), row)
        assert value == pytest.approx(float(ref), rel=2 * rtol, abs=atol), (row, y)
        for j in range(len(row)):
            assert grad[j] == pytest.approx(float(dref[j]), rel=4 * grad_rtol, abs=atol), \
                (row, y, j)


@backends
def test_softmax_focal_loss_exact_where_p_y_is_1(be):
    """A single class, or the others at probability 0: loss and gradient exactly 0 for any
    gamma > 0 (the textbook gradient gives 0 * inf = NaN at gamma < 1)."""
    for z in ([[3.0]], [[0.0, -np.inf]], [[1e4, -1e4]]):
        value, grad = value_and_grad(be, "softmax", np.array(z), np.array([0]), 0.5)
        assert float(to_np(value)) == 0.0
        assert (to_np(grad) == 0).all()


@backends
def test_masked_classes(be):
    """-inf marks an impossible class, as in softmax_cross_entropy: it gets gradient 0; a target
    at -inf has loss +inf; an ignored row is 0 whatever its logits."""
    z = np.array([[0.5, -np.inf, 1.0], [-np.inf, 2.0, 0.0]])
    y = np.array([0, -100])
    value, grad = value_and_grad(be, "softmax", z, y, 2.0, None, -100, "none")
    zf = np.array([[0.5, -1e300, 1.0]])
    ref, ref_grad = autograd(written_softmax_focal_loss, zf, torch.tensor([0]), 2.0, None,
                             -100, "none")
    assert_rel(to_np(value)[0], ref[0], 1e-14)
    assert to_np(value)[1] == 0.0
    assert_rel(to_np(grad)[0], ref_grad[0], 1e-14)
    assert (to_np(grad)[1] == 0).all()
    z = be.array([[-np.inf, 0.0, 1.0]])
    inf_loss, inf_grad = call(be, "softmax_focal_loss_value_and_grad", z, be.array([0]), 0.5)
    assert float(to_np(inf_loss)) == math.inf
    # p_y = 0: the factor (1 - p_y)^gamma (1 + gamma p_y log(1/p_y) / (1 - p_y)) is 1, so the
    # gradient is softmax cross entropy's, softmax(z) - onehot(y)
    p = np.exp([0.0, 1.0]) / np.sum(np.exp([0.0, 1.0]))
    assert_rel(inf_grad, [[-1.0, p[0], p[1]]], 4 * EPS64)


# ---------------------------------------------------------------------------------------------
# Special cases: gamma = 0, alpha < 0
# ---------------------------------------------------------------------------------------------


@backends
@SETTINGS
@given(case=index_cases(lo=-30.0, hi=30.0, min_classes=1), reduction=REDUCTIONS)
def test_gamma_zero_is_softmax_cross_entropy_bit_for_bit(be, case, reduction):
    z, y, weight, ignore_index = case
    args = (be.array(z), be.array(y))
    w = be.maybe(weight)
    loss, grad = call(be, "softmax_focal_loss_value_and_grad", *args, 0.0, w, ignore_index,
                      reduction)
    ce, ce_grad = call(be, "softmax_cross_entropy_value_and_grad", *args, w, ignore_index,
                       reduction)
    np.testing.assert_array_equal(to_np(loss), to_np(ce))  # bitwise: the same kernel
    np.testing.assert_array_equal(to_np(grad), to_np(ce_grad))


@backends
@SETTINGS
@given(arrays=binary_arrays(lo=-50.0, hi=50.0), reduction=REDUCTIONS)
def test_gamma_zero_without_alpha_is_binary_cross_entropy_with_logits(be, arrays, reduction):
    z, t = arrays
    focal = call(be, "sigmoid_focal_loss", be.array(z), be.array(t), -1.0, 0.0, reduction)
    bce = call(be, "binary_cross_entropy_with_logits", be.array(z), be.array(t),
               reduction=reduction)
    # both sum softplus terms; torch's BCE kernel rounds differently: a few ulps
    np.testing.assert_allclose(to_np(focal), to_np(bce), rtol=4 * EPS64, atol=1e-300)


# ---------------------------------------------------------------------------------------------
# Precision, backends, shapes, reductions
# ---------------------------------------------------------------------------------------------


@backends
@FEW
@given(arrays=binary_arrays(), case=index_cases(), gamma=GAMMAS)
def test_float32_within_float32_rounding(be, arrays, case, gamma):
    z, t = arrays
    ref = torchvision_sigmoid_focal_loss(torch.from_numpy(z.astype(np.float32).astype(float)),
                                         torch.from_numpy(t.astype(np.float32).astype(float)),
                                         0.25, gamma)
    out = call(be, "sigmoid_focal_loss", be.array(z, "float32"), be.array(t, "float32"), 0.25,
               gamma)
    assert str(out.dtype).endswith("float32")
    np.testing.assert_allclose(to_np(out), ref.numpy(), rtol=1e-5, atol=1e-7)
    zs, y, weight, ignore_index = case
    z32 = zs.astype(np.float32).astype(np.float64)
    ref = written_softmax_focal_loss(torch.from_numpy(z32), torch.from_numpy(y), gamma,
                                     None if weight is None else torch.from_numpy(weight),
                                     ignore_index, "none")
    out, grad = call(be, "softmax_focal_loss_value_and_grad", be.array(zs, "float32"),
                     be.array(y), gamma, be.maybe(weight), ignore_index, "none")
    assert str(grad.dtype).endswith("float32")
    np.testing.assert_allclose(to_np(out), ref.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("be", "dtype"), [(NUMPY, "float16"), (TORCH, "float16"),
                                          (TORCH, "bfloat16")], ids=str)
def test_half_precision_is_float32_rounded_once(be, dtype):
    rng = np.random.default_rng(12)
    z = be.array(rng.normal(0, 4, (6, 5)), dtype)
    t = be.array(rng.random((6, 5)), dtype)
    y = be.array(rng.integers(0, 5, 6))
    w = be.array(rng.random(5) + 0.5, dtype)

    def f32(x):
        return x.astype(np.float32) if be is NUMPY else x.to(torch.float32)

    def back(x):
        return x.astype(dtype) if be is NUMPY else x.to(TORCH_DTYPES[dtype])

    for name, args in (("sigmoid_focal_loss", (t, 0.25, 2.0, "none")),
                       ("sigmoid_focal_loss_grad", (t, 0.25, 2.0, "mean")),
                       ("softmax_focal_loss", (y, 2.0, w, -100, "none")),
                       ("softmax_focal_loss_grad", (y, 0.5, w, -100, "mean"))):
        half = call(be, name, z, *args)
        args32 = tuple(f32(a) if a is t or a is w else a for a in args)
        once = back(call(be, name, f32(z), *args32))
        assert half.dtype == z.dtype, name
        np.testing.assert_array_equal(to_np(half), to_np(once), err_msg=name)


@SETTINGS
@given(arrays=binary_arrays(lo=-40.0, hi=40.0), case=index_cases(lo=-30.0, hi=30.0),
       alpha=ALPHAS, gamma=GAMMAS, reduction=REDUCTIONS)
def test_backends_agree(arrays, case, alpha, gamma, reduction):
    z, t = arrays
    a = [value_and_grad(be, "sigmoid", z, t, alpha, gamma, reduction) for be in BACKENDS]
    for x, y_ in zip(a[0], a[1], strict=True):
        np.testing.assert_allclose(to_np(x), to_np(y_), rtol=1e-14, atol=1e-300)
    zs, y, weight, ignore_index = case
    b = [value_and_grad(be, "softmax", zs, y, gamma, weight, ignore_index, reduction)
         for be in BACKENDS]
    # (gamma = 0 runs softmax_cross_entropy's kernel, whose log(s) for s near 1 is accurate to
    # an absolute ~eps, not relative: hence the atol)
    for x, y_ in zip(b[0], b[1], strict=True):
        np.testing.assert_allclose(to_np(x), to_np(y_), rtol=1e-13, atol=4 * EPS64)


@backends
def test_reductions_and_spatial_shapes(be):
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2, (2, 4, 3, 2))
    y = rng.integers(0, 4, (2, 3, 2))
    y[0, 0, 0] = -100
    w = np.array([0.5, 1.0, 2.0, 0.0])
    none = to_np(call(be, "softmax_focal_loss", be.array(z), be.array(y), 1.5, be.array(w),
                      reduction="none"))
    assert none.shape == (2, 3, 2) and none[0, 0, 0] == 0.0
    rows = z.transpose(0, 2, 3, 1).reshape(-1, 4)
    per_row = to_np(call(be, "softmax_focal_loss", be.array(rows), be.array(y.reshape(-1)), 1.5,
                         be.array(w), reduction="none"))
    np.testing.assert_allclose(none.reshape(-1), per_row, rtol=1e-15)
    total = to_np(call(be, "softmax_focal_loss", be.array(z), be.array(y), 1.5, be.array(w),
                       reduction="sum"))
    mean = to_np(call(be, "softmax_focal_loss", be.array(z), be.array(y), 1.5, be.array(w)))
    denominator = np.sum(w[np.where(y == -100, 0, y)] * (y != -100))
    np.testing.assert_allclose(total, math.fsum(none.reshape(-1)), rtol=1e-14)
    np.testing.assert_allclose(mean, total / denominator, rtol=1e-14)
    # 1-D logits and a scalar target
    one = to_np(call(be, "softmax_focal_loss", be.array(z[0, :, 0, 0]), be.array(y[0, 0, 1]),
                     1.5, reduction="none"))
    assert one.shape == ()
    # the binary loss: mean over every element
    t = rng.random((3, 4))
    zb = rng.normal(0, 3, (3, 4))
    per = to_np(call(be, "sigmoid_focal_loss", be.array(zb), be.array(t)))
    assert per.shape == (3, 4)
    mean_b = to_np(call(be, "sigmoid_focal_loss", be.array(zb), be.array(t), reduction="mean"))
    sum_b = to_np(call(be, "sigmoid_focal_loss", be.array(zb), be.array(t), reduction="sum"))
    np.testing.assert_allclose(mean_b, math.fsum(per.reshape(-1)) / 12, rtol=1e-14)
    np.testing.assert_allclose(sum_b, math.fsum(per.reshape(-1)), rtol=1e-14)
    g_mean = to_np(call(be, "sigmoid_focal_loss_grad", be.array(zb), be.array(t),
                        reduction="mean"))
    g_none = to_np(call(be, "sigmoid_focal_loss_grad", be.array(zb), be.array(t)))
    np.testing.assert_allclose(g_mean, g_none / 12, rtol=1e-15)


@backends
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_sigmoid_focal_loss_over_many_blocks(be, reduction):
    """More elements than one cache-sized block (2^15 in NumPy, 2^16 in torch on a CPU), in a
    non-contiguous array: every block, and NumPy's threads, compute their part."""
    rng = np.random.default_rng(7)
    z = rng.uniform(-6, 6, (400, 2 * 350))[:, ::2]
    t = np.where(rng.random((400, 350)) < 0.5, rng.random((400, 350)), 1.0)
    ref, ref_grad = autograd(torchvision_sigmoid_focal_loss, np.ascontiguousarray(z),
                             torch.from_numpy(t), 0.25, 2.0, reduction)
    if be is TORCH:
        zt = torch.from_numpy(z)
        value = be.mod.sigmoid_focal_loss(zt, torch.from_numpy(t), reduction=reduction)
        grad = be.mod.sigmoid_focal_loss_grad(zt, torch.from_numpy(t), reduction=reduction)
    else:
        value, grad = value_and_grad(be, "sigmoid", z, t, 0.25, 2.0, reduction)
    assert_rel(value, ref, 1e-12, 1e-300)
    assert_rel(grad, ref_grad, 1e-12, 1e-15 * float(np.max(np.abs(ref_grad))))


@backends
def test_empty_mean_is_zero(be):
    z = be.array([[1.0, 2.0], [0.0, 3.0]])
    y = be.array([-100, -100])
    loss, grad = call(be, "softmax_focal_loss_value_and_grad", z, y)
    assert float(to_np(loss)) == 0.0 and (to_np(grad) == 0).all()


def test_torch_backward_with_upstream_gradients_and_integer_targets():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 2, (4, 3))
    upstream = torch.tensor(rng.normal(size=4))
    y = torch.tensor([0, 2, 1, 2], dtype=torch.uint8)
    zt = torch.tensor(z, requires_grad=True)
    (TORCH.mod.softmax_focal_loss(zt, y, 2.0, reduction="none") * upstream).sum().backward()
    zr = torch.tensor(z, requires_grad=True)
    (written_softmax_focal_loss(zr, y.long(), 2.0, reduction="none") * upstream).sum().backward()
    assert_rel(zt.grad, zr.grad.numpy(), 1e-13)
    up2 = torch.tensor(rng.normal(size=(4, 3)))
    zt = torch.tensor(z, requires_grad=True)
    t = torch.tensor(rng.random((4, 3)))
    (TORCH.mod.sigmoid_focal_loss(zt, t) * up2).sum().backward()
    zr = torch.tensor(z, requires_grad=True)
    (torchvision_sigmoid_focal_loss(zr, t) * up2).sum().backward()
    assert_rel(zt.grad, zr.grad.numpy(), 1e-13)
    # a scaled reduced loss: the saved gradient times the upstream scalar
    zt = torch.tensor(z, requires_grad=True)
    (3.0 * TORCH.mod.sigmoid_focal_loss(zt, t, reduction="mean")).backward()
    zr = torch.tensor(z, requires_grad=True)
    (3.0 * torchvision_sigmoid_focal_loss(zr, t, reduction="mean")).backward()
    assert_rel(zt.grad, zr.grad.numpy(), 1e-13)


def test_dispatch():
    z = np.array([[1.0, -2.0, 0.5]])
    assert isinstance(ce_lib.softmax_focal_loss(z, np.array([1])), np.ndarray | np.generic)
    assert isinstance(ce_lib.sigmoid_focal_loss(torch.tensor(z), z * 0), torch.Tensor)
    assert ce_lib.softmax_focal_loss_grad.__doc__ == NUMPY.mod.softmax_focal_loss_grad.__doc__


# ---------------------------------------------------------------------------------------------
# Bad input: the same exception and message in both backends, nothing modified
# ---------------------------------------------------------------------------------------------

Z = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
T = [[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]
Y = [0, 2]
SIGMOID = ("sigmoid_focal_loss", "sigmoid_focal_loss_grad")
SOFTMAX = ("softmax_focal_loss", "softmax_focal_loss_grad", "softmax_focal_loss_value_and_grad")


def _sig(z=Z, t=T, **kw):
    return lambda be: ((be.array(z), be.array(t)), kw)


def _soft(z=Z, y=Y, **kw):
    def build(be):
        kw2 = {k: be.array(v) if isinstance(v, list | np.ndarray) else v for k, v in kw.items()}
        return (be.array(z), be.array(np.array(y))), kw2
    return build


BAD = [
    ("negative gamma", SIGMOID + SOFTMAX, {"gamma": -0.5}, ValueError,
     r"gamma must be finite and non-negative, got -0.5"),
    ("NaN gamma", SIGMOID + SOFTMAX, {"gamma": math.nan}, ValueError, "gamma must be finite"),
    ("infinite gamma", SIGMOID + SOFTMAX, {"gamma": math.inf}, ValueError,
     "gamma must be finite"),
    ("string gamma", SIGMOID + SOFTMAX, {"gamma": "2"}, TypeError,
     "gamma must be a real number, got str"),
    ("boolean gamma", SIGMOID + SOFTMAX, {"gamma": True}, TypeError,
     "gamma must be a real number, got bool"),
    ("alpha above 1", SIGMOID, {"alpha": 1.5}, ValueError,
     r"alpha must be finite and at most 1 \(a negative alpha disables"),
    ("NaN alpha", SIGMOID, {"alpha": math.nan}, ValueError, "alpha must be finite"),
    ("-inf alpha", SIGMOID, {"alpha": -math.inf}, ValueError, "alpha must be finite"),
    ("None alpha", SIGMOID, {"alpha": None}, TypeError, "alpha must be a real number"),
    ("bad reduction", SIGMOID + SOFTMAX, {"reduction": "avg"}, ValueError,
     "reduction must be one of"),
    ("float ignore_index", SOFTMAX, {"ignore_index": 1.0}, TypeError,
     "ignore_index must be an int"),
]


def _bad_cases():
    out = []
    for label, names, kw, exc, match in BAD:
        for name in names:
            build = _sig(**kw) if name in SIGMOID else _soft(**kw)
            out.append(pytest.param(name, build, exc, match, id=f"{name}-{label}"))
    more = [
        ("sigmoid", _sig(z=[[1.0, 2.0]]), ValueError, "target must have the same shape as logits"),
        ("sigmoid", _sig(t=[[1.0, 0.0, 1.5], [0.0, 1.0, 0.0]]), ValueError,
         r"target must contain probabilities in \[0, 1\]"),
        ("sigmoid", _sig(z=[[1.0, np.nan, 0.5], [0.0, -1.0, 3.0]]), ValueError,
         "logits contains NaN"),
        ("sigmoid", _sig(z=[[1.0, np.inf, 0.5], [0.0, -1.0, 3.0]]), ValueError,
         r"logits contains \+inf"),
        ("sigmoid", _sig(z=[[1.0, -np.inf, 0.5], [0.0, -1.0, 3.0]]), ValueError,
         "logits contains -inf"),
        ("sigmoid", lambda be: ((be.array(np.array([[1, 2, 0], [0, 1, 3]])), be.array(T)), {}),
         TypeError, "logits must be a floating-point array, got integer"),
        ("softmax", _soft(y=[0, 3]), ValueError, r"target contains class index 3 outside \[0, 3\)"),
        ("softmax", _soft(y=[[0, 1]]), ValueError, "target of class indices must have shape"),
        ("softmax", lambda be: ((be.array(Z), be.array(T)), {}), TypeError,
         "target must hold integer class indices"),
        ("softmax", lambda be: ((be.array(Z), be.array(np.array([True, False]))), {}), TypeError,
         "target must hold integer class indices"),
        ("softmax", _soft(weight=[1.0, -1.0, 1.0]), ValueError,
         "weight must be finite and non-negative"),
        ("softmax", _soft(weight=[1.0, 1.0]), ValueError, r"weight must have shape \(3,\)"),
        ("softmax", _soft(z=[[1.0, np.nan, 0.5], [0.0, -1.0, 3.0]], y=[0, -100]), ValueError,
         "logits contains NaN"),
        ("softmax", _soft(z=[[1.0, np.inf, 0.5], [0.0, -1.0, 3.0]]), ValueError,
         r"logits contains \+inf"),
        ("softmax", _soft(z=[[-np.inf] * 3, [0.0, -1.0, 3.0]], y=[-100, 1]), ValueError,
         "a row whose logits are all -inf"),
        ("softmax", lambda be: ((be.array(np.ones((2, 3), dtype=np.int64)), be.array(np.array(Y))),
                                {}), TypeError, "logits must be a floating-point array"),
        ("softmax", _soft(z=[[]], y=[0]), ValueError, "logits must have at least one class"),
    ]
    for kind, build, exc, match in more:
        for name in SIGMOID if kind == "sigmoid" else SOFTMAX:
            out.append(pytest.param(name, build, exc, match, id=f"{name}-{match[:30]}"))
    return out


BAD_CASES = _bad_cases()


@backends
@pytest.mark.parametrize(("name", "build", "exc", "match"), BAD_CASES)
def test_bad_input_raises_and_changes_nothing(be, name, build, exc, match):
    args, kwargs = build(be)
    assert_refused(functools.partial(call, be, name), args, kwargs, exc, match)


@pytest.mark.parametrize(("name", "build", "exc", "match"), BAD_CASES)
def test_both_backends_say_the_same(name, build, exc, match):
    messages = []
    for be in BACKENDS:
        args, kwargs = build(be)
        with pytest.raises(exc) as info:
            call(be, name, *args, **kwargs)
        messages.append(str(info.value).replace("torch.", ""))  # dtype torch.int64 = int64
    assert messages[0] == messages[1]


@backends
@pytest.mark.parametrize("name", SIGMOID)
def test_non_numeric_target_is_a_type_error(be, name):
    with pytest.raises(TypeError, match="target must be"):
        call(be, name, be.array(Z), [["a", "b", "c"], ["d", "e", "f"]])


def test_torch_weight_requiring_grad_is_refused():
    with pytest.raises(ValueError, match="weight must not require grad"):
        TORCH.mod.softmax_focal_loss(torch.tensor(Z), torch.tensor(Y),
                                     weight=torch.ones(3, dtype=torch.float64,
                                                       requires_grad=True))


@backends
def test_valid_extremes_are_accepted(be):
    """alpha = 1, alpha = 0, a negative alpha and gamma = 0 are valid; integer and boolean
    targets of the binary loss too."""
    z = be.array(Z)
    for alpha in (1.0, 0.0, -0.5, -100):
        assert np.isfinite(to_np(call(be, "sigmoid_focal_loss", z, be.array(T), alpha))).all()
    hard = call(be, "sigmoid_focal_loss", z, be.array(np.array([[1, 0, 1], [0, 1, 0]])))
    boolean = call(be, "sigmoid_focal_loss", z, be.array(np.array([[1, 0, 1], [0, 1, 0]]) == 1))
    floats_ = call(be, "sigmoid_focal_loss", z, be.array([[1.0, 0, 1], [0, 1, 0]]))
    np.testing.assert_array_equal(to_np(hard), to_np(floats_))
    np.testing.assert_array_equal(to_np(boolean), to_np(floats_))
