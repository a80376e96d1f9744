"""The ops whose results are bool or integer, never in the graph: comparisons, logical and bitwise
ops, isnan/isinf/isfinite and floor division."""

from __future__ import annotations

from .._errors import ShapeError
from ._common import Tensor, kind, operands

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
]


def _nograd(name: str, op, x, y) -> Tensor:
    x, y = operands(x, y, name)
    try:
        return Tensor._wrap(op(x._backend.xp, x._data, y._data), x._backend)
    except ValueError as e:
        raise ShapeError(f"{name}: shapes {x.shape} and {y.shape} cannot be broadcast together ({e})") from None


def eq(x: Tensor, other) -> Tensor:
    """``x == other`` elementwise (a bool tensor)."""
    return _nograd("eq", lambda xp, a, b: a == b, x, other)


def ne(x: Tensor, other) -> Tensor:
    """``x != other`` elementwise (a bool tensor)."""
    return _nograd("ne", lambda xp, a, b: a != b, x, other)


def lt(x: Tensor, other) -> Tensor:
    """``x < other`` elementwise (a bool tensor)."""
    return _nograd("lt", lambda xp, a, b: a < b, x, other)


def le(x: Tensor, other) -> Tensor:
    """``x <= other`` elementwise (a bool tensor)."""
    return _nograd("le", lambda xp, a, b: a <= b, x, other)


def gt(x: Tensor, other) -> Tensor:
    """``x > other`` elementwise (a bool tensor)."""
    return _nograd("gt", lambda xp, a, b: a > b, x, other)


def ge(x: Tensor, other) -> Tensor:
    """``x >= other`` elementwise (a bool tensor)."""
    return _nograd("ge", lambda xp, a, b: a >= b, x, other)


def _truth(xp, a):
    return a if a.dtype == xp.bool else a != 0


def logical_and(x: Tensor, other) -> Tensor:
    """Elementwise logical and (nonzero is True); a bool tensor."""
    return _nograd("logical_and", lambda xp, a, b: xp.logical_and(_truth(xp, a), _truth(xp, b)), x, other)


def logical_or(x: Tensor, other) -> Tensor:
    """Elementwise logical or (nonzero is True); a bool tensor."""
    return _nograd("logical_or", lambda xp, a, b: xp.logical_or(_truth(xp, a), _truth(xp, b)), x, other)


def logical_xor(x: Tensor, other) -> Tensor:
    """Elementwise logical exclusive or (nonzero is True); a bool tensor."""
    return _nograd("logical_xor", lambda xp, a, b: xp.logical_xor(_truth(xp, a), _truth(xp, b)), x, other)


def logical_not(x: Tensor) -> Tensor:
    """Elementwise logical not (nonzero is True); a bool tensor."""
    xp = x._backend.xp
    return Tensor._wrap(xp.logical_not(_truth(xp, x._data)), x._backend)


def _check_integral(name: str, *ts) -> None:
    for t in ts:
        if isinstance(t, Tensor) and kind(t) not in "biu":
            raise TypeError(f"{name}: only integer and bool tensors are supported, got {t.dtype}")
        if isinstance(t, float):
            raise TypeError(f"{name}: only integer and bool operands are supported, got a float")


def bitwise_and(x: Tensor, other) -> Tensor:
    """``x & other`` for integer or bool tensors (logical and for bools)."""
    _check_integral("bitwise_and", x, other)
    return _nograd("bitwise_and", lambda xp, a, b: xp.bitwise_and(a, b), x, other)


def bitwise_or(x: Tensor, other) -> Tensor:
    """``x | other`` for integer or bool tensors."""
    _check_integral("bitwise_or", x, other)
    return _nograd("bitwise_or", lambda xp, a, b: xp.bitwise_or(a, b), x, other)


def bitwise_xor(x: Tensor, other) -> Tensor:
    """``x ^ other`` for integer or bool tensors."""
    _check_integral("bitwise_xor", x, other)
    return _nograd("bitwise_xor", lambda xp, a, b: xp.bitwise_xor(a, b), x, other)


def bitwise_not(x: Tensor) -> Tensor:
    """``~x`` for integer or bool tensors (logical not for bools)."""
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


def isnan(x: Tensor) -> Tensor:
    """True where ``x`` is NaN."""
    return _float_test(x, "isnan", False)


def isinf(x: Tensor) -> Tensor:
    """True where ``x`` is +-inf."""
    return _float_test(x, "isinf", False)


def isfinite(x: Tensor) -> Tensor:
    """True where ``x`` is neither NaN nor +-inf."""
    return _float_test(x, "isfinite", True)


def floor_divide(x: Tensor, other) -> Tensor:
    """``x // other`` rounded toward -inf (as Python and PyTorch do); not differentiable."""
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


TENSOR_METHODS = {
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
