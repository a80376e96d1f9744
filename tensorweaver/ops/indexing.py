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
from .._args import check_index_range, device_error
from .._errors import DtypeError, IndexDtypeError, IndexOutOfRangeError, ShapeError
from ..autograd.function import bump
from ..tensor import _check_inplace
from ._common import Function, Tensor, apply1, apply2, cast, check_dim, kind, state
from .elementwise import where
from .reduce import sum_to
from .shape import _prod, _python_value, permute, reshape, slice_, take_along

__all__ = [
    "masked_fill",
    "gather",
    "scatter_add",
    "index_select",
    "select",
    "unbind",
    "masked_select",
    "nonzero",
    "argwhere",
]


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
            data = k if isinstance(k, list) else k.tolist()
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
        bump(x)
        return
    if not advanced:
        key = tuple(k for k in key if k is not None)  # None adds a size-1 dim: nothing to assign there
        x._data[key] = v if scalar else _fit(xp, v, tuple(x._data[key].shape))
        bump(x)
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
    bump(x)


# -- gather, scatter, embedding, one_hot, masked_fill ------------------------------------------
def _check_index(index: Tensor, x: Tensor, what: str) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"{what}: index must be an integer Tensor, got {type(index).__name__}")
    if index._backend is not x._backend:
        raise device_error(what, x.device, index.device)
    if kind(index) not in "iu":
        raise IndexDtypeError(f"{what}: index must be an integer tensor (int64 or int32), got {index.dtype}")


def _flat_positions(b, shape: tuple, axis: int, index):
    """Flat positions into an array of ``shape`` picked by ``index`` along ``axis`` (gather's rule:
    ``out[i][j][k] = x[i][index[i][j][k]][k]`` for axis 1), as an int64 array of index's shape.

    NOTE: an index out of ``[0, shape[axis])`` maps to the position one past the end, so the take or
    scatter that uses it fails (an IndexError on NumPy and array_api_strict) instead of silently
    reading another row; checking on the host would cost a device round trip. CuPy cannot raise
    from the device: it wraps out-of-bounds indices around (documented in its NumPy differences).
    """
    xp, dev = b.xp, b.native_device
    ishape = tuple(index.shape)
    if len(ishape) != len(shape):
        raise RuntimeError(f"index has {len(ishape)} dims but the tensor has {len(shape)}; they must match")
    for d, (i, s) in enumerate(zip(ishape, shape, strict=True)):
        if d != axis and i > s:
            raise RuntimeError(f"size {i} of index at dim {d} exceeds the tensor's size {s} (shape {shape})")
    index = xp.astype(index, xp.int64)
    n, stride = 1, [0] * len(shape)
    for d in range(len(shape) - 1, -1, -1):
        stride[d] = n
        n *= shape[d]
    pos = None
    for d, i in enumerate(ishape):
        if d == axis:
            c = index * stride[d]
        else:
            view = [1] * len(shape)
            view[d] = i
            c = xp.reshape(xp.arange(i, dtype=xp.int64, device=dev) * stride[d], tuple(view))
        pos = c if pos is None else pos + c
    if pos is None:  # 0-d
        return xp.zeros((), dtype=xp.int64, device=dev)
    valid = (index >= 0) & (index < shape[axis])
    return xp.broadcast_to(xp.where(valid, pos, xp.asarray(n, dtype=xp.int64, device=dev)), ishape)


class Gather(Function):
    """``x.reshape(-1)[pos]``: a gather by precomputed flat positions."""

    __slots__ = ("pos",)

    def __init__(self, pos) -> None:
        self.pos = pos

    def forward(self, xp, x):
        return xp.reshape(xp.take(xp.reshape(x, (-1,)), xp.reshape(self.pos, (-1,))), self.pos.shape)

    def backward(self, gy):
        (x,) = self.inputs
        zeros = Tensor._wrap(x._backend.xp.zeros_like(x._data), x._backend)
        return (apply2(ScatterAdd(self.pos, x._backend), zeros, gy),)


class ScatterAdd(Function):
    """``x`` with ``src`` added at the flat positions ``pos`` (repeated positions add up)."""

    __slots__ = ("pos", "b")

    def __init__(self, pos, b) -> None:
        self.pos, self.b = pos, b

    def forward(self, xp, x, src):
        flat = self.b.scatter_add(xp.reshape(x, (-1,)), xp.reshape(self.pos, (-1,)), xp.reshape(src, (-1,)))
        return xp.reshape(flat, x.shape)

    def backward(self, gy):
        x, src = self.inputs
        return (gy if x._requires_grad else None, apply1(Gather(self.pos), gy) if src._requires_grad else None)


