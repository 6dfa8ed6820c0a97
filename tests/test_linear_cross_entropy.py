"""linear_cross_entropy: softmax_cross_entropy(input @ W.T + b, target) without the (N, V) logits.

Values and gradients against the reference computation ``F.cross_entropy(F.linear(x, W, b), ...)``
(float64 to 1e-10, float32 to float32 precision) for every knob and chunk size, the NumPy
counterpart against the torch backend, bad arguments, and the memory claim itself.
"""

from __future__ import annotations

import inspect
import itertools
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ce_lib
import ce_lib.numpy as cn
import ce_lib.torch as ct

N, D, V = 23, 6, 17
REDUCTIONS = ("mean", "sum", "none")


def make(dtype=torch.float64, *, n=N, d=D, v=V, bias=True, seed=0, ignore_every=4):
    """Inputs with a few ignored targets (every ``ignore_every``-th row) and a bias if asked."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64).to(dtype)
    w = (torch.randn(v, d, generator=gen, dtype=torch.float64) * 0.7).to(dtype)
    b = torch.randn(v, generator=gen, dtype=torch.float64).to(dtype) if bias else None
    y = torch.randint(0, v, (n,), generator=gen)
    if ignore_every:
        y[::ignore_every] = -100
    cw = torch.rand(v, generator=gen, dtype=torch.float64).to(dtype) + 0.1
    return x, w, b, y, cw


def leaves(*tensors):
    return [None if t is None else t.detach().clone().requires_grad_() for t in tensors]


def reference(x, w, b, y, **kwargs):
    """What linear_cross_entropy means: the logits, materialized, through F.cross_entropy."""
    return F.cross_entropy(F.linear(x, w, b), y, **kwargs)


def loss_and_grads(fn, x, w, b, upstream=None):
    """fn(x, w, b) -> loss; returns the loss and d(sum(upstream * loss))/d(x, w[, b])."""
    x, w, b = leaves(x, w, b)
    loss = fn(x, w, b)
    inputs = [t for t in (x, w, b) if t is not None]
    grads = torch.autograd.grad(loss, inputs, upstream if upstream is not None else None)
    return loss.detach(), grads


def assert_all_close(ours, ref, *, rtol, atol=0.0):
    for a, r in zip(ours, ref, strict=True):
        a, r = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(r, dtype=torch.float64)
        assert a.shape == r.shape
        scale = float(r.abs().max()) if r.numel() else 0.0
        err = float((a - r).abs().max()) if r.numel() else 0.0
        assert err <= rtol * scale + atol, (err, scale)


# ---- values and gradients against the reference --------------------------------------------


@pytest.mark.parametrize(
    ("reduction", "label_smoothing", "use_weight", "bias"),
    list(itertools.product(REDUCTIONS, (0.0, 0.15), (False, True), (False, True))),
)
@pytest.mark.parametrize("chunk_size", [1, 5, N, N + 9, None])
def test_float64_matches_reference(reduction, label_smoothing, use_weight, bias, chunk_size):
    x, w, b, y, cw = make(bias=bias)
    cw = cw if use_weight else None
    kw = dict(weight=cw, reduction=reduction, label_smoothing=label_smoothing)
    upstream = None
    if reduction == "none":
        upstream = torch.randn(N, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = loss_and_grads(lambda x, w, b: reference(x, w, b, y, **kw), x, w, b, upstream)
    ours = loss_and_grads(
        lambda x, w, b: ct.linear_cross_entropy(x, w, y, linear_bias=b, chunk_size=chunk_size,
                                                **kw),
        x, w, b, upstream,
    )
    assert_all_close([ours[0], *ours[1]], [ref[0], *ref[1]], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("chunk_size", [3, None])
def test_float32_to_float32_precision(reduction, chunk_size):
    """float32 against the float64 reference of the same (rounded) inputs, with every knob on."""
    x, w, b, y, cw = make(torch.float32, n=64, d=32, v=300)
    kw = dict(weight=cw, reduction=reduction, label_smoothing=0.1)
    upstream = None if reduction != "none" else torch.rand(64, dtype=torch.float32) + 0.5
    ours = loss_and_grads(
        lambda x, w, b: ct.linear_cross_entropy(x, w, y, linear_bias=b, chunk_size=chunk_size,
                                                **kw),
        x, w, b, upstream,
    )
    assert ours[0].dtype == torch.float32 and all(g.dtype == torch.float32 for g in ours[1])
    up64 = None if upstream is None else upstream.double()
    ref = loss_and_grads(
        lambda x, w, b: reference(x, w, b, y, **{**kw, "weight": cw.double()}),
        x.double(), w.double(), b.double(), up64,
    )
    assert_all_close([ours[0], *ours[1]], [ref[0], *ref[1]], rtol=2e-6, atol=1e-7)


def test_matches_torch_linear_cross_entropy_both_paths():
    """Same signature and value as F.linear_cross_entropy, reference and chunked paths."""
    x, w, b, y, cw = make()
    ours = loss_and_grads(lambda x, w, b: ct.linear_cross_entropy(x, w, y, linear_bias=b,
                                                                  weight=cw), x, w, b)
    for options in (None, torch.nn.LinearCrossEntropyOptions(batch_chunk_size=4)):
        theirs = loss_and_grads(
            lambda x, w, b, o=options: F.linear_cross_entropy(x, w, y, linear_bias=b, weight=cw,
                                                              options=o),
            x, w, b,
        )
        assert_all_close([ours[0], *ours[1]], [theirs[0], *theirs[1]], rtol=1e-10, atol=1e-12)
    ours_params = list(inspect.signature(ct.linear_cross_entropy).parameters)
    torch_params = list(inspect.signature(F.linear_cross_entropy).parameters)
    # torch's options -> chunk_size (and group=, for a vocabulary split across ranks)
    assert ours_params[: len(torch_params) - 1] == torch_params[:-1]
    assert set(ours_params[len(torch_params) - 1 :]) <= {"chunk_size", "z_loss", "logit_softcap",
                                                          "group"}


def test_probability_targets():
    x, w, b, _, cw = make()
    gen = torch.Generator().manual_seed(3)
    t = torch.softmax(torch.randn(N, V, generator=gen, dtype=torch.float64), 1)
    for reduction in REDUCTIONS:
        kw = dict(weight=cw, reduction=reduction, label_smoothing=0.2)
        up = torch.ones(N, dtype=torch.float64) * 0.5 if reduction == "none" else None
        ref = loss_and_grads(lambda x, w, b, kw=kw: reference(x, w, b, t, **kw), x, w, b, up)
        ours = loss_and_grads(
            lambda x, w, b, kw=kw: ct.linear_cross_entropy(x, w, t, linear_bias=b, chunk_size=4,
                                                           **kw),
            x, w, b, up,
        )
        assert_all_close([ours[0], *ours[1]], [ref[0], *ref[1]], rtol=1e-10, atol=1e-12)


def test_unbatched_input():
    """input (d,) with target () gives a 0-d loss, as torch's linear_cross_entropy does."""
    x, w, b, _, cw = make()
    y = torch.tensor(5)
    for reduction in REDUCTIONS:
        ref = loss_and_grads(
            lambda x, w, b, r=reduction: F.linear_cross_entropy(x, w, y, linear_bias=b,
                                                                weight=cw, reduction=r),
            x[0], w, b,
        )
        ours = loss_and_grads(
            lambda x, w, b, r=reduction: ct.linear_cross_entropy(x, w, y, linear_bias=b,
                                                                 weight=cw, reduction=r),
            x[0], w, b,
        )
        assert ours[0].shape == () and ours[1][0].shape == (D,)
        assert_all_close([ours[0], *ours[1]], [ref[0], *ref[1]], rtol=1e-10, atol=1e-12)


