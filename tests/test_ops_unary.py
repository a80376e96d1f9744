"""Unary math and pointwise activations on every backend against NumPy with finite-difference gradients, extreme
inputs, erf's accuracy, second derivatives."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tensorweaver as tw
from helpers import (
    check_hvp,
    check_op,
    to_numpy,
)

np_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_softplus(a, beta=1.0, threshold=20.0):
    return np.where(a * beta > threshold, a, np.log1p(np.exp(np.minimum(a * beta, threshold))) / beta)


SHAPES = [((3, 4),), ((),), ((2, 1, 3),)]

# name: (tensorweaver fn, NumPy reference, low, high); domains keep clear of kinks and poles
UNARY = {
    "abs+": (tw.abs, np.abs, 0.2, 2.0),
    "abs-": (lambda a: a.abs(), np.abs, -2.0, -0.2),
    "abs()": (lambda a: abs(a), np.abs, -2.0, -0.2),
    "sqrt": (tw.sqrt, np.sqrt, 0.5, 2.0),
    "rsqrt": (lambda a: a.rsqrt(), lambda a: 1 / np.sqrt(a), 0.5, 2.0),
    "sin": (tw.sin, np.sin, -3.0, 3.0),
    "cos": (lambda a: a.cos(), np.cos, -3.0, 3.0),
    "tanh": (tw.tanh, np.tanh, -3.0, 3.0),
    "sigmoid": (lambda a: a.sigmoid(), np_sigmoid, -6.0, 6.0),
    "relu": (tw.relu, lambda a: np.maximum(a, 0), -2.0, 2.0),
    "leaky_relu": (lambda a: tw.leaky_relu(a, 0.1), lambda a: np.where(a > 0, a, 0.1 * a), -2.0, 2.0),
    "elu": (lambda a: tw.elu(a, alpha=1.5), lambda a: np.where(a > 0, a, 1.5 * np.expm1(np.minimum(a, 0))), -2, 2),
    "gelu": (tw.gelu, lambda a: 0.5 * a * (1 + np_erf(a / math.sqrt(2))), -4.0, 4.0),
    "gelu_tanh": (
        lambda a: tw.gelu(a, approximate="tanh"),
        lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))),
        -4.0,
        4.0,
    ),
    "silu": (tw.silu, lambda a: a * np_sigmoid(a), -4.0, 4.0),
    "softplus": (tw.softplus, np_softplus, -4.0, 4.0),
    "softplus_beta": (
        lambda a: tw.softplus(a, beta=2.0, threshold=3.0),
        lambda a: np_softplus(a, 2.0, 3.0),
        -4.0,
        4.0,
    ),
    "logsigmoid": (tw.logsigmoid, lambda a: np.log(np_sigmoid(a)), -6.0, 6.0),
    "log1p": (tw.log1p, np.log1p, -0.5, 2.0),
    "expm1": (lambda a: a.expm1(), np.expm1, -2.0, 2.0),
    "erf": (tw.erf, np_erf, -3.0, 3.0),
    "sign": (tw.sign, np.sign, -2.0, 2.0),
    "floor": (tw.floor, np.floor, -2.0, 2.0),
    "ceil": (lambda a: a.ceil(), np.ceil, -2.0, 2.0),
    "trunc": (tw.trunc, np.trunc, -2.0, 2.0),
    "round": (lambda a: a.round(), np.round, -2.0, 2.0),
    "round2": (lambda a: tw.round(a, decimals=2), lambda a: np.round(a * 100) / 100, -2.0, 2.0),
    "square": (lambda a: a.square(), np.square, -2.0, 2.0),
    "reciprocal": (tw.reciprocal, np.reciprocal, 0.5, 2.0),
    "log2": (tw.log2, np.log2, 0.5, 2.0),
    "log10": (lambda a: a.log10(), np.log10, 0.5, 2.0),
    "clamp": (lambda a: a.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), -2.0, 2.0),
    "clamp_min": (lambda a: tw.clamp(a, min=-0.5), lambda a: np.maximum(a, -0.5), -2.0, 2.0),
    "clip_max": (lambda a: tw.clip(a, max=0.5), lambda a: np.minimum(a, 0.5), -2.0, 2.0),
    "clamp_min()": (lambda a: a.clamp_min(0.1), lambda a: np.maximum(a, 0.1), -2.0, 2.0),
    "clamp_max()": (lambda a: tw.clamp_max(a, 0.1), lambda a: np.minimum(a, 0.1), -2.0, 2.0),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, device):
    fn, ref, low, high = UNARY[name]
    check_op(fn, ref, SHAPES, device, low=low, high=high)


def test_extreme_inputs_stay_finite(device):
    x = tw.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=tw.float64, device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow anywhere, not even in an unused branch
        for fn in (tw.sigmoid, tw.softplus, tw.logsigmoid, tw.silu, tw.gelu, tw.elu, tw.tanh, tw.erf):
            x.grad = None
            y = fn(x)
            y.sum().backward()
            assert np.all(np.isfinite(to_numpy(y))), fn.__name__
            assert np.all(np.isfinite(to_numpy(x.grad))), fn.__name__
    s = to_numpy(tw.sigmoid(x))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[1] == pytest.approx(math.exp(-50), rel=1e-12)
    assert to_numpy(tw.softplus(x))[-1] == 1000.0
    assert to_numpy(tw.logsigmoid(x))[0] == -1000.0


def test_erf_accuracy():
    a = np.concatenate([np.linspace(-7, 7, 20001), np.geomspace(1e-300, 1, 500), [0.0, np.inf, -np.inf]])
    y = to_numpy(tw.erf(tw.tensor(a)))
    expected = np_erf(a)
    np.testing.assert_allclose(y, expected, rtol=2e-15, atol=0)
    assert np.isnan(to_numpy(tw.erf(tw.tensor([np.nan])))).all()
    y32 = tw.erf(tw.tensor(np.linspace(-5, 5, 2001, dtype=np.float32)))
    assert y32.dtype == tw.float32
    np.testing.assert_allclose(to_numpy(y32), np_erf(np.linspace(-5, 5, 2001, dtype=np.float32)), rtol=1e-6, atol=1e-7)


SECOND_ORDER = {
    "sqrt": (tw.sqrt, 0.5, 2.0),
    "sin": (tw.sin, -2.0, 2.0),
    "cos": (tw.cos, -2.0, 2.0),
    "tanh": (tw.tanh, -2.0, 2.0),
    "sigmoid": (tw.sigmoid, -3.0, 3.0),
    "erf": (tw.erf, -2.0, 2.0),
    "gelu": (tw.gelu, -3.0, 3.0),
    "gelu_tanh": (lambda a: tw.gelu(a, approximate="tanh"), -3.0, 3.0),
    "silu": (tw.silu, -3.0, 3.0),
    "softplus": (tw.softplus, -3.0, 3.0),
    "log1p": (tw.log1p, -0.5, 2.0),
    "expm1": (tw.expm1, -2.0, 2.0),
    "rsqrt": (tw.rsqrt, 0.5, 2.0),
    "abs_sq": (lambda a: tw.abs(a) * a, -2.0, 2.0),
    "relu_sq": (lambda a: tw.relu(a) * a, -2.0, 2.0),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order_unary(name, device):
    fn, low, high = SECOND_ORDER[name]
    check_hvp(fn, [(2, 3)], device, low=low, high=high)


# -- issue 9: bool inputs with PyTorch's result dtypes ---------------------------------------------
def test_square_and_sign_of_bools(device):
    b = tw.tensor([True, False], device=device)
    y = tw.square(b)
    assert y.dtype == tw.int64 and y.tolist() == [1, 0]
    for fn in (tw.sign, tw.floor, tw.ceil, tw.trunc, tw.round):
        y = fn(b)
        assert y.dtype == tw.bool and y.tolist() == [True, False], fn.__name__
    assert tw.square(tw.tensor([3, -2], device=device)).tolist() == [9, 4]
