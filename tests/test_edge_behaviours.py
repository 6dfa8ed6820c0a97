"""Edge behaviours that the full mutation run of ce_lib found untested (mutation/survivors.md).

Each test pins a documented behaviour against an independent reference (float64 or
extended-precision arithmetic, the decimal module, PyTorch on explicitly formed logits, or a
value worked out by hand) and is named after it; survivors.md names the mutants each one kills.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from decimal import Context, Decimal, localcontext
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from strategies import LD, NUMPY, backends, one_rank_group, to_np
from test_pinned_behaviours import _half_rows, rounded_once

import ce_lib.numpy as cn
import ce_lib.numpy._arrays as arrays
import ce_lib.torch as ct
from ce_lib.checks import EPS64

MEASURES = ("entropy", "cross_entropy", "kl_divergence")
P = np.array([[0.125, 0.375, 0.5], [0.25, 0.25, 0.5]])
Q = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])


def _terms(measure: str, p: float, q: float) -> tuple[mpmath.mpf, mpmath.mpf]:
    """One class's term of the measure in nats and its magnitude before any cancellation."""
    log_p, log_q = mpmath.log(mpmath.mpf(p)), mpmath.log(mpmath.mpf(q))
    if measure == "entropy":
        return -p * log_p, abs(p * log_p)
    if measure == "cross_entropy":
        return -p * log_q, abs(p * log_q)
    return p * (log_p - log_q), abs(p * log_p) + abs(p * log_q)


