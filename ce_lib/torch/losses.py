"""Binary, categorical and softmax cross-entropy losses (torch backend), all differentiable."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F

from .. import _softmax_ce
from .. import _validation as v
from .._docs import LOG_CLAMP, document
from .._reduction import mean_scale, reduce
from ._tensors import OPS, as_tensor, compute_dtype, kind, min_max

Reduction = Literal["mean", "sum", "none"]


def _floating(x: Any, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    t = as_tensor(x, name, like)
    v.check_floating(kind(t), name, t.dtype)
    return t


def _binary_args(
    prediction: Any, target: Any, weight: Any, name: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.dtype]:
    pred = _floating(prediction, name)
    tgt = as_tensor(target, "target", pred)
    v.check_binary_target(tgt, kind(tgt), pred, name)
    cd = compute_dtype(pred.dtype)
    w = None
    if weight is not None:
        w = _floating(weight, "weight", pred)
        v.check_broadcastable(w, tuple(pred.shape), "weight", name)
        v.check_no_nan(w, "weight")
        w = w.to(cd)
    return pred.to(cd), tgt.to(cd), w, pred.dtype


def binary_cross_entropy(
    probs: Any, target: Any, weight: Any = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    reduction = v.check_reduction(reduction)
    p, t, w, dtype = _binary_args(probs, target, weight, "probs")
    v.check_probabilities(p, "probs")
    losses = F.binary_cross_entropy(p, t, reduction="none")
    if w is not None:
        losses = losses * w
    return reduce(losses, reduction).to(dtype)


def _pos_weight(pos_weight: Any, logits: torch.Tensor) -> torch.Tensor | None:
    if pos_weight is None:
        return None
    pw = _floating(pos_weight, "pos_weight", logits)
    v.check_broadcastable(pw, tuple(logits.shape), "pos_weight", "logits")
    v.check_no_nan(pw, "pos_weight")
    return pw.to(logits.dtype)


def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    reduction = v.check_reduction(reduction)
    z, t, w, dtype = _binary_args(logits, target, weight, "logits")
    pw = _pos_weight(pos_weight, z)
    # (1 - t) softplus(z) + pw t softplus(-z): both terms >= 0, so nothing cancels (PyTorch's
    # (1 - t) z - log sigmoid(z) loses the digits of small losses, e.g. at z = -30, t = 0).
    positive = t if pw is None else pw * t
    losses = -(1 - t) * F.logsigmoid(-z) - positive * F.logsigmoid(z)
    if w is not None:
        losses = losses * w
    if not bool(torch.isfinite(losses).all()):
        v.check_finite_logits(z, "logits")
    return reduce(losses, reduction).to(dtype)


def categorical_cross_entropy(
    probs: Any, target: Any, reduction: Reduction = "mean"
) -> torch.Tensor:
    reduction = v.check_reduction(reduction)
    p = _floating(probs, "probs")
    v.check_distribution(p, "probs", p.element_size())
    tgt = as_tensor(target, "target", p)
    log_p = torch.log(p.to(compute_dtype(p.dtype))).clamp(min=LOG_CLAMP)
    if kind(tgt) == "i" and tuple(tgt.shape) == tuple(p.shape[:-1]):
        v.check_class_indices(tgt, p.shape[-1], None)
        losses = -torch.gather(log_p, -1, tgt.long().unsqueeze(-1)).squeeze(-1)
    else:
        if kind(tgt) not in ("f", "i", "b"):
            raise TypeError(f"target must be numeric, got dtype {tgt.dtype}")
        v.check_same_shape(p, tgt, "probs", "target")
        v.check_probabilities(tgt, "target")
        losses = -(tgt.to(log_p.dtype) * log_p).sum(-1)
    return reduce(losses, reduction).to(p.dtype)


def softmax_ce_tensors(
    logits: Any, target: Any, weight: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``softmax_cross_entropy``'s array arguments as tensors on the logits' device."""
    z = as_tensor(logits, "logits")
    return z, as_tensor(target, "target", z), None if weight is None else as_tensor(weight, "weight", z)


