"""The exception classes that make tensorweaver's errors catchable as PyTorch's.

PyTorch raises RuntimeError where tensorweaver raised ValueError, IndexError or TypeError (a shape
mismatch, a bad view, a bad device string, an out-of-range gather index, a float index tensor).
Each class here derives from both, so code ported from PyTorch (``except RuntimeError``) and code
written for tensorweaver (``except ValueError``) both catch it. They are public as
``tw.errors.*``; raise them, never their bases, where PyTorch's class differs from ours.
"""

from __future__ import annotations

__all__ = [
    "ShapeError",
    "DeviceError",
    "IndexOutOfRangeError",
    "IndexDtypeError",
    "DtypeError",
    "DataError",
    "SizeError",
    "ZeroStepError",
]


class ShapeError(ValueError, RuntimeError):
    """Shapes that don't fit: operands that can't be broadcast, a bad ``view``/``reshape``
    (PyTorch: RuntimeError)."""


class DeviceError(ValueError, RuntimeError):
    """A device string or index that names no device (PyTorch: RuntimeError)."""


class IndexOutOfRangeError(IndexError, RuntimeError):
    """An index outside its dimension in ``gather``, ``scatter_add``, ``narrow`` (PyTorch:
    RuntimeError; ``index_select``/``embedding``/``nll_loss`` raise a plain IndexError, as PyTorch)."""


class IndexDtypeError(TypeError, RuntimeError):
    """An index tensor that is not of an integer dtype (PyTorch: RuntimeError)."""


class DtypeError(TypeError, RuntimeError):
    """A mask or condition tensor that is not bool in ``masked_fill``/``where`` (PyTorch: RuntimeError)."""


class DataError(TypeError, ValueError):
    """Data ``tw.tensor`` can't hold: a ragged list, an int beyond int64 (PyTorch: ValueError), an
    object that is not a number (PyTorch and tensorweaver before: TypeError)."""


class SizeError(TypeError, ValueError):
    """A size that is not a tuple of ints, ``ones((2, 3.5))`` (PyTorch: TypeError; tensorweaver
    raised ValueError)."""


class ZeroStepError(ZeroDivisionError, RuntimeError):
    """``arange`` with a step of 0 (PyTorch: RuntimeError)."""
