"""The tensorweaver side of every workload, written as a user would (see models_numpy.py for the protocol).

The MLP uses tensorweaver's relu and cross-entropy when they exist (looked up once, at import) and
otherwise a stand-in composed here; the report says which ran (``describe_tw_functions``).
"""

from __future__ import annotations

import numpy as np

import tensorweaver as tw
from tensorweaver.autograd.function import Function as _Function  # the op base (tw.autograd.Function is the user one)
from tensorweaver.autograd.function import apply1 as _apply1

from .common import CELSIUS, FAHRENHEIT, LR_MLP, LR_TEXTBOOK, mlp_init, textbook_init

try:
    import tensorweaver.nn.functional as _tw_functional
except ImportError:  # tw.nn is written by another helper; until it lands the stand-ins below run
    _tw_functional = None


class _ReLUStandIn(_Function):
    """max(x, 0) until tensorweaver has ``relu``; saves the mask, as a real op would."""

    __slots__ = ("mask",)

    def forward(self, xp, x):
        self.mask = x > 0
        return xp.where(self.mask, x, xp.zeros_like(x))

    def backward(self, gy):
        x = self.inputs[0]
        m = tw.Tensor._wrap(x._backend.xp.astype(self.mask, gy._data.dtype), x._backend)
        return (gy * m,)

    def release(self) -> None:
        self.inputs = self.mask = None


def _relu_stand_in(x):
    return _apply1(_ReLUStandIn(), x)


def _log_softmax_stand_in(z):
    if hasattr(tw, "logsumexp"):
        return z - tw.logsumexp(z, dim=1, keepdim=True)
    # the row max, outside the graph: the shift that keeps exp from overflowing
    m = tw.Tensor._wrap(z._backend.xp.max(z._data, axis=1, keepdims=True), z._backend)
    return z - (tw.log(tw.exp(z - m).sum(dim=1, keepdim=True)) + m)


def _first(*candidates):
    for owner, name, label in candidates:
        fn = getattr(owner, name, None) if owner is not None else None
        if fn is not None:
            return fn, label
    return None, None


def _resolve() -> dict:
    relu, relu_src = _first((tw, "relu", "tw.relu"), (_tw_functional, "relu", "tw.nn.functional.relu"))
    if relu is None:
        relu, relu_src = _relu_stand_in, "benchmark stand-in (a Function: where(x > 0, x, 0))"
    ce, ce_src = _first((_tw_functional, "cross_entropy", "tw.nn.functional.cross_entropy"))
    if ce is not None:
        return {"relu": relu, "relu_src": relu_src, "ce": ce, "ce_src": ce_src, "onehot": False}
    ls, ls_src = _first(
        (_tw_functional, "log_softmax", "tw.nn.functional.log_softmax"), (tw, "log_softmax", "tw.log_softmax")
    )
    if ls is not None:
        ce = lambda z, onehot: -(ls(z, dim=1) * onehot).sum() / z.shape[0]
        ce_src = f"-({ls_src}(z) * one_hot).sum() / N"
    else:
        ce = lambda z, onehot: -(_log_softmax_stand_in(z) * onehot).sum() / z.shape[0]
        how = "tw.logsumexp" if hasattr(tw, "logsumexp") else "detached row max, exp, sum, log"
        ce_src = f"benchmark stand-in: -((z - logsumexp(z)) * one_hot).sum() / N ({how})"
    return {"relu": relu, "relu_src": relu_src, "ce": ce, "ce_src": ce_src, "onehot": True}


FUNCS = _resolve()


def describe_tw_functions() -> dict:
    """Where the MLP's relu and cross-entropy came from (for the report)."""
    return {"relu": FUNCS["relu_src"], "cross_entropy": FUNCS["ce_src"]}


class TextbookTW:
    """The chapter's loop, verbatim: celsius (6, 1) float32 from lists, w and b float64."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.x = tw.tensor(CELSIUS, device=device)
        self.y = tw.tensor(FAHRENHEIT, device=device)
        self.w0, self.b0 = textbook_init()
        self.reset()

    def reset(self) -> None:
        self.w = tw.tensor(self.w0, device=self.device, requires_grad=True)
        self.b = tw.tensor(self.b0, device=self.device, requires_grad=True)

    def step(self) -> None:
        x, y, w, b, lr = self.x, self.y, self.w, self.b, LR_TEXTBOOK
        pred = x @ w.T + b
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        w.data -= lr * w.grad
        b.data -= lr * b.grad
        w.grad = None
        b.grad = None

    def result(self):
        return self.w.detach().numpy(), self.b.detach().numpy()


class OpOverheadTW:
    """``c = a * b + a; c.backward()`` on one-element float32 tensors, grads reset every time."""

    def __init__(self, device: str = "cpu") -> None:
        self.a = tw.tensor([1.5], device=device, requires_grad=True)
        self.b = tw.tensor([2.0], device=device, requires_grad=True)

    def step(self) -> None:
        a, b = self.a, self.b
        a.grad = None
        b.grad = None
        c = a * b + a
        c.backward()

    def result(self):
        return self.a.grad.numpy(), self.b.grad.numpy()


class MLPTW:
    """Linear layers (x @ W.T + b) with ReLU between them, softmax cross-entropy, SGD under no_grad."""

    def __init__(self, sizes, batch: int, device: str = "cpu") -> None:
        self.device = device
        self.init = mlp_init(sizes, batch)
        layers, x, labels = self.init
        self.x = tw.tensor(x, device=device)
        self.relu, self.loss_fn = FUNCS["relu"], FUNCS["ce"]
        if FUNCS["onehot"]:
            self.target = tw.tensor(np.eye(sizes[-1], dtype=np.float32)[labels], device=device)
        else:
            self.target = tw.tensor(labels, device=device)
        self.reset()

    def reset(self) -> None:
        self.params = []
        for W, b in self.init[0]:
            self.params += [tw.tensor(W, device=self.device, requires_grad=True)]
            self.params += [tw.tensor(b, device=self.device, requires_grad=True)]

    def step(self):
        p, relu = self.params, self.relu
        h = self.x
        n = len(p) // 2
        for i in range(n):
            h = h @ p[2 * i].T + p[2 * i + 1]
            if i < n - 1:
                h = relu(h)
        loss = self.loss_fn(h, self.target)
        loss.backward()
        with tw.no_grad():
            for q in p:
                q -= LR_MLP * q.grad
                q.grad = None
        return loss

    def result(self):
        return [q.detach().numpy() for q in self.params]
