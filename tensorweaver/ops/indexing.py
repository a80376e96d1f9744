"""Indexing: ``t[index]`` (differentiable) and ``t[index] = value`` (in place, outside the graph).

Supported, as in PyTorch: ints, slices (positive steps), None, Ellipsis, integer tensors and (nested)
Python lists of ints, boolean mask tensors (and lists of bools), and any combination of them. Ints,
slices and None are applied first as one basic index (a view on NumPy/CuPy); the index tensors then
gather through ``take`` along one axis, so every form runs on any array-API backend, including
``array_api_strict`` (whose own advanced indexing covers only all-integer indexes). As in PyTorch,
the dims of the broadcast index tensors replace the indexed dims in place when those are adjacent
and go first otherwise (ints are basic indexing and do not count). Masks become integer indexes
through ``nonzero`` (a data-dependent size: CuPy waits for the device there). A list is one index
tensor (``t[[0, 2]]`` picks rows; a tuple gives one index per dim). Out-of-range indexes raise
IndexError on every backend. Not supported: a Python bool or a 0-d boolean tensor as an index,
uint8 tensors as masks (use bool), tensors as slice bounds.
"""

from __future__ import annotations

import operator

from .. import _dtypes
from ..tensor import _check_inplace
from ._common import Tensor, state
from .shape import _prod, _python_value, permute, reshape, slice_, take_along

__all__ = []


# -- parsing ---------------------------------------------------------------------------------------
def _flatten_list(data, out: list) -> None:
    if isinstance(data, (list, tuple)):
        for item in data:
            _flatten_list(item, out)
    else:
        out.append(data)


def _items(x: Tensor, index) -> list:
    """Each index item classified: ('int', i), ('ints', array, host values or None), ('mask', array),
    or the item itself (None, Ellipsis, a slice)."""
    items = []
    for k in index if isinstance(index, tuple) else (index,):
        if isinstance(k, Tensor):
            if k._backend is not x._backend:
                raise RuntimeError(f"indexing a tensor on {x.device} with an index tensor on {k.device}")
            d = k.dtype
            if d is _dtypes.bool and k._data.ndim:
                items.append(("mask", k._data))
            elif d.kind == "i":
                items.append(("ints", k._data, None))
            elif d is _dtypes.bool:
                raise IndexError("a 0-d boolean tensor as an index is not supported; use None to add a dim")
            else:
                raise IndexError(f"tensors used as indices must be integer (long, int) or bool tensors, got {d}")
        elif isinstance(k, bool):
            raise IndexError("a Python bool as an index is not supported; use None to add a dim")
        elif isinstance(k, list) or hasattr(k, "__array_interface__"):
            data = k.tolist() if hasattr(k, "tolist") else k
            values: list = []
            _flatten_list(data, values)
            if values and all(isinstance(v, bool) for v in values):
                items.append(("mask", Tensor(data, dtype=_dtypes.bool, device=x.device)._data))
                continue
            for v in values:
                if isinstance(v, bool) or not hasattr(v, "__index__"):
                    raise IndexError(f"an index list must hold only ints or only bools, got {v!r}")
            items.append(("ints", Tensor(data, dtype=_dtypes.int64, device=x.device)._data, values))
        elif k is None or k is Ellipsis or isinstance(k, slice):
            items.append(k)
        elif hasattr(k, "__index__"):
            items.append(("int", operator.index(k)))
        else:
            raise IndexError(
                f"only integers, slices (:), ellipsis (...), None, lists and integer or boolean tensors are "
                f"valid indices (got {type(k).__name__})"
            )
    return items


