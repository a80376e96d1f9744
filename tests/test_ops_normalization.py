"""layer_norm, group_norm, batch_norm and normalize on every backend against float64 NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from helpers import (
    check_op,
    check_second_order,
    consts,
    to_numpy,
)


def np_norm(x, dims, eps=1e-5):
    return (x - x.mean(dims, keepdims=True)) / np.sqrt(x.var(dims, keepdims=True) + eps)


def test_layer_norm_and_group_norm(device):
    check_op(lambda x: F.layer_norm(x, (4,)), lambda x: np_norm(x, (-1,)), [((3, 4),)], device)
    check_op(
        lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=1e-3),
        lambda x, w, b: np_norm(x, (-2, -1), 1e-3) * w + b,
        [((2, 3, 4), (3, 4), (3, 4))],
        device,
    )

    def ref_group(x, w, b):
        y = np_norm(x.reshape(2, 2, -1), (-1,)).reshape(x.shape)
        return y * w[None, :, None, None] + b[None, :, None, None]

    check_op(lambda x, w, b: F.group_norm(x, 2, w, b), ref_group, [((2, 4, 3, 2), (4,), (4,))], device)


def test_batch_norm(device):
    def ref_train(x, w, b):
        return np_norm(x, (0, 2, 3)) * w[None, :, None, None] + b[None, :, None, None]

    check_op(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        ref_train,
        [((4, 3, 2, 2), (3,), (3,))],
        device,
    )
    rm, rv = np.array([0.5, -0.2, 0.1]), np.array([1.5, 0.7, 2.0])
    check_op(
        lambda x: F.batch_norm(x, consts(rm, device), consts(rv, device)),
        lambda x: (x - rm[None, :, None]) / np.sqrt(rv[None, :, None] + 1e-5),
        [((4, 3, 5),)],
        device,
    )
    # training updates the running statistics in place, with the unbiased variance
    a = np.random.default_rng(0).normal(size=(4, 3, 5))
    running_mean, running_var = consts(rm, device), consts(rv, device)
    F.batch_norm(consts(a, device), running_mean, running_var, training=True, momentum=0.3)
    np.testing.assert_allclose(to_numpy(running_mean), 0.7 * rm + 0.3 * a.mean((0, 2)))
    np.testing.assert_allclose(to_numpy(running_var), 0.7 * rv + 0.3 * a.var((0, 2), ddof=1))


def test_normalize(device):
    check_op(lambda x: F.normalize(x), lambda x: x / np.linalg.norm(x, axis=1, keepdims=True), [((3, 4),)], device)
    check_op(
        lambda x: F.normalize(x, p=1.0, dim=0),
        lambda x: x / np.abs(x).sum(0, keepdims=True),
        [((3, 4),)],
        device,
        low=0.5,
    )
    np.testing.assert_array_equal(to_numpy(F.normalize(tw.zeros(2, 3, device=device))), np.zeros((2, 3)))


SECOND_ORDER = {
    "layer_norm": (lambda x, w: F.layer_norm(x, (3,), w), [(2, 3), (3,)]),
    "batch_norm": (lambda x: F.batch_norm(x, None, None, training=True), [(3, 2)]),
    "normalize": (F.normalize, [(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name, device):
    check_second_order(*SECOND_ORDER[name], device)


# -- issue 9: nothing half-updated -----------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", [{"running_var": (4,)}, {"running_mean": (2,)}, {"weight": (4,)}, {"bias": (3, 1)}, {"momentum": None}]
)
def test_batch_norm_checks_everything_before_updating_running_stats(device, bad):
    x = tw.tensor(np.arange(12.0).reshape(4, 3), device=device, dtype=tw.float64)
    shapes = {"running_mean": (3,), "running_var": (3,), "weight": (3,), "bias": (3,)}
    shapes.update({k: v for k, v in bad.items() if k != "momentum"})
    t = {k: tw.ones(*v, device=device, dtype=tw.float64) for k, v in shapes.items()}
    before = {k: to_numpy(v).copy() for k, v in t.items()}
    momentum = bad.get("momentum", 0.1)
    err, words = (TypeError, "momentum") if momentum is None else (RuntimeError, "should contain 3 elements")
    with pytest.raises(err, match=words):
        F.batch_norm(x, t["running_mean"], t["running_var"], t["weight"], t["bias"], True, momentum)
    for k, v in t.items():
        np.testing.assert_array_equal(to_numpy(v), before[k], err_msg=k)


def test_batch_norm_module_momentum_none_is_a_cumulative_average(device):
    x = tw.tensor(np.arange(12.0).reshape(4, 3), device=device, dtype=tw.float64)
    m = tw.nn.BatchNorm1d(3, momentum=None, device=device, dtype=tw.float64)
    m(x)
    m(x * 2)
    np.testing.assert_allclose(to_numpy(m.running_mean), [6.75, 8.25, 9.75])  # PyTorch's values
