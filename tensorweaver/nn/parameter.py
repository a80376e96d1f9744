"""``Parameter`` (a tensor a Module trains) and ``Buffer`` (module state that is not trained)."""

from __future__ import annotations

from typing import cast

from .. import factories
from ..tensor import Tensor

__all__ = ["Parameter", "Buffer"]


def _storage_of(data: Tensor | None, what: str) -> Tensor:
    if data is None:
        return factories.empty(0)
    if not isinstance(data, Tensor):
        raise TypeError(f"{what}(data): expected a Tensor, got {type(data).__name__}")
    return data


class Parameter(Tensor):
    """A tensor that a ``Module`` registers as a parameter when assigned as an attribute.

    ``Parameter(data=None, requires_grad=True)`` shares ``data``'s storage (no copy) and is a
    leaf: a parameter made from the result of an op is detached from that op's graph.
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        data = _storage_of(data, "Parameter")
        p = cast(Parameter, cls._wrap(data._data, data._backend))
        p.requires_grad_(requires_grad)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything is done in __new__; Tensor.__init__ would copy the data

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


class Buffer(Tensor):
    """A tensor that a ``Module`` registers as a buffer when assigned as an attribute.

    ``Buffer(data=None, *, persistent=True)`` shares ``data``'s storage; a non-persistent buffer
    is left out of ``state_dict()``.
    """

    persistent: bool

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        data = _storage_of(data, "Buffer")
        b = cast(Buffer, cls._wrap(data._data, data._backend))
        b._requires_grad = data._requires_grad
        b.persistent = persistent
        return b

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        pass  # see Parameter.__init__
