"""Differentiable ops, grouped by kind; ``bind_tensor_methods`` makes them Tensor operators.

Each op module declares its public functions in ``__all__`` (re-exported here and as ``tw.*``)
and the Tensor methods it provides in ``TENSOR_METHODS``.
"""

from __future__ import annotations

from .. import _dtypes
from ..autograd.function import output, record
from . import (
    activation,
    compare,
    conv,
    elementwise,
    indexing,
    linalg,
    loss,
    normalization,
    reduce,
    shape,
    sorting,
    unary,
)
from ._common import Function, Tensor, cast, state
from .activation import *  # noqa: F403
from .compare import *  # noqa: F403
from .conv import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .elementwise import add, div, mul, neg, pow, rdiv, rpow, rsub, sub
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .linalg import matmul
from .reduce import *  # noqa: F403
from .shape import *  # noqa: F403
from .shape import mT_, t_
from .sorting import *  # noqa: F403
from .unary import *  # noqa: F403

_MODULES = (
    elementwise,
    unary,
    activation,
    compare,
    reduce,
    shape,
    indexing,
    linalg,
    conv,
    normalization,
    loss,
    sorting,
)

# NOTE: spelled out (not a comprehension over _MODULES) so that type checkers see every name
__all__: list[str] = []
__all__ += elementwise.__all__
__all__ += unary.__all__
__all__ += activation.__all__
__all__ += compare.__all__
__all__ += reduce.__all__
__all__ += shape.__all__
__all__ += indexing.__all__
__all__ += linalg.__all__
__all__ += conv.__all__
__all__ += normalization.__all__
__all__ += loss.__all__
__all__ += sorting.__all__
__all__ += ["astype", "to_backend"]


class ToBackend(Function):
    """Move to another backend/device through the host; the gradient moves back.

    NOTE: the one op whose output lives on another backend than its input: its backward_array is
    needed for correctness (the engine wraps gy on the input's backend for a Tensor backward)."""

    __slots__ = ("dst",)

    def backward(self, gy):
        return (to_backend(gy, self.inputs[0]._backend),)

    def backward_array(self, xp, gy):
        src = self.inputs[0]._backend
        return (src.transfer(self.dst.transfer(gy, to_host=True), to_host=False),)


def to_backend(x: Tensor, b) -> Tensor:
    """``x`` copied to backend ``b`` (an explicit, counted host round trip)."""
    arr = b.transfer(x._backend.transfer(x._data, to_host=True), to_host=False)
    out = output(arr, b)
    if x._requires_grad and state.enabled:
        fn = ToBackend()
        fn.dst = b
        record(fn, out, (x,))
    return out


def astype(x: Tensor, dtype) -> Tensor:
    """``x`` as ``dtype`` (differentiable: the gradient is cast back)."""
    return cast(x, _dtypes.to_dtype(dtype))


def bind_tensor_methods(cls) -> None:
    """Make the ops Tensor operators and methods (called once, by tensorweaver.tensor)."""
    for module in _MODULES:
        for name, fn in module.TENSOR_METHODS.items():
            setattr(cls, name, fn)
    cls.__add__ = cls.__radd__ = add
    cls.__sub__ = sub
    cls.__rsub__ = rsub
    cls.__mul__ = cls.__rmul__ = mul
    cls.__truediv__ = div
    cls.__rtruediv__ = rdiv
    cls.__pow__ = pow
    cls.__rpow__ = rpow
    cls.__neg__ = neg
    cls.__pos__ = lambda self: self
    cls.__matmul__ = matmul
    cls.__rmatmul__ = lambda self, other: matmul(other, self)
    cls.T = property(t_, doc="All dimensions reversed (a matrix transposed).")
    cls.mT = property(mT_, doc="The last two dimensions swapped.")
