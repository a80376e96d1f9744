"""Elementwise ops: arithmetic (+ - * / **, tensors or Python scalars on either side), unary math,
activations, maximum/minimum/where/clamp, and the non-differentiable comparisons, logical and
bitwise ops and floor division (bool or integer results, never in the graph)."""

from __future__ import annotations

import math

from .. import _dtypes
from ._common import (
    Function,
    Tensor,
    apply1,
    apply2,
    apply_n,
    as_operand,
    cast,
    kind,
    output_tensor,
    promote,
    promote_floats,
)
from .reduce import sum_to, sum_to_array

__all__ = [
    "add",
    "clone",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "abs",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "leaky_relu",
    "elu",
    "erf",
    "gelu",
    "silu",
    "softplus",
    "logsigmoid",
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
    "clamp",
    "clip",
    "clamp_min",
    "clamp_max",
    "maximum",
    "minimum",
    "where",
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
    "remainder",
]


# -- tensor (op) tensor ---------------------------------------------------------------------------
class Add(Function):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x, y):
        return x + y

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
        return x * y

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

    def backward_array(self, xp, gy):
        x, y = self.inputs
        a, b = x._data, y._data
        gx = gy / b
        return (
            sum_to_array(xp, gx, a.shape) if x._requires_grad else None,
            sum_to_array(xp, -gx * a / b, b.shape) if y._requires_grad else None,
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
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x + self.c

    def backward(self, gy):
        return (gy,)

    def backward_array(self, xp, gy):
        return (gy,)


class SubScalar(_ScalarOp):  # x - c (not x + (-c): -c may not fit an unsigned dtype)
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x - self.c

    def backward(self, gy):
        return (gy,)

    def backward_array(self, xp, gy):
        return (gy,)


class Clone(Function):
    """A copy with its own memory; the gradient passes through."""

    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return xp.asarray(x, copy=True)

    def backward(self, gy):
        return (gy,)

    def backward_array(self, xp, gy):
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

    def backward_array(self, xp, gy):
        return (-gy,)


class MulScalar(_ScalarOp):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x * self.c

    def backward(self, gy):
        return (gy * self.c,)

    def backward_array(self, xp, gy):
        return (gy * self.c,)


class DivScalar(_ScalarOp):
    __slots__ = ()
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return x / self.c

    def backward(self, gy):
        return (gy / self.c,)

    def backward_array(self, xp, gy):
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

    def backward_array(self, xp, gy):
        x = self.inputs[0]._data
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
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        return -x

    def backward(self, gy):
        return (-gy,)

    def backward_array(self, xp, gy):
        return (-gy,)


class Exp(Function):
    __slots__ = ("y",)
    keeps_inputs = False  # backward reads only shapes/dtypes

    def forward(self, xp, x):
        self.y = y = xp.exp(x)
        return y

    def backward(self, gy):
        return (gy * output_tensor(self, self.y),)

    def backward_array(self, xp, gy):
        return (gy * self.y,)

    def release(self) -> None:
        self.inputs = self.y = None


class Log(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.log(x)

    def backward(self, gy):
        return (gy / self.inputs[0],)

    def backward_array(self, xp, gy):
        return (gy / self.inputs[0]._data,)


def _const(like: Tensor, arr) -> Tensor:
    """A backend array as a Tensor outside the graph (masks and shares used by backward)."""
    return Tensor._wrap(arr, like._backend)


def _scalar_tensor(like: Tensor, value) -> Tensor:
    """A 0-d tensor of ``like``'s dtype and device holding a Python number."""
    b = like._backend
    return Tensor._wrap(b.xp.asarray(value, dtype=like._data.dtype, device=b.native_device), b)


class Abs(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.abs(x)

    def backward(self, gy):
        (x,) = self.inputs
        return (gy * _const(x, x._backend.xp.sign(x._data)),)  # sign(0) = 0: abs'(0) = 0, as in PyTorch


class Sqrt(Function):
    __slots__ = ("y",)

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

    def forward(self, xp, x):
        self.y = y = xp.tanh(x)
        return y

    def backward(self, gy):
        y = output_tensor(self, self.y)
        return (gy * (1 - y * y),)

    def release(self) -> None:
        self.inputs = self.y = None


class Sigmoid(Function):
    """NOTE: an op of its own for stability: 1 / (1 + exp(-x)) overflows for x << 0 (and its
    gradient becomes inf / inf), and 0.5 * tanh(x / 2) + 0.5 loses the relative accuracy of the tail."""

    __slots__ = ("y",)

    def forward(self, xp, x):
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        self.y = y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return y

    def backward(self, gy):
        y = output_tensor(self, self.y)
        return (gy * (y * (1 - y)),)

    def release(self) -> None:
        self.inputs = self.y = None


class LeakyRelu(Function):
    """``x`` where ``x > 0``, else ``slope * x`` (relu: slope 0); the derivative at 0 is ``slope``.

    Saves what tells ``x > 0`` apart, not ``x``: relu its output (``y > 0`` exactly where ``x > 0``;
    in a network the next layer holds that array anyway, as in PyTorch), a nonzero slope the mask
    (a bool per element, a quarter of a float32 activation).
    """

    __slots__ = ("slope", "mask")
    keeps_inputs = False

    def __init__(self, slope) -> None:
        self.slope = slope

    def forward(self, xp, x):
        if self.slope == 0:
            # NOTE: maximum keeps NaN (where(m, ...) would not). The zero is one row, not a full
            # zeros_like (memory) nor 0-d: NumPy's loop for a broadcast 0-d operand is 2.6x slower
            # (benchmarks/NOTES.md 3b, attempt 5).
            self.mask = y = xp.maximum(x, xp.zeros(x.shape[-1:], dtype=x.dtype, device=x.device))
            return y
        self.mask = m = x > 0
        return xp.where(m, x, x * self.slope)

    def _derivative(self, xp, dtype):
        m = self.mask
        m = xp.astype(m > 0 if self.slope == 0 else m, dtype)
        if self.slope != 0:
            m *= 1 - self.slope
            m += self.slope
        return m

    def backward(self, gy):
        x = self.inputs[0]
        return (gy * _const(x, self._derivative(x._backend.xp, gy._data.dtype)),)

    def backward_array(self, xp, gy):
        m = self._derivative(xp, gy.dtype)
        m *= gy
        return (m,)

    def release(self) -> None:
        self.inputs = self.mask = None


class Log1p(Function):
    __slots__ = ()

    def forward(self, xp, x):
        return xp.log1p(x)

    def backward(self, gy):
        return (gy / (self.inputs[0] + 1),)


class Expm1(Function):
    __slots__ = ("y",)

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
        return getattr(xp, self.fn)(x)

    def backward(self, gy):
        return (_const(gy, gy._backend.xp.zeros_like(gy._data)),)

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
        return (gy * _const(x, xp.astype(inside, a.dtype)),)


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
        share = xp.astype(a < b if self.lower else a > b, a.dtype) + xp.astype(a == b, a.dtype) * 0.5
        return (
            sum_to(gy * _const(x, share), a.shape) if x._requires_grad else None,
            sum_to(gy * _const(x, 1 - share), b.shape) if y._requires_grad else None,
        )


class Where(Function):
    """``x`` where ``condition`` else ``y``; the gradient goes to the chosen branch."""

    __slots__ = ()

    def forward(self, xp, condition, x, y):
        return xp.where(condition, x, y)

    def backward(self, gy):
        condition, x, y = self.inputs
        zero = _scalar_tensor(gy, 0)
        return (
            None,
            sum_to(where(condition, gy, zero), x._data.shape) if x._requires_grad else None,
            sum_to(where(condition, zero, gy), y._data.shape) if y._requires_grad else None,
        )


# -- public functions ------------------------------------------------------------------------------
def _float_input(x: Tensor) -> Tensor:
    return x if kind(x) in "fc" else cast(x, _dtypes.get_default_dtype())


def _binary(cls, scalar_cls, x: Tensor, y):
    ty = type(y)
    if ty is Tensor and y._backend is x._backend and x._data.dtype == y._data.dtype:
        return apply2(cls(), x, y)
    if (ty is float or ty is int) and scalar_cls is not None and x._backend.from_native[x._data.dtype].kind in "fc":
        return apply1(scalar_cls(y), x)  # as_operand's common cases (lr * w.grad, d ** 2)
    if isinstance(y, Tensor):
        if x._backend is y._backend and x._data.dtype != y._data.dtype:  # else apply2 names both devices
            x, y = promote_floats(x, y) or promote(x, y)
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
    return apply1(SubScalar(c), x)


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


def abs(x: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    """``|x|``; the gradient at 0 is 0, as in PyTorch."""
    return apply1(Abs(), x)


def sqrt(x: Tensor) -> Tensor:
    """The square root."""
    return apply1(Sqrt(), _float_input(x))


def rsqrt(x: Tensor) -> Tensor:
    """``1 / sqrt(x)``."""
    return apply1(PowScalar(-0.5), _float_input(x))


def sin(x: Tensor) -> Tensor:
    """The sine."""
    return apply1(Sin(), _float_input(x))


def cos(x: Tensor) -> Tensor:
    """The cosine."""
    return apply1(Cos(), _float_input(x))


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return apply1(Tanh(), _float_input(x))


def sigmoid(x: Tensor) -> Tensor:
    """The logistic function ``1 / (1 + exp(-x))``, stable for any ``x``."""
    return apply1(Sigmoid(), _float_input(x))


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)``; the gradient at 0 is 0."""
    return apply1(LeakyRelu(0), x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    return apply1(LeakyRelu(negative_slope), _float_input(x))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    x = _float_input(x)
    return where(gt(x, 0), x, expm1(clamp(x, max=0)) * alpha)  # clamped: exp never overflows


def log1p(x: Tensor) -> Tensor:
    """``log(1 + x)``, accurate for small ``x``."""
    return apply1(Log1p(), _float_input(x))


def expm1(x: Tensor) -> Tensor:
    """``exp(x) - 1``, accurate for small ``x``."""
    return apply1(Expm1(), _float_input(x))


def erf(x: Tensor) -> Tensor:
    """The error function (a polynomial approximation, 1.2e-15 relative in float64)."""
    return apply1(Erf(), _float_input(x))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` (Phi: the standard normal CDF, through erf); ``approximate='tanh'`` for the tanh form."""
    if approximate == "none":
        return x * (erf(x * (1 / math.sqrt(2))) + 1) * 0.5
    if approximate == "tanh":
        return x * (tanh((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)) + 1) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (swish)."""
    return x * sigmoid(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold`` (as in PyTorch)."""
    x = _float_input(x)
    z = x * beta if beta != 1 else x
    soft = log1p(exp(clamp(z, max=threshold)))  # clamped: exp never overflows
    return where(gt(z, threshold), x, soft / beta if beta != 1 else soft)


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x))``, stable for any ``x``."""
    return -softplus(-_float_input(x))


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of ``x``; the gradient is 0."""
    return apply1(Step("sign"), x)


def floor(x: Tensor) -> Tensor:
    """Round down to an integer value (same dtype); the gradient is 0."""
    return apply1(Step("floor"), x)


def ceil(x: Tensor) -> Tensor:
    """Round up to an integer value (same dtype); the gradient is 0."""
    return apply1(Step("ceil"), x)


def trunc(x: Tensor) -> Tensor:
    """Round toward zero (same dtype); the gradient is 0."""
    return apply1(Step("trunc"), x)


def round(x: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even, to ``decimals`` decimal places; the gradient is 0."""
    if decimals == 0:
        return apply1(Step("round"), x)
    scale = 10.0**decimals
    return apply1(Step("round"), _float_input(x) * scale) / scale


def square(x: Tensor) -> Tensor:
    """``x * x``."""
    return mul(x, x)


def reciprocal(x: Tensor) -> Tensor:
    """``1 / x``."""
    return rdiv(x, 1.0)


def log2(x: Tensor) -> Tensor:
    """The base-2 logarithm."""
    return apply1(LogBase("log2", math.log(2.0)), _float_input(x))


def log10(x: Tensor) -> Tensor:
    """The base-10 logarithm."""
    return apply1(LogBase("log10", math.log(10.0)), _float_input(x))


def _clamp_scalar(x: Tensor, lo, hi) -> Tensor:
    for c in (lo, hi):
        if c is not None:
            x, c, t = as_operand(x, c)  # an int tensor clamped to a float bound becomes float
            if t is not None:
                raise TypeError(f"clamp: bounds must be numbers or Tensors, got {type(c).__name__}")
    return apply1(ClampScalar(lo, hi), x)


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's parameter names
    """``x`` limited to ``[min, max]`` (numbers or tensors; either may be None); the gradient passes
    to ``x`` where ``min <= x <= max`` and to a tensor bound where it is the result."""
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


def clamp_min(x: Tensor, min) -> Tensor:  # noqa: A002 - PyTorch's parameter name
    """``clamp(x, min=min)``."""
    return clamp(x, min=min)


def clamp_max(x: Tensor, max) -> Tensor:  # noqa: A002 - PyTorch's parameter name
    """``clamp(x, max=max)``."""
    return clamp(x, max=max)


def _pair(x, y):
    """``x`` and ``y`` as tensors of one dtype; a Python number becomes a 0-d tensor like the other."""
    if isinstance(x, Tensor) and isinstance(y, Tensor):
        if x._backend is y._backend and x._data.dtype != y._data.dtype:
            x, y = promote(x, y)
        return x, y
    if not isinstance(x, Tensor):
        y, x = _pair(y, x)
        return x, y
    x, c, t = as_operand(x, y)
    return (x, t) if t is not None else (x, _scalar_tensor(x, c))


def maximum(x: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum, broadcasting; ties split the gradient evenly."""
    return apply2(Maximum(False), *_pair(x, other))


def minimum(x: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum, broadcasting; ties split the gradient evenly."""
    return apply2(Maximum(True), *_pair(x, other))


def where(condition: Tensor, x, y) -> Tensor:
    """``x`` where ``condition`` (a bool tensor) is True, else ``y``; the gradient goes to the chosen one."""
    if not isinstance(condition, Tensor) or condition.dtype is not _dtypes.bool:
        what = condition.dtype if isinstance(condition, Tensor) else type(condition).__name__
        raise TypeError(f"where: condition must be a bool tensor, got {what}")
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        x = Tensor(x, device=condition.device)
    x, y = _pair(x, y)
    try:
        return apply_n(Where(), (condition, x, y))
    except ValueError as e:
        raise ValueError(
            f"where: shapes {condition.shape}, {x.shape} and {y.shape} cannot be broadcast together ({e})"
        ) from None


# -- not differentiable: bool or integer results, never in the graph --------------------------------
def _nograd(name: str, op, x, y) -> Tensor:
    x, y = _pair(x, y)
    if x._backend is not y._backend:
        raise RuntimeError(
            f"{name}: expected all tensors to be on the same device, but found at least two devices, "
            f"{x.device} and {y.device}"
        )
    try:
        return Tensor._wrap(op(x._backend.xp, x._data, y._data), x._backend)
    except ValueError as e:
        raise ValueError(f"{name}: shapes {x.shape} and {y.shape} cannot be broadcast together ({e})") from None


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


def isnan(x: Tensor) -> Tensor:
    """True where ``x`` is NaN."""
    return Tensor._wrap(x._backend.xp.isnan(x._data), x._backend)


def isinf(x: Tensor) -> Tensor:
    """True where ``x`` is +-inf."""
    return Tensor._wrap(x._backend.xp.isinf(x._data), x._backend)


def isfinite(x: Tensor) -> Tensor:
    """True where ``x`` is neither NaN nor +-inf."""
    return Tensor._wrap(x._backend.xp.isfinite(x._data), x._backend)


def floor_divide(x: Tensor, other) -> Tensor:
    """``x // other`` rounded toward -inf (as Python and PyTorch do); not differentiable."""
    return _nograd("floor_divide", lambda xp, a, b: xp.floor_divide(a, b), x, other)


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

    def backward_array(self, xp, gy):
        x, y = self.inputs
        a, b = x._data, y._data
        return (
            sum_to_array(xp, gy, a.shape) if x._requires_grad else None,
            sum_to_array(xp, -gy * xp.floor_divide(a, b), b.shape) if y._requires_grad else None,
        )


def remainder(x: Tensor, other) -> Tensor:
    """``x % other`` with the sign of ``other`` (Python's convention, as in PyTorch); differentiable
    in both (1 for ``x``, ``-floor(x / other)`` for ``other``)."""
    return apply2(Remainder(), *_pair(x, other))


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
    "clone": clone,
    "add": add,
    "sub": sub,
    "mul": mul,
    "div": div,
    "pow": pow,
    "neg": neg,
    "exp": exp,
    "log": log,
    "abs": abs,
    "sqrt": sqrt,
    "rsqrt": rsqrt,
    "sin": sin,
    "cos": cos,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "relu": relu,
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
    "clamp": clamp,
    "clip": clamp,
    "clamp_min": clamp_min,
    "clamp_max": clamp_max,
    "maximum": maximum,
    "minimum": minimum,
    "where": lambda self, condition, y: where(condition, self, y),
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
    "remainder": remainder,
    # operators (NOTE: Tensor keeps __hash__ = object.__hash__, so tensors stay usable as dict keys)
    "__eq__": _operator(eq),
    "__ne__": _operator(ne),
    "__lt__": _operator(lt),
    "__le__": _operator(le),
    "__gt__": _operator(gt),
    "__ge__": _operator(ge),
    "__abs__": abs,
    "__invert__": bitwise_not,
    "__and__": _operator(bitwise_and),
    "__rand__": _operator(bitwise_and),
    "__or__": _operator(bitwise_or),
    "__ror__": _operator(bitwise_or),
    "__xor__": _operator(bitwise_xor),
    "__rxor__": _operator(bitwise_xor),
    "__floordiv__": _operator(floor_divide),
    "__rfloordiv__": _operator(_reflected(floor_divide)),
    "__mod__": _operator(remainder),
    "__rmod__": _operator(_reflected(remainder)),
}
