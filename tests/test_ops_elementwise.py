"""Elementwise arithmetic on every backend: + - * / ** with broadcasting, clamp/maximum/minimum/where (PyTorch's
conventions at kinks and ties), dtypes, remainder's gradients, second derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
from helpers import (
    BROADCAST_PAIRS,
    check_hvp,
    check_op,
    to_numpy,
)

BINARY = {
    "maximum": (tw.maximum, np.maximum),
    "minimum": (lambda a, b: a.minimum(b), np.minimum),
    "max_other": (tw.max, np.maximum),
    "min_other": (lambda a, b: a.min(b), np.minimum),
    "where": (lambda a, b: tw.where(a > b, a, b * 2), lambda a, b: np.where(a > b, a, b * 2)),
    "clamp_tensor_min": (lambda a, b: tw.clamp(a, min=b), np.maximum),
    "clamp_tensor_max": (lambda a, b: a.clamp(max=b), np.minimum),
}


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_broadcast(name, device):
    fn, ref = BINARY[name]
    check_op(fn, ref, BROADCAST_PAIRS, device)


def test_clamp_tensor_bounds_broadcast(device):
    # bounds may cross (lo > hi): then the result is hi, as in PyTorch (min(max(x, lo), hi))
    shapes = [((3, 4), (4,), (3, 1)), ((2, 3), (), (2, 1)), ((4,), (2, 4), ())]
    check_op(tw.clamp, lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi), shapes, device)
    check_op(
        lambda a, lo: tw.clamp(a, lo, 0.5), lambda a, lo: np.minimum(np.maximum(a, lo), 0.5), BROADCAST_PAIRS, device
    )
    check_op(
        lambda a, hi: tw.clamp(a, -0.5, hi), lambda a, hi: np.minimum(np.maximum(a, -0.5), hi), BROADCAST_PAIRS, device
    )


def test_where_broadcast_condition_and_scalars(device):
    mask = np.array([True, False, False, True])
    cond = tw.tensor(mask, device=device)
    check_op(
        lambda a, b: tw.where(cond, a, b), lambda a, b: np.where(mask, a, b), [((3, 4), (3, 1)), ((4,), ())], device
    )
    check_op(lambda a: a.where(cond, 0.5), lambda a: np.where(mask, a, 0.5), [((2, 4),)], device)
    check_op(lambda a: tw.where(cond, -1.0, a), lambda a: np.where(mask, -1.0, a), [((4,),)], device)
    both = tw.where(cond, 1.0, 0.0)
    assert both.device == tw.device(device) and to_numpy(both).tolist() == [1.0, 0.0, 0.0, 1.0]
    with pytest.raises(TypeError, match="bool"):
        tw.where(tw.ones(4, device=device), 1.0, 0.0)


def grad_at(fn, values, device, dtype=tw.float64):
    x = tw.tensor(values, dtype=dtype, device=device, requires_grad=True)
    fn(x).sum().backward()
    assert x.grad.device == tw.device(device)
    return to_numpy(x.grad).tolist()


def test_kink_and_tie_gradients(device):
    assert grad_at(tw.relu, [-1.0, 0.0, 2.0], device) == [0.0, 0.0, 1.0]
    assert grad_at(tw.abs, [-1.0, 0.0, 2.0], device) == [-1.0, 0.0, 1.0]
    assert grad_at(lambda x: tw.leaky_relu(x, 0.2), [-1.0, 0.0, 2.0], device) == [0.2, 0.2, 1.0]
    assert grad_at(tw.sign, [-1.0, 0.0, 2.0], device) == [0.0, 0.0, 0.0]
    # clamp passes the gradient where min <= x <= max, bounds included
    assert grad_at(lambda x: x.clamp(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], device) == [0, 1, 1, 1, 0]
    lo = tw.tensor([-1.0, -1.0, -1.0], dtype=tw.float64, device=device, requires_grad=True)
    x = tw.tensor([-2.0, -1.0, 0.0], dtype=tw.float64, device=device, requires_grad=True)
    tw.clamp(x, min=lo).sum().backward()
    assert to_numpy(x.grad).tolist() == [0.0, 1.0, 1.0] and to_numpy(lo.grad).tolist() == [1.0, 0.0, 0.0]
    # maximum / minimum split ties half and half
    for op in (tw.maximum, tw.minimum):
        a = tw.tensor([1.0, 2.0, 3.0], dtype=tw.float64, device=device, requires_grad=True)
        b = tw.tensor([2.0, 2.0, 2.0], dtype=tw.float64, device=device, requires_grad=True)
        op(a, b).sum().backward()
        ga, gb = to_numpy(a.grad).tolist(), to_numpy(b.grad).tolist()
        assert ga[1] == gb[1] == 0.5 and ga[0] + gb[0] == 1.0 and ga[2] + gb[2] == 1.0
    # where: the gradient goes to the chosen branch only
    c = tw.tensor([True, False], device=device)
    a = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = tw.tensor(3.0, device=device, requires_grad=True)
    tw.where(c, a, b).sum().backward()
    assert to_numpy(a.grad).tolist() == [1.0, 0.0] and b.grad.item() == 1.0


def test_dtypes(device):
    i = tw.tensor([-2, 0, 3], device=device)
    assert tw.relu(i).dtype == tw.int64 and to_numpy(tw.relu(i)).tolist() == [0, 0, 3]
    assert tw.abs(i).dtype == tw.int64 and tw.sign(i).dtype == tw.int64
    assert tw.sqrt(i.abs()).dtype == tw.float32 and tw.sigmoid(i).dtype == tw.float32
    assert i.clamp(min=0.5).dtype == tw.float32  # a float bound promotes, as in PyTorch
    assert tw.floor(i).dtype == tw.int64 and i.square().dtype == tw.int64 and (i + 5).reciprocal().dtype == tw.float32
    assert to_numpy(tw.log2(tw.tensor([1.0, 8.0, 1024.0], device=device))).tolist() == [0.0, 3.0, 10.0]
    assert to_numpy(tw.round(tw.tensor([0.5, 1.5, 2.5, -0.5], device=device))).tolist() == [0.0, 2.0, 2.0, -0.0]
    assert tw.sign(tw.tensor([-2.0], device=device, requires_grad=True)).grad_fn.name == "SignBackward"
    assert i.clamp(-1, 1).dtype == tw.int64 and to_numpy(i.clamp(-1, 1)).tolist() == [-1, 0, 1]
    f = tw.tensor([1.0, 2.0], device=device)
    assert tw.maximum(f, tw.tensor([1, 5], device=device)).dtype == tw.float32
    assert tw.maximum(f.double(), f).dtype == tw.float64
    with pytest.raises(ValueError, match="min.*max"):
        tw.clamp(f)
    with pytest.raises(ValueError, match="approximate"):
        tw.gelu(f, approximate="fast")


def test_device_mismatch_names_both_devices(device):
    other = "strict" if device == "cpu" else "cpu"  # every device meets another one
    a, b = tw.ones(3, device=device), tw.ones(3, device=other)
    for fn in (tw.maximum, tw.eq, tw.floor_divide, lambda x, y: tw.where(x > 0, x, y)):
        with pytest.raises(RuntimeError, match="same device"):
            fn(a, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: tw.maximum(a, b) * a,
        lambda a, b: tw.where(a > b, a * a, b * a),
        lambda a, b: tw.clamp(a * b, -1.0, 1.0) * a,
    ],
    ids=["maximum", "where", "clamp"],
)
def test_second_order_binary(fn, device):
    check_hvp(fn, [(3, 4), (4,)], device)


def test_remainder_gradients(device):
    # 1 for x and -floor(x / y) for y, as in PyTorch; inputs kept away from the jumps (x / y an integer)
    check_op(tw.remainder, np.remainder, BROADCAST_PAIRS, device, low=0.5, high=2.0)
    check_op(
        lambda a, b: tw.remainder(-a, b),
        lambda a, b: np.remainder(-a, b),
        BROADCAST_PAIRS[:2],
        device,
        low=0.5,
        high=2.0,
    )
    check_op(lambda a, b: a % -b, lambda a, b: np.remainder(a, -b), BROADCAST_PAIRS[:2], device, low=0.5, high=2.0)
    check_op(lambda a: a % 0.7, lambda a: np.remainder(a, 0.7), [((2, 3),)], device, low=0.1, high=2.0)
    check_op(lambda a: 2.5 % a, lambda a: np.remainder(2.5, a), [((2, 3),)], device, low=0.6, high=2.0)


# -- issue 9: PyTorch's gradients at zero and at NaN -----------------------------------------------
def _grads(fn, *values, device, create_graph=False):
    xs = [tw.tensor(np.asarray(v, dtype=np.float64), device=device, requires_grad=True) for v in values]
    return [to_numpy(g) for g in tw.autograd.grad(fn(*xs).sum(), xs, create_graph=create_graph)]


def test_pow_gradients_at_zero_base_are_pytorchs(device):
    # d/dx x**0 = 0 at x = 0 (not 0 * 0**-1 = nan); d/de x**e = 0 at x = 0, e >= 0 (not 0 * log 0)
    np.testing.assert_array_equal(_grads(lambda x: x**0, [0.0, 1.0], device=device)[0], [0.0, 0.0])
    gx, ge = _grads(lambda x, e: x**e, [0.0, 0.0, 2.0], [0.0, 2.0, 0.0], device=device)
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ge, [0.0, 0.0, np.log(2.0)])
    np.testing.assert_array_equal(_grads(lambda e: 0.0**e, [0.0, 1.0], device=device)[0], [0.0, 0.0])


def test_pow_second_derivative_at_zero_is_finite(device):
    # x ** 1's backward is x ** 0 * 1: its own gradient at 0 must be 0, not nan
    x = tw.tensor([0.0, 2.0], dtype=tw.float64, device=device, requires_grad=True)
    (g,) = tw.autograd.grad((x**1).sum(), x, create_graph=True)
    (h,) = tw.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(to_numpy(h), [0.0, 0.0])
    x = tw.tensor([0.0, 2.0], dtype=tw.float64, device=device, requires_grad=True)
    (g,) = tw.autograd.grad((x**2).sum(), x, create_graph=True)
    (h,) = tw.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(to_numpy(h), [2.0, 2.0])


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_pass_the_gradient_to_both_sides_of_a_nan(device, op):
    fn = getattr(tw, op)
    gx, gy = _grads(fn, [np.nan, 1.0, 2.0, 3.0], [1.0, np.nan, 2.0, 0.0], device=device)
    if op == "maximum":
        np.testing.assert_array_equal(gx, [1.0, 1.0, 0.5, 1.0])
        np.testing.assert_array_equal(gy, [1.0, 1.0, 0.5, 0.0])
    else:
        np.testing.assert_array_equal(gx, [1.0, 1.0, 0.5, 0.0])
        np.testing.assert_array_equal(gy, [1.0, 1.0, 0.5, 1.0])


# -- issue 9: div's rounding modes, bool arithmetic ------------------------------------------------
def test_div_rounding_modes_match_pytorch(device):
    torch = pytest.importorskip("torch")
    a, b = np.array([-7, 7, -6, 5, 0]), np.array([2, -2, 4, 5, 3])
    for mode in ("trunc", "floor"):
        for x, y, tx, ty in [
            (tw.tensor(a, device=device), tw.tensor(b, device=device), torch.tensor(a), torch.tensor(b)),
            (tw.tensor(a, device=device, dtype=tw.float64), 2.5, torch.tensor(a, dtype=torch.float64), 2.5),
            (tw.tensor(a, device=device), 2.5, torch.tensor(a), 2.5),
            (
                tw.tensor(a, device=device, dtype=tw.int32),
                tw.tensor(b, device=device),
                torch.tensor(a, dtype=torch.int32),
                torch.tensor(b),
            ),
        ]:
            got, expected = tw.div(x, y, rounding_mode=mode), torch.div(tx, ty, rounding_mode=mode)
            assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1], (mode, got.dtype)
            np.testing.assert_array_equal(to_numpy(got), expected.numpy())
    x = tw.tensor([1.5, -2.5], dtype=tw.float64, device=device, requires_grad=True)
    y = x.div(2, rounding_mode="floor")
    np.testing.assert_array_equal(to_numpy(y), [0.0, -2.0])
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 0.0])  # PyTorch: the gradient is 0
    with pytest.raises(ValueError, match="rounding_mode"):
        tw.div(x, 2, rounding_mode="round")


def test_bool_plus_bool_is_bool(device):
    t = tw.tensor([True, False], device=device)
    y = t + t
    assert y.dtype == tw.bool and y.tolist() == [True, False]
    assert (t * t).dtype == tw.bool
    assert tw.isnan(t).tolist() == [False, False] and tw.isnan(t).dtype == tw.bool
    assert tw.isinf(t).tolist() == [False, False] and tw.isfinite(t).tolist() == [True, True]
    assert tw.isfinite(tw.tensor([1, 2], device=device)).tolist() == [True, True]


def test_integer_pow_with_negative_exponents_is_pytorchs(device):
    # NumPy refuses integers to negative integer powers; PyTorch gives 1 ** -n = 1, (-1) ** -n = +-1 by
    # the parity of n, and 0 otherwise (the integer part of 1 / x ** n)
    x = tw.tensor([[-2, -1, 0, 1, 2, 3]], device=device)
    e = tw.tensor([[-1], [-2], [0], [3]], device=device)
    expected = [[0, -1, 0, 1, 0, 0], [0, 1, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1], [-8, -1, 0, 1, 8, 27]]
    y = x**e
    assert y.dtype == tw.int64
    np.testing.assert_array_equal(to_numpy(y), expected)
