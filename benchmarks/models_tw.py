"""The tensorweaver side of every workload, written as a user would (see models_numpy.py for the protocol)."""

from __future__ import annotations

import tensorweaver as tw
import tensorweaver.nn.functional as F

from .common import CELSIUS, FAHRENHEIT, LR_MLP, LR_TEXTBOOK, mlp_init, textbook_init


def describe_tw_functions() -> dict:
    """Which tensorweaver functions the MLP calls (for the report)."""
    return {"relu": "tw.relu", "cross_entropy": "tw.nn.functional.cross_entropy"}


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
        self.relu, self.loss_fn = tw.relu, F.cross_entropy
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
