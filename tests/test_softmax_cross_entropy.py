"""softmax_cross_entropy: exactly torch.nn.functional.cross_entropy, every knob, every layout."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    BACKENDS,
    REDUCTIONS,
    SETTINGS,
    TOL,
    CECase,
    assert_close,
    assert_matches,
    backends,
    batch_shape,
    ce_cases,
    class_shapes,
    dtypes_of,
    ref_softmax_ce,
    ref_softmax_ce_grad,
    to_np,
    torch_ce,
)


def _expected(case: CECase, logits, target, weight):
    """Extended-precision reference and torch's float64 result for the rounded inputs."""
    w64 = None if weight is None else to_np(weight)
    ref = ref_softmax_ce(to_np(logits), to_np(target), w64, case.ignore_index, case.reduction,
                         case.label_smoothing)
    if case.empty_mean():
        return ref, None  # torch gives nan here: the documented deviation, tested below
    return ref, torch_ce(logits, target, w64, case.ignore_index, case.reduction,
                         case.label_smoothing)


@dtypes_of
@SETTINGS
@given(case=ce_cases())
def test_matches_torch_cross_entropy(be, dtype, case):
    logits, target = case.args(be, dtype)
    kwargs = case.kwargs(be, dtype)
    out = be.mod.softmax_cross_entropy(logits, target, **kwargs)
    ref, torch_ref = _expected(case, logits, target, kwargs["weight"])
    assert_matches(out, ref, dtype, torch_ref)


@backends
@SETTINGS
@given(case=ce_cases())
def test_float64_is_torch_to_the_last_digit(be, case):
    """The headline claim: in float64, ce_lib and F.cross_entropy agree to ~1e-13 relative."""
    logits, target = case.args(be, "float64")
    kwargs = case.kwargs(be, "float64")
    out = to_np(be.mod.softmax_cross_entropy(logits, target, **kwargs))
    if case.empty_mean():
        assert out == 0.0
        return
    expected = torch_ce(logits, target, case.weight, case.ignore_index, case.reduction,
                        case.label_smoothing).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)


@backends
@SETTINGS
@given(case=ce_cases(reductions=("none",)))
def test_reductions_are_consistent(be, case):
    """sum = sum of 'none'; mean = sum / (weighted) count, from the same per-element losses."""
    logits, target = case.args(be, "float64")
    kwargs = case.kwargs(be, "float64")
    per = to_np(be.mod.softmax_cross_entropy(logits, target, **kwargs))
    assert per.shape == batch_shape(case.logits.shape)
    kwargs["reduction"] = "sum"
    total = to_np(be.mod.softmax_cross_entropy(logits, target, **kwargs))
    np.testing.assert_allclose(total, math.fsum(per.ravel()), rtol=1e-12, atol=1e-12)
    kwargs["reduction"] = "mean"
    mean = to_np(be.mod.softmax_cross_entropy(logits, target, **kwargs))
    if case.index_target:
        valid = case.target != case.ignore_index
        safe = np.where(valid, case.target, 0)
        w = np.ones(logits.shape[0 if logits.ndim == 1 else 1]) if case.weight is None \
            else case.weight
        denominator = math.fsum((w[safe] * valid).ravel())
    else:
        denominator = per.size
    expected = math.fsum(per.ravel()) / denominator if denominator > 0 else 0.0
    np.testing.assert_allclose(mean, expected, rtol=1e-12, atol=1e-12)


@backends
@pytest.mark.parametrize("shape", [(5,), (3, 5), (3, 5, 2), (2, 5, 2, 3)])
def test_output_shapes_follow_torch(be, shape):
    rng = np.random.default_rng(0)
    logits = be.array(rng.normal(size=shape))
    batch = shape[:0] if len(shape) == 1 else (shape[0], *shape[2:])
    target = be.array(rng.integers(0, 5, size=batch))
    probs = be.array(rng.dirichlet(np.ones(5), size=batch).reshape(*batch, 5)
                     if len(shape) <= 2 else np.moveaxis(
                         rng.dirichlet(np.ones(5), size=batch), -1, 1))
    for t in (target, probs):
        assert tuple(be.mod.softmax_cross_entropy(logits, t, reduction="none").shape) == batch
        assert tuple(be.mod.softmax_cross_entropy(logits, t).shape) == ()
        assert tuple(be.mod.softmax_cross_entropy(logits, t, reduction="sum").shape) == ()
        out = be.mod.softmax_cross_entropy(logits, t)
        assert isinstance(out, torch.Tensor if be.name == "torch" else (np.ndarray, np.generic))


