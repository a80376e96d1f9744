"""A probe of the Adam step: tensorweaver's Adam against a hand-written NumPy Adam, on the parameters of the
784-512-512-10 MLP (float32, fixed random gradients).

``python -m benchmarks.optim_bench [--repeats 15] [--steps 10]``

Both run interleaved in one process, timed in this process's CPU time (steadier than wall time on a
shared machine); the ratio is taken per repeat and its median printed. The NumPy Adam is what a
careful person writes: state updated in place, PyTorch's formula (bias corrections folded into one
step size), twelve array operations per parameter, as tensorweaver's Adam makes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from .common import mlp_init

SIZES = [784, 512, 512, 10]
QUICK_SIZES = [784, 64, 64, 10]  # python -m benchmarks --quick
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


class NumpyAdam:
    """Adam on NumPy arrays, in place: ``m``, ``v`` and the parameters are updated where they are."""

    def __init__(self, params: list[np.ndarray]) -> None:
        self.params = params
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        """One Adam step with these gradients."""
        b1, b2 = BETAS
        self.t += 1
        bc1 = 1 - b1**self.t
        bc2_sqrt = (1 - b2**self.t) ** 0.5
        step_size = LR * bc2_sqrt / bc1
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            g2 = g * g
            g2 *= 1 - b2
            v *= b2
            v += g2
            denom = np.sqrt(v)
            denom += EPS * bc2_sqrt
            u = m / denom
            u *= -step_size
            p += u


def _setup(sizes=SIZES):
    """Fresh parameters and fixed gradients: (NumPy params, NumPy grads, tensorweaver params with .grad set)."""
    import tensorweaver as tw

    layers, _, _ = mlp_init(sizes, batch=1)
    params = [a for layer in layers for a in layer]
    rng = np.random.default_rng(1)
    grads = [(0.01 * rng.standard_normal(p.shape)).astype(np.float32) for p in params]
    tw_params = [tw.tensor(p, requires_grad=True) for p in params]
    for p, g in zip(tw_params, grads, strict=True):
        p.grad = tw.tensor(g)
    return [p.copy() for p in params], grads, tw_params


def check(steps: int = 3) -> None:
    """Both Adams give the same parameters (float32 rounding apart) after ``steps`` steps."""
    import tensorweaver as tw

    np_params, grads, tw_params = _setup()
    ref, opt = NumpyAdam(np_params), tw.optim.Adam(tw_params, lr=LR, betas=BETAS, eps=EPS)
    for _ in range(steps):
        ref.step(grads)
        opt.step()
    for p, q in zip(tw_params, np_params, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q, rtol=1e-5, atol=1e-7)


def adam_step_times(repeats: int, steps: int = 10) -> dict:
    """ms per Adam step over ``steps`` steps, ``repeats`` times interleaved: {"tensorweaver": [...],
    "numpy": [...], "ratio": [...]} (the ratio of each repeat, tensorweaver / NumPy)."""
    import tensorweaver as tw

    check()
    np_params, grads, tw_params = _setup()
    ref, opt = NumpyAdam(np_params), tw.optim.Adam(tw_params, lr=LR, betas=BETAS, eps=EPS)
    runs = {"tensorweaver": opt.step, "numpy": lambda: ref.step(grads)}
    out: dict[str, list[float]] = {"tensorweaver": [], "numpy": [], "ratio": []}
    clock = time.process_time
    for r in range(repeats + 1):
        order = list(runs.items()) if r % 2 else list(runs.items())[::-1]  # neither always runs first
        for name, step in order:
            t0 = clock()
            for _ in range(steps):
                step()
            if r:  # the first round warms up (state allocation, caches)
                out[name].append((clock() - t0) / steps * 1e3)
        if r:
            out["ratio"].append(out["tensorweaver"][-1] / out["numpy"][-1])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--steps", type=int, default=10, help="Adam steps per timed repeat (default 10)")
    args = p.parse_args()
    out = adam_step_times(args.repeats, args.steps)
    for name in ("tensorweaver", "numpy"):
        ts = out[name]
        print(f"{name:12s} {statistics.median(ts):.3f} ms per Adam step (min {min(ts):.3f})")
    ratios = out["ratio"]
    print(
        f"tensorweaver / NumPy: median {statistics.median(ratios):.3f}x "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target <= 1.1x)"
    )


if __name__ == "__main__":
    main()
