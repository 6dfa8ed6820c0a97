"""Cross-entropy losses, the activations they are built from, and their closed-form gradients.

One API, two backends with the same names and semantics:

* :mod:`ce_lib.numpy`: NumPy arrays (and array-likes) in, NumPy arrays out;
* :mod:`ce_lib.torch`: tensors in, tensors out, differentiable, on any device.

``ce_lib.<name>`` picks the backend from the arguments: any ``torch.Tensor`` among them selects
:mod:`ce_lib.torch`, anything else :mod:`ce_lib.numpy`. PyTorch is imported only when a tensor
is passed (or :mod:`ce_lib.torch` is imported), so ``import ce_lib`` needs only NumPy; each
backend is imported when first used, and neither imports the other.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from types import ModuleType
from typing import Any

from ._docs import DOCS

__version__ = "0.1.0"
#: The names both backends define (``linear_cross_entropy`` is torch-only: it needs autograd).
__all__ = sorted(name for name in DOCS if name != "linear_cross_entropy")


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only if torch was imported
    return torch is not None and isinstance(x, torch.Tensor)


def _backend(name: str) -> ModuleType:
    """``ce_lib.numpy`` or ``ce_lib.torch``, imported on first use: neither is needed by the other."""
    return importlib.import_module(f"ce_lib.{name}")


class _Dispatching:
    """``ce_lib.<name>``: calls the torch backend's ``name`` if an argument is a tensor, else NumPy's."""

    def __init__(self, name: str) -> None:
        self.__name__ = self.__qualname__ = name
        self.__doc__ = DOCS[name]
        self.__module__ = __name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        use_torch = any(_is_tensor(a) for a in (*args, *kwargs.values()))
        return getattr(_backend("torch" if use_torch else "numpy"), self.__name__)(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        """The NumPy backend's signature (the same as torch's), read when asked for."""
        return inspect.signature(getattr(_backend("numpy"), self.__name__))

    def __repr__(self) -> str:
        return f"<ce_lib.{self.__name__}: dispatches to ce_lib.numpy or ce_lib.torch>"


def __getattr__(name: str) -> ModuleType:
    """``ce_lib.numpy`` and ``ce_lib.torch`` as attributes, imported when first asked for."""
    if name in ("numpy", "torch"):
        return _backend(name)
    raise AttributeError(f"module 'ce_lib' has no attribute {name!r}")


for _name in __all__:
    globals()[_name] = _Dispatching(_name)
del _name
