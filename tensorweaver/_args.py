"""Argument checks shared by Tensor and the ops: dimension indexes, the kinds of Python scalars,
and the error for tensors of two devices meeting in one op."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

__all__ = ["SCALAR_RANK", "IntOrSeq", "check_dim", "device_error"]

#: a size given per spatial dimension or once for all of them (stride, padding, dilation, ...)
IntOrSeq = Union[int, Sequence[int]]

#: the kind rank of a Python scalar type (as ``_dtypes._KIND_RANK``: bool < int < float < complex)
SCALAR_RANK = {bool: 0, int: 1, float: 2, complex: 3}


def check_dim(dim: int, ndim: int) -> int:
    """A dimension index in ``[-ndim, ndim)`` made non-negative (a 0-d tensor has dims -1 and 0, as
    in PyTorch); an IndexError names the range."""
    n = max(ndim, 1)
    if not isinstance(dim, int) or not -n <= dim < n:
        raise IndexError(f"dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def device_error(what: str, a, b) -> RuntimeError:
    """The error for tensors on devices ``a`` and ``b`` meeting in ``what`` (an op's name)."""
    return RuntimeError(
        f"{what}: expected all tensors to be on the same device, but found at least two devices, {a} and {b}"
    )