def _nats64(measure: str, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The measure in nats per row, from its formula at 50 digits (every p here is > 0), and the
    sum of its terms' magnitudes: a float64 computation's error is a few EPS64 of that sum,
    which for a KL divergence (a small difference of larger sums) is much more than of the
    result."""
    with mpmath.workdps(50):
        rows = [[_terms(measure, float(a), float(b)) for a, b in zip(pr, qr, strict=True)]
                for pr, qr in zip(p, q, strict=True)]
        value = np.array([float(mpmath.fsum(t for t, _ in row)) for row in rows])
        scale = np.array([float(mpmath.fsum(m for _, m in row)) for row in rows])
    return value, scale


def _call(be: object, measure: str, p: object, q: object, **kw: object) -> object:
    fn = getattr(be.mod, measure)  # type: ignore[attr-defined]
    return fn(p, **kw) if measure == "entropy" else fn(p, q, **kw)


# --- base: any positive number other than 1, also below 1 -------------------------------------


@backends
@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("base", [0.5, 0.1, 2.0])
def test_information_measures_accept_a_base_below_one(be, measure, base):
    """log_b x = ln x / ln b also for 0 < b < 1 (then the measures are <= 0): the check refuses
    only b <= 0, b = 1 and b = inf."""
    out = to_np(_call(be, measure, be.array(P), be.array(Q), base=base))
    nats, scale = _nats64(measure, P, Q)
    expected = nats / math.log(base)
    assert np.all(np.abs(out - expected) <= 8 * EPS64 * scale / abs(math.log(base))), (
        out, expected)
    if base < 1:
        assert np.all(out < 0)


# --- long double (itemsize 16 on x86-64 Linux): accepted, computed and checked in it -----------


def _decimal(x: np.longdouble) -> Decimal:
    f = Fraction(*x.as_integer_ratio())
    return CTX.divide(Decimal(f.numerator), Decimal(f.denominator))


CTX = Context(prec=40)


def _nats_exact(measure: str, p: np.ndarray, q: np.ndarray) -> Decimal:
    """One row's measure from the long double inputs' exact values, to 40 digits."""
    with localcontext(CTX):
        total = Decimal(0)
        for pi, qi in zip(p, q, strict=True):
            dp, dq = _decimal(pi), _decimal(qi)
            if measure == "entropy":
                total -= dp * dp.ln()
            elif measure == "cross_entropy":
                total -= dp * dq.ln()
            else:
                total += dp * (dp.ln() - dq.ln())
    return total


@pytest.mark.parametrize("measure", MEASURES)
def test_numpy_long_double_is_computed_in_long_double(measure):
    """NumPy's long double (80-bit extended on x86-64) is a floating dtype like the others: its
    rows are checked with float64's sum tolerance and computed in long double, not float64.
    p has digits beyond float64 (1/3 in long double) and q = 1 - 2^-60 (1 in float64)."""
    third = LD(1) / LD(3)
    p = np.array([third, 1 - third], dtype=LD)
    q = np.array([1 - LD(2) ** -60, LD(2) ** -60], dtype=LD)
    q2 = np.array([LD(9) / 10, 1 - LD(9) / 10], dtype=LD)
    for qq in (q, q2):
        out = _call(NUMPY, measure, p, qq)
        assert out.dtype == LD
        exact = _nats_exact(measure, p, qq)
        error = abs(_decimal(np.asarray(out)[()]) - exact)
        # a few roundings of the long double computation (two logs, products, a sum)
        assert error <= Decimal(16 * float(np.finfo(LD).eps)) * (abs(exact) + 1), (out, exact)


@pytest.mark.parametrize("measure", MEASURES)
def test_numpy_long_double_rows_must_sum_to_one(measure):
    """A long double row that sums to 1.1 is refused; one off by 1e-9 (below float64's
    tolerance of 1.5e-8) is accepted."""
    bad = np.array([0.5, 0.6], dtype=LD)
    with pytest.raises(ValueError, match=r"must sum to 1 along axis -1 .* off by 0\.1$"):
        _call(NUMPY, measure, bad, bad)
    near = np.array([0.5, 0.5 + 1e-9], dtype=LD)
    out = _call(NUMPY, measure, near, near)
    assert out.dtype == LD and np.isfinite(out)


# --- result dtypes --------------------------------------------------------------------------


@backends
@pytest.mark.parametrize("measure", ["cross_entropy", "kl_divergence"])
@pytest.mark.parametrize("order", ["p64-q32", "p32-q64"])
def test_mixed_float_dtypes_give_the_wider_dtype_and_its_precision(be, measure, order):
    """p and q of different float dtypes: the result has the promoted dtype (float64) and is
    computed in it (a float32 computation is ~1e-7 off)."""
    p32 = P.astype(np.float32)
    q32 = Q.astype(np.float32)
    p, q = (P, q32) if order == "p64-q32" else (p32, Q)
    out = _call(be, measure, be.array(p), be.array(q))
    assert str(out.dtype).removeprefix("torch.") == "float64"
    expected, scale = _nats64(measure, p.astype(np.float64), q.astype(np.float64))
    assert np.all(np.abs(to_np(out) - expected) <= 8 * EPS64 * scale), (out, expected)


@backends
@pytest.mark.parametrize("p", [[0, 1, 0], [False, True, False]], ids=["int", "bool"])
def test_entropy_of_an_integer_or_boolean_row_is_float64_plus_zero(be, p):
    """A one-hot row given as integers or booleans is a float64 distribution: entropy +0.0."""
    out = be.mod.entropy(be.array(p))
    assert str(out.dtype).removeprefix("torch.") == "float64"
    value = float(to_np(out))
    assert value == 0.0 and math.copysign(1.0, value) == 1.0


def test_torch_half_precision_cross_entropy_and_kl_are_computed_in_float32():
    """float16 p and q: cross entropy is computed in float32 and rounded once to float16 (a
    float16 computation of these rows is a unit in the last place off or more), and
    KL(p || p) is exactly 0 (the same float32 terms cancel)."""
    p = _half_rows()
    pl = p.astype(LD)
    exact = -(pl * np.log(np.where(pl > 0, pl, 1))).sum(1)
    out = ct.cross_entropy(torch.from_numpy(p), torch.from_numpy(p))
    assert out.dtype == torch.float16
    rounded_once(out, exact, "float16", n_ops=2 * p.shape[1])
    kl = ct.kl_divergence(torch.from_numpy(p), torch.from_numpy(p))
    assert kl.dtype == torch.float16
    assert torch.equal(kl, torch.zeros(4, dtype=torch.float16))
    for dtype in (torch.float16, torch.bfloat16):
        q = torch.tensor(Q, dtype=dtype)
        assert ct.cross_entropy(q, q).dtype == dtype
        assert ct.kl_divergence(q, q).dtype == dtype


# --- the NumPy backend's thread pool ----------------------------------------------------------


def test_numpy_rows_are_split_into_one_contiguous_range_per_thread(monkeypatch):
    """map_blocks: 10 rows in blocks of 3 (4 blocks) on 2 threads are the ranges [0, 6) and
    [6, 10), run on the pool's threads; the pool is created on first use."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(arrays, "_POOL", None)
    calls = []
    lock = threading.Lock()

    def run(first: int, last: int) -> None:
        with lock:
            calls.append((first, last, threading.current_thread().name))

    arrays.map_blocks(run, 10, 3)
    assert sorted(c[:2] for c in calls) == [(0, 6), (6, 10)]
    assert all(c[2].startswith("ce_lib") for c in calls)
    calls.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    arrays.map_blocks(run, 10, 3)
    assert [c[:2] for c in calls] == [(0, 10)]


def test_numpy_threads_keep_the_callers_error_state(monkeypatch):
    """Invalid logits on rows spread over two threads raise ce_lib's ValueError, with no NumPy
    RuntimeWarning from a worker thread (warnings are errors in the tests): the blocks run with
    the caller's np.errstate and ufunc buffer size, under NumPy 1.x (per thread) and 2.x (per
    context) alike. The bug this pins: 'invalid value encountered in subtract'."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(arrays, "_POOL", None)
    monkeypatch.setattr(arrays, "_BLOCK_ELEMENTS", 64)  # 8 rows of 8 classes per block
    z = np.zeros((37, 8))
    z[30] = np.inf  # inf - inf = NaN in a block the second thread computes
    with pytest.raises(ValueError, match="logits"):
        cn.softmax_cross_entropy_value_and_grad(z, np.zeros(37, dtype=np.int64))
    seen = []
    arrays.map_blocks(lambda first, last: seen.append(np.geterr()["invalid"]), 37, 8)
    assert seen == ["warn", "warn"]
    with np.errstate(invalid="ignore"):
        seen.clear()
        arrays.map_blocks(lambda first, last: seen.append(np.geterr()["invalid"]), 37, 8)
    assert seen == ["ignore", "ignore"]
    with arrays.row_buffer(1000):  # and the caller's ufunc buffer size
        seen.clear()
        arrays.map_blocks(lambda first, last: seen.append(np.getbufsize()), 37, 8)
    assert seen == [1008, 1008]


def test_numpy_row_buffer_sizes_and_restores_the_ufunc_buffer():
    """row_buffer(C): a buffer of C rounded up to 16 elements for 256 <= C <= 4096, the
    caller's buffer size otherwise, and the caller's again after the block, even on an error;
    the public functions leave it as they found it."""
    before = np.getbufsize()
    for num_classes, inside in ((1000, 1008), (256, 256), (4096, 4096), (255, before),
                                (4097, before), (0, before)):
        with arrays.row_buffer(num_classes):
            assert np.getbufsize() == inside, num_classes
        assert np.getbufsize() == before
    with pytest.raises(KeyError), arrays.row_buffer(1000):
        raise KeyError
    assert np.getbufsize() == before
    cn.softmax_cross_entropy_value_and_grad(np.zeros((4, 1000)), np.zeros(4, dtype=np.int64))
    cn.softmax_cross_entropy(np.zeros((2, 3, 1000)), np.zeros((2, 1000), dtype=np.int64))
    assert np.getbufsize() == before


def test_numpy_softmax_cross_entropy_on_two_threads_over_several_blocks(monkeypatch):
    """Rows spread over several blocks and two threads give PyTorch's float64 losses and
    gradient."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(arrays, "_POOL", None)
    monkeypatch.setattr(arrays, "_BLOCK_ELEMENTS", 64)  # 8 rows of 8 classes per block
    rng = np.random.default_rng(14)
    z = rng.normal(size=(37, 8)) * 3
    y = rng.integers(0, 8, size=37)
    loss, grad = cn.softmax_cross_entropy_value_and_grad(z, y, label_smoothing=0.1)
    zt = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(zt, torch.tensor(y), label_smoothing=0.1)
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), rtol=16 * EPS64)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=0, atol=16 * EPS64)


