"""The book's checks: compare, assert, and print a line that is the same on every CPU.

Every chapter proves its claims with these functions. A check **raises** :class:`CheckFailed`
when its claim is false, saying which claim failed and by how much; when it holds, it prints
one line that names the claim and the tolerance that was met, never the residual itself (the
last bits of a residual differ between CPUs, BLAS kernels and thread counts; the tolerance
does not)::

    >>> check_close("softmax sums to one", p.sum(), 1.0, rtol=4 * EPS64)
    ✓ softmax sums to one (rtol 4·EPS64)

Tolerances should follow from the mathematics and the dtype: a few units of
:data:`EPS64` (``2**-52``) for a float64 identity, a few units of :data:`EPS32` for float32,
``O(h**2)`` for a central finite difference with step ``h``. :func:`glue` hands a number that
the prose quotes to myst-nb, formatted once, so text and cell can never disagree.

Arrays, tensors (any dtype, any device) and Python numbers are accepted alike; they are
compared in float64. Needs only NumPy; PyTorch is used only if a tensor is passed.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = [
    "EPS16",
    "EPS32",
    "EPS64",
    "EPSBF16",
    "CheckFailed",
    "check_bound",
    "check_close",
    "check_equal",
    "check_rounded",
    "check_true",
    "glue",
]

#: Machine epsilon (the gap between 1 and the next number) of each format.
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)
EPS16 = float(np.finfo(np.float16).eps)
EPSBF16 = 2.0**-7

_PASS = "✓"


class CheckFailed(AssertionError):
    """A claim that a chapter checks turned out to be false."""


def _is_bfloat16(x: Any) -> bool:
    return "bfloat16" in str(getattr(x, "dtype", ""))


def _to_float64(x: Any) -> np.ndarray:
    """Any array, tensor or number as a float64 NumPy array (exact for every float format)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError("checks compare real numbers; got a complex array")
    return arr.astype(np.float64)


def _fmt(v: float) -> str:
    """A tolerance, as a whole number of :data:`EPS64` when it is one (``4·EPS64``, as the code
    writes it; ``8.9e-16`` would read like a residual), else to 2 significant digits."""
    if 0 < v < 1e-10:
        units = round(v / EPS64)
        if units >= 1 and abs(v / EPS64 - units) <= 1e-9 * units:
            return f"{units}·EPS64"
    return f"{v:.2g}" if v != 0 else "0"


def _index(flat: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(k) for k in np.unravel_index(int(flat), shape))


def _where(index: tuple[int, ...]) -> str:
    return f" at index {index}" if index else ""


def _emit(claim: str, how: str) -> None:
    print(f"{_PASS} {claim}{f' ({how})' if how else ''}")


def check_close(
    claim: str,
    actual: Any,
    expected: Any,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    quiet: bool = False,
) -> None:
    r"""Assert :math:`|a - e| \le \mathrm{atol} + \mathrm{rtol}\,|e|` elementwise, then say so.

    ``actual`` and ``expected`` must have the same shape (no broadcasting hides a mistake).
    A NaN anywhere fails. With ``rtol = atol = 0`` the values must be equal. Prints
    ``✓ claim (rtol …, atol …)`` unless ``quiet``; raises :class:`CheckFailed` naming the
    worst element otherwise.
    """
    if rtol < 0 or atol < 0 or not np.isfinite(rtol) or not np.isfinite(atol):
        raise ValueError(f"rtol and atol must be finite and >= 0, got rtol={rtol}, atol={atol}")
    a, e = _to_float64(actual), _to_float64(expected)
    if a.shape != e.shape:
        raise CheckFailed(f"{claim}: shapes differ, {a.shape} (actual) vs {e.shape} (expected)")
    if np.isnan(a).any() or np.isnan(e).any():
        raise CheckFailed(f"{claim}: NaN in {'actual' if np.isnan(a).any() else 'expected'}")
    with np.errstate(invalid="ignore"):
        same = a == e  # also equal infinities
        diff = np.where(same, 0.0, np.abs(a - e))
        # an infinite expected value is met only by the same infinity, whatever rtol says
        allowed = np.where(np.isinf(e), 0.0, atol + rtol * np.abs(e))
    excess = np.where(diff <= allowed, 0.0, diff - allowed)
    if excess.any():
        i = _index(np.argmax(np.where(np.isnan(excess), np.inf, excess)), a.shape)
        raise CheckFailed(
            f"{claim}: |actual - expected| = {diff[i]:.3e}{_where(i)} "
            f"(actual {float(a[i])!r}, expected {float(e[i])!r}) exceeds atol + rtol*|expected| = "
            f"{allowed[i]:.3e} (rtol {_fmt(rtol)}, atol {_fmt(atol)})"
        )
    if not quiet:
        parts = [f"rtol {_fmt(rtol)}"] if rtol else []
        parts += [f"atol {_fmt(atol)}"] if atol or not rtol else []
        _emit(claim, ", ".join(parts) if (rtol or atol) else "exactly")


def check_equal(claim: str, actual: Any, expected: Any, *, quiet: bool = False) -> None:
    """Assert that two arrays (or numbers) are equal element for element, then say so.

    For results that IEEE arithmetic fixes on every machine: one correctly rounded operation,
    an integer count, a value that saturates to 0 or ``inf``. Equal shapes are required;
    NaN never equals anything. Prints ``✓ claim (exactly)``.
    """
    check_close(claim, actual, expected, quiet=True)
    if not quiet:
        _emit(claim, "exactly")