@backends
def test_hand_computed_values(be):
    z = [2.0, 1.0, 0.1]
    lse = math.log(math.fsum(math.exp(v) for v in z))
    logits = be.array([z, z])
    target = be.array(np.array([0, 2]))
    per = [lse - 2.0, lse - 0.1]
    assert_close(be.mod.softmax_cross_entropy(logits, target, reduction="none"), per, "float64")
    assert_close(be.mod.softmax_cross_entropy(logits, target), math.fsum(per) / 2, "float64")
    # class weights: torch's weighted mean divides by the weights of the targets
    w = be.array([3.0, 1.0, 0.5])
    assert_close(be.mod.softmax_cross_entropy(logits, target, weight=w),
                 (3 * per[0] + 0.5 * per[1]) / 3.5, "float64")
    # label smoothing eps: (1 - eps) * nll + eps / C * sum_c (lse - z_c)
    eps = 0.1
    smooth = math.fsum(lse - v for v in z) / 3
    assert_close(be.mod.softmax_cross_entropy(logits, target, reduction="none",
                                              label_smoothing=eps),
                 [(1 - eps) * p + eps * smooth for p in per], "float64")
    # label_smoothing = 1: the target no longer matters
    full = be.mod.softmax_cross_entropy(logits, target, reduction="none", label_smoothing=1.0)
    assert_close(full, [smooth, smooth], "float64")
    # ignore_index: an ignored element neither costs nor counts
    t_ign = be.array(np.array([0, -100]))
    assert_close(be.mod.softmax_cross_entropy(logits, t_ign, reduction="none"), [per[0], 0.0],
                 "float64")
    assert_close(be.mod.softmax_cross_entropy(logits, t_ign), per[0], "float64")
    # a non-default ignore_index that is also a valid class
    t_ign = be.array(np.array([0, 2]))
    assert_close(be.mod.softmax_cross_entropy(logits, t_ign, ignore_index=2), per[0], "float64")
    # probability targets: a one-hot row gives the class-index loss
    probs = be.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert_close(be.mod.softmax_cross_entropy(logits, probs), math.fsum(per) / 2, "float64")
    soft = be.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    expected = [0.5 * (lse - 2.0) + 0.5 * (lse - 1.0),
                0.2 * (lse - 2.0) + 0.3 * (lse - 1.0) + 0.5 * (lse - 0.1)]
    assert_close(be.mod.softmax_cross_entropy(logits, soft, reduction="none"), expected,
                 "float64")
    # 1-D logits with a 0-d target
    assert_close(be.mod.softmax_cross_entropy(be.array(z), be.array(np.array(1))), lse - 1.0,
                 "float64")