# --- exact messages ---------------------------------------------------------------------------


def _exactly(message: str) -> str:
    return "^" + re.escape(message) + "$"


def test_torch_messages_for_arguments_that_must_not_require_grad():
    z = torch.zeros(2, 3)
    y = torch.tensor([0, 2])
    w = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match=_exactly(
            "weight must not require grad: gradients with respect to class weights "
            "are not supported")):
        ct.softmax_cross_entropy(z, y, weight=w)
    x, lw = torch.zeros(2, 4), torch.zeros(3, 4)
    with pytest.raises(ValueError, match=_exactly(
            "weight must not require grad: linear_cross_entropy computes gradients with "
            "respect to input, linear_weight and linear_bias only")):
        ct.linear_cross_entropy(x, lw, y, weight=w)
    with pytest.raises(ValueError, match=_exactly(
            "weight must not require grad: gradients with respect to class weights "
            "are not supported")):
        ct.softmax_focal_loss(z, y, weight=w)
    soft = torch.full((2, 3), 1 / 3, requires_grad=True)
    with pytest.raises(ValueError, match=_exactly(
            "target must not require grad: linear_cross_entropy computes gradients with "
            "respect to input, linear_weight and linear_bias only")):
        ct.linear_cross_entropy(x, lw, soft)


# --- linear_cross_entropy(group=...): the distributed branch, on a one-rank gloo group ---------


