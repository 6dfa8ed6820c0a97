"""ce_lib's PyTorch backend: tensors in, tensors out, differentiable, on any device.

Same names and semantics as :mod:`ce_lib.numpy`. The activations and
``binary_cross_entropy(_with_logits)`` call PyTorch's own kernels after ce_lib's validation;
``softmax_cross_entropy`` computes its gradient in the forward pass (see
:func:`softmax_cross_entropy_value_and_grad`) and hands it to autograd.
"""

from .activations import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from .focal import (
    sigmoid_focal_loss,
    sigmoid_focal_loss_grad,
    softmax_focal_loss,
    softmax_focal_loss_grad,
    softmax_focal_loss_value_and_grad,
)
from .gradients import (
    binary_cross_entropy_with_logits_grad,
    softmax_cross_entropy_grad,
    softmax_cross_entropy_value_and_grad,
    softmax_jacobian,
)
from .information import cross_entropy, entropy, kl_divergence
from .linear import linear_cross_entropy, linear_cross_entropy_value_and_grad
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    categorical_cross_entropy,
    softmax_cross_entropy,
)
from .vocab_parallel import vocab_parallel_cross_entropy

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "categorical_cross_entropy",
    "cross_entropy",
    "entropy",
    "kl_divergence",
    "linear_cross_entropy",
    "linear_cross_entropy_value_and_grad",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_grad",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_value_and_grad",
    "softmax_focal_loss",
    "softmax_focal_loss_grad",
    "softmax_focal_loss_value_and_grad",
    "softmax_jacobian",
    "vocab_parallel_cross_entropy",
]
