"""Elementwise arithmetic: + - * / ** with tensors or Python scalars on either side, clone, clamp,
maximum/minimum, where and remainder (each input's gradient summed back to its shape)."""

from __future__ import annotations

import math

from .. import _dtypes
from .._errors import DtypeError, ShapeError
from ._common import (
    Function,
    Tensor,
    apply1,
    apply2,
    apply_n,
    const,
    float_input,
    operands,
    output_tensor,
    resolve,
    scalar_tensor,
    write_out,
)
from .compare import _operator, _reflected, floor_divide, gt, lt
from .reduce import sum_to, sum_to_array

__all__ = [
    "add",
    "clone",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "clamp",
    "clip",
    "clamp_min",
    "clamp_max",
    "maximum",
    "minimum",
    "where",
    "remainder",
]


class Add(Function):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x, y):
        try:  # NOTE: a try costs nothing on Python 3.11+ until it raises: the hot path stays one +
            return x + y
        except TypeError:  # bool + bool is logical or, as in PyTorch (array_api_strict refuses +)
            if xp.isdtype(x.dtype, "bool") and xp.isdtype(y.dtype, "bool"):
                return xp.logical_or(x, y)
            raise

    def backward(self, gy):
        x, y = self.inputs
        return (
            sum_to(gy, x._data.shape) if x._requires_grad else None,
            sum_to(gy, y._data.shape) if y._requires_grad else None,
        )

    def backward_array(self, xp, gy):
        x, y = self.inputs
        shape = gy.shape
        xs, ys = x._data.shape, y._data.shape
        return (
            (gy if xs == shape else sum_to_array(xp, gy, xs)) if x._requires_grad else None,
            (gy if ys == shape else sum_to_array(xp, gy, ys)) if y._requires_grad else None,
        )


class Sub(Function):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x, y):
        return x - y

    def backward(self, gy):
        x, y = self.inputs
        return (
            sum_to(gy, x._data.shape) if x._requires_grad else None,
            sum_to(-gy, y._data.shape) if y._requires_grad else None,
        )

    def backward_array(self, xp, gy):
        x, y = self.inputs
        xs = x._data.shape
        return (
            (gy if xs == gy.shape else sum_to_array(xp, gy, xs)) if x._requires_grad else None,
            sum_to_array(xp, -gy, y._data.shape) if y._requires_grad else None,
        )


