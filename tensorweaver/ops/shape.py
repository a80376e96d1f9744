"""Shape ops: reshape/view, permute, transpose (and .T / .mT), squeeze, expand, cat, stack, split,
repeat, flip, tril/triu, pad, and the two slicing primitives (``Slice``, ``Take``) that indexing
is built from; no data is copied where a view will do."""

from __future__ import annotations

from .. import _dtypes
from .._errors import IndexOutOfRangeError, ShapeError
from ._common import ALWAYS, Function, Tensor, apply1, apply_n, cast, check_dim, normalize_dims, write_out
from .reduce import broadcast_to

__all__ = [
    "reshape",
    "view",
    "permute",
    "transpose",
    "flatten",
    "unflatten",
    "squeeze",
    "unsqueeze",
    "expand",
    "narrow",
    "cat",
    "concat",
    "concatenate",
    "stack",
    "split",
    "chunk",
    "repeat",
    "flip",
    "tril",
    "triu",
    "pad",
    "t",
    "roll",
]


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class Reshape(Function):
    __slots__ = ("shape",)
    keeps_inputs = False  # backward reads only shapes/dtypes
    is_view = True  # NOTE: a copy where NumPy can't view (share_counter tells)

    def __init__(self, shape) -> None:
        self.shape = shape

    def forward(self, xp, x):
        return xp.reshape(x, self.shape)

    def backward(self, gy):
        return (reshape(gy, self.inputs[0]._data.shape),)


class Permute(Function):
    __slots__ = ("axes",)
    keeps_inputs = False  # backward reads only shapes/dtypes
    is_view = ALWAYS  # a view on NumPy, CuPy and array-API libraries

    def __init__(self, axes) -> None:
        self.axes = axes

    def forward(self, xp, x):
        return xp.permute_dims(x, self.axes)

    def _inverse(self) -> tuple:
        if len(self.axes) <= 2:  # every permutation of two axes is its own inverse
            return self.axes
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return tuple(inverse)

    def backward(self, gy):
        return (permute(gy, self._inverse()),)

    def backward_array(self, xp, gy):
        return (xp.permute_dims(gy, self._inverse()),)


