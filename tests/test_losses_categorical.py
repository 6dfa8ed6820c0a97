"""categorical_cross_entropy (probabilities in, classes on the last axis) against references."""

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
    REDUCTIONS,
    SETTINGS,
    assert_close,
    assert_matches,
    backends,
    distributions,
    dtypes_of,
    last_axis_shapes,
    ref_categorical_ce,
    to_np,
    torch64,
)


def _torch_reference(p64, target, reduction):
    """torch: -sum t log p with torch's -100 clamp (F.nll_loss on the clamped logs for indices)."""
    log_p = torch.log(torch64(p64)).clamp(min=-100)
    t = torch.from_numpy(np.asarray(target))
    if t.dtype == torch.int64:
        c = log_p.shape[-1]
        losses = F.nll_loss(log_p.reshape(-1, c), t.reshape(-1), reduction="none")
        losses = losses.reshape(t.shape)
    else:
        losses = -(t.to(torch.float64) * log_p).sum(-1)
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    return losses


@st.composite
def categorical_cases(draw):
    shape = draw(last_axis_shapes(max_dims=3))
    p = draw(distributions(shape))
    kind = draw(st.sampled_from(["index", "onehot", "soft"]))
    c = shape[-1]
    if kind == "index":
        target = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, c - 1)))
    elif kind == "onehot":
        idx = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, c - 1)))
        target = np.eye(c)[idx]
    else:
        target = draw(distributions(shape, zeros=True))
    return p, target, draw(st.sampled_from(REDUCTIONS))


@dtypes_of
@SETTINGS
@given(case=categorical_cases())
def test_categorical_cross_entropy_matches_references(be, dtype, case):
    p_values, target, reduction = case
    p = be.array(p_values, dtype)
    t = be.array(target, None if target.dtype.kind == "i" else dtype)
    out = be.mod.categorical_cross_entropy(p, t, reduction=reduction)
    p64, t64 = to_np(p), to_np(t)
    assert_matches(out, ref_categorical_ce(p64, t64, reduction), dtype,
                   _torch_reference(p64, t64, reduction))


@backends
@SETTINGS
@given(case=categorical_cases())
def test_index_targets_equal_one_hot_targets(be, case):
    p_values, _, reduction = case
    c = p_values.shape[-1]
    idx = np.arange(math.prod(p_values.shape[:-1])).reshape(p_values.shape[:-1]) % c
    a = be.mod.categorical_cross_entropy(be.array(p_values), be.array(idx), reduction=reduction)
    b = be.mod.categorical_cross_entropy(be.array(p_values), be.array(np.eye(c)[idx]),
                                         reduction=reduction)
    np.testing.assert_array_equal(to_np(a), to_np(b))
    for one_hot in (np.eye(c, dtype=bool)[idx], np.eye(c, dtype=np.int64)[idx]):  # accepted too
        d = be.mod.categorical_cross_entropy(be.array(p_values), be.array(one_hot),
                                             reduction=reduction)
        np.testing.assert_array_equal(to_np(d), to_np(b))
    # both equal -log p[idx] (clamped at -100), computed here in float64
    with np.errstate(divide="ignore"):
        per = -np.maximum(np.log(np.take_along_axis(p_values, idx[..., None], -1)[..., 0]), -100)
    ref = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    np.testing.assert_allclose(to_np(a), ref, rtol=1e-14, atol=0)


@backends
@SETTINGS
@given(logits=hnp.arrays(np.float64, (3, 4), elements=st.floats(-8, 8)),
       idx=hnp.arrays(np.int64, (3,), elements=st.integers(0, 3)),
       reduction=st.sampled_from(REDUCTIONS))
def test_equals_softmax_cross_entropy_of_the_logits(be, logits, idx, reduction):
    """On softmax(z), the tutorial form equals the fused one (away from the -100 clamp)."""
    p = torch.softmax(torch.from_numpy(logits), -1).numpy()
    a = to_np(be.mod.categorical_cross_entropy(be.array(p), be.array(idx), reduction=reduction))
    b = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(idx), reduction=reduction)
    np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-12)


@backends
def test_hand_computed_values(be):
    p = be.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    t = be.array(np.array([0, 2]))
    per = [-math.log(0.7), -math.log(0.8)]
    assert_close(be.mod.categorical_cross_entropy(p, t, reduction="none"), per, "float64")
    assert_close(be.mod.categorical_cross_entropy(p, t, reduction="sum"), math.fsum(per),
                 "float64")
    assert_close(be.mod.categorical_cross_entropy(p, t), math.fsum(per) / 2, "float64")
    soft = be.array([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    assert_close(be.mod.categorical_cross_entropy(p, soft, reduction="none"),
                 [-(0.5 * math.log(0.7) + 0.5 * math.log(0.2)),
                  -(0.25 * math.log(0.1) + 0.75 * math.log(0.8))], "float64")
    # a single distribution (1-D) with a 0-d class index
    one = be.mod.categorical_cross_entropy(be.array([0.25, 0.75]), be.array(np.array(1)))
    assert_close(one, -math.log(0.75), "float64")


@backends
def test_zero_probability_of_the_target_costs_100(be):
    p = be.array([[1.0, 0.0], [0.0, 1.0]])
    out = be.mod.categorical_cross_entropy(p, be.array(np.array([1, 1])), reduction="none")
    assert_close(out, [100.0, 0.0], "float64")
    # a zero probability of a class the target does not name costs nothing
    out = be.mod.categorical_cross_entropy(p, be.array([[1.0, 0.0], [0.0, 1.0]]),
                                           reduction="none")
    assert_close(out, [0.0, 0.0], "float64")


@backends
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_output_shapes(be, shape):
    p = be.array(np.full(shape, 0.25))
    t = be.array(np.zeros(shape[:-1], dtype=np.int64))
    assert tuple(be.mod.categorical_cross_entropy(p, t, reduction="none").shape) == shape[:-1]
    assert tuple(be.mod.categorical_cross_entropy(p, t).shape) == ()
    assert_close(be.mod.categorical_cross_entropy(p, t), math.log(4), "float64")
