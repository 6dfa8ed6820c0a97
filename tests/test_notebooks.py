"""The chapters nbval re-runs are exactly the book's, and each is a real, clean baseline.

nbval itself (``--nbval`` in pyproject.toml's addopts) collects every ``book/*.ipynb`` and compares
each cell with its stored output. These tests make sure that comparison means something: a
notebook that was never executed, or that is missing from the toc, would pass it vacuously.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from toc import ROOT, toc_files, toc_notebooks

BOOK = ROOT / "book"
NOTEBOOKS = toc_notebooks()


def test_every_toc_entry_exists() -> None:
    missing = [
        name
        for name in toc_files()
        if not any((ROOT / f"{name}{suffix}").exists() for suffix in (".ipynb", ".md"))
    ]
    assert missing == []


def test_nbval_checks_exactly_the_toc_notebooks() -> None:
    # pytest's testpaths include book/, so nbval collects every notebook there: it must be the toc's.
    collected = {p.resolve() for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert collected == {p.resolve() for p in NOTEBOOKS}
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_an_executed_clean_baseline(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code, "a chapter without code proves nothing"
    counts = [cell["execution_count"] for cell in code]
    assert counts == list(range(1, len(code) + 1)), "re-run it top to bottom in a fresh kernel"
    assert any(cell["outputs"] for cell in code), "no stored output: nbval would check nothing"
    for cell in code:
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell["outputs"]:
            assert output.get("name") != "stderr", f"stderr output in cell {cell['source'][:80]!r}"
            if output["output_type"] == "error":
                assert "raises-exception" in tags, f"unexpected error in {cell['source'][:80]!r}"
    titles = [
        line
        for cell in nb["cells"]
        if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines()
        if line.startswith("# ")
    ]
    assert len(titles) == 1, f"a chapter has exactly one title, found {titles}"


# A number at rounding level (e.g. 1.1e-16, 2.8e-17): printed, its last digits depend on the CPU,
# the BLAS kernel and the thread count, so the stored output does not travel. A check states the
# tolerance it met instead (ce_lib.checks); the tolerance in a "✓ claim (rtol 8.9e-16)" line is a
# constant and is allowed. A cell whose rounding-level numbers are deterministic (IEEE constants
# of a format, one correctly rounded operation) is tagged rounding-level-ok.
ROUNDING_LEVEL = re.compile(r"(?<![\w.])\d\.\d+e-(?:1[3-9]|[2-9]\d|\d{3})\b")
CHECK_LINE_TOLERANCE = re.compile(r"^(\s*✓ .*?)\s*\([^()]*\)\s*$")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")


def output_texts(output: dict) -> list[str]:
    if output["output_type"] == "stream":
        return ["".join(output["text"])]
    data = output.get("data", {})
    return ["".join(data[mime]) for mime in TEXT_MIMES if mime in data]


def rounding_level_numbers(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        line = CHECK_LINE_TOLERANCE.sub(r"\1", line)
        found += ROUNDING_LEVEL.findall(line)
    return found


def test_rounding_level_detector() -> None:
    assert rounding_level_numbers("max |a - b| = 1.1e-16") == ["1.1e-16"]
    assert rounding_level_numbers("residual 2.8e-17, other 4.9e-324") == ["2.8e-17", "4.9e-324"]
    assert rounding_level_numbers("<td>1.175e-38</td>") == ["1.175e-38"]
    assert rounding_level_numbers("✓ sums to one (rtol 8.9e-16)") == []
    assert rounding_level_numbers("✓ small (≤ 1e-09)") == []
    assert rounding_level_numbers("✓ x = 1.1e-16 (exactly)") == ["1.1e-16"]
    assert rounding_level_numbers("h = 1.5e-05, eps = 1e-15, loss 0.693147, 2.5e-12") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_rounding_level_number_in_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    offenders = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if "rounding-level-ok" in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell["outputs"]:
            for text in output_texts(output):
                numbers = rounding_level_numbers(text)
                if numbers:
                    offenders.append(f"cell {index}: {sorted(set(numbers))}")
    assert not offenders, (
        "rounding-level numbers in stored outputs (state the tolerance met with ce_lib.checks, "
        "or tag the cell rounding-level-ok if they are deterministic):\n" + "\n".join(offenders)
    )
