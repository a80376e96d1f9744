"""Reductions (sum, mean, var, std, prod, max/min, amax/amin, argmax/argmin, logsumexp, norm,
cumsum) and the broadcast pair that sum is the gradient of (sum_to, broadcast_to).

NOTE: elementwise.py imports sum_to from here, so composites here use Tensor methods and operators
(bound once every op module is loaded) rather than importing elementwise."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .. import _dtypes
from .._errors import ShapeError
from ._common import (
    Function,
    Tensor,
    apply1,
    cast,
    check_dim,
    keepdim_alias,
    kind,
    normalize_dims,
    output_tensor,
    write_out,
    write_out_pair,
)

__all__ = [
    "sum",
    "mean",
    "sum_to",
    "broadcast_to",
    "var",
    "std",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "logsumexp",
    "norm",
    "cumsum",
    "all",
    "any",
]


def _kept_shape(shape, axes) -> tuple:
    """``shape`` with the reduced ``axes`` (None: all) set to 1: where a reduction's gradient goes."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class _Reduction(Function):
    """A reduction over ``axes`` (None: all), keeping them as size 1 if ``keepdims``."""

    __slots__ = ("axes", "keepdims")

    def __init__(self, axes, keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims


class Sum(_Reduction):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return xp.sum(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        shape = self.inputs[0]._data.shape
        if not self.keepdims and gy._data.ndim:
            gy = gy.reshape(_kept_shape(shape, self.axes))
        return (broadcast_to(gy, shape),)


class Mean(Sum):
    __slots__ = ("n",)
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        n = 1
        if self.axes is None:
            for s in x.shape:
                n *= s
        else:
            for a in self.axes:
                n *= x.shape[a]
        self.n = n
        return xp.mean(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return super().backward(gy / self.n)

    def backward_array(self, xp, gy):
        shape = self.inputs[0]._data.shape
        gy = gy / self.n
        if not self.keepdims and gy.ndim:
            gy = xp.reshape(gy, _kept_shape(shape, self.axes))
        return (xp.broadcast_to(gy, shape),)


class SumTo(Function):
    """Sum ``x`` down to a shape it was broadcast from: the gradient of broadcasting."""

    __slots__ = ("shape",)
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, shape) -> None:
        self.shape = shape

    def forward(self, xp, x):
        return sum_to_array(xp, x, self.shape)

    def backward(self, gy):
        return (broadcast_to(gy, self.inputs[0]._data.shape),)


class BroadcastTo(Function):
    __slots__ = ("shape",)
    keeps_inputs = False  # backward reads only shapes/dtypes
    is_view = True  # NOTE: NumPy's backend materializes it (share_counter tells)

    def __init__(self, shape) -> None:
        self.shape = shape

    def forward(self, xp, x):
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return (sum_to(gy, self.inputs[0]._data.shape),)


def _extras(what: str, fn, out, keepdim, keepdims, *args, **kwargs):
    """``fn`` with NumPy's ``keepdims=`` spelling and ``out=`` (both taken by PyTorch's reductions)."""
    y = fn(*args, keepdim=keepdim_alias(keepdim, keepdims, what), **kwargs)
    if out is None:
        return y
    return write_out_pair(out, y, what) if isinstance(y, tuple) else write_out(out, y, what)


def sum_to_array(xp, x, shape):
    """Sum the array ``x`` down to ``shape``, a shape it was broadcast from (``x`` if it has it)."""
    xs = x.shape
    if xs == shape:
        return x
    lead = len(xs) - len(shape)
    kept = tuple(i for i, s in enumerate(shape) if s == 1 and xs[lead + i] != 1)
    if lead:  # the dims broadcasting prepended: summed away (the bias of x @ W.T + b)
        x = xp.sum(x, axis=tuple(range(lead)))
    if kept:  # the size-1 dims it stretched: summed, kept
        x = xp.sum(x, axis=kept, keepdims=True)
    return x


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum ``x`` to ``shape`` (which must broadcast to ``x.shape``); ``x`` itself if it has it."""
    if x._data.shape == shape:
        return x
    return apply1(SumTo(tuple(shape)), x)


def broadcast_to(x: Tensor, size) -> Tensor:
    """``x`` broadcast to ``size`` (a view; the gradient sums back); -1 keeps a dim, as in ``expand``."""
    size = tuple(size)
    if -1 in size:
        return x.expand(size)
    if x._data.shape == size:
        return x
    try:
        return apply1(BroadcastTo(size), x)
    except ValueError as e:
        raise ShapeError(f"broadcast_to: shape {x.shape} can't be broadcast to {size} ({e})") from None


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None, keepdims=None, out=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (None: all dims; an int or a tuple), keeping reduced dims if ``keepdim``."""
    if keepdims is not None or out is not None:
        return _extras("sum", sum, out, keepdim, keepdims, x, dim, dtype=dtype)
    if dtype is not None:
        x = x.to(dtype)
    x = _numeric(x)
    return apply1(Sum(_all_dims(dim, x._data.ndim), bool(keepdim)), x)


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None, keepdims=None, out=None) -> Tensor:
    """Arithmetic mean over ``dim`` (floating-point tensors)."""
    if keepdims is not None or out is not None:
        return _extras("mean", mean, out, keepdim, keepdims, x, dim, dtype=dtype)
    if dtype is not None:
        x = x.to(dtype)
    if x._backend.from_native[x._data.dtype].kind not in "fc":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {x.dtype}"
        )
    return apply1(Mean(_all_dims(dim, x._data.ndim), bool(keepdim)), x)


