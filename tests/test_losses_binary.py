"""binary_cross_entropy and binary_cross_entropy_with_logits against torch and extended precision."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from strategies import (
    REDUCTIONS,
    SETTINGS,
    assert_close,
    assert_matches,
    backends,
    bce_cases,
    dtypes_of,
    half_dtypes_of,
    ref_bce,
    ref_bce_with_logits,
    to_np,
    torch64,
)


def _torch_bce(case_x, target, weight, reduction):
    return F.binary_cross_entropy(torch64(case_x), torch64(target),
                                  weight=None if weight is None else torch64(weight),
                                  reduction=reduction)


def _torch_bce_logits(z, target, weight, pos_weight, reduction):
    return F.binary_cross_entropy_with_logits(
        torch64(z), torch64(target), weight=None if weight is None else torch64(weight),
        pos_weight=None if pos_weight is None else torch64(pos_weight), reduction=reduction)


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------


@dtypes_of
@SETTINGS
@given(case=bce_cases(logits=False))
def test_binary_cross_entropy_matches_torch(be, dtype, case):
    p = be.array(case.x, dtype)
    t = be.array(case.target, dtype)
    w = be.maybe(case.weight, dtype)
    out = be.mod.binary_cross_entropy(p, t, weight=w, reduction=case.reduction)
    p64, t64 = to_np(p), to_np(t)
    w64 = None if w is None else to_np(w)
    expected = ref_bce(p64, t64, w64, case.reduction)
    assert_matches(out, expected, dtype, _torch_bce(p64, t64, w64, case.reduction))


@dtypes_of
@SETTINGS
@given(case=bce_cases(logits=True))
def test_binary_cross_entropy_with_logits_matches_torch(be, dtype, case):
    z = be.array(case.x, dtype)
    t = be.array(case.target, dtype)
    w = be.maybe(case.weight, dtype)
    pw = be.maybe(case.pos_weight, dtype)
    out = be.mod.binary_cross_entropy_with_logits(z, t, weight=w, pos_weight=pw,
                                                  reduction=case.reduction)
    args = [None if a is None else to_np(a) for a in (z, t, w, pw)]
    expected = ref_bce_with_logits(*args, case.reduction)
    assert_matches(out, expected, dtype, _torch_bce_logits(*args, case.reduction))


@backends
@SETTINGS
@given(case=bce_cases(logits=True))
def test_logits_form_equals_probability_form(be, case):
    """BCE-with-logits(z) = BCE(sigmoid(z)) away from saturation (no pos_weight)."""
    z = np.clip(case.x, -15, 15)
    p = 1 / (1 + np.exp(-z))
    a = to_np(be.mod.binary_cross_entropy_with_logits(be.array(z), be.array(case.target),
                                                      weight=be.maybe(case.weight),
                                                      reduction=case.reduction))
    b = to_np(be.mod.binary_cross_entropy(be.array(p), be.array(case.target),
                                          weight=be.maybe(case.weight),
                                          reduction=case.reduction))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Hand-computed values and conventions
# ---------------------------------------------------------------------------------------------


@backends
def test_hand_computed_binary_cross_entropy(be):
    p = be.array([0.9, 0.2, 0.6])
    t = be.array([1.0, 0.0, 1.0])
    per = [-math.log(0.9), -math.log(0.8), -math.log(0.6)]
    assert_close(be.mod.binary_cross_entropy(p, t, reduction="none"), per, "float64")
    assert_close(be.mod.binary_cross_entropy(p, t, reduction="sum"), math.fsum(per), "float64")
    assert_close(be.mod.binary_cross_entropy(p, t), math.fsum(per) / 3, "float64")
    w = be.array([2.0, 0.0, 1.0])
    assert_close(be.mod.binary_cross_entropy(p, t, weight=w, reduction="sum"),
                 2 * per[0] + per[2], "float64")
    # the weighted mean divides by the number of elements, as torch does
    assert_close(be.mod.binary_cross_entropy(p, t, weight=w), (2 * per[0] + per[2]) / 3,
                 "float64")
    # soft target
    assert_close(be.mod.binary_cross_entropy(be.array([0.3]), be.array([0.25]), reduction="none"),
                 [-(0.25 * math.log(0.3) + 0.75 * math.log(0.7))], "float64")


@backends
def test_hand_computed_binary_cross_entropy_with_logits(be):
    z = be.array([0.0, 2.0, -1.0])
    t = be.array([1.0, 0.0, 1.0])
    s = [0.5, 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1))]
    per = [-math.log(s[0]), -math.log(1 - s[1]), -math.log(s[2])]
    assert_close(be.mod.binary_cross_entropy_with_logits(z, t, reduction="none"), per, "float64")
    assert_close(be.mod.binary_cross_entropy_with_logits(z, t), math.fsum(per) / 3, "float64")
    # pos_weight multiplies the positive term only
    pw = be.array([3.0])
    assert_close(be.mod.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none"),
                 [3 * per[0], per[1], 3 * per[2]], "float64")
    # pos_weight per class along the last axis
    z2 = be.array([[0.0, 1.0], [2.0, -2.0]])
    t2 = be.array([[1.0, 1.0], [1.0, 0.0]])
    pw2 = be.array([2.0, 5.0])
    ls = lambda x: -math.log1p(math.exp(-x))  # noqa: E731
    expected = [[-2 * ls(0.0), -5 * ls(1.0)], [-2 * ls(2.0), -ls(2.0)]]
    assert_close(be.mod.binary_cross_entropy_with_logits(z2, t2, pos_weight=pw2,
                                                         reduction="none"), expected, "float64")


@backends
@pytest.mark.parametrize("target_dtype", ["int64", "int32", "bool", "uint8"])
def test_integer_and_boolean_targets_are_accepted(be, target_dtype):
    t_int = np.array([1, 0, 1, 1]).astype(target_dtype)
    p = be.array([0.9, 0.2, 0.6, 0.99])
    z = be.array([2.0, -1.0, 0.5, 7.0])
    t_float = be.array(t_int.astype(np.float64))
    t = be.array(t_int)
    for reduction in REDUCTIONS:
        assert_close(be.mod.binary_cross_entropy(p, t, reduction=reduction),
                     to_np(be.mod.binary_cross_entropy(p, t_float, reduction=reduction)),
                     "float64", tol=(0, 0))
        assert_close(be.mod.binary_cross_entropy_with_logits(z, t, reduction=reduction),
                     to_np(be.mod.binary_cross_entropy_with_logits(z, t_float,
                                                                   reduction=reduction)),
                     "float64", tol=(0, 0))


@backends
@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 1, 4)])
def test_output_shapes(be, shape):
    rng = np.random.default_rng(0)
    p = be.array(rng.uniform(0.01, 0.99, shape))
    t = be.array(rng.integers(0, 2, shape).astype(float))
    for fn in (be.mod.binary_cross_entropy, be.mod.binary_cross_entropy_with_logits):
        assert tuple(fn(p, t, reduction="none").shape) == shape
        assert tuple(fn(p, t, reduction="sum").shape) == ()
        assert tuple(fn(p, t).shape) == ()


# ---------------------------------------------------------------------------------------------
# Extreme but valid input
# ---------------------------------------------------------------------------------------------


@dtypes_of
def test_probabilities_zero_and_one_give_torchs_clamped_values(be, dtype):
    """log 0 is clamped at -100, exactly like torch: a confident mistake costs 100, not inf."""
    p = be.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype)
    t = be.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.25], dtype)
    expected = [100.0, 100.0, 0.0, 0.0, 50.0, 75.0]
    out = be.mod.binary_cross_entropy(p, t, reduction="none")
    assert_close(out, expected, dtype)
    np.testing.assert_allclose(
        to_np(out), F.binary_cross_entropy(torch64(p), torch64(t), reduction="none").numpy(),
        rtol=1e-2 if "16" in dtype else 1e-15)
    assert_close(be.mod.binary_cross_entropy(p, t, reduction="sum"), 325.0, dtype)


@backends
def test_tiny_probabilities_hit_the_clamp(be):
    p = be.array([1e-50, 1e-40, 1e-300])
    t = be.array([1.0, 1.0, 1.0])
    # log(1e-40) = -92.1 is above the clamp, log(1e-50) = -115 is not
    assert_close(be.mod.binary_cross_entropy(p, t, reduction="none"),
                 [100.0, -math.log(1e-40), 100.0], "float64")


@dtypes_of
@pytest.mark.parametrize("magnitude", [100.0, 1e4])
def test_logits_far_from_zero_are_finite_and_exact(be, dtype, magnitude):
    values = np.array([magnitude, -magnitude, magnitude, -magnitude, 0.5 * magnitude,
                       -0.5 * magnitude])
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 0.7])
    z = be.array(values, dtype)
    t = be.array(target, dtype)
    pw = be.array([2.0], dtype)
    for pos_weight in (None, pw):
        out = be.mod.binary_cross_entropy_with_logits(z, t, pos_weight=pos_weight,
                                                      reduction="none")
        assert np.isfinite(to_np(out)).all()
        pw64 = None if pos_weight is None else to_np(pos_weight)
        expected = ref_bce_with_logits(to_np(z), to_np(t), None, pw64, "none")
        assert_matches(out, expected, dtype,
                       _torch_bce_logits(to_np(z), to_np(t), None, pw64, "none"))
    # a wrong confident answer costs |z|: log(1 - sigmoid(1e4)) is -1e4, not -inf
    out = to_np(be.mod.binary_cross_entropy_with_logits(z, t, reduction="none"))
    assert out[2] == pytest.approx(to_np(z)[2], rel=1e-2 if "16" in dtype else 1e-12)
    assert out[0] == pytest.approx(0.0, abs=1e-30)


@half_dtypes_of
def test_half_precision_accuracy(be, dtype):
    """Half-precision input: computed in float32, so accurate to the output's own rounding."""
    rng = np.random.default_rng(3)
    z = be.array(rng.normal(0, 4, (64,)), dtype)
    p = be.array(rng.uniform(0, 1, (64,)), dtype)
    t = be.array(rng.uniform(0, 1, (64,)), dtype)
    eps = 2.0**-11 if dtype == "float16" else 2.0**-8
    for reduction in REDUCTIONS:
        out = be.mod.binary_cross_entropy_with_logits(z, t, reduction=reduction)
        expected = ref_bce_with_logits(to_np(z), to_np(t), None, None, reduction)
        np.testing.assert_allclose(to_np(out), expected.astype(float), rtol=2 * eps, atol=1e-6)
        out = be.mod.binary_cross_entropy(p, t, reduction=reduction)
        expected = ref_bce(to_np(p), to_np(t), None, reduction)
        np.testing.assert_allclose(to_np(out), expected.astype(float), rtol=2 * eps, atol=1e-6)


