"""softmax, log_softmax, logsumexp, sigmoid, log_sigmoid against torch and extended precision."""

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
    HALF_TOL,
    SETTINGS,
    TORCH,
    assert_close,
    assert_matches,
    backends,
    dtypes_of,
    float_arrays,
    halves_of,
    logits_range,
    ref_log_sigmoid,
    ref_log_softmax,
    ref_logsumexp,
    ref_sigmoid,
    ref_softmax,
    to_np,
    torch64,
)


@st.composite
def arrays_and_axis(draw, dtype):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    lo, hi = logits_range(dtype)
    x = draw(float_arrays(shape, lo, hi))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, axis


# ---------------------------------------------------------------------------------------------
# Property tests: both backends, every dtype, random shapes and axes
# ---------------------------------------------------------------------------------------------


@dtypes_of
@SETTINGS
@given(data=st.data())
def test_softmax_matches_torch_and_exact(be, dtype, data):
    values, axis = data.draw(arrays_and_axis(dtype))
    x = be.array(values, dtype)
    x64 = to_np(x)
    out = be.mod.softmax(x, axis=axis)
    assert_matches(out, ref_softmax(x64, axis), dtype, F.softmax(torch64(x), dim=axis))
    np.testing.assert_allclose(to_np(out).sum(axis=axis), 1.0, rtol=0,
                               atol=1e-2 if "16" in dtype else 1e-5)


@dtypes_of
@SETTINGS
@given(data=st.data())
def test_log_softmax_matches_torch_and_exact(be, dtype, data):
    values, axis = data.draw(arrays_and_axis(dtype))
    x = be.array(values, dtype)
    x64 = to_np(x)
    out = be.mod.log_softmax(x, axis=axis)
    assert_matches(out, ref_log_softmax(x64, axis), dtype, F.log_softmax(torch64(x), dim=axis))


@dtypes_of
@SETTINGS
@given(data=st.data(), keepdims=st.booleans())
def test_logsumexp_matches_torch_and_exact(be, dtype, data, keepdims):
    values, axis = data.draw(arrays_and_axis(dtype))
    x = be.array(values, dtype)
    x64 = to_np(x)
    out = be.mod.logsumexp(x, axis=axis, keepdims=keepdims)
    expected = torch.logsumexp(torch64(x), dim=axis, keepdim=keepdims)
    assert_matches(out, ref_logsumexp(x64, axis, keepdims), dtype, expected)


@dtypes_of
@SETTINGS
@given(data=st.data())
def test_logsumexp_default_axis_is_last(be, dtype, data):
    values, _ = data.draw(arrays_and_axis(dtype))
    x = be.array(values, dtype)
    assert_matches(be.mod.logsumexp(x), ref_logsumexp(to_np(x), -1), dtype)
    assert_matches(be.mod.softmax(x), ref_softmax(to_np(x), -1), dtype)
    assert_matches(be.mod.log_softmax(x), ref_log_softmax(to_np(x), -1), dtype)


@dtypes_of
@SETTINGS
@given(data=st.data())
def test_sigmoid_and_log_sigmoid_match_torch_and_exact(be, dtype, data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5))
    lo, hi = (-12.0, 12.0) if "16" in dtype else (-60.0, 60.0)
    x = be.array(data.draw(float_arrays(shape, lo, hi)), dtype)
    x64 = to_np(x)
    assert_matches(be.mod.sigmoid(x), ref_sigmoid(x64), dtype, torch.sigmoid(torch64(x)))
    assert_matches(be.mod.log_sigmoid(x), ref_log_sigmoid(x64), dtype,
                   F.logsigmoid(torch64(x)))


