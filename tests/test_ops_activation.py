"""The activation ops that are not pointwise on every backend: softmax, log_softmax (fused backward), softmin, dropout."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from helpers import (
    check_op,
    check_second_order,
    consts,
    grads_with_graph,
    make_inputs,
    np_log_softmax,
    numerical_grads,
    to_numpy,
)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim, device):
    shapes = [((3, 4),), ((2, 3, 4),)]
    check_op(lambda a: F.log_softmax(a, dim), lambda a: np_log_softmax(a, dim), shapes, device)
    check_op(lambda a: F.softmax(a, dim), lambda a: np.exp(np_log_softmax(a, dim)), shapes, device)
    check_op(lambda a: a.softmax(dim), lambda a: np.exp(np_log_softmax(a, dim)), [((3, 4),)], device)


def test_softmax_is_stable(device):
    x = consts([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], device)
    np.testing.assert_allclose(to_numpy(F.softmax(x, 1)), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-12)
    np.testing.assert_allclose(to_numpy(F.log_softmax(x, 1))[0], [0, -1000, -2000], atol=1e-9)
    x32 = tw.tensor([[100.0, 0.0]], device=device, requires_grad=True)
    y = F.log_softmax(x32, 1)
    assert y.dtype == tw.float32 and np.isfinite(to_numpy(y)).all()
    y.sum().backward()
    assert np.isfinite(to_numpy(x32.grad)).all()


def test_log_softmax_double_backward(device):
    (a,), (x,) = make_inputs([(3, 4)], device)
    u = np.random.default_rng(1).uniform(0.5, 1.5, (3, 4))
    v = np.random.default_rng(2).uniform(0.5, 1.5, (3, 4))
    (gx,) = grads_with_graph(F.log_softmax(x, 1), [x], consts(u, device))
    assert gx.grad_fn is not None
    (gx * consts(v, device)).sum().backward()

    def vjp(a):  # the first derivative, u - softmax(a) * sum(u)
        return u - np.exp(np_log_softmax(a, 1)) * u.sum(1, keepdims=True)

    (expected,) = numerical_grads(vjp, [a.copy()], v)
    np.testing.assert_allclose(to_numpy(x.grad), expected, rtol=1e-5, atol=1e-6)


def test_dropout(device):
    x = tw.tensor(np.random.default_rng(0).uniform(1.0, 2.0, (200, 50)), device=device, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    tw.manual_seed(123)
    y = F.dropout(x, 0.3)
    tw.manual_seed(123)
    np.testing.assert_array_equal(to_numpy(F.dropout(x, 0.3)), to_numpy(y))
    yn, xn = to_numpy(y), to_numpy(x)
    kept = yn != 0
    np.testing.assert_allclose(yn[kept], xn[kept] / 0.7)
    assert abs(kept.mean() - 0.7) < 0.02
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), kept / 0.7)
    assert np.all(to_numpy(F.dropout(x, 1.0)) == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_dropout2d(device):
    x = tw.tensor(np.random.default_rng(0).uniform(1.0, 2.0, (8, 50, 3, 2)), device=device, requires_grad=True)
    assert F.dropout2d(x, 0.5, training=False) is x
    tw.manual_seed(0)
    y = F.dropout2d(x, 0.4)
    yn, xn = to_numpy(y), to_numpy(x)
    kept = (yn != 0).all(axis=(2, 3))
    assert np.array_equal(kept, (yn != 0).any(axis=(2, 3)))  # whole channels dropped or kept
    np.testing.assert_allclose(yn[kept], xn[kept] / 0.6)
    assert abs(kept.mean() - 0.6) < 0.06
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), np.broadcast_to(kept[:, :, None, None] / 0.6, xn.shape))


def test_softmin_and_activation_reexports(device):
    check_op(lambda a: F.softmin(a, 1), lambda a: np.exp(np_log_softmax(-a, 1)), [((3, 4),)], device)
    check_op(F.relu, lambda a: np.maximum(a, 0), [((3, 4),)], device)
    assert F.pad is tw.pad and F.gelu is tw.gelu


SECOND_ORDER = {
    "log_softmax": (lambda x: F.log_softmax(x, 1), [(2, 4)]),
    "softmax": (lambda x: F.softmax(x, 0), [(3, 2)]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name, device):
    check_second_order(*SECOND_ORDER[name], device)


# -- issue 9: PyTorch's first and second derivatives at 0 ------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["elu", "selu", "celu", "elu_alpha2", "prelu", "softplus", "gelu", "silu", "mish", "logsigmoid", "hardswish"],
)
def test_first_and_second_derivatives_at_zero_match_pytorch(device, name):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional

    def fns(lib, mod, make):
        if name == "elu_alpha2":
            return lambda x: mod.elu(x, alpha=2.0)
        if name == "prelu":
            return lambda x: mod.prelu(x, make([0.25]))
        return getattr(mod, name)

    points = [0.0, -1e-3, 1e-3, 1.0, -1.0]

    def derivatives(lib, mod, make):
        x = make(points)
        (g,) = lib.autograd.grad(fns(lib, mod, make)(x).sum(), x, create_graph=True)
        if name == "prelu":  # piecewise linear: no second derivative
            return np.asarray(g.detach().numpy()), np.zeros(len(points))
        (h,) = lib.autograd.grad(g.sum(), x)
        return np.asarray(g.detach().numpy()), np.asarray(h.detach().numpy())

    expected = derivatives(torch, TF, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
    got = derivatives(tw, F, lambda v: tw.tensor(v, dtype=tw.float64, device=device, requires_grad=True))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6, atol=1e-12, err_msg="first")
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5, atol=1e-9, err_msg="second")


def test_reciprocal_second_derivative_at_zero_is_inf(device):
    x = tw.tensor([0.0, 2.0], dtype=tw.float64, device=device, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (g,) = tw.autograd.grad(tw.reciprocal(x).sum(), x, create_graph=True)
        (h,) = tw.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(to_numpy(h), [np.inf, 0.25])  # PyTorch's


def test_dropout_inplace(device):
    tw.manual_seed(0)
    x = tw.ones(1000, device=device, dtype=tw.float64)
    y = F.dropout(x, 0.5, inplace=True)
    assert y is x
    values = set(np.unique(to_numpy(x)).tolist())
    assert values == {0.0, 2.0}
    with pytest.raises(RuntimeError, match="inplace=False"):
        F.dropout(tw.ones(3, device=device, requires_grad=True), 0.5, inplace=True)
    z = tw.ones(3, device=device)
    assert F.dropout(z, 0.5, training=False, inplace=True) is z
