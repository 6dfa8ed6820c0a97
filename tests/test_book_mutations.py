"""A wrong ce_lib must make the book fail: the chapters' checks bind, they do not just print.

Each mutant is a copy of ``ce_lib`` in a temporary folder with one small, realistic bug (a result
off by about 1e-3 relative, a term dropped). The chapters that use the mutated function are run
for errors only (``pytest --nbval-lax -x``, so stored outputs are not compared: only a check
cell that raises can catch the mutant), with the copy first on ``PYTHONPATH``, and the run must
FAIL. A mutant that lets every chapter pass is a claim the book prints but does not prove.

``ce_lib`` is pip-installed in editable mode, so the test proves that the kernels imported the
copy: the copy's ``__init__`` appends its own path and the importing program to a marker file.
The unmutated copy, run the same way on one short chapter, must pass (the machinery itself
catches nothing).

Each mutation is an exact text substitution that must match exactly once: when ce_lib is
refactored, the test fails loudly instead of silently testing nothing. Update the mutant then.

Runs in a few minutes (each mutant stops at the first failing cell):
    python -m pytest -p no:nbval tests/test_book_mutations.py -v
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ce_lib"
BOOK = ROOT / "book"
TIMEOUT_S = 600
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Exceptions that mean the copy is broken, not that a check caught the bug.
BROKEN_COPY = {"ImportError", "ModuleNotFoundError", "SyntaxError", "NameError", "AttributeError"}


@dataclass(frozen=True)
class Mutant:
    name: str
    area: str
    file: str  # relative to ce_lib/
    old: str
    new: str
    chapters: tuple[str, ...]  # the ones that can catch it, likeliest first

    def __str__(self) -> str:
        return self.name


MUTANTS = [
    Mutant(
        "softmax_scaled",
        "activations",
        "numpy/activations.py",
        "        out = e / np.sum(e, axis=axis, keepdims=True)\n",
        "        out = e / np.sum(e, axis=axis, keepdims=True) * (1 + 1e-3)\n",
        ("03", "04", "05", "09", "08"),
    ),
    Mutant(
        "softmax_one_class_off",
        "activations",
        "numpy/activations.py",
        "        out = e / np.sum(e, axis=axis, keepdims=True)\n",
        "        out = e / np.sum(e, axis=axis, keepdims=True)\n"
        "        out = out * np.where(np.arange(out.shape[-1]) == 0, 1 + 1e-3, 1)\n",
        ("03", "04", "05", "09", "08"),
    ),
    Mutant(
        "logsumexp_log_scaled",
        "activations",
        "numpy/activations.py",
        "        out = np.log(np.sum(np.exp(xc - m), axis=axis, keepdims=True)) + m\n",
        "        out = np.log(np.sum(np.exp(xc - m), axis=axis, keepdims=True)) * (1 + 1e-3) + m\n",
        ("03", "07", "05", "10"),
    ),
    Mutant(
        "sigmoid_negative_branch",
        "activations",
        "numpy/activations.py",
        "        out = np.where(xc >= 0, 1 / (1 + e), e / (1 + e))\n",
        "        out = np.where(xc >= 0, 1 / (1 + e), e / (1 + e) * (1 - 1e-3))\n",
        ("02", "03", "04", "05"),
    ),
    Mutant(
        "log_softmax_scaled",
        "activations",
        "numpy/activations.py",
        "        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))\n",
        "        out = (shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True)))"
        " * (1 + 1e-3)\n",
        ("03", "07", "08"),
    ),
    Mutant(
        "entropy_scaled",
        "information measures",
        "numpy/information.py",
        "    h = 0.0 - np.sum(pc * np.log(np.where(pc > 0, pc, 1)), axis=-1)",
        "    h = 0.0 - np.sum(pc * np.log(np.where(pc > 0, pc, 1)), axis=-1) * (1 + 1e-3)",
        ("01", "06", "08"),
    ),
    Mutant(
        "cross_entropy_scaled",
        "information measures",
        "numpy/information.py",
        "    return _in_base(0.0 - np.sum(terms, axis=-1), b, dtype)\n",
        "    return _in_base(0.0 - np.sum(terms, axis=-1) * (1 + 1e-3), b, dtype)\n",
        ("01", "06", "08"),
    ),
    Mutant(
        "kl_divergence_scaled",
        "information measures",
        "numpy/information.py",
        "    return _in_base(np.sum(terms, axis=-1), b, dtype)\n",
        "    return _in_base(np.sum(terms, axis=-1) * (1 + 1e-3), b, dtype)\n",
        ("01", "06", "08"),
    ),
    Mutant(
        "bce_positive_term_scaled",
        "binary losses",
        "numpy/losses.py",
        "    losses = (t - 1) * log_1mp - t * log_p\n",
        "    losses = (t - 1) * log_1mp - t * log_p * (1 + 1e-3)\n",
        ("02", "06", "07"),
    ),
    Mutant(
        "bce_with_logits_log1p_scaled",
        "binary losses",
        "numpy/losses.py",
        "    log1p_e = np.log1p(e)\n",
        "    log1p_e = np.log1p(e) * (1 + 1e-3)\n",
        ("02", "07", "05", "06"),
    ),
    Mutant(
        "softmax_ce_hard_label_loss_scaled",
        "softmax cross entropy",
        "_softmax_ce.py",
        "    return (m[:, 0] - z_y) + log_s\n",
        "    return ((m[:, 0] - z_y) + log_s) * (1 + 1e-3)\n",
        ("03", "05", "07", "08", "09"),
    ),
    Mutant(
        "torch_small_call_logits_scaled",
        "softmax cross entropy",
        "torch/losses.py",
        "    loss = F.cross_entropy(logits, target, reduction=reduction)\n",
        "    loss = F.cross_entropy(logits * (1 + 1e-3), target, reduction=reduction)\n",
        ("07", "14", "12"),
    ),
    Mutant(
        "softmax_ce_soft_label_loss_scaled",
        "softmax cross entropy",
        "_softmax_ce.py",
        "                losses[start:stop] = xp.sum(gap, axis=1) + coeff_sum * log_s\n",
        "                losses[start:stop] = xp.sum(gap, axis=1) + coeff_sum * log_s * (1 + 1e-3)\n",
        ("08", "05", "03"),
    ),
    Mutant(
        "softmax_ce_hard_label_grad_too_small",
        "softmax cross entropy gradient",
        "_softmax_ce.py",
        "    xp.multiply(g, mult / s, out=g)\n",
        "    xp.multiply(g, mult / s * (1 - 1e-3), out=g)\n",
        ("05", "09", "08", "10"),
    ),
    Mutant(
        "softmax_ce_soft_label_grad_scaled",
        "softmax cross entropy gradient",
        "_softmax_ce.py",
        "                    g -= a * grad_scale\n",
        "                    g -= a * grad_scale * (1 + 1e-3)\n",
        ("08", "05"),
    ),
    Mutant(
        "linear_ce_logits_scaled",
        "linear cross entropy",
        "_linear_ce.py",
        "        xp.matmul(x_c, w_t, out=z_c)\n",
        "        xp.matmul(x_c, w_t, out=z_c)\n        z_c *= 1 + 1e-3\n",
        ("10",),
    ),
    Mutant(
        "linear_ce_bias_grad_scaled",
        "linear cross entropy",
        "_linear_ce.py",
        "            grad_b += z_c.sum(0)\n",
        "            grad_b += z_c.sum(0) * (1 + 1e-3)\n",
        ("10",),
    ),
    Mutant(
        "vocab_parallel_lse_scaled",
        "vocabulary-parallel cross entropy",
        "torch/vocab_parallel/_loss.py",
        "    lse = torch.logsumexp(lse_r, 0)\n",
        "    lse = torch.logsumexp(lse_r, 0) * (1 + 1e-3)\n",
        ("11",),
    ),
    Mutant(  # Megatron's mistake: smoothing spread over this rank's columns, not the vocabulary
        "vocab_parallel_smoothing_local_vocabulary",
        "vocabulary-parallel cross entropy",
        "torch/vocab_parallel/_loss.py",
        "        smooth = eps / p.num_classes\n",
        "        smooth = eps / p.columns\n",
        ("11",),
    ),
    Mutant(
        "z_loss_term_scaled",
        "logit regularizers",
        "_softmax_ce.py",
        "    term = z_loss * (lse * lse)\n",
        "    term = z_loss * (lse * lse) * (1 + 1e-3)\n",
        ("12",),
    ),
    Mutant(
        "z_loss_grad_scaled",
        "logit regularizers",
        "_softmax_ce.py",
        "    dterm = (2 * z_loss) * lse\n",
        "    dterm = (2 * z_loss) * lse * (1 + 1e-3)\n",
        ("12",),
    ),
    Mutant(
        "softcap_grad_factor_scaled",
        "logit regularizers",
        "_softmax_ce.py",
        "                g *= t\n",
        "                g *= t * (1 + 1e-3)\n",
        ("12",),
    ),
    Mutant(
        "softcap_value_scaled",
        "logit regularizers",
        "_softmax_ce.py",
        "                xp.multiply(t, cap, out=g)\n",
        "                xp.multiply(t, cap * (1 + 1e-3), out=g)\n",
        ("12",),
    ),
    Mutant(
        "sigmoid_focal_loss_scaled",
        "focal losses",
        "_focal.py",
        "    losses = ce * mod\n",
        "    losses = ce * mod * (1 + 1e-3)\n",
        ("14",),
    ),
    Mutant(
        "softmax_focal_grad_scaled",
        "focal losses",
        "_focal.py",
        "    coeff = w_row * mod * (1 + gamma * h) * grad_scale  #",
        "    coeff = w_row * mod * (1 + gamma * h) * grad_scale * (1 + 1e-3)  #",
        ("14",),
    ),
]

# The marker the copy writes on import: one line per importing process.
SENTINEL = """