def _width(item) -> int:
    """How many dims of the indexed tensor an item consumes."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, slice) or item[0] != "mask":
        return 1
    return item[1].ndim


def _parse(x: Tensor, index):
    """``index`` as a basic key in the full form the array API takes (ints, slices, None, ending with
    Ellipsis) and the advanced part: ``(dim, array, size, host values or None, dim of x)`` per integer
    index, ``dim`` counting in the result of the basic key."""
    items = _items(x, index)
    shape = tuple(x._data.shape)
    used = sum(_width(it) for it in items)
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis (...)")
    if used > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)} (shape {shape})")
    key: list = []
    advanced: list = []
    dim = 0  # the dim of x the next item indexes
    out = 0  # that dim's position in the result of the basic key
    for it in items:
        if it is None:
            key.append(None)
            out += 1
        elif it is Ellipsis:
            fill = len(shape) - used
            key.extend([slice(None)] * fill)
            dim += fill
            out += fill
        elif isinstance(it, slice):
            key.append(_check_slice(it, shape[dim]))
            dim += 1
            out += 1
        elif it[0] == "int":
            n, i = shape[dim], it[1]
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {n}")
            key.append(i % n)
            dim += 1
        elif it[0] == "ints":
            n, values = shape[dim], it[2]
            if values is not None:  # a list: its values are still on the host, check them there
                for v in values:
                    if not -n <= v < n:
                        raise IndexError(f"index {v} is out of bounds for dimension {dim} with size {n}")
            key.append(slice(None))
            advanced.append((out, it[1], n, values, dim))
            dim += 1
            out += 1
        else:  # a mask over the next k dims: the integer indexes of its True elements (in range)
            mask = it[1]
            k = mask.ndim
            if tuple(mask.shape) != shape[dim : dim + k]:
                raise IndexError(
                    f"the shape of the mask {tuple(mask.shape)} does not match the shape {shape[dim : dim + k]} "
                    f"of the indexed tensor (shape {shape}) at dims {dim}..{dim + k - 1}"
                )
            for j, arr in enumerate(x._backend.xp.nonzero(mask)):
                advanced.append((out + j, arr, shape[dim + j], (), dim + j))
            key.extend([slice(None)] * k)
            dim += k
            out += k
    key.append(Ellipsis)
    return tuple(key), advanced


def _check_slice(s: slice, n: int) -> slice:
    step = 1 if s.step is None else operator.index(s.step)
    if step <= 0:
        raise ValueError(f"slice step must be greater than zero (got {step}); use flip() to reverse")
    start = None if s.start is None else operator.index(s.start)
    stop = None if s.stop is None else operator.index(s.stop)
    start, stop, step = slice(start, stop, step).indices(n)
    # NOTE: the array API leaves out-of-range slice bounds unspecified (array_api_strict rejects them)
    return slice(start, max(stop, start), step)


def _broadcast_shapes(shapes) -> tuple:
    out: list = []
    for s in shapes:
        s = tuple(s)
        if len(s) > len(out):
            out = [1] * (len(s) - len(out)) + out
        for i, n in enumerate(s, start=len(out) - len(s)):
            if out[i] == 1:
                out[i] = n
            elif n not in (1, out[i]):
                raise IndexError(
                    f"shape mismatch: indexing tensors could not be broadcast together with shapes "
                    f"{', '.join(str(tuple(t)) for t in shapes)}"
                )
    return tuple(out)


def _check_bounds(b, advanced) -> None:
    """Raise IndexError if a user index tensor holds an out-of-range value.

    NOTE: raising depends on the values, so the answer must reach the host: one counted copy of one
    bool per indexing with user integer tensors (lists are checked on the host, masks are in range by
    construction). Without it CuPy's take would wrap out-of-range indices around silently.
    """
    xp = b.xp
    user = [(a, n, d) for _, a, n, values, d in advanced if values is None]
    if not user:
        return
    bad = None
    for a, n, _ in user:
        t = xp.any((a < -n) | (a >= n))
        bad = t if bad is None else bad | t
    if not bool(b.transfer(bad, to_host=True)):
        return
    for a, n, d in user:  # the error path: find the value to name
        for v in b.transfer(a, to_host=True).reshape(-1).tolist():
            if not -n <= v < n:
                raise IndexError(f"index {v} is out of bounds for dimension {d} with size {n}")


def _gather(y: Tensor, advanced) -> Tensor:
    """``y`` indexed by the integer arrays of ``advanced`` (PyTorch's placement of the result dims)."""
    b = y._backend
    xp = b.xp
    _check_bounds(b, advanced)
    shape = tuple(y._data.shape)
    dims = [a[0] for a in advanced]
    sizes = [shape[d] for d in dims]
    bshape = _broadcast_shapes([a[1].shape for a in advanced])
    flat = None
    stride = 1
    for (_, a, n, _, _), size in zip(reversed(advanced), reversed(sizes), strict=True):
        if a.dtype != xp.int64:
            a = xp.astype(a, xp.int64)
        a = xp.where(a < 0, a + n, a)
        term = a * stride if stride != 1 else a
        flat = term if flat is None else flat + term
        stride *= size
    flat = xp.reshape(xp.broadcast_to(flat, bshape), (-1,))
    k = len(dims)
    if dims == list(range(dims[0], dims[0] + k)):
        p = dims[0]
    else:  # not adjacent: the broadcast index dims go first
        order = dims + [i for i in range(len(shape)) if i not in dims]
        y = permute(y, order)
        shape = tuple(shape[i] for i in order)
        p = 0
    y = reshape(y, shape[:p] + (_prod(shape[p : p + k]),) + shape[p + k :])
    y = take_along(y, flat, p)
    return reshape(y, shape[:p] + bshape + shape[p + k :])


# -- t[index] ----------------------------------------------------------------------------------------
def getitem(x: Tensor, index) -> Tensor:
    """``x[index]``: differentiable; repeated indices accumulate their gradients."""
    key, advanced = _parse(x, index)
    y = slice_(x, key)
    return _gather(y, advanced) if advanced else y


# -- t[index] = value --------------------------------------------------------------------------------
def _value_array(x: Tensor, value):
    """``value`` as an array (or a Python scalar) of ``x``'s dtype on its device."""
    b, d = x._backend, x.dtype
    if isinstance(value, Tensor):
        if value._backend is not b:
            raise RuntimeError(f"index assignment: the value is on {value.device}, but the tensor is on {x.device}")
        if value._requires_grad and state.enabled:
            raise RuntimeError(
                "index assignment happens outside the graph; assign value.detach() (or work inside tw.no_grad())"
            )
        if value.dtype.kind == "c" and d.kind != "c":
            raise TypeError(f"index assignment: a complex value can't be stored in a {d} tensor")
        a = value._data
        return a if value.dtype is d else b.xp.astype(a, b.native_dtype(d))
    if isinstance(value, (bool, int, float, complex)) or (hasattr(value, "item") and getattr(value, "ndim", 1) == 0):
        if not isinstance(value, (bool, int, float, complex)):
            value = value.item()
        return _python_value(value, d)
    if isinstance(value, list):
        return Tensor(value, dtype=d, device=x.device)._data
    raise TypeError(f"index assignment: expected a Tensor, a number or a list, got {type(value).__name__}")


def _fit(xp, v, shape: tuple):
    """The value array broadcast to ``shape`` (leading size-1 dims dropped first, as PyTorch does)."""
    vs = tuple(v.shape)
    while len(vs) > len(shape) and vs[0] == 1:
        vs = vs[1:]
    if len(vs) > len(shape) or any(a not in (1, b) for a, b in zip(vs, shape[len(shape) - len(vs) :], strict=True)):
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {tuple(v.shape)} cannot be broadcast to indexing result "
            f"of shape {shape}"
        )
    return xp.broadcast_to(xp.reshape(v, vs), shape)