def test_three_dimensional_input_is_refused_like_torch():
    x = torch.randn(2, 3, D, dtype=torch.float64)
    w = torch.randn(V, D, dtype=torch.float64)
    y = torch.randint(0, V, (2, 3))
    with pytest.raises(RuntimeError):
        F.linear_cross_entropy(x, w, y)
    with pytest.raises(ValueError, match="input must have shape"):
        ct.linear_cross_entropy(x, w, y)
    # The (B, T, d) case is one reshape away:
    flat = ct.linear_cross_entropy(x.reshape(-1, D), w, y.reshape(-1))
    torch.testing.assert_close(flat, F.cross_entropy((x @ w.T).reshape(-1, V), y.reshape(-1)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored(reduction):
    """The documented deviation: mean over nothing is 0 (torch: nan), with zero gradients."""
    x, w, b, y, cw = make()
    y = torch.full_like(y, 7)
    up = torch.ones(N, dtype=torch.float64) if reduction == "none" else None
    loss, grads = loss_and_grads(
        lambda x, w, b: ct.linear_cross_entropy(x, w, y, linear_bias=b, weight=cw,
                                                ignore_index=7, reduction=reduction,
                                                chunk_size=5),
        x, w, b, up,
    )
    assert float(loss.abs().sum()) == 0.0
    assert all(float(g.abs().max()) == 0.0 for g in grads)


def test_ignore_index_none_means_minus_100():
    x, w, b, y, _ = make()
    a = ct.linear_cross_entropy(x, w, y, linear_bias=b, ignore_index=None)
    torch.testing.assert_close(a, reference(x, w, b, y), rtol=1e-12, atol=1e-12)


def test_upstream_gradient_of_a_reduced_loss_and_a_second_backward():
    """(3 * loss).backward() scales the gradients; a retained graph gives them again."""
    x, w, b, y, _ = make()
    xs, ws, bs = leaves(x, w, b)
    loss = ct.linear_cross_entropy(xs, ws, y, linear_bias=bs, chunk_size=6)
    (3 * loss).backward(retain_graph=True)
    first = [t.grad.clone() for t in (xs, ws, bs)]
    for t in (xs, ws, bs):
        t.grad = None
    (3 * loss).backward()
    ref = loss_and_grads(lambda x, w, b: 3 * reference(x, w, b, y), x, w, b)
    assert_all_close(first, ref[1], rtol=1e-10, atol=1e-12)
    assert_all_close([t.grad for t in (xs, ws, bs)], ref[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("which", [(True, False, False), (False, True, False), (False, False, True)])
def test_gradient_for_one_argument_only(which):
    x, w, b, y, _ = make()
    args = [t.detach().clone().requires_grad_(flag) for t, flag in zip((x, w, b), which, strict=True)]
    loss = ct.linear_cross_entropy(args[0], args[1], y, linear_bias=args[2], reduction="sum")
    loss.backward()
    _, ref = loss_and_grads(lambda x, w, b: reference(x, w, b, y, reduction="sum"), x, w, b)
    for t, flag, r in zip(args, which, ref, strict=False):
        assert (t.grad is not None) == flag
        if flag:
            assert_all_close([t.grad], [r], rtol=1e-10, atol=1e-12)


def test_no_grad_mode_and_in_place_modification():
    x, w, b, y, _ = make()
    xs, ws = leaves(x, w)
    with torch.no_grad():
        loss = ct.linear_cross_entropy(xs, ws, y, linear_bias=b)
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, reference(x, w, b, y), rtol=1e-12, atol=1e-12)
    loss = ct.linear_cross_entropy(xs, ws, y, linear_bias=b, reduction="none")
    with torch.no_grad():
        ws.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.sum().backward()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    x, w, b, y, _ = make(dtype, n=16, d=8, v=40)
    ours = loss_and_grads(lambda x, w, b: ct.linear_cross_entropy(x, w, y, linear_bias=b),
                          x, w, b)
    assert ours[0].dtype == dtype and all(g.dtype == dtype for g in ours[1])
    ref = loss_and_grads(lambda x, w, b: reference(x, w, b, y), x.double(), w.double(),
                         b.double())
    tol = {torch.float16: 2e-3, torch.bfloat16: 1e-2}[dtype]
    assert_all_close([ours[0], *ours[1]], [ref[0], *ref[1]], rtol=tol, atol=tol * 1e-2)


def test_a_bias_of_minus_inf_masks_classes():
    x, w, b, y, _ = make(ignore_every=0)
    b = b.clone()
    free = [c for c in range(V) if c not in set(y.tolist())]
    b[free[0]] = -torch.inf  # a class no target uses: finite loss, zero probability
    ours = loss_and_grads(lambda x, w, b: ct.linear_cross_entropy(x, w, y, linear_bias=b), x, w, b)
    ref = loss_and_grads(lambda x, w, b: reference(x, w, b, y), x, w, b)
    assert_all_close([ours[0], *ours[1]], [ref[0], *ref[1]], rtol=1e-10, atol=1e-12)
    b[y[0]] = -torch.inf  # a target class masked: an infinite loss, as in torch
    assert float(ct.linear_cross_entropy(x, w, y, linear_bias=b)) == float("inf")
    with pytest.raises(ValueError, match="linear_bias"):
        ct.linear_cross_entropy(x, w, y, linear_bias=torch.full((V,), -torch.inf,
                                                                dtype=torch.float64))


# ---- the NumPy counterpart and the API ------------------------------------------------------


@pytest.mark.parametrize(("reduction", "bias"), list(itertools.product(REDUCTIONS, (False, True))))
def test_numpy_counterpart_matches_torch(reduction, bias):
    x, w, b, y, cw = make(bias=bias)
    kw = dict(weight=cw, reduction=reduction, label_smoothing=0.1, chunk_size=4)
    t_out = ct.linear_cross_entropy_value_and_grad(x, w, y, linear_bias=b, **kw)
    n_out = cn.linear_cross_entropy_value_and_grad(
        x.numpy(), w.numpy(), y.numpy(), linear_bias=None if b is None else b.numpy(),
        **{**kw, "weight": cw.numpy()},
    )
    assert np.ndim(n_out[0]) == (1 if reduction == "none" else 0)
    assert isinstance(n_out[1], np.ndarray) and n_out[1].dtype == np.float64
    assert (n_out[3] is None) == (t_out[3] is None) == (not bias)
    for a, t in zip(n_out, t_out, strict=True):
        if t is not None:
            np.testing.assert_allclose(a, t.numpy(), rtol=1e-12, atol=1e-14)
    # ... and the torch value_and_grad is what autograd gives (gradient of the sum for "none").
    up = torch.ones(N, dtype=torch.float64) if reduction == "none" else None
    loss, grads = loss_and_grads(
        lambda x, w, b: ct.linear_cross_entropy(x, w, y, linear_bias=b, **kw), x, w, b, up
    )
    assert_all_close([t_out[0], *t_out[1:1 + len(grads)]], [loss, *grads], rtol=1e-12, atol=0)


def test_array_likes_and_top_level_dispatch():
    x, w, _, y, _ = make(n=3, d=2, v=4, ignore_every=0)
    lists = (x.tolist(), w.tolist(), y.tolist())
    loss, gx, _, gb = cn.linear_cross_entropy_value_and_grad(*lists)
    assert gb is None and gx.shape == (3, 2)
    np.testing.assert_allclose(loss, float(reference(x, w, None, y)), rtol=1e-12)
    out = ce_lib.linear_cross_entropy_value_and_grad(x, w, y)
    assert isinstance(out[0], torch.Tensor)


def test_same_parameters_in_both_backends():
    for name in ("linear_cross_entropy_value_and_grad",):
        assert name in cn.__all__ and name in ct.__all__
        assert (inspect.signature(getattr(cn, name)).parameters.keys()
                == inspect.signature(getattr(ct, name)).parameters.keys())
    assert "linear_cross_entropy" in ct.__all__
    # linear_cross_entropy also takes group= (the vocabulary split across ranks)
    assert (inspect.signature(ct.linear_cross_entropy).parameters.keys() - {"group"}
            == inspect.signature(ct.linear_cross_entropy_value_and_grad).parameters.keys())


def test_never_materializes_the_logits():
    """NumPy allocations are visible to tracemalloc: the peak stays far below the (N, V) logits."""
    n, d, v, chunk = 1024, 8, 4096, 32
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    w = rng.standard_normal((v, d)) * 0.3
    y = rng.integers(0, v, n)
    cn.linear_cross_entropy_value_and_grad(x, w, y, chunk_size=chunk)  # warm-up
    tracemalloc.start()
    try:
        loss, gx, gw, _ = cn.linear_cross_entropy_value_and_grad(x, w, y, chunk_size=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    logits_bytes = n * v * 8
    grads_bytes = gx.nbytes + gw.nbytes
    # one chunk of logits, a slab (here the chunk's size), NumPy's temporary for
    # grad_W += G^T X, per-row arrays; and a 25% margin
    budget = 1.25 * (grads_bytes + 2 * chunk * v * 8 + gw.nbytes + 64 * n)
    assert peak <= budget < logits_bytes / 4, (peak, budget, logits_bytes)
    np.testing.assert_allclose(
        loss, float(F.cross_entropy(torch.from_numpy(x @ w.T), torch.from_numpy(y))), rtol=1e-12
    )


# ---- bad arguments ---------------------------------------------------------------------------

X64, W64, B64, Y, CW64 = make()
BAD = [
    # (what, kwargs overriding the good call, exception, message fragment)
    ("features", dict(linear_weight=torch.randn(V, D + 1, dtype=torch.float64)), ValueError,
     "linear_weight must have shape"),
    ("1-D weight", dict(linear_weight=torch.randn(V, dtype=torch.float64)), ValueError,
     "linear_weight must have shape"),
    ("no classes", dict(linear_weight=torch.randn(0, D, dtype=torch.float64)), ValueError,
     "linear_weight must have at least one row"),
    ("weight dtype", dict(linear_weight=W64.float()), TypeError, "linear_weight must have"),
    ("int input", dict(input=torch.ones(N, D, dtype=torch.int64)), TypeError, "input"),
    ("scalar input", dict(input=torch.tensor(1.0, dtype=torch.float64)), ValueError, "input"),
    ("bias shape", dict(linear_bias=torch.randn(V + 1, dtype=torch.float64)), ValueError,
     "linear_bias must have shape"),
    ("bias dtype", dict(linear_bias=B64.float()), TypeError, "linear_bias must have"),
    ("target shape", dict(target=Y[:-1]), ValueError, "target"),
    ("target range", dict(target=torch.full((N,), V)), ValueError, "target contains class index"),
    ("bool target", dict(target=torch.ones(N, dtype=torch.bool)), TypeError, "target"),
    ("class weights", dict(weight=CW64[:-1]), ValueError, "weight must have shape"),
    ("reduction", dict(reduction="avg"), ValueError, "reduction"),
    ("smoothing", dict(label_smoothing=1.5), ValueError, "label_smoothing"),
    ("chunk zero", dict(chunk_size=0), ValueError, "chunk_size"),
    ("chunk float", dict(chunk_size=2.0), TypeError, "chunk_size"),
    ("chunk bool", dict(chunk_size=True), TypeError, "chunk_size"),
    ("nan input", dict(input=X64.clone().index_fill_(0, torch.tensor([3]), torch.nan)),
     ValueError, "input contains NaN"),
    ("inf weight", dict(linear_weight=W64.clone().index_fill_(0, torch.tensor([2]), torch.inf)),
     ValueError, "linear_weight contains"),
]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("what", "override", "exc", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_arguments(backend, what, override, exc, match):
    args = dict(input=X64, linear_weight=W64, target=Y, linear_bias=B64, weight=CW64)
    args.update(override)
    if backend == "numpy":
        args = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in args.items()}
        fn = cn.linear_cross_entropy_value_and_grad
    else:
        fn = ct.linear_cross_entropy
    with pytest.raises(exc, match=match):
        fn(args.pop("input"), args.pop("linear_weight"), args.pop("target"), **args)


def test_target_or_class_weights_requiring_grad_are_refused():
    with pytest.raises(ValueError, match="target must not require grad"):
        t = torch.softmax(torch.randn(N, V, dtype=torch.float64), 1).requires_grad_()
        ct.linear_cross_entropy(X64, W64, t)
    with pytest.raises(ValueError, match="weight must not require grad"):
        ct.linear_cross_entropy(X64, W64, Y, weight=CW64.clone().requires_grad_())
