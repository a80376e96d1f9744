"""Neural-network ops: softmax, losses, gather/scatter, embedding, dropout, convolution, pooling, norms.

A handful of primitives carry the gradients: LogSoftmax (fused backward), Gather and ScatterAdd
(each the other's gradient), MaskedFill, Im2Col and Col2Im (each the other's adjoint); index_select
uses shape's Take. Everything else (softmax, the losses, embedding, conv2d, the pools) is composed
of them and the core ops, so gradients of every order work on every backend.
"""

from __future__ import annotations

from .. import _dtypes
from ._common import Function, Tensor, apply1, apply2, cast, check_dim, kind, output_tensor, promote, state
from .elementwise import _float_input, abs, clamp, clamp_min, exp, gt, log, logsigmoid, lt, rsqrt, where
from .linalg import matmul
from .reduce import norm, sum_to
from .shape import permute, reshape, take_along

# Re-exported as tw.*: the names that torch.* has with these signatures. The rest (losses, linear,
# one_hot, embedding, dropout, the other pools, the norms, softmin) is public here and in
# tw.nn.functional only.
__all__ = [
    "softmax",
    "log_softmax",
    "masked_fill",
    "gather",
    "scatter_add",
    "index_select",
    "conv1d",
    "conv2d",
    "max_pool2d",
]

_wrap = Tensor._wrap


# -- softmax ---------------------------------------------------------------------------------------
class LogSoftmax(Function):
    __slots__ = ("axis", "y")

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, xp, x):
        # subtracting the max keeps exp() from overflowing; log(sum) of the shifted values is >= 0
        s = x - xp.max(x, axis=self.axis, keepdims=True)
        self.y = y = s - xp.log(xp.sum(xp.exp(s), axis=self.axis, keepdims=True))
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
    return _float_input(x), check_dim(dim, x._data.ndim)


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


# -- gather / scatter ------------------------------------------------------------------------------
def _check_index(index: Tensor, x: Tensor, what: str) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"{what}: index must be an integer Tensor, got {type(index).__name__}")
    if index._backend is not x._backend:
        raise RuntimeError(
            f"{what}: expected all tensors to be on the same device, but found at least two devices, "
            f"{x.device} and {index.device}"
        )
    if kind(index) not in "iu":
        raise TypeError(f"{what}: index must be an integer tensor, got {index.dtype}")


def _flat_positions(b, shape: tuple, axis: int, index):
    """Flat positions into an array of ``shape`` picked by ``index`` along ``axis`` (gather's rule:
    ``out[i][j][k] = x[i][index[i][j][k]][k]`` for axis 1), as an int64 array of index's shape.

    NOTE: an index out of ``[0, shape[axis])`` maps to the position one past the end, so the take or
    scatter that uses it fails (an IndexError on NumPy and array_api_strict) instead of silently
    reading another row; checking on the host would cost a device round trip. CuPy cannot raise
    from the device: it wraps out-of-bounds indices around (documented in its NumPy differences).
    """
    xp, dev = b.xp, b.native_device
    ishape = tuple(index.shape)
    if len(ishape) != len(shape):
        raise RuntimeError(f"index has {len(ishape)} dims but the tensor has {len(shape)}; they must match")
    for d, (i, s) in enumerate(zip(ishape, shape, strict=True)):
        if d != axis and i > s:
            raise RuntimeError(f"size {i} of index at dim {d} exceeds the tensor's size {s} (shape {shape})")
    index = xp.astype(index, xp.int64)
    n, stride = 1, [0] * len(shape)
    for d in range(len(shape) - 1, -1, -1):
        stride[d] = n
        n *= shape[d]
    pos = None
    for d, i in enumerate(ishape):
        if d == axis:
            c = index * stride[d]
        else:
            view = [1] * len(shape)
            view[d] = i
            c = xp.reshape(xp.arange(i, dtype=xp.int64, device=dev) * stride[d], tuple(view))
        pos = c if pos is None else pos + c
    if pos is None:  # 0-d
        return xp.zeros((), dtype=xp.int64, device=dev)
    valid = (index >= 0) & (index < shape[axis])
    return xp.broadcast_to(xp.where(valid, pos, xp.asarray(n, dtype=xp.int64, device=dev)), ishape)


class Gather(Function):
    """``x.reshape(-1)[pos]``: a gather by precomputed flat positions."""

    __slots__ = ("pos",)

    def __init__(self, pos) -> None:
        self.pos = pos

    def forward(self, xp, x):
        return xp.reshape(xp.take(xp.reshape(x, (-1,)), xp.reshape(self.pos, (-1,))), self.pos.shape)

    def backward(self, gy):
        (x,) = self.inputs
        zeros = _wrap(x._backend.xp.zeros_like(x._data), x._backend)
        return (apply2(ScatterAdd(self.pos, x._backend), zeros, gy),)