@backends
@pytest.mark.parametrize("target_dtype", ["int64", "int32", "int16", "int8", "uint8"])
def test_any_integer_target_dtype(be, target_dtype):
    """Class indices of any integer dtype mean the same (the NumPy backend's behaviour)."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 3))
    target = np.array([0, 2, 1, 2])
    a = be.mod.softmax_cross_entropy(be.array(logits), be.array(target.astype(target_dtype)))
    b = torch_ce(logits, target).numpy()
    np.testing.assert_allclose(to_np(a), b, rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# The documented deviation: every target ignored
# ---------------------------------------------------------------------------------------------


@backends
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 2)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_all_ignored_mean_is_zero_not_nan(be, shape, weighted, label_smoothing):
    batch = () if len(shape) == 1 else (shape[0], *shape[2:])
    logits = be.array(np.random.default_rng(2).normal(size=shape))
    target = be.array(np.full(batch, -100, dtype=np.int64))
    weight = be.array([1.0, 2.0, 3.0]) if weighted else None
    kw = dict(weight=weight, label_smoothing=label_smoothing)
    # torch really does give nan here
    ref = torch_ce(logits, target, None if weight is None else to_np(weight),
                   label_smoothing=label_smoothing)
    assert math.isnan(float(ref))
    out = be.mod.softmax_cross_entropy(logits, target, **kw)
    assert float(to_np(out)) == 0.0
    assert_close(be.mod.softmax_cross_entropy(logits, target, reduction="sum", **kw), 0.0,
                 "float64")
    assert_close(be.mod.softmax_cross_entropy(logits, target, reduction="none", **kw),
                 np.zeros(batch), "float64")
    grad = be.mod.softmax_cross_entropy_grad(logits, target, **kw)
    assert_close(grad, np.zeros(shape), "float64")
    loss, grad = be.mod.softmax_cross_entropy_value_and_grad(logits, target, **kw)
    assert float(to_np(loss)) == 0.0
    assert_close(grad, np.zeros(shape), "float64")


@backends
def test_empty_batch_mean_is_zero(be):
    logits = be.array(np.zeros((0, 3)))
    target = be.array(np.zeros((0,), dtype=np.int64))
    assert float(to_np(be.mod.softmax_cross_entropy(logits, target))) == 0.0
    assert tuple(be.mod.softmax_cross_entropy(logits, target, reduction="none").shape) == (0,)


# ---------------------------------------------------------------------------------------------
# Extreme but valid input
# ---------------------------------------------------------------------------------------------


HUGE = [(be, d, s) for be in BACKENDS for d in be.dtypes
        for s in ((3e4,) if d == "float16" else (1e4,) if d == "bfloat16" else (1e4, 1e30))]


@pytest.mark.parametrize(("be", "dtype", "scale"), HUGE, ids=lambda x: getattr(x, "name", x))
@SETTINGS
@given(data=st.data())
def test_huge_logits_give_finite_exact_losses(be, dtype, scale, data):
    case = data.draw(ce_cases(dtype, lo=-scale, hi=scale))
    logits, target = case.args(be, dtype)
    kwargs = case.kwargs(be, dtype)
    out = be.mod.softmax_cross_entropy(logits, target, **kwargs)
    ref, _ = _expected(case, logits, target, kwargs["weight"])
    overflow = np.asarray(ref) >= 65520  # float16: the exact answer rounds to inf
    if dtype == "float16" and overflow.any():
        np.testing.assert_array_equal(np.isinf(to_np(out)), overflow)
        out, ref = to_np(out)[~overflow], np.asarray(ref)[~overflow]
        assert_close(out, ref, "float64", tol=TOL["float16"], check_dtype=False)
        return
    assert np.isfinite(to_np(out)).all()
    assert_matches(out, ref, dtype)


@dtypes_of
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_neg_inf_logits_mask_classes(be, dtype, reduction):
    """-inf masks a class: the answer is that of the softmax over the remaining classes."""
    inf = math.inf
    z = np.array([[1.0, -inf, 0.0, -inf], [-inf, 2.0, -inf, -inf], [0.5, 0.5, -inf, 3.0]])
    logits = be.array(z, dtype)
    target = be.array(np.array([2, 1, 3]))
    out = be.mod.softmax_cross_entropy(logits, target, reduction=reduction)
    per = [math.log(math.e + 1) - 0.0, 0.0,
           math.log(2 * math.exp(0.5) + math.exp(3.0)) - 3.0]
    expected = {"none": per, "sum": math.fsum(per), "mean": math.fsum(per) / 3}[reduction]
    assert_close(out, expected, dtype)
    assert np.isfinite(to_np(out)).all()
    if dtype == "float64":  # torch agrees for class indices
        np.testing.assert_allclose(to_np(out), torch_ce(logits, target, reduction=reduction),
                                   rtol=1e-13)
    # with weights and a probability target that puts no mass on masked classes
    probs = be.array(np.array([[0.5, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0],
                               [0.25, 0.25, 0.0, 0.5]]), dtype)
    weight = be.array([1.0, 2.0, 0.5, 1.5], dtype)
    out = be.mod.softmax_cross_entropy(logits, probs, weight=weight, reduction=reduction)
    ref = ref_softmax_ce(to_np(logits), to_np(probs), to_np(weight), reduction=reduction)
    assert np.isfinite(to_np(out)).all()
    assert_close(out, ref, dtype)
    # and the gradient is finite, zero on the masked classes
    grad = to_np(be.mod.softmax_cross_entropy_grad(logits, target, reduction=reduction))
    assert np.isfinite(grad).all()
    assert (grad[np.isinf(z)] == 0).all()


@backends
def test_masked_target_class_gives_inf(be):
    """The target class itself masked: the loss is +inf (log of probability 0), as in torch."""
    logits = be.array([[0.0, -math.inf, 1.0]])
    target = be.array(np.array([1]))
    out = to_np(be.mod.softmax_cross_entropy(logits, target, reduction="none"))
    assert out[0] == math.inf
    assert float(torch_ce(logits, target, reduction="none")[0]) == math.inf


@pytest.mark.parametrize("be_dtype", ["float16", "bfloat16"])
@SETTINGS
@given(case=ce_cases(dtype="float16"))
def test_half_precision_is_accurate_to_half(be_dtype, case):
    """float16/bfloat16 logits: computed in float32, accurate to the output's rounding."""
    from strategies import NUMPY, TORCH

    for be in (NUMPY, TORCH):
        if be_dtype not in be.dtypes:
            continue
        logits, target = case.args(be, be_dtype)
        kwargs = case.kwargs(be, be_dtype)
        out = be.mod.softmax_cross_entropy(logits, target, **kwargs)
        ref, _ = _expected(case, logits, target, kwargs["weight"])
        eps = 2.0**-11 if be_dtype == "float16" else 2.0**-8
        np.testing.assert_allclose(to_np(out), np.asarray(ref, dtype=np.float64),
                                   rtol=2 * eps, atol=1e-5)