class Mul(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        try:  # as Add: free until it raises
            return x * y
        except TypeError:  # bool * bool is logical and, as in PyTorch
            if xp.isdtype(x.dtype, "bool") and xp.isdtype(y.dtype, "bool"):
                return xp.logical_and(x, y)
            raise

    def backward(self, gy):
        x, y = self.inputs
        return (
            sum_to(gy * y, x._data.shape) if x._requires_grad else None,
            sum_to(gy * x, y._data.shape) if y._requires_grad else None,
        )

    def backward_array(self, xp, gy):
        x, y = self.inputs
        a, b = x._data, y._data
        return (
            sum_to_array(xp, gy * b, a.shape) if x._requires_grad else None,
            sum_to_array(xp, gy * a, b.shape) if y._requires_grad else None,
        )


class Div(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        return x / y

    def backward(self, gy):
        x, y = self.inputs
        gx = gy / y
        return (
            sum_to(gx, x._data.shape) if x._requires_grad else None,
            sum_to(-gx * x / y, y._data.shape) if y._requires_grad else None,
        )


def _int_pow(xp, x, y):
    """Integer ``x ** y`` with PyTorch's answer for a negative exponent tensor (NumPy refuses):
    1 for x == 1, +-1 for x == -1 by the exponent's parity, 0 otherwise (the integer part of 1 / x**|y|)."""
    neg = y < 0  # no host read of any(neg): the same ops on every device, without a sync
    one, zero = xp.ones_like(x), xp.zeros_like(x)
    r = x ** xp.where(neg, xp.zeros_like(y), y)
    odd = (y % 2) != 0
    special = xp.where(x == 1, one, xp.where(x == -1, xp.where(odd, -one, one), zero))
    return xp.where(neg, special, r)


class Pow(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        if xp.isdtype(y.dtype, "signed integer") and xp.isdtype(x.dtype, "integral"):
            return _int_pow(xp, x, y)
        return x**y

    def backward(self, gy):
        # NOTE: as in PyTorch, d/dx is 0 where y == 0 (not 0 * x ** -1 = nan at x = 0) and d/dy is 0
        # where x == 0 and y >= 0 (not 0 * log(0) = nan)
        x, y = self.inputs
        a, e = x._data, y._data
        gx = gyy = None
        if x._requires_grad:
            zero = const(y, e == 0)
            gx = sum_to(where(zero, 0.0, gy * y * x ** (where(zero, 1.0, y) - 1)), x._data.shape)
        if y._requires_grad:
            flat = const(x, (a == 0) & (e >= 0))
            safe = where(flat, 1.0, x)  # log(1) = 0 there: no log(0) evaluated
            gyy = sum_to(where(flat, 0.0, gy * x**y * safe.log()), y._data.shape)
        return gx, gyy


class _ScalarOp(Function):
    __slots__ = ("c",)

    def __init__(self, c) -> None:
        self.c = c


class AddScalar(_ScalarOp):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x + self.c

    def backward(self, gy):
        return (gy,)


class SubScalar(_ScalarOp):  # x - c (not x + (-c): -c may not fit an unsigned dtype)
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x - self.c

    def backward(self, gy):
        return (gy,)


class Clone(Function):
    """A copy with its own memory; the gradient passes through."""

    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return xp.asarray(x, copy=True)

    def backward(self, gy):
        return (gy,)


def clone(x: Tensor) -> Tensor:
    """A copy of ``x`` with its own memory, in the graph (the gradient flows back to ``x``)."""
    return apply1(Clone(), x)


class RSubScalar(_ScalarOp):  # c - x
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return self.c - x

    def backward(self, gy):
        return (-gy,)


class MulScalar(_ScalarOp):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x * self.c

    def backward(self, gy):
        return (gy * self.c,)


class DivScalar(_ScalarOp):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x / self.c

    def backward(self, gy):
        return (gy / self.c,)


class RDivScalar(_ScalarOp):  # c / x
    __slots__ = ()

    def forward(self, xp, x):
        return self.c / x

    def backward(self, gy):
        (x,) = self.inputs
        r = 1.0 / x  # -c * (1 / x) ** 2, not -c / (x * x): its own derivative at 0 is inf, not nan (PyTorch)
        return (gy * (r * r) * -self.c,)


class PowScalar(_ScalarOp):  # x ** c
    __slots__ = ()

    def forward(self, xp, x):
        return x**self.c

    def backward(self, gy):
        (x,) = self.inputs
        c = self.c
        if c == 2:
            return (gy * (x * 2),)
        if c == 0:  # not 0 * x ** -1 (nan at x = 0): 0, as in PyTorch
            return (gy * 0.0,)
        return (gy * (x ** (c - 1) * c),)

    def backward_array(self, xp, gy):
        x = self.inputs[0]._data
        c = self.c
        if c == 2:
            return (gy * (x * 2),)
        if c == 0:
            return (xp.zeros_like(gy),)
        return (gy * (x ** (c - 1) * c),)


class RPowScalar(_ScalarOp):  # c ** x
    __slots__ = ("y",)
    keeps_inputs = False  # backward reads only its output
    saves_output = True

    def forward(self, xp, x):
        self.y = y = self.c**x
        return y

    def backward(self, gy):
        if self.c == 0:  # 0 ** x: gradient 0 where x >= 0 (not 0 * log(0)), as in PyTorch
            (x,) = self.inputs
            return (where(const(x, x._data >= 0), 0.0, gy * -math.inf),)
        return (gy * output_tensor(self, self.y) * math.log(self.c),)

    def release(self) -> None:
        self.inputs = self.y = None


class Neg(Function):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return -x

    def backward(self, gy):
        return (-gy,)


class ClampScalar(Function):
    """Clamp to Python-number bounds (None: unbounded); the gradient passes where lo <= x <= hi."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, xp, x):
        # maximum then minimum (not clip): NaN propagates and lo > hi gives hi, as in PyTorch
        if self.lo is not None:
            x = xp.maximum(x, self.lo)
        if self.hi is not None:
            x = xp.minimum(x, self.hi)
        return x

    def backward(self, gy):
        (x,) = self.inputs
        a, xp = x._data, x._backend.xp
        if self.lo is None:
            inside = a <= self.hi
        elif self.hi is None:
            inside = a >= self.lo
        else:
            inside = xp.logical_and(a >= self.lo, a <= self.hi)
        return (gy * const(x, xp.astype(inside, a.dtype)),)


class Maximum(Function):
    """Elementwise maximum (``lower``: minimum); ties split the gradient half and half, as in PyTorch."""

    __slots__ = ("lower",)

    def __init__(self, lower: bool) -> None:
        self.lower = lower

    def forward(self, xp, x, y):
        return xp.minimum(x, y) if self.lower else xp.maximum(x, y)

    def backward(self, gy):
        x, y = self.inputs
        a, b, xp = x._data, y._data, x._backend.xp
        # as in PyTorch: each side gets the gradient unless it lost (half each on a tie), so a NaN
        # (which neither wins nor loses nor ties) passes it to both
        tie = xp.astype(a == b, a.dtype) * 0.5
        x_lost, y_lost = (a > b, a < b) if self.lower else (a < b, a > b)
        return (
            sum_to(gy * const(x, 1 - xp.astype(x_lost, a.dtype) - tie), a.shape) if x._requires_grad else None,
            sum_to(gy * const(x, 1 - xp.astype(y_lost, a.dtype) - tie), b.shape) if y._requires_grad else None,
        )


class Where(Function):
    """``x`` where ``condition`` else ``y``; the gradient goes to the chosen branch."""

    __slots__ = ()

    def forward(self, xp, condition, x, y):
        return xp.where(condition, x, y)

    def backward(self, gy):
        condition, x, y = self.inputs
        zero = scalar_tensor(gy, 0)
        return (
            None,
            sum_to(where(condition, gy, zero), x._data.shape) if x._requires_grad else None,
            sum_to(where(condition, zero, gy), y._data.shape) if y._requires_grad else None,
        )


def _binary(cls, scalar_cls, x: Tensor, y):
    ty = type(y)
    if ty is Tensor and y._backend is x._backend and x._data.dtype is y._data.dtype:  # the common case
        return apply2(cls(), x, y)
    # NOTE: resolve's first case, inlined: the update step's lr * w.grad and the loss's d ** 2 skip a call
    if (ty is float or ty is int) and x._backend.from_native[x._data.dtype].kind in "fc":
        return apply1(scalar_cls(y), x)
    x, t, c = resolve(x, y, cls.__name__)
    return apply2(cls(), x, t) if t is not None else apply1(scalar_cls(c), x)


def _reflected_scalar(scalar_cls, op, x: Tensor, other):
    """``other (op) x`` for a non-Tensor ``other``: ``op(other_tensor, x)`` for array data, else the scalar op."""
    x, t, c = resolve(x, other, op.__name__)
    return op(t, x) if t is not None else apply1(scalar_cls(c), x)


def add(x, other, *, alpha=1, out=None):
    """``x + alpha * other``, broadcasting; Python scalars on either side."""
    if out is not None:
        return write_out(out, add(x, other, alpha=alpha), "add")
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    if not isinstance(x, Tensor):
        x, other = other, x
    return _binary(Add, AddScalar, x, other)


def sub(x, other, *, alpha=1, out=None):
    """``x - alpha * other``."""
    if out is not None:
        return write_out(out, sub(x, other, alpha=alpha), "sub")
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    if not isinstance(x, Tensor):
        return rsub(other, x)
    return _binary(Sub, SubScalar, x, other)


def rsub(x: Tensor, other):
    """``other - x`` (the reflected ``-``)."""
    if isinstance(other, Tensor):
        return sub(other, x)
    return _reflected_scalar(RSubScalar, sub, x, other)


def mul(x, other, *, out=None):
    """``x * other``, broadcasting."""
    if out is not None:
        return write_out(out, mul(x, other), "mul")
    if not isinstance(x, Tensor):
        x, other = other, x
    return _binary(Mul, MulScalar, x, other)


class RoundedDiv(Function):
    """``x / y`` rounded toward 0 (``trunc``) or -inf (``floor``) in the inputs' dtype; its gradient
    is 0, as in PyTorch (the rounding is flat almost everywhere)."""

    __slots__ = ("floor",)
    keeps_inputs = False  # backward reads only shapes/dtypes

    def __init__(self, floor: bool) -> None:
        self.floor = floor

    def forward(self, xp, x, y):
        if xp.isdtype(x.dtype, "integral"):
            q = xp.floor_divide(x, y)
            if self.floor:
                return q
            # floor -> trunc: one up where the remainder is non-zero and the signs differ
            up = (x - q * y != 0) & ((x < 0) != (y < 0))
            return xp.where(up, q + 1, q)
        q = x / y
        return xp.floor(q) if self.floor else xp.trunc(q)

    def backward(self, gy):
        x, y = self.inputs
        zero = gy * 0.0
        return (
            sum_to(zero, x._data.shape) if x._requires_grad else None,
            sum_to(zero, y._data.shape) if y._requires_grad else None,
        )


def div(x, other, *, rounding_mode=None, out=None):
    """True division ``x / other`` (integers give floats, as in PyTorch); ``rounding_mode="trunc"``
    or ``"floor"`` rounds the quotient toward 0 or -inf and keeps integer dtypes (gradient 0)."""
    if out is not None:
        return write_out(out, div(x, other, rounding_mode=rounding_mode), "div")
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
            )
        x, y = operands(x, other, "div")
        if x.dtype is _dtypes.bool:
            raise TypeError(f"div(rounding_mode={rounding_mode!r}) is not defined for bool tensors")
        return apply2(RoundedDiv(rounding_mode == "floor"), x, y)
    if not isinstance(x, Tensor):
        return rdiv(other, x)
    x = float_input(x)
    if isinstance(other, Tensor):
        other = float_input(other)
    return _binary(Div, DivScalar, x, other)


def rdiv(x: Tensor, other):
    """``other / x`` (the reflected ``/``)."""
    if isinstance(other, Tensor):
        return div(other, x)
    return _reflected_scalar(RDivScalar, div, float_input(x), other)


def pow(x, exponent, *, out=None):  # noqa: A001 - PyTorch's name; the builtin is not used in this module
    """``x ** exponent``; the exponent may be a tensor or a Python number."""
    if out is not None:
        return write_out(out, pow(x, exponent), "pow")
    if not isinstance(x, Tensor):
        return rpow(exponent, x)
    return _binary(Pow, PowScalar, x, exponent)


def rpow(x: Tensor, other):
    """``other ** x`` (the reflected ``**``)."""
    if isinstance(other, Tensor):
        return pow(other, x)
    return _reflected_scalar(RPowScalar, pow, x, other)


def neg(x: Tensor, *, out=None) -> Tensor:
    """``-x``."""
    if out is not None:
        return write_out(out, neg(x), "neg")
    return apply1(Neg(), x)


def _clamp_scalar(x: Tensor, lo, hi) -> Tensor:
    for c in (lo, hi):
        if c is not None:
            x, t, _ = resolve(x, c, "clamp")  # an int tensor clamped to a float bound becomes float
            if t is not None:
                raise TypeError(f"clamp: bounds must be numbers or Tensors, got {type(c).__name__}")
    return apply1(ClampScalar(lo, hi), x)


def clamp(x: Tensor, min=None, max=None, *, out=None) -> Tensor:  # noqa: A002 - PyTorch's parameter names
    """``x`` limited to ``[min, max]`` (numbers or tensors; either may be None); the gradient passes
    to ``x`` where ``min <= x <= max`` and to a tensor bound where it is the result."""
    if out is not None:
        return write_out(out, clamp(x, min, max), "clamp")
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        return _clamp_scalar(x, min, max)
    if min is not None:
        x = where(lt(x, min), min, x) if isinstance(min, Tensor) else _clamp_scalar(x, min, None)
    if max is not None:
        x = where(gt(x, max), max, x) if isinstance(max, Tensor) else _clamp_scalar(x, None, max)
    return x


clip = clamp


def clamp_min(x: Tensor, min, *, out=None) -> Tensor:  # noqa: A002 - PyTorch's parameter name
    """``clamp(x, min=min)``."""
    if out is not None:
        return write_out(out, clamp_min(x, min), "clamp_min")
    return clamp(x, min=min)


def clamp_max(x: Tensor, max, *, out=None) -> Tensor:  # noqa: A002 - PyTorch's parameter name
    """``clamp(x, max=max)``."""
    if out is not None:
        return write_out(out, clamp_max(x, max), "clamp_max")
    return clamp(x, max=max)


def maximum(x: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Elementwise maximum, broadcasting; ties split the gradient evenly."""
    if out is not None:
        return write_out(out, maximum(x, other), "maximum")
    return apply2(Maximum(False), *operands(x, other, "maximum"))


def minimum(x: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Elementwise minimum, broadcasting; ties split the gradient evenly."""
    if out is not None:
        return write_out(out, minimum(x, other), "minimum")
    return apply2(Maximum(True), *operands(x, other, "minimum"))


def where(condition: Tensor, x, y, *, out=None) -> Tensor:
    """``x`` where ``condition`` (a bool tensor) is True, else ``y``; the gradient goes to the chosen one."""
    if out is not None:
        return write_out(out, where(condition, x, y), "where")
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a bool tensor, got {type(condition).__name__}")
    if condition.dtype is not _dtypes.bool:
        raise DtypeError(f"where: condition must be a bool tensor, got {condition.dtype}")
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        x = Tensor(x, device=condition.device)
    x, y = operands(x, y, "where")
    try:
        return apply_n(Where(), (condition, x, y))
    except ValueError as e:
        raise ShapeError(
            f"where: shapes {condition.shape}, {x.shape} and {y.shape} cannot be broadcast together ({e})"
        ) from None


class Remainder(Function):
    """``x % y`` with the sign of ``y``; its derivatives are 1 for ``x`` and ``-floor(x / y)`` for
    ``y`` (as in PyTorch; the jumps where ``x / y`` is an integer have none)."""

    __slots__ = ()

    def forward(self, xp, x, y):
        return xp.remainder(x, y)

    def backward(self, gy):
        x, y = self.inputs
        return (
            sum_to(gy, x._data.shape) if x._requires_grad else None,
            sum_to(-gy * floor_divide(x, y), y._data.shape) if y._requires_grad else None,
        )


def remainder(x: Tensor, other, *, out=None) -> Tensor:
    """``x % other`` with the sign of ``other`` (Python's convention, as in PyTorch); differentiable
    in both (1 for ``x``, ``-floor(x / other)`` for ``other``)."""
    if out is not None:
        return write_out(out, remainder(x, other), "remainder")
    return apply2(Remainder(), *operands(x, other, "remainder"))


TENSOR_METHODS = {
    "clone": clone,
    "add": add,
    "sub": sub,
    "mul": mul,
    "div": div,
    "pow": pow,
    "neg": neg,
    "clamp": clamp,
    "clip": clamp,
    "clamp_min": clamp_min,
    "clamp_max": clamp_max,
    "maximum": maximum,
    "minimum": minimum,
    "where": lambda self, condition, y: where(condition, self, y),
    "remainder": remainder,
    "__mod__": _operator(remainder),
    "__rmod__": _operator(_reflected(remainder)),
}