class ScatterAdd(Function):
    """``x`` with ``src`` added at the flat positions ``pos`` (repeated positions add up)."""

    __slots__ = ("pos", "b")

    def __init__(self, pos, b) -> None:
        self.pos, self.b = pos, b

    def forward(self, xp, x, src):
        flat = self.b.scatter_add(xp.reshape(x, (-1,)), xp.reshape(self.pos, (-1,)), xp.reshape(src, (-1,)))
        return xp.reshape(flat, x.shape)

    def backward(self, gy):
        x, src = self.inputs
        return (gy if x._requires_grad else None, apply1(Gather(self.pos), gy) if src._requires_grad else None)


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = x[i][index[i][j]]`` for ``dim=1`` (any rank); ``index`` has x's number of dims."""
    _check_index(index, x, "gather")
    axis = check_dim(dim, x._data.ndim)
    return apply1(Gather(_flat_positions(x._backend, tuple(x._data.shape), axis, index._data)), x)


def _identity_index(b, shape: tuple, axis: int):
    """An index of ``shape`` whose entry along ``axis`` is its own coordinate (gather's no-op)."""
    xp = b.xp
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return xp.broadcast_to(
        xp.reshape(xp.arange(shape[axis], dtype=xp.int64, device=b.native_device), tuple(view)), shape
    )


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``x`` plus ``src[i][j]`` added at ``[i][index[i][j]]`` (dim=1); differentiable in ``x`` and ``src``."""
    _check_index(index, x, "scatter_add")
    if src._backend is not x._backend:
        raise RuntimeError(f"scatter_add: src is on {src.device}, the tensor on {x.device}")
    axis = check_dim(dim, x._data.ndim)
    b, ishape = x._backend, tuple(index._data.shape)
    if tuple(src._data.shape) != ishape:
        # only src's leading block of index's shape is used (as in PyTorch)
        src = gather(src, axis, _wrap(_identity_index(b, ishape, axis), b))
    if src._data.dtype != x._data.dtype:
        src = cast(src, x.dtype)
    return apply2(ScatterAdd(_flat_positions(b, tuple(x._data.shape), axis, index._data), b), x, src)


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of ``x`` at positions ``index`` (a 0-D or 1-D integer tensor) along ``dim``."""
    _check_index(index, x, "index_select")
    if index._data.ndim > 1:
        raise IndexError(f"index_select(): index must be 0-D or 1-D, got shape {index.shape}")
    axis = check_dim(dim, x._data.ndim)
    flat = x._backend.xp.reshape(index._data, (-1,))
    if x._data.ndim == 0:  # as in PyTorch: a 0-d tensor stays 0-d
        return reshape(take_along(reshape(x, (1,)), flat, 0), ())
    return take_along(x, flat, axis)


def embedding(x: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``x``: shape ``(*x.shape, weight.shape[1])``.

    Repeated indices accumulate their gradients; rows at ``padding_idx`` get no gradient.
    """
    _check_index(x, weight, "embedding")
    if weight._data.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    out = index_select(weight, 0, reshape(x, (-1,)))
    if padding_idx is not None:
        padding_idx = check_dim(padding_idx, weight._data.shape[0])
        b = x._backend
        mask = _wrap(b.xp.reshape(b.xp.reshape(x._data, (-1,)) == padding_idx, (-1, 1)), b)
        out = masked_fill(out, mask, 0) + masked_fill(out.detach(), b.xp.logical_not(mask._data), 0)
    return reshape(out, (*x._data.shape, weight._data.shape[1]))


def one_hot(x: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor of shape ``(*x.shape, num_classes)`` with a 1 at each value of ``x``.

    NOTE: ``num_classes=-1`` means ``x.max() + 1``, which copies that one value to the host; pass
    ``num_classes`` to stay on the device. Values outside ``[0, num_classes)`` give rows of zeros.
    """
    if kind(x) not in "iu":
        raise TypeError(f"one_hot is only applicable to integer tensors, got {x.dtype}")
    b = x._backend
    xp = b.xp
    if num_classes == -1:
        if x.numel() == 0:
            raise RuntimeError("one_hot: can not infer the number of classes of an empty tensor")
        num_classes = int(b.transfer(xp.max(x._data), to_host=True)) + 1
    classes = xp.arange(num_classes, dtype=x._data.dtype, device=b.native_device)
    return _wrap(xp.astype(x._data[..., None] == classes, xp.int64), b)


# -- masked_fill -----------------------------------------------------------------------------------
class MaskedFill(Function):
    """``where(mask, c, x)`` for a Python number ``c``, keeping x's dtype (no host copy of ``c``)."""

    __slots__ = ("mask", "c", "dev")

    def __init__(self, mask, c, dev) -> None:
        self.mask, self.c, self.dev = mask, c, dev

    def forward(self, xp, x):
        return xp.where(self.mask, xp.asarray(self.c, dtype=x.dtype, device=self.dev), x)

    def backward(self, gy):
        x = self.inputs[0]
        return (sum_to(apply1(MaskedFill(self.mask, 0, self.dev), gy), x._data.shape),)


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    """``x`` with ``value`` (a number or a 0-d tensor, cast to x's dtype) where the bool ``mask`` is True."""
    if isinstance(mask, Tensor):
        if mask._backend is not x._backend:
            raise RuntimeError(f"masked_fill: mask is on {mask.device}, the tensor on {x.device}")
        if mask.dtype is not _dtypes.bool:
            raise TypeError(f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype}")
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, got shape {value.shape}")
        return where(mask, cast(value, x.dtype), x)
    if type(value) is float and kind(x) in "iub" or type(value) is int and kind(x) == "b":
        raise TypeError(f"masked_fill: value {value!r} can't be stored in a {x.dtype} tensor")
    mask = mask._data if isinstance(mask, Tensor) else mask
    return apply1(MaskedFill(mask, value, x._backend.native_device), x)


# -- losses and layers -----------------------------------------------------------------------------
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction!r} is not a valid value for reduction; expected one of {_REDUCTIONS}")