@backends
@SETTINGS
@given(x=float_arrays((3, 4)), shift=st.floats(-50, 50))
def test_softmax_is_shift_invariant(be, x, shift):
    a = to_np(be.mod.softmax(be.array(x)))
    b = to_np(be.mod.softmax(be.array(x + shift)))
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@backends
@SETTINGS
@given(x=float_arrays((2, 5), -30, 30))
def test_activation_identities(be, x):
    """log_softmax = log(softmax) = x - logsumexp;  log_sigmoid(x) - log_sigmoid(-x) = x."""
    t = be.array(x)
    lsm = to_np(be.mod.log_softmax(t))
    lse = to_np(be.mod.logsumexp(t, keepdims=True))
    np.testing.assert_allclose(lsm, x - lse, rtol=1e-12, atol=1e-12)
    sm = to_np(be.mod.softmax(t))
    np.testing.assert_allclose(np.exp(lsm), sm, rtol=1e-12, atol=1e-300)
    ls = to_np(be.mod.log_sigmoid(t)) - to_np(be.mod.log_sigmoid(be.array(-x)))
    np.testing.assert_allclose(ls, x, rtol=1e-12, atol=1e-12)
    s = to_np(be.mod.sigmoid(t)) + to_np(be.mod.sigmoid(be.array(-x)))
    np.testing.assert_allclose(s, 1.0, rtol=1e-15, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Hand-computed values
# ---------------------------------------------------------------------------------------------


@backends
def test_hand_computed_values(be):
    x = be.array([1.0, 2.0, 3.0])
    e = [math.exp(1), math.exp(2), math.exp(3)]
    s = math.fsum(e)
    assert_close(be.mod.softmax(x), [v / s for v in e], "float64")
    assert_close(be.mod.logsumexp(x), math.log(s), "float64")
    assert_close(be.mod.log_softmax(x), [k - math.log(s) for k in (1, 2, 3)], "float64")
    assert_close(be.mod.sigmoid(be.array([0.0, 2.0])), [0.5, 1 / (1 + math.exp(-2))], "float64")
    assert_close(be.mod.log_sigmoid(be.array([0.0])), [-math.log(2)], "float64")
    # two equal logits split the probability evenly; a uniform row has logsumexp log C + x
    assert_close(be.mod.softmax(be.array([[7.0, 7.0]])), [[0.5, 0.5]], "float64")
    assert_close(be.mod.logsumexp(be.array([5.0] * 4)), 5 + math.log(4), "float64")


@backends
def test_output_types_and_shapes(be):
    x = be.array(np.zeros((2, 3, 4)))
    for fn in (be.mod.softmax, be.mod.log_softmax, be.mod.sigmoid, be.mod.log_sigmoid):
        out = fn(x)
        assert type(out) is type(x)
        assert tuple(out.shape) == (2, 3, 4)
    assert tuple(be.mod.logsumexp(x).shape) == (2, 3)
    assert tuple(be.mod.logsumexp(x, axis=1).shape) == (2, 4)
    assert tuple(be.mod.logsumexp(x, axis=0, keepdims=True).shape) == (1, 3, 4)


def test_numpy_backend_accepts_lists():
    from ce_lib import numpy as cn

    out = cn.softmax([1.0, 2.0, 3.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, ref_softmax(np.array([1.0, 2.0, 3.0])).astype(float), 1e-15)
    assert isinstance(cn.sigmoid([0.0]), np.ndarray)
    np.testing.assert_allclose(cn.logsumexp([[0.0, 0.0]]), [math.log(2)], rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# Extreme but valid input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("be", "dtype", "scale"),
    [(be, d, s) for be in BACKENDS for d in be.dtypes for s in (1e4, 1e30)
     if s < 1e5 or "16" not in d],  # 1e30 is not a float16/bfloat16 value
    ids=lambda x: getattr(x, "name", x),
)
def test_huge_logits_stay_finite_and_exact(be, dtype, scale):
    if dtype == "float16":
        scale = 3e4  # log_softmax reaches -2 * scale, near float16's largest value
    rng = np.random.default_rng(0)
    values = rng.uniform(-1, 1, size=(4, 5)) * scale
    values[0] = [scale, -scale, 0.0, scale * 0.5, -scale * 0.25]
    values[1, :] = scale  # ties at the top
    x = be.array(values, dtype)
    x64 = to_np(x)
    for name, ref in (("softmax", ref_softmax), ("log_softmax", ref_log_softmax),
                      ("logsumexp", ref_logsumexp)):
        out = getattr(be.mod, name)(x)
        assert np.isfinite(to_np(out)).all(), name
        assert_matches(out, ref(x64), dtype)


@dtypes_of
def test_neg_inf_logits_mask_classes(be, dtype):
    x = be.array([[0.0, -math.inf, 1.0], [-math.inf, 2.0, -math.inf]], dtype)
    sm = be.mod.softmax(x)
    e = 1 / (1 + math.e)
    assert_close(sm, [[e, 0.0, 1 - e], [0.0, 1.0, 0.0]], dtype)
    lsm = to_np(be.mod.log_softmax(x))
    assert lsm[0, 1] == -math.inf and lsm[1, 0] == -math.inf and lsm[1, 2] == -math.inf
    rtol, atol = (1e-12, 1e-12) if dtype == "float64" else (1e-2, 1e-3)
    np.testing.assert_allclose(lsm[0, [0, 2]], [math.log(e), math.log(1 - e)], rtol, atol)
    assert lsm[1, 1] == 0
    assert_close(be.mod.logsumexp(x), [math.log(1 + math.e), 2.0], dtype)


@backends
def test_logsumexp_of_infinities_is_torch_compatible(be):
    """A row of only -inf has logsumexp -inf (the log of 0); +inf gives +inf, as in torch."""
    values = [[-math.inf, -math.inf], [math.inf, 0.0], [-math.inf, 1.0]]
    out = to_np(be.mod.logsumexp(be.array(values)))
    expected = torch.logsumexp(torch.tensor(values, dtype=torch.float64), dim=-1).numpy()
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out, [-math.inf, math.inf, 1.0])


@dtypes_of
def test_sigmoid_saturates_without_overflow(be, dtype):
    big = {"float16": 6e4, "bfloat16": 1e30, "float32": 1e30, "float64": 1e300}[dtype]
    values = [-big, -1e4, -100.0, -40.0, 0.0, 40.0, 100.0, 1e4, big]
    x = be.array(values, dtype)
    x64 = to_np(x)
    s = be.mod.sigmoid(x)
    ls = be.mod.log_sigmoid(x)
    assert np.isfinite(to_np(s)).all() and np.isfinite(to_np(ls)).all()
    assert_matches(s, ref_sigmoid(x64), dtype, torch.sigmoid(torch64(x)))
    assert_matches(ls, ref_log_sigmoid(x64), dtype, F.logsigmoid(torch64(x)))
    # log sigmoid(-1e4) is -1e4, not -inf: the whole point of computing it in log space
    assert to_np(ls)[1] == pytest.approx(-1e4, rel=1e-2 if "16" in dtype else 1e-7)


@dtypes_of
def test_sigmoid_of_infinity(be, dtype):
    x = be.array([-math.inf, math.inf], dtype)
    assert_close(be.mod.sigmoid(x), [0.0, 1.0], dtype)
    ls = to_np(be.mod.log_sigmoid(x))
    assert ls[0] == -math.inf and ls[1] == 0


def test_half_precision_torch_dtypes_are_kept():
    for dtype in (torch.float16, torch.bfloat16):
        x = torch.linspace(-3, 3, 7, dtype=dtype)
        for name in ("softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"):
            assert getattr(TORCH.mod, name)(x).dtype == dtype, name


@halves_of
@SETTINGS
@given(data=st.data())
def test_half_precision_is_computed_in_float32(be, dtype, data):
    """Each result is the exact answer for the rounded input, rounded once to half precision."""
    values, axis = data.draw(arrays_and_axis(dtype))
    x = be.array(values, dtype)
    x64 = to_np(x)
    tol = HALF_TOL[dtype]
    assert_close(be.mod.softmax(x, axis=axis), ref_softmax(x64, axis), dtype, tol=tol)
    assert_close(be.mod.log_softmax(x, axis=axis), ref_log_softmax(x64, axis), dtype, tol=tol)
    assert_close(be.mod.logsumexp(x, axis=axis), ref_logsumexp(x64, axis), dtype, tol=tol)
    assert_close(be.mod.sigmoid(x), ref_sigmoid(x64), dtype, tol=tol)
    assert_close(be.mod.log_sigmoid(x), ref_log_sigmoid(x64), dtype, tol=tol)
