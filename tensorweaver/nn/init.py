"""``tw.nn.init``: fill a tensor in place, outside the graph, with PyTorch's initialization schemes.

Random values are drawn on the tensor's own device with ``tw.rand`` / ``tw.randn`` (``tw.manual_seed``
makes them repeatable); on a registered generic backend that draw is a counted host copy, as every
random draw there. Nothing is ever copied back to the host.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings

from .. import _dtypes, factories
from ..autograd import no_grad
from ..tensor import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]


@functools.cache
def _factories_take_generator() -> bool:
    return "generator" in inspect.signature(factories.rand).parameters


def _draw(kind: str, t: Tensor, generator, shape=None) -> Tensor:
    """Uniform [0, 1) (``kind='rand'``) or standard normal samples of ``t``'s shape on its device."""
    kwargs = {}
    if generator is not None:
        if not _factories_take_generator():
            raise TypeError(
                "tw.nn.init: generator= needs tw.rand/tw.randn to take a generator, and in this version they "
                "don't; pass generator=None (tw.manual_seed seeds the draws)"
            )
        kwargs["generator"] = generator
    d = t.dtype if t.dtype in (_dtypes.float32, _dtypes.float64) else _dtypes.float32  # NumPy draws no float16
    fn = factories.rand if kind == "rand" else factories.randn
    return fn(*(t.shape if shape is None else shape), dtype=d, device=t.device, **kwargs)


def _no_op(t: Tensor) -> bool:
    if t.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear/conv/sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope**2)) for leaky_relu, 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    if t.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in t.shape[2:]:
        receptive *= s
    return t.shape[1] * receptive, t.shape[0] * receptive


def _calculate_correct_fan(t: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of U(a, b)."""
    with no_grad():
        return tensor.copy_(_draw("rand", tensor, generator) * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of N(mean, std**2)."""
    with no_grad():
        return tensor.copy_(_draw("randn", tensor, generator) * std + mean)


def _erfinv(y: Tensor) -> Tensor:
    """The inverse error function on (-1, 1): Giles' single-precision approximation, then two Newton
    steps on ``erf`` (float64 accuracy)."""
    w = -((1.0 - y) * (1.0 + y)).log()
    small = w - 2.5
    p = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164):
        p = small * p + c
    p_small = (small * p + 0.246640727) * small + 1.50140941
    big = w.sqrt() - 3.0
    q = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047):
        q = big * q + c
    p_big = (big * q + 1.00167406) * big + 2.83297682
    x = p_small.where(w < 5.0, p_big) * y
    for _ in range(2):
        x = x - (x.erf() - y) / ((-x * x).exp() * (2.0 / math.sqrt(math.pi)))
    return x


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None
) -> Tensor:
    """Fill with samples of N(mean, std**2) truncated to [a, b] (inverse-CDF sampling, as PyTorch)."""

    def cdf(v: float) -> float:
        return (1.0 + math.erf(v / math.sqrt(2.0))) / 2.0

    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    lo, hi = cdf((a - mean) / std), cdf((b - mean) / std)
    with no_grad():
        u = _draw("rand", tensor, generator) * (2 * hi - 2 * lo) + (2 * lo - 1)
        x = _erfinv(u) * (std * math.sqrt(2.0)) + mean
        return tensor.copy_(x.clamp(min=a, max=b))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        return tensor.copy_(factories.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D (convolution) weight with the Dirac delta: the convolution keeps the
    input channels (per group)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = sizes[0] // groups
    with no_grad():
        tensor.zero_()
        centre = tuple(s // 2 for s in sizes[2:])
        for g in range(groups):
            for d in range(min(per_group, sizes[1])):
                tensor[(g * per_group + d, d, *centre)] = 1
    return tensor


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> Tensor:
    """He uniform: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)`` (``a``: leaky_relu's slope)."""
    if _no_op(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> Tensor:
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)``."""
    if _no_op(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator=None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix (dims after the first flattened), scaled by ``gain``:
    the Q of a QR decomposition of a standard normal matrix with R's diagonal made positive."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    with no_grad():
        a = _draw("randn", tensor, generator, (rows, cols))
        if rows < cols:
            a = a.mT
        m, n = a.shape
        # NOTE: tensorweaver has no QR; classical Gram-Schmidt run twice per column ("CGS2") is as
        # orthogonal as Householder QR, and gives R a positive diagonal, the sign PyTorch chooses.
        q = factories.zeros(m, n, dtype=a.dtype, device=a.device)
        for j in range(n):
            v = a[:, j]
            for _ in range(2):
                v = v - q @ (q.mT @ v)
            q[:, j] = v / v.norm()
        if rows < cols:
            q = q.mT
        return tensor.copy_((q * gain).reshape(tensor.shape))
