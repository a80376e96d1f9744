"""Losses: nll_loss (the primitive, fused with log_softmax's output) and cross_entropy on it, the
regression losses (mse, l1, huber, smooth_l1), binary cross-entropy and kl_div; all with
``reduction``. They are public in ``tw.nn.functional``."""

from __future__ import annotations

from .._args import check_index_range
from .._errors import ShapeError
from ..autograd.function import record
from ._common import Function, Tensor, apply1, apply_n, cast, float_input, kind, operands, state
from .activation import LogSoftmax, log_softmax, log_softmax_array, logsigmoid
from .compare import gt, lt
from .elementwise import clamp, where
from .indexing import _check_index
from .shape import reshape
from .unary import abs, exp, log

_wrap = Tensor._wrap

__all__: list[str] = []


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
        if self.reduction == "sum":
            return total
        denom = xp.sum(self.w)  # 0 when every target is ignored: nan, as in PyTorch, without 0 / 0's warning
        return total / xp.where(denom == 0, xp.full_like(denom, float("nan")), denom)

    def _coef(self, xp):
        if self.reduction != "mean":
            return -self.w
        total = xp.sum(self.w)
        # every target ignored: the loss is nan (0 / 0) but its gradient is 0, as in PyTorch
        return -self.w / xp.where(total == 0, xp.ones_like(total), total)

    # NOTE: only the picked entries get gy: PyTorch scatters into zeros, so the other classes and
    # the ignored targets get 0 even where gy is nan or inf (the nan loss of all-ignored targets
    # under create_graph), which a product with the one-hot mask would turn into nan
    def backward(self, gy):
        b = self.inputs[0]._backend
        coef = self._coef(b.xp)
        g = gy * _wrap(coef, b)  # linear in gy: second derivatives flow through these products
        return (where(_wrap(self.onehot, b), reshape(g, _kept(self.onehot.shape, self.w.shape)), 0.0),)

    def backward_array(self, xp, gy):
        g = xp.reshape(gy * self._coef(xp), _kept(self.onehot.shape, self.w.shape))
        return (xp.where(self.onehot, g, xp.zeros_like(self.onehot, dtype=g.dtype)),)


class CrossEntropy(NLLLoss):
    """``nll_loss(log_softmax(x))`` of logits ``x`` at class indices, as one op.

    NOTE: fused (the cross-entropy of STYLE principle 1): one node where there were two, and a
    backward ``(softmax - onehot) * w / W`` that needs no sum over the classes (benchmarks/NOTES.md,
    session 8). It saves the log-probabilities, as LogSoftmax does; ``valid`` marks the targets
    that are not ignored, whose rows alone take ``gy``."""

    __slots__ = ("valid", "y")
    keeps_inputs = False  # backward reads the saved log-probabilities, not x

    def __init__(self, onehot, w, cdim: int, reduction: str, valid) -> None:
        super().__init__(onehot, w, cdim, reduction)
        self.valid = valid

    def forward(self, xp, x):
        self.y = y = log_softmax_array(xp, x, self.cdim)
        return super().forward(xp, y)

    def backward(self, gy):
        # NOTE: the two ops' graph, rebuilt (create_graph needs it): log_softmax's node on the saved
        # log-probabilities, with this op's input, then NLLLoss's backward and log_softmax's
        x = self.inputs[0]
        ls = LogSoftmax(self.cdim)
        ls.y = self.y
        record(ls, _wrap(self.y, x._backend), (x,))
        return ls.backward(super().backward(gy)[0])

    def backward_array(self, xp, gy):
        kept = _kept(self.onehot.shape, self.w.shape)
        c = xp.reshape(gy * self._coef(xp), kept)
        # an ignored row takes no gradient, even a nan gy (PyTorch scatters into zeros)
        c = xp.where(xp.reshape(self.valid, kept), c, xp.zeros((), dtype=c.dtype, device=c.device))
        g = xp.exp(self.y)
        g -= xp.astype(self.onehot, g.dtype)
        g *= -c
        return (g,)

    def release(self) -> None:
        self.inputs = self.y = None


def _kept(full: tuple, reduced: tuple) -> tuple:
    """``reduced`` (the target shape) with a 1 inserted where ``full`` (the input shape) has its class dim."""
    cdim = 1 if len(full) >= 2 else 0
    return tuple(reduced[:cdim]) + (1,) + tuple(reduced[cdim:])


def _targets(logp: Tensor, target: Tensor, weight, ignore_index: int, what: str):
    """The constants of NLLLoss and CrossEntropy for class indices ``target`` of ``logp`` (N, C, ...)
    (checked): the one-hot targets along the class dim, the per-target weights ``w`` (an array, 0
    where ignored), the not-ignored mask ``valid`` and the class dim."""
    _check_index(target, logp, what)
    cdim = _class_dim(logp, target, what)
    b = logp._backend
    xp = b.xp
    t = target._data
    C = logp._data.shape[cdim]
    check_index_range(
        b,
        t,
        C,
        what,
        allowed=ignore_index,
        error=lambda v: IndexError(f"{what}: target {v} is out of bounds ({C} classes)"),
    )
    valid = t != ignore_index
    kept = _kept(tuple(logp._data.shape), tuple(t.shape))
    w = xp.astype(valid, logp._data.dtype)
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
    return onehot, w, valid, cdim


