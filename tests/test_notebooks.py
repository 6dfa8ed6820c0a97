"""The chapters nbval re-runs are exactly the book's, and each is a real, clean baseline.

nbval itself (``--nbval`` in pyproject.toml's addopts) collects every ``book/*.ipynb`` and compares
each cell with its stored output. These tests make sure that comparison means something: a
notebook that was never executed, or that is missing from the toc, would pass it vacuously.
"""

from __future__ import annotations

import json
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
