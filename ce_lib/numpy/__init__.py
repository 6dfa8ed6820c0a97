"""ce_lib's NumPy backend: arrays in, arrays out.

Same names and semantics as :mod:`ce_lib.torch`; the classes of ``softmax_cross_entropy`` lie on
axis 1, as in PyTorch; those of the activations and information measures on the last axis.
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
from .linear import linear_cross_entropy_value_and_grad
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    categorical_cross_entropy,
    softmax_cross_entropy,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "categorical_cross_entropy",
    "cross_entropy",
    "entropy",
    "kl_divergence",
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
]