def _out_of_range(what: str, axis: int, n: int):
    """PyTorch's error for an index outside ``[0, n)`` along ``axis`` (a RuntimeError there; an
    IndexError too here, as before)."""
    return lambda v: IndexOutOfRangeError(f"{what}: index {v} is out of bounds for dimension {axis} with size {n}")


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = x[i][index[i][j]]`` for ``dim=1`` (any rank); ``index`` has x's number of dims.

    An index outside ``[0, x.shape[dim])`` raises ``tw.errors.IndexOutOfRangeError`` (an IndexError
    and a RuntimeError); on CUDA only inside ``tw.utils.debug_indices()`` (the check reads the host)."""
    _check_index(index, x, "gather")
    axis = check_dim(dim, x._data.ndim)
    n = x._data.shape[axis] if x._data.ndim else 1
    check_index_range(x._backend, index._data, n, "gather", error=_out_of_range("gather", axis, n))
    return apply1(Gather(_flat_positions(x._backend, tuple(x._data.shape), axis, index._data)), x)


def _identity_index(b, shape: tuple, axis: int):
    """An index of ``shape`` whose entry along ``axis`` is its own coordinate (gather's no-op)."""
    xp = b.xp
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return xp.broadcast_to(
        xp.reshape(xp.arange(shape[axis], dtype=xp.int64, device=b.native_device), tuple(view)), shape
    )


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``x`` plus ``src[i][j]`` added at ``[i][index[i][j]]`` (dim=1); differentiable in ``x`` and ``src``.

    An index outside ``[0, x.shape[dim])`` raises as in ``gather`` (on CUDA: ``tw.utils.debug_indices()``)."""
    _check_index(index, x, "scatter_add")
    if src._backend is not x._backend:
        raise RuntimeError(f"scatter_add: src is on {src.device}, the tensor on {x.device}")
    axis = check_dim(dim, x._data.ndim)
    n = x._data.shape[axis] if x._data.ndim else 1
    check_index_range(x._backend, index._data, n, "scatter_add", error=_out_of_range("scatter_add", axis, n))
    b, ishape = x._backend, tuple(index._data.shape)
    if tuple(src._data.shape) != ishape:
        # only src's leading block of index's shape is used (as in PyTorch)
        src = gather(src, axis, Tensor._wrap(_identity_index(b, ishape, axis), b))
    if src._data.dtype != x._data.dtype:
        src = cast(src, x.dtype)
    return apply2(ScatterAdd(_flat_positions(b, tuple(x._data.shape), axis, index._data), b), x, src)


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of ``x`` at positions ``index`` (a 0-D or 1-D integer tensor) along ``dim``.

    An index outside ``[0, x.shape[dim])`` (negative ones included) raises IndexError, as in PyTorch;
    on CUDA only inside ``tw.utils.debug_indices()`` (the check reads the host)."""
    _check_index(index, x, "index_select")
    if index._data.ndim > 1:
        raise IndexError(f"index_select(): index must be 0-D or 1-D, got shape {index.shape}")
    axis = check_dim(dim, x._data.ndim)
    n = x._data.shape[axis] if x._data.ndim else 1
    check_index_range(
        x._backend,
        index._data,
        n,
        "index_select",
        error=lambda v: IndexError(f"index_select(): index {v} out of range in self (dim {axis} of size {n})"),
    )
    flat = x._backend.xp.reshape(index._data, (-1,))
    if x._data.ndim == 0:  # as in PyTorch: a 0-d tensor stays 0-d
        return reshape(take_along(reshape(x, (1,)), flat, 0), ())
    return take_along(x, flat, axis)


def embedding(x: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``x``: shape ``(*x.shape, weight.shape[1])``.

    Repeated indices accumulate their gradients; rows at ``padding_idx`` get no gradient. An index
    outside ``[0, num_embeddings)`` raises IndexError, as in PyTorch (on CUDA only inside
    ``tw.utils.debug_indices()``: the check reads the host).
    """
    _check_index(x, weight, "embedding")
    if weight._data.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    n = weight._data.shape[0]
    check_index_range(
        x._backend,
        x._data,
        n,
        "embedding",
        error=lambda v: IndexError(f"embedding: index {v} out of range in self (num_embeddings {n})"),
    )
    out = index_select(weight, 0, reshape(x, (-1,)))
    if padding_idx is not None:
        padding_idx = check_dim(padding_idx, weight._data.shape[0])
        b = x._backend
        mask = Tensor._wrap(b.xp.reshape(b.xp.reshape(x._data, (-1,)) == padding_idx, (-1, 1)), b)
        out = masked_fill(out, mask, 0) + masked_fill(out.detach(), b.xp.logical_not(mask._data), 0)
    return reshape(out, (*x._data.shape, weight._data.shape[1]))


def one_hot(x: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor of shape ``(*x.shape, num_classes)`` with a 1 at each value of ``x``.

    NOTE: ``num_classes=-1`` means ``x.max() + 1``, which copies that one value to the host; pass
    ``num_classes`` to stay on the device. A value outside ``[0, num_classes)`` raises a RuntimeError,
    as in PyTorch (on CUDA only inside ``tw.utils.debug_indices()``: the check reads the host).
    """
    if kind(x) not in "iu":
        raise TypeError(f"one_hot is only applicable to integer tensors, got {x.dtype}")
    b = x._backend
    xp = b.xp
    if num_classes == -1:
        if x.numel() == 0:
            raise RuntimeError("one_hot: can not infer the number of classes of an empty tensor")
        num_classes = int(b.transfer(xp.max(x._data), to_host=True)) + 1
    else:
        check_index_range(
            b,
            x._data,
            num_classes,
            "one_hot",
            error=lambda v: RuntimeError(f"one_hot: class values must be in [0, num_classes={num_classes}), got {v}"),
        )
    classes = xp.arange(num_classes, dtype=x._data.dtype, device=b.native_device)
    return Tensor._wrap(xp.astype(x._data[..., None] == classes, xp.int64), b)


class MaskedFill(Function):
    """``where(mask, c, x)`` for a Python number ``c``, keeping x's dtype (no host copy of ``c``)."""

    __slots__ = ("mask", "c", "dev")

    def __init__(self, mask, c, dev) -> None:
        self.mask, self.c, self.dev = mask, c, dev

    def forward(self, xp, x):
        return xp.where(self.mask, xp.asarray(self.c, dtype=x.dtype, device=self.dev), x)

    def backward(self, gy):
        x = self.inputs[0]
        return (sum_to(apply1(MaskedFill(self.mask, 0, self.dev), gy), x._data.shape),)


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    """``x`` with ``value`` (a number or a 0-d tensor, cast to x's dtype) where the bool ``mask`` is True."""
    if isinstance(mask, Tensor):
        if mask._backend is not x._backend:
            raise RuntimeError(f"masked_fill: mask is on {mask.device}, the tensor on {x.device}")
        if mask.dtype is not _dtypes.bool:
            raise DtypeError(f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype}")
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, got shape {value.shape}")
        return where(mask, cast(value, x.dtype), x)
    if type(value) is float and kind(x) in "iub" or type(value) is int and kind(x) == "b":
        raise TypeError(f"masked_fill: value {value!r} can't be stored in a {x.dtype} tensor")
    mask = mask._data if isinstance(mask, Tensor) else mask
    return apply1(MaskedFill(mask, value, x._backend.native_device), x)


def select(x: Tensor, dim: int, index: int) -> Tensor:
    """``x`` at position ``index`` of ``dim``, that dim removed (a view); differentiable."""
    d = check_dim(dim, x._data.ndim)
    return getitem(x, (slice(None),) * d + (index, Ellipsis))


def unbind(x: Tensor, dim: int = 0) -> tuple:
    """The slices of ``x`` along ``dim``, that dim removed (a tuple of views); differentiable."""
    d = check_dim(dim, x._data.ndim)
    return tuple(getitem(x, (slice(None),) * d + (i, Ellipsis)) for i in range(x._data.shape[d]))


def masked_select(x: Tensor, mask: Tensor) -> Tensor:
    """The entries of ``x`` where the bool ``mask`` is True (both broadcast), as a 1-D tensor;
    differentiable in ``x``. NOTE: its length depends on the values, so it waits for the device."""
    if not isinstance(mask, Tensor) or mask.dtype is not _dtypes.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_select: expected a bool mask, got {got}")
    if mask._backend is not x._backend:
        raise device_error("masked_select", x.device, mask.device)
    xp = x._backend.xp
    shape = tuple(xp.broadcast_arrays(x._data, mask._data)[0].shape)
    if tuple(x._data.shape) != shape:
        x = x.expand(*shape)
    m = mask._data if tuple(mask._data.shape) == shape else xp.broadcast_to(mask._data, shape)
    if not shape:  # a 0-d mask is not a boolean index here: select from a 1-element view
        x, m = reshape(x, (1,)), xp.reshape(m, (1,))
    return getitem(x, Tensor._wrap(m, x._backend))


def nonzero(x: Tensor, *, as_tuple: bool = False):
    """The int64 indices of the nonzero entries of ``x``: a ``(count, x.ndim)`` tensor, or with
    ``as_tuple`` one 1-D tensor per dim. NOTE: the count depends on the values (a wait for the device)."""
    b = x._backend
    xp, a = b.xp, x._data
    i64 = b.native_dtype(_dtypes.int64)
    if a.ndim == 0:
        a = xp.reshape(a, (1,))
        found = xp.astype(xp.nonzero(a)[0], i64)
        if as_tuple:
            return (Tensor._wrap(found, b),)
        return Tensor._wrap(xp.zeros((found.shape[0], 0), dtype=i64, device=b.native_device), b)
    parts = tuple(xp.astype(p, i64) for p in xp.nonzero(a))
    if as_tuple:
        return tuple(Tensor._wrap(p, b) for p in parts)
    return Tensor._wrap(xp.stack(parts, axis=1), b)


def argwhere(x: Tensor) -> Tensor:
    """``nonzero(x)``: a ``(count, x.ndim)`` int64 tensor of the nonzero entries' indices."""
    r = nonzero(x)
    assert isinstance(r, Tensor)
    return r


TENSOR_METHODS = {
    "select": select,
    "unbind": unbind,
    "masked_select": masked_select,
    "nonzero": nonzero,
    "argwhere": argwhere,
    "__getitem__": getitem,
    "__setitem__": setitem,
    "masked_fill": masked_fill,
    "gather": gather,
    "scatter_add": scatter_add,
    "index_select": index_select,
}
