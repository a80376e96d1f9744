"""Shape ops: reshape, permute, transpose (and .T / .mT); no data is copied where a view will do."""

from __future__ import annotations

from ._common import Function, Tensor, apply1, check_dim

__all__ = ["reshape", "permute", "transpose"]


class Reshape(Function):
    __slots__ = ("shape",)

    def __init__(self, shape) -> None:
        self.shape = shape

    def forward(self, xp, x):
        return xp.reshape(x, self.shape)

    def backward(self, gy):
        return (reshape(gy, self.inputs[0]._data.shape),)


class Permute(Function):
    __slots__ = ("axes",)

    def __init__(self, axes) -> None:
        self.axes = axes

    def forward(self, xp, x):
        return xp.permute_dims(x, self.axes)

    def backward(self, gy):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return (permute(gy, tuple(inverse)),)


def _resolve_shape(shape, numel: int, old) -> tuple:
    shape = tuple(int(s) for s in shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise ValueError(f"reshape: invalid shape {shape}")
            known *= s
    if len(unknown) > 1:
        raise ValueError(f"reshape: only one dimension can be inferred, got shape {shape}")
    if unknown:
        if known == 0 or numel % known:
            raise ValueError(f"reshape: shape {shape} is invalid for x of size {numel} (shape {old})")
        shape = shape[: unknown[0]] + (numel // known,) + shape[unknown[0] + 1 :]
    elif known != numel:
        raise ValueError(f"reshape: shape {shape} is invalid for x of size {numel} (shape {old})")
    return shape


def reshape(x: Tensor, *shape) -> Tensor:
    """``x`` with a new shape of the same size; one dimension may be -1."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    old = x._data.shape
    if shape == old:
        return x
    n = 1
    for s in old:
        n *= s
    return apply1(Reshape(_resolve_shape(shape, n, tuple(old))), x)


def permute(x: Tensor, *dims) -> Tensor:
    """``x`` with its dimensions reordered: ``permute(x, (1, 0))`` or ``x.permute(1, 0)``."""
    if len(dims) == 1 and not isinstance(dims[0], int):
        dims = dims[0]
    ndim = x._data.ndim
    axes = tuple(check_dim(d, ndim) for d in dims)
    if len(axes) != ndim or len(set(axes)) != ndim:
        raise ValueError(
            f"permute: dims {tuple(dims)} must be a permutation of the {ndim} dims of a tensor of shape {x.shape}"
        )
    return apply1(Permute(axes), x)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """``x`` with dims ``dim0`` and ``dim1`` swapped."""
    ndim = x._data.ndim
    d0, d1 = check_dim(dim0, ndim), check_dim(dim1, ndim)
    if ndim < 2 or d0 == d1:
        return x
    axes = list(range(ndim))
    axes[d0], axes[d1] = d1, d0
    return apply1(Permute(tuple(axes)), x)


def t_(x: Tensor) -> Tensor:
    """``.T``: all dims reversed (a 0-d or 1-d tensor is returned as is)."""
    ndim = x._data.ndim
    if ndim < 2:
        return x
    return apply1(Permute(tuple(range(ndim - 1, -1, -1))), x)


def mT_(x: Tensor) -> Tensor:  # noqa: N802 - PyTorch's attribute name
    """``.mT``: the last two dims swapped (batched matrix transpose)."""
    ndim = x._data.ndim
    if ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {ndim}-D tensor.")
    axes = list(range(ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return apply1(Permute(tuple(axes)), x)


TENSOR_METHODS = {
    "reshape": reshape,
    "view": reshape,
    "permute": permute,
    "transpose": transpose,
    "t": lambda self: transpose(self, 0, 1) if self._data.ndim == 2 else self,
}
