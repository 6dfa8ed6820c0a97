"""z_loss and logit_softcap (issue 11): equal to float64 autograd of the explicit formula.

The reference is written independently of ce_lib, as the issue states it:

    s = c * tanh(z / c)                                (logit_softcap = c; s = z when None)
    loss_n = F.cross_entropy(s, ...)_n + z_loss * logsumexp(s_n)**2 * [row n not ignored]

reduced like the loss (the mean divides by the loss's own denominator: the sum of the target
classes' weights for class indices, the number of rows for probabilities). Its gradients come
from torch autograd in float64, so the closed forms in ce_lib (the tanh chain rule, the
``2 z_loss lse softmax`` term, the chunked linear form) are checked against the chain rule
itself, not against themselves.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import ce_lib.numpy as cn
import ce_lib.torch as ct

II = -100  # ignore_index

# The tolerances of the issue: float64 to 1e-12 relative, float32 to 1e-5 (of the largest entry).
EPS64 = float(np.finfo(np.float64).eps)


def reference(z, target, weight, reduction, label_smoothing, z_loss, cap, ignore_index=II):
    """The explicit formula in float64 torch (differentiable through autograd)."""
    class_axis = 0 if z.ndim == 1 else 1
    s = z if cap is None else cap * torch.tanh(z / cap)
    per_row = F.cross_entropy(s, target, weight=weight, ignore_index=ignore_index,
                              reduction="none", label_smoothing=label_smoothing)
    lse = torch.logsumexp(s, class_axis)
    if target.is_floating_point():
        counted = torch.ones_like(lse, dtype=torch.bool)
        denominator = torch.tensor(float(lse.numel()), dtype=z.dtype)
    else:
        counted = target != ignore_index
        safe = torch.where(counted, target, 0)
        w_row = torch.ones_like(lse) if weight is None else weight[safe]
        denominator = torch.where(counted, w_row, 0).sum()
    total = per_row + torch.where(counted, z_loss * lse**2, torch.zeros_like(lse))
    if reduction == "none":
        return total
    if reduction == "sum":
        return total.sum()
    return total.sum() / denominator


def assert_close(actual, expected, rtol, what="", atol=0.0):
    """Max abs difference within ``rtol`` times the largest |expected| entry, plus ``atol``."""
    a = torch.as_tensor(np.asarray(actual) if not isinstance(actual, torch.Tensor) else actual)
    e = torch.as_tensor(expected).detach()
    a = a.detach().to(torch.float64)
    e = e.to(torch.float64)
    assert a.shape == e.shape, (what, a.shape, e.shape)
    assert bool(torch.isfinite(a).all()), f"{what}: non-finite result"
    scale = float(e.abs().max()) if e.numel() else 0.0
    err = float((a - e).abs().max()) if e.numel() else 0.0
    assert err <= rtol * scale + atol, (
        f"{what}: max error {err:.3g} > {rtol:g} * {scale:.3g} + {atol:.3g}")


def make_case(shape, index_target, masked_ignored, seed, scale=6.0):
    """Logits (float64), a target with ignored entries, class weights with a zero."""
    g = torch.Generator().manual_seed(seed)
    class_axis = 0 if len(shape) == 1 else 1
    num_classes = shape[class_axis]
    z = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    batch = shape[:class_axis] + shape[class_axis + 1:]
    if index_target:
        target = torch.randint(0, num_classes, batch, generator=g)
        if len(batch):
            flat = target.reshape(-1)
            flat[::3] = II
            if masked_ignored:  # -inf logits in ignored rows (every other class)
                zz = torch.movedim(z, class_axis, -1).reshape(-1, num_classes)
                rows = (flat == II).nonzero()[:, 0]
                zz[rows[:, None], torch.arange(0, num_classes, 2)[None, :]] = -math.inf
                z = torch.movedim(zz.reshape(*batch, num_classes), -1, class_axis).contiguous()
    else:
        target = torch.softmax(torch.randn(shape, generator=g, dtype=torch.float64) * 2,
                               class_axis)
    weight = torch.rand(num_classes, generator=g, dtype=torch.float64) + 0.25
    weight[num_classes // 2] = 0.0
    return z, target, weight


KNOBS = list(itertools.product(
    [True, False],  # index target
    [False, True],  # class weights
    ["mean", "sum", "none"],
    [0.0, 0.15],  # label smoothing
    [(1e-2, 5.0), (1e-4, None), (0.0, 2.0)],  # (z_loss, logit_softcap)
))


def _ids(knob):
    index, weighted, reduction, ls, (k, c) = knob
    return (f"{'idx' if index else 'prob'}-{'w' if weighted else 'nw'}-{reduction}-ls{ls}"
            f"-z{k}-c{c}")


@pytest.mark.parametrize("knob", KNOBS, ids=[_ids(k) for k in KNOBS])
@pytest.mark.parametrize("shape", [(13, 7), (5, 6, 3, 2), (9,)], ids=["2d", "kdim", "1d"])
def test_softmax_ce_float64_equals_explicit_formula(knob, shape):
    index, weighted, reduction, ls, (k, c) = knob
    z, target, weight = make_case(shape, index, masked_ignored=index, seed=len(shape))
    w = weight if weighted else None
    zr = z.clone().requires_grad_()
    ref = reference(zr, target, w, reduction, ls, k, c)
    upstream = torch.rand(ref.shape, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(1))
    (ref_grad,) = torch.autograd.grad((ref * upstream).sum(), zr)
    (ref_grad_sum,) = torch.autograd.grad(reference(zr, target, w, reduction, ls, k, c).sum(),
                                          zr)
    kwargs = dict(weight=w, reduction=reduction, label_smoothing=ls, z_loss=k, logit_softcap=c)

    # torch backend, through autograd (an upstream gradient that is not 1)
    zt = z.clone().requires_grad_()
    loss = ct.softmax_cross_entropy(zt, target, **kwargs)
    (grad,) = torch.autograd.grad((loss * upstream).sum(), zt)
    assert_close(loss, ref, 1e-12, "torch loss")
    assert_close(grad, ref_grad, 1e-12, "torch grad")
    # closed forms, both backends: the gradient of the (summed) loss
    for mod, conv in ((ct, lambda x: x), (cn, lambda x: None if x is None else x.numpy())):
        np_kwargs = dict(kwargs, weight=conv(w))
        value, g = mod.softmax_cross_entropy_value_and_grad(conv(z), conv(target), **np_kwargs)
        assert_close(value, ref, 1e-12, f"{mod.__name__} value")
        assert_close(g, ref_grad_sum, 1e-12, f"{mod.__name__} value_and_grad")
        assert_close(mod.softmax_cross_entropy_grad(conv(z), conv(target), **np_kwargs),
                     ref_grad_sum, 1e-12, f"{mod.__name__} grad")
        assert_close(mod.softmax_cross_entropy(conv(z), conv(target), **np_kwargs), ref, 1e-12,
                     f"{mod.__name__} loss")


@pytest.mark.parametrize("ignore_index", [II, 2], ids=["no-ignored-row", "ignore-class-2"])
@pytest.mark.parametrize("weighted", [False, True], ids=["nw", "w"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_batches_without_ignored_rows(ignore_index, weighted, reduction, ls):
    """Every target a class (the shorter path of a batch without padding), and an
    ignore_index that is itself a class index (rows of class 2 are then ignored)."""
    g = torch.Generator().manual_seed(8)
    z = torch.randn(30, 7, generator=g, dtype=torch.float64) * 5
    target = torch.randint(0, 7, (30,), generator=g)
    weight = torch.rand(7, generator=g, dtype=torch.float64) + 0.5 if weighted else None
    zr = z.clone().requires_grad_()
    ref = reference(zr, target, weight, reduction, ls, 1e-2, 4.0, ignore_index)
    (ref_grad,) = torch.autograd.grad(ref.sum(), zr)
    for mod, conv in ((ct, lambda x: x), (cn, lambda x: None if x is None else x.numpy())):
        loss, grad = mod.softmax_cross_entropy_value_and_grad(
            conv(z), conv(target), conv(weight), ignore_index, reduction, ls, z_loss=1e-2,
            logit_softcap=4.0)
        assert_close(loss, ref, 1e-12, f"{mod.__name__} loss")
        assert_close(grad, ref_grad, 1e-12, f"{mod.__name__} grad")


@pytest.mark.parametrize("index", [True, False], ids=["idx", "prob"])
def test_float32_within_1e5_and_half_is_float32_rounded_once(index):
    z, target, weight = make_case((40, 33), index, masked_ignored=index, seed=3, scale=20.0)
    kwargs = dict(weight=weight, reduction="mean", label_smoothing=0.1, z_loss=1e-3,
                  logit_softcap=15.0)
    zr = z.clone().requires_grad_()
    ref = reference(zr, target, weight, "mean", 0.1, 1e-3, 15.0)
    (ref_grad,) = torch.autograd.grad(ref, zr)
    z32 = z.float()
    t32 = target if index else target.float()
    w32 = weight.float()
    for mod, conv in ((ct, lambda x: x), (cn, lambda x: x.numpy())):
        loss, grad = mod.softmax_cross_entropy_value_and_grad(
            conv(z32), conv(t32), **dict(kwargs, weight=conv(w32)))
        assert_close(loss, ref, 1e-5, f"{mod.__name__} float32 loss")
        assert_close(grad, ref_grad, 1e-5, f"{mod.__name__} float32 grad")
        for half in (torch.float16, torch.bfloat16):
            if mod is cn and half is torch.bfloat16:
                continue  # NumPy has no bfloat16
            zh = z32.to(half)
            th = t32 if index else t32.to(half)
            wh = w32.to(half)
            up32 = [conv(x) for x in (zh.float(), th if index else th.float(), wh.float())]
            l32, g32 = mod.softmax_cross_entropy_value_and_grad(
                up32[0], up32[1], **dict(kwargs, weight=up32[2]))
            if mod is cn:
                zh_, th_, wh_ = zh.numpy(), th.numpy(), wh.numpy()
                lh, gh = mod.softmax_cross_entropy_value_and_grad(zh_, th_, **dict(kwargs,
                                                                                   weight=wh_))
                assert lh.dtype == np.float16 and gh.dtype == np.float16
                assert np.array_equal(lh, l32.astype(np.float16))
                assert np.array_equal(gh, g32.astype(np.float16))
            else:
                lh, gh = mod.softmax_cross_entropy_value_and_grad(zh, th, **dict(kwargs,
                                                                                 weight=wh))
                assert lh.dtype == half and gh.dtype == half
                assert torch.equal(lh, l32.to(half)) and torch.equal(gh, g32.to(half))


@pytest.mark.parametrize("mod", [ct, cn], ids=["torch", "numpy"])
def test_several_kernel_blocks_and_threads(mod):
    """1100 rows of 1024 classes: several blocks of rows (and threads in the NumPy backend)."""
    z, target, weight = make_case((1100, 1024), True, masked_ignored=True, seed=4)
    zr = z.clone().requires_grad_()
    ref = reference(zr, target, weight, "mean", 0.0, 1e-3, 8.0)
    (ref_grad,) = torch.autograd.grad(ref, zr)
    conv = (lambda x: x) if mod is ct else (lambda x: x.numpy())
    loss, grad = mod.softmax_cross_entropy_value_and_grad(
        conv(z), conv(target), conv(weight), z_loss=1e-3, logit_softcap=8.0)
    assert_close(loss, ref, 1e-12, "loss")
    assert_close(grad, ref_grad, 1e-12, "grad")


def test_infinite_logits_are_capped_nan_still_raises():
    """With a cap, +-inf logits are the limits +-c of c tanh(z / c): finite loss, zero slope."""
    z = torch.tensor([[math.inf, 0.0, -math.inf, 1.0], [2.0, -math.inf, 0.5, 0.0]],
                     dtype=torch.float64)
    target = torch.tensor([1, 0])
    zr = z.clone().requires_grad_()
    ref = reference(zr, target, None, "mean", 0.0, 1e-2, 4.0)
    (ref_grad,) = torch.autograd.grad(ref, zr)
    for mod, conv in ((ct, lambda x: x), (cn, lambda x: x.numpy())):
        loss, grad = mod.softmax_cross_entropy_value_and_grad(conv(z), conv(target), z_loss=1e-2,
                                                              logit_softcap=4.0)
        assert_close(loss, ref, 1e-12, "loss")
        assert_close(grad, ref_grad, 1e-12, "grad")
        assert float(grad[0, 0]) == 0.0 and float(grad[0, 2]) == 0.0
        bad = z.clone()
        bad[1, 2] = math.nan
        with pytest.raises(ValueError, match="logits contains NaN"):
            mod.softmax_cross_entropy(conv(bad), conv(target), logit_softcap=4.0)


def _legacy_numpy_mean(z, y, w):
    """The single-block NumPy arithmetic of ce_lib before issue 11 (hard labels, weighted mean),
    step by step: with both regularizers off the kernel must reproduce it bit for bit."""
    r = np.arange(z.shape[0])
    w_row = w[y]
    m = np.amax(z, axis=1, keepdims=True)
    g = np.exp(z - m)
    s = np.einsum("ij->i", g)[:, None]
    log_s = np.log(s)[:, 0]
    losses = w_row * ((m[:, 0] - z[r, y]) + log_s)
    scale = 1.0 / float(w_row.sum())
    g = g * ((w_row * scale)[:, None] / s)
    g[r, y] -= w_row * scale
    return losses.sum() * scale, g


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_both_off_is_bitwise_the_old_arithmetic(dtype):
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((50, 12)) * 4).astype(dtype)
    y = rng.integers(0, 12, 50)
    w = (rng.random(12) + 0.5).astype(dtype)
    old_loss, old_grad = _legacy_numpy_mean(z, y, w)
    for kwargs in ({}, {"z_loss": 0.0, "logit_softcap": None}, {"z_loss": 0}):
        loss, grad = cn.softmax_cross_entropy_value_and_grad(z, y, w, **kwargs)
        assert loss.tobytes() == np.asarray(old_loss, dtype=dtype).tobytes()
        assert grad.tobytes() == old_grad.astype(dtype).tobytes()
    # torch: off equals omitted, bit for bit, in the loss and the autograd gradient
    zt = torch.tensor(z, requires_grad=True)
    results = []
    for kwargs in ({}, {"z_loss": 0.0, "logit_softcap": None}):
        loss = ct.softmax_cross_entropy(zt, torch.tensor(y), torch.tensor(w), **kwargs)
        results.append((loss.detach().clone(), torch.autograd.grad(loss, zt)[0]))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def _linear_reference(x, w, b, target, cw, reduction, ls, k, c, upstream):
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    ref = reference(xr @ wr.T + br, target, cw, reduction, ls, k, c)
    grads = torch.autograd.grad((ref * upstream).sum(), (xr, wr, br))
    return ref.detach(), grads


@pytest.mark.parametrize("index, reduction", [(True, "mean"), (True, "none"), (False, "sum")])
def test_linear_float64_several_chunks_of_several_slabs(index, reduction):
    """V = 4096: slabs of 256 rows; chunks of 300 rows: two slabs each, and three chunks."""
    g = torch.Generator().manual_seed(6)
    n, d, v = 620, 8, 4096
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(v, d, generator=g, dtype=torch.float64) * 1.5
    b = torch.randn(v, generator=g, dtype=torch.float64)
    if index:
        target = torch.randint(0, v, (n,), generator=g)
        target[::4] = II
    else:
        target = torch.softmax(torch.randn(n, v, generator=g, dtype=torch.float64), 1)
    cw = torch.rand(v, generator=g, dtype=torch.float64) + 0.5
    k, c, ls = 1e-3, 6.0, 0.1
    upstream = torch.rand(() if reduction != "none" else (n,), generator=g, dtype=torch.float64)
    ref, ref_grads = _linear_reference(x, w, b, target, cw, reduction, ls, k, c, upstream)
    kwargs = dict(linear_bias=b, weight=cw, reduction=reduction, label_smoothing=ls,
                  chunk_size=300, z_loss=k, logit_softcap=c)
    xt, wt, bt = (t.clone().requires_grad_() for t in (x, w, b))
    loss = ct.linear_cross_entropy(xt, wt, target, **dict(kwargs, linear_bias=bt))
    grads = torch.autograd.grad((loss * upstream).sum(), (xt, wt, bt))
    assert_close(loss, ref, 1e-12, "torch loss")
    for name, got, exp in zip(("input", "linear_weight", "linear_bias"), grads, ref_grads,
                              strict=True):
        assert_close(got, exp, 1e-12, f"torch grad {name}")
    ones = torch.ones_like(upstream)
    _, sum_grads = _linear_reference(x, w, b, target, cw, reduction, ls, k, c, ones)
    for mod, conv in ((ct, lambda t: t), (cn, lambda t: t.numpy())):
        out = mod.linear_cross_entropy_value_and_grad(
            conv(x), conv(w), conv(target),
            **dict(kwargs, linear_bias=conv(b), weight=conv(cw)))
        assert_close(out[0], ref, 1e-12, f"{mod.__name__} value")
        for got, exp in zip(out[1:], sum_grads, strict=True):
            assert_close(got, exp, 1e-12, f"{mod.__name__} value_and_grad")


def test_linear_float32_within_1e5():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(90, 16, generator=g, dtype=torch.float64)
    w = torch.randn(500, 16, generator=g, dtype=torch.float64)
    b = torch.randn(500, generator=g, dtype=torch.float64)
    target = torch.randint(0, 500, (90,), generator=g)
    target[::5] = II
    ref, ref_grads = _linear_reference(x, w, b, target, None, "mean", 0.0, 1e-4, 30.0,
                                       torch.tensor(1.0, dtype=torch.float64))
    for mod, conv in ((ct, lambda t: t), (cn, lambda t: t.numpy())):
        out = mod.linear_cross_entropy_value_and_grad(
            conv(x.float()), conv(w.float()), conv(target), linear_bias=conv(b.float()),
            chunk_size=32, z_loss=1e-4, logit_softcap=30.0)
        assert_close(out[0], ref, 1e-5, f"{mod.__name__} loss")
        for got, exp in zip(out[1:], ref_grads, strict=True):
            assert_close(got, exp, 1e-5, f"{mod.__name__} grad")


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 6),
    classes=st.integers(1, 9),
    index=st.booleans(),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    ls=st.sampled_from([0.0, 0.3, 1.0]),
    k=st.sampled_from([0.0, 1e-4, 0.5]),
    c=st.sampled_from([None, 0.5, 30.0]),
    seed=st.integers(0, 2**16),
)
@example(rows=1, classes=1, index=False, reduction="none", ls=0.0, k=1e-4, c=None, seed=9)
@example(rows=1, classes=1, index=False, reduction="mean", ls=0.3, k=1e-4, c=30.0, seed=9)
def test_property_any_knobs(rows, classes, index, reduction, ls, k, c, seed):
    z, target, weight = make_case((rows, classes), index, masked_ignored=False, seed=seed,
                                  scale=10.0)
    weight[classes // 2] = 1.0  # (a zero weight can make the mean's denominator 0)
    # an empty mean is PyTorch's NaN and ce_lib's documented 0 (tested elsewhere)
    assume(not (index and reduction == "mean" and not bool((target != II).any())))
    # The gradient with respect to the capped logits s, to bound what tanh's rounding can do.
    s_leaf = (z.clone() if c is None else c * torch.tanh(z / c)).requires_grad_()
    ref_s = reference(s_leaf, target, weight, reduction, ls, k, None)
    (grad_s,) = torch.autograd.grad(ref_s.sum(), s_leaf)
    zr = z.clone().requires_grad_()
    ref = reference(zr, target, weight, reduction, ls, k, c)
    (ref_grad,) = torch.autograd.grad(ref.sum(), zr)
    # ds/dz = 1 - tanh(z/c)**2 cancels near saturation: a 1-ulp difference between two tanh
    # implementations moves it by up to 2 EPS64 absolute, i.e. the gradient by 2 EPS64 |dL/ds|.
    atol = 4 * EPS64 * float(grad_s.abs().max()) if c is not None else 0.0
    # Each gradient element is S p_c - a_c + 2 k lse p_c, times the reduction's scale: a
    # difference of terms up to (2 max w + 2 k |lse|) scale, which can cancel to 0 (one class).
    s_cap = z if c is None else c * torch.tanh(z / c)
    lse = torch.logsumexp(s_cap, 0 if z.ndim == 1 else 1)
    scale = 1.0
    if reduction == "mean":  # 1 / the mean's denominator, as reference() computes it
        counted = target != II if index else torch.ones(rows, dtype=torch.bool)
        w_row = weight[torch.where(counted, target, 0)] if index else torch.ones(rows)
        scale = 1.0 / float(torch.where(counted, w_row, 0).sum())
    terms = 2 * float(weight.abs().max()) + 2 * k * float(lse.abs().max())
    atol += 4 * EPS64 * terms * scale
    for mod, conv in ((ct, lambda x: x), (cn, lambda x: x.numpy())):
        loss, grad = mod.softmax_cross_entropy_value_and_grad(
            conv(z), conv(target), conv(weight), reduction=reduction, label_smoothing=ls,
            z_loss=k, logit_softcap=c)
        assert_close(loss, ref, 1e-12, "loss")
        assert_close(grad, ref_grad, 1e-12, "grad", atol)


BAD = [
    ({"z_loss": -1e-4}, ValueError, "z_loss"),
    ({"z_loss": math.nan}, ValueError, "z_loss"),
    ({"z_loss": math.inf}, ValueError, "z_loss"),
    ({"z_loss": True}, TypeError, "z_loss"),
    ({"z_loss": "1e-4"}, TypeError, "z_loss"),
    ({"logit_softcap": 0.0}, ValueError, "logit_softcap"),
    ({"logit_softcap": -30.0}, ValueError, "logit_softcap"),
    ({"logit_softcap": math.inf}, ValueError, "logit_softcap"),
    ({"logit_softcap": math.nan}, ValueError, "logit_softcap"),
    ({"logit_softcap": False}, TypeError, "logit_softcap"),
    ({"logit_softcap": "30"}, TypeError, "logit_softcap"),
]


@pytest.mark.parametrize("bad, exc, name", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_values_raise_naming_the_argument_and_change_nothing(bad, exc, name):
    z = torch.randn(4, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, II, 4])
    x, w, b = torch.randn(4, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64), \
        torch.randn(5, dtype=torch.float64)
    calls = []
    for mod, conv in ((ct, lambda t: t), (cn, lambda t: t.numpy())):
        calls += [
            (mod.softmax_cross_entropy, (conv(z), conv(y)), {}),
            (mod.softmax_cross_entropy_grad, (conv(z), conv(y)), {}),
            (mod.softmax_cross_entropy_value_and_grad, (conv(z), conv(y)), {}),
            (mod.linear_cross_entropy_value_and_grad, (conv(x), conv(w), conv(y)),
             {"linear_bias": conv(b)}),
        ]
    zg = z.clone().requires_grad_()
    calls += [
        (ct.softmax_cross_entropy, (zg, y), {}),
        (ct.linear_cross_entropy, (x.clone().requires_grad_(), w, y), {"linear_bias": b}),
    ]
    for fn, args, kwargs in calls:
        before = [a.clone() if isinstance(a, torch.Tensor) else a.copy() for a in args]
        with pytest.raises(exc, match=name):
            fn(*args, **kwargs, **bad)
        for a, a0 in zip(args, before, strict=True):
            assert (torch.equal(a, a0) if isinstance(a, torch.Tensor)
                    else np.array_equal(a, a0)), f"{fn.__name__} changed an argument"
    assert zg.grad is None