import os as _os
import sys as _sys

if _os.environ.get("CE_LIB_COPY_MARKER"):
    with open(_os.environ["CE_LIB_COPY_MARKER"], "a", encoding="utf-8") as _marker:
        _marker.write(f"{__file__}\\t{_sys.argv[0]}\\n")
"""


def chapter(prefix: str) -> Path:
    matches = sorted(BOOK.glob(f"{prefix}_*.ipynb"))
    assert len(matches) == 1, f"no single chapter book/{prefix}_*.ipynb: {matches}"
    return matches[0]


def mutated_copy(folder: Path, mutant: Mutant | None) -> Path:
    """A copy of ce_lib under folder/ (with the sentinel), mutated by ``mutant``."""
    target = folder / "ce_lib"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    init = target / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8") + SENTINEL, encoding="utf-8")
    if mutant is not None:
        path = target / mutant.file
        text = path.read_text(encoding="utf-8")
        count = text.count(mutant.old)
        assert count == 1, (
            f"mutant {mutant.name}: the text to replace occurs {count} times in ce_lib/"
            f"{mutant.file} (expected once); ce_lib changed, update the mutant:\n{mutant.old}"
        )
        path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")
    return folder


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float
    importers: list[str]

    def first_failure(self) -> str:
        found = re.search(r"^FAILED (.+?)(?: - .*)?$", self.output, re.M)
        return found.group(1) if found else "(none)"

    def exception(self) -> str:
        """The class of the exception that failed the first cell (nbval prints its traceback)."""
        text = ANSI.sub("", self.output)
        found = re.search(r"^(\w+(?:Error|Failed|Exception|Warning)):? ", text, re.M)
        return found.group(1) if found else "(none)"


def run_chapters(copy: Path, chapters: list[Path], marker: Path) -> Run:
    """pytest --nbval-lax -x over ``chapters`` with ``copy`` first on the kernels' path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(copy), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env["CE_LIB_COPY_MARKER"] = str(marker)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-o",
        "addopts=",  # the project's addopts ask for strict --nbval
        "-p",
        "no:cacheprovider",
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(ROOT / "tests" / "nbval_sanitize.cfg"),
        "-x",
        "-q",
        "--no-header",
        "-rf",
        *(str(p.relative_to(ROOT)) for p in chapters),
    ]
    start = time.perf_counter()
    proc = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    importers = marker.read_text(encoding="utf-8").splitlines() if marker.exists() else []
    return Run(proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start, importers)


