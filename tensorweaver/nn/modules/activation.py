"""Every activation as a module: ``ReLU``, ``GELU``, ``Softmax``, ... (each calls its ``F`` function)."""

from __future__ import annotations

import warnings

from ... import factories
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "CELU",
    "SELU",
    "GELU",
    "SiLU",
    "Mish",
    "Sigmoid",
    "Tanh",
    "LogSigmoid",
    "Softplus",
    "Softsign",
    "Tanhshrink",
    "Hardtanh",
    "Hardsigmoid",
    "Hardswish",
    "Hardshrink",
    "Softshrink",
    "Threshold",
    "GLU",
    "Softmax",
    "LogSoftmax",
    "Softmin",
]

# NOTE: ``inplace=True`` is accepted everywhere PyTorch has it; the result is computed out of place
# (the same values; the input is not overwritten).


def _inplace_repr(inplace: bool, lead: str = "") -> str:
    return (lead + "inplace=True") if inplace else ""


class _Inplace(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class ReLU(_Inplace):
    """``max(x, 0)``."""

    def forward(self, x: Tensor) -> Tensor:
        """``relu(x)``."""
        return F.relu(x)


class SiLU(_Inplace):
    """``x * sigmoid(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        """``silu(x)``."""
        return F.silu(x)


class Mish(_Inplace):
    """``x * tanh(softplus(x))``."""

    def forward(self, x: Tensor) -> Tensor:
        """``mish(x)``."""
        return F.mish(x)


class SELU(_Inplace):
    """``scale * elu(x, alpha)`` with the self-normalizing constants."""

    def forward(self, x: Tensor) -> Tensor:
        """``selu(x)``."""
        return F.selu(x)


class Hardsigmoid(Module):
    """``relu6(x + 3) / 6``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        """``hardsigmoid(x)``."""
        return F.hardsigmoid(x)


class Hardswish(Module):
    """``x * relu6(x + 3) / 6``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        """``hardswish(x)``."""
        return F.hardswish(x)


class Hardtanh(Module):
    """``x`` clamped to ``[min_val, max_val]``."""

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and rename to `min_val`", FutureWarning, 2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and rename to `max_val`", FutureWarning, 2)
            max_val = max_value
        if max_val <= min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        """``hardtanh(x, min_val, max_val)``."""
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_repr(self.inplace, ", ")


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """``x`` for ``x >= 0``, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        """``leaky_relu(x, negative_slope)``."""
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace_repr(self.inplace, ", ")


class PReLU(Module):
    """``x`` for ``x >= 0``, else ``weight * x`` with a learned ``weight`` (one, or one per channel)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(factories.empty(num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every slope back to ``init``."""
        init.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        """``prelu(x, weight)``."""
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        """``elu(x, alpha)``."""
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_repr(self.inplace, ", ")


class CELU(ELU):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""

    def forward(self, x: Tensor) -> Tensor:
        """``celu(x, alpha)``."""
        return F.celu(x, self.alpha)


class GELU(Module):
    """``x * Phi(x)`` (``approximate='tanh'``: the tanh approximation)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        """``gelu(x, approximate)``."""
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta`` (linear above ``threshold``)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        """``softplus(x, beta, threshold)``."""
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        """``threshold(x, threshold, value)``."""
        return F.threshold(x, self.threshold, self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + _inplace_repr(self.inplace, ", ")


class _Shrink(Module):
    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(_Shrink):
    """``x`` where ``|x| > lambd``, else 0."""

    def forward(self, x: Tensor) -> Tensor:
        """``hardshrink(x, lambd)``."""
        return F.hardshrink(x, self.lambd)


class Softshrink(_Shrink):
    """``x -/+ lambd`` outside ``[-lambd, lambd]``, else 0."""

    def forward(self, x: Tensor) -> Tensor:
        """``softshrink(x, lambd)``."""
        return F.softshrink(x, self.lambd)


class GLU(Module):
    """``a * sigmoid(b)`` for the halves ``a, b`` of the input along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        """``glu(x, dim)``."""
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, x: Tensor) -> Tensor:
        """``sigmoid(x)``."""
        return F.sigmoid(x)


class Tanh(Module):
    """``tanh(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        """``tanh(x)``."""
        return F.tanh(x)


class LogSigmoid(Module):
    """``log(sigmoid(x))``, stable for any ``x``."""

    def forward(self, x: Tensor) -> Tensor:
        """``logsigmoid(x)``."""
        return F.logsigmoid(x)


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, x: Tensor) -> Tensor:
        """``softsign(x)``."""
        return F.softsign(x)


class Tanhshrink(Module):
    """``x - tanh(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        """``tanhshrink(x)``."""
        return F.tanhshrink(x)


def _legacy_softmax_dim(ndim: int) -> int:
    warnings.warn(
        "Implicit dimension choice for softmax has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


class _SoftmaxNd(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def _dim(self, x: Tensor) -> int:
        return _legacy_softmax_dim(x.ndim) if self.dim is None else self.dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxNd):
    """``exp(x) / sum(exp(x))`` along ``dim``."""

    def forward(self, x: Tensor) -> Tensor:
        """``softmax(x, dim)``."""
        return F.softmax(x, self._dim(x))


class LogSoftmax(_SoftmaxNd):
    """``log(softmax(x))`` along ``dim``, computed stably."""

    def forward(self, x: Tensor) -> Tensor:
        """``log_softmax(x, dim)``."""
        return F.log_softmax(x, self._dim(x))


class Softmin(_SoftmaxNd):
    """``softmax(-x)`` along ``dim``."""

    def forward(self, x: Tensor) -> Tensor:
        """``softmin(x, dim)``."""
        return F.softmin(x, self._dim(x))
