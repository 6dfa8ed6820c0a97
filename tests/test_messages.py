"""Every error message of ce_lib, word for word, in both backends.

A message names the argument at fault and says what was expected: these tests pin each one
exactly (a changed word, a wrong argument name or a lost clause fails), which is what lets the
mutation test tell a message apart from a mutant of it. The messages agree between the backends
except where they name a dtype (``int64`` / ``torch.int64``) or what they accept (arrays /
tensors).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import ce_lib
import ce_lib.numpy as cn
import ce_lib.torch as ct
from ce_lib._docs import DOCS

INF = float("inf")
NAN = float("nan")
P2 = [[0.25, 0.75], [0.5, 0.5]]

CASES = [
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
EXPECTED = {'softmax-object': ('TypeError',
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
@pytest.mark.parametrize(("case_id", "call"), CASES, ids=[c[0] for c in CASES])
def test_error_message_word_for_word(backend, case_id, call):
    expected = EXPECTED[case_id]
    exc = {"TypeError": TypeError, "ValueError": ValueError}[expected[0]]
    message = expected[1] if len(expected) == 2 or backend == "numpy" else expected[2]
    mod, array = BACKEND_ARRAYS[backend]
    with pytest.raises(exc) as info:
        call(mod, array)
    assert str(info.value) == message


def test_every_case_has_its_message():
    assert [c[0] for c in CASES] == list(EXPECTED)


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
