"""Products: matmul (1-D, 2-D, batched, broadcast batch dims), linear, scaled dot-product attention,
cosine similarity and pairwise distance."""

from __future__ import annotations

from .. import _dtypes
from .._errors import ShapeError
from ._common import Function, Tensor, apply2, apply_n, resolve, write_out
from .activation import dropout, softmax
from .elementwise import clamp_min
from .indexing import masked_fill
from .reduce import norm, sum, sum_to
from .shape import mT_, permute, reshape

__all__ = ["matmul", "mm", "bmm", "dot", "outer", "addmm", "einsum"]


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


def matmul(x: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics; a shape mismatch names both shapes."""
    if out is not None:
        return write_out(out, matmul(x, other), "matmul")
    if not isinstance(other, Tensor) or not isinstance(x, Tensor):
        raise TypeError(f"matmul: both operands must be Tensors, got {type(x).__name__} and {type(other).__name__}")
    xs, ys = x._data.shape, other._data.shape
    if not xs or not ys:
        raise ValueError(f"matmul: both arguments need to be at least 1-D, got shapes {tuple(xs)} and {tuple(ys)}")
    k = ys[-2] if len(ys) > 1 else ys[0]
    if xs[-1] != k:
        raise ShapeError(f"matmul: shapes {tuple(xs)} and {tuple(ys)} cannot be multiplied ({xs[-1]} != {k})")
    if other._backend is not x._backend or x._data.dtype is not other._data.dtype:
        x, y, _ = resolve(x, other, "matmul")
        return apply2(MatMul(), x, y)
    return apply2(MatMul(), x, other)


def mm(x: Tensor, mat2: Tensor, *, out=None) -> Tensor:
    """The product of two matrices (2-D only; ``matmul`` broadcasts); differentiable."""
    for name, t in (("self", x), ("mat2", mat2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"mm(): {name} must be a Tensor, got {type(t).__name__}")
        if t._data.ndim != 2:
            raise RuntimeError(f"mm(): {name} must be a matrix, got a {t._data.ndim}-D tensor of shape {t.shape}")
    return matmul(x, mat2, out=out)


def bmm(x: Tensor, mat2: Tensor, *, out=None) -> Tensor:
    """Batched matrix product of ``(b, n, m)`` and ``(b, m, p)`` tensors (no broadcasting); differentiable."""
    for name, t in (("batch1", x), ("batch2", mat2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"bmm(): {name} must be a Tensor, got {type(t).__name__}")
        if t._data.ndim != 3:
            raise RuntimeError(f"bmm(): {name} must be a 3D tensor, got shape {t.shape}")
    xs, ys = x._data.shape, mat2._data.shape
    if ys[0] != xs[0] or ys[1] != xs[2]:
        raise RuntimeError(
            f"bmm(): expected batch2 of shape [{xs[0]}, {xs[2]}, *] for batch1 of shape {list(xs)}, but got {list(ys)}"
        )
    return matmul(x, mat2, out=out)


def dot(x: Tensor, other: Tensor) -> Tensor:
    """The dot product of two 1-D tensors of one length (no broadcasting); a 0-d tensor."""
    for name, v in (("self", x), ("tensor", other)):
        if not isinstance(v, Tensor) or v._data.ndim != 1:
            got = f"shape {v.shape}" if isinstance(v, Tensor) else type(v).__name__
            raise RuntimeError(f"dot(): 1D tensors expected, but {name} has {got}")
    if x._data.shape != other._data.shape:
        raise RuntimeError(f"dot(): inconsistent tensor size: {x.shape[0]} and {other.shape[0]} elements")
    return matmul(x, other)


def outer(x: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two 1-D tensors: ``(n, m)``."""
    for name, v in (("self", x), ("vec2", vec2)):
        if not isinstance(v, Tensor) or v._data.ndim != 1:
            got = f"shape {v.shape}" if isinstance(v, Tensor) else type(v).__name__
            raise RuntimeError(f"outer(): 1D tensors expected, but {name} has {got}")
    return reshape(x, (-1, 1)) * reshape(vec2, (1, -1))


def addmm(x: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """``beta * x + alpha * (mat1 @ mat2)`` for matrices (``x`` broadcast); differentiable."""
    if out is not None:
        return write_out(out, addmm(x, mat1, mat2, beta=beta, alpha=alpha), "addmm")
    p = mm(mat1, mat2)
    if alpha != 1:
        p = p * alpha
    return p + (x if beta == 1 else x * beta) if beta != 0 else p


def _einsum_parse(equation: str, operands) -> tuple[list[str], str]:
    """The subscripts of each operand and of the output, ``...`` replaced by letters no user writes."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum(): {equation!r} has {len(terms)} operands, but {len(operands)} tensors were given")
    n_ell = 0
    for term, t in zip(terms, operands, strict=True):
        if "..." in term:
            n_ell = max(n_ell, t._data.ndim - (len(term) - 3))
    ell = "".join(chr(0x3B1 + i) for i in range(n_ell))  # Greek letters: never an ASCII subscript
    subs = []
    for term, t in zip(terms, operands, strict=True):
        letters = term.replace("...", "", 1)
        if not all(c.isascii() and c.isalpha() for c in letters):
            raise ValueError(
                f"einsum(): subscripts must be letters a-z, A-Z (and one ...), got {term!r} in {equation!r}"
            )
        s = term.replace("...", ell[len(ell) - (t._data.ndim - len(letters)) :]) if "..." in term else term
        if len(s) != t._data.ndim:
            raise ValueError(f"einsum(): {term!r} names {len(s)} dims, but its operand has shape {t.shape}")
        if len(set(s)) != len(s):
            raise NotImplementedError(f"einsum(): a subscript repeated within one operand ({term!r}, a diagonal)")
        subs.append(s)
    if arrow:
        out = out.replace("...", ell)
    else:  # implicit mode: the letters seen once, sorted, after the broadcast dims
        seen = "".join(subs)
        out = ell + "".join(sorted(c for c in set(seen) if seen.count(c) == 1 and c not in ell))
    if len(set(out)) != len(out) or not set(out) <= set("".join(subs)):
        raise ValueError(f"einsum(): output subscripts {out!r} must be distinct letters of the inputs ({equation!r})")
    return subs, out


def _einsum_sizes(subs, operands) -> dict:
    sizes: dict = {}
    for s, t in zip(subs, operands, strict=True):
        for c, n in zip(s, t._data.shape, strict=True):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum(): dim {c!r} has sizes {sizes[c]} and {n} ({[x.shape for x in operands]})")
            sizes[c] = max(sizes.get(c, 1), n)
    return sizes


def _einsum_pair(a: Tensor, sa: str, b: Tensor, sb: str, keep: str, sizes: dict) -> tuple[Tensor, str]:
    """Contract two operands into one over the letters not in ``keep``: one batched matmul."""
    batch = [c for c in sa if c in sb and c in keep]
    summed = [c for c in sa if c in sb and c not in keep]
    free_a = [c for c in sa if c not in sb]
    free_b = [c for c in sb if c not in sa]

    def arrange(t: Tensor, s: str, order: list[str]) -> Tensor:
        t = permute(t, tuple(s.index(c) for c in order)) if list(s) != order else t
        shape = tuple(sizes[c] for c in order)
        return t.expand(*shape) if tuple(t._data.shape) != shape else t  # size-1 dims broadcast

    a = arrange(a, sa, batch + free_a + summed)
    b = arrange(b, sb, batch + summed + free_b)
    nb = [sizes[c] for c in batch]
    m, k, n = (_prod(sizes[c] for c in g) for g in (free_a, summed, free_b))
    y = reshape(a, (*nb, m, k)) @ reshape(b, (*nb, k, n))
    return reshape(y, tuple(sizes[c] for c in batch + free_a + free_b)), "".join(batch + free_a + free_b)


def _prod(values) -> int:
    n = 1
    for v in values:
        n *= v
    return n


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation: ``einsum("bij,bjk->bik", a, b)``, implicit output (``"ij,jk"``), ``...`` for
    broadcast dims, any number of operands (contracted left to right, each pair as one batched
    ``matmul``, so memory stays that of the operands and results); differentiable. Letters repeated
    within one operand (diagonals, ``"ii->i"``) are not supported."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands or not all(isinstance(t, Tensor) for t in operands):
        raise TypeError(f"einsum(): operands must be Tensors, got {[type(t).__name__ for t in operands]}")
    subs, out = _einsum_parse(equation, operands)
    sizes = _einsum_sizes(subs, operands)
    ts = list(operands)
    for i, (t, s) in enumerate(zip(ts, subs, strict=True)):  # letters only this operand has and the output lacks
        others = out + "".join(subs[:i] + subs[i + 1 :])
        gone = tuple(d for d, c in enumerate(s) if c not in others)
        if gone:
            ts[i], subs[i] = sum(t, gone), "".join(c for c in s if c in others)
    y, sy = ts[0], subs[0]
    for i in range(1, len(ts)):
        keep = out + "".join(subs[i + 1 :])
        y, sy = _einsum_pair(y, sy, ts[i], subs[i], keep, sizes)
    gone = tuple(d for d, c in enumerate(sy) if c not in out)
    if gone:
        y, sy = sum(y, gone), "".join(c for c in sy if c in out)
    if sy != out:
        y = permute(y, tuple(sy.index(c) for c in out))
    shape = tuple(sizes[c] for c in out)
    return y if tuple(y._data.shape) == shape else y.expand(*shape)


class Linear(Function):
    """``x @ w.T + b`` for a matrix ``x`` (N, in), ``w`` (out, in), ``b`` (out,) of one dtype: the bias
    added in place to the product, which the op owns (one pass and one array fewer than ``+``, and
    one node where matmul, the transpose and the add made three), as PyTorch's addmm."""

    __slots__ = ()

    def forward(self, xp, x, w, b):
        y = x @ xp.permute_dims(w, (1, 0))
        y += b
        return y

    def backward(self, gy):
        x, w, b = self.inputs
        return (
            gy @ w if x._requires_grad else None,
            mT_(gy) @ x if w._requires_grad else None,
            sum(gy, 0) if b._requires_grad else None,
        )

    def backward_array(self, xp, gy):
        x, w, b = self.inputs
        return (
            gy @ w._data if x._requires_grad else None,
            xp.permute_dims(gy, (1, 0)) @ x._data if w._requires_grad else None,
            xp.sum(gy, axis=0) if b._requires_grad else None,
        )


def linear(x: Tensor, weight: Tensor, bias=None) -> Tensor:
    """``x @ weight.T + bias``."""
    a, w = x._data, weight._data
    if (
        bias is not None
        and a.ndim == 2
        and w.ndim == 2
        and bias._data.ndim == 1
        and a.dtype == w.dtype == bias._data.dtype
        and x._backend is weight._backend is bias._backend
        and a.shape[1] == w.shape[1]
        and bias._data.shape[0] == w.shape[0]
    ):
        return apply_n(Linear(), (x, weight, bias))
    y = matmul(x, weight.mT if w.ndim == 2 else weight)
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


TENSOR_METHODS = {
    "matmul": matmul,
    "mm": mm,
    "bmm": bmm,
    "dot": dot,
    "outer": outer,
    "addmm": addmm,
}
