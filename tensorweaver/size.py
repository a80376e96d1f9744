"""``tw.Size``: what ``Tensor.shape`` and ``Tensor.size()`` return, a tuple of ints like ``torch.Size``."""

from __future__ import annotations

import operator
from typing import SupportsIndex, overload

__all__ = ["Size"]


class Size(tuple):
    """A tensor's shape: a tuple of ints (equal to and hashed like the plain tuple) with ``numel()``;
    slicing it, adding a tuple to it or repeating it gives a Size again. ``repr``: ``tw.Size([2, 3])``.

    NOTE: ``str()`` and f-strings give the plain tuple, ``(2, 3)`` (PyTorch's str is its repr), so that
    messages that name a shape read the same whether they got a Size or a tuple."""

    __slots__ = ()

    def __new__(cls, sizes=()):
        return tuple.__new__(cls, (operator.index(s) for s in sizes))

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (1 for ``Size([])``)."""
        n = 1
        for s in self:
            n *= s
        return n

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Size: ...
    def __getitem__(self, index):
        r = tuple.__getitem__(self, index)
        return tuple.__new__(Size, r) if isinstance(index, slice) else r

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(other, self))

    def __mul__(self, n):
        return tuple.__new__(Size, tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"tw.Size({list(self)})"

    def __str__(self) -> str:
        return tuple.__repr__(self)

    def __reduce__(self):
        return Size, (tuple(self),)
