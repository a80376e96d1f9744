"""Unary math: exp, log, sqrt, trigonometric and hyperbolic functions, erf, rounding (gradient 0)
and the other one-input functions of the array API."""

from __future__ import annotations

import math

from .. import _dtypes
from ._common import Function, Tensor, apply1, cast, const, float_input, kind, output_tensor, write_out
from .elementwise import PowScalar, mul, rdiv

__all__ = [
    "exp",
    "log",
    "abs",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tanh",
    "erf",
    "log1p",
    "expm1",
    "sign",
    "floor",
    "ceil",
    "trunc",
    "round",
    "square",
    "reciprocal",
    "log2",
    "log10",
]


class Exp(Function):
    __slots__ = ("y",)
    keeps_inputs = False  # backward reads only shapes/dtypes
    saves_output = True

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


class Abs(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.abs(x)

    def backward(self, gy):
        (x,) = self.inputs
        return (gy * const(x, x._backend.xp.sign(x._data)),)  # sign(0) = 0: abs'(0) = 0, as in PyTorch


class Sqrt(Function):
    __slots__ = ("y",)
    keeps_inputs = False  # backward reads only its output
    saves_output = True

    def forward(self, xp, x):
        self.y = y = xp.sqrt(x)
        return y

    def backward(self, gy):
        return (gy / (output_tensor(self, self.y) * 2),)

    def release(self) -> None:
        self.inputs = self.y = None


class Sin(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.sin(x)

    def backward(self, gy):
        return (gy * cos(self.inputs[0]),)


class Cos(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.cos(x)

    def backward(self, gy):
        return (-(gy * sin(self.inputs[0])),)


class Tanh(Function):
    __slots__ = ("y",)
    keeps_inputs = False  # backward reads only its output
    saves_output = True

    def forward(self, xp, x):
        self.y = y = xp.tanh(x)
        return y

    def backward(self, gy):
        y = output_tensor(self, self.y)
        return (gy * (1 - y * y),)

    def release(self) -> None:
        self.inputs = self.y = None


class Log1p(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.log1p(x)

    def backward(self, gy):
        return (gy / (self.inputs[0] + 1),)


class Expm1(Function):
    __slots__ = ("y",)
    keeps_inputs = False  # backward reads only its output
    saves_output = True

    def forward(self, xp, x):
        self.y = y = xp.expm1(x)
        return y

    def backward(self, gy):
        return (gy * (output_tensor(self, self.y) + 1),)

    def release(self) -> None:
        self.inputs = self.y = None


# erf has no array-API function. Two polynomials (least-squares fits on Chebyshev nodes to erf
# values computed with mpmath at 40 digits, written in a variable u in [-1, 1] for a stable Horner
# evaluation) give erf to 1.2e-15 relative in float64 on the whole real line (tested):
#   |x| < 1:      erf(x) = x * P(2 x^2 - 1)
#   1 <= |x|:     erf(x) = sign(x) * (1 - exp(-x^2) * Q(u)), u = (2 t - 11/12) / (5/12), t = 1 / (1 + |x| / 2),
#                 with |x| clipped to 6 (erfc(6) = 2e-17: erf is 1 in float64 beyond).
_ERF_P = (
    0.9654687386698676,
    -0.14053608902272127,
    0.019852496688987073,
    -0.00228548556106402,
    0.00021751715601559896,
    -1.7537169888324225e-05,
    1.2233828181378238e-06,
    -7.511466456830886e-08,
    4.115689139888028e-09,
    -2.045601868202975e-10,
    9.236665523341608e-12,
)
_ERF_Q = (
    0.22142954022993197,
    0.16189356804102584,
    0.038560570425178235,
    0.005588816281820449,
    0.00019713917778846837,
    -8.079220410387049e-05,
    -7.340518344116294e-06,
    1.979561176554261e-06,
    1.6350096371365035e-07,
    -7.005181338449797e-08,
    -5.922881135150239e-10,
    2.622489510024054e-09,
    -2.638358246092878e-10,
    -7.296081487367141e-11,
    1.8778808235444733e-11,
)


def _horner(coefs, u):
    r = u * coefs[-1]  # a new array: the in-place steps below (array-API operators) allocate nothing
    r += coefs[-2]
    for c in coefs[-3::-1]:
        r *= u
        r += c
    return r


class Erf(Function):
    __slots__ = ()

    def forward(self, xp, x):
        a = xp.abs(x)
        s = xp.clip(a, max=1.0)
        small = x * _horner(_ERF_P, 2 * (s * s) - 1)
        b = xp.clip(a, min=1.0, max=6.0)
        u = (2 / (1 + 0.5 * b) - 11 / 12) * (12 / 5)
        large = xp.sign(x) * (1 - xp.exp(-(b * b)) * _horner(_ERF_Q, u))
        return xp.where(a < 1, small, large)

    def backward(self, gy):
        x = self.inputs[0]
        return (gy * (exp(-(x * x)) * (2 / math.sqrt(math.pi))),)


class Step(Function):
    """A piecewise-constant function (sign, floor, ceil, round, trunc): the gradient is 0, as in PyTorch."""

    __slots__ = ("fn",)

    def __init__(self, fn: str) -> None:
        self.fn = fn

    def forward(self, xp, x):
        if xp.isdtype(x.dtype, "bool"):  # each is the identity on bools (NumPy has no bool sign/round)
            return x
        return getattr(xp, self.fn)(x)

    def backward(self, gy):
        return (const(gy, gy._backend.xp.zeros_like(gy._data)),)

    @property
    def name(self) -> str:
        return f"{self.fn.capitalize()}Backward"


class LogBase(Function):
    """log2 or log10 (the array-API functions: exact at powers of the base)."""

    __slots__ = ("fn", "ln_base")

    def __init__(self, fn: str, ln_base: float) -> None:
        self.fn, self.ln_base = fn, ln_base

    def forward(self, xp, x):
        return getattr(xp, self.fn)(x)

    def backward(self, gy):
        return (gy / (self.inputs[0] * self.ln_base),)


def exp(x: Tensor, *, out=None) -> Tensor:
    """``e ** x``."""
    if out is not None:
        return write_out(out, exp(x), "exp")
    return apply1(Exp(), float_input(x))


def log(x: Tensor, *, out=None) -> Tensor:
    """The natural logarithm."""
    if out is not None:
        return write_out(out, log(x), "log")
    return apply1(Log(), float_input(x))


def abs(x: Tensor, *, out=None) -> Tensor:  # noqa: A001 - PyTorch's name
    """``|x|``; the gradient at 0 is 0, as in PyTorch."""
    if out is not None:
        return write_out(out, abs(x), "abs")
    return apply1(Abs(), x)


def sqrt(x: Tensor, *, out=None) -> Tensor:
    """The square root."""
    if out is not None:
        return write_out(out, sqrt(x), "sqrt")
    return apply1(Sqrt(), float_input(x))


def rsqrt(x: Tensor, *, out=None) -> Tensor:
    """``1 / sqrt(x)``."""
    if out is not None:
        return write_out(out, rsqrt(x), "rsqrt")
    return apply1(PowScalar(-0.5), float_input(x))


def sin(x: Tensor, *, out=None) -> Tensor:
    """The sine."""
    if out is not None:
        return write_out(out, sin(x), "sin")
    return apply1(Sin(), float_input(x))


def cos(x: Tensor, *, out=None) -> Tensor:
    """The cosine."""
    if out is not None:
        return write_out(out, cos(x), "cos")
    return apply1(Cos(), float_input(x))


def tanh(x: Tensor, *, out=None) -> Tensor:
    """The hyperbolic tangent."""
    if out is not None:
        return write_out(out, tanh(x), "tanh")
    return apply1(Tanh(), float_input(x))


def log1p(x: Tensor, *, out=None) -> Tensor:
    """``log(1 + x)``, accurate for small ``x``."""
    if out is not None:
        return write_out(out, log1p(x), "log1p")
    return apply1(Log1p(), float_input(x))


def expm1(x: Tensor, *, out=None) -> Tensor:
    """``exp(x) - 1``, accurate for small ``x``."""
    if out is not None:
        return write_out(out, expm1(x), "expm1")
    return apply1(Expm1(), float_input(x))


def erf(x: Tensor, *, out=None) -> Tensor:
    """The error function (a polynomial approximation, 1.2e-15 relative in float64)."""
    if out is not None:
        return write_out(out, erf(x), "erf")
    return apply1(Erf(), float_input(x))


def sign(x: Tensor, *, out=None) -> Tensor:
    """-1, 0 or 1 by the sign of ``x``; the gradient is 0."""
    if out is not None:
        return write_out(out, sign(x), "sign")
    return apply1(Step("sign"), x)


def floor(x: Tensor, *, out=None) -> Tensor:
    """Round down to an integer value (same dtype); the gradient is 0."""
    if out is not None:
        return write_out(out, floor(x), "floor")
    return apply1(Step("floor"), x)


def ceil(x: Tensor, *, out=None) -> Tensor:
    """Round up to an integer value (same dtype); the gradient is 0."""
    if out is not None:
        return write_out(out, ceil(x), "ceil")
    return apply1(Step("ceil"), x)


def trunc(x: Tensor, *, out=None) -> Tensor:
    """Round toward zero (same dtype); the gradient is 0."""
    if out is not None:
        return write_out(out, trunc(x), "trunc")
    return apply1(Step("trunc"), x)


def round(x: Tensor, *, decimals: int = 0, out=None) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even, to ``decimals`` decimal places; the gradient is 0."""
    if out is not None:
        return write_out(out, round(x, decimals=decimals), "round")
    if decimals == 0:
        return apply1(Step("round"), x)
    scale = 10.0**decimals
    return apply1(Step("round"), float_input(x) * scale) / scale


def square(x: Tensor, *, out=None) -> Tensor:
    """``x * x`` (a bool tensor gives int64, as in PyTorch)."""
    if out is not None:
        return write_out(out, square(x), "square")
    if kind(x) == "b":
        x = cast(x, _dtypes.int64)
    return mul(x, x)


def reciprocal(x: Tensor, *, out=None) -> Tensor:
    """``1 / x``."""
    if out is not None:
        return write_out(out, reciprocal(x), "reciprocal")
    return rdiv(x, 1.0)


def log2(x: Tensor, *, out=None) -> Tensor:
    """The base-2 logarithm."""
    if out is not None:
        return write_out(out, log2(x), "log2")
    return apply1(LogBase("log2", math.log(2.0)), float_input(x))


def log10(x: Tensor, *, out=None) -> Tensor:
    """The base-10 logarithm."""
    if out is not None:
        return write_out(out, log10(x), "log10")
    return apply1(LogBase("log10", math.log(10.0)), float_input(x))


TENSOR_METHODS = {
    "exp": exp,
    "log": log,
    "abs": abs,
    "sqrt": sqrt,
    "rsqrt": rsqrt,
    "sin": sin,
    "cos": cos,
    "tanh": tanh,
    "log1p": log1p,
    "expm1": expm1,
    "erf": erf,
    "sign": sign,
    "floor": floor,
    "ceil": ceil,
    "trunc": trunc,
    "round": round,
    "square": square,
    "reciprocal": reciprocal,
    "log2": log2,
    "log10": log10,
    "__abs__": abs,
}