def test_linear_ce_with_a_one_rank_group_passes_every_argument_on():
    """With group= on one rank, every argument reaches the vocabulary-parallel code: the loss and
    gradients equal PyTorch's cross entropy of the formed logits (bias, class weights, "sum",
    ignore_index 1, label smoothing 0.1, chunks of 2 rows)."""
    rng = np.random.default_rng(10)
    x0, w0, b0 = rng.normal(size=(5, 4)), rng.normal(size=(6, 4)), rng.normal(size=6)
    cw = torch.tensor(rng.uniform(0.5, 2.0, size=6))
    y = torch.tensor([0, 1, 5, 3, 1])
    x, w, b = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))
    xr, wr, br = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))
    with one_rank_group():
        loss = ct.linear_cross_entropy(x, w, y, linear_bias=b, weight=cw, reduction="sum",
                                       ignore_index=1, label_smoothing=0.1, chunk_size=2,
                                       group=dist.group.WORLD)
        loss.backward()
    ref = F.cross_entropy(xr @ wr.T + br, y, weight=cw, reduction="sum", ignore_index=1,
                          label_smoothing=0.1)
    ref.backward()
    tol = {"rtol": 64 * EPS64, "atol": 64 * EPS64}
    torch.testing.assert_close(loss, ref.detach(), **tol)
    for got, want in ((x.grad, xr.grad), (w.grad, wr.grad), (b.grad, br.grad)):
        torch.testing.assert_close(got, want, **tol)


# --- softmax focal loss: each row is shifted by its own maximum --------------------------------


@backends
def test_softmax_focal_loss_of_rows_of_very_different_scales(be):
    """Rows whose logits differ by 1000 between rows: each row is stabilized by its own largest
    logit (shifting by the batch's largest makes the second row's exponentials all 0), so the
    loss is torch's cross entropy ce per row, times (1 - exp(-ce))^gamma, in float64."""
    z = np.array([[1000.0, 999.0, 0.0], [0.0, 1.0, -2.0], [-1000.0, -998.5, -999.0]])
    y = np.array([0, 2, 1])
    ce = F.cross_entropy(torch.tensor(z), torch.tensor(y), reduction="none").numpy()
    expected = (-np.expm1(-ce)) ** 2 * ce
    out = be.mod.softmax_focal_loss(be.array(z), be.array(y), gamma=2.0, reduction="none")
    np.testing.assert_allclose(to_np(out), expected, rtol=16 * EPS64)


@backends
def test_focal_loss_messages_for_bad_alpha_and_integer_logits(be):
    z, t = be.array([[0.5, -1.0]]), be.array([[1.0, 0.0]])
    with pytest.raises(TypeError, match=_exactly("alpha must be a real number, got str")):
        be.mod.sigmoid_focal_loss(z, t, alpha="0.25")
    with pytest.raises(ValueError, match=_exactly(
            "alpha must be finite and at most 1 (a negative alpha disables the balancing "
            "term), got 1.5")):
        be.mod.sigmoid_focal_loss(z, t, alpha=1.5)
    int_dtype = str(be.array([[1, 2]]).dtype)  # int64 or torch.int64
    with pytest.raises(TypeError, match=_exactly(
            f"logits must be a floating-point array, got integer dtype {int_dtype}")):
        be.mod.softmax_focal_loss(be.array([[1, 2]]), be.array([0]))