@backends
def test_backends_agree_with_each_other(be):
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(6, 4, 3))
    target = rng.integers(0, 4, size=(6, 3))
    target[0, 0] = -100
    other = {"numpy": "torch", "torch": "numpy"}[be.name]
    from strategies import BACKENDS

    be2 = next(b for b in BACKENDS if b.name == other)
    for reduction in REDUCTIONS:
        for eps in (0.0, 0.3):
            kw = dict(reduction=reduction, label_smoothing=eps)
            a = to_np(be.mod.softmax_cross_entropy(be.array(logits), be.array(target), **kw))
            b = to_np(be2.mod.softmax_cross_entropy(be2.array(logits), be2.array(target), **kw))
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
            # the backends share one kernel: check it against PyTorch too
            ref = torch_ce(logits, target, reduction=reduction, label_smoothing=eps).numpy()
            np.testing.assert_allclose(a, ref, rtol=1e-13, atol=1e-15)


@backends
def test_large_batch_matches_torch(be):
    """Enough rows to span several of the kernel's blocks: 70000 x 16 logits are 3 of NumPy's
    blocks of 2^19 elements and 2 of torch's of 2^20 (on a CPU); each row is checked."""
    from ce_lib.numpy import _arrays

    assert 70000 * 16 > 2 * _arrays._BLOCK_ELEMENTS and 70000 * 16 > (1 << 20)
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(70000, 16)) * 5
    target = rng.integers(0, 16, size=70000)
    target[::7] = -100
    weight = rng.random(16) + 0.5
    for eps in (0.0, 0.2):
        out = be.mod.softmax_cross_entropy(be.array(logits), be.array(target),
                                           weight=be.array(weight), label_smoothing=eps,
                                           reduction="none")
        np.testing.assert_allclose(
            to_np(out), torch_ce(logits, target, weight, label_smoothing=eps, reduction="none"),
            rtol=1e-12, atol=1e-14)  # small losses: rounding of logits of size 20 is 4e-15
        g = be.mod.softmax_cross_entropy_grad(be.array(logits.astype(np.float32)),
                                              be.array(target), weight=be.array(weight,
                                                                                "float32"),
                                              label_smoothing=eps)
        z = torch.tensor(logits, requires_grad=True)
        torch.nn.functional.cross_entropy(z, torch.from_numpy(target),
                                          weight=torch.from_numpy(weight),
                                          label_smoothing=eps).backward()
        assert_close(g, z.grad.numpy(), "float32", tol=(1e-4, 1e-9))


