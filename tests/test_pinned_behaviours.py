"""Behaviours that no other test pinned down (issue 14): each test is named after what it pins.

Every expected value comes from an independent reference: PyTorch's own functions in float64,
extended-precision NumPy, or a value worked out by hand. tests/test_mutation_sample.py applies a
hand-written mutant for each of these behaviours and checks that the test named here kills it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from strategies import BACKENDS, LD, NUMPY, TORCH, backends, to_np

import ce_lib._linear_ce as lce
import ce_lib.numpy as cn
import ce_lib.torch as ct

INF = math.inf


def rounded_once(actual: object, exact: float | np.ndarray, dtype: str, n_ops: int) -> None:
    """``actual`` (half precision) is the exact value computed in float32 and rounded once:
    within half a unit in the last place of the half-precision result, plus the error a float32
    computation of ``n_ops`` operations may make (n_ops * 2^-24 relative)."""
    a = to_np(actual)
    e = np.asarray(exact, dtype=np.float64)
    if dtype == "float16":
        ulp = np.spacing(np.abs(a).astype(np.float16)).astype(np.float64)
    else:  # bfloat16: 8 significant bits
        with np.errstate(divide="ignore"):
            ulp = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(a), 2.0**-126))) - 7)
    bound = 0.5 * ulp + n_ops * 2.0**-24 * np.abs(e)
    assert np.all(np.abs(a - e) <= bound), (a, e, np.abs(a - e) / ulp)


# --- the NaN bug: an ignored row whose stand-in class 0 has logit -inf -------------------------


@backends
def test_ignored_row_with_minus_inf_class0_logit_is_not_nan(be):
    z = np.array([[-INF, 0.0, 1.0], [0.5, 0.2, -1.0]])
    t = np.array([-100, 1])
    expected = F.cross_entropy(torch.tensor(z), torch.tensor(t)).item()  # 0.975, from PyTorch
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.tensor(t)).backward()
    for reduction in ("mean", "sum"):
        loss = be.mod.softmax_cross_entropy(be.array(z), be.array(t), reduction=reduction)
        assert abs(float(loss) - expected) <= 4e-16 * expected
    per_row = be.mod.softmax_cross_entropy(be.array(z), be.array(t), reduction="none")
    assert to_np(per_row)[0] == 0.0 and not np.signbit(to_np(per_row)[0])
    loss, grad = be.mod.softmax_cross_entropy_value_and_grad(be.array(z), be.array(t))
    np.testing.assert_allclose(to_np(grad), zt.grad.numpy(), rtol=1e-15, atol=1e-16)
    # and with label smoothing: the ignored row still contributes nothing
    smooth = be.mod.softmax_cross_entropy(be.array(z), be.array(t), label_smoothing=0.2)
    ref = F.cross_entropy(torch.tensor(z), torch.tensor(t), label_smoothing=0.2).item()
    assert abs(float(smooth) - ref) <= 4e-16 * ref


@pytest.mark.parametrize("be", BACKENDS, ids=lambda b: b.name)
def test_linear_ce_ignored_row_with_minus_inf_bias_is_not_nan(be):
    x = np.array([[1.0, -0.5], [0.25, 2.0], [0.5, 0.5]])
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([-INF, 0.1, -0.2])
    t = np.array([-100, 1, 2])
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ref = F.cross_entropy(F.linear(xt, wt, torch.tensor(b)), torch.tensor(t))
    ref.backward()
    for chunk_size in (None, 1):
        loss, gx, gw, gb = be.mod.linear_cross_entropy_value_and_grad(
            be.array(x), be.array(w), be.array(t), linear_bias=be.array(b), chunk_size=chunk_size)
        assert abs(float(loss) - ref.item()) <= 4e-16 * ref.item()
        np.testing.assert_allclose(to_np(gx), xt.grad.numpy(), rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(to_np(gw), wt.grad.numpy(), rtol=1e-14, atol=1e-16)
        assert np.isfinite(to_np(gb)).all()
    if be is TORCH:
        loss = ct.linear_cross_entropy(torch.tensor(x), torch.tensor(w), torch.tensor(t),
                                       linear_bias=torch.tensor(b))
        assert abs(loss.item() - ref.item()) <= 4e-16 * ref.item()


# --- the all-zero-weight mean (decided: 0, like the all-ignored mean) ----------------------


@backends
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_mean_with_zero_total_weight_is_zero_with_zero_gradient(be, label_smoothing):
    z = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    t = np.array([0, 1])
    w = np.array([0.0, 0.0, 1.0])  # every target's class has weight 0
    args = (be.array(z), be.array(t))
    kw = dict(weight=be.array(w), label_smoothing=label_smoothing)
    torch_sum = F.cross_entropy(torch.tensor(z), torch.tensor(t), weight=torch.tensor(w),
                                label_smoothing=label_smoothing, reduction="sum").item()
    assert math.isnan(F.cross_entropy(torch.tensor(z), torch.tensor(t), weight=torch.tensor(w),
                                      label_smoothing=label_smoothing).item())  # PyTorch: NaN
    loss, grad = be.mod.softmax_cross_entropy_value_and_grad(*args, **kw)
    assert float(loss) == 0.0 and not np.any(to_np(grad))
    # the summed loss is what PyTorch says (not 0 with label smoothing)
    total = be.mod.softmax_cross_entropy(*args, reduction="sum", **kw)
    assert abs(float(total) - torch_sum) <= 4e-16 * abs(torch_sum)
    assert (torch_sum > 0) == (label_smoothing > 0)


# --- a -inf logit with no target mass contributes 0 (torch: NaN for probability targets) ----


@backends
def test_probability_target_without_mass_on_a_minus_inf_class_is_finite(be):
    z = np.array([[-INF, 0.5, 1.0], [0.2, -INF, -0.3]])
    t = np.array([[0.0, 0.25, 0.75], [0.5, 0.0, 0.5]])
    zt = torch.tensor(z)
    assert math.isnan(F.cross_entropy(zt, torch.tensor(t)).item())  # torch: 0 * log 0 = NaN
    # the same loss over the possible classes only (the impossible ones have no mass)
    rows = [F.cross_entropy(zt[0:1, 1:], torch.tensor(t[0:1, 1:]), reduction="sum"),
            F.cross_entropy(zt[1:2, [0, 2]], torch.tensor(t[1:2, [0, 2]]), reduction="sum")]
    expected = (rows[0] + rows[1]).item() / 2
    loss, grad = be.mod.softmax_cross_entropy_value_and_grad(be.array(z), be.array(t))
    assert abs(float(loss) - expected) <= 4e-16 * expected
    g = to_np(grad)
    assert g[0, 0] == 0.0 and g[1, 1] == 0.0 and np.isfinite(g).all()


# --- zero-length reduction axis in the activations -------------------------------------------


@backends
def test_activations_of_an_empty_class_axis_match_torch(be):
    x = np.zeros((3, 0))
    for name in ("softmax", "log_softmax"):
        out = getattr(be.mod, name)(be.array(x))
        assert tuple(out.shape) == (3, 0)
    lse = to_np(be.mod.logsumexp(be.array(x)))
    np.testing.assert_array_equal(lse, torch.logsumexp(torch.tensor(x), -1).numpy())
    np.testing.assert_array_equal(lse, [-INF] * 3)
    assert tuple(be.mod.logsumexp(be.array(x), keepdims=True).shape) == (3, 1)
    assert tuple(be.mod.softmax(be.array(np.zeros((0, 4)))).shape) == (0, 4)


# --- negative class weights: refused (a documented deviation from PyTorch) ------------------


@backends
def test_negative_class_weight_is_refused_although_torch_accepts_it(be):
    z, t, w = np.array([[0.1, 0.2, 0.3]]), np.array([0]), np.array([1.0, -1.0, 1.0])
    F.cross_entropy(torch.tensor(z), torch.tensor(t), weight=torch.tensor(w))  # accepted there
    with pytest.raises(ValueError, match="weight must be finite and non-negative"):
        be.mod.softmax_cross_entropy(be.array(z), be.array(t), weight=be.array(w))


# --- 1. probability targets over several kernel blocks --------------------------------------


@backends
def test_probability_targets_over_several_kernel_blocks(be):
    # 2048 classes: NumPy blocks of 2^19 elements hold 256 rows, torch's of 2^20 hold 512, so
    # 1100 rows span 5 and 3 blocks; every row has its own target distribution.
    rng = np.random.default_rng(1)
    n, c = 1100, 2048
    z = rng.standard_normal((n, c)).astype(np.float32)
    t = rng.random((n, c)).astype(np.float32) ** 8
    t /= t.sum(1, keepdims=True)
    ref = F.cross_entropy(torch.tensor(z, dtype=torch.float64), torch.tensor(t, dtype=torch.float64),
                          reduction="none").numpy()
    per_row = to_np(be.mod.softmax_cross_entropy(be.array(z), be.array(t), reduction="none"))
    np.testing.assert_allclose(per_row, ref, rtol=2e-5)  # float32 over 2048 classes
    _, grad = be.mod.softmax_cross_entropy_value_and_grad(be.array(z), be.array(t))
    ref_grad = (torch.softmax(torch.tensor(z, dtype=torch.float64), 1).numpy() - t) / n
    np.testing.assert_allclose(to_np(grad), ref_grad, rtol=0, atol=1e-9)


# --- 2. linear_cross_entropy with several slabs per chunk -----------------------------------


@backends
def test_linear_ce_with_several_slabs_per_chunk(be):
    # V = 8192 classes: slabs of 2^20 / V = 128 rows; chunks of 300 rows hold 3 slabs (128,
    # 128, 44), and 600 rows make 2 chunks.
    rng = np.random.default_rng(2)
    n, d, v = 600, 4, 8192
    assert lce.LINEAR_SLAB_ELEMENTS // v == 128
    x, w = rng.standard_normal((n, d)), rng.standard_normal((v, d))
    b = rng.standard_normal(v)
    t = rng.integers(0, v, n)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = F.cross_entropy(F.linear(xt, wt, bt), torch.tensor(t), reduction="none")
    ref.sum().backward()
    losses = be.mod.linear_cross_entropy_value_and_grad(
        be.array(x), be.array(w), be.array(t), linear_bias=be.array(b), reduction="none",
        chunk_size=300)
    np.testing.assert_allclose(to_np(losses[0]), ref.detach().numpy(), rtol=1e-13)
    for got, want in zip(losses[1:], (xt.grad, wt.grad, bt.grad), strict=True):
        np.testing.assert_allclose(to_np(got), want.numpy(), rtol=1e-10, atol=1e-13)


# --- 3. torch: gradient with respect to probability targets, (N, C, d1, ...), mean --------


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_torch_target_gradient_for_spatial_probability_targets_mean(shape, weighted):
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.standard_normal(shape))
    p = torch.tensor(rng.random(shape)).softmax(1)
    w = torch.tensor(rng.random(shape[1]) + 0.5) if weighted else None
    t_ref = p.clone().requires_grad_(True)
    F.cross_entropy(z, t_ref, weight=w, label_smoothing=0.1).backward()
    t = p.clone().requires_grad_(True)
    ct.softmax_cross_entropy(z, t, weight=w, label_smoothing=0.1).backward()
    torch.testing.assert_close(t.grad, t_ref.grad, rtol=1e-14, atol=1e-16)


# --- 4. entropy of a one-hot row is +0.0 ------------------------------------------------------


@backends
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64", "bool"])
def test_entropy_of_one_hot_row_is_plus_zero(be, dtype):
    p = np.array([[0, 1, 0], [1, 0, 0]]).astype(dtype)
    h = to_np(be.mod.entropy(be.array(p)))
    np.testing.assert_array_equal(h, [0.0, 0.0])
    assert not np.signbit(h).any(), h  # +0.0, not -0.0


# --- 5. float32 rows of probabilities must sum to 1 within sqrt(eps32) ------------------------


@backends
def test_float32_distribution_sum_tolerance_is_sqrt_eps32(be):
    ok = np.array([[0.5, 0.5 + 1e-4]], dtype=np.float32)  # off by 1e-4 < 3.5e-4: accepted
    bad = np.array([[0.5, 0.5 + 2e-3]], dtype=np.float32)  # off by 2e-3 > 3.5e-4: refused
    be.mod.entropy(be.array(ok))
    be.mod.categorical_cross_entropy(be.array(ok), be.array(np.array([1])))
    for fn in (be.mod.entropy, lambda p: be.mod.cross_entropy(p, p),
               lambda p: be.mod.categorical_cross_entropy(p, be.array(np.array([1])))):
        with pytest.raises(ValueError, match="must sum to 1"):
            fn(be.array(bad))


# --- 6. base=inf is refused -----------------------------------------------------------------


@backends
@pytest.mark.parametrize("base", [INF, -INF, math.nan, 1.0, 0.0, -2.0])
@pytest.mark.parametrize("measure", ["entropy", "cross_entropy", "kl_divergence"])
def test_information_measures_refuse_base_inf_and_other_bad_bases(be, base, measure):
    p = be.array(np.array([0.25, 0.75]))
    args = (p,) if measure == "entropy" else (p, p)
    with pytest.raises(ValueError, match="base must be positive, finite and not 1"):
        getattr(be.mod, measure)(*args, base=base)


# --- 7. a weight with more dimensions than the prediction is refused ------------------------


@backends
@pytest.mark.parametrize("fn", ["binary_cross_entropy", "binary_cross_entropy_with_logits",
                                "binary_cross_entropy_with_logits_grad"])
def test_binary_weight_with_more_dimensions_than_prediction_is_refused(be, fn):
    p, t = np.array([0.2, 0.7, 0.5]), np.array([0.0, 1.0, 1.0])
    weight = np.ones((2, 3))  # broadcasts with p, but to a larger shape: torch raises
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        F.binary_cross_entropy(torch.tensor(p), torch.tensor(t), weight=torch.tensor(weight))
    with pytest.raises(ValueError, match=r"weight of shape \(2, 3\) cannot be broadcast"):
        getattr(be.mod, fn)(be.array(p), be.array(t), weight=be.array(weight))
    if fn != "binary_cross_entropy":
        with pytest.raises(ValueError, match=r"pos_weight of shape \(2, 3\) cannot be broadcast"):
            getattr(be.mod, fn)(be.array(p), be.array(t), pos_weight=be.array(weight))


# --- 8. result dtype of cross_entropy / kl_divergence with integer p ------------------------


@backends
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("measure", ["cross_entropy", "kl_divergence"])
def test_integer_p_takes_the_dtype_of_q(be, dtype, measure):
    p = be.array(np.array([[0, 1, 0], [1, 0, 0]]))
    q = be.array(np.array([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]]), dtype)
    out = getattr(be.mod, measure)(p, q)
    assert str(out.dtype).removeprefix("torch.") == dtype
    expected = [math.log(2), math.log(2)]
    np.testing.assert_allclose(to_np(out), expected, rtol=2.0**-10 if dtype == "float16" else 1e-7)


# --- 9. log_sigmoid keeps its relative accuracy for large x ---------------------------------


@backends
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_sigmoid_is_relatively_accurate_for_large_x(be, dtype):
    # e^{-x} stays a normal number of the dtype (float32: x < 87)
    x = np.array([20.0, 28.0, 30.0, 40.0, 80.0] + ([700.0] if dtype == "float64" else []))
    out = to_np(be.mod.log_sigmoid(be.array(x, dtype)))
    exact = -np.log1p(np.exp(-x.astype(LD)))  # = -e^{-x} (1 - e^{-x}/2 ...)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(out, exact.astype(np.float64), rtol=4 * eps, atol=0)
    assert (out < 0).all()


# --- 10, 11. entropy and categorical cross entropy of float16 computed in float32 ---------


def _half_rows() -> np.ndarray:
    """Uniform float16 rows over 61, 173, 334 and 390 of 390 classes: every term rounds the same
    way, so a float16 computation is off by a unit in the last place or more (found by search),
    where float32 rounded once is not."""
    rows = np.zeros((4, 390), dtype=np.float16)
    for row, n in zip(rows, (61, 173, 334, 390), strict=True):
        row[:n] = np.float16(1 / n)
    return rows


@backends
def test_entropy_of_float16_is_computed_in_float32(be):
    p = _half_rows()
    pl = p.astype(LD)
    exact = -(pl * np.log(np.where(pl > 0, pl, 1))).sum(1)
    out = be.mod.entropy(be.array(p))
    assert str(out.dtype).removeprefix("torch.") == "float16"
    rounded_once(out, exact, "float16", n_ops=2 * p.shape[1])


@backends
def test_categorical_ce_of_float16_is_computed_in_float32(be):
    p = q = _half_rows()
    with np.errstate(divide="ignore", invalid="ignore"):
        exact_rows = np.where(p > 0, -p.astype(LD) * np.log(q.astype(LD)), 0).sum(1)
    out = be.mod.categorical_cross_entropy(be.array(q), be.array(p), reduction="none")
    assert str(out.dtype).removeprefix("torch.") == "float16"
    rounded_once(out, exact_rows, "float16", n_ops=2 * p.shape[1])
    y = np.array([3, 17, 333, 0])
    exact_idx = -np.log(q.astype(LD)[np.arange(4), y])
    out = be.mod.categorical_cross_entropy(be.array(q), be.array(y), reduction="none")
    rounded_once(out, exact_idx, "float16", n_ops=2)
    mean = be.mod.categorical_cross_entropy(be.array(q), be.array(p))
    rounded_once(mean, exact_rows.mean(), "float16", n_ops=2 * p.size)
    # soft targets whose float16 logarithms all round the same way (found by search): rounding
    # the logs to float16 first puts the result 1.13 and 0.96 units in the last place off
    q2 = np.array([[0.353271484375, 0.64697265625], [0.0916748046875, 0.908203125]], np.float16)
    t2 = np.array([[0.72314453125, 0.277099609375], [0.76708984375, 0.2332763671875]],
                  np.float16)
    exact2 = -(t2.astype(LD) * np.log(q2.astype(LD))).sum(1)
    out = be.mod.categorical_cross_entropy(be.array(q2), be.array(t2), reduction="none")
    rounded_once(out, exact2, "float16", n_ops=4)


def test_backends_cover_numpy_and_torch():
    assert [b.name for b in BACKENDS] == ["numpy", "torch"] and NUMPY.mod is cn


# --- mutation survivors: the torch backward with an upstream gradient of 2 on a reduced loss -


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_torch_backward_scales_by_an_upstream_gradient_of_two(reduction):
    rng = np.random.default_rng(12)
    z, t = torch.tensor(rng.standard_normal((4, 3))), torch.tensor([0, 2, 1, 1])
    zt, zr = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ct.softmax_cross_entropy(zt, t, reduction=reduction).backward(torch.tensor(2.0, dtype=z.dtype))
    F.cross_entropy(zr, t, reduction=reduction).backward(torch.tensor(2.0, dtype=z.dtype))
    torch.testing.assert_close(zt.grad, zr.grad, rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_torch_target_gradient_in_half_precision_is_computed_in_float32(dtype):
    # torch's own half-precision log_softmax rounds intermediate results (about 7 % of these
    # entries differ from float32 rounded once)
    rng = np.random.default_rng(13)
    z64 = rng.standard_normal((64, 50)) * 3
    z = torch.tensor(z64).to(getattr(torch, dtype))
    t = torch.softmax(torch.tensor(rng.standard_normal((64, 50))), 1).to(z.dtype)
    t.requires_grad_(True)
    ct.softmax_cross_entropy(z, t, reduction="sum").backward()
    exact = -torch.log_softmax(z.double(), 1).numpy()  # d loss / d t for the rounded logits
    assert t.grad.dtype == z.dtype
    rounded_once(t.grad, exact, dtype, n_ops=8)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_torch_linear_backward_scales_by_an_upstream_gradient_of_two(reduction):
    rng = np.random.default_rng(14)
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    t = torch.tensor([0, 3, 1, 1, 2])
    ours = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    refs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    two = torch.tensor(2.0, dtype=torch.float64)
    ct.linear_cross_entropy(ours[0], ours[1], t, linear_bias=ours[2],
                            reduction=reduction).backward(two)
    F.cross_entropy(F.linear(*refs), t, reduction=reduction).backward(two)
    for a, r in zip(ours, refs, strict=True):
        torch.testing.assert_close(a.grad, r.grad, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("modified", [0, 1, 2])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_torch_linear_backward_refuses_inputs_modified_in_place(modified, reduction):
    # as torch's own functions do: the saved arguments are checked for in-place changes
    rng = np.random.default_rng(15)
    args = [torch.tensor(a, requires_grad=True) for a in
            (rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4))]
    loss = ct.linear_cross_entropy(args[0], args[1], torch.tensor([0, 3, 1, 1, 2]),
                                   linear_bias=args[2], reduction=reduction).sum()
    with torch.no_grad():
        args[modified].add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_default_chunk_size_is_2_to_22_logits_at_least_64_rows_at_most_n():
    assert lce.default_chunk_size(600, 8192) == 512  # 2^22 / 8192 rows: an int
    assert isinstance(lce.default_chunk_size(600, 8192), int)
    assert lce.default_chunk_size(10_000, 2**20) == 64  # at least 64 rows
    assert lce.default_chunk_size(10, 2**10) == 10  # at most N
    assert lce.default_chunk_size(1, 5) == 1
    assert lce.default_chunk_size(2**23, 1) == 2**22  # one class: 2^22 rows
    assert lce.default_chunk_size(0, 5) == 1  # no rows: a chunk of one row, never zero
