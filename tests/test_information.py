"""entropy, cross_entropy and kl_divergence against scipy, torch and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import (
    SETTINGS,
    assert_close,
    backends,
    distributions,
    last_axis_shapes,
    to_np,
    torch64,
)

LN2 = math.log(2)
FLOAT_DTYPES = pytest.mark.parametrize("dtype", ["float32", "float64"])


def _scipy_rows(fn, *arrays):
    """Apply a scipy function to every row (last axis) of broadcast arrays."""
    arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
    out = np.empty(arrays[0].shape[:-1])
    for i in np.ndindex(out.shape):
        out[i] = fn(*[a[i] for a in arrays])
    return out


def _scipy_cross_entropy(p, q):
    return scipy.stats.entropy(p) + scipy.stats.entropy(p, q)


def _torch_kl(p, q):
    # F.kl_div(log q, p) = p (log p - log q), with 0 where p = 0
    with np.errstate(divide="ignore"):
        log_q = torch.from_numpy(np.log(to_np(q)))
    return F.kl_div(log_q, torch64(p), reduction="none").sum(-1)


@st.composite
def pq_pairs(draw, zeros=True):
    shape = draw(last_axis_shapes(max_dims=3))
    p = draw(distributions(shape, zeros=zeros))
    q = draw(distributions(shape, zeros=False))
    # strictly positive q: a floor keeps the cross entropy finite
    q = (q + 1e-3) / (q + 1e-3).sum(-1, keepdims=True)
    return p, q


@backends
@FLOAT_DTYPES
@SETTINGS
@given(data=st.data(), base=st.sampled_from([None, 2, math.e, 10]))
def test_entropy_matches_scipy(be, dtype, data, base):
    shape = data.draw(last_axis_shapes(max_dims=3))
    p = be.array(data.draw(distributions(shape)), dtype)
    p64 = to_np(p)
    expected = _scipy_rows(lambda r: scipy.stats.entropy(r, base=base), p64)
    assert_close(be.mod.entropy(p, base=base), expected, dtype)
    # by hand, with 0 log 0 = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p64 > 0, -p64 * np.log(p64), 0.0)
    by_hand = terms.sum(-1) / (1 if base is None else math.log(base))
    assert_close(be.mod.entropy(p, base=base), by_hand, dtype)


@backends
@FLOAT_DTYPES
@SETTINGS
@given(pair=pq_pairs(), base=st.sampled_from([None, 2]))
def test_cross_entropy_and_kl_match_scipy_and_torch(be, dtype, pair, base):
    p, q = (be.array(a, dtype) for a in pair)
    p64, q64 = to_np(p), to_np(q)
    scale = 1 if base is None else math.log(base)
    kl = be.mod.kl_divergence(p, q, base=base)
    h = be.mod.cross_entropy(p, q, base=base)
    assert_close(kl, _scipy_rows(scipy.stats.entropy, p64, q64) / scale, dtype)
    assert_close(kl, to_np(_torch_kl(p, q)) / scale, dtype)
    assert_close(h, _scipy_rows(_scipy_cross_entropy, p64, q64) / scale, dtype)
    by_hand = -(np.where(p64 > 0, p64, 0) * np.log(q64)).sum(-1) / scale
    assert_close(h, by_hand, dtype)


@backends
@SETTINGS
@given(pair=pq_pairs())
def test_cross_entropy_is_entropy_plus_kl(be, pair):
    p, q = (be.array(a) for a in pair)
    h_pq = to_np(be.mod.cross_entropy(p, q))
    h_p = to_np(be.mod.entropy(p))
    kl = to_np(be.mod.kl_divergence(p, q))
    np.testing.assert_allclose(h_pq, h_p + kl, rtol=1e-12, atol=1e-12)


@backends
@SETTINGS
@given(pair=pq_pairs())
def test_kl_is_nonnegative_and_zero_only_for_equal_distributions(be, pair):
    p, q = pair
    kl = to_np(be.mod.kl_divergence(be.array(p), be.array(q)))
    assert (kl >= -1e-15).all()
    # Pinsker: KL(p || q) >= (sum |p - q|)^2 / 2, so KL > 0 wherever p != q
    tv = np.abs(p - q).sum(-1)
    assert (kl >= tv**2 / 2 - 1e-12).all()
    assert (kl[tv > 1e-6] > 0).all()
    # and exactly 0 for q = p, zeros included
    same = to_np(be.mod.kl_divergence(be.array(p), be.array(p)))
    np.testing.assert_array_equal(same, np.zeros(p.shape[:-1]))
    # H(p, p) = H(p)
    np.testing.assert_allclose(to_np(be.mod.cross_entropy(be.array(p), be.array(p))),
                               to_np(be.mod.entropy(be.array(p))), rtol=1e-13, atol=1e-15)


@backends
def test_hand_computed_values(be):
    a = be.array
    assert_close(be.mod.entropy(a([0.5, 0.5])), LN2, "float64")
    assert_close(be.mod.entropy(a([0.5, 0.5]), base=2), 1.0, "float64")
    assert_close(be.mod.entropy(a([0.25] * 4), base=2), 2.0, "float64")
    assert_close(be.mod.entropy(a([0.25] * 4)), math.log(4), "float64")
    # 0 log 0 = 0: a certain outcome carries no information
    assert_close(be.mod.entropy(a([1.0, 0.0, 0.0])), 0.0, "float64")
    assert_close(be.mod.entropy(a([0.2, 0.8])),
                 -0.2 * math.log(0.2) - 0.8 * math.log(0.8), "float64")
    assert_close(be.mod.cross_entropy(a([1.0, 0.0, 0.0]), a([0.7, 0.2, 0.1])), -math.log(0.7),
                 "float64")
    assert_close(be.mod.cross_entropy(a([0.5, 0.5]), a([0.9, 0.1]), base=2),
                 -(0.5 * math.log2(0.9) + 0.5 * math.log2(0.1)), "float64")
    assert_close(be.mod.kl_divergence(a([0.5, 0.5]), a([0.9, 0.1])),
                 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1), "float64")
    assert_close(be.mod.kl_divergence(a([0.5, 0.5]), a([0.9, 0.1]), base=2),
                 (0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)) / LN2, "float64")


@backends
def test_bits_are_nats_over_ln2(be):
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(6), size=5)
    q = rng.dirichlet(np.ones(6), size=5)
    for fn, args in ((be.mod.entropy, (p,)), (be.mod.cross_entropy, (p, q)),
                     (be.mod.kl_divergence, (p, q))):
        nats = to_np(fn(*map(be.array, args)))
        bits = to_np(fn(*map(be.array, args), base=2))
        np.testing.assert_allclose(bits, nats / LN2, rtol=1e-14)


@backends
def test_infinite_where_q_is_zero_but_p_is_not(be):
    a = be.array
    assert to_np(be.mod.cross_entropy(a([0.5, 0.5]), a([1.0, 0.0]))) == math.inf
    assert to_np(be.mod.kl_divergence(a([0.5, 0.5]), a([1.0, 0.0]))) == math.inf
    # q = 0 where p = 0 costs nothing
    assert_close(be.mod.cross_entropy(a([1.0, 0.0]), a([1.0, 0.0])), 0.0, "float64")
    assert_close(be.mod.kl_divergence(a([0.0, 1.0]), a([0.0, 1.0])), 0.0, "float64")
    assert_close(be.mod.cross_entropy(a([0.0, 1.0]), a([0.0, 1.0])), 0.0, "float64")
    # row by row: only the offending row is infinite
    out = to_np(be.mod.kl_divergence(a([[0.5, 0.5], [1.0, 0.0]]), a([[1.0, 0.0], [0.5, 0.5]])))
    assert out[0] == math.inf
    np.testing.assert_allclose(out[1], math.log(2), rtol=1e-15)


@backends
def test_shapes_and_broadcasting(be):
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4), size=(2, 3))
    q = rng.dirichlet(np.ones(4))
    # 1-D input gives a 0-d result
    h = be.mod.entropy(be.array(q))
    assert tuple(h.shape) == ()
    assert tuple(be.mod.cross_entropy(be.array(q), be.array(q)).shape) == ()
    assert tuple(be.mod.entropy(be.array(p)).shape) == (2, 3)
    # q broadcast against p
    h_pq = be.mod.cross_entropy(be.array(p), be.array(q))
    expected = -(p * np.log(q)).sum(-1)
    assert_close(h_pq, expected, "float64")
    kl = be.mod.kl_divergence(be.array(p), be.array(q))
    assert_close(kl, (p * np.log(p / q)).sum(-1), "float64")
    # p broadcast against q
    kl2 = be.mod.kl_divergence(be.array(q), be.array(p))
    assert_close(kl2, (q * np.log(q / p)).sum(-1), "float64")


@backends
def test_integer_and_boolean_one_hot_p_is_accepted(be):
    q = be.array([0.2, 0.5, 0.3])
    for p in (be.array(np.array([0, 1, 0])), be.array(np.array([False, True, False]))):
        assert_close(be.mod.cross_entropy(p, q), -math.log(0.5), "float64")
        assert_close(be.mod.kl_divergence(p, q), -math.log(0.5), "float64")
        out = be.mod.entropy(p)
        assert float(to_np(out)) == 0.0


@backends
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_dtype_is_kept(be, dtype):
    p = be.array([0.25, 0.25, 0.5], dtype)
    q = be.array([0.5, 0.25, 0.25], dtype)
    h = be.mod.entropy(p)
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.5))
    assert_close(h, expected, dtype)
    assert_close(be.mod.cross_entropy(p, q), -(0.25 * math.log(0.5) + 0.25 * math.log(0.25)
                                              + 0.5 * math.log(0.25)), dtype)
    assert_close(be.mod.kl_divergence(p, q), 0.25 * math.log(0.5) + 0.5 * math.log(2), dtype)


@backends
@SETTINGS
@given(p=hnp.arrays(np.float64, (3,), elements=st.floats(0.0, 1.0)))
def test_rows_within_tolerance_of_one_are_accepted(be, p):
    """A float64 row may sum to 1 only within rounding (here 1 - 1e-9 < sqrt(eps))."""
    s = p.sum()
    p = p / s if s > 0 else np.array([1.0, 0.0, 0.0])
    p = p * (1 - 1e-9)
    h = be.mod.entropy(be.array(p))
    assert np.isfinite(to_np(h))


def test_torch_backend_returns_tensors():
    from ce_lib import torch as ct

    p = torch.tensor([0.5, 0.5], dtype=torch.float64)
    assert isinstance(ct.entropy(p), torch.Tensor)
    assert isinstance(ct.cross_entropy(p, p), torch.Tensor)
    assert isinstance(ct.kl_divergence(p, p), torch.Tensor)