@backends
@SETTINGS
@given(shape=class_shapes(min_classes=2))
def test_uniform_logits_cost_log_c(be, shape):
    """Equal logits are the uniform distribution: every loss is log C, whatever the target."""
    c = shape[0 if len(shape) == 1 else 1]
    batch = () if len(shape) == 1 else (shape[0], *shape[2:])
    out = be.mod.softmax_cross_entropy(be.array(np.full(shape, 1.5)),
                                       be.array(np.zeros(batch, dtype=np.int64)),
                                       reduction="none")
    assert_close(out, np.full(batch, math.log(c)), "float64")


@backends
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_non_contiguous_inputs(be, reduction):
    """Strided views (a transposed batch, every other class) give the same answers."""
    rng = np.random.default_rng(11)
    base = rng.normal(size=(3, 4, 10))
    view = base[:, :, ::2].transpose(0, 2, 1)  # (3, 5, 4), not contiguous
    z = np.ascontiguousarray(view)
    y = rng.integers(0, 5, size=(3, 4))
    probs = rng.dirichlet(np.ones(5), size=(3, 4)).transpose(0, 2, 1)  # (3, 5, 4) view
    if be.name == "torch":
        zv = torch.from_numpy(base)[:, :, ::2].transpose(1, 2)
        pv = torch.from_numpy(np.ascontiguousarray(probs.transpose(0, 2, 1))).transpose(1, 2)
        assert not zv.is_contiguous() and not pv.is_contiguous()
    else:
        zv, pv = view, probs
        assert not zv.flags.c_contiguous and not pv.flags.c_contiguous
    for t, tv in ((y, be.array(y)), (np.ascontiguousarray(probs), pv)):
        kw = dict(reduction=reduction, label_smoothing=0.1)
        out = be.mod.softmax_cross_entropy(zv, tv, **kw)
        np.testing.assert_allclose(to_np(out), torch_ce(z, t, **kw), rtol=1e-13, atol=1e-15)
        grad = be.mod.softmax_cross_entropy_grad(zv, tv, **kw)
        expected = ref_softmax_ce_grad(z, t, None, -100, reduction, 0.1)
        assert_close(grad, expected.astype(float), "float64")


@pytest.mark.parametrize("threads", [None, "1", "2", "3", "not-a-number"])
def test_numpy_backend_many_blocks_on_many_threads(monkeypatch, threads):
    """Rows split into several cache-sized blocks, processed on one or several threads
    (OMP_NUM_THREADS is honoured), give torch's answer, gradient included."""
    from ce_lib.numpy import _arrays

    if threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
    c = 256
    rows_per_block = max(1, _arrays.OPS.block_elements(None) // c)
    n = 3 * rows_per_block + 5  # four blocks, the last one short
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(n, c)).astype(np.float32)
    target = rng.integers(0, c, size=n)
    target[::3] = -100
    weight = rng.uniform(0.5, 2.0, size=c).astype(np.float32)
    from ce_lib import numpy as cn

    loss, grad = cn.softmax_cross_entropy_value_and_grad(logits, target, weight=weight,
                                                         label_smoothing=0.05)
    z = torch.from_numpy(logits.astype(np.float64)).requires_grad_(True)
    ref = torch.nn.functional.cross_entropy(z, torch.from_numpy(target),
                                            weight=torch.from_numpy(weight.astype(np.float64)),
                                            label_smoothing=0.05)
    ref.backward()
    assert_close(loss, ref.detach().numpy(), "float32")
    assert_close(grad, z.grad.numpy(), "float32", tol=(1e-4, 1e-10))


