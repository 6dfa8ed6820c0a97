"""The torch backend is differentiable: gradients equal autograd's through torch's own losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    FEW,
    REDUCTIONS,
    SETTINGS,
    TORCH,
    bce_cases,
    ce_cases,
    class_shapes,
    linear_cases,
    to_np,
    torch_linear_ce_and_grads,
    torch_warns_always,
)

import ce_lib.torch as ct


@pytest.fixture(autouse=True)
def _torch_warns_every_time():
    """torch emits some warnings once per process; make every test see them (they are errors)."""
    with torch_warns_always():
        yield


def _grads(fn, *inputs, upstream=None, scale=1.0):
    """Gradient of scale * <fn(*inputs), upstream> with respect to every input."""
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*leaves) * scale
    if upstream is None:
        out.backward()
    else:
        out.backward(upstream)
    return [x.grad for x in leaves]


def _upstream(case_reduction, shape, seed=0):
    if case_reduction != "none":
        return None
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


# ---------------------------------------------------------------------------------------------
# softmax_cross_entropy: the closed-form backward saved in forward
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(case=ce_cases(), scale=st.sampled_from([1.0, 0.5, -3.0]))
def test_softmax_cross_entropy_backward_equals_autograd(case, scale):
    z = torch.from_numpy(case.logits)
    t = torch.from_numpy(case.target)
    w = None if case.weight is None else torch.from_numpy(case.weight)
    kw = dict(weight=w, reduction=case.reduction, label_smoothing=case.label_smoothing)
    if case.empty_mean():  # torch's gradient is NaN there: ours is 0 (documented)
        (a,) = _grads(lambda x: ct.softmax_cross_entropy(x, t, ignore_index=case.ignore_index,
                                                         **kw), z, scale=scale)
        assert not a.any()
        return
    ours = ct.softmax_cross_entropy(z, t, ignore_index=case.ignore_index, **kw)
    theirs = F.cross_entropy(z, t, ignore_index=case.ignore_index if case.index_target else -100,
                             **kw)
    g = _upstream(case.reduction, tuple(theirs.shape))
    (a,) = _grads(lambda x: ct.softmax_cross_entropy(x, t, ignore_index=case.ignore_index, **kw),
                  z, upstream=g, scale=scale)
    (b,) = _grads(lambda x: F.cross_entropy(
        x, t, ignore_index=case.ignore_index if case.index_target else -100, **kw),
        z, upstream=g, scale=scale)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    if not case.index_target:  # probability targets of every drawn shape receive a gradient
        ga, ta = _grads(lambda x, y: ct.softmax_cross_entropy(x, y, **kw), z, t, upstream=g,
                        scale=scale)
        gb, tb = _grads(lambda x, y: F.cross_entropy(x, y, **kw), z, t, upstream=g, scale=scale)
        np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ta.numpy(), tb.numpy(), rtol=1e-12, atol=1e-14)


@SETTINGS
@given(case=ce_cases())
def test_softmax_cross_entropy_backward_twice_and_accumulated(case):
    """Gradients accumulate over two backward passes, and a graph can be used twice."""
    z = torch.from_numpy(case.logits).requires_grad_(True)
    t = torch.from_numpy(case.target)
    w = None if case.weight is None else torch.from_numpy(case.weight)
    kw = dict(weight=w, ignore_index=case.ignore_index, reduction=case.reduction,
              label_smoothing=case.label_smoothing)
    loss = ct.softmax_cross_entropy(z, t, **kw).sum()
    loss.backward(retain_graph=True)
    once = z.grad.clone()
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * once.numpy(), rtol=1e-15)
    expected = to_np(ct.softmax_cross_entropy_grad(z.detach(), t, **kw))
    np.testing.assert_allclose(once.numpy(), expected, rtol=1e-15, atol=0)


def test_softmax_cross_entropy_inside_a_graph():
    """Gradients flow through a computation before the loss (a linear layer) into its weights."""
    torch.manual_seed(0)
    x = torch.randn(8, 5, dtype=torch.float64)
    lin = torch.randn(3, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))
    (ga,) = _grads(lambda m: ct.softmax_cross_entropy(x @ m.T, y, label_smoothing=0.1), lin)
    (gb,) = _grads(lambda m: F.cross_entropy(x @ m.T, y, label_smoothing=0.1), lin)
    np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_cross_entropy_gradcheck(reduction):
    torch.manual_seed(1)
    z = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0, 3], [-100, 2], [1, 1]])
    w = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)
    for eps in (0.0, 0.2):
        assert torch.autograd.gradcheck(
            lambda x, e=eps: ct.softmax_cross_entropy(x, y, weight=w, reduction=reduction,
                                                      label_smoothing=e), (z,))
    probs = torch.softmax(torch.randn(3, 4, 2, dtype=torch.float64), 1)
    assert torch.autograd.gradcheck(
        lambda x: ct.softmax_cross_entropy(x, probs, weight=w, reduction=reduction), (z,))


def test_all_ignored_gives_zero_gradient():
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.full((3,), -100)
    loss = ct.softmax_cross_entropy(z, y)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_gradient_of_low_precision_logits_has_their_dtype(dtype):
    torch.manual_seed(2)
    z64 = torch.randn(4, 5, dtype=torch.float64)
    y = torch.tensor([0, 4, 2, 1])
    z = z64.to(dtype).requires_grad_(True)
    loss = ct.softmax_cross_entropy(z, y, label_smoothing=0.1)
    assert loss.dtype == dtype
    loss.backward()
    assert z.grad.dtype == dtype
    (expected,) = _grads(lambda x: F.cross_entropy(x, y, label_smoothing=0.1),
                         z.detach().to(torch.float64))
    tol = 1e-2 if dtype != torch.float32 else 1e-5
    np.testing.assert_allclose(z.grad.to(torch.float64).numpy(), expected.numpy(), rtol=tol,
                               atol=tol / 10)
    for fn in (lambda x: ct.binary_cross_entropy_with_logits(x, torch.ones_like(x)),
               lambda x: ct.log_softmax(x).sum(), lambda x: ct.logsumexp(x).sum()):
        x = z64.to(dtype).requires_grad_(True)
        fn(x).backward()
        assert x.grad.dtype == dtype


def test_no_gradient_needed():
    z = torch.randn(2, 3, dtype=torch.float64)
    loss = ct.softmax_cross_entropy(z, torch.tensor([0, 1]))
    assert not loss.requires_grad
    with torch.no_grad():
        loss = ct.softmax_cross_entropy(z.requires_grad_(True), torch.tensor([0, 1]))
    assert not loss.requires_grad


def test_gradient_with_respect_to_probability_targets():
    """torch differentiates cross_entropy with respect to soft targets too."""
    torch.manual_seed(3)
    z = torch.randn(3, 4, dtype=torch.float64)
    t = torch.softmax(torch.randn(3, 4, dtype=torch.float64), -1)
    w = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    for reduction in REDUCTIONS:
        for eps in (0.0, 0.25):
            kw = dict(weight=w, reduction=reduction, label_smoothing=eps)
            g = _upstream(reduction, (3,))
            a = _grads(lambda x, tt, kw=kw: ct.softmax_cross_entropy(x, tt, **kw), z, t,
                       upstream=g)
            b = _grads(lambda x, tt, kw=kw: F.cross_entropy(x, tt, **kw), z, t, upstream=g)
            for ga, gb in zip(a, b, strict=True):
                np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# The other losses and the activations: autograd through torch's kernels
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(case=bce_cases(logits=True), scale=st.sampled_from([1.0, 0.5]))
def test_bce_with_logits_backward_equals_autograd(case, scale):
    t = torch.from_numpy(case.target)
    w = None if case.weight is None else torch.from_numpy(case.weight)
    pw = None if case.pos_weight is None else torch.from_numpy(case.pos_weight)
    kw = dict(weight=w, pos_weight=pw, reduction=case.reduction)
    z = torch.from_numpy(case.x)
    g = _upstream(case.reduction, z.shape)
    (a,) = _grads(lambda x: ct.binary_cross_entropy_with_logits(x, t, **kw), z, upstream=g,
                  scale=scale)
    (b,) = _grads(lambda x: F.binary_cross_entropy_with_logits(x, t, **kw), z, upstream=g,
                  scale=scale)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    # and equals the closed form
    if case.reduction != "none":
        closed = ct.binary_cross_entropy_with_logits_grad(z, t, **kw) * scale
        np.testing.assert_allclose(a.numpy(), closed.numpy(), rtol=1e-12, atol=1e-14)


@SETTINGS
@given(case=bce_cases(logits=False))
def test_bce_backward_equals_autograd(case):
    p = torch.from_numpy(np.clip(case.x, 1e-3, 1 - 1e-3))  # torch's gradient is inf at 0 and 1
    t = torch.from_numpy(case.target)
    w = None if case.weight is None else torch.from_numpy(case.weight)
    g = _upstream(case.reduction, p.shape)
    (a,) = _grads(lambda x: ct.binary_cross_entropy(x, t, weight=w, reduction=case.reduction),
                  p, upstream=g)
    (b,) = _grads(lambda x: F.binary_cross_entropy(x, t, weight=w, reduction=case.reduction),
                  p, upstream=g)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_categorical_cross_entropy_backward(reduction):
    torch.manual_seed(4)
    p = torch.softmax(torch.randn(4, 3, dtype=torch.float64), -1)
    t_idx = torch.tensor([0, 2, 1, 1])
    t_soft = torch.softmax(torch.randn(4, 3, dtype=torch.float64), -1)
    g = _upstream(reduction, (4,))

    def reference(x, t):
        log_p = torch.log(x).clamp(min=-100)
        if not t.is_floating_point():
            t = F.one_hot(t, 3).to(x.dtype)
        losses = -(t * log_p).sum(-1)
        return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]

    for t in (t_idx, t_soft):
        (a,) = _grads(lambda x, t=t: ct.categorical_cross_entropy(x, t, reduction=reduction), p,
                      upstream=g)
        (b,) = _grads(lambda x, t=t: reference(x, t), p, upstream=g)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses_gradcheck(reduction):
    torch.manual_seed(5)
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.rand(3, 4, dtype=torch.float64)
    w = torch.rand(4, dtype=torch.float64)
    pw = torch.rand(4, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(
        lambda x: ct.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw,
                                                      reduction=reduction), (z,))
    p = (torch.rand(3, 4, dtype=torch.float64) * 0.9 + 0.05).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: ct.binary_cross_entropy(x, t, weight=w, reduction=reduction), (p,))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "sigmoid",
                                  "log_sigmoid"])
def test_activations_gradcheck(name):
    torch.manual_seed(6)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(getattr(ct, name), (x,))


@FEW
@given(shape=class_shapes(), axis_pick=st.integers(0, 3))
def test_activations_backward_equals_autograd(shape, axis_pick):
    rng = np.random.default_rng(sum(shape))
    x = torch.from_numpy(rng.normal(size=shape) * 3)
    axis = axis_pick % len(shape)
    g = torch.from_numpy(rng.normal(size=shape))
    pairs = [
        (lambda v: ct.softmax(v, axis=axis), lambda v: F.softmax(v, dim=axis), g),
        (lambda v: ct.log_softmax(v, axis=axis), lambda v: F.log_softmax(v, dim=axis), g),
        (lambda v: ct.sigmoid(v), torch.sigmoid, g),
        (lambda v: ct.log_sigmoid(v), F.logsigmoid, g),
        (lambda v: ct.logsumexp(v, axis=axis), lambda v: torch.logsumexp(v, dim=axis),
         g.sum(axis)),
    ]
    for ours, theirs, up in pairs:
        (a,) = _grads(ours, x, upstream=up)
        (b,) = _grads(theirs, x, upstream=up)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def test_information_measures_are_differentiable_in_q():
    q = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    p = torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64)
    (g,) = _grads(lambda x: ct.cross_entropy(p, x), q)
    np.testing.assert_allclose(g.numpy(), (-p / q).numpy(), rtol=1e-14)
    (g,) = _grads(lambda x: ct.kl_divergence(p, x), q)
    np.testing.assert_allclose(g.numpy(), (-p / q).numpy(), rtol=1e-14)
    (g,) = _grads(lambda x: ct.entropy(x), p)
    np.testing.assert_allclose(g.numpy(), (-torch.log(p) - 1).numpy(), rtol=1e-14)
    assert math.isfinite(float(g.sum()))


# ---------------------------------------------------------------------------------------------
# linear_cross_entropy (torch only): F.cross_entropy(F.linear(x, W, b)) without the logits
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(case=linear_cases(), scale=st.sampled_from([1.0, 0.5]))
def test_linear_cross_entropy_matches_torch(case, scale):
    x = torch.from_numpy(case.x)
    w = torch.from_numpy(case.w)
    t = torch.from_numpy(case.ce.target)
    kw = case.kwargs(TORCH, "float64")
    loss = ct.linear_cross_entropy(x, w, t, **kw)
    if case.ce.empty_mean():
        assert float(loss) == 0.0
        return
    up = _upstream(case.ce.reduction, tuple(loss.shape), seed=len(case.x))
    ref_loss, ref_grads = torch_linear_ce_and_grads(case, upstream=up)
    np.testing.assert_allclose(loss.numpy(), ref_loss.numpy(), rtol=1e-12, atol=1e-14)
    # torch's own linear_cross_entropy agrees too
    theirs = F.linear_cross_entropy(
        x, w, t, linear_bias=kw["linear_bias"], weight=kw["weight"],
        reduction=case.ce.reduction, label_smoothing=case.ce.label_smoothing,
        ignore_index=case.ce.ignore_index if case.ce.index_target else None)
    np.testing.assert_allclose(loss.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    inputs = [x, w] + ([] if case.b is None else [kw["linear_bias"]])

    def fn(xx, ww, *bb):
        return ct.linear_cross_entropy(xx, ww, t, **{**kw, "linear_bias": bb[0] if bb else None})

    grads = _grads(fn, *inputs, upstream=up, scale=scale)
    for g, r in zip(grads, ref_grads, strict=False):
        np.testing.assert_allclose(g.numpy(), scale * r.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_cross_entropy_gradcheck(reduction):
    torch.manual_seed(7)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, -100, 1, 2])
    cw = torch.tensor([1.0, 0.5, 2.0, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda xx, ww, bb: ct.linear_cross_entropy(xx, ww, y, linear_bias=bb, weight=cw,
                                                   reduction=reduction, label_smoothing=0.1,
                                                   chunk_size=2), (x, w, b))


def test_linear_cross_entropy_backward_twice():
    torch.manual_seed(8)
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, 2, 1, 2, 0])
    loss = ct.linear_cross_entropy(x, w, y, chunk_size=4)
    loss.backward(retain_graph=True)
    first = (x.grad.clone(), w.grad.clone())
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first[0].numpy(), rtol=1e-15)
    np.testing.assert_allclose(w.grad.numpy(), 2 * first[1].numpy(), rtol=1e-15)


def test_linear_cross_entropy_low_precision_gradients_keep_dtype():
    torch.manual_seed(9)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        x = torch.randn(6, 8, dtype=dtype, requires_grad=True)
        w = torch.randn(5, 8, dtype=dtype, requires_grad=True)
        y = torch.tensor([0, 4, 2, 1, 3, 0])
        loss = ct.linear_cross_entropy(x, w, y)
        assert loss.dtype == dtype
        loss.backward()
        assert x.grad.dtype == dtype and w.grad.dtype == dtype
        x64 = x.detach().double().requires_grad_(True)
        w64 = w.detach().double().requires_grad_(True)
        ref = F.cross_entropy(x64 @ w64.T, y)
        ref.backward()
        tol = 2e-2 if dtype != torch.float32 else 1e-5
        np.testing.assert_allclose(float(loss.detach()), float(ref.detach()), rtol=tol)
        np.testing.assert_allclose(x.grad.double().numpy(), x64.grad.numpy(), rtol=tol,
                                   atol=tol / 5)
