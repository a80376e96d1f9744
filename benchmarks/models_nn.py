"""Workloads 8-9 and 12: models written with the public module API (``nn.Sequential``, ``nn.CrossEntropyLoss``,
``optim.SGD(momentum=0.9)``), the same code for tensorweaver and PyTorch (``lib`` is either module), and
the hand-written NumPy MLP with momentum it is measured against.

Same protocol as models_numpy.py: ``reset()`` restores the initial parameters (and a fresh optimizer,
so momentum starts again), ``step()`` is one training step, ``result()`` the values compared.
"""

from __future__ import annotations

import numpy as np

from .common import LR_MLP, host, mlp_init
from .models_numpy import MLPNumpy

MOMENTUM = 0.9
CNN_BATCH, CNN_CLASSES = 64, 10


def mlp_module(lib, sizes):
    """``nn.Sequential(Linear, ReLU, ..., Linear)`` in ``lib`` (tensorweaver or torch)."""
    nn = lib.nn
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def cnn_module(lib, channels=(32, 64)):
    """The issue's CNN: Conv2d 1->32 3x3, ReLU, MaxPool 2, Conv2d 32->64 3x3, ReLU, MaxPool 2, Linear."""
    nn = lib.nn
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 5 * 5, CNN_CLASSES),
    )


def cnn_init(channels=(32, 64), batch: int = CNN_BATCH, seed: int = 0):
    """Host values shared by the CNNs: a state dict (PyTorch's keys and default init bounds), x, labels."""
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    shapes = {
        "0.weight": (c1, 1, 3, 3),
        "0.bias": (c1,),
        "3.weight": (c2, c1, 3, 3),
        "3.bias": (c2,),
        "7.weight": (CNN_CLASSES, c2 * 25),
        "7.bias": (CNN_CLASSES,),
    }
    fan_in = {"0": 9, "3": c1 * 9, "7": c2 * 25}
    state = {}
    for k, shape in shapes.items():
        bound = 1.0 / np.sqrt(fan_in[k.split(".")[0]])
        state[k] = rng.uniform(-bound, bound, shape).astype(np.float32)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, CNN_CLASSES, batch)
    return state, x, labels


class ModuleTrainer:
    """``opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()`` in ``lib``."""

    def __init__(self, lib, model, state: dict, x, labels, device: str = "cpu") -> None:
        self.lib, self.device = lib, device
        self.model = model.to(device)
        self.state = state
        self.x = self._tensor(x)
        self.y = self._tensor(labels)
        self.loss_fn = lib.nn.CrossEntropyLoss()
        self.reset()

    def _tensor(self, a):
        return self.lib.tensor(np.ascontiguousarray(a), device=self.device)

    def reset(self) -> None:
        self.model.load_state_dict({k: self._tensor(v) for k, v in self.state.items()})
        self.opt = self.lib.optim.SGD(self.model.parameters(), lr=LR_MLP, momentum=MOMENTUM)

    def step(self):
        opt = self.opt
        opt.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        opt.step()
        return loss

    def result(self):
        return [host(p.detach().cpu().numpy()) for p in self.model.parameters()]


def mlp_state(sizes, batch: int):
    """The MLP's shared initial values as a Sequential state dict (Linear layers at 0, 2, 4, ...), x, labels."""
    layers, x, labels = mlp_init(sizes, batch)
    state = {}
    for i, (W, b) in enumerate(layers):
        state[f"{2 * i}.weight"], state[f"{2 * i}.bias"] = W, b
    return state, x, labels


def mlp_trainer(lib, sizes, batch: int, device: str = "cpu") -> ModuleTrainer:
    state, x, labels = mlp_state(sizes, batch)
    return ModuleTrainer(lib, mlp_module(lib, sizes), state, x, labels, device)


def cnn_trainer(lib, channels=(32, 64), batch: int = CNN_BATCH, device: str = "cpu") -> ModuleTrainer:
    state, x, labels = cnn_init(channels, batch)
    return ModuleTrainer(lib, cnn_module(lib, channels), state, x, labels, device)


class MLPNumpyMomentum(MLPNumpy):
    """models_numpy.MLPNumpy's forward and hand-derived backward, with PyTorch's SGD momentum update
    (``buf = momentum * buf + grad``, the first step ``buf = grad``; ``p -= lr * buf``), all in place."""

    def reset(self) -> None:
        super().reset()
        self.bufs = [None] * len(self.params)

    def step(self):
        xp, p, rows, labels = self.xp, self.params, self.rows, self.labels
        n = len(p) // 2
        acts = [self.x]
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
        g = e / s
        g[rows, labels] -= 1
        g /= z.shape[0]
        grads = [None] * len(p)
        for i in reversed(range(n)):
            a = acts[i]
            grads[2 * i] = g.T @ a
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                g = g @ p[2 * i]
                g *= a > 0
        bufs = self.bufs
        for j, (q, gq) in enumerate(zip(p, grads, strict=True)):
            b = bufs[j]
            if b is None:
                bufs[j] = b = gq
            else:
                b *= MOMENTUM
                b += gq
            q -= LR_MLP * b
        return loss
