"""The hand-written baselines: NumPy (or CuPy, the same code with ``xp=cupy``) with hand-derived gradients.

Every implementation here and in models_tw.py / models_torch.py is a small class: ``__init__``
builds data and parameters on its device, ``reset()`` restores the initial parameters, ``step()``
is one training step and ``result()`` returns the values compared across implementations.
"""

from __future__ import annotations

import numpy as np

from .common import CELSIUS, FAHRENHEIT, LR_MLP, LR_TEXTBOOK, host, mlp_init, textbook_init


class TextbookNumpy:
    """The chapter's loop with hand-derived gradients."""

    def __init__(self, xp=np) -> None:
        self.xp = xp
        self.x = xp.asarray(np.array(CELSIUS, dtype=np.float32))
        self.y = xp.asarray(np.array(FAHRENHEIT, dtype=np.float32))
        self.w0, self.b0 = textbook_init()
        self.reset()

    def reset(self) -> None:
        self.w = self.xp.asarray(self.w0.copy())
        self.b = self.xp.asarray(self.b0.copy())

    def step(self) -> None:
        x, y, w, b, lr = self.x, self.y, self.w, self.b, LR_TEXTBOOK
        pred = x @ w.T + b
        diff = pred - y
        self.loss = (diff**2).mean()  # computed, as the chapter does
        g = diff * (2.0 / diff.size)  # d loss / d pred
        w -= lr * (g.T @ x)
        b -= lr * g.sum(axis=0)

    def result(self):
        return host(self.w), host(self.b)


class OpOverheadNumpy:
    """``c = a * b + a`` and its gradients by hand, on one-element float32 arrays."""

    def __init__(self, xp=np) -> None:
        self.xp = xp
        self.a = xp.asarray(np.array([1.5], dtype=np.float32))
        self.b = xp.asarray(np.array([2.0], dtype=np.float32))

    def step(self) -> None:
        a, b = self.a, self.b
        c = a * b + a
        gy = self.xp.ones_like(c)
        self.ga = gy * b + gy
        self.gb = gy * a

    def result(self):
        return host(self.ga), host(self.gb)


class MLPNumpy:
    """Linear layers (x @ W.T + b), ReLU, softmax cross-entropy (fused gradient softmax - onehot), SGD."""

    def __init__(self, sizes, batch: int, xp=np) -> None:
        self.xp = xp
        self.init = mlp_init(sizes, batch)
        layers, x, labels = self.init
        self.x = xp.asarray(x)
        self.labels = xp.asarray(labels)
        self.rows = xp.arange(batch)
        self.reset()

    def reset(self) -> None:
        self.params = []
        for W, b in self.init[0]:
            self.params += [self.xp.asarray(W.copy()), self.xp.asarray(b.copy())]

    def step(self):
        xp, p, rows, labels = self.xp, self.params, self.rows, self.labels
        n = len(p) // 2
        acts = [self.x]  # the input of each layer (ReLU's output: its mask is acts[i] > 0)
        h = self.x
        for i in range(n):
            h = h @ p[2 * i].T + p[2 * i + 1]
            if i < n - 1:
                h = xp.maximum(h, 0)
                acts.append(h)
        z = h
        m = z.max(axis=1, keepdims=True)
        e = xp.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        loss = -(z[rows, labels] - m[:, 0] - xp.log(s[:, 0])).mean()
        g = e / s  # d loss / d z = (softmax - onehot) / N
        g[rows, labels] -= 1
        g /= z.shape[0]
        for i in reversed(range(n)):
            a = acts[i]
            gW = g.T @ a
            gb = g.sum(axis=0)
            if i > 0:
                g = g @ p[2 * i]
                g *= a > 0
            p[2 * i] -= LR_MLP * gW
            p[2 * i + 1] -= LR_MLP * gb
        return loss

    def result(self):
        return [host(a) for a in self.params]
