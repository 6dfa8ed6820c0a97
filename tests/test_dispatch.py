"""``import ce_lib`` dispatches on the input type; both backends expose the same documented API."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
import torch

import ce_lib
import ce_lib.numpy as cn
import ce_lib.torch as ct

TORCH_ONLY = {"linear_cross_entropy", "vocab_parallel_cross_entropy"}  # need autograd, distributed


def test_numpy_input_gives_ndarray_and_tensor_input_gives_tensor():
    x = np.array([[1.0, 2.0, 3.0]])
    out = ce_lib.softmax(x)
    assert isinstance(out, np.ndarray)
    t = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    out_t = ce_lib.softmax(t)
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-15)
    np.testing.assert_allclose(out, torch.softmax(t, -1).numpy(), rtol=1e-15)


def test_lists_go_to_numpy():
    assert isinstance(ce_lib.sigmoid([0.0, 1.0]), np.ndarray)
    assert isinstance(ce_lib.entropy([0.5, 0.5]), (np.ndarray, np.generic))


def test_any_tensor_argument_selects_torch():
    z = np.array([[1.0, 2.0, 3.0]])
    y = torch.tensor([2])
    out = ce_lib.softmax_cross_entropy(z, y)  # a tensor target alone selects torch
    assert isinstance(out, torch.Tensor)
    out = ce_lib.softmax(x=torch.zeros(3, dtype=torch.float64))  # keyword arguments count too
    assert isinstance(out, torch.Tensor)
    out = ce_lib.softmax_cross_entropy(z, np.array([2]), weight=torch.ones(3, dtype=torch.float64))
    assert isinstance(out, torch.Tensor)


def test_dispatched_results_equal_the_backends():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3))
    y = rng.integers(0, 3, size=4)
    for reduction in ("mean", "sum", "none"):
        a = ce_lib.softmax_cross_entropy(z, y, reduction=reduction, label_smoothing=0.1)
        b = cn.softmax_cross_entropy(z, y, reduction=reduction, label_smoothing=0.1)
        c = ce_lib.softmax_cross_entropy(torch.from_numpy(z), torch.from_numpy(y),
                                         reduction=reduction, label_smoothing=0.1)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(c.numpy(), b, rtol=1e-14)


def test_dispatcher_exports_the_numpy_api():
    assert sorted(ce_lib.__all__) == sorted(cn.__all__)
    for name in cn.__all__:
        fn = getattr(ce_lib, name)
        assert callable(fn)
        assert inspect.signature(fn) == inspect.signature(getattr(cn, name)), name


@pytest.mark.parametrize("name", sorted(cn.__all__))
def test_same_names_and_parameters_in_both_backends(name):
    assert name in ct.__all__
    np_sig = inspect.signature(getattr(cn, name))
    t_sig = inspect.signature(getattr(ct, name))
    assert list(np_sig.parameters) == list(t_sig.parameters)
    for p, q in zip(np_sig.parameters.values(), t_sig.parameters.values(), strict=True):
        assert p.kind == q.kind, (name, p.name)
        assert p.default == q.default, (name, p.name)


def test_torch_has_only_documented_extras():
    assert set(ct.__all__) - set(cn.__all__) <= TORCH_ONLY
    for name in (*cn.__all__, *ct.__all__):
        assert hasattr(ct if name in ct.__all__ else cn, name)


def _public_functions():
    seen = []
    for mod in (ce_lib, cn, ct):
        for name in mod.__all__:
            seen.append(pytest.param(getattr(mod, name), id=f"{mod.__name__}.{name}"))
    return seen


@pytest.mark.parametrize("fn", _public_functions())
def test_every_public_function_documents_its_formula(fn):
    doc = inspect.getdoc(fn)
    assert doc, fn
    # a formula: an equation or LaTeX
    assert "=" in doc or "\\" in doc
    assert len(doc.splitlines()[0]) > 10  # a real summary line


def test_shared_defaults_follow_torch():
    sig = inspect.signature(cn.softmax_cross_entropy).parameters
    assert sig["ignore_index"].default == -100
    assert sig["reduction"].default == "mean"
    assert sig["label_smoothing"].default == 0.0
    assert sig["weight"].default is None
    for name in ("softmax", "log_softmax", "logsumexp", "softmax_jacobian"):
        assert inspect.signature(getattr(cn, name)).parameters["axis"].default == -1
    for name in ("entropy", "cross_entropy", "kl_divergence"):
        base = inspect.signature(getattr(cn, name)).parameters["base"]
        assert base.kind is inspect.Parameter.KEYWORD_ONLY and base.default is None


def test_importing_ce_lib_does_not_import_torch():
    code = ("import sys, numpy as np, ce_lib; ce_lib.softmax(np.zeros(3)); "
            "import ce_lib.numpy; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    ("use", "absent"),
    [("import torch, ce_lib.torch as b; b.softmax(torch.zeros(2))", "ce_lib.numpy"),
     ("import ce_lib.numpy as b; b.softmax([0.0, 1.0])", "ce_lib.torch")],
)
def test_backends_are_siblings(use, absent):
    """Neither backend imports the other (what they share lives in ce_lib._docs and the kernels);
    both carry the shared docstrings."""
    code = (f"import sys; {use}; "
            f"assert {absent!r} not in sys.modules, sorted(m for m in sys.modules if 'ce_lib' in m); "
            "assert b.softmax.__doc__.startswith('Softmax along')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_import_ce_lib_imports_no_backend_until_used():
    code = ("import sys, ce_lib; assert 'ce_lib.numpy' not in sys.modules; "
            "ce_lib.softmax([0.0, 1.0]); assert 'ce_lib.numpy' in sys.modules; "
            "assert 'ce_lib.torch' not in sys.modules; "
            "assert ce_lib.numpy.softmax is sys.modules['ce_lib.numpy'].softmax")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