class Prod(_Reduction):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.prod(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        (x,) = self.inputs
        if not self.keepdims:
            gy = gy.reshape(_kept_shape(x._data.shape, self.axes))
        return (gy * _prod_of_others(x, self.axes),)


def _prod_of_others(x: Tensor, axes) -> Tensor:
    """For each element, the product of the other elements of its reduced slice, without dividing by
    zero, written in Tensor ops so that its own gradient (prod's second derivative) is right too.

    It is ``(p / s) * z`` with ``s`` = x with its zeros set to 1, ``p`` the product of ``s`` over the
    slice, and ``z`` the product of the slice's zeros other than this element, kept to first order:
    1 with no zero; with one zero, 1 at it and the zero itself elsewhere; with two, the other zero
    at each zero and 0 elsewhere; 0 with more (a product of two zeros has no first-order part)."""
    a, xp = x._data, x._backend.xp
    zero = a == 0
    zeros = xp.sum(xp.astype(zero, a.dtype), axis=axes, keepdims=True)
    at_zero = _const(x, zero)
    safe = x.where(_const(x, xp.logical_not(zero)), 1)
    p = apply1(Prod(axes, True), safe)  # the product of the non-zeros
    zx = x.where(at_zero, 0)  # the zeros, differentiable: x there, 0 elsewhere
    zsum = sum(zx, axes, keepdim=True)  # the slice's zeros, summed (0 in value)
    one = zsum.where(_const(x, zero == False), 1)  # noqa: E712 - an array comparison
    two = (zsum - zx).where(at_zero, 0)
    z = one.where(_const(x, zeros == 1), two.where(_const(x, zeros == 2), 0))
    return (p / safe) * z.where(_const(x, zeros > 0), 1)


def _const(like: Tensor, arr) -> Tensor:
    return Tensor._wrap(arr, like._backend)


class AMax(Function):
    """amax (``lower``: amin) over ``axes``; the gradient is split evenly among tied maxima, as in PyTorch."""

    __slots__ = ("axes", "keepdims", "lower", "y")
    y: Any  # the saved result; None once released
    saves_output = True  # y, which the output is (or views)

    def __init__(self, axes, keepdims: bool, lower: bool) -> None:
        self.axes, self.keepdims, self.lower = axes, keepdims, lower

    def forward(self, xp, x):
        self.y = y = (xp.min if self.lower else xp.max)(x, axis=self.axes, keepdims=True)
        return y if self.keepdims else xp.reshape(y, _reduced_shape(x.shape, self.axes))

    def backward(self, gy):
        (x,) = self.inputs
        a, xp = x._data, x._backend.xp
        # NaN is the maximum of a slice that holds one: the gradient goes to the NaNs, as in PyTorch's max()
        hit = (a == self.y) | (xp.isnan(a) & xp.isnan(self.y))
        mask = xp.astype(hit, a.dtype)
        share = mask / xp.sum(mask, axis=self.axes, keepdims=True)
        return (gy.reshape(self.y.shape) * _const(x, share),)

    def release(self) -> None:
        self.inputs = self.y = None


class MaxDim(Function):
    """max (``lower``: min) along one dim; the gradient goes to the returned index only, as in PyTorch."""

    __slots__ = ("dim", "keepdims", "lower", "index")
    index: Any  # the saved argmax; None once released

    def __init__(self, dim: int, keepdims: bool, lower: bool) -> None:
        self.dim, self.keepdims, self.lower = dim, keepdims, lower

    def forward(self, xp, x):
        self.index = (xp.argmin if self.lower else xp.argmax)(x, axis=self.dim, keepdims=True)
        return (xp.min if self.lower else xp.max)(x, axis=self.dim, keepdims=self.keepdims)

    def backward(self, gy):
        (x,) = self.inputs
        a, b = x._data, x._backend
        shape = [1] * a.ndim
        shape[self.dim] = a.shape[self.dim]
        positions = b.xp.reshape(b.xp.arange(a.shape[self.dim], device=b.native_device), tuple(shape))
        onehot = b.xp.astype(positions == self.index, a.dtype)
        return (gy.reshape(self.index.shape) * _const(x, onehot),)

    def release(self) -> None:
        self.inputs = self.index = None


class ValuesIndices(NamedTuple):
    """What ``max(x, dim)`` and ``min(x, dim)`` return, like ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


class Norm2(Function):
    """NOTE: an op of its own so that the gradient at x = 0 is 0 (sqrt(sum(x * x)) would give NaN there)."""

    __slots__ = ("axes", "keepdims", "y")
    saves_output = True

    def __init__(self, axes, keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, xp, x):
        y = xp.sqrt(xp.sum(x * x, axis=self.axes, keepdims=self.keepdims))
        self.y = y
        return y

    def backward(self, gy):
        x = self.inputs[0]
        kept = _kept_shape(x._data.shape, self.axes)
        norm = output_tensor(self, self.y).reshape(kept)
        safe = norm.where(norm != 0, 1)  # where the norm is 0 so is x: the gradient is 0
        return ((x / safe) * gy.reshape(kept),)

    def release(self) -> None:
        self.inputs = self.y = None


class CumSum(Function):
    """Cumulative sum along ``axis`` (``reverse``: from the end); each is the other's gradient."""

    __slots__ = ("axis", "reverse")

    def __init__(self, axis: int, reverse: bool) -> None:
        self.axis, self.reverse = axis, reverse

    def forward(self, xp, x):
        if not self.reverse:
            return xp.cumulative_sum(x, axis=self.axis)
        return xp.flip(xp.cumulative_sum(xp.flip(x, axis=self.axis), axis=self.axis), axis=self.axis)

    def backward(self, gy):
        return (apply1(CumSum(self.axis, not self.reverse), gy),)


def _reduced_shape(shape, axes) -> tuple:
    return () if axes is None else tuple(s for i, s in enumerate(shape) if i not in axes)


def _count(shape, axes) -> int:
    n = 1
    for i, s in enumerate(shape):
        if axes is None or i in axes:
            n *= s
    return n


def _numeric(x: Tensor) -> Tensor:
    """Bools and integers summed or multiplied as int64, as in PyTorch (NumPy would give uint8's
    sum as uint64, the array API int32's as int32)."""
    return cast(x, _dtypes.int64) if kind(x) in "biu" else x


def _floating(x: Tensor) -> Tensor:
    return x if kind(x) in "fc" else cast(x, _dtypes.get_default_dtype())


def _all_dims(dim, ndim: int):
    """PyTorch's amax/amin/norm: None and () mean every dim."""
    return None if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0) else normalize_dims(dim, ndim)