def setitem(x: Tensor, index, value) -> None:
    """``x[index] = value`` in place (outside the graph); nothing changes when it raises.

    With repeated indices the last assignment wins.
    """
    _check_inplace(x)
    key, advanced = _parse(x, index)
    v = _value_array(x, value)
    b = x._backend
    xp = b.xp
    if not hasattr(x._data, "__setitem__"):  # a NumPy scalar (0-d results of NumPy): immutable, no views
        x._data = xp.asarray(x._data, copy=True)
    scalar = not hasattr(v, "shape")
    if scalar and isinstance(index, Tensor) and index.dtype is _dtypes.bool and index._data.ndim == x._data.ndim:
        x._data[index._data] = v  # t[mask] = number: the common case, one boolean-mask assignment
        return
    if not advanced:
        key = tuple(k for k in key if k is not None)  # None adds a size-1 dim: nothing to assign there
        x._data[key] = v if scalar else _fit(xp, v, tuple(x._data[key].shape))
        return
    shape = tuple(x._data.shape)
    dev = b.native_device
    n = _prod(shape)
    # the flat positions of the selected elements, by indexing an arange with the same index
    pos = Tensor._wrap(xp.reshape(xp.arange(n, device=dev), shape), b)
    sel = _gather(slice_(pos, key), advanced)._data
    sel_shape = tuple(sel.shape)
    vals = xp.full(sel_shape, v, dtype=x._data.dtype, device=dev) if scalar else _fit(xp, v, sel_shape)
    sel, vals = xp.reshape(sel, (-1,)), xp.reshape(vals, (-1,))
    if sel.shape[0] == 0:
        return
    # keep the last assignment of each position, in increasing position order: then one boolean
    # mask assignment (the form every backend supports) writes them all
    order = xp.argsort(sel, stable=True)
    sel, vals = xp.take(sel, order), xp.take(vals, order)
    last = xp.concat([sel[1:] != sel[:-1], xp.ones(1, dtype=xp.bool, device=dev)])
    sel, vals = sel[last], vals[last]
    everything = xp.arange(n, device=dev)
    j = xp.clip(xp.searchsorted(sel, everything), 0, sel.shape[0] - 1)
    hit = xp.take(sel, j) == everything
    x._data[xp.reshape(hit, shape)] = vals


TENSOR_METHODS = {"__getitem__": getitem, "__setitem__": setitem}
