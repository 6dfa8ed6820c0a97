"""The chapters listed in _toc.yml: the single source of truth for what nbval must check."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _files(entries: list[dict]) -> list[str]:
    out: list[str] = []
    for entry in entries:
        if "file" in entry:
            out.append(entry["file"])
        out.extend(_files(entry.get("chapters", []) + entry.get("sections", [])))
    return out


def toc_files() -> list[str]:
    """Every document of the book, as written in _toc.yml (no suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *_files(toc.get("parts", []) + toc.get("chapters", []))]


def toc_notebooks() -> list[Path]:
    """The documents of the book that are notebooks."""
    paths = [ROOT / f"{name}.ipynb" for name in toc_files()]
    return [p for p in paths if p.exists()]