def _correction(dim, unbiased, correction, what: str):
    """PyTorch's var/std arguments: ``var(x, True)`` (unbiased, no dim), ``var(x, 0, True)``,
    ``unbiased=`` or ``correction=`` (not both) as ``(dim, correction)``."""
    if isinstance(dim, bool):  # var(x, unbiased)
        if unbiased is not None:
            raise TypeError(f"{what}(): got unbiased twice ({dim!r} as dim and {unbiased!r})")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{what}(): give either unbiased or correction, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


def var(
    x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, keepdims=None, out=None
) -> Tensor:
    """Variance over ``dim`` (None or (): all) with Bessel's ``correction`` (divides by N - correction;
    ``unbiased=False`` is ``correction=0``); PyTorch's positional forms ``var(x, True)`` and
    ``var(x, 0, True, True)`` work too."""
    if keepdims is not None or out is not None:
        return _extras("var", var, out, keepdim, keepdims, x, dim, unbiased, correction=correction)
    dim, correction = _correction(dim, unbiased, correction, "var")
    x = _floating(x)
    axes = _all_dims(dim, x._data.ndim)
    d = x - mean(x, axes, keepdim=True)
    n = _count(x._data.shape, axes) - correction
    return sum(d * d, axes, keepdim) / (n if n > 0 else 0.0)