def _resolve_shape(shape, numel: int, old, op: str = "reshape") -> tuple:
    shape = tuple(int(s) for s in shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise ShapeError(f"{op}: invalid shape {shape}")
            known *= s
    if len(unknown) > 1:
        raise ShapeError(f"{op}: only one dimension can be inferred, got shape {shape}")
    if unknown:
        if known == 0 or numel % known:
            raise ShapeError(f"{op}: shape {shape} is invalid for a tensor of shape {old} (size {numel})")
        shape = shape[: unknown[0]] + (numel // known,) + shape[unknown[0] + 1 :]
    elif known != numel:
        raise ShapeError(f"{op}: shape {shape} is invalid for a tensor of shape {old} (size {numel})")
    return shape


def _sizes(args) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and not isinstance(args[0], int):
        return tuple(args[0])
    return tuple(args)


def reshape(x: Tensor, *shape) -> Tensor:
    """``x`` with a new shape of the same size; one dimension may be -1."""
    shape = _sizes(shape)
    old = tuple(x._data.shape)
    if shape == old:
        return x
    return apply1(Reshape(_resolve_shape(shape, _prod(old), old)), x)


def view(x: Tensor, *shape) -> Tensor:
    """``x`` with a new shape of the same size (as ``reshape``; one dimension may be -1)."""
    shape = _sizes(shape)
    old = tuple(x._data.shape)
    if shape == old:
        return x
    return apply1(Reshape(_resolve_shape(shape, _prod(old), old, "view")), x)


def permute(x: Tensor, *dims) -> Tensor:
    """``x`` with its dimensions reordered: ``permute(x, (1, 0))`` or ``x.permute(1, 0)``."""
    dims = _sizes(dims)
    ndim = x._data.ndim
    axes = tuple(check_dim(d, ndim) for d in dims)
    if len(axes) != ndim or len(set(axes)) != ndim:
        raise ShapeError(
            f"permute: dims {tuple(dims)} must be a permutation of the {ndim} dims of a tensor of shape {x.shape}"
        )
    return apply1(Permute(axes), x)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """``x`` with dims ``dim0`` and ``dim1`` swapped."""
    ndim = x._data.ndim
    d0, d1 = check_dim(dim0, ndim), check_dim(dim1, ndim)
    if ndim < 2 or d0 == d1:
        return x
    axes = list(range(ndim))
    axes[d0], axes[d1] = d1, d0
    return apply1(Permute(tuple(axes)), x)


def t_(x: Tensor) -> Tensor:
    """``.T``: all dims reversed (a 0-d or 1-d tensor is returned as is)."""
    ndim = x._data.ndim
    if ndim < 2:
        return x
    return apply1(Permute((1, 0) if ndim == 2 else tuple(range(ndim - 1, -1, -1))), x)


def mT_(x: Tensor) -> Tensor:  # noqa: N802 - PyTorch's attribute name
    """``.mT``: the last two dims swapped (batched matrix transpose)."""
    ndim = x._data.ndim
    if ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {ndim}-D tensor.")
    axes = list(range(ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return apply1(Permute(tuple(axes)), x)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``x`` with dims ``start_dim..end_dim`` merged into one (a 0-d tensor becomes 1-d)."""
    shape = tuple(x._data.shape)
    if not shape:
        check_dim(start_dim, 0)
        check_dim(end_dim, 0)
        return reshape(x, (1,))
    s, e = check_dim(start_dim, len(shape)), check_dim(end_dim, len(shape))
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim}) for shape {shape}")
    return reshape(x, shape[:s] + (_prod(shape[s : e + 1]),) + shape[e + 1 :])


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    """``x`` with dim ``dim`` split into ``sizes`` (one of them may be -1)."""
    shape = tuple(x._data.shape)
    d = check_dim(dim, len(shape))
    sizes = tuple(sizes)
    if not sizes:
        raise ValueError("unflatten: sizes must be non-empty")
    inner = _resolve_shape(sizes, shape[d] if shape else 1, (shape[d] if shape else 1,), "unflatten")
    return reshape(x, shape[:d] + inner + shape[d + 1 :])


def squeeze(x: Tensor, dim=None) -> Tensor:
    """``x`` without its size-1 dims (all of them, or those of ``dim``: an int or a tuple)."""
    shape = tuple(x._data.shape)
    axes = normalize_dims(dim, len(shape))
    if axes is None:
        axes = range(len(shape))
    drop = {a for a in axes if shape[a] == 1}
    return reshape(x, tuple(s for i, s in enumerate(shape) if i not in drop))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """``x`` with a size-1 dim inserted at ``dim`` (in ``[-ndim-1, ndim]``)."""
    shape = tuple(x._data.shape)
    d = check_dim(dim, len(shape) + 1)
    return reshape(x, shape[:d] + (1,) + shape[d:])


def expand(x: Tensor, *sizes) -> Tensor:
    """``x`` broadcast to ``sizes`` without copying; -1 keeps a dim, new dims go in front."""
    sizes = _sizes(sizes)
    shape = tuple(x._data.shape)
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({len(shape)})"
        )
    target = []
    for i, s in enumerate(sizes):
        s = int(s)
        old = shape[i - lead] if i >= lead else None
        if s == -1:
            if old is None:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension (sizes {sizes})")
            s = old
        elif s < 0 or (old is not None and old != 1 and old != s):
            raise RuntimeError(
                f"expand: the expanded size ({s}) must match the existing size ({old}) at non-singleton "
                f"dimension {i}; target sizes {sizes}, tensor shape {shape}"
            )
        target.append(s)
    return broadcast_to(x, tuple(target))


# -- slicing primitives (indexing is built from these) ------------------------------------------------
class Slice(Function):
    """``x[key]`` for a basic key (ints, slices with positive steps, None) ending with Ellipsis."""

    __slots__ = ("key",)
    keeps_inputs = False  # backward reads only shapes/dtypes
    is_view = True

    def __init__(self, key) -> None:
        self.key = key

    def forward(self, xp, x):
        return x[self.key]

    def backward(self, gy):
        x = self.inputs[0]
        return (apply1(SliceBackward(self.key, tuple(x._data.shape), x._backend.native_device), gy),)


class SliceBackward(Function):
    """Zeros of the sliced tensor's shape with ``gy`` written where ``key`` took it: Slice's gradient."""

    __slots__ = ("key", "shape", "device")

    def __init__(self, key, shape, device) -> None:
        self.key, self.shape, self.device = key, shape, device

    def forward(self, xp, gy):
        out = xp.zeros(self.shape, dtype=gy.dtype, device=self.device)
        key = tuple(k for k in self.key if k is not None)  # the None dims of gy have size 1
        out[key] = xp.reshape(gy, out[key].shape)
        return out

    def backward(self, ggy):
        return (apply1(Slice(self.key), ggy),)


def slice_(x: Tensor, key) -> Tensor:
    """``x[key]`` for a basic key in the full form (see ``Slice``); ``x`` itself when nothing is taken."""
    if all(k == slice(None) or k is Ellipsis for k in key):
        return x
    return apply1(Slice(key), x)


class Take(Function):
    """``x`` gathered along ``axis`` at a 1-D integer ``index`` (repeats allowed)."""

    __slots__ = ("index", "axis")
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, index, axis: int) -> None:
        self.index, self.axis = index, axis

    def forward(self, xp, x):
        return xp.take(x, self.index, axis=self.axis)

    def backward(self, gy):
        x = self.inputs[0]
        return (apply1(TakeBackward(self.index, self.axis, x._data.shape[self.axis], x._backend), gy),)


class TakeBackward(Function):
    """Zeros with ``gy`` scatter-added along ``axis`` at ``index`` (repeated indices add up): Take's gradient."""

    __slots__ = ("index", "axis", "n", "backend")

    def __init__(self, index, axis: int, n: int, backend) -> None:
        self.index, self.axis, self.n, self.backend = index, axis, n, backend

    def forward(self, xp, gy):
        a, b = self.axis, self.backend
        ndim = gy.ndim
        if a:  # the indexed axis first; the others flattened into one row
            gy = xp.permute_dims(gy, (a, *(i for i in range(ndim) if i != a)))
        rest = tuple(gy.shape[1:])
        r = _prod(rest)
        index = self.index
        if r != 1:
            cols = xp.arange(r, dtype=index.dtype, device=b.native_device)
            index = xp.reshape(xp.reshape(index, (-1, 1)) * r + xp.reshape(cols, (1, -1)), (-1,))
        # NOTE: one 1-D integer index on a 1-D array is the only scatter form that every backend's
        # scatter_add accepts (array_api_strict allows integer-array indexes only when they index every dim).
        zeros = xp.zeros(self.n * r, dtype=gy.dtype, device=b.native_device)
        out = xp.reshape(b.scatter_add(zeros, index, xp.reshape(gy, (-1,))), (self.n, *rest))
        if a:
            inverse = list(range(1, ndim))
            inverse.insert(a, 0)
            out = xp.permute_dims(out, tuple(inverse))
        return out

    def backward(self, ggy):
        return (apply1(Take(self.index, self.axis), ggy),)


def take_along(x: Tensor, index, axis: int) -> Tensor:
    """``x`` gathered along ``axis`` at a 1-D backend integer array ``index`` (checked by the caller)."""
    return apply1(Take(index, axis), x)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The part ``start:start+length`` of ``x`` along ``dim`` (a view)."""
    shape = tuple(x._data.shape)
    d = check_dim(dim, len(shape))
    n = shape[d]
    if not -n <= start <= n:
        raise IndexOutOfRangeError(f"narrow: start ({start}) is out of range for dimension {d} of size {n}")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise IndexOutOfRangeError(f"narrow: start ({start}) + length ({length}) exceeds dimension {d} of size {n}")
    return slice_(x, (slice(None),) * d + (slice(start, start + length), Ellipsis))


# -- joining and splitting ---------------------------------------------------------------------------
class Cat(Function):
    __slots__ = ("axis",)
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, xp, *xs):
        return xp.concat(xs, axis=self.axis)

    def backward(self, gy):
        out, start = [], 0
        for x in self.inputs:
            n = x._data.shape[self.axis]
            out.append(narrow(gy, self.axis, start, n) if x._requires_grad else None)
            start += n
        return tuple(out)


class Stack(Function):
    __slots__ = ("axis",)
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, xp, *xs):
        return xp.stack(xs, axis=self.axis)

    def backward(self, gy):
        head = (slice(None),) * self.axis
        return tuple(slice_(gy, (*head, i, Ellipsis)) if x._requires_grad else None for i, x in enumerate(self.inputs))


def _common_dtype(tensors, op: str):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a sequence of Tensors, got a {type(t).__name__}")
    d = tensors[0].dtype
    for t in tensors[1:]:
        d = _dtypes.promote_types(d, t.dtype)
    return [cast(t, d) for t in tensors]


def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """The tensors joined along an existing dim ``dim`` (dtypes promoted)."""
    if out is not None:
        return write_out(out, cat(tensors, dim), "cat")
    tensors = _common_dtype(tensors, "cat")
    first = tuple(tensors[0]._data.shape)
    d = check_dim(dim, len(first))
    for t in tensors:
        s = tuple(t._data.shape)
        if len(s) != len(first) or not s or s[:d] + s[d + 1 :] != first[:d] + first[d + 1 :]:
            raise ShapeError(
                f"cat: tensors of shapes {first} and {s} can't be joined along dim {dim}: all dims but {dim} "
                f"must match (0-d tensors can't be joined)"
            )
    if len(tensors) == 1:
        return tensors[0]
    return apply_n(Cat(d), tensors)


concat = concatenate = cat


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """The tensors (all of one shape) joined along a new dim ``dim``."""
    if out is not None:
        return write_out(out, stack(tensors, dim), "stack")
    tensors = _common_dtype(tensors, "stack")
    first = tuple(tensors[0]._data.shape)
    d = check_dim(dim, len(first) + 1)
    for t in tensors:
        if tuple(t._data.shape) != first:
            raise ShapeError(f"stack: expects each tensor to be equal size, but got {first} and {tuple(t._data.shape)}")
    return apply_n(Stack(d), tensors)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """A tuple of views of ``x`` along ``dim``: parts of an int size (the last may be smaller) or of the
    listed sizes (which must add up to the dim's size)."""
    shape = tuple(x._data.shape)
    d = check_dim(dim, len(shape))
    n = shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and not (size == 0 and n == 0):
            raise ValueError(f"split: split_size must be a positive integer, got {size}")
        sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ShapeError(f"split: sections {sizes} must be non-negative and add up to {n}, the size of dim {dim}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, d, start, s))
        start += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    """``x`` split into at most ``chunks`` parts of equal size along ``dim`` (the last may be smaller)."""
    if not isinstance(chunks, int) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks}")
    shape = tuple(x._data.shape)
    n = shape[check_dim(dim, len(shape))]
    return split(x, max(-(-n // chunks), 1) if n else 0, dim)


# -- repeat, flip, triangles, pad ---------------------------------------------------------------------
class Tile(Function):
    __slots__ = ("reps",)
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, reps) -> None:
        self.reps = reps

    def forward(self, xp, x):
        return xp.tile(xp.reshape(x, (1,) * (len(self.reps) - x.ndim) + tuple(x.shape)), self.reps)

    def backward(self, gy):
        x = self.inputs[0]
        shape = (1,) * (len(self.reps) - x._data.ndim) + tuple(x._data.shape)
        split_shape = [n for r, s in zip(self.reps, shape, strict=True) for n in (r, s)]
        g = gy.reshape(split_shape).sum(dim=tuple(range(0, 2 * len(shape), 2)))
        return (g.reshape(x._data.shape),)


def repeat(x: Tensor, *sizes) -> Tensor:
    """``x`` tiled ``sizes[i]`` times along each dim (extra sizes add leading dims)."""
    reps = tuple(int(s) for s in _sizes(sizes))
    if len(reps) < x._data.ndim:
        raise RuntimeError(
            f"repeat: the number of repeat dims ({len(reps)}) can't be smaller than the number of dims of the "
            f"tensor ({x._data.ndim})"
        )
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat: repeats must be non-negative, got {reps}")
    return apply1(Tile(reps), x)


class Flip(Function):
    __slots__ = ("axes",)
    keeps_inputs = False  # backward reads only shapes/dtypes
    is_view = True  # NOTE: NumPy's flip is a view

    def __init__(self, axes) -> None:
        self.axes = axes

    def forward(self, xp, x):
        return xp.flip(x, axis=self.axes)

    def backward(self, gy):
        return (apply1(Flip(self.axes), gy),)


def flip(x: Tensor, dims) -> Tensor:
    """``x`` with the order of elements reversed along ``dims`` (an int or a tuple)."""
    axes = normalize_dims(dims, x._data.ndim)
    if not axes:
        return x
    return apply1(Flip(axes), x)


class Triangle(Function):
    """The lower (``upper=False``) or upper triangle of the last two dims; the rest set to zero."""

    __slots__ = ("diagonal", "upper", "device")
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, diagonal: int, upper: bool, device) -> None:
        self.diagonal, self.upper, self.device = diagonal, upper, device

    def forward(self, xp, x):
        m, n = x.shape[-2:]
        rows = xp.reshape(xp.arange(m, device=self.device), (-1, 1))
        cols = xp.reshape(xp.arange(n, device=self.device), (1, -1))
        keep = cols - rows >= self.diagonal if self.upper else cols - rows <= self.diagonal
        return xp.where(keep, x, xp.zeros_like(x))

    def backward(self, gy):
        return (apply1(Triangle(self.diagonal, self.upper, self.device), gy),)


def _triangle(x: Tensor, diagonal: int, upper: bool) -> Tensor:
    if x._data.ndim < 2:
        raise RuntimeError(f"{'triu' if upper else 'tril'}: expected a tensor with 2 or more dims, got shape {x.shape}")
    return apply1(Triangle(int(diagonal), upper, x._backend.native_device), x)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of (a batch of) matrices: elements above diagonal ``diagonal`` set to zero."""
    return _triangle(x, diagonal, False)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of (a batch of) matrices: elements below diagonal ``diagonal`` set to zero."""
    return _triangle(x, diagonal, True)


def _python_value(value, d: _dtypes.dtype):
    """A Python scalar as the Python type of dtype ``d`` (PyTorch's casts: 2.7 -> 2 for an int tensor)."""
    if d.kind == "c":
        return complex(value)
    if isinstance(value, complex):
        raise TypeError(f"a complex value can't be stored in a {d} tensor")
    return {"b": bool, "i": int, "u": int}.get(d.kind, float)(value)


class ConstantPad(Function):
    """``x`` placed in a tensor of ``shape`` filled with ``value``, at the basic key ``key``."""

    __slots__ = ("shape", "key", "value", "device")
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, shape, key, value, device) -> None:
        self.shape, self.key, self.value, self.device = shape, key, value, device

    def forward(self, xp, x):
        out = xp.full(self.shape, self.value, dtype=x.dtype, device=self.device)
        out[self.key] = x
        return out

    def backward(self, gy):
        return (slice_(gy, self.key),)


def pad(x: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """``x`` padded on its last ``len(pad) // 2`` dims; ``pad`` lists (left, right) for the last dim first.

    ``mode``: 'constant' (with ``value``, default 0; negative pads crop), 'reflect', 'replicate' or
    'circular'.
    """
    pad = tuple(int(p) for p in pad)
    shape = tuple(x._data.shape)
    if len(pad) % 2 or len(pad) // 2 > len(shape):
        raise ShapeError(f"pad: padding of length {len(pad)} must be even and at most 2 * ndim for shape {shape}")
    widths = {len(shape) - 1 - i: (pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)}
    for d, (lo, hi) in widths.items():
        if shape[d] + lo + hi < 0:
            raise ValueError(f"pad: padding {(lo, hi)} of dim {d} (size {shape[d]}) leaves a negative size")
    if mode == "constant":
        lows = [widths.get(d, (0, 0))[0] for d in range(len(shape))]
        highs = [widths.get(d, (0, 0))[1] for d in range(len(shape))]
        crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, lo, hi in zip(shape, lows, highs, strict=True))
        x = slice_(x, (*crop, Ellipsis))  # negative pads crop
        inner = tuple(x._data.shape)
        grown = tuple(n + max(lo, 0) + max(hi, 0) for n, lo, hi in zip(inner, lows, highs, strict=True))
        if grown == inner:
            return x
        key = tuple(slice(max(lo, 0), max(lo, 0) + n) for n, lo in zip(inner, lows, strict=True))
        v = _python_value(0 if value is None else value, x.dtype)
        return apply1(ConstantPad(grown, (*key, Ellipsis), v, x._backend.native_device), x)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"pad: value is only used with mode='constant', not {mode!r}")
    xp, dev = x._backend.xp, x._backend.native_device
    for d, (lo, hi) in widths.items():
        n = shape[d]
        limit = n - 1 if mode == "reflect" else n
        if max(lo, hi) > limit or (mode != "circular" and n == 0):
            raise ShapeError(f"pad: {mode} padding {(lo, hi)} must be at most {limit} for dim {d} of size {n}")
        i = xp.arange(-lo, n + hi, device=dev)
        if mode == "replicate":
            i = xp.clip(i, 0, n - 1)
        elif mode == "circular":
            i = i % n
        else:
            i = xp.abs(i)
            i = xp.where(i > n - 1, 2 * (n - 1) - i, i)
        x = take_along(x, i, d)
    return x


def t(x: Tensor) -> Tensor:
    """A matrix transposed; a 0-d or 1-d tensor as it is (more dims: an error, as in PyTorch)."""
    ndim = x._data.ndim
    if ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {ndim}D (shape {x.shape})")
    return transpose(x, 0, 1) if ndim == 2 else x


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """``x`` shifted cyclically by ``shifts`` along ``dims`` (ints or tuples of ints; without ``dims``
    the flattened tensor is rolled and the shape restored); differentiable."""
    if dims is None:
        if not isinstance(shifts, int):
            if len(tuple(shifts)) != 1:
                raise RuntimeError(f"roll(): shifts {tuple(shifts)} need dims of the same length")
            (shifts,) = tuple(shifts)
        return reshape(roll(reshape(x, (-1,)), shifts, 0), tuple(x._data.shape))
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll(): shifts {shifts} and dims {dims} must have the same length")
    for shift, dim in zip(shifts, dims, strict=True):
        d = check_dim(dim, x._data.ndim)
        n = x._data.shape[d]
        s = shift % n if n else 0
        if s:
            x = cat([narrow(x, d, n - s, s), narrow(x, d, 0, n - s)], d)
    return x


TENSOR_METHODS = {
    "roll": roll,
    "reshape": reshape,
    "view": view,
    "reshape_as": lambda self, other: reshape(self, other.shape),
    "view_as": lambda self, other: view(self, other.shape),
    "permute": permute,
    "transpose": transpose,
    "t": t,
    "flatten": flatten,
    "unflatten": unflatten,
    "squeeze": squeeze,
    "unsqueeze": unsqueeze,
    "expand": expand,
    "expand_as": lambda self, other: expand(self, other.shape),
    "narrow": narrow,
    "split": split,
    "chunk": chunk,
    "repeat": repeat,
    "flip": flip,
    "tril": tril,
    "triu": triu,
}