def _class_dim(x: Tensor, target: Tensor, what: str) -> int:
    """The class dimension of ``x`` (1, or 0 when unbatched) after checking target's shape."""
    xs, ts = tuple(x._data.shape), tuple(target._data.shape)
    if len(xs) == 0:
        raise ValueError(f"{what}: input must have at least one dimension (the classes)")
    cdim = 1 if len(xs) >= 2 else 0
    if ts != xs[:cdim] + xs[cdim + 1 :]:
        raise ValueError(f"{what}: expected target of shape {xs[:cdim] + xs[cdim + 1 :]} for input {xs}, got {ts}")
    return cdim


class NLLLoss(Function):
    """``-w[i] * logp[i, t[i]]``, reduced: one op for the picked log-probabilities and their weights.

    ``onehot`` (bool, logp's shape) marks the targets along the class dim and ``w`` (the target's
    shape) holds their weights, 0 where ignored; the weights are constants (as in PyTorch).
    """

    __slots__ = ("onehot", "w", "cdim", "reduction")

    def __init__(self, onehot, w, cdim: int, reduction: str) -> None:
        self.onehot, self.w, self.cdim, self.reduction = onehot, w, cdim, reduction

    def forward(self, xp, logp):
        # where, not a product with the one-hot: a -inf log-probability of another class must not give nan
        picked = xp.where(self.onehot, logp, xp.zeros((), dtype=logp.dtype, device=logp.device))
        if self.reduction == "none":
            return -(xp.sum(picked, axis=self.cdim) * self.w)
        # one reduction over everything: NumPy sums along a short class dim (256 rows of 10) 5x slower
        total = -xp.sum(picked * xp.reshape(self.w, _kept(logp.shape, self.w.shape)))
        return total if self.reduction == "sum" else total / xp.sum(self.w)

    def backward(self, gy):
        b = self.inputs[0]._backend
        coef = -self.w if self.reduction != "mean" else -self.w / b.xp.sum(self.w)
        g = gy * _wrap(coef, b)  # linear in gy: second derivatives flow through these products
        onehot = b.xp.astype(self.onehot, coef.dtype)
        return (reshape(g, _kept(self.onehot.shape, self.w.shape)) * _wrap(onehot, b),)

    def backward_array(self, xp, gy):
        coef = -self.w if self.reduction != "mean" else -self.w / xp.sum(self.w)
        g = xp.reshape(gy * coef, _kept(self.onehot.shape, self.w.shape))
        return (g * xp.astype(self.onehot, g.dtype),)


def _kept(full: tuple, reduced: tuple) -> tuple:
    """``reduced`` (the target shape) with a 1 inserted where ``full`` (the input shape) has its class dim."""
    cdim = 1 if len(full) >= 2 else 0
    return tuple(reduced[:cdim]) + (1,) + tuple(reduced[cdim:])


def _nll(logp: Tensor, target: Tensor, weight, ignore_index: int, reduction: str, what: str):
    """``NLLLoss`` applied to ``logp``, and the per-target weights ``w`` (an array, 0 where ignored)."""
    _check_index(target, logp, what)
    cdim = _class_dim(logp, target, what)
    b = logp._backend
    xp = b.xp
    t = target._data
    valid = t != ignore_index
    kept = _kept(tuple(logp._data.shape), tuple(t.shape))
    w = xp.astype(valid, logp._data.dtype)
    C = logp._data.shape[cdim]
    if weight is not None:
        if tuple(weight.shape) != (C,):
            raise ValueError(f"{what}: weight must have shape ({C},), got {weight.shape}")
        if weight._requires_grad and state.enabled:
            raise RuntimeError(f"{what}: the class weights get no gradient; pass weight.detach()")
        safe = xp.where(valid, t, xp.zeros_like(t))
        w = w * xp.reshape(xp.take(xp.astype(weight._data, w.dtype), xp.reshape(safe, (-1,))), t.shape)
    classes = xp.arange(C, dtype=t.dtype, device=b.native_device)
    if cdim != len(kept) - 1:
        view = [1] * len(kept)
        view[cdim] = C
        classes = xp.reshape(classes, tuple(view))
    # NOTE: an ignored target picks no class (a -inf log-probability there must not give nan)
    onehot = xp.reshape(t, kept) == classes
    if 0 <= ignore_index < C:
        onehot = onehot & xp.reshape(valid, kept)
    return apply1(NLLLoss(onehot, w, cdim, reduction), logp), w


