"""Products: matmul (1-D, 2-D, batched, broadcast batch dims), linear, scaled dot-product attention,
cosine similarity and pairwise distance."""

from __future__ import annotations

from .. import _dtypes
from .._errors import ShapeError
from ._common import Function, Tensor, apply2, resolve
from .activation import dropout, softmax
from .elementwise import clamp_min
from .indexing import masked_fill
from .reduce import norm, sum_to
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
        raise ShapeError(f"matmul: shapes {tuple(xs)} and {tuple(ys)} cannot be multiplied ({xs[-1]} != {k})")
    if other._backend is not x._backend or x._data.dtype is not other._data.dtype:
        x, other, _ = resolve(x, other, "matmul")
    return apply2(MatMul(), x, other)


def linear(x: Tensor, weight: Tensor, bias=None) -> Tensor:
    """``x @ weight.T + bias``."""
    y = matmul(x, weight.mT if weight._data.ndim == 2 else weight)
    return y if bias is None else y + bias


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale=None,
) -> Tensor:
    """``softmax(query @ key.mT * scale + mask) @ value``; a bool ``attn_mask`` marks what may be attended to."""
    L, S = query._data.shape[-2], key._data.shape[-2]
    scores = matmul(query, key.mT) * (query._data.shape[-1] ** -0.5 if scale is None else scale)
    b = query._backend
    xp = b.xp
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
        i = xp.arange(L, dtype=xp.int64, device=b.native_device)
        j = xp.arange(S, dtype=xp.int64, device=b.native_device)
        scores = masked_fill(scores, xp.reshape(i, (-1, 1)) < xp.reshape(j, (1, -1)), -float("inf"))
    elif attn_mask is not None:
        if attn_mask._backend is not b:
            raise RuntimeError(
                f"scaled_dot_product_attention: attn_mask is on {attn_mask.device}, query on {query.device}"
            )
        if attn_mask.dtype is _dtypes.bool:
            scores = masked_fill(scores, xp.logical_not(attn_mask._data), -float("inf"))
        else:
            scores = scores + attn_mask
    attn = softmax(scores, -1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p)
    return matmul(attn, value)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 * x2, dim) / (max(norm(x1), eps) * max(norm(x2), eps))``."""
    n1 = clamp_min(norm(x1, 2, dim), eps)
    n2 = clamp_min(norm(x2, 2, dim), eps)
    return (x1 * x2).sum(dim=dim) / (n1 * n2)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``norm(x1 - x2 + eps, p)`` over the last dim."""
    return norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


TENSOR_METHODS = {"matmul": matmul}
