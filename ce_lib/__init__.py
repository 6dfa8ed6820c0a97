"""Cross-entropy losses, the activations they are built from, and their closed-form gradients.

One API, two backends with the same names and semantics:

* :mod:`ce_lib.numpy`: NumPy arrays (and array-likes) in, NumPy arrays out;
* :mod:`ce_lib.torch`: tensors in, tensors out, differentiable, on any device.

``ce_lib.<name>`` picks the backend from the arguments: any ``torch.Tensor`` among them selects
:mod:`ce_lib.torch`, anything else :mod:`ce_lib.numpy`. PyTorch is imported only when a tensor
is passed (or :mod:`ce_lib.torch` is imported), so ``import ce_lib`` needs only NumPy.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any

from . import numpy as _numpy_backend

__version__ = "0.1.0"
__all__ = list(_numpy_backend.__all__)


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only if torch was imported
    return torch is not None and isinstance(x, torch.Tensor)


def _dispatching(name: str) -> Callable[..., Any]:
    numpy_fn = getattr(_numpy_backend, name)

    @functools.wraps(numpy_fn)
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        if any(_is_tensor(a) for a in (*args, *kwargs.values())):
            return getattr(importlib.import_module("ce_lib.torch"), name)(*args, **kwargs)
        return numpy_fn(*args, **kwargs)

    dispatch.__module__ = __name__
    return dispatch


for _name in __all__:
    globals()[_name] = _dispatching(_name)
del _name