def check_true(claim: str, condition: Any, *, detail: str = "", quiet: bool = False) -> None:
    """Assert a yes/no claim (every element of ``condition`` true), then say so.

    ``detail`` is added to the failure message (say what was measured).
    """
    cond = _to_float64(condition) if not isinstance(condition, bool) else np.asarray(condition)
    if cond.size == 0 or not np.all(cond):
        raise CheckFailed(f"{claim}: false{f' ({detail})' if detail else ''}")
    if not quiet:
        _emit(claim, "")


def check_bound(
    claim: str,
    value: Any,
    *,
    upper: float | None = None,
    lower: float | None = None,
    quiet: bool = False,
) -> None:
    r"""Assert :math:`\mathrm{lower} \le v \le \mathrm{upper}` for every element, then say so.

    The printed line states the bound, not the value: ``✓ claim (≤ 1e-09)``.
    """
    if upper is None and lower is None:
        raise ValueError("check_bound needs upper, lower or both")
    v = _to_float64(value)
    if np.isnan(v).any():
        raise CheckFailed(f"{claim}: NaN")
    if upper is not None and (v > upper).any():
        raise CheckFailed(f"{claim}: max value {v.max():.3e} exceeds the upper bound {upper:.3g}")
    if lower is not None and (v < lower).any():
        raise CheckFailed(f"{claim}: min value {v.min():.3e} is below the lower bound {lower:.3g}")
    if not quiet:
        bounds = [f"≥ {lower:.3g}"] if lower is not None else []
        bounds += [f"≤ {upper:.3g}"] if upper is not None else []
        _emit(claim, ", ".join(bounds))


def _neighbours(x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x`` and its two neighbours in its own floating-point format, all as float64."""
    torch = sys.modules.get("torch")
    if _is_bfloat16(x):
        # (ascontiguousarray makes a 0-d array 1-d: keep the tensor's shape)
        f32 = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy()).reshape(x.shape)
        bits = f32.view(np.uint32).astype(np.int64)
        negative = np.signbit(f32)
        # bfloat16 is float32 with 16 fewer mantissa bits: a neighbour is 2**16 bit patterns away
        up = np.where(negative, bits - (1 << 16), bits + (1 << 16))
        down = np.where(negative, bits + (1 << 16), bits - (1 << 16))
        up = np.where(f32 == 0, 0x00010000, up)  # the smallest subnormals around +-0
        down = np.where(f32 == 0, 0x80010000, down)
        as_f = lambda b: b.astype(np.uint32).view(np.float32).astype(np.float64)  # noqa: E731
        return f32.astype(np.float64), as_f(up), as_f(down)
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"check_rounded needs a floating-point result, got dtype {arr.dtype}")
    return (
        arr.astype(np.float64),
        np.nextafter(arr, np.asarray(np.inf, arr.dtype)).astype(np.float64),
        np.nextafter(arr, np.asarray(-np.inf, arr.dtype)).astype(np.float64),
    )


def check_rounded(claim: str, actual: Any, exact: Any, *, quiet: bool = False) -> None:
    """Assert that a low-precision result is the exact value correctly rounded, then say so.

    ``actual`` is a float16, bfloat16 or float32 array or tensor and ``exact`` a float64
    reference: each element of ``actual`` must be a nearest number of its own format to
    ``exact`` (no neighbour in that format is closer). This is the strongest claim a
    low-precision result can meet, and it holds bit for bit on every machine.
    """
    x, up, down = _neighbours(actual)
    e = _to_float64(exact)
    if x.shape != e.shape:
        raise CheckFailed(f"{claim}: shapes differ, {x.shape} (actual) vs {e.shape} (expected)")
    with np.errstate(invalid="ignore"):
        err = np.abs(x - e)
        bad = ~((err <= np.abs(up - e)) & (err <= np.abs(down - e)))
    bad &= x != e  # an exact result (also an infinity equal to an infinite reference) is rounded
    bad |= np.isnan(x) | np.isnan(e)
    if bad.any():
        i = _index(np.argmax(bad), x.shape)
        raise CheckFailed(
            f"{claim}: {float(x[i])!r}{_where(i)} is not the nearest number of its format to "
            f"{float(e[i])!r} (neighbours {float(down[i])!r}, {float(up[i])!r})"
        )
    if not quiet:
        _emit(claim, "correctly rounded")


class _Text(str):
    """A string whose repr is itself, so that myst-nb inserts it without quotes."""

    def __repr__(self) -> str:
        return str(self)


def glue(name: str, value: Any, fmt: str = "") -> None:
    """Format ``value`` once with ``fmt`` and hand the text to myst-nb under ``name``.

    The prose writes ``{glue:}`name``` where the number belongs. Round well above rounding
    noise (``fmt=".6f"``, ``".4g"``): the stored text is compared on every machine. Prints
    nothing and returns nothing (so a cell may end with it); a no-op where myst-nb is missing
    (e.g. on Colab) and outside IPython (a chapter run as a script).
    """
    if isinstance(value, (float, np.floating)) and not fmt:
        raise ValueError(f"glue({name!r}): give fmt for a float, e.g. '.6f'")
    text = _Text(format(value, fmt))
    try:
        from IPython import get_ipython
        from myst_nb import glue as myst_glue
    except ImportError:  # pragma: no cover - a reader's environment without the book tools
        return
    if get_ipython() is None:  # a plain script: no notebook to hand the text to (and myst-nb
        return  # would create an IPython shell in this process)
    myst_glue(name, text, display=False)
