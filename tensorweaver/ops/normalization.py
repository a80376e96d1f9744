"""Normalization: layer_norm, group_norm, batch_norm (running statistics updated in place) and
normalize, composed of the core ops. They are public in ``tw.nn.functional``."""

from __future__ import annotations

import math

from .._errors import ShapeError
from ._common import Tensor, float_input
from .elementwise import clamp_min
from .reduce import norm
from .shape import reshape
from .unary import rsqrt

__all__: list[str] = []


def _affine(y: Tensor, weight, bias, shape) -> Tensor:
    if weight is not None:
        y = y * reshape(weight, shape)
    if bias is not None:
        y = y + reshape(bias, shape)
    return y


def _normalized(x: Tensor, dims, eps: float) -> Tensor:
    mu = x.mean(dim=dims, keepdim=True)
    d = x - mu
    return d * rsqrt((d * d).mean(dim=dims, keepdim=True) + eps)


def layer_norm(x: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """``x`` normalized over its last ``len(normalized_shape)`` dims (biased variance), then scaled and shifted."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x._data.shape[x._data.ndim - len(shape) :]) != shape:
        raise ShapeError(f"layer_norm: normalized_shape {shape} does not match the end of the input shape {x.shape}")
    dims = tuple(range(x._data.ndim - len(shape), x._data.ndim))
    return _affine(_normalized(float_input(x), dims, eps), weight, bias, shape)


def group_norm(x: Tensor, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """``x`` (N, C, ...) normalized over each group of ``C / num_groups`` channels and the other dims."""
    shape = tuple(x._data.shape)
    if len(shape) < 2 or shape[1] % num_groups:
        raise ShapeError(f"group_norm: {num_groups} groups don't divide the channels of an input of shape {shape}")
    if math.prod(shape) // num_groups == 1:  # one value per group: PyTorch refuses rather than return 0
        raise ValueError(
            f"group_norm: expected more than 1 value per group, got input shape {shape} and {num_groups} groups"
        )
    y = reshape(_normalized(reshape(float_input(x), (shape[0], num_groups, -1)), 2, eps), shape)
    return _affine(y, weight, bias, (shape[1],) + (1,) * (len(shape) - 2))


def batch_norm(
    x: Tensor,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """``x`` (N, C, ...) normalized per channel: by the batch's statistics when ``training`` (and the
    running ones, if given, updated in place with ``momentum``), else by the running statistics.

    Every argument is checked before the running statistics change (nothing is half-updated).
    ``momentum`` is a number or a 0-d tensor (``nn.BatchNorm``'s cumulative average,
    ``momentum=None`` there, passes ``1 / num_batches_tracked``); None is a TypeError, as in PyTorch.
    """
    x = float_input(x)
    shape = tuple(x._data.shape)
    if len(shape) < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got {shape}")
    C = shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ShapeError(f"batch_norm: {name} should contain {C} elements (shape ({C},)), got shape {t.shape}")
    if training and momentum is None and (running_mean is not None or running_var is not None):
        raise TypeError(
            "batch_norm: momentum must be a number (or a 0-d tensor), not None; the cumulative average of "
            "nn.BatchNorm(momentum=None) is momentum = 1 / num_batches_tracked"
        )
    view = (shape[1],) + (1,) * (len(shape) - 2)
    dims = (0, *range(2, len(shape)))
    if training:
        n = x.numel() // shape[1]
        if n <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input shape {shape}"
            )
        mu = x.mean(dim=dims, keepdim=True)
        d = x - mu
        v = (d * d).mean(dim=dims, keepdim=True)
        y = d * rsqrt(v + eps)
        if running_mean is not None or running_var is not None:
            # NOTE: the running statistics are buffers: updated in place, outside the graph
            if running_mean is not None:
                running_mean.copy_(running_mean * (1 - momentum) + reshape(mu.detach(), (-1,)) * momentum)
            if running_var is not None:
                unbiased = reshape(v.detach(), (-1,)) * (n / (n - 1))
                running_var.copy_(running_var * (1 - momentum) + unbiased * momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not training")
        y = (x - reshape(running_mean, view)) * rsqrt(reshape(running_var, view) + eps)
    return _affine(y, weight, bias, view)


def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(norm(x, p, dim), eps)``: unit vectors along ``dim``."""
    return x / clamp_min(norm(x, p, dim, keepdim=True), eps)


TENSOR_METHODS: dict = {}
