"""What the three implementations of every workload share: the data, the initial values, the rates.

Imports only NumPy, so that the NumPy baseline's process (workload 4) holds nothing else.
"""

from __future__ import annotations

import numpy as np

CELSIUS = [[0.0], [20.0], [40.0], [60.0], [80.0], [100.0]]
FAHRENHEIT = [[32.0], [68.0], [104.0], [140.0], [176.0], [212.0]]
LR_TEXTBOOK = 1e-4
LR_MLP = 0.01


def textbook_init():
    """The chapter's initial parameters: np.random.seed(42), then w ~ randn(1, 1), b ~ randn(1) (float64)."""
    np.random.seed(42)
    return np.random.randn(1, 1), np.random.randn(1)


def mlp_init(sizes, batch: int, seed: int = 0):
    """Host values shared by the three MLPs: [(W (out, in), b (out,))], x (batch, in), labels."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / np.sqrt(n_in)  # nn.Linear's default init
        W = rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, (n_out,)).astype(np.float32)
        layers.append((W, b))
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    return layers, x, labels


def host(a):
    """A NumPy copy of a NumPy or CuPy array (explicit, outside any timed region)."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)
