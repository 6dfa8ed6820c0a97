"""The bad-input catalogue: the same exception type in both backends, a message that names the
argument, and inputs left exactly as they were, whether the call succeeds or fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from strategies import (
    FEW,
    SETTINGS,
    TORCH,
    Backend,
    assert_unchanged,
    backends,
    bce_cases,
    ce_cases,
    snapshot,
    to_np,
    torch_warns_always,
)

NAN, INF = math.nan, math.inf

Z = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]  # (N, C) = (2, 3)
Y = np.array([0, 2])
PROBS = [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]
T_BIN = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]

SOFTMAX_CE = ("softmax_cross_entropy", "softmax_cross_entropy_grad",
              "softmax_cross_entropy_value_and_grad")
BCE_LOGITS = ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad")


def _a(be: Backend, values, dtype=None):
    return be.array(values, dtype)


def ints(values):
    return np.array(values, dtype=np.int64)


# Each case: (id, function names, builder(be) -> (args, kwargs), exception type, regex).
# A builder returns fresh inputs for every call.
CASES = []


def case(case_id, names, exc, match):
    def register(builder):
        for name in (names if isinstance(names, tuple) else (names,)):
            CASES.append(pytest.param(name, builder, exc, match, id=f"{name}-{case_id}"))
        return builder

    return register


# ---- softmax_cross_entropy and its closed-form gradients ------------------------------------


@case("batch-mismatch", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, ints([0, 1, 2]))), {}


@case("spatial-mismatch", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, np.zeros((2, 3, 4))), _a(be, ints(np.zeros((2, 5))))), {}


@case("prob-target-shape", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, np.full((2, 4), 0.25))), {}


@case("class-index-C", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, ints([0, 3]))), {}


@case("class-index-minus-1", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, ints([-1, 0]))), {}


@case("class-index-ignore-other", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):  # -100 is an ordinary out-of-range index when ignore_index is something else
    return (_a(be, Z), _a(be, ints([-100, 0]))), {"ignore_index": -1}


@case("prob-target-above-1", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, [[1.5, -0.5, 0.0], [0.2, 0.3, 0.5]])), {}


@case("prob-target-nan", SOFTMAX_CE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, [[NAN, 0.5, 0.5], [0.2, 0.3, 0.5]])), {}


@case("bool-target", SOFTMAX_CE, TypeError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, np.array([True, False]))), {}


@case("reduction", SOFTMAX_CE, ValueError, r"\breduction\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"reduction": "avg"}


@case("reduction-none-object", SOFTMAX_CE, ValueError, r"\breduction\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"reduction": None}


@case("label-smoothing-negative", SOFTMAX_CE, ValueError, r"\blabel_smoothing\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"label_smoothing": -0.1}


@case("label-smoothing-above-1", SOFTMAX_CE, ValueError, r"\blabel_smoothing\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"label_smoothing": 1.5}


@case("label-smoothing-nan", SOFTMAX_CE, ValueError, r"\blabel_smoothing\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"label_smoothing": NAN}


@case("label-smoothing-str", SOFTMAX_CE, TypeError, r"\blabel_smoothing\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"label_smoothing": "0.1"}


@case("ignore-index-float", SOFTMAX_CE, TypeError, r"\bignore_index\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"ignore_index": 1.5}


@case("weight-length", SOFTMAX_CE, ValueError, r"\bweight\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"weight": _a(be, [1.0, 1.0, 1.0, 1.0])}


@case("weight-2d", SOFTMAX_CE, ValueError, r"\bweight\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"weight": _a(be, [[1.0, 1.0, 1.0]])}


@case("weight-negative", SOFTMAX_CE, ValueError, r"\bweight\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"weight": _a(be, [1.0, -0.5, 1.0])}


@case("weight-nan", SOFTMAX_CE, ValueError, r"\bweight\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"weight": _a(be, [1.0, NAN, 1.0])}


@case("weight-inf", SOFTMAX_CE, ValueError, r"\bweight\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"weight": _a(be, [1.0, INF, 1.0])}


@case("weight-int", SOFTMAX_CE, TypeError, r"\bweight\b")
def _(be):
    return (_a(be, Z), _a(be, Y)), {"weight": _a(be, ints([1, 1, 1]))}


@case("int-logits", SOFTMAX_CE, TypeError, r"\blogits\b")
def _(be):
    return (_a(be, ints([[1, 2, 3], [0, 0, 1]])), _a(be, Y)), {}


@case("bool-logits", SOFTMAX_CE, TypeError, r"\blogits\b")
def _(be):
    return (_a(be, np.ones((2, 3), dtype=bool)), _a(be, Y)), {}


@case("nan-logits", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[1.0, NAN, 0.5], [0.0, -1.0, 3.0]]), _a(be, Y)), {}


@case("nan-logits-prob-target", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[1.0, NAN, 0.5], [0.0, -1.0, 3.0]]), _a(be, PROBS)), {}


@case("nan-logits-ignored-row", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):  # NaN is an error even in a row whose target is ignored
    return (_a(be, [[1.0, NAN, 0.5], [0.0, -1.0, 3.0]]), _a(be, ints([-100, 1]))), {}


@case("posinf-logits", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[1.0, INF, 0.5], [0.0, -1.0, 3.0]]), _a(be, Y)), {}


@case("posinf-logits-smoothing", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[1.0, INF, 0.5], [0.0, -1.0, 3.0]]), _a(be, Y)), {"label_smoothing": 0.1}


@case("all-neg-inf-row", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[-INF, -INF, -INF], [0.0, -1.0, 3.0]]), _a(be, Y)), {}


@case("all-neg-inf-row-ignored", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):  # a row with no possible class is an error even when its target is ignored
    return (_a(be, [[-INF, -INF, -INF], [0.0, -1.0, 3.0]]), _a(be, ints([-100, 1]))), {}


@case("scalar-logits", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, np.float64(1.0)), _a(be, ints(0))), {}


@case("string-logits", "softmax_cross_entropy", TypeError, r"\blogits\b")
def _(be):
    return (["a", "b"], _a(be, ints(0))), {}


@case("object-target", "softmax_cross_entropy", TypeError, r"\btarget\b")
def _(be):
    return (_a(be, Z), [object(), object()]), {}


@case("no-classes", SOFTMAX_CE, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, np.zeros((2, 0))), _a(be, ints([0, 0]))), {}


@case("complex-target", SOFTMAX_CE, TypeError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, np.ones((2, 3), dtype=complex))), {}


# ---- activations ------------------------------------------------------------------------------

ACTIVATIONS = ("softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid")
SOFTMAX_FAMILY = ("softmax", "log_softmax")


@case("int-x", ACTIVATIONS, TypeError, r"\bx\b")
def _(be):
    return (_a(be, ints([1, 2, 3])),), {}


@case("bool-x", ACTIVATIONS, TypeError, r"\bx\b")
def _(be):
    return (_a(be, np.array([True, False])),), {}


@case("complex-x", ACTIVATIONS, TypeError, r"\bx\b")
def _(be):
    return (_a(be, np.array([1.0 + 1j, 0.0])),), {}


@case("ragged-list-x", ACTIVATIONS, TypeError, r"\bx\b")
def _(be):
    return ([[1.0, 2.0], [3.0]],), {}


@case("nan-x", ACTIVATIONS, ValueError, r"\bx\b")
def _(be):
    return (_a(be, [[1.0, NAN], [0.0, 0.0]]),), {}


@case("posinf-x", SOFTMAX_FAMILY, ValueError, r"\bx\b")
def _(be):
    return (_a(be, [[1.0, INF], [0.0, 0.0]]),), {}


@case("all-neg-inf-row", SOFTMAX_FAMILY, ValueError, r"\bx\b")
def _(be):
    return (_a(be, [[-INF, -INF], [0.0, 0.0]]),), {}


@case("nan-logits", "softmax_jacobian", ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[1.0, NAN], [0.0, 0.0]]),), {}


@case("posinf-logits", "softmax_jacobian", ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[1.0, INF], [0.0, 0.0]]),), {}


@case("int-logits", "softmax_jacobian", TypeError, r"\blogits\b")
def _(be):
    return (_a(be, ints([1, 2])),), {}


# ---- binary losses ------------------------------------------------------------------------------


@case("int-probs", "binary_cross_entropy", TypeError, r"\bprobs\b")
def _(be):
    return (_a(be, ints([[1, 0, 1], [0, 1, 0]])), _a(be, T_BIN)), {}


@case("probs-above-1", "binary_cross_entropy", ValueError, r"\bprobs\b")
def _(be):
    return (_a(be, [[1.1, 0.5, 0.5], [0.5, 0.5, 0.5]]), _a(be, T_BIN)), {}


@case("probs-negative", "binary_cross_entropy", ValueError, r"\bprobs\b")
def _(be):
    return (_a(be, [[-0.1, 0.5, 0.5], [0.5, 0.5, 0.5]]), _a(be, T_BIN)), {}


@case("probs-nan", "binary_cross_entropy", ValueError, r"\bprobs\b")
def _(be):
    return (_a(be, [[NAN, 0.5, 0.5], [0.5, 0.5, 0.5]]), _a(be, T_BIN)), {}


@case("shape-mismatch", "binary_cross_entropy", ValueError, r"\btarget\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, np.ones((3, 2)))), {}


@case("broadcastable-target-refused", "binary_cross_entropy", ValueError, r"\btarget\b")
def _(be):  # torch refuses a target that only broadcasts; so does ce_lib
    return (_a(be, np.full((2, 3), 0.5)), _a(be, np.ones((3,)))), {}


@case("target-above-1", "binary_cross_entropy", ValueError, r"\btarget\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, [[2.0, 0, 1], [0, 1, 0]])), {}


@case("target-int-2", "binary_cross_entropy", ValueError, r"\btarget\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, ints([[2, 0, 1], [0, 1, 0]]))), {}


@case("target-complex", ("binary_cross_entropy", *BCE_LOGITS), TypeError, r"\btarget\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, np.ones((2, 3), dtype=complex))), {}


@case("target-nan", "binary_cross_entropy", ValueError, r"\btarget\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, [[NAN, 0, 1], [0, 1, 0]])), {}


@case("weight-not-broadcastable", "binary_cross_entropy", ValueError, r"\bweight\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, T_BIN)), {"weight": _a(be, [1.0, 2.0])}


@case("weight-nan", "binary_cross_entropy", ValueError, r"\bweight\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, T_BIN)), {"weight": _a(be, [1.0, NAN, 1.0])}


@case("reduction", "binary_cross_entropy", ValueError, r"\breduction\b")
def _(be):
    return (_a(be, np.full((2, 3), 0.5)), _a(be, T_BIN)), {"reduction": "elementwise_mean"}


@case("int-logits", BCE_LOGITS, TypeError, r"\blogits\b")
def _(be):
    return (_a(be, ints([[1, 0, 1], [0, 1, 0]])), _a(be, T_BIN)), {}


@case("nan-logits", BCE_LOGITS, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[NAN, 0.5, 0.5], [0.5, 0.5, 0.5]]), _a(be, T_BIN)), {}


@case("posinf-logits", BCE_LOGITS, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[INF, 0.5, 0.5], [0.5, 0.5, 0.5]]), _a(be, T_BIN)), {}


@case("neginf-logits", BCE_LOGITS, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[-INF, 0.5, 0.5], [0.5, 0.5, 0.5]]), _a(be, T_BIN)), {}


@case("neginf-logits-target-0", BCE_LOGITS, ValueError, r"\blogits\b")
def _(be):  # even where the answer would be a harmless 0
    return (_a(be, [[-INF, 0.5, 0.5], [0.5, 0.5, 0.5]]), _a(be, np.zeros((2, 3)))), {}


@case("shape-mismatch", BCE_LOGITS, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, np.zeros((2, 3))), _a(be, np.ones((2, 4)))), {}


@case("target-negative", BCE_LOGITS, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, np.zeros((2, 3))), _a(be, [[-1.0, 0, 1], [0, 1, 0]])), {}


@case("pos-weight-shape", BCE_LOGITS, ValueError, r"\bpos_weight\b")
def _(be):
    return (_a(be, np.zeros((2, 3))), _a(be, T_BIN)), {"pos_weight": _a(be, [1.0, 2.0])}


@case("pos-weight-nan", BCE_LOGITS, ValueError, r"\bpos_weight\b")
def _(be):
    return (_a(be, np.zeros((2, 3))), _a(be, T_BIN)), {"pos_weight": _a(be, [1.0, NAN, 2.0])}


@case("pos-weight-int", BCE_LOGITS, TypeError, r"\bpos_weight\b")
def _(be):
    return (_a(be, np.zeros((2, 3))), _a(be, T_BIN)), {"pos_weight": _a(be, ints([1, 2, 3]))}


@case("weight-not-broadcastable", BCE_LOGITS, ValueError, r"\bweight\b")
def _(be):
    return (_a(be, np.zeros((2, 3))), _a(be, T_BIN)), {"weight": _a(be, np.ones((3, 3)))}


@case("reduction", BCE_LOGITS, ValueError, r"\breduction\b")
def _(be):
    return (_a(be, np.zeros((2, 3))), _a(be, T_BIN)), {"reduction": "MEAN"}


# ---- categorical_cross_entropy --------------------------------------------------------------------

CCE = "categorical_cross_entropy"


@case("rows-not-summing-to-1", CCE, ValueError, r"\bprobs\b")
def _(be):
    return (_a(be, [[0.2, 0.3, 0.4], [0.6, 0.3, 0.1]]), _a(be, Y)), {}


@case("probs-negative", CCE, ValueError, r"\bprobs\b")
def _(be):
    return (_a(be, [[-0.2, 0.7, 0.5], [0.6, 0.3, 0.1]]), _a(be, Y)), {}


@case("probs-nan", CCE, ValueError, r"\bprobs\b")
def _(be):
    return (_a(be, [[NAN, 0.5, 0.5], [0.6, 0.3, 0.1]]), _a(be, Y)), {}


@case("int-probs", CCE, TypeError, r"\bprobs\b")
def _(be):
    return (_a(be, ints([[1, 0, 0], [0, 1, 0]])), _a(be, Y)), {}


@case("class-index-C", CCE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, PROBS), _a(be, ints([0, 3]))), {}


@case("class-index-negative", CCE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, PROBS), _a(be, ints([-1, 0]))), {}


@case("target-shape", CCE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, PROBS), _a(be, np.full((2, 4), 0.25))), {}


@case("index-target-shape", CCE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, PROBS), _a(be, ints([0, 1, 2]))), {}


@case("target-above-1", CCE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, PROBS), _a(be, [[2.0, -1.0, 0.0], [0, 1, 0]])), {}


@case("target-complex", CCE, TypeError, r"\btarget\b")
def _(be):
    return (_a(be, PROBS), _a(be, np.ones((2, 3), dtype=complex))), {}


@case("target-nan", CCE, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, PROBS), _a(be, [[NAN, 0, 1.0], [0, 1, 0]])), {}


@case("reduction", CCE, ValueError, r"\breduction\b")
def _(be):
    return (_a(be, PROBS), _a(be, Y)), {"reduction": "batchmean"}


# ---- information measures -------------------------------------------------------------------------

PAIRS = ("cross_entropy", "kl_divergence")


@case("rows-not-summing-to-1", "entropy", ValueError, r"\bp\b")
def _(be):
    return (_a(be, [[0.5, 0.4], [0.5, 0.5]]),), {}


@case("p-negative", "entropy", ValueError, r"\bp\b")
def _(be):
    return (_a(be, [[1.5, -0.5], [0.5, 0.5]]),), {}


@case("p-nan", "entropy", ValueError, r"\bp\b")
def _(be):
    return (_a(be, [[NAN, 0.5], [0.5, 0.5]]),), {}


@case("p-scalar", "entropy", ValueError, r"\bp\b")
def _(be):
    return (_a(be, np.float64(1.0)),), {}


@case("base-1", "entropy", ValueError, r"\bbase\b")
def _(be):
    return (_a(be, [0.5, 0.5]),), {"base": 1}


@case("base-negative", "entropy", ValueError, r"\bbase\b")
def _(be):
    return (_a(be, [0.5, 0.5]),), {"base": -2.0}


@case("base-str", "entropy", TypeError, r"\bbase\b")
def _(be):
    return (_a(be, [0.5, 0.5]),), {"base": "2"}


@case("q-rows-not-summing-to-1", PAIRS, ValueError, r"\bq\b")
def _(be):
    return (_a(be, [0.5, 0.5]), _a(be, [0.5, 0.6])), {}


@case("p-rows-not-summing-to-1", PAIRS, ValueError, r"\bp\b")
def _(be):
    return (_a(be, [0.5, 0.6]), _a(be, [0.5, 0.5])), {}


@case("q-rows-off-by-1e-6", PAIRS, ValueError, r"\bq\b")
def _(be):
    return (_a(be, [0.5, 0.5]), _a(be, [0.5, 0.5 + 1e-6])), {}


@case("q-negative", PAIRS, ValueError, r"\bq\b")
def _(be):
    return (_a(be, [0.5, 0.5]), _a(be, [1.5, -0.5])), {}


@case("q-nan", PAIRS, ValueError, r"\bq\b")
def _(be):
    return (_a(be, [0.5, 0.5]), _a(be, [NAN, 0.5])), {}


@case("q-int", PAIRS, TypeError, r"\bq\b")
def _(be):
    return (_a(be, [0.0, 1.0]), _a(be, ints([0, 1]))), {}


@case("base-0", PAIRS, ValueError, r"\bbase\b")
def _(be):
    return (_a(be, [0.5, 0.5]), _a(be, [0.5, 0.5])), {"base": 0}


@case("not-broadcastable", PAIRS, ValueError, r"shape|broadcast")
def _(be):
    return (_a(be, [0.5, 0.5]), _a(be, [0.2, 0.3, 0.5])), {}


# ---- linear_cross_entropy (value_and_grad in both backends, the loss in torch) ---------------------

LINEAR = "linear_cross_entropy_value_and_grad"
X = np.arange(12.0).reshape(4, 3) / 10  # (N, d) = (4, 3)
W = np.ones((5, 3)) / 7  # (V, d) = (5, 3)
YL = np.array([0, 4, 2, -100])


@case("int-input", LINEAR, TypeError, r"\binput\b")
def _(be):
    return (_a(be, ints(np.ones((4, 3)))), _a(be, W), _a(be, YL)), {}


@case("int-linear-weight", LINEAR, TypeError, r"\blinear_weight\b")
def _(be):
    return (_a(be, X), _a(be, ints(np.ones((5, 3)))), _a(be, YL)), {}


@case("linear-weight-features", LINEAR, ValueError, r"\blinear_weight\b")
def _(be):
    return (_a(be, X), _a(be, np.ones((5, 4))), _a(be, YL)), {}


@case("linear-weight-dtype", LINEAR, TypeError, r"\blinear_weight\b")
def _(be):
    return (_a(be, X), _a(be, W, "float32"), _a(be, YL)), {}


@case("input-3d", LINEAR, ValueError, r"\binput\b")
def _(be):
    return (_a(be, np.ones((2, 4, 3))), _a(be, W), _a(be, ints(np.zeros((2, 4))))), {}


@case("bias-shape", LINEAR, ValueError, r"\blinear_bias\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"linear_bias": _a(be, np.zeros(4))}


@case("target-batch", LINEAR, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, ints([0, 1, 2]))), {}


@case("class-index-V", LINEAR, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, ints([0, 5, 1, 1]))), {}


@case("prob-target-shape", LINEAR, ValueError, r"\btarget\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, np.full((4, 4), 0.25))), {}


@case("weight-length", LINEAR, ValueError, r"\bweight\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"weight": _a(be, np.ones(4))}


@case("reduction", LINEAR, ValueError, r"\breduction\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"reduction": "avg"}


@case("label-smoothing", LINEAR, ValueError, r"\blabel_smoothing\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"label_smoothing": 2.0}


@case("chunk-size-zero", LINEAR, ValueError, r"\bchunk_size\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"chunk_size": 0}


@case("chunk-size-float", LINEAR, TypeError, r"\bchunk_size\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"chunk_size": 1.5}


@case("nan-input", LINEAR, ValueError, r"\binput\b|\blogits\b")
def _(be):
    return (_a(be, [[NAN, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]), _a(be, W), _a(be, YL)), {}


@case("inf-linear-weight", LINEAR, ValueError, r"\blinear_weight\b|\blogits\b")
def _(be):
    w = np.array(W)
    w[0, 0] = INF
    return (_a(be, X), _a(be, w), _a(be, YL)), {}


@case("linear-weight-1d", LINEAR, ValueError, r"\blinear_weight\b")
def _(be):
    return (_a(be, X), _a(be, np.ones(3)), _a(be, YL)), {}


@case("linear-weight-no-rows", LINEAR, ValueError, r"\blinear_weight\b")
def _(be):
    return (_a(be, X), _a(be, np.ones((0, 3))), _a(be, ints(np.zeros(4)))), {}


@case("bias-dtype", LINEAR, TypeError, r"\blinear_bias\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"linear_bias": _a(be, np.zeros(5), "float32")}


@case("bias-posinf", LINEAR, ValueError, r"\blinear_bias\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"linear_bias": _a(be, [0, INF, 0, 0, 0])}


@case("bias-all-neg-inf", LINEAR, ValueError, r"\blinear_bias\b")
def _(be):
    return (_a(be, X), _a(be, W), _a(be, YL)), {"linear_bias": _a(be, np.full(5, -INF))}


LINEAR_CASES = [p for p in CASES if p.values[0] == LINEAR]


def test_torch_linear_cross_entropy_refuses_grad_on_target_and_weight():
    x, w = torch.from_numpy(X), torch.from_numpy(W)
    probs = torch.full((4, 5), 0.2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"\btarget\b"):
        TORCH.mod.linear_cross_entropy(x, w, probs)
    cw = torch.ones(5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"\bweight\b"):
        TORCH.mod.linear_cross_entropy(x, w, torch.from_numpy(YL), weight=cw)


def test_linear_masked_class_by_bias_is_allowed():
    """A -inf bias masks a class (finite loss unless a target is that class), like -inf logits."""
    x, w = torch.from_numpy(X), torch.from_numpy(W)
    b = torch.tensor([0.0, -INF, 0.0, 0.0, 0.0], dtype=torch.float64)
    y = torch.tensor([0, 4, 2, -100])
    loss = TORCH.mod.linear_cross_entropy(x, w, y, linear_bias=b)
    ref = torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, w, b), y)
    np.testing.assert_allclose(loss.numpy(), ref.numpy(), rtol=1e-13)
    loss = TORCH.mod.linear_cross_entropy(x, w, torch.tensor([1, 4, 2, 0]), linear_bias=b)
    assert float(loss) == INF


@pytest.mark.parametrize(("name", "build", "exc", "match"), LINEAR_CASES)
def test_bad_input_to_torch_linear_cross_entropy(name, build, exc, match):
    args, kwargs = build(TORCH)
    copies = snapshot(*args, *kwargs.values())
    with pytest.raises(exc, match=match):
        TORCH.mod.linear_cross_entropy(*args, **kwargs)
    assert_unchanged([*args, *kwargs.values()], copies)


@backends
@pytest.mark.parametrize(("name", "build", "exc", "match"), CASES)
def test_bad_input_raises_and_changes_nothing(be, name, build, exc, match):
    args, kwargs = build(be)
    copies = snapshot(*args, *kwargs.values())
    with pytest.raises(exc, match=match):
        getattr(be.mod, name)(*args, **kwargs)
    assert_unchanged([*args, *kwargs.values()], copies)


@pytest.mark.parametrize(("name", "build", "exc", "match"), CASES)
def test_bad_input_requiring_grad_raises_the_same_without_warnings(name, build, exc, match):
    """Tensors that require grad: the same error, and no warning on the way (a float() of such a
    tensor warns)."""
    args, kwargs = build(TORCH)

    def grad(x):
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            return x.detach().clone().requires_grad_(True)
        return x

    args = [grad(a) for a in args]
    kwargs = {k: v if k == "weight" else grad(v) for k, v in kwargs.items()}
    with torch_warns_always(), pytest.raises(exc, match=match):
        getattr(TORCH.mod, name)(*args, **kwargs)


def test_catalogue_covers_every_function():
    from ce_lib import numpy as cn

    covered = {p.values[0] for p in CASES}
    assert set(cn.__all__) <= covered, set(cn.__all__) - covered


# ---------------------------------------------------------------------------------------------
# Valid input changes nothing either
# ---------------------------------------------------------------------------------------------


def _check_untouched(fn, *args, **kwargs):
    copies = snapshot(*args, *kwargs.values())
    fn(*args, **kwargs)
    assert_unchanged([*args, *kwargs.values()], copies)


@backends
@SETTINGS
@given(case=ce_cases())
def test_softmax_cross_entropy_leaves_its_inputs_alone(be, case):
    for dtype in be.dtypes:
        logits, target = case.args(be, dtype)
        kwargs = case.kwargs(be, dtype)
        for name in SOFTMAX_CE:
            _check_untouched(getattr(be.mod, name), logits, target, **kwargs)


@backends
@FEW
@given(case=ce_cases())
def test_masked_logits_are_left_alone(be, case):
    z = case.logits.copy()
    z[(slice(None),) * (1 if z.ndim > 1 else 0) + (0,)] = -INF  # class 0 impossible everywhere
    if z.shape[0 if z.ndim == 1 else 1] == 1:
        return
    logits = be.array(z)
    target = be.array(case.target if not case.index_target else
                      np.where(case.target == 0, 1, case.target))
    for name in SOFTMAX_CE:
        _check_untouched(getattr(be.mod, name), logits, target, reduction=case.reduction,
                         ignore_index=case.ignore_index)


@backends
@SETTINGS
@given(case=bce_cases(logits=True))
def test_binary_losses_leave_their_inputs_alone(be, case):
    for dtype in be.dtypes:
        z, t = be.array(case.x, dtype), be.array(case.target, dtype)
        w, pw = be.maybe(case.weight, dtype), be.maybe(case.pos_weight, dtype)
        for name in BCE_LOGITS:
            _check_untouched(getattr(be.mod, name), z, t, weight=w, pos_weight=pw,
                             reduction=case.reduction)
        p = be.array(1 / (1 + np.exp(-case.x)), dtype)
        _check_untouched(be.mod.binary_cross_entropy, p, t, weight=w, reduction=case.reduction)


@backends
def test_other_functions_leave_their_inputs_alone(be):
    rng = np.random.default_rng(0)
    for dtype in be.dtypes:
        x = be.array(rng.normal(size=(3, 4)) * 5, dtype)
        for name in (*ACTIVATIONS, "softmax_jacobian"):
            _check_untouched(getattr(be.mod, name), x)
        p = be.array(rng.dirichlet(np.ones(4), size=3), dtype)
        q = be.array(rng.dirichlet(np.ones(4), size=3), dtype)
        _check_untouched(be.mod.entropy, p)
        _check_untouched(be.mod.cross_entropy, p, q)
        _check_untouched(be.mod.kl_divergence, p, q, base=2)
        _check_untouched(be.mod.categorical_cross_entropy, p, be.array(ints([0, 3, 1])))
        _check_untouched(be.mod.categorical_cross_entropy, p, q)


# ---------------------------------------------------------------------------------------------
# Edge values that are valid
# ---------------------------------------------------------------------------------------------


@backends
def test_valid_edges_are_accepted(be):
    # ignore_index=-1 makes -1 a legal target value
    out = be.mod.softmax_cross_entropy(_a(be, Z), _a(be, ints([-1, 2])), ignore_index=-1)
    assert np.isfinite(to_np(out))
    # label_smoothing at both ends; weight with a zero
    for eps in (0.0, 1.0, 0):
        be.mod.softmax_cross_entropy(_a(be, Z), _a(be, Y), label_smoothing=eps)
    be.mod.softmax_cross_entropy(_a(be, Z), _a(be, Y), weight=_a(be, [0.0, 1.0, 1.0]))
    # probability targets exactly 0 and 1; probabilities exactly 0 and 1
    be.mod.softmax_cross_entropy(_a(be, Z), _a(be, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    be.mod.binary_cross_entropy(_a(be, [0.0, 1.0]), _a(be, [0.0, 1.0]))
    # -inf logits in the binary-with-logits family are refused, but huge finite ones are fine
    out = be.mod.binary_cross_entropy_with_logits(_a(be, [1e300, -1e300]), _a(be, [0.0, 1.0]))
    assert to_np(out) == pytest.approx(1e300)
    # a float16 row that sums to 1 only within float16's rounding
    be.mod.entropy(_a(be, [0.1, 0.2, 0.7], "float16"))


def test_error_is_the_same_in_both_backends():
    """Same message text, not just the same type (the shared validation module)."""
    from strategies import NUMPY, TORCH

    msgs = []
    for b in (NUMPY, TORCH):
        with pytest.raises(ValueError) as info:
            b.mod.softmax_cross_entropy(_a(b, Z), _a(b, ints([0, 5])))
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]
    assert "5" in msgs[0]


def test_torch_weight_requiring_grad_is_refused():
    from ce_lib import torch as ct

    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="weight"):
        ct.softmax_cross_entropy(torch.tensor(Z, dtype=torch.float64), torch.from_numpy(Y),
                                 weight=w)