def test_torch_half_dtypes_are_kept():
    from ce_lib import torch as ct

    for dtype in (torch.float16, torch.bfloat16):
        z = torch.linspace(-3, 3, 5, dtype=dtype)
        t = torch.tensor([0, 1, 0, 1, 1], dtype=dtype)
        assert ct.binary_cross_entropy_with_logits(z, t).dtype == dtype
        assert ct.binary_cross_entropy(torch.sigmoid(z), t, reduction="none").dtype == dtype


@backends
@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-12), ("float32", 1e-5)])
def test_small_losses_keep_their_relative_accuracy(be, dtype, rtol):
    """A confident right answer (z << 0 with t = 0, or z >> 0 with t = 1) costs softplus(-|z|),
    tiny but exactly representable: no cancellation against |z| is allowed to eat its digits."""
    zs = [-9.0, -20.0, -30.0, -40.0, 9.0, 30.0, 40.0]
    ts = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    z = be.array(zs, dtype)
    t = be.array(ts, dtype)
    expected = [math.log1p(math.exp(-abs(v))) for v in zs]
    out = be.mod.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert_close(out, expected, dtype, tol=(rtol, 0))
    pw = be.array([3.0], dtype)
    out = be.mod.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none")
    assert_close(out, [e * (3.0 if v > 0 else 1.0) for e, v in zip(expected, zs, strict=True)],
                 dtype, tol=(rtol, 0))
