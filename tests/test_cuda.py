"""ce_lib.torch on a CUDA device: the small-call path, index validation and the one-pass kernel.

Skipped where no CUDA device is visible (CI has none). Run on a GPU machine with
``python -m pytest -p no:nbval -o addopts= tests/test_cuda.py``; the closing notes record those
runs.
"""

from __future__ import annotations

import itertools
import os

import pytest
import torch

import ce_lib.torch as ct

# CE_LIB_TEST_DEVICE=cpu runs the same checks on the CPU (to check the tests themselves).
DEVICE = os.environ.get("CE_LIB_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                                reason="no CUDA device")
F = torch.nn.functional


def _case(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(shape, generator=g, dtype=torch.float64) * 30).to(dtype)
    y = torch.randint(0, shape[1], (shape[0],), generator=g)
    return z.to(DEVICE), y.to(DEVICE)


def _loss_and_grad(run, z, upstream=None):
    zl = z.clone().requires_grad_()
    loss = run(zl)
    loss.backward(torch.ones_like(loss) if upstream is None else upstream)
    return loss.detach(), zl.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(64, 1000), (7, 3000), (5, 4)])
def test_small_call_on_cuda_is_pytorch_to_the_bit(dtype, shape):
    """Small plain calls run F.cross_entropy on the device: its bits, forward and backward, and
    the closed-form functions give the same bits as backward()."""
    z, y = _case(shape, dtype, sum(shape))
    for reduction in ("mean", "sum", "none"):
        loss, grad = _loss_and_grad(lambda t, r=reduction: ct.softmax_cross_entropy(t, y, reduction=r), z)
        ref_loss, ref_grad = _loss_and_grad(lambda t, r=reduction: F.cross_entropy(t, y, reduction=r), z)
        assert torch.equal(loss, ref_loss) and torch.equal(grad, ref_grad), reduction
        value, closed = ct.softmax_cross_entropy_value_and_grad(z, y, reduction=reduction)
        assert torch.equal(value, ref_loss) and torch.equal(closed, ref_grad), reduction
        assert closed.device.type == torch.device(DEVICE).type


@pytest.mark.parametrize("shape", [(64, 1000), (256, 4096)])
def test_out_of_range_indices_on_cuda_raise_before_any_kernel(shape):
    """An index out of range (or negative) raises ce_lib's ValueError, on the small path and
    the one-pass kernel's alike, before a device kernel could assert; the device still works."""
    z, y = _case(shape, torch.float32, 3)
    for bad in (shape[1], -1, -7):  # (-100 is ignore_index: that row is ignored)
        yb = y.clone()
        yb[5] = bad
        with pytest.raises(ValueError, match="target"):
            ct.softmax_cross_entropy(z, yb)
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    assert torch.isfinite(ct.softmax_cross_entropy(z, y)).item()


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_one_pass_kernel_on_cuda_matches_pytorch(reduction):
    """Above 2**17 logits, and with a weight, smoothing, ignored rows, z-loss or a cap, the
    one-pass kernel runs on the device: float64 autograd of the explicit formula, to 1e-5 in
    float32."""
    z, y = _case((512, 2048), torch.float32, 11)
    y[::7] = -100
    w = torch.linspace(0.5, 2.0, 2048, device=DEVICE)
    for knobs in ({}, {"weight": w}, {"label_smoothing": 0.1}, {"z_loss": 1e-4},
                  {"logit_softcap": 30.0}, {"z_loss": 1e-4, "logit_softcap": 30.0}):
        loss, grad = _loss_and_grad(
            lambda t, k=knobs: ct.softmax_cross_entropy(t, y, reduction=reduction, **k), z)

        def explicit(t, k=knobs):
            cap = k.get("logit_softcap")
            s = t if cap is None else cap * torch.tanh(t / cap)
            out = F.cross_entropy(s, y, weight=None if "weight" not in k else k["weight"].double(),
                                  label_smoothing=k.get("label_smoothing", 0.0), reduction="none")
            out = out + k.get("z_loss", 0.0) * torch.where(
                y != -100, torch.logsumexp(s, 1) ** 2, 0.0)
            if reduction == "none":
                return out
            denominator = (y != -100).sum() if "weight" not in k else k["weight"].double()[
                y.clamp(min=0)][y != -100].sum()
            return out.sum() / denominator

        ref_loss, ref_grad = _loss_and_grad(explicit, z.double())
        scale = ref_grad.abs().max()
        assert torch.allclose(loss.double(), ref_loss, rtol=1e-5, atol=0), knobs
        assert (grad.double() - ref_grad).abs().max() <= 1e-5 * scale, knobs


def test_small_call_threshold_on_cuda():
    """The same path choice as on a CPU: PyTorch's kernels up to 2**17 logits only."""
    names = {}
    for shape in itertools.product((64,), (2048, 2049)):
        z, y = _case(shape, torch.float32, 1)
        names[shape] = type(ct.softmax_cross_entropy(z.requires_grad_(), y).grad_fn).__name__
    assert names[(64, 2048)] == "NllLossBackward0"
    assert names[(64, 2049)] != "NllLossBackward0"