class _Root(Function):
    """``v ** c`` (0 < c < 1) of a non-negative sum, with gradient 0 where ``v`` is 0: std's sqrt of the
    variance and the p-norm's root, as in PyTorch (no spread, no gradient), not ``inf * 0``."""

    __slots__ = ("c", "y")
    saves_output = True  # y

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, xp, v):
        self.y = y = xp.sqrt(v) if self.c == 0.5 else v**self.c
        return y

    def backward(self, gy):
        (v,) = self.inputs
        y = output_tensor(self, self.y)
        nonzero = _const(y, v._data != 0)
        return ((gy * y * self.c / v.where(nonzero, 1)).where(nonzero, 0),)

    def release(self) -> None:
        self.inputs = self.y = None


def std(
    x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, keepdims=None, out=None
) -> Tensor:
    """Standard deviation over ``dim``: ``sqrt(var(...))`` with the same arguments; its gradient is
    0 where the spread is 0 (as in PyTorch; sqrt's would be nan)."""
    if keepdims is not None or out is not None:
        return _extras("std", std, out, keepdim, keepdims, x, dim, unbiased, correction=correction)
    dim, correction = _correction(dim, unbiased, correction, "std")
    return apply1(_Root(0.5), var(x, dim, keepdim=keepdim, correction=correction))


def prod(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None, keepdims=None, out=None) -> Tensor:
    """Product over ``dim`` (None: all); the gradient is right also where ``x`` has zeros."""
    if keepdims is not None or out is not None:
        return _extras("prod", prod, out, keepdim, keepdims, x, dim, dtype=dtype)
    if dtype is not None:
        x = x.to(dtype)
    x = _numeric(x)
    return apply1(Prod(normalize_dims(dim, x._data.ndim), bool(keepdim)), x)


def amax(x: Tensor, dim=(), keepdim: bool = False, *, keepdims=None, out=None) -> Tensor:
    """Maximum over ``dim`` (() or None: all dims); the gradient is split evenly among ties."""
    if keepdims is not None or out is not None:
        return _extras("amax", amax, out, keepdim, keepdims, x, dim)
    return apply1(AMax(_all_dims(dim, x._data.ndim), bool(keepdim), False), x)


def amin(x: Tensor, dim=(), keepdim: bool = False, *, keepdims=None, out=None) -> Tensor:
    """Minimum over ``dim`` (() or None: all dims); the gradient is split evenly among ties."""
    if keepdims is not None or out is not None:
        return _extras("amin", amin, out, keepdim, keepdims, x, dim)
    return apply1(AMax(_all_dims(dim, x._data.ndim), bool(keepdim), True), x)


def _max_min(x: Tensor, dim, keepdim: bool, lower: bool):
    if isinstance(dim, Tensor):  # max(x, other): the elementwise maximum
        return dim.minimum(x) if lower else dim.maximum(x)
    if dim is None:
        return apply1(AMax(None, False, lower), x)
    d = check_dim(dim, x._data.ndim)
    if x._data.ndim == 0:
        values, indices = _max_min(x.reshape(1), 0, False, lower)
        return ValuesIndices(values.reshape(()), indices.reshape(()))
    fn = MaxDim(d, bool(keepdim), lower)
    values = apply1(fn, x)
    b = x._backend
    index = fn.index if keepdim else b.xp.reshape(fn.index, _reduced_shape(fn.index.shape, (d,)))
    if index.dtype != b.native_dtype(_dtypes.int64):
        index = b.xp.astype(index, b.native_dtype(_dtypes.int64))
    return ValuesIndices(values, Tensor._wrap(index, b))


def max(x: Tensor, dim=None, keepdim: bool = False, *, keepdims=None, out=None):  # noqa: A001 - PyTorch's name
    """``max(x)``: the largest value (ties share the gradient evenly); ``max(x, dim, keepdim)``:
    ``(values, indices)``, the gradient going to the returned index; ``max(x, other)``: ``maximum``."""
    if keepdims is not None or out is not None:
        return _extras("max", max, out, keepdim, keepdims, x, dim)
    return _max_min(x, dim, keepdim, False)


