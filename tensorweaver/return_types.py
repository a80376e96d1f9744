"""The named tuples that ops with two results return, like ``torch.return_types``:
``values, indices = tw.sort(x)`` or ``tw.topk(x, 3).indices``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .tensor import Tensor
else:
    Tensor = Any

__all__ = ["sort", "topk"]


class sort(NamedTuple):  # noqa: N801 - PyTorch's name (torch.return_types.sort)
    """What ``tw.sort`` returns: the sorted ``values`` and their ``indices`` in the input."""

    values: Tensor
    indices: Tensor


class topk(NamedTuple):  # noqa: N801 - PyTorch's name (torch.return_types.topk)
    """What ``tw.topk`` returns: the ``k`` largest (or smallest) ``values`` and their ``indices``."""

    values: Tensor
    indices: Tensor
