"""How the NumPy backend turns arguments into arrays and picks the precision it computes in."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import _softmax_ce

# Blocks of this many elements (float32: 2 MiB; two threads share a 32 MiB L3): measured best
# on 2048 x 32768 logits, against 2^15..2^21. Smaller blocks pay more Python overhead per element.
_BLOCK_ELEMENTS = 1 << 19


# NumPy's ufuncs buffer 8192 elements. An operation between rows of fewer than 4096 logits and a
# column of per-row numbers (z - max, e * (scale / sum)) then takes several rows per buffer and
# first copies the column out into it: 2.5 to 3x the time of the operation itself (64 x 1000
# float32: 27 us against 10). A buffer just over one row avoids the copy (each row is one
# contiguous inner loop against one number) and changes no arithmetic. Below 256 classes the
# per-row loop costs more than the copy, so the default stays.
_ROW_BUFFER_CLASSES = range(256, 4097)


class row_buffer:
    """Within ``with row_buffer(C):``, NumPy's ufunc buffer holds one row of ``C`` elements, when
    that makes per-row operations faster (see ``_ROW_BUFFER_CLASSES``); restored on exit."""

    __slots__ = ("old", "size")

    def __init__(self, num_classes: int) -> None:
        self.size = -(-num_classes // 16) * 16 if num_classes in _ROW_BUFFER_CLASSES else 0

    def __enter__(self) -> None:
        if self.size:
            self.old = np.setbufsize(self.size)

    def __exit__(self, *exc: object) -> None:
        if self.size:
            np.setbufsize(self.old)


def as_array(x: Any, name: str) -> np.ndarray:
    """``x`` as an ndarray (lists and scalars accepted); never a copy of an ndarray."""
    if isinstance(x, np.ndarray):
        return x
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    return arr


def kind(x: np.ndarray) -> str:
    """The dtype's kind as ce_lib._validation spells it."""
    return {"f": "f", "i": "i", "u": "i", "b": "b", "c": "c"}.get(x.dtype.kind, "o")


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """Half precision is computed in float32 and rounded once at the end."""
    return np.dtype(np.float32) if np.dtype(dtype).itemsize < 4 else np.dtype(dtype)


_POOL: ThreadPoolExecutor | None = None


def _threads() -> int:
    """Honour OMP_NUM_THREADS like the compiled libraries do; else one thread per core."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def map_blocks(run: Callable[[int, int], None], num_rows: int, block: int) -> None:
    """Split the rows into one contiguous range per thread (NumPy releases the GIL in ufuncs)."""
    blocks = -(-num_rows // block)
    threads = min(_threads(), blocks) if blocks > 1 else 1
    if threads <= 1:
        run(0, num_rows)
        return
    global _POOL
    if _POOL is None or _POOL._max_workers < threads:
        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ce_lib")
    per_thread = -(-blocks // threads) * block
    bounds = [(i, min(i + per_thread, num_rows)) for i in range(0, num_rows, per_thread)]
    futures = [_POOL.submit(_with_numpy_state, _numpy_state(), run, first, last)
               for first, last in bounds]
    for future in futures:
        future.result()


def _numpy_state() -> tuple[dict[str, str], int]:
    """The calling thread's np.errstate and ufunc buffer size, which the pool's threads would
    not see otherwise (NumPy keeps them per thread, or per context from NumPy 2)."""
    return np.geterr(), np.getbufsize()


def _with_numpy_state(state: tuple[dict[str, str], int], run: Callable[[int, int], None],
                      first: int, last: int) -> None:
    errors, bufsize = state
    with np.errstate(**errors):
        old = np.setbufsize(bufsize)
        try:
            run(first, last)
        finally:
            np.setbufsize(old)


def _take_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x[np.arange(len(y)), y]


def _sub_rows(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> None:
    x[np.arange(len(y)), y] -= v


OPS = _softmax_ce.Ops(
    xp=np,
    arange=lambda n, like: np.arange(n),
    empty=lambda shape, dtype, like: np.empty(shape, dtype=dtype),
    astype=lambda x, dtype: x.astype(dtype, copy=False),
    block_elements=lambda like: _BLOCK_ELEMENTS,
    compute_dtype=compute_dtype,
    moveaxis=np.moveaxis,
    contiguous=np.ascontiguousarray,
    row_sum=lambda x: np.einsum("ij->i", x)[:, None],
    map_blocks=map_blocks,
    min_max=lambda x: (int(x.min()), int(x.max())),
    take_rows=_take_rows,
    sub_rows=_sub_rows,
)
