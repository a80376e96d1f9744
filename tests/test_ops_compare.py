"""Comparisons, logical and bitwise ops, isnan/isinf/isfinite, // and % on every backend: bool or integer results,
outside the graph."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
from helpers import (
    BROADCAST_PAIRS,
    to_numpy,
)

SHAPES = [((3, 4),), ((),), ((2, 1, 3),)]

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