def min(x: Tensor, dim=None, keepdim: bool = False, *, keepdims=None, out=None):  # noqa: A001 - PyTorch's name
    """``min(x)``, ``min(x, dim, keepdim) -> (values, indices)`` or ``min(x, other)``, as ``max``."""
    if keepdims is not None or out is not None:
        return _extras("min", min, out, keepdim, keepdims, x, dim)
    return _max_min(x, dim, keepdim, True)


def _arg(x: Tensor, dim, keepdim: bool, lower: bool) -> Tensor:
    b = x._backend
    xp, a = b.xp, x._data
    f = xp.argmin if lower else xp.argmax
    if dim is None:
        r = f(xp.reshape(a, (-1,)))
        if keepdim:
            r = xp.reshape(r, (1,) * a.ndim)
    elif a.ndim == 0:
        check_dim(dim, 0)
        r = xp.zeros((), dtype=b.native_dtype(_dtypes.int64), device=b.native_device)
    else:
        r = f(a, axis=check_dim(dim, a.ndim), keepdims=bool(keepdim))
    if r.dtype != b.native_dtype(_dtypes.int64):
        r = xp.astype(r, b.native_dtype(_dtypes.int64))
    return Tensor._wrap(r, b)


def argmax(x: Tensor, dim=None, keepdim: bool = False, *, keepdims=None, out=None) -> Tensor:
    """Index of the (first) maximum along ``dim`` (None: of the flattened tensor); int64."""
    if keepdims is not None or out is not None:
        return _extras("argmax", argmax, out, keepdim, keepdims, x, dim)
    return _arg(x, dim, keepdim, False)


def argmin(x: Tensor, dim=None, keepdim: bool = False, *, keepdims=None, out=None) -> Tensor:
    """Index of the (first) minimum along ``dim`` (None: of the flattened tensor); int64."""
    if keepdims is not None or out is not None:
        return _extras("argmin", argmin, out, keepdim, keepdims, x, dim)
    return _arg(x, dim, keepdim, True)


def logsumexp(x: Tensor, dim, keepdim: bool = False, *, keepdims=None, out=None) -> Tensor:
    """``log(sum(exp(x), dim))``, computed stably (shifted by the maximum)."""
    if keepdims is not None or out is not None:
        return _extras("logsumexp", logsumexp, out, keepdim, keepdims, x, dim)
    x = _floating(x)
    axes = normalize_dims(dim, x._data.ndim)
    xp = x._backend.xp
    if _count(x._data.shape, axes) == 0:  # an empty sum: log(0) = -inf, as in PyTorch
        out = sum(x, axes, keepdim=True)
        out = out + _const(out, xp.full_like(out._data, -math.inf))
        return out if keepdim else out.reshape(_reduced_shape(x._data.shape, axes))
    m = xp.max(x._data, axis=axes, keepdims=True)
    # the shift is a constant (the result does not depend on it); infinite maxima shift by 0
    shift = _const(x, xp.where(xp.isfinite(m), m, xp.zeros_like(m)))
    out = sum((x - shift).exp(), axes, keepdim=True).log() + shift
    return out if keepdim else out.reshape(_reduced_shape(x._data.shape, axes))


class NuclearNorm(Function):
    """The sum of the singular values of the matrices in the last two dims; its gradient is
    ``U @ Vh`` (from the reduced SVD; once differentiable)."""

    __slots__ = ("uv",)

    def forward(self, xp, x):
        u, sv, vh = xp.linalg.svd(x, full_matrices=False)
        self.uv = u @ vh
        return xp.sum(sv, axis=-1)

    def backward(self, gy):
        return (gy.reshape((*gy._data.shape, 1, 1)) * _const(gy, self.uv),)

    def release(self) -> None:
        self.inputs = self.uv = None


def _nuclear_norm(x: Tensor, dim, keepdim: bool) -> Tensor:
    ndim = x._data.ndim
    if dim is None:
        if ndim != 2:
            raise ValueError(f"norm: p='nuc' of a tensor of shape {x.shape} needs dim (two dims), or a 2-D input")
        dim = (0, 1)
    axes = tuple(check_dim(d, ndim) for d in dim) if not isinstance(dim, int) else ()
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError(f"norm: p='nuc' needs two distinct dims, got dim={dim}")
    rest = [i for i in range(ndim) if i not in axes]
    y = apply1(NuclearNorm(), x.permute(*rest, *axes))
    if keepdim:
        y = y.reshape(_kept_shape(x._data.shape, axes))
    return y


