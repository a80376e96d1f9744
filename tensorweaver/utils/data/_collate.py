"""``default_collate`` (a list of samples -> one batch) and ``default_convert`` (NumPy -> tensors), as
in PyTorch: the structure of a sample is kept, its leaves are stacked."""

from __future__ import annotations

import collections.abc
import copy
from typing import Any

from ... import _dtypes
from ...ops import stack
from ...tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_numpy(x) -> bool:
    # NOTE: recognized by module so that this package never imports numpy (see backends/)
    return type(x).__module__ == "numpy" and hasattr(x, "dtype")


def _stack(tensors: list[Tensor]) -> Tensor:
    first = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != first.shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first.shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    return stack(tensors)


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch, recursively, as PyTorch does.

    Tensors are stacked (a new first dim); NumPy arrays and scalars become tensors of their dtype
    and are stacked; Python floats become a float64 tensor, ints int64, bools bool; strings and
    bytes stay a list. A dict (Mapping) gives a dict of batches by key, a NamedTuple a NamedTuple of
    batches, a tuple or list a list of batches (a list subclass keeps its type). Tensors of
    different shapes are PyTorch's error "stack expects each tensor to be equal size".
    """
    out: Any
    elem: Any = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if _is_numpy(elem):
        if elem.dtype.kind in "SUO":
            raise TypeError(_ERROR.format(elem.dtype))
        return _stack([Tensor(b) for b in batch])
    if isinstance(elem, bool):
        return Tensor(batch, dtype=_dtypes.bool)
    if isinstance(elem, float):
        return Tensor(batch, dtype=_dtypes.float64)
    if isinstance(elem, int):
        return Tensor(batch, dtype=_dtypes.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        merged = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            out = copy.copy(elem)
            out.update(merged)  # type: ignore[attr-defined]
            return out
        except (AttributeError, TypeError):
            return merged  # a Mapping that is not a mutable dict-like
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # NamedTuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch, strict=True)))
    if isinstance(elem, collections.abc.Sequence):
        n = len(elem)
        if any(len(s) != n for s in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(list(s)) for s in zip(*batch, strict=True)]
        if isinstance(elem, tuple):
            return columns  # a list, as in PyTorch
        if isinstance(elem, collections.abc.MutableSequence):
            out = copy.copy(elem)
            for i, c in enumerate(columns):
                out[i] = c
            return out
        try:
            return type(elem)(columns)  # type: ignore[call-arg]
        except TypeError:
            return columns
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """What a DataLoader without batching (``batch_size=None``) does to each sample: NumPy arrays
    and scalars become tensors (recursively in dicts, NamedTuples, tuples and lists; tuples become
    lists); everything else is returned as it is."""
    out: Any
    if isinstance(data, Tensor):
        return data
    if _is_numpy(data):
        return data if data.dtype.kind in "SUO" else Tensor(data)
    if isinstance(data, collections.abc.Mapping):
        merged = {key: default_convert(v) for key, v in data.items()}
        try:
            out = copy.copy(data)
            out.update(merged)  # type: ignore[attr-defined]
            return out
        except (AttributeError, TypeError):
            return merged
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        if isinstance(data, collections.abc.MutableSequence):
            out = copy.copy(data)
            for i, c in enumerate(converted):
                out[i] = c
            return out
        try:
            return type(data)(converted)  # type: ignore[call-arg]
        except TypeError:
            return converted
    return data