def _sigmoid_focal_target_grad_exact(z: float, t: float, gamma: float) -> float:
    """d/dt of (1 - t) softplus(z) + t softplus(-z), times q^gamma with
    q = (1 - t) sigma(z) + t sigma(-z) (alpha disabled), with 500 digits (so that
    1 + e^-800 keeps the digits of e^-800)."""
    with localcontext(Context(prec=500)):
        dz, dt, g = Decimal(z), Decimal(t), Decimal(gamma)
        sig_pos = 1 / (1 + (-dz).exp())
        sig_neg = 1 - sig_pos
        sp_pos = (1 + dz.exp()).ln()
        sp_neg = (1 + (-dz).exp()).ln()
        ce = (1 - dt) * sp_pos + dt * sp_neg
        q = (1 - dt) * sig_pos + dt * sig_neg
        qg = (g * q.ln()).exp()
        return float((sp_neg - sp_pos) * qg + ce * g * qg / q * (sig_neg - sig_pos))


def test_torch_sigmoid_focal_target_gradient_where_q_underflows():
    """z = -800 (sigma(z) = e^-800 underflows) with gamma = 0.5: for the hard target t = 0,
    q = sigma(z) underflows but q^gamma = e^-400 does not; for a subnormal soft target
    t = 1e-310, q = t sigma(-z) is about t, and q^gamma = 1e-155 comes from q itself, not from
    sigma(z). The target gradient is that of the written formula, to 50 digits."""
    t = torch.tensor([0.0, 1e-310], dtype=torch.float64, requires_grad=True)
    z = torch.full((2,), -800.0, dtype=torch.float64)
    ct.sigmoid_focal_loss(z, t, alpha=-1.0, gamma=0.5, reduction="sum").backward()
    expected = [_sigmoid_focal_target_grad_exact(-800.0, float(ti), 0.5) for ti in t.detach()]
    assert all(e > 1e-200 for e in expected)
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-10)


# --- focal losses: defaults, argument names, the target gradient's upstream ---------------------

FOCAL_FNS = ["sigmoid_focal_loss", "sigmoid_focal_loss_grad", "softmax_focal_loss",
             "softmax_focal_loss_value_and_grad", "softmax_focal_loss_grad"]
ZF = np.array([[1.5, -0.5, 0.25], [-2.0, 0.75, 3.0]])
TF = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0]])
YF = np.array([2, 0])


def _focal_args(be: object, name: str) -> tuple[object, object]:
    return be.array(ZF), be.array(TF if name.startswith("sigmoid") else YF)  # type: ignore


@backends
@pytest.mark.parametrize("name", FOCAL_FNS)
def test_focal_losses_default_gamma_is_two(be, name):
    """gamma defaults to 2 (Lin et al.'s choice, torchvision's default), in every entry point."""
    fn = getattr(be.mod, name)
    default, two, three = (fn(*_focal_args(be, name), **kw)
                           for kw in ({}, {"gamma": 2.0}, {"gamma": 3.0}))
    for d, t2, t3 in zip(*(r if isinstance(r, tuple) else (r,) for r in (default, two, three)),
                         strict=True):
        np.testing.assert_array_equal(to_np(d), to_np(t2))
        assert not np.array_equal(to_np(d), to_np(t3))


@backends
def test_focal_loss_defaults_against_the_written_formula(be):
    """sigmoid: alpha 0.25, gamma 2, no reduction; softmax: gamma 2, mean; PyTorch float64."""
    z, t = torch.tensor(ZF), torch.tensor(TF)
    p = torch.sigmoid(z)
    ce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    q = p * (1 - t) + torch.sigmoid(-z) * t  # 1 - p_t, without cancellation
    expected = (0.25 * t + 0.75 * (1 - t)) * ce * q**2
    out = be.mod.sigmoid_focal_loss(be.array(ZF), be.array(TF))
    np.testing.assert_allclose(to_np(out), expected.numpy(), rtol=16 * EPS64)
    ce_rows = F.cross_entropy(z, torch.tensor(YF), reduction="none")
    expected_mean = float((ce_rows * (-torch.expm1(-ce_rows)) ** 2).mean())
    out = be.mod.softmax_focal_loss(be.array(ZF), be.array(YF))
    np.testing.assert_allclose(float(to_np(out)), expected_mean, rtol=16 * EPS64)


@backends
def test_focal_losses_name_an_argument_that_is_not_an_array(be):
    what = ("must be a numeric array, got object" if be.name == "numpy"
            else "must be a tensor or array-like, got object")
    z, t, y, bad = be.array(ZF), be.array(TF), be.array(YF), object()
    calls = [("logits", lambda: be.mod.sigmoid_focal_loss(bad, t)),
             ("target", lambda: be.mod.sigmoid_focal_loss(z, bad)),
             ("logits", lambda: be.mod.softmax_focal_loss(bad, y)),
             ("target", lambda: be.mod.softmax_focal_loss(z, bad)),
             ("weight", lambda: be.mod.softmax_focal_loss(z, y, weight=bad))]
    for name, call in calls:
        with pytest.raises(TypeError, match=_exactly(f"{name} {what}")):
            call()


