"""The ops of the core slice, on every backend: arithmetic, exp/log, matmul, sum/mean, shape."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
from helpers import BROADCAST_PAIRS, check_op

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcast(name, device):
    fn, ref = BINARY[name]
    check_op(fn, ref, BROADCAST_PAIRS, device, low=0.5, high=2.0)


def test_pow_tensor_exponent(device):
    check_op(lambda a, b: a**b, np.power, BROADCAST_PAIRS, device, low=0.5, high=2.0)


@pytest.mark.parametrize("c", [2, 3, 0.5, -1.5])
def test_pow_scalar(c, device):
    check_op(lambda a: a**c, lambda a: a**c, [((3, 4),), ((),)], device, low=0.5, high=2.0)


@pytest.mark.parametrize(
    "fn, ref",
    [
        (lambda a: 2.0 + a, lambda a: 2.0 + a),
        (lambda a: a + 2.0, lambda a: a + 2.0),
        (lambda a: 2.0 - a, lambda a: 2.0 - a),
        (lambda a: a - 2.0, lambda a: a - 2.0),
        (lambda a: 3.0 * a, lambda a: 3.0 * a),
        (lambda a: a / 3.0, lambda a: a / 3.0),
        (lambda a: 3.0 / a, lambda a: 3.0 / a),
        (lambda a: 2.0**a, lambda a: 2.0**a),
        (lambda a: -a, np.negative),
        (tw.exp, np.exp),
        (tw.log, np.log),
    ],
)
def test_unary_and_scalar(fn, ref, device):
    check_op(fn, ref, [((3, 4),), ((),), ((2, 1, 3),)], device, low=0.5, high=2.0)


MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


def test_matmul(device):
    check_op(lambda a, b: a @ b, np.matmul, MATMUL_SHAPES, device)


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (2, 0, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_reductions(op, dim, keepdim, device):
    ref = getattr(np, op)
    axis = tuple(dim) if isinstance(dim, tuple) else dim
    check_op(
        lambda a: getattr(a, op)(dim=dim, keepdim=keepdim),
        lambda a: ref(a, axis=axis, keepdims=keepdim),
        [((2, 3, 4),)],
        device,
    )


def test_shape_ops(device):
    check_op(lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [((2, 3, 2),)], device)
    check_op(lambda a: a.T, lambda a: a.T, [((3, 4),), ((2, 3, 4),), ((5,),)], device)
    check_op(lambda a: a.mT, lambda a: np.swapaxes(a, -1, -2), [((2, 3, 4),)], device)
    check_op(lambda a: a.transpose(0, 2), lambda a: np.swapaxes(a, 0, 2), [((2, 3, 4),)], device)
    check_op(lambda a: a.permute(2, 0, 1), lambda a: np.transpose(a, (2, 0, 1)), [((2, 3, 4),)], device)


def test_reduction_dim_errors(device):
    x = tw.ones(2, 3, device=device)
    with pytest.raises(IndexError, match=r"\[-2, 1\]"):
        x.sum(dim=2)


def test_matmul_shape_error_names_both_shapes(device):
    a, b = tw.ones(6, 1, device=device), tw.ones(2, 1, device=device)
    with pytest.raises(ValueError, match=r"\(6, 1\) and \(2, 1\)"):
        a @ b


def test_broadcast_error_names_both_shapes(device):
    a, b = tw.ones(3, device=device), tw.ones(4, device=device)
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        a + b


def test_clone(device):
    check_op(lambda a: tw.clone(a) * 2.0, lambda a: a * 2.0, [((3, 4),), ((),)], device)
    a = tw.tensor([1.0, 2.0], device=device)
    c = a.clone()
    c[0] = 5.0
    assert a.tolist() == [1.0, 2.0] and c.tolist() == [5.0, 2.0]


def test_unsigned_minus_python_int(device):
    u = tw.tensor([5, 6], dtype=tw.uint8, device=device)
    assert (u - 2).tolist() == [3, 4] and (u - 2).dtype == tw.uint8


def test_casts_to_integer_or_bool_leave_the_graph(device):
    x = tw.tensor([1.5, -2.0], dtype=tw.float64, device=device, requires_grad=True)
    for y in (x.to(tw.int64), x.to(tw.bool), tw.astype(x, tw.int32), x.type(tw.int64), x.to(dtype=tw.uint8)):
        assert not y.requires_grad and y.grad_fn is None, y.dtype
    y = x.to(tw.float32)
    assert y.requires_grad and y.grad_fn is not None
