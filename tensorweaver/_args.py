"""Argument checks shared by Tensor and the ops: dimension indexes, the kinds of Python scalars,
and the error for tensors of two devices meeting in one op."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

__all__ = ["SCALAR_RANK", "IntOrSeq", "check_dim", "check_index_range", "device_error", "index_checks"]

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


class _IndexChecks:
    """Whether index and target arguments are range-checked on CUDA (``tw.utils.debug_indices``)."""

    __slots__ = ("debug",)

    def __init__(self) -> None:
        self.debug = False


index_checks = _IndexChecks()


def check_index_range(b, a, n: int, what: str, *, negative: bool = False, allowed=None, error=None) -> None:
    """Raise if the integer array ``a`` (on backend ``b``) holds a value outside ``[0, n)`` (``[-n, n)``
    with ``negative``; ``allowed``: one more value that is fine, an ``ignore_index``): the Backend's
    ``check_index_range``, one call that tw.compile records as a check of the replayed step."""
    b.check_index_range(a, n, what, negative=negative, allowed=allowed, error=error)