def norm(x: Tensor, p: float | str = "fro", dim=None, keepdim: bool = False, dtype=None, *, out=None) -> Tensor:
    """Vector norm over ``dim`` (None: all elements): p = 2 or 'fro' (the default; gradient 0 at 0),
    1, inf, -inf, 0 (count of non-zeros) or any other number (gradient 0 at 0 for p > 0, as in
    PyTorch); 'nuc': the nuclear norm of a matrix (2-D, or over the two dims of ``dim``)."""
    if out is not None:
        return write_out(out, norm(x, p, dim, keepdim, dtype), "norm")
    if dtype is not None:
        x = x.to(dtype)
    x = _floating(x)
    axes = _all_dims(dim, x._data.ndim)
    keepdim = bool(keepdim)
    if p == "fro" or p == 2:
        return apply1(Norm2(axes, keepdim), x)
    if p == "nuc":
        return _nuclear_norm(x, dim, keepdim)
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not available (use 'fro', 'nuc' or a number)")
    if p == 1:
        return sum(x.abs(), axes, keepdim)
    if p == math.inf:
        return amax(x.abs(), axes, keepdim)
    if p == -math.inf:
        return amin(x.abs(), axes, keepdim)
    if p == 0:
        return sum(cast(x != 0, x.dtype), axes, keepdim)
    # NOTE: zeros masked out of |x| ** p (its gradient there is inf * 0 for p < 1) and the root's
    # gradient 0 where the sum is 0: PyTorch's gradient 0 at 0
    if p < 0:  # zeros count (|0| ** p is inf)
        return sum(x.abs() ** p, axes, keepdim) ** (1 / p)
    nonzero = _const(x, x._data != 0)
    powers = (x.abs().where(nonzero, 1) ** p).where(nonzero, 0)
    s = sum(powers, axes, keepdim)
    return apply1(_Root(1 / p), s) if 0 < p < math.inf and 1 / p < 1 else s ** (1 / p)


def cumsum(x: Tensor, dim: int, *, dtype=None, out=None) -> Tensor:
    """Cumulative sum along ``dim``; its gradient is the reversed cumulative sum."""
    if out is not None:
        return write_out(out, cumsum(x, dim, dtype=dtype), "cumsum")
    if dtype is not None:
        x = x.to(dtype)
    x = _numeric(x)
    if x._data.ndim == 0:
        check_dim(dim, 0)
        return apply1(CumSum(0, False), x.reshape(1)).reshape(())
    return apply1(CumSum(check_dim(dim, x._data.ndim), False), x)


def _truth_reduce(x: Tensor, dim, keepdim: bool, name: str) -> Tensor:
    b = x._backend
    a = x._data
    if a.dtype != b.native_dtype(_dtypes.bool):
        a = a != 0
    return Tensor._wrap(getattr(b.xp, name)(a, axis=normalize_dims(dim, a.ndim), keepdims=bool(keepdim)), b)


def all(x: Tensor, dim=None, keepdim: bool = False, *, keepdims=None, out=None) -> Tensor:  # noqa: A001 - PyTorch's name
    """True where every element over ``dim`` (None: all) is nonzero; a bool tensor."""
    if keepdims is not None or out is not None:
        return _extras("all", all, out, keepdim, keepdims, x, dim)
    return _truth_reduce(x, dim, keepdim, "all")


def any(x: Tensor, dim=None, keepdim: bool = False, *, keepdims=None, out=None) -> Tensor:  # noqa: A001 - PyTorch's name
    """True where some element over ``dim`` (None: all) is nonzero; a bool tensor."""
    if keepdims is not None or out is not None:
        return _extras("any", any, out, keepdim, keepdims, x, dim)
    return _truth_reduce(x, dim, keepdim, "any")


TENSOR_METHODS = {
    "sum": sum,
    "mean": mean,
    "var": var,
    "std": std,
    "prod": prod,
    "max": max,
    "min": min,
    "amax": amax,
    "amin": amin,
    "argmax": argmax,
    "argmin": argmin,
    "logsumexp": logsumexp,
    "norm": norm,
    "cumsum": cumsum,
    "all": all,
    "any": any,
    "broadcast_to": broadcast_to,
}
