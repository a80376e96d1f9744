"""Elementwise ops on every backend: unary math and activations, maximum/minimum/where/clamp against
NumPy with finite-difference gradients; PyTorch's conventions at kinks and ties; comparisons,
logical and bitwise ops, // and % (bool or integer results, outside the graph); second derivatives."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tensorweaver as tw
from helpers import BROADCAST_PAIRS, check_op, make_inputs, to_numpy

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


# -- PyTorch's conventions at kinks and ties ------------------------------------------------------
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


# -- comparisons, logical and bitwise ops: bool or integer tensors, never in the graph -------------
COMPARE = {
    "eq": (lambda a, b: a == b, np.equal),
    "ne": (lambda a, b: a != b, np.not_equal),
    "lt": (lambda a, b: a < b, np.less),
    "le": (tw.le, np.less_equal),
    "gt": (lambda a, b: a.gt(b), np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
    "logical_and": (tw.logical_and, np.logical_and),
    "logical_or": (lambda a, b: a.logical_or(b), np.logical_or),
    "logical_xor": (tw.logical_xor, np.logical_xor),
}


def check_bool_op(fn, ref, shape_sets, device, *, result_dtype=tw.bool):
    for seed, shapes in enumerate(shape_sets):
        # small integers as floats: ties and zeros happen, which is what comparisons must get right
        rng = np.random.default_rng(seed)
        arrays = [rng.integers(-2, 3, size=s).astype(np.float64) for s in shapes]
        tensors = [tw.tensor(a, device=device, requires_grad=True) for a in arrays]
        out = fn(*tensors)
        expected = ref(*arrays)
        assert out.dtype == result_dtype, f"{shapes}: {out.dtype}"
        assert out.device == tw.device(device) and out.shape == expected.shape
        assert not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(to_numpy(out), expected, err_msg=f"{shapes}")


@pytest.mark.parametrize("name", list(COMPARE))
def test_comparisons_and_logical(name, device):
    fn, ref = COMPARE[name]
    check_bool_op(fn, ref, BROADCAST_PAIRS, device)
    check_bool_op(lambda a: fn(a, 1.0), lambda a: ref(a, 1.0), [((3, 4),), ((),)], device)


def test_unary_predicates(device):
    check_bool_op(tw.logical_not, np.logical_not, SHAPES, device)
    x = tw.tensor([1.0, np.nan, np.inf, -np.inf, 0.0], device=device)
    assert to_numpy(x.isnan()).tolist() == [False, True, False, False, False]
    assert to_numpy(tw.isinf(x)).tolist() == [False, False, True, True, False]
    assert to_numpy(tw.isfinite(x)).tolist() == [True, False, False, False, True]
    assert tw.isnan(x).dtype == tw.bool and tw.isfinite(x).device == tw.device(device)


def test_comparison_operands(device):
    x = tw.tensor([1, 2, 3], device=device)
    assert to_numpy(2 < x).tolist() == [False, False, True]  # reflected: int.__lt__ defers to x.__gt__
    assert to_numpy(x == 2.0).tolist() == [False, True, False]
    assert to_numpy(x > 1.5).tolist() == [False, True, True]  # int tensor vs float: compared as floats
    assert to_numpy(np.float64(2.0) <= x).tolist() == [False, True, True]
    assert to_numpy(x != tw.tensor([1.0, 0.0, 3.0], device=device)).tolist() == [False, True, False]
    assert (x == None) is False and (x != None) is True  # noqa: E711 - the operator is what is tested
    assert (x == "a") is False
    d = {x: 1}
    y = tw.tensor([1, 2, 3], device=device)
    d[y] = 2
    assert d[x] == 1 and d[y] == 2 and len(d) == 2  # tensors hash by identity, as in PyTorch
    assert x in {x} and bool(tw.tensor(3, device=device) == 3)
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        _ = x < tw.tensor([1, 2], device=device)


def test_bitwise(device):
    a = tw.tensor([True, True, False, False], device=device)
    b = tw.tensor([True, False, True, False], device=device)
    assert to_numpy(a & b).tolist() == [True, False, False, False]
    assert to_numpy(a | b).tolist() == [True, True, True, False]
    assert to_numpy(a ^ b).tolist() == [False, True, True, False]
    assert to_numpy(~a).tolist() == [False, False, True, True] and (~a).dtype == tw.bool
    i = tw.tensor([12, 10, -1], device=device)
    assert to_numpy(i & 6).tolist() == [4, 2, 6] and to_numpy(6 | i).tolist() == [14, 14, -1]
    assert to_numpy(i ^ i).tolist() == [0, 0, 0] and to_numpy(~i).tolist() == [-13, -11, 0]
    assert (i & 6).dtype == tw.int64 and (i & 6).device == tw.device(device)
    with pytest.raises(TypeError, match="integer and bool"):
        tw.tensor([1.0], device=device) & tw.tensor([1.0], device=device)


def test_floor_divide_and_remainder(device):
    i = tw.tensor([-7, 7, -8], device=device)
    assert to_numpy(i // 2).tolist() == [-4, 3, -4] and (i // 2).dtype == tw.int64
    assert to_numpy(i % 3).tolist() == [2, 1, 1]  # the sign of the divisor, as Python and PyTorch
    assert to_numpy(20 // i).tolist() == [-3, 2, -3] and to_numpy(20 % i).tolist() == [-1, 6, -4]
    x = tw.tensor([-7.5, 7.5], dtype=tw.float64, device=device, requires_grad=True)
    q, r = x // 2, tw.remainder(x, -2.0)
    assert to_numpy(q).tolist() == [-4.0, 3.0] and to_numpy(r).tolist() == [-1.5, -0.5]
    assert q.dtype == tw.float64 and not q.requires_grad and r.requires_grad  # floor division has no gradient
    assert to_numpy(tw.floor_divide(x, tw.tensor([2.0, -2.0], dtype=tw.float64, device=device))).tolist() == [
        -4.0,
        -4.0,
    ]


def test_device_mismatch_names_both_devices(device):
    other = "strict" if device == "cpu" else "cpu"  # every device meets another one
    a, b = tw.ones(3, device=device), tw.ones(3, device=other)
    for fn in (tw.maximum, tw.eq, tw.floor_divide, lambda x, y: tw.where(x > 0, x, y)):
        with pytest.raises(RuntimeError, match="same device"):
            fn(a, b)


# -- second derivatives: the backward of each op is differentiable --------------------------------
def check_hvp(fn, shapes, device, *, low=-2.0, high=2.0, eps=1e-6):
    """Hessian-vector product of ``sum(u * fn(x))`` by double backward against central differences
    of the (already checked) first gradient along a random direction, in float64."""
    arrays, xs = make_inputs(shapes, device, low=low, high=high)
    rng = np.random.default_rng(7)
    u = tw.tensor(rng.uniform(0.5, 1.5, size=fn(*xs).shape), device=device)
    vs = [rng.uniform(-1, 1, size=s) for s in shapes]

    def first(ts, create_graph):
        return tw.autograd.grad((fn(*ts) * u).sum(), ts, create_graph=create_graph)

    gs = first(xs, True)
    dot = sum(((g * tw.tensor(v, device=device)).sum() for g, v in zip(gs, vs, strict=True)), start=0.0)
    hv = tw.autograd.grad(dot, xs, allow_unused=True)
    for i in range(len(xs)):
        moved = [
            [tw.tensor(a + s * eps * v, device=device, requires_grad=True) for a, v in zip(arrays, vs, strict=True)]
            for s in (1, -1)
        ]
        numeric = (to_numpy(first(moved[0], False)[i]) - to_numpy(first(moved[1], False)[i])) / (2 * eps)
        analytic = np.zeros_like(arrays[i]) if hv[i] is None else to_numpy(hv[i])
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7, err_msg=f"input {i}")


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
