"""Activations (relu, leaky_relu, sigmoid, gelu, silu, softplus, elu, logsigmoid), the softmax
family (softmax, log_softmax with a fused backward, softmin) and dropout."""

from __future__ import annotations

import math
from typing import Any

from .. import _dtypes
from ._common import (
    Function,
    Tensor,
    apply1,
    apply_n,
    cast,
    check_dim,
    const,
    float_input,
    kind,
    output_tensor,
    state,
    write_out,
)
from .compare import gt
from .elementwise import clamp, where
from .unary import erf, exp, log1p, tanh

_wrap = Tensor._wrap

__all__ = [
    "sigmoid",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
    "logsigmoid",
    "softmax",
    "log_softmax",
]


class Sigmoid(Function):
    """NOTE: an op of its own for stability: 1 / (1 + exp(-x)) overflows for x << 0 (and its
    gradient becomes inf / inf), and 0.5 * tanh(x / 2) + 0.5 loses the relative accuracy of the tail."""

    __slots__ = ("y",)
    keeps_inputs = False  # backward reads only its output
    saves_output = True

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
    mask: Any  # the saved mask or output; None once released

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
        return (gy * const(x, self._derivative(x._backend.xp, gy._data.dtype)),)

    def backward_array(self, xp, gy):
        m = self._derivative(xp, gy.dtype)
        m *= gy
        return (m,)

    def release(self) -> None:
        self.inputs = self.mask = None


def sigmoid(x: Tensor, *, out=None) -> Tensor:
    """The logistic function ``1 / (1 + exp(-x))``, stable for any ``x``."""
    if out is not None:
        return write_out(out, sigmoid(x), "sigmoid")
    return apply1(Sigmoid(), float_input(x))


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)``; the gradient at 0 is 0."""
    return apply1(LeakyRelu(0), x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    return apply1(LeakyRelu(negative_slope), float_input(x))


class ELU(Function):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``; an op of its own for PyTorch's derivatives
    at 0: the first is ``alpha`` (the left branch's), the second 0 (PyTorch masks it with x < 0)."""

    __slots__ = ("alpha",)

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def forward(self, xp, x):
        neg = xp.where(x > 0, xp.zeros_like(x), x)  # exp never overflows
        return xp.where(x > 0, x, xp.expm1(neg) * self.alpha)

    def backward(self, gy):
        (x,) = self.inputs
        return (apply_n(ELUGrad(self.alpha), (x, gy)),)


class ELUGrad(Function):
    """``gy * elu'(x)``: ``gy`` for x > 0, else ``gy * alpha * exp(x)``; differentiable in both."""

    __slots__ = ("alpha",)

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def forward(self, xp, x, gy):
        neg = xp.where(x > 0, xp.zeros_like(x), x)
        return xp.where(x > 0, gy, gy * (xp.exp(neg) * self.alpha))

    def backward(self, ggx):
        x, gy = self.inputs
        a = x._data
        g_x = g_gy = None
        if gy._requires_grad:
            g_gy = apply_n(ELUGrad(self.alpha), (x, ggx))
        if x._requires_grad:
            below = const(x, a < 0)
            g_x = where(below, ggx * gy * exp(where(below, x, 0.0)) * self.alpha, 0.0)
        return g_x, g_gy


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``; PyTorch's derivatives at 0."""
    return apply1(ELU(float(alpha)), float_input(x))


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
    x = float_input(x)
    z = x * beta if beta != 1 else x
    soft = log1p(exp(clamp(z, max=threshold)))  # clamped: exp never overflows
    return where(gt(z, threshold), x, soft / beta if beta != 1 else soft)


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x))``, stable for any ``x``."""
    return -softplus(-float_input(x))


def log_softmax_array(xp, x, axis: int | None):
    """``log(softmax(x))`` along ``axis`` on backend arrays (LogSoftmax's and cross-entropy's forward)."""
    if 0 in x.shape:  # NOTE: max() of an empty slice raises; PyTorch gives an empty result
        return x + 0
    # subtracting the max keeps exp() from overflowing; log(sum) of the shifted values is >= 0
    s = x - xp.max(x, axis=axis, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))


class LogSoftmax(Function):
    __slots__ = ("axis", "y")
    keeps_inputs = False  # backward reads only its output
    saves_output = True

    def __init__(self, axis: int | None) -> None:
        self.axis = axis

    def forward(self, xp, x):
        self.y = y = log_softmax_array(xp, x, self.axis)
        return y

    def backward(self, gy):
        # fused: gy - softmax * sum(gy) avoids dividing by a softmax that may underflow to 0
        y = output_tensor(self, self.y)
        return (gy - exp(y) * gy.sum(dim=self.axis, keepdim=True),)

    def backward_array(self, xp, gy):
        return (gy - xp.exp(self.y) * xp.sum(gy, axis=self.axis, keepdims=True),)

    def release(self) -> None:
        self.inputs = self.y = None


def _softmax_input(x: Tensor, dim, dtype) -> tuple[Tensor, int]:
    if dtype is not None:
        x = cast(x, _dtypes.to_dtype(dtype))
    return float_input(x), check_dim(dim, x._data.ndim)


def log_softmax(x: Tensor, dim: int, dtype=None) -> Tensor:
    """``log(softmax(x, dim))``, computed stably (the max along ``dim`` is subtracted first)."""
    x, axis = _softmax_input(x, dim, dtype)
    if x._data.ndim == 0:
        return apply1(LogSoftmax(None), x)
    return apply1(LogSoftmax(axis), x)


def softmax(x: Tensor, dim: int, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``: probabilities along ``dim``, computed stably."""
    return exp(log_softmax(x, dim, dtype))


def softmin(x: Tensor, dim: int, dtype=None) -> Tensor:
    """``softmax(-x, dim)``."""
    return softmax(-x, dim, dtype)


def _dropout(x: Tensor, p: float, training: bool, inplace: bool, mask_shape) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if inplace and (kind(x) not in "fc" or (x._requires_grad and state.enabled)):
        raise RuntimeError(
            f"dropout(inplace=True) needs a floating-point tensor outside the graph (got {x.dtype}, "
            f"requires_grad={x._requires_grad}): tensorweaver's in-place ops are not recorded; use inplace=False"
        )
    x = float_input(x)
    b = x._backend
    xp = b.xp
    rdt = x.dtype if x.dtype in (_dtypes.float32, _dtypes.float64) else _dtypes.float32
    u = b.rand(tuple(x._data.shape) if mask_shape is None else mask_shape, rdt)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = xp.astype(xp.astype(u >= p, u.dtype) * scale, x._data.dtype)
    return x.mul_(_wrap(mask, b)) if inplace else x * _wrap(mask, b)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training only).

    The mask comes from the backend's random numbers (``tw.manual_seed`` makes it repeatable).
    """
    return _dropout(x, p, training, inplace, None)


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of ``x`` (N, C, H, W) or (C, H, W) with probability ``p``, scaling the rest."""
    if x._data.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-D or 4-D input, got shape {x.shape}")
    return _dropout(x, p, training, inplace, tuple(x._data.shape[:-2]) + (1, 1))


TENSOR_METHODS = {"sigmoid": sigmoid, "relu": relu, "softmax": softmax, "log_softmax": log_softmax}
