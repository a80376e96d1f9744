"""The CPU backend's array-API namespace: NumPy itself, with its hottest calls on fast paths.

NumPy >= 2 carries the array-API names in its main namespace, so ``array_api_compat.numpy`` is not
needed on the CPU; importing it would also import every lazy NumPy submodule (f2py, testing: about
half of ``import tensorweaver`` and 11-18 MB of RSS, see benchmarks/NOTES.md). For the small arrays
of an autograd step, NumPy's Python-level functions (``np.sum``, ``np.mean``, ``np.reshape``) cost
2-5x the ufunc or ndarray method they end in; the replacements below call those directly and fall
back to NumPy's function wherever the semantics could differ.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

__all__ = ["namespace"]

_add_reduce = np.add.reduce
_np_sum = np.sum
_np_mean = np.mean
_np_reshape = np.reshape
_np_astype = np.astype


def _sum(x, /, *, axis=None, dtype=None, keepdims=False):
    # Floating sums are np.add.reduce exactly; integer sums upcast in np.sum (kept).
    if dtype is None and x.dtype.kind in "fc":
        return _add_reduce(x, axis=axis, keepdims=keepdims)
    return _np_sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _mean(x, /, *, axis=None, keepdims=False):
    # np.mean of float32/float64/complex is add.reduce divided by the count (float16 accumulates
    # in float32 there, and empty inputs warn: both kept on np.mean).
    if x.dtype.kind in "fc" and x.dtype.itemsize >= 4 and x.size:
        s = _add_reduce(x, axis=axis, keepdims=keepdims)
        return s / (x.size // s.size)
    return _np_mean(x, axis=axis, keepdims=keepdims)


def _reshape(x, /, shape, *, copy=None):
    return x.reshape(shape) if copy is None else _np_reshape(x, shape, copy=copy)


def _permute_dims(x, /, axes):
    return x.transpose(axes)


def _astype(x, dtype, /, *, copy=True, device=None):
    return x.astype(dtype, copy=copy) if device is None else _np_astype(x, dtype, copy=copy, device=device)


_np_ones_like = np.ones_like
_np_array = np.array


def _ones_like(x, /, *, dtype=None, device=None):
    # np.ones_like is Python code (empty_like + copyto); the 0-d case (a loss) is one C call.
    if x.ndim == 0 and device is None:
        return _np_array(1, dtype=x.dtype if dtype is None else dtype)
    return _np_ones_like(x, dtype=dtype, device=device)


_np_broadcast_to = np.broadcast_to
_np_empty = np.empty
_SMALL = 4096  # elements: below this a filled copy is cheaper than NumPy's Python-level broadcast_to


def _broadcast_to(x, /, shape):
    # NumPy's broadcast_to is Python code (~4 us); a small result is cheaper filled than viewed.
    # Large ones stay zero-copy views.
    shape = tuple(shape)
    n = 1
    for s in shape:
        n *= s
    if n > _SMALL or x.ndim > len(shape):
        return _np_broadcast_to(x, shape)
    out = _np_empty(shape, x.dtype)
    out[...] = x  # raises ValueError for shapes that don't broadcast, as broadcast_to does
    return out


def _make_namespace() -> types.ModuleType:
    ns: Any = types.ModuleType("tensorweaver.backends.numpy_namespace", __doc__)
    ns.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})
    ns.sum = _sum
    ns.mean = _mean
    ns.reshape = _reshape
    ns.permute_dims = _permute_dims
    ns.astype = _astype
    ns.broadcast_to = _broadcast_to
    ns.ones_like = _ones_like
    # NumPy's lazily loaded submodules (linalg, fft, ...) resolve on first use, as on numpy itself.
    ns.__getattr__ = lambda name: getattr(np, name)
    return ns


namespace = _make_namespace()
