"""docs/ops.md's "twice differentiable" column at zeros: every op of the second-order table
(tests/test_autograd_api.py) gets inputs in which every other element is exactly 0, and its
Hessian-vector product by double backward must match central finite differences of its gradient
(or, for the ops with a kink at 0, where differences straddle it, PyTorch's convention, checked
in the op's own test module, and a finite value here)."""

from __future__ import annotations

import numpy as np
import pytest
from test_autograd_api import SECOND_ORDER

import tensorweaver as tw
from helpers import to_numpy

# The ops of the table whose value or first derivative has a kink or a jump at the zeroed inputs
# (|x|, relu-like, clamps, maxima and top-k with ties of zeros, steps, the norm at 0): differences straddling
# the kink don't give a derivative there. Their convention at 0 is PyTorch's, tested in their
# modules' tests; here their HVP must be finite. (Exactly the ops that fail the differences.)
# NOTE: one string, split: names in quotes would make tests/test_ops_table.py list this file among
# the tests of each op.
KINKED_AT_ZERO = set(
    """
    abs relu leaky_relu elu clamp maximum minimum max where norm sign ceil floor max_pool2d topk
    F.prelu F.relu6 F.selu F.l1_loss F.smooth_l1_loss F.huber_loss
    """.split()
)


def _zeroed(shapes, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        a = rng.uniform(-2.0, 2.0, size=s)
        a.reshape(-1)[::2] = 0.0
        out.append(a)
    return out


def _hvp_and_differences(fn, arrays, device, eps=1e-6):
    rng = np.random.default_rng(7)
    xs = [tw.tensor(a, device=device, requires_grad=True) for a in arrays]
    u = tw.tensor(rng.uniform(0.5, 1.5, size=fn(*xs).shape), device=device)
    vs = [tw.tensor(rng.uniform(-1.0, 1.0, size=a.shape), device=device) for a in arrays]

    def directional(tensors, create_graph):
        y = fn(*tensors)
        gs = tw.autograd.grad((y * y * u).sum(), tensors, create_graph=create_graph, allow_unused=True)
        total = None
        for g, v in zip(gs, vs, strict=True):
            if g is not None:
                total = (g * v).sum() if total is None else total + (g * v).sum()
        return total

    dot = directional(xs, True)
    hv = tw.autograd.grad(dot, xs, allow_unused=True) if dot.requires_grad else [None] * len(xs)
    pairs = []
    for i, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        for j in range(a.size):
            vals = []
            for sign in (1, -1):
                b = a.copy()
                b.reshape(-1)[j] += sign * eps
                ts = [tw.tensor(b, device=device, requires_grad=True) if k == i else x for k, x in enumerate(xs)]
                vals.append(directional(ts, False).item())
            numeric.reshape(-1)[j] = (vals[0] - vals[1]) / (2 * eps)
        pairs.append((np.zeros_like(a) if hv[i] is None else to_numpy(hv[i]), numeric))
    return pairs


def _cases():
    for name in sorted(SECOND_ORDER):
        for k, (fn, shapes, options) in enumerate(SECOND_ORDER[name]):
            if options.get("low", -2.0) > 0:  # defined for positive inputs only (log, sqrt, ...)
                continue
            yield pytest.param(name, fn, shapes, options, id=f"{name}-{k}")


@pytest.mark.parametrize(("name", "fn", "shapes", "options"), list(_cases()))
def test_second_derivative_at_zeros(name, fn, shapes, options, device):
    arrays = _zeroed(shapes, seed=len(name))
    with np.errstate(all="ignore"):
        pairs = _hvp_and_differences(fn, arrays, device)
    for i, (analytic, numeric) in enumerate(pairs):
        if name in KINKED_AT_ZERO:
            assert np.isfinite(analytic).all(), f"{name}: HVP at zeros not finite, input {i}"
            continue
        rtol, atol = max(options.get("rtol", 1e-4), 1e-4), max(options.get("atol", 1e-6), 1e-6)
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=f"{name}: HVP at zeros, input {i}")