def nll_loss(x: Tensor, target: Tensor, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of log-probabilities ``x`` (N, C, ...) at class indices ``target`` (N, ...).

    ``mean`` divides by the summed weights of the targets that are not ``ignore_index``.
    """
    _check_reduction(reduction)
    return _nll(x, target, weight, ignore_index, reduction, "nll_loss")[0]


def cross_entropy(
    x: Tensor,
    target: Tensor,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits ``x`` (N, C, ...) with class indices (N, ...) or class probabilities (N, C, ...)."""
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    cdim = 1 if x._data.ndim >= 2 else 0
    logp = log_softmax(x, cdim)
    C = x._data.shape[cdim]
    wshape = [1] * x._data.ndim
    wshape[cdim] = C
    if kind(target) == "f":  # class probabilities
        if tuple(target.shape) != tuple(x.shape):
            raise ValueError(
                f"cross_entropy: probability targets must have the input's shape {x.shape}, got {target.shape}"
            )
        p = cast(target, logp.dtype)
        if label_smoothing:
            p = p * (1.0 - label_smoothing) + label_smoothing / C
        if weight is not None:
            p = p * reshape(cast(weight, logp.dtype), wshape)
        loss = -(logp * p).sum(dim=cdim)
        if reduction == "mean":
            n = loss.numel()
            return loss.sum() / n
        return loss.sum() if reduction == "sum" else loss
    if not label_smoothing:
        return _nll(logp, target, weight, ignore_index, reduction, "cross_entropy")[0]
    loss, w = _nll(logp, target, weight, ignore_index, "none", "cross_entropy")
    b = x._backend
    wl = logp if weight is None else logp * reshape(cast(weight.detach(), logp.dtype), wshape)
    valid = _wrap(b.xp.astype(target._data != ignore_index, logp._data.dtype), b)
    loss = loss * (1.0 - label_smoothing) + -wl.sum(dim=cdim) * valid * (label_smoothing / C)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / _wrap(b.xp.sum(w), b)


def _reduce_mean(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def mse_loss(x: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or summed, or elementwise) squared error."""
    _check_reduction(reduction)
    d = x - target
    return _reduce_mean(d * d, reduction)


def l1_loss(x: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or summed, or elementwise) absolute error."""
    _check_reduction(reduction)
    return _reduce_mean(abs(x - target), reduction)


def huber_loss(x: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Squared error ``0.5 * d**2`` below ``delta``, linear ``delta * (|d| - 0.5 * delta)`` above."""
    _check_reduction(reduction)
    d = abs(x - target)
    return _reduce_mean(where(lt(d, delta), d * d * 0.5, (d - 0.5 * delta) * delta), reduction)


def smooth_l1_loss(x: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``huber_loss / beta``: ``0.5 * d**2 / beta`` below ``beta``, ``|d| - 0.5 * beta`` above (L1 for beta=0)."""
    _check_reduction(reduction)
    d = abs(x - target)
    if beta == 0:
        return _reduce_mean(d, reduction)
    return _reduce_mean(where(lt(d, beta), d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def _log_at_least_minus_100(p: Tensor) -> Tensor:
    """``max(log(p), -100)`` without evaluating log(0) (NumPy would warn)."""
    positive = gt(p, 0)
    return clamp(where(positive, log(where(positive, p, 1.0)), -100.0), min=-100.0)


def binary_cross_entropy(x: Tensor, target: Tensor, weight=None, reduction: str = "mean") -> Tensor:
    """``-(t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x``; each log is clamped at -100 (as in PyTorch)."""
    _check_reduction(reduction)
    loss = -(target * _log_at_least_minus_100(x) + (1 - target) * _log_at_least_minus_100(1 - x))
    return _reduce_mean(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(
    x: Tensor, target: Tensor, weight=None, reduction: str = "mean", pos_weight=None
) -> Tensor:
    """``binary_cross_entropy(sigmoid(x), target)`` computed stably from the logits ``x``."""
    _check_reduction(reduction)
    # (1 - t) * x - log(sigmoid(x)) == -(t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)))
    log_weight = 1 if pos_weight is None else (pos_weight - 1) * target + 1
    loss = (1 - target) * x - log_weight * logsigmoid(x)
    return _reduce_mean(loss if weight is None else loss * weight, reduction)


def kl_div(x: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``target * (log(target) - x)`` for log-probabilities ``x`` (0 where target is 0); 'batchmean'
    divides the sum by the batch size (the KL divergence proper)."""
    if reduction not in (*_REDUCTIONS, "batchmean"):
        raise ValueError(
            f"{reduction!r} is not a valid value for reduction; expected one of {_REDUCTIONS} or 'batchmean'"
        )
    if log_target:
        loss = exp(target) * (target - x)
    else:
        positive = gt(target, 0)
        loss = where(positive, target * log(where(positive, target, 1.0)), 0.0) - target * x
    if reduction == "batchmean":
        return loss.sum() / (x._data.shape[0] if x._data.ndim else 1)
    return _reduce_mean(loss, reduction)


def linear(x: Tensor, weight: Tensor, bias=None) -> Tensor:
    """``x @ weight.T + bias``."""
    y = matmul(x, weight.mT if weight._data.ndim == 2 else weight)
    return y if bias is None else y + bias


def _dropout(x: Tensor, p: float, training: bool, inplace: bool, mask_shape) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if inplace:
        raise NotImplementedError("dropout(inplace=True): tensorweaver's dropout is out of place")
    if not training or p == 0.0:
        return x
    x = _float_input(x)
    b = x._backend
    xp = b.xp
    rdt = x.dtype if x.dtype in (_dtypes.float32, _dtypes.float64) else _dtypes.float32
    u = b.rand(tuple(x._data.shape) if mask_shape is None else mask_shape, rdt)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = xp.astype(xp.astype(u >= p, u.dtype) * scale, x._data.dtype)
    return x * _wrap(mask, b)


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


# -- convolution and pooling -----------------------------------------------------------------------
def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2 or not all(isinstance(i, int) for i in v):
        raise ValueError(f"{what} must be an int or a pair of ints, got {v}")
    return v


class Im2Col(Function):
    """(N, C, H, W) -> (C, kh * kw, N, OH, OW): every kernel position's strided slice of the padded input.

    ``pads`` is (top, bottom, left, right); the padding holds ``fill`` (0, or -inf for max pooling).
    Channels and kernel positions lead so that conv2d is one matrix product (per group) with no
    broadcast batch dims, which NumPy would run without BLAS.
    """

    __slots__ = ("k", "stride", "pads", "dil", "fill", "dev")

    def __init__(self, k, stride, pads, dil, fill, dev) -> None:
        self.k, self.stride, self.pads, self.dil, self.fill, self.dev = k, stride, pads, dil, fill, dev

    def out_size(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = self.k, self.stride, self.dil, self.pads
        return (height + pt + pb - dh * (kh - 1) - 1) // sh + 1, (width + pl + pr - dw * (kw - 1) - 1) // sw + 1

    def forward(self, xp, x):
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = self.k, self.stride, self.dil, self.pads
        OH, OW = self.out_size(H, W)
        x = xp.permute_dims(x, (1, 0, 2, 3))
        if pt or pb or pl or pr:
            xpad = xp.full((C, N, H + pt + pb, W + pl + pr), self.fill, dtype=x.dtype, device=self.dev)
            xpad[:, :, pt : pt + H, pl : pl + W] = x
        else:
            xpad = x
        cols = [
            xpad[:, :, i * dh : i * dh + sh * (OH - 1) + 1 : sh, j * dw : j * dw + sw * (OW - 1) + 1 : sw]
            for i in range(kh)
            for j in range(kw)
        ]
        return xp.stack(cols, axis=1)

    def backward(self, gy):
        x = self.inputs[0]
        return (apply1(Col2Im(self, tuple(x._data.shape)), gy),)


class Col2Im(Function):
    """The adjoint of Im2Col: each kernel position's slice added back into an image of ``shape``."""

    __slots__ = ("im", "shape")

    def __init__(self, im: Im2Col, shape) -> None:
        self.im, self.shape = im, shape

    def forward(self, xp, cols):
        im = self.im
        N, C, H, W = self.shape
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = im.k, im.stride, im.dil, im.pads
        OH, OW = cols.shape[3], cols.shape[4]
        out = xp.zeros((C, N, H + pt + pb, W + pl + pr), dtype=cols.dtype, device=im.dev)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
                cs = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
                out[:, :, rows, cs] = out[:, :, rows, cs] + cols[:, i * kw + j, ...]
        return xp.permute_dims(out[:, :, pt : pt + H, pl : pl + W], (1, 0, 2, 3))

    def backward(self, gy):
        im = self.im
        return (apply1(Im2Col(im.k, im.stride, im.pads, im.dil, 0, im.dev), gy),)


def _im2col(x: Tensor, k, stride, pads, dil, fill, what: str) -> Tensor:
    fn = Im2Col(k, stride, pads, dil, fill, x._backend.native_device)
    OH, OW = fn.out_size(x._data.shape[2], x._data.shape[3])
    if OH < 1 or OW < 1:
        raise RuntimeError(
            f"{what}: input of shape {x.shape} (padded {pads}) is smaller than the kernel {k} (dilation {dil})"
        )
    return apply1(fn, x)


def _batched(x: Tensor, what: str) -> tuple[Tensor, bool]:
    """``x`` as (N, C, H, W), and whether a batch dim was added to an unbatched (C, H, W) input."""
    if x._data.ndim == 3:
        return reshape(x, (1, *x._data.shape)), True
    if x._data.ndim != 4:
        raise ValueError(f"{what}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    return x, False


def _conv_pads(padding, k, dil, stride) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        th, tw_ = dil[0] * (k[0] - 1), dil[1] * (k[1] - 1)
        return (th // 2, th - th // 2, tw_ // 2, tw_ - tw_ // 2)
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be non-negative, got {padding}")
    return (ph, ph, pw, pw)


def conv2d(x: Tensor, weight: Tensor, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (O, C / groups, kh, kw), as im2col + matmul."""
    x, unbatched = _batched(x, "conv2d")
    if weight._data.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out, in / groups, kh, kw), got shape {weight.shape}")
    N, C, H, W = x._data.shape
    Cout, Cg, kh, kw = weight._data.shape
    if groups < 1 or C % groups or Cout % groups or C // groups != Cg:
        raise ValueError(
            f"conv2d: input with {C} channels, weight of shape {weight.shape} and groups={groups} don't match "
            f"(need in_channels = groups * weight.shape[1] and out_channels divisible by groups)"
        )
    stride, dil = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(stride) < 1 or min(dil) < 1:
        raise ValueError(f"conv2d: stride and dilation must be positive, got {stride} and {dil}")
    pads = _conv_pads(padding, (kh, kw), dil, stride)
    if x._data.dtype != weight._data.dtype:
        x, weight = promote(x, weight)
    if kind(x) not in "fc":
        raise TypeError(f"conv2d: expected floating-point tensors, got {x.dtype}")
    cols = _im2col(x, (kh, kw), stride, pads, dil, 0, "conv2d")  # (C, kh*kw, N, OH, OW)
    OH, OW = cols._data.shape[3], cols._data.shape[4]
    K, L = Cg * kh * kw, N * OH * OW
    if groups == 1:
        y = matmul(reshape(weight, (Cout, K)), reshape(cols, (K, L)))
    else:
        y = matmul(reshape(weight, (groups, Cout // groups, K)), reshape(cols, (groups, K, L)))
    y = permute(reshape(y, (Cout, N, OH, OW)), (1, 0, 2, 3))
    if bias is not None:
        y = y + reshape(bias, (Cout, 1, 1))
    return reshape(y, y._data.shape[1:]) if unbatched else y


def conv1d(x: Tensor, weight: Tensor, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation of ``x`` (N, C, L) with ``weight`` (O, C / groups, k): conv2d on a height of 1."""
    if x._data.ndim not in (2, 3) or weight._data.ndim != 3:
        raise ValueError(
            f"conv1d: expected input (N, C, L) or (C, L) and weight (O, C / groups, k), got {x.shape}, {weight.shape}"
        )
    s = stride if isinstance(stride, int) else stride[0]
    d = dilation if isinstance(dilation, int) else dilation[0]
    p = padding if isinstance(padding, (int, str)) else padding[0]
    x4 = reshape(x, (*x._data.shape[:-1], 1, x._data.shape[-1]))
    w4 = reshape(weight, (*weight._data.shape[:2], 1, weight._data.shape[2]))
    y = conv2d(x4, w4, bias, (1, s), p if isinstance(p, str) else (0, p), (1, d), groups)
    return reshape(y, (*y._data.shape[:-2], y._data.shape[-1]))


def _pool_args(x: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, what: str):
    if ceil_mode:
        raise NotImplementedError(f"{what}(ceil_mode=True) is not supported")
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () or stride == [] else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{what}: kernel_size, stride and dilation must be positive, got {k}, {s}, {d}")
    if p[0] < 0 or p[1] < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{what}: pad should be at most half of the effective kernel size, got padding={p}, kernel_size={k}"
        )
    return k, s, (p[0], p[0], p[1], p[1]), d


def max_pool2d(
    x: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = False
):
    """The max over each window of ``x`` (N, C, H, W) or (C, H, W); padding counts as -inf.

    The gradient goes to one element per window, the first maximum in row-major kernel order
    (ties are not split). ``return_indices=True`` also returns each maximum's flat index in H * W.
    """
    x, unbatched = _batched(x, "max_pool2d")
    if kind(x) != "f":
        raise TypeError(f"max_pool2d: expected a floating-point input, got {x.dtype}")
    k, s, pads, d = _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    cols = _im2col(x, k, s, pads, d, -float("inf"), "max_pool2d")  # (C, kh*kw, N, OH, OW)
    b = x._backend
    xp = b.xp
    arg = xp.argmax(cols._data, axis=1, keepdims=True)
    y = apply1(Gather(_flat_positions(b, tuple(cols._data.shape), 1, arg)), cols)
    C, _, N, OH, OW = cols._data.shape
    y = permute(reshape(y, (C, N, OH, OW)), (1, 0, 2, 3))
    y = reshape(y, (C, OH, OW)) if unbatched else y
    if not return_indices:
        return y
    dev = b.native_device
    arg = xp.permute_dims(xp.reshape(arg, (C, N, OH, OW)), (1, 0, 2, 3))
    rows = xp.reshape(xp.arange(OH, dtype=xp.int64, device=dev) * s[0] - pads[0], (OH, 1)) + (arg // k[1]) * d[0]
    cols_ = xp.reshape(xp.arange(OW, dtype=xp.int64, device=dev) * s[1] - pads[2], (1, OW)) + (arg % k[1]) * d[1]
    idx = rows * x._data.shape[3] + cols_
    return y, _wrap(idx[0, ...] if unbatched else idx, b)


def avg_pool2d(
    x: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
) -> Tensor:
    """The mean over each window of ``x`` (N, C, H, W) or (C, H, W); zero padding counts unless
    ``count_include_pad=False``."""
    x, unbatched = _batched(x, "avg_pool2d")
    x = _float_input(x)
    k, s, pads, d = _pool_args(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    total = permute(_im2col(x, k, s, pads, d, 0, "avg_pool2d").sum(dim=1), (1, 0, 2, 3))
    if divisor_override is not None:
        y = total / divisor_override
    elif count_include_pad or pads == (0, 0, 0, 0):
        y = total / (k[0] * k[1])
    else:
        b = x._backend
        ones = b.xp.ones((1, 1, *x._data.shape[2:]), dtype=x._data.dtype, device=b.native_device)
        fn = Im2Col(k, s, pads, d, 0, b.native_device)
        y = total / _wrap(b.xp.sum(fn.forward(b.xp, ones), axis=1), b)
    return reshape(y, y._data.shape[1:]) if unbatched else y


def max_pool1d(
    x: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = False
):
    """The max over each window of ``x`` (N, C, L) or (C, L): max_pool2d on a height of 1."""
    one = lambda v: (1, v if isinstance(v, int) else v[0])  # noqa: E731
    out = max_pool2d(
        reshape(x, (*x._data.shape[:-1], 1, x._data.shape[-1])),
        one(kernel_size),
        None if stride is None else one(stride),
        (0, padding if isinstance(padding, int) else padding[0]),
        one(dilation),
        ceil_mode,
        return_indices,
    )
    if return_indices:
        y, idx = out
        squeeze = lambda t: reshape(t, (*t._data.shape[:-2], t._data.shape[-1]))  # noqa: E731
        return squeeze(y), squeeze(idx)
    return reshape(out, (*out._data.shape[:-2], out._data.shape[-1]))


def avg_pool1d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
    """The mean over each window of ``x`` (N, C, L) or (C, L): avg_pool2d on a height of 1."""
    one = lambda v: (1, v if isinstance(v, int) else v[0])  # noqa: E731
    y = avg_pool2d(
        reshape(x, (*x._data.shape[:-1], 1, x._data.shape[-1])),
        one(kernel_size),
        None if stride is None else one(stride),
        (0, padding if isinstance(padding, int) else padding[0]),
        ceil_mode,
        count_include_pad,
    )
    return reshape(y, (*y._data.shape[:-2], y._data.shape[-1]))


def _adaptive_matrix(b, size: int, out: int, dtype):
    """(out, size): row i averages input positions [floor(i * size / out), ceil((i + 1) * size / out))."""
    xp, dev = b.xp, b.native_device
    i = xp.arange(out, dtype=xp.int64, device=dev)
    start = xp.reshape((i * size) // out, (-1, 1))
    end = xp.reshape(((i + 1) * size + out - 1) // out, (-1, 1))
    j = xp.reshape(xp.arange(size, dtype=xp.int64, device=dev), (1, -1))
    inside = xp.astype((j >= start) & (j < end), dtype)
    return inside / xp.astype(end - start, dtype)


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average pooling of ``x`` (N, C, H, W) or (C, H, W) to ``output_size`` (an int, a pair; None keeps
    that size), with PyTorch's windows (overlapping where the sizes don't divide)."""
    x = _float_input(x)
    if x._data.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape {x.shape}")
    H, W = x._data.shape[-2:]
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    oh, ow = H if oh is None else oh, W if ow is None else ow
    lead = tuple(x._data.shape[:-2])
    if H % oh == 0 and W % ow == 0:  # equal windows: a reshape and a mean
        return reshape(x, (*lead, oh, H // oh, ow, W // ow)).mean(dim=(-3, -1))
    return _apply_matrices(
        x, _adaptive_matrix(x._backend, H, oh, x._data.dtype), _adaptive_matrix(x._backend, W, ow, x._data.dtype)
    )


def _apply_matrices(x: Tensor, mh, mw) -> Tensor:
    """``mh @ x @ mw.T`` over the last two dims of ``x`` (``mh`` may be None: that dim is kept), as
    2-D matrix products (a broadcast batched product would run without BLAS on NumPy)."""
    b = x._backend
    *lead, H, W = x._data.shape
    n = 1
    for d in lead:
        n *= d
    y = matmul(reshape(x, (n * H, W)), _wrap(b.xp.permute_dims(mw, (1, 0)), b))  # (n * H, OW)
    OW = mw.shape[0]
    if mh is None:
        return reshape(y, (*lead, H, OW))
    y = reshape(permute(reshape(y, (n, H, OW)), (0, 2, 1)), (n * OW, H))
    y = matmul(y, _wrap(b.xp.permute_dims(mh, (1, 0)), b))  # (n * OW, OH)
    return reshape(permute(reshape(y, (n, OW, mh.shape[0])), (0, 2, 1)), (*lead, mh.shape[0], OW))


def _interp_matrix(b, size: int, out: int, scale, mode: str, align_corners: bool, dtype):
    """(out, size): each output position as a weighted sum of input positions (PyTorch's conventions)."""
    xp, dev = b.xp, b.native_device
    i = xp.astype(xp.arange(out, dtype=xp.int64, device=dev), dtype)
    j = xp.reshape(xp.arange(size, dtype=xp.int64, device=dev), (1, -1))
    step = size / out if scale is None else 1.0 / scale
    if mode == "nearest":
        src = xp.astype(xp.floor(i * step), xp.int64)
        src = xp.where(src > size - 1, xp.full_like(src, size - 1), src)
        return xp.astype(xp.reshape(src, (-1, 1)) == j, dtype)
    if align_corners:
        src = i * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = (i + 0.5) * step - 0.5
        src = xp.where(src < 0, xp.zeros_like(src), src)
    lo = xp.astype(xp.floor(src), xp.int64)
    lo = xp.where(lo > size - 1, xp.full_like(lo, size - 1), lo)
    hi = xp.where(lo + 1 > size - 1, xp.full_like(lo, size - 1), lo + 1)
    frac = xp.reshape(src - xp.astype(lo, dtype), (-1, 1))
    at_lo = xp.astype(xp.reshape(lo, (-1, 1)) == j, dtype)
    at_hi = xp.astype(xp.reshape(hi, (-1, 1)) == j, dtype)
    return at_lo * (1 - frac) + at_hi * frac


def interpolate(x: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Resize the spatial dims of ``x`` (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``:
    ``mode`` 'nearest', 'linear' (3-D) or 'bilinear' (4-D), with PyTorch's sampling positions."""
    x = _float_input(x)
    nsp = x._data.ndim - 2
    if nsp not in (1, 2):
        raise ValueError(f"interpolate: expected a 3-D or 4-D input, got shape {x.shape}")
    if (
        mode not in ("nearest", "linear", "bilinear")
        or mode == "linear"
        and nsp != 1
        or mode == "bilinear"
        and nsp != 2
    ):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported for a {x._data.ndim}-D input")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear modes")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: pass exactly one of size and scale_factor")
    in_sizes = tuple(x._data.shape[2:])
    if size is not None:
        outs = (size,) * nsp if isinstance(size, int) else tuple(size)
        scales = (None,) * nsp
    else:
        scales = (scale_factor,) * nsp if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        outs = tuple(int(n * f) for n, f in zip(in_sizes, scales, strict=True))
    b, dt = x._backend, x._data.dtype
    mats = [
        _interp_matrix(b, n, o, f, mode, bool(align_corners), dt)
        for n, o, f in zip(in_sizes, outs, scales, strict=True)
    ]
    return _apply_matrices(x, None if nsp == 1 else mats[0], mats[-1])


# -- normalization ---------------------------------------------------------------------------------
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
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the end of the input shape {x.shape}")
    dims = tuple(range(x._data.ndim - len(shape), x._data.ndim))
    return _affine(_normalized(_float_input(x), dims, eps), weight, bias, shape)


def group_norm(x: Tensor, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """``x`` (N, C, ...) normalized over each group of ``C / num_groups`` channels and the other dims."""
    shape = tuple(x._data.shape)
    if len(shape) < 2 or shape[1] % num_groups:
        raise ValueError(f"group_norm: {num_groups} groups don't divide the channels of an input of shape {shape}")
    y = reshape(_normalized(reshape(_float_input(x), (shape[0], num_groups, -1)), 2, eps), shape)
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
    running ones, if given, updated in place with ``momentum``), else by the running statistics."""
    x = _float_input(x)
    shape = tuple(x._data.shape)
    if len(shape) < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got {shape}")
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
            if momentum is None:
                raise NotImplementedError("batch_norm(momentum=None) (a cumulative average) is not supported")
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


def unfold(x: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding blocks of ``x`` (N, C, H, W) as columns: (N, C * kh * kw, L) (im2col; ``fold`` is its adjoint)."""
    x, unbatched = _batched(x, "unfold")
    k, s, d = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    p = _pair(padding, "padding")
    cols = _im2col(x, k, s, (p[0], p[0], p[1], p[1]), d, 0, "unfold")  # (C, kh*kw, N, OH, OW)
    C, K, N, OH, OW = cols._data.shape
    y = reshape(permute(cols, (2, 0, 1, 3, 4)), (N, C * K, OH * OW))
    return reshape(y, y._data.shape[1:]) if unbatched else y


def fold(x: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Columns (N, C * kh * kw, L) summed back into an image (N, C, *output_size): the adjoint of ``unfold``."""
    unbatched = x._data.ndim == 2
    if unbatched:
        x = reshape(x, (1, *x._data.shape))
    if x._data.ndim != 3:
        raise ValueError(f"fold: expected a 2-D or 3-D input (N, C * kh * kw, L), got shape {x.shape}")
    k, s, d = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    p, (H, W) = _pair(padding, "padding"), _pair(output_size, "output_size")
    fn = Im2Col(k, s, (p[0], p[0], p[1], p[1]), d, 0, x._backend.native_device)
    OH, OW = fn.out_size(H, W)
    N, CK, L = x._data.shape
    if CK % (k[0] * k[1]) or L != OH * OW or OH < 1 or OW < 1:
        raise RuntimeError(
            f"fold: input of shape {x.shape} doesn't match output_size {(H, W)}, kernel {k}, padding {p}, "
            f"stride {s} and dilation {d} (expected C * {k[0] * k[1]} rows and {OH} * {OW} columns)"
        )
    C = CK // (k[0] * k[1])
    cols = permute(reshape(x, (N, C, k[0] * k[1], OH, OW)), (1, 2, 0, 3, 4))
    y = apply1(Col2Im(fn, (N, C, H, W)), cols)
    return reshape(y, y._data.shape[1:]) if unbatched else y


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
    "softmax": softmax,
    "log_softmax": log_softmax,
    "masked_fill": masked_fill,
    "gather": gather,
    "scatter_add": scatter_add,
    "index_select": index_select,
}
