"""The tutorials' worked examples, reproduced to 1e-12 in both backends."""

from __future__ import annotations

import math

import numpy as np
import pytest
from strategies import backends, to_np

TOL = dict(rtol=1e-12, atol=1e-12)

# The 7-sample binary example.
BIN_T = [0, 1, 1, 0, 0, 1, 1]
BIN_P = [0.07, 0.91, 0.74, 0.23, 0.85, 0.17, 0.94]
BIN_PER_SAMPLE = [0.0725706928348355, 0.09431067947124129, 0.3011050927839216,
                  0.2613647641344075, 1.897119984885881, 1.7719568419318752,
                  0.06187540371808753]
BIN_SUM = 4.460303459760249

# The 4-sample categorical example.
CAT_T = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
CAT_P = [[0.91, 0.04, 0.05], [0.11, 0.8, 0.09], [0.3, 0.1, 0.6], [0.25, 0.4, 0.35]]
CAT_PER_SAMPLE = [0.09431067947124129, 0.2231435513142097, 0.5108256237659907,
                  1.3862943611198906]
CAT_SUM = 2.214574215671332

# The first article's asymmetry terms.
TERM_02 = 0.3218875824868201  # -0.2 log 0.2
TERM_08 = 0.17851484105136781  # -0.8 log 0.8


def test_the_published_numbers_are_right():
    """The numbers the tutorials print, recomputed from the definition with plain math."""
    per = [-math.log(p) if t else -math.log(1 - p) for t, p in zip(BIN_T, BIN_P, strict=True)]
    np.testing.assert_allclose(per, BIN_PER_SAMPLE, **TOL)
    assert math.fsum(per) == pytest.approx(BIN_SUM, rel=1e-12)
    per = [-math.fsum(t * math.log(p) for t, p in zip(tr, pr, strict=True) if t)
           for tr, pr in zip(CAT_T, CAT_P, strict=True)]
    np.testing.assert_allclose(per, CAT_PER_SAMPLE, **TOL)
    assert math.fsum(per) == pytest.approx(CAT_SUM, rel=1e-12)
    assert -0.2 * math.log(0.2) == pytest.approx(TERM_02, rel=1e-12)
    assert -0.8 * math.log(0.8) == pytest.approx(TERM_08, rel=1e-12)


@backends
def test_binary_example(be):
    p = be.array(BIN_P)
    for t in (be.array(np.array(BIN_T, dtype=np.float64)), be.array(np.array(BIN_T))):
        per = to_np(be.mod.binary_cross_entropy(p, t, reduction="none"))
        np.testing.assert_allclose(per, BIN_PER_SAMPLE, **TOL)
        np.testing.assert_allclose(to_np(be.mod.binary_cross_entropy(p, t, reduction="sum")),
                                   BIN_SUM, **TOL)
        np.testing.assert_allclose(to_np(be.mod.binary_cross_entropy(p, t)), BIN_SUM / 7, **TOL)
    # the same numbers from the logits log(p / (1 - p))
    z = be.array([math.log(v / (1 - v)) for v in BIN_P])
    t = be.array(np.array(BIN_T, dtype=np.float64))
    per = to_np(be.mod.binary_cross_entropy_with_logits(z, t, reduction="none"))
    np.testing.assert_allclose(per, BIN_PER_SAMPLE, **TOL)


@backends
def test_categorical_example(be):
    p = be.array(CAT_P)
    one_hot = be.array(np.array(CAT_T, dtype=np.float64))
    indices = be.array(np.argmax(CAT_T, axis=1))
    for t in (one_hot, indices):
        per = to_np(be.mod.categorical_cross_entropy(p, t, reduction="none"))
        np.testing.assert_allclose(per, CAT_PER_SAMPLE, **TOL)
        np.testing.assert_allclose(
            to_np(be.mod.categorical_cross_entropy(p, t, reduction="sum")), CAT_SUM, **TOL)
        np.testing.assert_allclose(to_np(be.mod.categorical_cross_entropy(p, t)), CAT_SUM / 4,
                                   **TOL)
    # the per-sample losses are cross entropies of the one-hot rows with the predictions
    np.testing.assert_allclose(to_np(be.mod.cross_entropy(one_hot, p)), CAT_PER_SAMPLE, **TOL)
    # and the softmax form agrees: log p are logits whose softmax is p
    z = be.array(np.log(np.array(CAT_P)))
    per = to_np(be.mod.softmax_cross_entropy(z, indices, reduction="none"))
    np.testing.assert_allclose(per, CAT_PER_SAMPLE, **TOL)
    np.testing.assert_allclose(to_np(be.mod.softmax_cross_entropy(z, one_hot, reduction="sum")),
                               CAT_SUM, **TOL)


@backends
def test_asymmetry_example(be):
    # each term -w log p as a weighted binary cross entropy with target 1
    terms = be.mod.binary_cross_entropy(be.array([0.2, 0.8]), be.array([1.0, 1.0]),
                                        weight=be.array([0.2, 0.8]), reduction="none")
    np.testing.assert_allclose(to_np(terms), [TERM_02, TERM_08], **TOL)
    # together they are the entropy of (0.2, 0.8)
    np.testing.assert_allclose(to_np(be.mod.entropy(be.array([0.2, 0.8]))), TERM_02 + TERM_08,
                               **TOL)
    # the first term dominates although its probability is smaller: -p log p peaks at p = 1/e
    assert TERM_02 > TERM_08
