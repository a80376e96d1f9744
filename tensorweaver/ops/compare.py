"""The ops whose results are bool or integer, never in the graph: comparisons, logical and bitwise
ops, isnan/isinf/isfinite and floor division."""

from __future__ import annotations

from .. import _dtypes
from .._errors import ShapeError
from ._common import Tensor, kind, operands, write_out

__all__ = [
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "isnan",
    "isinf",
    "isfinite",
    "floor_divide",
    "isclose",
]


def _nograd(name: str, op, x, y) -> Tensor:
    x, y = operands(x, y, name)
    try:
        return Tensor._wrap(op(x._backend.xp, x._data, y._data), x._backend)
    except ValueError as e:
        raise ShapeError(f"{name}: shapes {x.shape} and {y.shape} cannot be broadcast together ({e})") from None


def eq(x: Tensor, other, *, out=None) -> Tensor:
    """``x == other`` elementwise (a bool tensor)."""
    if out is not None:
        return write_out(out, eq(x, other), "eq")
    return _nograd("eq", lambda xp, a, b: a == b, x, other)


def ne(x: Tensor, other, *, out=None) -> Tensor:
    """``x != other`` elementwise (a bool tensor)."""
    if out is not None:
        return write_out(out, ne(x, other), "ne")
    return _nograd("ne", lambda xp, a, b: a != b, x, other)


def lt(x: Tensor, other, *, out=None) -> Tensor:
    """``x < other`` elementwise (a bool tensor)."""
    if out is not None:
        return write_out(out, lt(x, other), "lt")
    return _nograd("lt", lambda xp, a, b: a < b, x, other)


def le(x: Tensor, other, *, out=None) -> Tensor:
    """``x <= other`` elementwise (a bool tensor)."""
    if out is not None:
        return write_out(out, le(x, other), "le")
    return _nograd("le", lambda xp, a, b: a <= b, x, other)


def gt(x: Tensor, other, *, out=None) -> Tensor:
    """``x > other`` elementwise (a bool tensor)."""
    if out is not None:
        return write_out(out, gt(x, other), "gt")
    return _nograd("gt", lambda xp, a, b: a > b, x, other)


def ge(x: Tensor, other, *, out=None) -> Tensor:
    """``x >= other`` elementwise (a bool tensor)."""
    if out is not None:
        return write_out(out, ge(x, other), "ge")
    return _nograd("ge", lambda xp, a, b: a >= b, x, other)


def _truth(xp, a):
    return a if a.dtype == xp.bool else a != 0


def logical_and(x: Tensor, other, *, out=None) -> Tensor:
    """Elementwise logical and (nonzero is True); a bool tensor."""
    if out is not None:
        return write_out(out, logical_and(x, other), "logical_and")
    return _nograd("logical_and", lambda xp, a, b: xp.logical_and(_truth(xp, a), _truth(xp, b)), x, other)


def logical_or(x: Tensor, other, *, out=None) -> Tensor:
    """Elementwise logical or (nonzero is True); a bool tensor."""
    if out is not None:
        return write_out(out, logical_or(x, other), "logical_or")
    return _nograd("logical_or", lambda xp, a, b: xp.logical_or(_truth(xp, a), _truth(xp, b)), x, other)


def logical_xor(x: Tensor, other, *, out=None) -> Tensor:
    """Elementwise logical exclusive or (nonzero is True); a bool tensor."""
    if out is not None:
        return write_out(out, logical_xor(x, other), "logical_xor")
    return _nograd("logical_xor", lambda xp, a, b: xp.logical_xor(_truth(xp, a), _truth(xp, b)), x, other)


def logical_not(x: Tensor, *, out=None) -> Tensor:
    """Elementwise logical not (nonzero is True); a bool tensor."""
    if out is not None:
        return write_out(out, logical_not(x), "logical_not")
    xp = x._backend.xp
    return Tensor._wrap(xp.logical_not(_truth(xp, x._data)), x._backend)


def _check_integral(name: str, *ts) -> None:
    for t in ts:
        if isinstance(t, Tensor) and kind(t) not in "biu":
            raise TypeError(f"{name}: only integer and bool tensors are supported, got {t.dtype}")
        if isinstance(t, float):
            raise TypeError(f"{name}: only integer and bool operands are supported, got a float")


def bitwise_and(x: Tensor, other, *, out=None) -> Tensor:
    """``x & other`` for integer or bool tensors (logical and for bools)."""
    if out is not None:
        return write_out(out, bitwise_and(x, other), "bitwise_and")
    _check_integral("bitwise_and", x, other)
    return _nograd("bitwise_and", lambda xp, a, b: xp.bitwise_and(a, b), x, other)


def bitwise_or(x: Tensor, other, *, out=None) -> Tensor:
    """``x | other`` for integer or bool tensors."""
    if out is not None:
        return write_out(out, bitwise_or(x, other), "bitwise_or")
    _check_integral("bitwise_or", x, other)
    return _nograd("bitwise_or", lambda xp, a, b: xp.bitwise_or(a, b), x, other)


