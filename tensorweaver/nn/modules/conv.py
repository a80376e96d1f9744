"""Convolutions: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``."""

from __future__ import annotations

import math

from ... import factories
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v, n: int, what: str) -> tuple:
    t = (v,) * n if isinstance(v, int) else tuple(v)
    if len(t) == 1 and n > 1:
        t = t * n
    if len(t) != n or not all(isinstance(i, int) for i in t):
        raise ValueError(f"{what} must be an int or a tuple of {n} ints, got {v!r}")
    return t


class _ConvNd(Module):
    """What every convolution shares: the hyper-parameters, the weight and bias, PyTorch's default init."""

    _nd: int
    padding: str | tuple[int, ...]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        transposed: bool,
        output_padding,
        groups: int,
        bias: bool,
        padding_mode: str,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        n = self._nd
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {list(_PADDING_MODES)}, but got padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride, n, "stride")
        self.dilation = _ntuple(dilation, n, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding")
        self.transposed = transposed
        self.output_padding = _ntuple(output_padding, n, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad's order (last dim first, (left, right) each) for the padding modes other than zeros
        pads: list[int] = []
        for i in reversed(range(n)):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                pads += [total // 2, total - total // 2]
            elif self.padding == "valid":
                pads += [0, 0]
            else:
                pads += [int(self.padding[i]), int(self.padding[i])]
        self._reversed_padding_repeated_twice = pads
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(factories.empty(*shape, *self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(factories.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias as PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from the weight."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _check_input(self, x: Tensor) -> None:
        n = self._nd
        if x.ndim not in (n + 1, n + 2):
            raise RuntimeError(
                f"{type(self).__name__}: expected a {n + 1}-D (unbatched) or {n + 2}-D (batched) input, "
                f"got shape {x.shape}"
            )
        if x.shape[-n - 1] != self.in_channels:
            raise RuntimeError(
                f"{type(self).__name__}: expected input with {self.in_channels} channels (in_channels) in dim "
                f"{x.ndim - n - 1}, got shape {x.shape}"
            )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        n = self._nd
        if self.padding != (0,) * (4 if isinstance(self.padding, str) else n):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation) of (N, C_in, L) or (C_in, L) inputs; weight (C_out, C_in / groups, k)."""

    _nd = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias, padding_mode,
            device, dtype,
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, L) -> (N, C_out, L_out)."""
        self._check_input(x)
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) of (N, C_in, H, W) or (C_in, H, W) inputs; weight
    (C_out, C_in / groups, kh, kw); padding an int, a pair, ``"same"`` or ``"valid"``."""

    _nd = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias, padding_mode,
            device, dtype,
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H_out, W_out)."""
        self._check_input(x)
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    padding: tuple[int, ...]  # the constructor rejects string padding

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of ints, got {self.padding!r}")
        if self.padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')

    def _output_padding(self, x: Tensor, output_size) -> tuple:
        """``output_padding``, or what gives ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        n = self._nd
        size = list(output_size)
        lead = 2 if x.ndim == n + 2 else 1
        if len(size) == lead + n:
            size = size[lead:]
        if len(size) != n:
            raise ValueError(
                f"ConvTranspose{n}D: for {x.ndim}D input, output_size must have {n} or {n + lead} elements "
                f"(got {len(output_size)})"
            )
        s, p, d, k = self.stride, self.padding, self.dilation, self.kernel_size
        lo = [(x.shape[i + lead] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i in range(n)]
        hi = [lo[i] + s[i] - 1 for i in range(n)]
        for i in range(n):
            if not lo[i] <= size[i] <= hi[i]:
                raise ValueError(
                    f"requested an output size of {size}, but valid sizes range from {lo} to {hi} "
                    f"(for an input of {x.shape[lead:]})"
                )
        return tuple(size[i] - lo[i] for i in range(n))


class ConvTranspose1d(_ConvTransposeNd):
    """The transpose of Conv1d (a "deconvolution"): (N, C_in, L) -> (N, C_out, L_out); weight
    (C_in, C_out / groups, k)."""

    _nd = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding, groups, bias,
            padding_mode, device, dtype,
        )  # fmt: skip

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        """(N, C_in, L) -> (N, C_out, (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1)."""
        self._check_input(x)
        op = self._output_padding(x, output_size)
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """The transpose of Conv2d (a "deconvolution"): (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight
    (C_in, C_out / groups, kh, kw)."""

    _nd = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding, groups, bias,
            padding_mode, device, dtype,
        )  # fmt: skip

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H_out, W_out), H_out = (H - 1) * stride - 2 * padding
        + dilation * (kh - 1) + output_padding + 1."""
        self._check_input(x)
        op = self._output_padding(x, output_size)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation)
