"""Sorting: sort, argsort, topk (the values are a ``gather`` of the input at the sorted indices, so
their gradient flows back to the positions they came from)."""

from __future__ import annotations

from .. import _dtypes, return_types
from ._common import Tensor, check_dim, write_out, write_out_pair
from .indexing import gather

__all__ = ["sort", "argsort", "topk", "msort"]


def _argsort(x: Tensor, axis: int, descending: bool, stable: bool):
    """int64 indices that sort ``x`` along ``axis``; NaN counts as the largest value (as PyTorch).

    NOTE: always stable (the unstable order PyTorch allows is one of the stable ones); descending is
    the ascending sort of the reversed array, reversed back, which keeps ties in their input order
    (NumPy's argsort has no ``descending``)."""
    b = x._backend
    xp, a = b.xp, x._data
    if a.dtype == b.native_dtype(_dtypes.bool):  # array-API sorts take numbers only
        a = xp.astype(a, b.native_dtype(_dtypes.uint8))
    if descending:
        n = a.shape[axis]
        r = xp.flip(xp.argsort(xp.flip(a, axis=axis), axis=axis, stable=True), axis=axis)
        r = (n - 1) - r
    else:
        r = xp.argsort(a, axis=axis, stable=True)
    if r.dtype != b.native_dtype(_dtypes.int64):
        r = xp.astype(r, b.native_dtype(_dtypes.int64))
    return r


def _check(x, what: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}(): input must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind == "c":
        raise RuntimeError(f"{what}(): complex tensors have no order, got {x.dtype}")


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False, *, out=None) -> return_types.sort:
    """``(values, indices)`` of ``x`` sorted along ``dim`` (ascending unless ``descending``); NaN sorts
    as the largest value. Always stable (equal values keep their order). ``values`` is
    differentiable: its gradient goes back to the position each value came from."""
    if out is not None:
        return write_out_pair(out, sort(x, dim, descending, stable), "sort")
    _check(x, "sort")
    if x._data.ndim == 0:
        check_dim(dim, 0)
        values, indices = sort(x.reshape(1), 0, descending)
        return return_types.sort(values.reshape(()), indices.reshape(()))
    axis = check_dim(dim, x._data.ndim)
    idx = Tensor._wrap(_argsort(x, axis, bool(descending), bool(stable)), x._backend)
    return return_types.sort(gather(x, axis, idx), idx)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The int64 indices that sort ``x`` along ``dim`` (``sort(x, ...).indices``); stable."""
    _check(x, "argsort")
    if x._data.ndim == 0:
        check_dim(dim, 0)
        return argsort(x.reshape(1), 0, descending).reshape(())
    axis = check_dim(dim, x._data.ndim)
    return Tensor._wrap(_argsort(x, axis, bool(descending), bool(stable)), x._backend)


def msort(x: Tensor, *, out=None) -> Tensor:
    """``x`` sorted along its first dimension (``sort(x, dim=0).values``)."""
    if out is not None:
        return write_out(out, msort(x), "msort")
    return sort(x, 0).values


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *, out=None) -> return_types.topk:  # noqa: A002
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) entries of ``x`` along
    ``dim``, largest first (smallest first); NaN counts as the largest. The values are always
    sorted (``sorted=False`` allows any order, as in PyTorch) and differentiable."""
    if out is not None:
        return write_out_pair(out, topk(x, k, dim, largest, sorted), "topk")
    _check(x, "topk")
    if isinstance(k, bool) or not hasattr(k, "__index__"):
        raise TypeError(f"topk(): k must be an int, got {type(k).__name__}")
    k = k.__index__()
    if x._data.ndim == 0:
        check_dim(dim, 0)
        if k not in (0, 1):
            raise RuntimeError(f"topk(): selected index k ({k}) out of range for a 0-d tensor")
        values, indices = topk(x.reshape(1), k, 0, largest)
        return return_types.topk(values.reshape(()), indices.reshape(())) if k else return_types.topk(values, indices)
    axis = check_dim(dim, x._data.ndim)
    n = x._data.shape[axis]
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k ({k}) out of range: dimension {axis} has size {n}")
    b = x._backend
    idx = _argsort(x, axis, bool(largest), True)
    idx = idx[(slice(None),) * axis + (slice(0, k), Ellipsis)]
    indices = Tensor._wrap(idx, b)
    return return_types.topk(gather(x, axis, indices), indices)


TENSOR_METHODS = {"sort": sort, "argsort": argsort, "topk": topk, "msort": msort}
