"""The exercise index (book/solutions.md), generated from the chapters.

Each exercise is written once, in its chapter: a label ``(ex-NN-K)=``
directly above an admonition titled ``Exercise N.K``, with its solution in
the drop-down under it. At every build this extension replaces the line
``<!-- exercise-index -->`` of the index page with one section per chapter,
listing each exercise's number (a link to it) and the first sentence of its
statement: the index can neither drift from the chapters nor hold an answer.

A label whose number differs from its admonition's title, an admonition
without a label, or an index page without the marker is a build warning (an
error under ``--warningiserror``). Registered in _config.yml
(``sphinx.local_extensions`` and ``sphinx.config.extensions``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

INDEX_DOC = "book/solutions"
MARKER = "<!-- exercise-index -->"
CHAPTER = re.compile(r"^book/(\d\d)_[A-Za-z0-9_]+$")
# (ex-NN-K)= then an admonition (::: or ```) titled "Exercise N.K": its
# options, its body
EXERCISE = re.compile(
    r"^\((?P<label>ex-(?P<ch>\d+)-(?P<k>\d+))\)=[ \t]*\n"
    r"(?P<fence>:::+|```+)\{admonition\}[ \t]*(?P<title>[^\n]*)\n"
    r"(?P<options>(?::[^\n]*\n)*)"
    r"(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S,
)
ADMONITION_TITLE = re.compile(
    r"^(?::::*|```+)\{admonition\}[ \t]*Exercise\b", re.M
)


@dataclass(frozen=True)
class Exercise:
    label: str
    number: str  # "1.1"
    first_sentence: str


def first_sentence(text: str) -> str:
    """The statement up to its first . ? or ! outside math and code."""
    text = " ".join(text.split())
    in_math = in_code = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "`" and not in_math:
            in_code = not in_code
        elif c == "$" and not in_code:
            if text.startswith("$$", i):
                i += 1
            in_math = not in_math
        elif (
            c in ".?!"
            and not (in_math or in_code)
            and (i + 1 == len(text) or text[i + 1] == " ")
        ):
            return text[: i + 1]
        i += 1
    return text


def chapter_title(path: Path) -> str:
    """The text of the notebook's one ``# `` heading."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def chapter_exercises(path: Path) -> list[Exercise]:
    """The exercises of one chapter notebook, their numbering checked."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found: list[Exercise] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        labelled = 0
        for m in EXERCISE.finditer(source):
            labelled += 1
            number = f"{int(m['ch'])}.{int(m['k'])}"
            if m["title"].strip() != f"Exercise {number}":
                logger.warning(
                    f"{path.name}: label ({m['label']})= stands above "
                    f"the admonition {m['title'].strip()!r}, expected "
                    f"'Exercise {number}'",
                    type="exercise_index",
                )
            found.append(
                Exercise(m["label"], number, first_sentence(m["body"]))
            )
        if len(ADMONITION_TITLE.findall(source)) != labelled:
            logger.warning(
                f"{path.name}: an 'Exercise' admonition without a "
                "(ex-NN-K)= label directly above it",
                type="exercise_index",
            )
    return found


def index_markdown(app: Sphinx) -> str:
    lines: list[str] = []
    srcdir = Path(app.srcdir)
    for docname in sorted(d for d in app.env.found_docs if CHAPTER.match(d)):
        path = srcdir / f"{docname}.ipynb"
        if not path.is_file():
            continue
        exercises = chapter_exercises(path)
        if not exercises:
            continue
        number = int(CHAPTER.match(docname).group(1))
        # (a {doc} role in a heading would show its target path in the
        # page's table of contents)
        lines += ["", f"## Chapter {number}: {chapter_title(path)}", ""]
        lines += [
            f"- {{ref}}`Exercise {ex.number} <{ex.label}>`: {ex.first_sentence}"
            for ex in exercises
        ]
    return "\n".join(lines) + "\n"


def fill_index(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != INDEX_DOC:
        return
    count = source[0].count(MARKER)
    if count != 1:
        logger.warning(
            f"{docname}: expected the line {MARKER} once, "
            f"found it {count} times",
            type="exercise_index",
        )
        return
    source[0] = source[0].replace(MARKER, index_markdown(app))


def always_reread_index(
    app: Sphinx, env: Any, added: set, changed: set, removed: set
) -> list:
    """The index depends on every chapter: re-read it on every build."""
    return [INDEX_DOC] if INDEX_DOC in env.found_docs else []


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", fill_index)
    app.connect("env-get-outdated", always_reread_index)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
