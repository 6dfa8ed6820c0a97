"""The book's figure style, set once and shared by every chapter.

Needs matplotlib and seaborn (``pip install ce_lib[plot]``); they are imported only when
:func:`use_book_style` is called, so ``import ce_lib`` never pulls them in.
"""

from __future__ import annotations

#: Colour-blind-safe colours used consistently across chapters.
COLORS = {
    "target": "#0173b2",  # the true class / label 1
    "other": "#de8f05",  # other classes / label 0
    "ours": "#029e73",  # ce_lib
    "reference": "#d55e00",  # PyTorch or another reference
    "naive": "#cc78bc",  # a naive formula
}


def use_book_style() -> None:
    """Apply the book's figure style.

    seaborn's ``whitegrid`` theme with a colour-blind palette, an opaque white background
    (figures stay readable when the website is in dark mode) and PNG output for inline
    figures (nbval compares SVG text, not PNG bytes).
    """
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "savefig.transparent": False,
            "axes.titleweight": "bold",
        }
    )
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter kernel
        return
    if get_ipython() is not None:  # inside a notebook kernel
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
