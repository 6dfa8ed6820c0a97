"""The bad-input catalogue: the same exception type in both backends, a message that names the
argument, and inputs left exactly as they were, whether the call succeeds or fails.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from strategies import (
    FEW,
    SETTINGS,
    TORCH,
    Backend,
    assert_refused,
    assert_unchanged,
    backends,
    bce_cases,
    ce_cases,
    class_shapes,
    ref_softmax_ce,
    snapshot,
    to_np,
    torch_warns_always,
)

import ce_lib
import ce_lib.numpy as cn
import ce_lib.torch as ct
from ce_lib._docs import DOCS

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


# ---- focal losses (the full catalogue is in test_focal.py) ----------------------------------

SIGMOID_FOCAL = ("sigmoid_focal_loss", "sigmoid_focal_loss_grad")
SOFTMAX_FOCAL = ("softmax_focal_loss", "softmax_focal_loss_grad",
                 "softmax_focal_loss_value_and_grad")


@case("negative-gamma", SIGMOID_FOCAL, ValueError, r"\bgamma\b")
def _(be):
    return (_a(be, Z), _a(be, T_BIN)), {"gamma": -1.0}


@case("negative-gamma", SOFTMAX_FOCAL, ValueError, r"\bgamma\b")
def _(be):
    return (_a(be, Z), _a(be, ints([0, 2]))), {"gamma": -1.0}


@case("alpha-above-1", SIGMOID_FOCAL, ValueError, r"\balpha\b")
def _(be):
    return (_a(be, Z), _a(be, T_BIN)), {"alpha": 1.5}


@case("focal-prob-target", SOFTMAX_FOCAL, TypeError, r"\btarget\b")
def _(be):
    return (_a(be, Z), _a(be, PROBS)), {}


@case("focal-nan-logits", SIGMOID_FOCAL, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[NAN, 2.0, 0.5], [0.0, -1.0, 3.0]]), _a(be, T_BIN)), {}


@case("focal-nan-logits-ignored", SOFTMAX_FOCAL, ValueError, r"\blogits\b")
def _(be):
    return (_a(be, [[NAN, 2.0, 0.5], [0.0, -1.0, 3.0]]), _a(be, ints([-100, 1]))), {}


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
    assert_refused(TORCH.mod.linear_cross_entropy, args, kwargs, exc, match)


@backends
@pytest.mark.parametrize(("name", "build", "exc", "match"), CASES)
def test_bad_input_raises_and_changes_nothing(be, name, build, exc, match):
    args, kwargs = build(be)
    assert_refused(getattr(be.mod, name), args, kwargs, exc, match)


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
@given(case=ce_cases(shapes=class_shapes(min_classes=2), masked=False))
def test_masked_logits_are_left_alone(be, case):
    z = case.logits.copy()
    z[(slice(None),) * (1 if z.ndim > 1 else 0) + (0,)] = -INF  # class 0 impossible everywhere
    logits = be.array(z)
    target = be.array(case.target if not case.index_target else
                      np.where(case.target == 0, 1, case.target))
    for name in SOFTMAX_CE:
        _check_untouched(getattr(be.mod, name), logits, target, reduction=case.reduction,
                         ignore_index=case.ignore_index)
    # and the loss is right: that of the extended-precision reference (inf where a target puts
    # mass on the impossible class 0; ignored elements, whose stand-in class is 0, add nothing)
    loss = be.mod.softmax_cross_entropy(logits, target, reduction=case.reduction,
                                        ignore_index=case.ignore_index)
    ref = ref_softmax_ce(z, to_np(target), None, case.ignore_index, case.reduction)
    np.testing.assert_allclose(to_np(loss), np.asarray(ref, dtype=np.float64), rtol=1e-12,
                               atol=1e-13)


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


# ---------------------------------------------------------------------------------------------
# Every error message, word for word, in both backends (a changed word, a wrong argument name or
# a lost clause fails; the messages differ between the backends only where they name a dtype,
# int64 / torch.int64, or what they accept, arrays / tensors)
# ---------------------------------------------------------------------------------------------

P2 = [[0.25, 0.75], [0.5, 0.5]]

MESSAGE_CASES = [
 ("softmax-object", lambda m, A: m.softmax(object())),
 ("softmax-int", lambda m, A: m.softmax(A([1, 2]))),
 ("softmax-nan", lambda m, A: m.softmax(A([1.0, NAN]))),
 ("softmax-posinf", lambda m, A: m.softmax(A([1.0, INF]))),
 ("softmax-all-neginf", lambda m, A: m.softmax(A([[-INF, -INF], [0.0, 1.0]]))),
 ("log_softmax-all-neginf", lambda m, A: m.log_softmax(A([[-INF, -INF], [0.0, 1.0]]))),
 ("logsumexp-nan", lambda m, A: m.logsumexp(A([1.0, NAN]))),
 ("sigmoid-nan", lambda m, A: m.sigmoid(A([NAN]))),
 ("log_sigmoid-bool", lambda m, A: m.log_sigmoid(A([True]))),
 ("jacobian-nan", lambda m, A: m.softmax_jacobian(A([NAN, 1.0]))),
 ("jacobian-all-neginf", lambda m, A: m.softmax_jacobian(A([-INF, -INF]))),
 ("entropy-object", lambda m, A: m.entropy(object())),
 ("entropy-scalar", lambda m, A: m.entropy(A(0.5))),
 ("entropy-negative", lambda m, A: m.entropy(A([-0.5, 1.5]))),
 ("entropy-sum", lambda m, A: m.entropy(A([0.5, 0.6]))),
 ("entropy-nan", lambda m, A: m.entropy(A([NAN, 1.0]))),
 ("entropy-base-str", lambda m, A: m.entropy(A([0.5, 0.5]), base="2")),
 ("entropy-base-bool", lambda m, A: m.entropy(A([0.5, 0.5]), base=True)),
 ("cross_entropy-q-int", lambda m, A: m.cross_entropy(A([0, 1]), A([0, 1]))),
 ("cross_entropy-q-object", lambda m, A: m.cross_entropy(A([0.5, 0.5]), object())),
 ("cross_entropy-p-object", lambda m, A: m.cross_entropy(object(), A([0.5, 0.5]))),
 ("cross_entropy-q-sum", lambda m, A: m.cross_entropy(A([0.5, 0.5]), A([0.5, 0.6]))),
 ("cross_entropy-p-sum", lambda m, A: m.cross_entropy(A([0.5, 0.6]), A([0.5, 0.5]))),
 ("cross_entropy-broadcast", lambda m, A: m.cross_entropy(A([[0.5, 0.5]] * 3), A([[1.0, 0.0]] * 2))),
 ("kl-broadcast", lambda m, A: m.kl_divergence(A([0.5, 0.5]), A([0.2, 0.3, 0.5]))),
 ("kl-p-bool-q-int", lambda m, A: m.kl_divergence(A([True, False]), A([1, 0]))),
 ("bce-probs-int", lambda m, A: m.binary_cross_entropy(A([0, 1]), A([0.0, 1.0]))),
 ("bce-probs-range", lambda m, A: m.binary_cross_entropy(A([0.5, 1.5]), A([0.0, 1.0]))),
 ("bce-target-range", lambda m, A: m.binary_cross_entropy(A([0.5, 0.5]), A([0.0, 2.0]))),
 ("bce-target-shape", lambda m, A: m.binary_cross_entropy(A([0.5, 0.5]), A([0.0, 1.0, 1.0]))),
 ("bce-target-complex", lambda m, A: m.binary_cross_entropy(A([0.5, 0.5]), A([0j, 1j]))),
 ("bce-target-object", lambda m, A: m.binary_cross_entropy(A([0.5, 0.5]), object())),
 ("bce-weight-int", lambda m, A: m.binary_cross_entropy(A([0.5, 0.5]), A([0.0, 1.0]), weight=A([1, 2]))),
 ("bce-weight-nan", lambda m, A: m.binary_cross_entropy(A([0.5, 0.5]), A([0.0, 1.0]), weight=A([1.0, NAN]))),
 ("bce-weight-shape", lambda m, A: m.binary_cross_entropy(A([0.5, 0.5]), A([0.0, 1.0]), weight=A([1.0, 2.0, 3.0]))),
 ("bce-reduction", lambda m, A: m.binary_cross_entropy(A([0.5]), A([1.0]), reduction="avg")),
 ("bce-probs-nan", lambda m, A: m.binary_cross_entropy(A([NAN]), A([1.0]))),
 ("bcel-posinf", lambda m, A: m.binary_cross_entropy_with_logits(A([INF, 0.0]), A([0.0, 1.0]))),
 ("bcel-neginf", lambda m, A: m.binary_cross_entropy_with_logits(A([-INF, 0.0]), A([1.0, 1.0]))),
 ("bcel-nan", lambda m, A: m.binary_cross_entropy_with_logits(A([NAN, 0.0]), A([1.0, 1.0]))),
 ("bcel-pos_weight-int", lambda m, A: m.binary_cross_entropy_with_logits(A([0.0, 1.0]), A([0.0, 1.0]), pos_weight=A([1, 2]))),
 ("bcel-pos_weight-nan", lambda m, A: m.binary_cross_entropy_with_logits(A([0.0, 1.0]), A([0.0, 1.0]), pos_weight=A([NAN]))),
 ("bcel-pos_weight-shape", lambda m, A: m.binary_cross_entropy_with_logits(A([0.0, 1.0]), A([0.0, 1.0]), pos_weight=A([1.0, 2.0, 3.0]))),
 ("bcel-logits-object", lambda m, A: m.binary_cross_entropy_with_logits(object(), A([0.0]))),
 ("bcel-target-shape", lambda m, A: m.binary_cross_entropy_with_logits(A([0.5, 0.5]), A([0.0]))),
 ("bcel-weight-shape", lambda m, A: m.binary_cross_entropy_with_logits(A([0.5, 0.5]), A([0.0, 1.0]), weight=A([1.0, 2.0, 3.0]))),
 ("bcel-target-object", lambda m, A: m.binary_cross_entropy_with_logits(A([0.5, 0.5]), object())),
 ("bcelg-target-shape", lambda m, A: m.binary_cross_entropy_with_logits_grad(A([0.5, 0.5]), A([0.0]))),
 ("bcelg-weight-object", lambda m, A: m.binary_cross_entropy_with_logits_grad(A([0.5]), A([0.0]), weight=object())),
 ("bcelg-pos_weight-shape", lambda m, A: m.binary_cross_entropy_with_logits_grad(A([0.0, 1.0]), A([0.0, 1.0]), pos_weight=A([1.0, 2.0, 3.0]))),
 ("bcelg-posinf", lambda m, A: m.binary_cross_entropy_with_logits_grad(A([INF, 0.0]), A([0.0, 1.0]))),
 ("bcelg-reduction", lambda m, A: m.binary_cross_entropy_with_logits_grad(A([0.0]), A([1.0]), reduction="total")),
 ("cce-probs-int", lambda m, A: m.categorical_cross_entropy(A([[0, 1]]), A([1]))),
 ("cce-probs-sum", lambda m, A: m.categorical_cross_entropy(A([[0.5, 0.6]]), A([1]))),
 ("cce-index-range", lambda m, A: m.categorical_cross_entropy(A(P2), A([0, 2]))),
 ("cce-target-shape", lambda m, A: m.categorical_cross_entropy(A(P2), A([[1.0, 0.0, 0.0]] * 2))),
 ("cce-target-range", lambda m, A: m.categorical_cross_entropy(A(P2), A([[1.5, -0.5]] * 2))),
 ("cce-target-complex", lambda m, A: m.categorical_cross_entropy(A(P2), A([[1j, 0j]] * 2))),
 ("cce-target-object", lambda m, A: m.categorical_cross_entropy(A(P2), object())),
 ("cce-reduction", lambda m, A: m.categorical_cross_entropy(A(P2), A([0, 1]), reduction=None)),
 ("sce-scalar", lambda m, A: m.softmax_cross_entropy(A(1.0), A(0))),
 ("sce-no-class", lambda m, A: m.softmax_cross_entropy(A([[]]), A([0]))),
 ("sce-int-logits", lambda m, A: m.softmax_cross_entropy(A([[1, 2]]), A([0]))),
 ("sce-index-shape", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0, 1]))),
 ("sce-prob-shape", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([[0.5, 0.25, 0.25]]))),
 ("sce-prob-range", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([[1.5, -0.5]]))),
 ("sce-target-bool", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([True]))),
 ("sce-index-range", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([2]))),
 ("sce-index-range-ii", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([-1]), ignore_index=5)),
 ("sce-weight-shape", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), weight=A([1.0]))),
 ("sce-weight-int", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), weight=A([1, 2]))),
 ("sce-weight-nan", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), weight=A([1.0, NAN]))),
 ("sce-weight-inf", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), weight=A([1.0, INF]))),
 ("sce-reduction", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), reduction="MEAN")),
 ("sce-smoothing-type", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), label_smoothing="0.1")),
 ("sce-smoothing-bool", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), label_smoothing=True)),
 ("sce-smoothing-range", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), label_smoothing=1.5)),
 ("sce-ignore-type", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), ignore_index=1.0)),
 ("sce-ignore-bool", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), ignore_index=True)),
 ("sce-posinf", lambda m, A: m.softmax_cross_entropy(A([[1.0, INF]]), A([0]))),
 ("sce-nan", lambda m, A: m.softmax_cross_entropy(A([[1.0, NAN]]), A([0]))),
 ("sce-all-neginf", lambda m, A: m.softmax_cross_entropy(A([[-INF, -INF], [0.0, 1.0]]), A([0, 1]))),
 ("sce-grad-all-neginf", lambda m, A: m.softmax_cross_entropy_grad(A([[-INF, -INF]]), A([0]))),
 ("sce-logits-object", lambda m, A: m.softmax_cross_entropy(object(), A([0]))),
 ("sce-target-object", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), object())),
 ("sce-weight-object", lambda m, A: m.softmax_cross_entropy(A([[1.0, 2.0]]), A([0]), weight=object())),
 ("lce-input-int", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1, 2]]), A([[1.0, 2.0]]), A([0]))),
 ("lce-weight-int", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1, 2]]), A([0]))),
 ("lce-input-3d", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[[1.0, 2.0]]]), A([[1.0, 2.0]]), A([[0]]))),
 ("lce-weight-1d", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([1.0, 2.0]), A([0]))),
 ("lce-weight-features", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0, 3.0]]), A([0]))),
 ("lce-weight-rows", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]])[:0], A([0]))),
 ("lce-weight-dtype", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]], "float32"), A([0]))),
 ("lce-bias-shape", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), linear_bias=A([1.0, 2.0]))),
 ("lce-bias-dtype", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), linear_bias=A([1.0], "float32"))),
 ("lce-bias-int", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), linear_bias=A([1]))),
 ("lce-target-shape", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0, 0]))),
 ("lce-prob-target-shape", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([[0.5, 0.5]]))),
 ("lce-chunk-type", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), chunk_size=1.0)),
 ("lce-chunk-bool", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), chunk_size=True)),
 ("lce-chunk-zero", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), chunk_size=0)),
 ("lce-input-posinf", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[INF, 2.0]]), A([[1.0, 2.0], [0.0, 1.0]]), A([0]))),
 ("lce-weight-nan", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[NAN, 2.0], [0.0, 1.0]]), A([0]))),
 ("lce-weight-neginf", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[-INF, 2.0], [0.0, 1.0]]), A([0]))),
 ("lce-bias-posinf", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0], [0.0, 1.0]]), A([0]), linear_bias=A([INF, 0.0]))),
 ("lce-bias-all-neginf", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0], [0.0, 1.0]]), A([0]), linear_bias=A([-INF, -INF]))),
 ("lce-input-object", lambda m, A: m.linear_cross_entropy_value_and_grad(object(), A([[1.0, 2.0]]), A([0]))),
 ("lce-weight-object", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), object(), A([0]))),
 ("lce-target-object", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), object())),
 ("lce-bias-object", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), linear_bias=object())),
 ("lce-cw-object", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), weight=object())),
 ("lce-cw-negative", lambda m, A: m.linear_cross_entropy_value_and_grad(A([[1.0, 2.0]]), A([[1.0, 2.0]]), A([0]), weight=A([-1.0]))),
]

#: case id -> (exception, message) or (exception, NumPy's message, torch's message)
MESSAGES = {'softmax-object': ('TypeError',
                    'x must be a numeric array, got object',
                    'x must be a tensor or array-like, got object'),
 'softmax-int': ('TypeError',
                 'x must be a floating-point array, got integer dtype int64',
                 'x must be a floating-point array, got integer dtype torch.int64'),
 'softmax-nan': ('ValueError', 'x contains NaN'),
 'softmax-posinf': ('ValueError',
                    'x contains +inf; logits must be finite or -inf (a masked class)'),
 'softmax-all-neginf': ('ValueError',
                        'x has a row whose logits are all -inf: no class is possible'),
 'log_softmax-all-neginf': ('ValueError',
                            'x has a row whose logits are all -inf: no class is possible'),
 'logsumexp-nan': ('ValueError', 'x contains NaN'),
 'sigmoid-nan': ('ValueError', 'x contains NaN'),
 'log_sigmoid-bool': ('TypeError',
                      'x must be a floating-point array, got boolean dtype bool',
                      'x must be a floating-point array, got boolean dtype torch.bool'),
 'jacobian-nan': ('ValueError', 'logits contains NaN'),
 'jacobian-all-neginf': ('ValueError',
                         'logits has a row whose logits are all -inf: no class is possible'),
 'entropy-object': ('TypeError',
                    'p must be a numeric array, got object',
                    'p must be a tensor or array-like, got object'),
 'entropy-scalar': ('ValueError',
                    'p must have at least one dimension (the classes), got a scalar'),
 'entropy-negative': ('ValueError',
                      'p must contain probabilities in [0, 1], got values in [-0.5, 1.5]'),
 'entropy-sum': ('ValueError',
                 'p must sum to 1 along axis -1 (a probability distribution); a row is off by '
                 '0.1'),
 'entropy-nan': ('ValueError', 'p contains NaN'),
 'entropy-base-str': ('TypeError', 'base must be a positive number or None, got str'),
 'entropy-base-bool': ('TypeError', 'base must be a positive number or None, got bool'),
 'cross_entropy-q-int': ('TypeError',
                         'q must be a floating-point array, got integer dtype int64',
                         'q must be a floating-point array, got integer dtype torch.int64'),
 'cross_entropy-q-object': ('TypeError',
                            'q must be a numeric array, got object',
                            'q must be a tensor or array-like, got object'),
 'cross_entropy-p-object': ('TypeError',
                            'p must be a numeric array, got object',
                            'p must be a tensor or array-like, got object'),
 'cross_entropy-q-sum': ('ValueError',
                         'q must sum to 1 along axis -1 (a probability distribution); a row is '
                         'off by 0.1'),
 'cross_entropy-p-sum': ('ValueError',
                         'p must sum to 1 along axis -1 (a probability distribution); a row is '
                         'off by 0.1'),
 'cross_entropy-broadcast': ('ValueError',
                             'p of shape (3, 2) and q of shape (2, 2) do not broadcast together'),
 'kl-broadcast': ('ValueError', 'p of shape (2,) and q of shape (3,) do not broadcast together'),
 'kl-p-bool-q-int': ('TypeError',
                     'q must be a floating-point array, got integer dtype int64',
                     'q must be a floating-point array, got integer dtype torch.int64'),
 'bce-probs-int': ('TypeError',
                   'probs must be a floating-point array, got integer dtype int64',
                   'probs must be a floating-point array, got integer dtype torch.int64'),
 'bce-probs-range': ('ValueError',
                     'probs must contain probabilities in [0, 1], got values in [0.5, 1.5]'),
 'bce-target-range': ('ValueError',
                      'target must contain probabilities in [0, 1], got values in [0.0, 2.0]'),
 'bce-target-shape': ('ValueError',
                      'target must have the same shape as probs: probs has shape (2,), target has '
                      'shape (3,)'),
 'bce-target-complex': ('TypeError',
                        'target must be numeric, got dtype complex128',
                        'target must be numeric, got dtype torch.complex128'),
 'bce-target-object': ('TypeError',
                       'target must be a numeric array, got object',
                       'target must be a tensor or array-like, got object'),
 'bce-weight-int': ('TypeError',
                    'weight must be a floating-point array, got integer dtype int64',
                    'weight must be a floating-point array, got integer dtype torch.int64'),
 'bce-weight-nan': ('ValueError', 'weight contains NaN'),
 'bce-weight-shape': ('ValueError',
                      "weight of shape (3,) cannot be broadcast to probs's shape (2,)"),
 'bce-reduction': ('ValueError', "reduction must be one of ('mean', 'sum', 'none'), got 'avg'"),
 'bce-probs-nan': ('ValueError', 'probs contains NaN'),
 'bcel-posinf': ('ValueError', 'logits contains +inf; logits must be finite'),
 'bcel-neginf': ('ValueError', 'logits contains -inf; logits must be finite'),
 'bcel-nan': ('ValueError', 'logits contains NaN'),
 'bcel-pos_weight-int': ('TypeError',
                         'pos_weight must be a floating-point array, got integer dtype int64',
                         'pos_weight must be a floating-point array, got integer dtype '
                         'torch.int64'),
 'bcel-pos_weight-nan': ('ValueError', 'pos_weight contains NaN'),
 'bcel-pos_weight-shape': ('ValueError',
                           "pos_weight of shape (3,) cannot be broadcast to logits's shape (2,)"),
 'bcel-logits-object': ('TypeError',
                        'logits must be a numeric array, got object',
                        'logits must be a tensor or array-like, got object'),
 'bcel-target-shape': ('ValueError', 'target must have the same shape as logits: logits has shape (2,), target has shape (1,)'),
 'bcel-weight-shape': ('ValueError', "weight of shape (3,) cannot be broadcast to logits's shape (2,)"),
 'bcel-target-object': ('TypeError', 'target must be a numeric array, got object', 'target must be a tensor or array-like, got object'),
 'bcelg-target-shape': ('ValueError', 'target must have the same shape as logits: logits has shape (2,), target has shape (1,)'),
 'bcelg-weight-object': ('TypeError', 'weight must be a numeric array, got object', 'weight must be a tensor or array-like, got object'),
 'bcelg-pos_weight-shape': ('ValueError', "pos_weight of shape (3,) cannot be broadcast to logits's shape (2,)"),
 'bcelg-posinf': ('ValueError', 'logits contains +inf; logits must be finite'),
 'bcelg-reduction': ('ValueError',
                     "reduction must be one of ('mean', 'sum', 'none'), got 'total'"),
 'cce-probs-int': ('TypeError',
                   'probs must be a floating-point array, got integer dtype int64',
                   'probs must be a floating-point array, got integer dtype torch.int64'),
 'cce-probs-sum': ('ValueError',
                   'probs must sum to 1 along axis -1 (a probability distribution); a row is off '
                   'by 0.1'),
 'cce-index-range': ('ValueError', 'target contains class index 2 outside [0, 2)'),
 'cce-target-shape': ('ValueError',
                      'target must have the same shape as probs: probs has shape (2, 2), target '
                      'has shape (2, 3)'),
 'cce-target-range': ('ValueError',
                      'target must contain probabilities in [0, 1], got values in [-0.5, 1.5]'),
 'cce-target-complex': ('TypeError',
                        'target must be numeric, got dtype complex128',
                        'target must be numeric, got dtype torch.complex128'),
 'cce-target-object': ('TypeError',
                       'target must be a numeric array, got object',
                       'target must be a tensor or array-like, got object'),
 'cce-reduction': ('ValueError', "reduction must be one of ('mean', 'sum', 'none'), got None"),
 'sce-scalar': ('ValueError',
                'logits must have shape (C,), (N, C) or (N, C, d1, ...), got a scalar'),
 'sce-no-class': ('ValueError', 'logits must have at least one class, got shape (1, 0)'),
 'sce-int-logits': ('TypeError',
                    'logits must be a floating-point array, got integer dtype int64',
                    'logits must be a floating-point array, got integer dtype torch.int64'),
 'sce-index-shape': ('ValueError',
                     'target of class indices must have shape (1,) for logits of shape (1, 2), '
                     'got shape (2,)'),
 'sce-prob-shape': ('ValueError',
                    "target of class probabilities must have the logits' shape (1, 2), got shape "
                    '(1, 3)'),
 'sce-prob-range': ('ValueError',
                    'target must contain probabilities in [0, 1], got values in [-0.5, 1.5]'),
 'sce-target-bool': ('TypeError',
                     'target must hold integer class indices or floating-point class '
                     'probabilities, got boolean dtype bool',
                     'target must hold integer class indices or floating-point class '
                     'probabilities, got boolean dtype torch.bool'),
 'sce-index-range': ('ValueError',
                     'target contains class index 2 outside [0, 2) (and not ignore_index=-100)'),
 'sce-index-range-ii': ('ValueError',
                        'target contains class index -1 outside [0, 2) (and not ignore_index=5)'),
 'sce-weight-shape': ('ValueError',
                      'weight must have shape (2,), one weight per class, got shape (1,)'),
 'sce-weight-int': ('TypeError',
                    'weight must be a floating-point array, got integer dtype int64',
                    'weight must be a floating-point array, got integer dtype torch.int64'),
 'sce-weight-nan': ('ValueError', 'weight contains NaN'),
 'sce-weight-inf': ('ValueError', 'weight must be finite and non-negative'),
 'sce-reduction': ('ValueError', "reduction must be one of ('mean', 'sum', 'none'), got 'MEAN'"),
 'sce-smoothing-type': ('TypeError', 'label_smoothing must be a float, got str'),
 'sce-smoothing-bool': ('TypeError', 'label_smoothing must be a float, got bool'),
 'sce-smoothing-range': ('ValueError', 'label_smoothing must be in [0, 1], got 1.5'),
 'sce-ignore-type': ('TypeError', 'ignore_index must be an int, got float'),
 'sce-ignore-bool': ('TypeError', 'ignore_index must be an int, got bool'),
 'sce-posinf': ('ValueError',
                'logits contains +inf; logits must be finite or -inf (a masked class)'),
 'sce-nan': ('ValueError', 'logits contains NaN'),
 'sce-all-neginf': ('ValueError',
                    'logits has a row whose logits are all -inf: no class is possible'),
 'sce-grad-all-neginf': ('ValueError',
                         'logits has a row whose logits are all -inf: no class is possible'),
 'sce-logits-object': ('TypeError',
                       'logits must be a numeric array, got object',
                       'logits must be a tensor or array-like, got object'),
 'sce-target-object': ('TypeError',
                       'target must be a numeric array, got object',
                       'target must be a tensor or array-like, got object'),
 'sce-weight-object': ('TypeError',
                       'weight must be a numeric array, got object',
                       'weight must be a tensor or array-like, got object'),
 'lce-input-int': ('TypeError',
                   'input must be a floating-point array, got integer dtype int64',
                   'input must be a floating-point array, got integer dtype torch.int64'),
 'lce-weight-int': ('TypeError',
                    'linear_weight must be a floating-point array, got integer dtype int64',
                    'linear_weight must be a floating-point array, got integer dtype torch.int64'),
 'lce-input-3d': ('ValueError', 'input must have shape (d,) or (N, d), got shape (1, 1, 2)'),
 'lce-weight-1d': ('ValueError', 'linear_weight must have shape (V, d), got shape (2,)'),
 'lce-weight-features': ('ValueError',
                         'linear_weight must have shape (V, 2) to match input of shape (1, 2) '
                         '(the last axes are the features), got shape (1, 3)'),
 'lce-weight-rows': ('ValueError',
                     'linear_weight must have at least one row (one class), got shape (0, 2)'),
 'lce-weight-dtype': ('TypeError',
                      "linear_weight must have the input's dtype float64, got float32",
                      "linear_weight must have the input's dtype torch.float64, got "
                      'torch.float32'),
 'lce-bias-shape': ('ValueError',
                    'linear_bias must have shape (1,), one entry per row of linear_weight, got '
                    'shape (2,)'),
 'lce-bias-dtype': ('TypeError',
                    "linear_bias must have the input's dtype float64, got float32",
                    "linear_bias must have the input's dtype torch.float64, got torch.float32"),
 'lce-bias-int': ('TypeError',
                  'linear_bias must be a floating-point array, got integer dtype int64',
                  'linear_bias must be a floating-point array, got integer dtype torch.int64'),
 'lce-target-shape': ('ValueError',
                      'target of class indices must have shape (1,) for input of shape (1, 2), '
                      'got shape (2,)'),
 'lce-prob-target-shape': ('ValueError',
                           "target of class probabilities must have shape (1, 1) (input's batch "
                           "shape and linear_weight's rows), got shape (1, 2)"),
 'lce-chunk-type': ('TypeError', 'chunk_size must be a positive int or None, got float'),
 'lce-chunk-bool': ('TypeError', 'chunk_size must be a positive int or None, got bool'),
 'lce-chunk-zero': ('ValueError', 'chunk_size must be a positive int or None, got 0'),
 'lce-input-posinf': ('ValueError', 'input contains +inf; logits must be finite'),
 'lce-weight-nan': ('ValueError', 'linear_weight contains NaN'),
 'lce-weight-neginf': ('ValueError', 'linear_weight contains -inf; logits must be finite'),
 'lce-bias-posinf': ('ValueError',
                     'linear_bias contains +inf; logits must be finite or -inf (a masked class)'),
 'lce-bias-all-neginf': ('ValueError',
                         'linear_bias has a row whose logits are all -inf: no class is possible'),
 'lce-input-object': ('TypeError',
                      'input must be a numeric array, got object',
                      'input must be a tensor or array-like, got object'),
 'lce-weight-object': ('TypeError',
                       'linear_weight must be a numeric array, got object',
                       'linear_weight must be a tensor or array-like, got object'),
 'lce-target-object': ('TypeError',
                       'target must be a numeric array, got object',
                       'target must be a tensor or array-like, got object'),
 'lce-bias-object': ('TypeError',
                     'linear_bias must be a numeric array, got object',
                     'linear_bias must be a tensor or array-like, got object'),
 'lce-cw-object': ('TypeError',
                   'weight must be a numeric array, got object',
                   'weight must be a tensor or array-like, got object'),
 'lce-cw-negative': ('ValueError', 'weight must be finite and non-negative')}


def _numpy_array(values, dtype=None):
    a = np.array(values)
    return a.astype(dtype) if dtype else a


def _tensor(values, dtype=None):
    t = torch.as_tensor(np.array(values))
    return t.to(getattr(torch, dtype)) if dtype else t


BACKEND_ARRAYS = {"numpy": (cn, _numpy_array), "torch": (ct, _tensor)}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("case_id", "call"), MESSAGE_CASES, ids=[c[0] for c in MESSAGE_CASES])
def test_error_message_word_for_word(backend, case_id, call):
    expected = MESSAGES[case_id]
    exc = {"TypeError": TypeError, "ValueError": ValueError}[expected[0]]
    message = expected[1] if len(expected) == 2 or backend == "numpy" else expected[2]
    mod, array = BACKEND_ARRAYS[backend]
    with pytest.raises(exc) as info:
        call(mod, array)
    assert str(info.value) == message


def test_every_case_has_its_message():
    assert [c[0] for c in MESSAGE_CASES] == list(MESSAGES)


# --- what ce_lib and the backends say about themselves -------------------------------------


@pytest.mark.parametrize("name", sorted(DOCS))
def test_backends_and_dispatcher_carry_the_shared_docstring(name):
    assert cn.__all__ == ce_lib.__all__ == sorted(DOCS)
    assert cn.__dict__[name].__doc__ == ct.__dict__[name].__doc__ == DOCS[name]
    dispatcher = getattr(ce_lib, name)
    assert dispatcher.__doc__ == DOCS[name]
    assert dispatcher.__name__ == dispatcher.__qualname__ == name
    assert dispatcher.__module__ == "ce_lib"
    assert repr(dispatcher) == f"<ce_lib.{name}: dispatches to ce_lib.numpy or ce_lib.torch>"


def test_backends_are_attributes_of_ce_lib():
    assert ce_lib.__getattr__("numpy") is cn
    assert ce_lib.__getattr__("torch") is ct
    with pytest.raises(AttributeError, match=re.escape("module 'ce_lib' has no attribute 'jax'")):
        ce_lib.__getattr__("jax")
    with pytest.raises(AttributeError, match="no attribute 'NUMPY'"):
        ce_lib.__getattr__("NUMPY")
