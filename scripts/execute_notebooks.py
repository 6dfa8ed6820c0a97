"""Re-execute chapters in place, top to bottom, each in a fresh kernel.

    python scripts/execute_notebooks.py            # every notebook listed in _toc.yml
    python scripts/execute_notebooks.py book/03_categorical_cross_entropy.ipynb

Each notebook runs with its own folder as the working directory (as nbval runs it), under the
thread settings the stored outputs are generated with. Review `git diff` afterwards: a changed
number in a chapter is a changed claim in the book.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from toc import toc_notebooks  # noqa: E402

# The same environment the tests give the kernel: deterministic hashing and thread count.
os.environ.setdefault("PYTHONHASHSEED", "0")


def execute(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    nbformat.write(nb, path)


def coalesce_streams(outputs: list) -> list:
    """Join consecutive stdout chunks: how a print is split into messages varies from run to run."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.output_type == "stream" and previous is not None
                and previous.output_type == "stream" and previous.name == output.name):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or toc_notebooks()
    for path in paths:
        print(f"executing {path.relative_to(ROOT)}", flush=True)
        execute(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