def softmax_ce_forward(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
    ignore_index: object, reduction: object, label_smoothing: object, want_grad: bool,
    z_loss: object = 0.0, logit_softcap: object = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss and closed-form gradient of ``softmax_cross_entropy``, outside autograd."""
    if kind(target) == "i" and target.dtype != torch.int64:
        target = target.long()  # int8/int16/uint8 indices: tensors index only with int64
    with torch.no_grad():
        return _softmax_ce.softmax_cross_entropy(
            OPS, logits, target, weight, ignore_index, reduction, label_smoothing,
            (kind(logits), kind(target), None if weight is None else kind(weight)), want_grad,
            z_loss, logit_softcap,
        )


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Backward is the gradient computed (and saved) in the forward pass, as fused kernels do.

    Only one logits-sized tensor is kept: the gradient itself. When the upstream gradient is 1
    (``loss.backward()`` on a reduced loss) it is handed to autograd as it is, without a copy.
    """

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                ignore_index: int, reduction: str, label_smoothing: float, z_loss: float,
                logit_softcap: float | None) -> torch.Tensor:
        loss, grad = softmax_ce_forward(
            logits, target, weight, ignore_index, reduction, label_smoothing,
            ctx.needs_input_grad[0], z_loss, logit_softcap,
        )
        ctx.reduction = reduction
        ctx.class_axis = 0 if logits.ndim == 1 else 1
        ctx.smoothing = label_smoothing
        ctx.softcap = logit_softcap
        ctx.save_for_backward(grad, logits, target, weight)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        grad, logits, target, weight = ctx.saved_tensors
        if ctx.reduction == "none":
            upstream = grad_output.unsqueeze(ctx.class_axis)
        else:
            upstream = grad_output
        grad_logits = None
        if ctx.needs_input_grad[0]:
            if ctx.reduction != "none" and grad_output.item() == 1:  # (one read, no op)
                grad_logits = grad
            else:
                grad_logits = grad * upstream.to(grad.dtype)
        grad_target = None
        if ctx.needs_input_grad[1]:  # probability targets: d loss / d t = -(1 - eps) w log p
            capped = logits.to(compute_dtype(logits.dtype))
            if ctx.softcap is not None:  # (validated in the forward pass)
                capped = float(ctx.softcap) * torch.tanh(capped / float(ctx.softcap))
            log_p = torch.log_softmax(capped, ctx.class_axis)
            if weight is not None:
                shape = [1] * logits.ndim
                shape[ctx.class_axis] = -1
                log_p = log_p * weight.to(log_p.dtype).reshape(shape)
            scale = 1.0
            if ctx.reduction == "mean":
                scale = mean_scale(logits.numel() // logits.shape[ctx.class_axis])
            grad_target = (-(1 - ctx.smoothing) * scale * log_p * upstream).to(target.dtype)
        return grad_logits, grad_target, None, None, None, None, None, None


def small_hard_label(logits: torch.Tensor, target: torch.Tensor,
                      reduction: str) -> torch.Tensor:
    """The common small call, computed by ``F.cross_entropy`` itself (one call into PyTorch's
    fused ``log_softmax`` and ``nll_loss``, whose backward is the same closed form,
    ``softmax - onehot`` scaled by the upstream gradient).

    At this size a call costs what its operations' overhead costs, and the fused kernels need
    fewer operations than the one-pass kernel; loss and gradient are then PyTorch's to the bit.
    The caller proved every class index in range (so no element is ignored: PyTorch's NaN
    gradients of an ignored row of -inf logits cannot arise); the logits are checked only if the
    loss says something is off, as in the general path.
    """
    loss = F.cross_entropy(logits, target, reduction=reduction)
    value = loss.detach()
    # A non-finite loss makes the sum or mean non-finite too: one scalar tells.
    if not (math.isfinite(value.item()) if reduction != "none"
            else bool(torch.isfinite(value).all())):
        v.check_finite_logits(logits, "logits", allow_neg_inf=True)
        v.check_not_all_masked(logits, 1)
    return loss


def small_value_and_grad(logits: torch.Tensor, target: torch.Tensor,
                         reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and gradient of a :func:`plain_small_call`, bit for bit what ``backward()`` gives
    (the gradient of the sum of the losses for ``reduction="none"``)."""
    z = logits.detach().requires_grad_()
    with torch.enable_grad():
        loss = small_hard_label(z, target, reduction)
        (grad,) = torch.autograd.grad(loss, z, torch.ones_like(loss))
    return loss.detach(), grad


_FAST_DTYPES = (torch.float32, torch.float64)
# Up to this many logits the fused kernels are faster; above it the one-pass kernel is, in time
# and memory (measured on a CPU: at 64 x 3072, 0.73x F.cross_entropy's time against 1.02x).
_SMALL_ELEMENTS = 1 << 17


def plain_small_call(logits: Any, target: Any, weight: Any, ignore_index: object,
                     reduction: object, label_smoothing: object, z_loss: object,
                     logit_softcap: object, need_autograd: bool = False) -> bool:
    """Whether PyTorch's fused kernels compute this call (``small_hard_label``): 2-D float32 or
    float64 logits of at most ``_SMALL_ELEMENTS``, int64 indices on their device, and nothing
    else (see ``_softmax_ce.plain_hard_label``). ``need_autograd``: also that autograd can run
    (not in inference mode), as ``small_value_and_grad`` needs."""
    return (weight is None and logit_softcap is None
            and isinstance(logits, torch.Tensor) and isinstance(target, torch.Tensor)
            and not (need_autograd and (torch.is_inference_mode_enabled()
                                        or logits.is_inference()))
            and target.dtype is torch.int64 and logits.dtype in _FAST_DTYPES
            and target.device == logits.device
            and _softmax_ce.plain_hard_label(logits, target, ignore_index, reduction,
                                             label_smoothing, z_loss, _SMALL_ELEMENTS)
            and _indices_in_range(target, logits.shape[1]))


def _indices_in_range(target: torch.Tensor, num_classes: int) -> bool:
    """Every class index in [0, num_classes), by one reduction."""
    lo, hi = min_max(target)
    return 0 <= lo and hi < num_classes


def softmax_cross_entropy(
    logits: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
) -> torch.Tensor:
    if plain_small_call(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                        logit_softcap):
        return small_hard_label(logits, target, reduction)
    z, t, w = softmax_ce_tensors(logits, target, weight)
    if w is not None and w.requires_grad:
        raise ValueError("weight must not require grad: gradients with respect to class weights "
                         "are not supported")
    return _SoftmaxCrossEntropy.apply(z, t, w, ignore_index, reduction, label_smoothing, z_loss,
                                      logit_softcap)


document(binary_cross_entropy, binary_cross_entropy_with_logits, categorical_cross_entropy, softmax_cross_entropy)
