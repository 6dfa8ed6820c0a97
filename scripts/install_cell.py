"""The cell that makes a chapter run where the book's launch buttons send a reader.

Colab (and any fresh Jupyter) lacks ``ce_lib``: every chapter's first code cell installs it from
the repository named in ``_config.yml`` when it is missing, prints nothing when it is present,
and is therefore a no-op under nbval and the book build. The cell's text is generated here, once;
``tests/test_reader_environments.py`` checks that each chapter carries it unchanged and runs it.

    python scripts/install_cell.py book/01_*.ipynb   # insert or refresh the cell (no argument: all)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TAGS = ["remove-cell"]  # the website needs no install step; the downloaded notebook keeps it


def repository_url() -> str:
    """The ``repository: url:`` of ``_config.yml`` (the one place the repository is named)."""
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M)
    if match is None:
        raise RuntimeError("_config.yml names no repository url")
    return match.group(1)


def install_cell_source() -> str:
    return f'''# On Colab or a fresh Jupyter: install ce_lib when it is missing.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("ce_lib") is None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q",
         "ce_lib @ git+{repository_url()}"],
        check=True,
    )'''


def is_install_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "".join(cell.source).startswith(
        "# On Colab or a fresh Jupyter: install ce_lib"
    )


def ensure_install_cell(path: Path) -> bool:
    """Make the install cell the notebook's first code cell; True if the file changed."""
    nb = nbformat.read(path, as_version=4)
    source = install_cell_source()
    first_code = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first_code is not None and is_install_cell(first_code):
        if first_code.source == source:
            return False
        first_code.source = source  # in place: the id and the (empty) outputs stay valid
        nbformat.write(nb, path)
        return True
    cells = [c for c in nb.cells if not is_install_cell(c)]
    index = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(index, nbformat.v4.new_code_cell(source, metadata={"tags": TAGS}))
    nb.cells = cells
    nbformat.write(nb, path)
    return True


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from toc import toc_notebooks  # the chapters listed in _toc.yml

    paths = [Path(a) for a in argv] or toc_notebooks()
    for path in paths:
        if ensure_install_cell(path):
            print(f"{path}: install cell written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