def test_torch_sigmoid_focal_target_gradient_times_an_upstream_gradient():
    """reduction="none" with per-element upstream weights: the target gradient is autograd's
    through the written formula (float64), weights included."""
    w = torch.tensor([[0.5, -2.0, 3.0], [1.5, 0.25, -1.0]])
    t = torch.tensor(TF * 0.8 + 0.1, requires_grad=True)
    t_ref = t.detach().clone().requires_grad_()
    z = torch.tensor(ZF)
    (ct.sigmoid_focal_loss(z, t, reduction="none") * w).sum().backward()
    p = torch.sigmoid(z)
    ce = F.binary_cross_entropy_with_logits(z, t_ref, reduction="none")
    q = p * (1 - t_ref) + torch.sigmoid(-z) * t_ref  # 1 - p_t
    loss = (0.25 * t_ref + 0.75 * (1 - t_ref)) * ce * q**2
    (loss * w).sum().backward()
    torch.testing.assert_close(t.grad, t_ref.grad, rtol=64 * EPS64, atol=64 * EPS64)


def test_torch_sigmoid_focal_target_gradient_of_float16_is_computed_in_float32():
    """float16 logits and soft targets: the target gradient is computed in float32 and rounded
    once to float16 (a float16 computation is a unit in the last place off or more on some of
    these 400 elements), against autograd of the written formula in float64."""
    rng = np.random.default_rng(12)
    z16 = torch.tensor(rng.normal(size=400) * 3, dtype=torch.float16)
    t16 = torch.tensor(rng.uniform(0, 1, size=400), dtype=torch.float16, requires_grad=True)
    ct.sigmoid_focal_loss(z16, t16, reduction="sum").backward()
    assert t16.grad.dtype == torch.float16
    z, t = z16.double(), t16.detach().double().requires_grad_()
    ce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    q = torch.sigmoid(z) * (1 - t) + torch.sigmoid(-z) * t  # 1 - p_t
    ((0.25 * t + 0.75 * (1 - t)) * ce * q**2).sum().backward()
    rounded_once(t16.grad, t.grad.numpy(), "float16", n_ops=40)


def test_torch_target_gradient_with_logit_softcap_is_that_of_the_capped_logits():
    """Probability targets that require grad, with logit soft-capping (c tanh(z / c)) and
    label smoothing: the target gradient is PyTorch's, through the explicitly capped logits."""
    rng = np.random.default_rng(11)
    z = torch.tensor(rng.normal(size=(4, 5)) * 8)
    p0 = torch.softmax(torch.tensor(rng.normal(size=(4, 5))), 1)
    t, t_ref = p0.clone().requires_grad_(), p0.clone().requires_grad_()
    ct.softmax_cross_entropy(z, t, label_smoothing=0.1, logit_softcap=5.0).backward()
    F.cross_entropy(5.0 * torch.tanh(z / 5.0), t_ref, label_smoothing=0.1).backward()
    torch.testing.assert_close(t.grad, t_ref.grad, rtol=64 * EPS64, atol=64 * EPS64)


def test_linear_ce_with_a_one_rank_group_passes_z_loss_and_logit_softcap_on():
    """On one rank, group= with z_loss and logit_softcap gives the loss and gradients of the
    call without group (which tests/test_logit_regularizers.py checks against the formula)."""
    rng = np.random.default_rng(13)
    x0, w0 = rng.normal(size=(5, 4)) * 3, rng.normal(size=(6, 4)) * 3
    y = torch.tensor([0, 1, 5, 3, 2])
    kw = {"z_loss": 1e-2, "logit_softcap": 4.0}
    results = []
    for group in (None, "world"):
        x, w = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
        with one_rank_group() if group else contextlib.nullcontext():
            loss = ct.linear_cross_entropy(
                x, w, y, group=dist.group.WORLD if group else None, **kw)
            loss.backward()
        results.append((loss.detach(), x.grad, w.grad))
    plain = ct.linear_cross_entropy(torch.tensor(x0), torch.tensor(w0), y)
    assert abs(float(plain) - float(results[0][0])) > 1e-3  # the two terms change the loss
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want, rtol=64 * EPS64, atol=64 * EPS64)