def bitwise_xor(x: Tensor, other, *, out=None) -> Tensor:
    """``x ^ other`` for integer or bool tensors."""
    if out is not None:
        return write_out(out, bitwise_xor(x, other), "bitwise_xor")
    _check_integral("bitwise_xor", x, other)
    return _nograd("bitwise_xor", lambda xp, a, b: xp.bitwise_xor(a, b), x, other)


def bitwise_not(x: Tensor, *, out=None) -> Tensor:
    """``~x`` for integer or bool tensors (logical not for bools)."""
    if out is not None:
        return write_out(out, bitwise_not(x), "bitwise_not")
    _check_integral("bitwise_not", x)
    return Tensor._wrap(x._backend.xp.bitwise_invert(x._data), x._backend)


def _float_test(x: Tensor, name: str, fill: bool) -> Tensor:
    """``xp.<name>`` of ``x``, or ``fill`` everywhere for a bool or integer ``x`` (never NaN or inf;
    array-API libraries refuse bools there)."""
    b = x._backend
    xp = b.xp
    if xp.isdtype(x._data.dtype, "bool") or xp.isdtype(x._data.dtype, "integral"):
        return Tensor._wrap(xp.full(x._data.shape, fill, dtype=xp.bool, device=b.native_device), b)
    return Tensor._wrap(getattr(xp, name)(x._data), b)


def isnan(x: Tensor, *, out=None) -> Tensor:
    """True where ``x`` is NaN."""
    if out is not None:
        return write_out(out, isnan(x), "isnan")
    return _float_test(x, "isnan", False)


def isinf(x: Tensor, *, out=None) -> Tensor:
    """True where ``x`` is +-inf."""
    if out is not None:
        return write_out(out, isinf(x), "isinf")
    return _float_test(x, "isinf", False)


def isfinite(x: Tensor, *, out=None) -> Tensor:
    """True where ``x`` is neither NaN nor +-inf."""
    if out is not None:
        return write_out(out, isfinite(x), "isfinite")
    return _float_test(x, "isfinite", True)


def floor_divide(x: Tensor, other, *, out=None) -> Tensor:
    """``x // other`` rounded toward -inf (as Python and PyTorch do); not differentiable."""
    if out is not None:
        return write_out(out, floor_divide(x, other), "floor_divide")
    return _nograd("floor_divide", lambda xp, a, b: xp.floor_divide(a, b), x, other)


def _operator(fn):
    """``fn`` as a Tensor operator: NotImplemented for operands it does not know (``t == None`` is False)."""

    def op(self, other):
        if isinstance(other, (Tensor, bool, int, float, complex)) or hasattr(other, "__array_interface__"):
            return fn(self, other)
        if hasattr(other, "item") and getattr(other, "ndim", None) == 0:
            return fn(self, other)
        return NotImplemented

    return op


def _reflected(fn):
    def op(self, other):
        return fn(other, self)

    return op


def isclose(x: Tensor, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """True where ``|x - other| <= atol + rtol * |other|`` (equal values, infinities included, are
    always close; NaNs only with ``equal_nan``), as a bool tensor."""
    x, y = operands(x, other, "isclose")
    b = x._backend
    xp, a, c = b.xp, x._data, y._data
    close = a == c
    if kind(x) in "fc":
        finite = xp.isfinite(a) & xp.isfinite(c)  # (inf - inf would be a NaN with a warning)
        zero = xp.zeros_like(a)
        a, c = xp.where(finite, a, zero), xp.where(finite, c, zero)
        close = close | (finite & (xp.abs(a - c) <= atol + rtol * xp.abs(c)))
        if equal_nan:
            close = close | (xp.isnan(x._data) & xp.isnan(y._data))
    elif kind(x) != "b":  # integers: the tolerance in floating point (no wrap-around of a - c)
        f = b.to_native.get(_dtypes.float64, b.native_dtype(_dtypes.float32))
        af, cf = xp.astype(a, f), xp.astype(c, f)
        close = close | (xp.abs(af - cf) <= atol + rtol * xp.abs(cf))
    return Tensor._wrap(close, b)


TENSOR_METHODS = {
    "isclose": isclose,
    "eq": eq,
    "ne": ne,
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "logical_and": logical_and,
    "logical_or": logical_or,
    "logical_xor": logical_xor,
    "logical_not": logical_not,
    "bitwise_and": bitwise_and,
    "bitwise_or": bitwise_or,
    "bitwise_xor": bitwise_xor,
    "bitwise_not": bitwise_not,
    "isnan": isnan,
    "isinf": isinf,
    "isfinite": isfinite,
    "floor_divide": floor_divide,
    # operators (NOTE: Tensor keeps __hash__ = object.__hash__, so tensors stay usable as dict keys)
    "__eq__": _operator(eq),
    "__ne__": _operator(ne),
    "__lt__": _operator(lt),
    "__le__": _operator(le),
    "__gt__": _operator(gt),
    "__ge__": _operator(ge),
    "__invert__": bitwise_not,
    "__and__": _operator(bitwise_and),
    "__rand__": _operator(bitwise_and),
    "__or__": _operator(bitwise_or),
    "__ror__": _operator(bitwise_or),
    "__xor__": _operator(bitwise_xor),
    "__rxor__": _operator(bitwise_xor),
    "__floordiv__": _operator(floor_divide),
    "__rfloordiv__": _operator(_reflected(floor_divide)),
}