def _small_case(shape, dtype, reduction):
    """Logits with a masked class and large entries, targets, and a non-unit upstream gradient."""
    g = torch.Generator().manual_seed(sum(shape))
    z = torch.randn(shape, generator=g, dtype=torch.float64).mul(30).to(dtype)
    if shape[1] > 1:
        z[0, -1] = -math.inf  # a masked class
    y = torch.randint(0, shape[1], (shape[0],), generator=g)
    y[0] = 0
    upstream = torch.rand(shape[0] if reduction == "none" else (), generator=g,
                          dtype=torch.float64).to(dtype) + 0.5
    return z, y, upstream


def _loss_and_grad(run, z, upstream):
    zl = z.clone().requires_grad_()
    loss = run(zl)
    loss.backward(torch.ones_like(loss) if upstream is None else upstream)
    return loss.detach(), zl.grad


SMALL_SHAPES = [(1, 1), (7, 3000), (64, 1000), (5, 4), (64, 2048)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_torch_small_call_is_pytorch_to_the_bit(dtype, reduction, shape):
    """The common small call (2-D logits, int64 indices, no knob) runs PyTorch's fused kernels:
    loss and gradient equal F.cross_entropy's bit for bit, with -inf logits, large logits and an
    upstream gradient that is not 1."""
    import ce_lib.torch as ct

    z, y, upstream = _small_case(shape, dtype, reduction)
    for up in (None, upstream):
        loss, grad = _loss_and_grad(lambda t: ct.softmax_cross_entropy(t, y, reduction=reduction),
                                    z, up)
        ref_loss, ref_grad = _loss_and_grad(
            lambda t: torch.nn.functional.cross_entropy(t, y, reduction=reduction), z, up)
        assert torch.equal(loss, ref_loss)
        assert torch.equal(grad, ref_grad)
    # The closed-form functions, and the focal loss at gamma = 0, give the same bits.
    _, ref_grad = _loss_and_grad(
        lambda t: torch.nn.functional.cross_entropy(t, y, reduction=reduction), z, None)
    for name, value_and_grad in (
            ("cross entropy", ct.softmax_cross_entropy_value_and_grad),
            ("focal, gamma = 0", lambda t, y, reduction: ct.softmax_focal_loss_value_and_grad(
                t, y, 0.0, reduction=reduction))):
        loss, grad = value_and_grad(z, y, reduction=reduction)
        assert torch.equal(loss, ref_loss), name
        assert torch.equal(grad, ref_grad), name
    assert torch.equal(ct.softmax_cross_entropy_grad(z, y, reduction=reduction), ref_grad)
    focal_loss, focal_grad = _loss_and_grad(
        lambda t: ct.softmax_focal_loss(t, y, 0, reduction=reduction), z, None)
    assert torch.equal(focal_loss, ref_loss) and torch.equal(focal_grad, ref_grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_torch_one_pass_kernel_on_small_calls(dtype, reduction, shape):
    """The one-pass kernel, which the small call no longer takes, still computes it: against
    float64 autograd of F.cross_entropy, to the usual tolerances."""
    from ce_lib.torch.losses import _SoftmaxCrossEntropy

    z, y, upstream = _small_case(shape, dtype, reduction)
    name = "float32" if dtype == torch.float32 else "float64"
    for up in (None, upstream):
        loss, grad = _loss_and_grad(
            lambda t: _SoftmaxCrossEntropy.apply(t, y, None, -100, reduction, 0.0, 0.0, None),
            z, up)
        ref_loss, ref_grad = _loss_and_grad(
            lambda t: torch.nn.functional.cross_entropy(t, y, reduction=reduction),
            z.double(), None if up is None else up.double())
        assert_close(loss, ref_loss, name)
        assert_close(grad, ref_grad, name)


def test_torch_small_call_threshold():
    """Which path a call takes: the fused kernels up to 2**17 logits, the one-pass kernel above
    (where it is faster and lighter) and whenever a knob, a weight or an ignored row is there."""
    import ce_lib.torch as ct

    def backward_name(*args, **kwargs):
        return type(ct.softmax_cross_entropy(*args, **kwargs).grad_fn).__name__

    z = torch.zeros(64, 2048, requires_grad=True)
    y = torch.zeros(64, dtype=torch.int64)
    assert backward_name(z, y) == "NllLossBackward0"
    assert backward_name(torch.zeros(64, 2049, requires_grad=True), y) != "NllLossBackward0"
    for kwargs in ({"weight": torch.ones(2048)}, {"label_smoothing": 0.1}, {"z_loss": 1e-4},
                   {"logit_softcap": 30.0}, {"ignore_index": 0}):
        assert backward_name(z, y, **kwargs) != "NllLossBackward0", kwargs
    assert backward_name(z.half(), y) != "NllLossBackward0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3000), (64, 1000), (5, 4), (3, 500)])
def test_numpy_short_path_is_bitwise_the_general_path(dtype, reduction, shape):
    """ce_lib.numpy's common call (2-D logits, integer indices, no knob, one block) skips the
    general path's bookkeeping; it must run its arithmetic: loss and gradient bitwise equal,
    -inf logits and large logits included, and the public functions must take it."""
    import ce_lib.numpy as cn
    from ce_lib import _softmax_ce
    from ce_lib.numpy._arrays import OPS
    from ce_lib.numpy.losses import _plain_hard_label

    z, y, _ = _small_case(shape, torch.float64, reduction)
    z, y = z.numpy().astype(dtype), y.numpy()
    if shape == (3, 500):
        z, y = np.asfortranarray(z), y.astype(np.int32)  # any layout, any integer dtype
    assert _softmax_ce.plain_hard_label(z, y, -100, reduction, 0.0, 0.0, 1 << 19)
    general = _softmax_ce.softmax_cross_entropy(
        OPS, z, y, None, -100, reduction, 0.0, ("f", "i", None), True)
    with np.errstate(all="ignore"):
        short = _plain_hard_label(z, y, reduction, True)
    public = cn.softmax_cross_entropy_value_and_grad(z, y, reduction=reduction)
    for loss, grad in (short, public):
        assert np.array_equal(loss, general[0]) and loss.dtype == general[0].dtype
        assert np.array_equal(grad, general[1]) and grad.dtype == general[1].dtype
    assert np.array_equal(cn.softmax_cross_entropy(z, y, reduction=reduction), general[0])
    assert np.array_equal(cn.softmax_cross_entropy_grad(z, y, reduction=reduction), general[1])


def test_torch_closed_form_functions_in_inference_mode():
    """Without autograd (inference mode), the small call's value and gradient come from the
    one-pass kernel: still F.cross_entropy's, to rounding, for the focal loss at gamma = 0 too."""
    import ce_lib.torch as ct

    z, y, _ = _small_case((64, 1000), torch.float32, "mean")
    ref_loss, ref_grad = _loss_and_grad(
        lambda t: torch.nn.functional.cross_entropy(t, y), z.double(), None)
    with torch.inference_mode():
        frozen = z.clone()  # an inference tensor
        results = [ct.softmax_cross_entropy_value_and_grad(frozen, y),
                   ct.softmax_focal_loss_value_and_grad(frozen, y, 0.0)]
    for loss, grad in results:
        assert_close(loss, ref_loss, "float32")
        assert_close(grad, ref_grad, "float32")


def test_torch_small_call_edges():
    """The small-call path in the corners: an ignore_index equal to C (out of range, so the
    path still applies), inference mode with an ordinary tensor, a knob or a weight that must
    send the call elsewhere, and invalid logits that must still raise ce_lib's errors."""
    import ce_lib.torch as ct

    F = torch.nn.functional
    # (the one-pass kernel's bits differ from PyTorch's here, so bitwise checks tell the paths
    # apart: at (64, 1000) float32, "none" losses and gradients both do)
    big, big_y, _ = _small_case((64, 1000), torch.float32, "none")
    # ignore_index == C: no target equals it, PyTorch's bits
    loss, grad = _loss_and_grad(
        lambda t: ct.softmax_cross_entropy(t, big_y, ignore_index=1000, reduction="none"),
        big, None)
    ref_loss, ref_grad = _loss_and_grad(
        lambda t: F.cross_entropy(t, big_y, reduction="none"), big, None)
    assert torch.equal(loss, ref_loss) and torch.equal(grad, ref_grad)
    # inference mode, with an ordinary tensor and with an inference tensor: still F's bits
    # (over these shapes and reductions the kernel's losses differ from F's in some bits)
    for shape in ((64, 1000), (7, 3000), (5, 4)):
        zs, ys, _ = _small_case(shape, torch.float32, "none")
        zs = zs.clamp(min=-50)
        with torch.inference_mode():
            frozen = zs.clone()
            for t, reduction in itertools.product((zs, frozen), ("mean", "sum", "none")):
                ref = F.cross_entropy(t, ys, reduction=reduction)
                assert torch.equal(ct.softmax_cross_entropy(t, ys, reduction=reduction), ref)
                assert torch.equal(ct.softmax_focal_loss(t, ys, 0, reduction=reduction), ref)
    with torch.inference_mode():
        for t in (big, big.clone()):
            loss, grad = ct.softmax_cross_entropy_value_and_grad(t, big_y)
            assert_close(loss, F.cross_entropy(t.double(), big_y), "float32")
            assert_close(grad, (torch.softmax(t.double(), 1) - F.one_hot(big_y, 1000)) / 64,
                         "float32", check_dtype=False)
    z, y, _ = _small_case((8, 6), torch.float64, "mean")
    z = z.clamp(min=-50)  # no -inf here
    # a weight or a cap changes the result, in every entry point
    w = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)
    zw = z.clone().requires_grad_()
    ref_w = F.cross_entropy(zw, y, weight=w)
    (ref_w_grad,) = torch.autograd.grad(ref_w, zw)
    ref_w = ref_w.detach()
    for loss, grad in (ct.softmax_cross_entropy_value_and_grad(z, y, weight=w),
                       ct.softmax_focal_loss_value_and_grad(z, y, 0.0, weight=w)):
        assert_close(loss, ref_w, "float64")
        assert_close(grad, ref_w_grad, "float64")
    assert_close(ct.softmax_focal_loss(z, y, 0.0, weight=w), ref_w, "float64")
    capped = z.clone().requires_grad_()
    ref_c = F.cross_entropy(5.0 * torch.tanh(capped / 5.0), y)
    (ref_c_grad,) = torch.autograd.grad(ref_c, capped)
    ref_c = ref_c.detach()
    loss, grad = ct.softmax_cross_entropy_value_and_grad(z, y, logit_softcap=5.0)
    assert_close(loss, ref_c, "float64")
    assert_close(grad, ref_c_grad, "float64")
    # invalid logits: ce_lib's ValueError naming them; -inf at a target: +inf, no error
    for reduction in ("mean", "none"):
        for bad in (math.nan, math.inf):
            zb = z.clone()
            zb[3, 2] = bad
            with pytest.raises(ValueError, match="logits"):
                ct.softmax_cross_entropy(zb, y, reduction=reduction)
        zb = z.clone()
        zb[3] = -math.inf
        with pytest.raises(ValueError, match="logits"):
            ct.softmax_cross_entropy(zb, y, reduction=reduction)
        zb = z.clone()
        zb[3, y[3]] = -math.inf
        out = ct.softmax_cross_entropy(zb, y, reduction=reduction)
        assert torch.isinf(out).any() and not torch.isnan(out).any()
