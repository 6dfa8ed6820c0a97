"""The book's figure style: opaque white figures, a palette, and no failure outside a notebook."""

from __future__ import annotations

import re
import sys
import types

import pytest

mpl = pytest.importorskip("matplotlib")
pytest.importorskip("seaborn")


@pytest.fixture
def agg():
    """Matplotlib's non-interactive backend, with every rcParam restored afterwards."""
    previous = mpl.get_backend()
    mpl.use("Agg")
    with mpl.rc_context():
        yield
    mpl.use(previous)


def test_use_book_style_gives_white_opaque_figures(agg):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from ce_lib.plotting import use_book_style

    use_book_style()
    rc = mpl.rcParams
    assert to_rgba(rc["figure.facecolor"]) == (1.0, 1.0, 1.0, 1.0)
    assert to_rgba(rc["axes.facecolor"]) == (1.0, 1.0, 1.0, 1.0)
    assert to_rgba(rc["savefig.facecolor"]) == (1.0, 1.0, 1.0, 1.0)
    assert rc["savefig.transparent"] is False
    fig, ax = plt.subplots()
    try:
        assert fig.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
        assert ax.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
        ax.plot([0, 1], [0, 1])
    finally:
        plt.close(fig)
    # seaborn's whitegrid: a grid on white axes
    assert rc["axes.grid"] is True


def test_use_book_style_outside_ipython_does_not_fail(agg):
    from IPython import get_ipython

    from ce_lib.plotting import use_book_style

    assert get_ipython() is None
    use_book_style()
    use_book_style()  # idempotent


def test_use_book_style_inside_a_kernel_asks_for_png(agg, monkeypatch):
    """In a notebook kernel the inline figures are PNG."""
    import IPython
    import matplotlib_inline.backend_inline as inline

    from ce_lib.plotting import use_book_style

    calls = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace())
    monkeypatch.setattr(inline, "set_matplotlib_formats", lambda *f: calls.append(f))
    use_book_style()
    assert calls == [("png",)]


def test_colors():
    from matplotlib.colors import to_rgba

    from ce_lib.plotting import COLORS

    assert set(COLORS) == {"target", "other", "ours", "reference", "naive"}
    for color in COLORS.values():
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", color)
        to_rgba(color)
    assert len(set(COLORS.values())) == len(COLORS)


def test_import_ce_lib_does_not_import_matplotlib():
    import subprocess

    code = ("import sys, ce_lib, ce_lib.plotting; "
            "assert 'matplotlib' not in sys.modules and 'seaborn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
