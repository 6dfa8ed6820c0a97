"""A fixed, fast sample of mutation testing: hand-written mutants of ce_lib, each killed by name.

Each mutant below is a small change to one line of ce_lib that breaks one behaviour (the NaN bug
and the eleven behaviours of issue 14, and a few more). The test copies ce_lib and the tests to a
temporary folder, applies the mutant to the copy, runs the tests that pin the behaviour against
it in a fresh interpreter, and asserts that they fail. A mutant that survives means the behaviour
is no longer tested. ``scripts/mutation_test.sh`` runs the full, slow, tool-driven mutation test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PINNED = "tests/test_pinned_behaviours.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  #: file inside ce_lib/
    old: str  #: text that occurs exactly once in that file
    new: str
    tests: tuple[str, ...]  #: node ids (relative to the repository) that must kill it


def _pinned(*names: str) -> tuple[str, ...]:
    return tuple(f"{PINNED}::{n}" for n in names)


MUTANTS = [
    Mutant("nan-bug: ignored row times -inf logit", "_softmax_ce.py",
           "xp.where((w_row == 0) & (gap == inf), 0, w_row * gap)", "w_row * gap",
           _pinned("test_ignored_row_with_minus_inf_class0_logit_is_not_nan",
                   "test_linear_ce_ignored_row_with_minus_inf_bias_is_not_nan")),
    Mutant("zero-total-weight mean is NaN", "_reduction.py",
           "return 1.0 / d if d > 0 else 0.0", "return 1.0 / d if d > 0 else float('nan')",
           _pinned("test_mean_with_zero_total_weight_is_zero_with_zero_gradient")),
    Mutant("empty class axis: numpy max without identity", "numpy/activations.py",
           "keepdims=True, initial=-np.inf)", "keepdims=True)",
           _pinned("test_activations_of_an_empty_class_axis_match_torch")),
    Mutant("negative class weights accepted", "_validation.py",
           "(_any(weight < 0) or _any(weight == math.inf))", "_any(weight == math.inf)",
           _pinned("test_negative_class_weight_is_refused_although_torch_accepts_it")),
    Mutant("1: every block reads block 0's probability targets", "_softmax_ce.py",
           "t = ops.astype(target[start:stop], zb.dtype)",
           "t = ops.astype(target[0 : stop - start], zb.dtype)",
           _pinned("test_probability_targets_over_several_kernel_blocks")),
    Mutant("2: every slab reads its chunk's first slab", "_linear_ce.py",
           "z_s = z_c[first - start : last - start]", "z_s = z_c[0 : last - first]",
           _pinned("test_linear_ce_with_several_slabs_per_chunk")),
    Mutant("3: torch target gradient divides by N, not N*d1*...", "torch/losses.py",
           "scale = mean_scale(logits.numel() // logits.shape[ctx.class_axis])",
           "scale = mean_scale(logits.shape[0])",
           _pinned("test_torch_target_gradient_for_spatial_probability_targets_mean")),
    Mutant("4: numpy entropy of a one-hot row is -0.0", "numpy/information.py",
           "h = 0.0 - np.sum(", "h = -np.sum(",
           _pinned("test_entropy_of_one_hot_row_is_plus_zero")),
    Mutant("4: torch entropy of a one-hot row is -0.0", "torch/information.py",
           "return _in_base(0.0 - torch.special.xlogy(pc, pc).sum(-1), b, pt.dtype)",
           "return _in_base(-torch.special.xlogy(pc, pc).sum(-1), b, pt.dtype)",
           _pinned("test_entropy_of_one_hot_row_is_plus_zero")),
    Mutant("5: float32 row sums 100x looser", "_validation.py",
           "{2: 3.2e-2, 4: 3.5e-4, 8: 1.5e-8}", "{2: 3.2e-2, 4: 3.5e-2, 8: 1.5e-8}",
           _pinned("test_float32_distribution_sum_tolerance_is_sqrt_eps32")),
    Mutant("6: base=inf accepted", "_validation.py",
           "if not (base > 0 and base != 1 and math.isfinite(base)):",
           "if not (base > 0 and base != 1):",
           _pinned("test_information_measures_refuse_base_inf_and_other_bad_bases")),
    Mutant("7: weight with more dimensions than the prediction accepted", "_validation.py",
           "ok = len(shape) <= len(to_shape) and all(", "ok = all(",
           _pinned("test_binary_weight_with_more_dimensions_than_prediction_is_refused")),
    Mutant("8: numpy integer p widened to float64", "numpy/information.py",
           "arr = arr.astype(like if like is not None else np.float64)",
           "arr = arr.astype(np.float64)",
           _pinned("test_integer_p_takes_the_dtype_of_q")),
    Mutant("8: torch integer p widened to float64", "torch/information.py",
           "t = t.to(dtype or torch.float64)", "t = t.to(torch.float64)",
           _pinned("test_integer_p_takes_the_dtype_of_q")),
    Mutant("9: log_sigmoid as log(1 + e)", "numpy/activations.py",
           "out = np.minimum(xc, 0) - np.log1p(np.exp(-np.abs(xc)))",
           "out = np.minimum(xc, 0) - np.log(1 + np.exp(-np.abs(xc)))",
           _pinned("test_log_sigmoid_is_relatively_accurate_for_large_x")),
    Mutant("10: numpy entropy computed in float16", "numpy/information.py",
           "pc = arr.astype(compute_dtype(arr.dtype), copy=False)", "pc = arr",
           _pinned("test_entropy_of_float16_is_computed_in_float32")),
    Mutant("10: torch entropy computed in float16", "torch/information.py",
           "pc = pt.to(compute_dtype(pt.dtype))", "pc = pt",
           _pinned("test_entropy_of_float16_is_computed_in_float32")),
    Mutant("11: numpy categorical cross entropy computed in float16", "numpy/losses.py",
           "pc = p.astype(cd, copy=False)", "pc = p",
           _pinned("test_categorical_ce_of_float16_is_computed_in_float32")),
    Mutant("11: torch categorical cross entropy computed in float16", "torch/losses.py",
           "log_p = torch.log(p.to(compute_dtype(p.dtype))).clamp(min=LOG_CLAMP)",
           "log_p = torch.log(p).clamp(min=LOG_CLAMP)",
           _pinned("test_categorical_ce_of_float16_is_computed_in_float32")),
    # import-time code, which mutmut cannot switch on (it forks after importing ce_lib)
    Mutant("shared docstrings not attached", "_docs.py",
           "fn.__doc__ = DOCS[fn.__name__]", "fn.__doc__ = None",
           ("tests/test_validation.py::test_backends_and_dispatcher_carry_the_shared_docstring",)),
    Mutant("dispatcher without its name", "__init__.py",
           "self.__name__ = self.__qualname__ = name", "self.__name__ = self.__qualname__ = None",
           ("tests/test_validation.py::test_backends_and_dispatcher_carry_the_shared_docstring",)),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ce_lib and the tests; each mutant is applied to a copy of this copy."""
    root = tmp_path_factory.mktemp("ce_lib_pristine")
    shutil.copytree(ROOT / "ce_lib", root / "ce_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _run_tests(root: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = ("import sys, ce_lib, pytest; "
            f"assert ce_lib.__file__.startswith({str(root)!r}), ce_lib.__file__; "
            "sys.exit(pytest.main(sys.argv[1:]))")
    return subprocess.run(
        [sys.executable, "-c", code, "-q", "-x", "-p", "no:cacheprovider", "-p", "no:nbval",
         "-p", "no:randomly", "-W", "error", "--rootdir", str(root), *tests],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )


def test_unmutated_copy_passes_the_sample_tests(pristine: Path) -> None:
    tests = tuple(sorted({t for m in MUTANTS for t in m.tests}))
    result = _run_tests(pristine, tests)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_is_killed(mutant: Mutant, pristine: Path, tmp_path: Path) -> None:
    root = tmp_path / "mutant"
    shutil.copytree(pristine, root)
    target = root / "ce_lib" / mutant.path
    source = target.read_text()
    assert source.count(mutant.old) == 1, f"{mutant.path}: the mutated text is not unique/gone"
    target.write_text(source.replace(mutant.old, mutant.new))
    result = _run_tests(root, mutant.tests)
    assert result.returncode == 1, (
        f"mutant survived ({mutant.name}): {mutant.tests} pass with {mutant.new!r}\n"
        + result.stdout[-3000:] + result.stderr[-2000:]
    )