def assert_kernel_imported_the_copy(run: Run, copy: Path) -> None:
    init = str(copy / "ce_lib" / "__init__.py")
    kernels = [line for line in run.importers if "ipykernel" in line.split("\t")[-1]]
    assert kernels, (
        f"no Jupyter kernel imported the copy of ce_lib in {copy}; importers: {run.importers}\n"
        f"{run.output[-3000:]}"
    )
    assert all(line.split("\t")[0] == init for line in kernels), kernels


def test_mutants_cover_every_area() -> None:
    areas = {m.area for m in MUTANTS}
    assert areas >= {
        "activations",
        "information measures",
        "binary losses",
        "softmax cross entropy",
        "softmax cross entropy gradient",
        "linear cross entropy",
        "vocabulary-parallel cross entropy",
        "logit regularizers",
        "focal losses",
    }
    assert len(MUTANTS) >= 6 and len({m.name for m in MUTANTS}) == len(MUTANTS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_each_mutation_applies_exactly_once(mutant: Mutant, tmp_path: Path) -> None:
    copy = mutated_copy(tmp_path, mutant)
    changed = (copy / "ce_lib" / mutant.file).read_text(encoding="utf-8")
    assert changed != (PACKAGE / mutant.file).read_text(encoding="utf-8")
    compile(changed, mutant.file, "exec")  # still Python: a failure is the chapters' doing
    for prefix in mutant.chapters:
        chapter(prefix)


def test_unmutated_copy_passes(tmp_path: Path) -> None:
    """The machinery alone fails nothing: the sentinel-only copy runs a short chapter cleanly."""
    copy = mutated_copy(tmp_path / "copy", None)
    run = run_chapters(copy, [chapter("01")], tmp_path / "marker")
    assert_kernel_imported_the_copy(run, copy)
    assert run.returncode == 0, f"the unmutated copy fails chapter 01:\n{run.output[-4000:]}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_book_catches_mutant(mutant: Mutant, tmp_path: Path) -> None:
    copy = mutated_copy(tmp_path / "copy", mutant)
    chapters = [chapter(prefix) for prefix in mutant.chapters]
    run = run_chapters(copy, chapters, tmp_path / "marker")
    names = ", ".join(p.stem[:2] for p in chapters)
    print(
        f"\n{mutant.name}: exit {run.returncode} in {run.seconds:.0f} s over chapters {names}; "
        f"first failure {run.first_failure()} ({run.exception()})"
    )
    assert run.returncode in (0, 1), f"pytest could not run the chapters:\n{run.output[-4000:]}"
    assert_kernel_imported_the_copy(run, copy)
    assert run.returncode == 1, (
        f"mutant {mutant.name} ({mutant.area}: ce_lib/{mutant.file}) survives: chapters {names} "
        f"all pass with\n  {mutant.new.strip()}\ninstead of\n  {mutant.old.strip()}"
    )
    assert run.exception() not in BROKEN_COPY, (
        f"mutant {mutant.name}: the chapters failed with {run.exception()}, a broken copy of "
        f"ce_lib rather than a check that caught the bug:\n{ANSI.sub('', run.output)[-4000:]}"
    )
