"""Elementwise arithmetic: + - * / ** neg exp log, with tensors or Python scalars on either side."""

from __future__ import annotations

import math

from .. import _dtypes
from ._common import Function, Tensor, apply1, apply2, as_operand, cast, kind, output_tensor, promote
from .reduce import sum_to

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log"]


# -- tensor (op) tensor ---------------------------------------------------------------------------
class Add(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        return x + y

    def backward(self, gy):
        x, y = self.inputs
        return (
            sum_to(gy, x._data.shape) if x._requires_grad else None,
            sum_to(gy, y._data.shape) if y._requires_grad else None,
        )


class Sub(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        return x - y

    def backward(self, gy):
        x, y = self.inputs
        return (
            sum_to(gy, x._data.shape) if x._requires_grad else None,
            sum_to(-gy, y._data.shape) if y._requires_grad else None,
        )


class Mul(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        return x * y

    def backward(self, gy):
        x, y = self.inputs
        return (
            sum_to(gy * y, x._data.shape) if x._requires_grad else None,
            sum_to(gy * x, y._data.shape) if y._requires_grad else None,
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


class Pow(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        return x**y

    def backward(self, gy):
        x, y = self.inputs
        gx = sum_to(gy * y * x ** (y - 1), x._data.shape) if x._requires_grad else None
        gyy = sum_to(gy * x**y * log(x), y._data.shape) if y._requires_grad else None
        return gx, gyy


# -- tensor (op) Python scalar --------------------------------------------------------------------
class _ScalarOp(Function):
    __slots__ = ("c",)

    def __init__(self, c) -> None:
        self.c = c


class AddScalar(_ScalarOp):
    __slots__ = ()

    def forward(self, xp, x):
        return x + self.c

    def backward(self, gy):
        return (gy,)


class RSubScalar(_ScalarOp):  # c - x
    __slots__ = ()

    def forward(self, xp, x):
        return self.c - x

    def backward(self, gy):
        return (-gy,)


class MulScalar(_ScalarOp):
    __slots__ = ()

    def forward(self, xp, x):
        return x * self.c

    def backward(self, gy):
        return (gy * self.c,)


class DivScalar(_ScalarOp):
    __slots__ = ()

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
        return (-gy * self.c / (x * x),)


class PowScalar(_ScalarOp):  # x ** c
    __slots__ = ()

    def forward(self, xp, x):
        return x**self.c

    def backward(self, gy):
        (x,) = self.inputs
        c = self.c
        if c == 2:
            return (gy * (x * 2),)
        return (gy * (x ** (c - 1) * c),)


class RPowScalar(_ScalarOp):  # c ** x
    __slots__ = ("y",)

    def forward(self, xp, x):
        self.y = y = self.c**x
        return y

    def backward(self, gy):
        return (gy * output_tensor(self, self.y) * math.log(self.c),)

    def release(self) -> None:
        self.inputs = self.y = None


# -- unary -------------------------------------------------------------------------------------
class Neg(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return -x

    def backward(self, gy):
        return (-gy,)


class Exp(Function):
    __slots__ = ("y",)

    def forward(self, xp, x):
        self.y = y = xp.exp(x)
        return y

    def backward(self, gy):
        return (gy * output_tensor(self, self.y),)

    def release(self) -> None:
        self.inputs = self.y = None


class Log(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.log(x)

    def backward(self, gy):
        return (gy / self.inputs[0],)


# -- public functions ------------------------------------------------------------------------------
def _float_input(x: Tensor) -> Tensor:
    return x if kind(x) in "fc" else cast(x, _dtypes.get_default_dtype())


def _binary(cls, scalar_cls, x: Tensor, y):
    if isinstance(y, Tensor):
        if x._backend is y._backend and x._data.dtype != y._data.dtype:  # else apply2 names both devices
            x, y = promote(x, y)
        return apply2(cls(), x, y)
    x, c, t = as_operand(x, y)
    if t is not None:
        return _binary(cls, scalar_cls, x, t)
    return apply1(scalar_cls(c), x)


def _lift(x, like: Tensor) -> Tensor:
    """A non-Tensor left operand (``tw.sub(2.0, t)``) as a Tensor on ``like``'s device."""
    return x if isinstance(x, Tensor) else Tensor(x, device=like.device, dtype=None)


def add(x, other, *, alpha=1):
    """``x + alpha * other``, broadcasting; Python scalars on either side."""
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    if not isinstance(x, Tensor):
        x, other = other, x
    return _binary(Add, AddScalar, x, other)


def sub(x, other, *, alpha=1):
    """``x - alpha * other``."""
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    if not isinstance(x, Tensor):
        return rsub(other, x)
    if isinstance(other, Tensor):
        return _binary(Sub, None, x, other)
    x, c, t = as_operand(x, other)
    if t is not None:
        return _binary(Sub, None, x, t)
    return apply1(AddScalar(-c), x)


def rsub(x: Tensor, other):
    """``other - x`` (the reflected ``-``)."""
    if isinstance(other, Tensor):
        return sub(other, x)
    x, c, t = as_operand(x, other)
    if t is not None:
        return sub(t, x)
    return apply1(RSubScalar(c), x)


def mul(x, other):
    """``x * other``, broadcasting."""
    if not isinstance(x, Tensor):
        x, other = other, x
    return _binary(Mul, MulScalar, x, other)


def div(x, other, *, rounding_mode=None):
    """True division ``x / other`` (integers give floats, as in PyTorch)."""
    if rounding_mode is not None:
        raise NotImplementedError("div(rounding_mode=...) is part of the full op set; use // for floor division")
    if not isinstance(x, Tensor):
        return rdiv(other, x)
    x = _float_input(x)
    if isinstance(other, Tensor):
        other = _float_input(other)
    return _binary(Div, DivScalar, x, other)


def rdiv(x: Tensor, other):
    """``other / x`` (the reflected ``/``)."""
    if isinstance(other, Tensor):
        return div(other, x)
    x = _float_input(x)
    x, c, t = as_operand(x, other)
    if t is not None:
        return div(t, x)
    return apply1(RDivScalar(c), x)


def pow(x, exponent):  # noqa: A001 - PyTorch's name; the builtin is not used in this module
    """``x ** exponent``; the exponent may be a tensor or a Python number."""
    if not isinstance(x, Tensor):
        return rpow(exponent, x)
    return _binary(Pow, PowScalar, x, exponent)


def rpow(x: Tensor, other):
    """``other ** x`` (the reflected ``**``)."""
    if isinstance(other, Tensor):
        return pow(other, x)
    x, c, t = as_operand(x, other)
    if t is not None:
        return pow(t, x)
    return apply1(RPowScalar(c), x)


def neg(x: Tensor) -> Tensor:
    """``-x``."""
    return apply1(Neg(), x)


def exp(x: Tensor) -> Tensor:
    """``e ** x``."""
    return apply1(Exp(), _float_input(x))


def log(x: Tensor) -> Tensor:
    """The natural logarithm."""
    return apply1(Log(), _float_input(x))


TENSOR_METHODS = {"add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "exp": exp, "log": log}
