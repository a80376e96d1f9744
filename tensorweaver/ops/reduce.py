"""Reductions (sum, mean) and the broadcast pair they are the gradients of (sum_to, broadcast_to)."""

from __future__ import annotations

from ._common import Function, Tensor, apply1, normalize_dims

__all__ = ["sum", "mean", "sum_to", "broadcast_to"]


def _kept_shape(shape, axes) -> tuple:
    """``shape`` with the reduced ``axes`` (None: all) set to 1: where a reduction's gradient goes."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    __slots__ = ("axes", "keepdims")

    def __init__(self, axes, keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, xp, x):
        return xp.sum(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        shape = self.inputs[0]._data.shape
        if not self.keepdims:
            gy = gy.reshape(_kept_shape(shape, self.axes))
        return (broadcast_to(gy, shape),)


class Mean(Sum):
    __slots__ = ("n",)

    def forward(self, xp, x):
        n = 1
        if self.axes is None:
            for s in x.shape:
                n *= s
        else:
            for a in self.axes:
                n *= x.shape[a]
        self.n = n
        return xp.mean(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return super().backward(gy / self.n)


class SumTo(Function):
    """Sum ``x`` down to a shape it was broadcast from: the gradient of broadcasting."""

    __slots__ = ("shape",)

    def __init__(self, shape) -> None:
        self.shape = shape

    def forward(self, xp, x):
        shape = self.shape
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
        y = xp.sum(x, axis=axes, keepdims=True) if axes else x
        return xp.reshape(y, shape) if lead else y

    def backward(self, gy):
        return (broadcast_to(gy, self.inputs[0]._data.shape),)


class BroadcastTo(Function):
    __slots__ = ("shape",)

    def __init__(self, shape) -> None:
        self.shape = shape

    def forward(self, xp, x):
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return (sum_to(gy, self.inputs[0]._data.shape),)


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum ``x`` to ``shape`` (which must broadcast to ``x.shape``); ``x`` itself if it has it."""
    if x._data.shape == shape:
        return x
    return apply1(SumTo(tuple(shape)), x)


def broadcast_to(x: Tensor, size) -> Tensor:
    """``x`` broadcast to ``size`` (a view; the gradient sums back)."""
    size = tuple(size)
    if x._data.shape == size:
        return x
    try:
        return apply1(BroadcastTo(size), x)
    except ValueError as e:
        raise ValueError(f"broadcast_to: shape {x.shape} can't be broadcast to {size} ({e})") from None


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (None: all dims; an int or a tuple), keeping reduced dims if ``keepdim``."""
    if dtype is not None:
        x = x.to(dtype)
    return apply1(Sum(normalize_dims(dim, x._data.ndim), bool(keepdim)), x)


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Arithmetic mean over ``dim`` (floating-point tensors)."""
    if dtype is not None:
        x = x.to(dtype)
    if x._backend.from_native[x._data.dtype].kind not in "fc":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {x.dtype}"
        )
    return apply1(Mean(normalize_dims(dim, x._data.ndim), bool(keepdim)), x)


TENSOR_METHODS = {
    "sum": sum,
    "mean": mean,
    "broadcast_to": broadcast_to,
    "expand": lambda self, *size: broadcast_to(
        self, size[0] if len(size) == 1 and not isinstance(size[0], int) else size
    ),
}
