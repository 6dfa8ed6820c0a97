"""The prose quotes no number that a cell computes: such numbers are glued from the cell.

A decimal number with 4 or more significant digits in a chapter's markdown that a code cell of
the same chapter outputs (printed, displayed or glued; equal to it, or it rounded or truncated to
the digits the text shows) must be inserted with ``{glue:}`name``` instead. Numbers that stay
typed by design (a quotation from a source, a constant of IEEE arithmetic the text defines) are
listed in the notebook's metadata under ``unglued_numbers``, each with its reason.

Integers are not checked: in the prose they are sizes, seeds and years chosen in the code, not
results of it.

    python tests/test_prose_numbers.py book/04_softmax_derivative.ipynb   # list the offenders
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toc import toc_notebooks

NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?!\w|\.\d)|(?<![\w.])(\d+\.\d+)(?=[eE][-+]?\d)")
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
LABEL = re.compile(r"^\([\w-]+\)=$", re.M)


def significant_digits(text: str) -> str:
    """'0.05108' -> '5108'; '1.2300' -> '12300'."""
    return text.replace(".", "").lstrip("0")


def _numbers(text: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in NUMBER.finditer(text)}


def _output_texts(cell: nbformat.NotebookNode) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output.get("text", ""))
        for mime, value in output.get("data", {}).items():
            if mime.endswith("text/plain") or mime == "text/html":
                texts.append(value if isinstance(value, str) else "".join(value))
    return texts


def _matches(typed: str, computed: str) -> bool:
    a, b = significant_digits(typed), significant_digits(computed)
    if len(b) < len(a):
        return False
    if b.startswith(a):  # equal, or truncated
        return True
    rounded = str(round(int(b[: len(a) + 1]) / 10))  # one more digit, rounded half to even
    return rounded == a


def hand_typed_numbers(path: Path) -> list[tuple[str, str]]:
    """(number, the computed output it copies) for each unglued, unlisted copy in ``path``."""
    nb = nbformat.read(path, as_version=4)
    allowed = set(nb.metadata.get("unglued_numbers", {}))
    computed = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            for text in _output_texts(cell):
                computed |= _numbers(text)
    offenders = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        prose = LABEL.sub("", GLUE_ROLE.sub("", cell.source))
        for typed in sorted(_numbers(prose)):
            if len(significant_digits(typed)) < 4 or typed in allowed:
                continue
            copies = [c for c in sorted(computed) if _matches(typed, c)]
            if copies:
                offenders.append((typed, copies[0]))
    return offenders


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_no_hand_typed_computed_numbers(path: Path) -> None:
    offenders = hand_typed_numbers(path)
    assert not offenders, (
        f"{path.name}: numbers typed in the prose that a cell computes; glue them, or list them "
        f"under metadata.unglued_numbers with a reason: {offenders}"
    )


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_unglued_exceptions_have_reasons(path: Path) -> None:
    listed = nbformat.read(path, as_version=4).metadata.get("unglued_numbers", {})
    assert all(isinstance(why, str) and len(why) > 10 for why in listed.values()), listed


def test_matching_rule() -> None:
    assert _matches("0.5108", "0.510826")  # rounded
    assert _matches("0.1785", "0.178514")
    assert _matches("9.237", "9.2371")
    assert _matches("1.0986", "1.098612")
    assert not _matches("0.5109", "0.510826")
    assert not _matches("0.510826", "0.5108")  # the output shows fewer digits
    assert _numbers("x = 9.2371e-14 and 3.55e-15, 12, 1.5.") == {"9.2371", "3.55", "1.5"}


if __name__ == "__main__":
    for arg in sys.argv[1:] or [str(p) for p in toc_notebooks()]:
        for typed, computed in hand_typed_numbers(Path(arg)):
            print(f"{arg}: {typed} (computed: {computed})")