def _nll(logp: Tensor, target: Tensor, weight, ignore_index: int, reduction: str, what: str):
    """``NLLLoss`` applied to ``logp``, and the per-target weights ``w`` (an array, 0 where ignored)."""
    onehot, w, _, cdim = _targets(logp, target, weight, ignore_index, what)
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
    if kind(target) != "f" and not label_smoothing:  # class indices: the fused op
        x = float_input(x)
        onehot, w, valid, cdim = _targets(x, target, weight, ignore_index, "cross_entropy")
        return apply1(CrossEntropy(onehot, w, cdim, reduction, valid), x)
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
    loss, w = _nll(logp, target, weight, ignore_index, "none", "cross_entropy")
    b = x._backend
    wl = logp if weight is None else logp * reshape(cast(weight.detach(), logp.dtype), wshape)
    valid = _wrap(b.xp.astype(target._data != ignore_index, logp._data.dtype), b)
    loss = loss * (1.0 - label_smoothing) + -wl.sum(dim=cdim) * valid * (label_smoothing / C)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    # every target ignored: nan, with gradient 0 (as in PyTorch): 0 * (1 / 0) would be nan
    total = b.xp.sum(w)
    zero = total == 0
    scale = _wrap(1 / b.xp.where(zero, b.xp.ones_like(total), total), b)
    return (loss.sum() * scale) + _wrap(
        b.xp.where(zero, b.xp.full_like(total, float("nan")), b.xp.zeros_like(total)), b
    )


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
    # NOTE: the square of x - target, not of |x - target|: abs's derivative 0 at x == target would zero
    # the second derivative there (PyTorch's is 1)
    e = x - target
    d = abs(e)
    return _reduce_mean(where(lt(d, delta), e * e * 0.5, (d - 0.5 * delta) * delta), reduction)


def smooth_l1_loss(x: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``huber_loss / beta``: ``0.5 * d**2 / beta`` below ``beta``, ``|d| - 0.5 * beta`` above (L1 for beta=0)."""
    _check_reduction(reduction)
    e = x - target
    d = abs(e)
    if beta == 0:
        return _reduce_mean(d, reduction)
    return _reduce_mean(where(lt(d, beta), e * e * (0.5 / beta), d - 0.5 * beta), reduction)  # e * e: see huber_loss


def _log_at_least_minus_100(p: Tensor) -> Tensor:
    """``max(log(p), -100)`` without evaluating log(0) (NumPy would warn)."""
    positive = gt(p, 0)
    return clamp(where(positive, log(where(positive, p, 1.0)), -100.0), min=-100.0)


def _log_or_minus_inf(p: Tensor) -> Tensor:
    """``log(p)``, -inf at 0, without evaluating log(0) (NumPy would warn)."""
    positive = gt(p, 0)
    return where(positive, log(where(positive, p, 1.0)), -float("inf"))


class BinaryCrossEntropy(Function):
    """``-(t * log(x) + (1 - t) * log(1 - x))`` elementwise, each log clamped at -100.

    NOTE: PyTorch's gradient, not the clamped logs' (which is wrong at 0 and 1): ``(x - t) /
    max(x * (1 - x), 1e-12)`` for ``x`` (0 where x = t = 0 or 1) and ``log(1 - x) - log(x)``
    for ``t``; both in Tensor ops, so second derivatives flow."""

    __slots__ = ()

    def forward(self, xp, x, t):
        def clamped_log(p):
            positive = p > 0
            return xp.maximum(xp.where(positive, xp.log(xp.where(positive, p, xp.ones_like(p))), -100.0), -100.0)

        return -(t * clamped_log(x) + (1 - t) * clamped_log(1 - x))

    def backward(self, gy):
        x, t = self.inputs
        gx = gt_ = None
        if x._requires_grad:
            gx = gy * (x - t) / clamp((1 - x) * x, min=1e-12)
        if t._requires_grad:
            gt_ = gy * (_log_or_minus_inf(1 - x) - _log_or_minus_inf(x))
        return gx, gt_


def binary_cross_entropy(x: Tensor, target: Tensor, weight=None, reduction: str = "mean") -> Tensor:
    """``-(t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x``; each log is clamped at -100
    and the gradient at 0 and 1 is PyTorch's (0 where the target matches)."""
    _check_reduction(reduction)
    x, target = operands(x, target, "binary_cross_entropy")
    if tuple(x.shape) != tuple(target.shape):
        raise ShapeError(f"binary_cross_entropy: the target's shape {target.shape} must be the input's {x.shape}")
    loss = apply_n(BinaryCrossEntropy(), (x, target))
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


TENSOR_METHODS: dict = {}
