"""Matrix products: matmul (1-D, 2-D, batched, broadcast batch dims)."""

from __future__ import annotations

from ._common import Function, Tensor, apply2, promote, promote_floats
from .reduce import sum_to
from .shape import mT_, reshape

__all__ = ["matmul"]


class MatMul(Function):
    __slots__ = ()

    def forward(self, xp, x, y):
        return x @ y

    def backward(self, gy):
        x, y = self.inputs
        xs, ys = x._data.shape, y._data.shape
        if len(xs) == 2 and len(ys) == 2:
            return (gy @ mT_(y) if x._requires_grad else None, mT_(x) @ gy if y._requires_grad else None)
        # Treat 1-D operands as matrices (a row on the left, a column on the right), then undo the
        # broadcast of the batch dims with sum_to and the matrix views with reshape.
        X = reshape(x, (1, xs[0])) if len(xs) == 1 else x
        Y = reshape(y, (ys[0], 1)) if len(ys) == 1 else y
        G = gy
        if len(xs) == 1:
            G = reshape(G, (*G._data.shape[:-1], 1, G._data.shape[-1]) if len(ys) > 1 else (1, *G._data.shape))
        if len(ys) == 1:
            G = reshape(G, (*G._data.shape, 1))
        gx = reshape(sum_to(G @ mT_(Y), X._data.shape), xs) if x._requires_grad else None
        gyy = reshape(sum_to(mT_(X) @ G, Y._data.shape), ys) if y._requires_grad else None
        return gx, gyy

    def backward_array(self, xp, gy):
        x, y = self.inputs
        a, b = x._data, y._data
        if a.ndim != 2 or b.ndim != 2:
            return None
        transposed = x._backend.is_transposed
        gx = gyy = None
        if x._requires_grad:
            gx = (b @ gy.T).T if transposed(a) else gy @ b.T
        if y._requires_grad:
            gyy = (gy.T @ a).T if transposed(b) else a.T @ gy
        return gx, gyy


def matmul(x: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics; a shape mismatch names both shapes."""
    if not isinstance(other, Tensor) or not isinstance(x, Tensor):
        raise TypeError(f"matmul: both operands must be Tensors, got {type(x).__name__} and {type(other).__name__}")
    xs, ys = x._data.shape, other._data.shape
    if not xs or not ys:
        raise ValueError(f"matmul: both arguments need to be at least 1-D, got shapes {tuple(xs)} and {tuple(ys)}")
    k = ys[-2] if len(ys) > 1 else ys[0]
    if xs[-1] != k:
        raise ValueError(f"matmul: shapes {tuple(xs)} and {tuple(ys)} cannot be multiplied ({xs[-1]} != {k})")
    if x._backend is other._backend and x._data.dtype != other._data.dtype:  # else apply2 names both devices
        x, other = promote_floats(x, other) or promote(x, other)
    return apply2(MatMul(), x, other)


TENSOR_METHODS = {"matmul": matmul}
