"""Shape ops on every backend: view/flatten/squeeze/expand, cat/stack/split/chunk, repeat, flip,
tril/triu, pad; values and gradients against NumPy, and the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tensorweaver as tw
from helpers import check_op


@pytest.mark.parametrize(
    "fn, ref, shape",
    [
        (lambda a: a.view(4, -1), lambda a: a.reshape(4, -1), (2, 3, 2)),
        (lambda a: a.view((3, 4)), lambda a: a.reshape(3, 4), (2, 3, 2)),
        (lambda a: a.view_as(tw.zeros(6, 2)), lambda a: a.reshape(6, 2), (2, 3, 2)),
        (lambda a: tw.flatten(a), lambda a: a.reshape(-1), (2, 3, 2)),
        (lambda a: a.flatten(1), lambda a: a.reshape(2, -1), (2, 3, 2)),
        (lambda a: a.flatten(0, 1), lambda a: a.reshape(6, 2), (2, 3, 2)),
        (lambda a: a.flatten(-2, -1), lambda a: a.reshape(2, 6), (2, 3, 2)),
        (lambda a: a.flatten(), lambda a: a.reshape(1), ()),
        (lambda a: a.unflatten(1, (2, -1)), lambda a: a.reshape(2, 2, 3, 2), (2, 6, 2)),
        (lambda a: tw.unflatten(a, -1, (1, 2, 1)), lambda a: a.reshape(2, 6, 1, 2, 1), (2, 6, 2)),
        (lambda a: a.squeeze(), lambda a: np.squeeze(a), (1, 3, 1, 2)),
        (lambda a: a.squeeze(0), lambda a: a.reshape(3, 1, 2), (1, 3, 1, 2)),
        (lambda a: a.squeeze(1), lambda a: a, (1, 3, 1, 2)),  # not size 1: left alone
        (lambda a: tw.squeeze(a, (0, -2)), lambda a: a.reshape(3, 2), (1, 3, 1, 2)),
        (lambda a: a.unsqueeze(0), lambda a: a[None], (3, 2)),
        (lambda a: a.unsqueeze(-1), lambda a: a[..., None], (3, 2)),
        (lambda a: tw.unsqueeze(a, 2), lambda a: a[:, :, None], (3, 2)),
        (lambda a: a.unsqueeze(0), lambda a: a[None], ()),
        (lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (3, 1)),
        (lambda a: a.expand(-1, 4), lambda a: np.broadcast_to(a, (3, 4)), (3, 1)),
        (lambda a: a.expand((2, -1, -1)), lambda a: np.broadcast_to(a, (2, 3, 1)), (3, 1)),
        (lambda a: a.expand_as(tw.zeros(5, 3, 2)), lambda a: np.broadcast_to(a, (5, 3, 2)), (1, 2)),
        (lambda a: a.narrow(1, 1, 2), lambda a: a[:, 1:3], (3, 4)),
        (lambda a: tw.narrow(a, -1, -3, 3), lambda a: a[:, 1:], (3, 4)),
        (lambda a: a.repeat(2, 3), lambda a: np.tile(a, (2, 3)), (3, 2)),
        (lambda a: a.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), (3, 2)),
        (lambda a: a.repeat(2), lambda a: np.tile(a, 2), ()),
        (lambda a: a.repeat(0, 2), lambda a: np.tile(a, (0, 2)), (3, 2)),
        (lambda a: a.flip(0), lambda a: np.flip(a, 0), (3, 4)),
        (lambda a: tw.flip(a, (0, -1)), lambda a: np.flip(a, (0, 2)), (2, 3, 4)),
        (lambda a: a.tril(), np.tril, (4, 4)),
        (lambda a: a.tril(1), lambda a: np.tril(a, 1), (3, 5)),
        (lambda a: tw.tril(a, -1), lambda a: np.tril(a, -1), (2, 5, 3)),
        (lambda a: a.triu(), np.triu, (4, 4)),
        (lambda a: a.triu(2), lambda a: np.triu(a, 2), (3, 5)),
        (lambda a: tw.triu(a, -1), lambda a: np.triu(a, -1), (2, 5, 3)),
    ],
)
def test_unary_shape_ops(fn, ref, shape, device):
    check_op(fn, ref, [(shape,)], device)


def test_view_of_same_shape_and_flatten_of_1d(device):
    x = tw.ones(2, 3, device=device)
    assert x.view(2, 3).shape == (2, 3)
    assert tw.ones(4, device=device).flatten().shape == (4,)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim, device):
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    shapes = [tuple(s + i if d == dim % 3 else s for d, s in enumerate(shape)) for i, shape in enumerate(shapes)]
    check_op(lambda *xs: tw.cat(xs, dim), lambda *xs: np.concatenate(xs, dim), [tuple(shapes)], device)
    check_op(
        lambda a, b: tw.concat([a, b], dim=dim), lambda a, b: np.concatenate([a, b], dim), [tuple(shapes[:2])], device
    )


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim, device):
    check_op(lambda *xs: tw.stack(xs, dim), lambda *xs: np.stack(xs, dim), [((2, 3),) * 3], device)


def test_cat_and_stack_promote_dtypes_and_skip_gradless_inputs(device):
    i = tw.tensor([1, 2], device=device)
    f = tw.tensor([0.5], device=device, requires_grad=True)
    y = tw.cat([i, f])
    assert y.dtype == tw.float32 and y.tolist() == [1.0, 2.0, 0.5]
    (y * tw.tensor([1.0, 2.0, 3.0], device=device)).sum().backward()
    assert f.grad.tolist() == [3.0]
    assert tw.stack([i, i]).dtype == tw.int64
    assert tw.cat([f]) is f


def _parts_weighted(parts):
    return tw.cat([p * float(k + 1) for k, p in enumerate(parts)], 1)


def _np_split(a, sizes):
    out, start = [], 0
    for k, s in enumerate(sizes):
        out.append(a[:, start : start + s] * float(k + 1))
        start += s
    return np.concatenate(out, 1)


@pytest.mark.parametrize(
    "fn, sizes",
    [
        (lambda a: a.split(2, dim=1), [2, 2, 1]),
        (lambda a: tw.split(a, [1, 4], 1), [1, 4]),
        (lambda a: a.split([2, 0, 3], -1), [2, 0, 3]),
        (lambda a: a.split(5, 1), [5]),
        (lambda a: a.chunk(2, 1), [3, 2]),
        (lambda a: tw.chunk(a, 3, dim=1), [2, 2, 1]),
        (lambda a: a.chunk(4, 1), [2, 2, 1]),  # PyTorch: fewer chunks when the size doesn't fit
        (lambda a: a.chunk(9, 1), [1, 1, 1, 1, 1]),
    ],
)
def test_split_and_chunk(fn, sizes, device):
    x = tw.zeros(3, 5, device=device)
    assert [p.shape[1] for p in fn(x)] == sizes
    assert isinstance(fn(x), tuple)
    check_op(lambda a: _parts_weighted(fn(a)), lambda a: _np_split(a, sizes), [((3, 5),)], device)


@pytest.mark.parametrize(
    "pad, mode, value, ref",
    [
        ((1, 2), "constant", None, lambda a: np.pad(a, ((0, 0), (0, 0), (1, 2)))),
        ((1, 0, 0, 2), "constant", 1.5, lambda a: np.pad(a, ((0, 0), (0, 2), (1, 0)), constant_values=1.5)),
        ((1, 1, 1, 1, 1, 1), "constant", 0, lambda a: np.pad(a, 1)),
        ((-1, 2, 1, -2), "constant", 0.0, lambda a: np.pad(a[:, :-2, 1:], ((0, 0), (1, 0), (0, 2)))),
        ((0, 0), "constant", 0, lambda a: a),
        ((2, 1), "reflect", None, lambda a: np.pad(a, ((0, 0), (0, 0), (2, 1)), mode="reflect")),
        ((1, 2, 2, 0), "reflect", None, lambda a: np.pad(a, ((0, 0), (2, 0), (1, 2)), mode="reflect")),
        ((2, 3), "replicate", None, lambda a: np.pad(a, ((0, 0), (0, 0), (2, 3)), mode="edge")),
        ((1, 1, 1, 2), "replicate", None, lambda a: np.pad(a, ((0, 0), (1, 2), (1, 1)), mode="edge")),
        ((4, 2), "circular", None, lambda a: np.pad(a, ((0, 0), (0, 0), (4, 2)), mode="wrap")),
        ((1, 0, 0, 3), "circular", None, lambda a: np.pad(a, ((0, 0), (0, 3), (1, 0)), mode="wrap")),
    ],
)
def test_pad(pad, mode, value, ref, device):
    check_op(lambda a: tw.pad(a, pad, mode=mode, value=value), ref, [((2, 3, 4),)], device)


def test_pad_integer_tensor_with_float_value(device):
    x = tw.tensor([[1, 2]], device=device)
    y = tw.pad(x, (1, 0), value=7.9)
    assert y.dtype == tw.int64 and y.tolist() == [[7, 1, 2]]


def test_second_order_through_cat_and_repeat(device):
    v = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = tw.tensor([3.0, 4.0], device=device, requires_grad=True)
    y = (tw.cat([x, x.repeat(2)]) ** 2).sum()  # dy/dx = 2x * 3
    (g,) = [t for t in _grad(y, x)]
    (g * v).sum().backward()
    assert g.tolist() == [18.0, 24.0]
    assert x.grad.tolist() == [6.0, 12.0]  # d(sum(6 x v))/dx = 6 v


def _grad(y, x):
    y.backward(create_graph=True)
    g = x.grad
    x.grad = None
    return (g,)


# -- errors --------------------------------------------------------------------------------------
def test_view_error_names_both_shapes(device):
    x = tw.ones(2, 3, device=device)
    with pytest.raises(ValueError, match=r"\(5,\).*\(2, 3\)"):
        x.view(5)
    with pytest.raises(ValueError, match=r"\(4, -1\).*\(2, 3\)"):
        x.view(4, -1)
    with pytest.raises(ValueError, match="only one dimension"):
        x.view(-1, -1)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.flatten(3),
        lambda x: x.flatten(0, -4),
        lambda x: x.squeeze(3),
        lambda x: x.unsqueeze(4),
        lambda x: x.unsqueeze(-5),
        lambda x: x.unflatten(3, (1, 4)),
        lambda x: tw.cat([x, x], 3),
        lambda x: tw.stack([x, x], 4),
        lambda x: x.split(1, dim=-4),
        lambda x: x.chunk(2, dim=3),
        lambda x: x.flip(3),
        lambda x: x.narrow(3, 0, 1),
        lambda x: x.transpose(0, 3),
    ],
)
def test_bad_dim(fn, device):
    x = tw.ones(2, 3, 4, device=device)
    with pytest.raises(IndexError, match=r"\[-\d, \d\]"):
        fn(x)


@pytest.mark.parametrize(
    "fn, err, pattern",
    [
        (lambda x: x.flatten(2, 1), ValueError, "start_dim"),
        (lambda x: x.unflatten(1, (2, 2)), ValueError, r"\(2, 2\).*\(3,\)"),
        (lambda x: x.expand(3, 3, 4), RuntimeError, r"size \(3\).*existing size \(2\)"),
        (lambda x: x.expand(3, 4), RuntimeError, "number of sizes"),
        (lambda x: x.expand(-1, 2, 3, 4), RuntimeError, "-1"),
        (lambda x: tw.cat([x, tw.ones(2, 4, 4, device=x.device)]), ValueError, r"\(2, 3, 4\) and \(2, 4, 4\)"),
        (lambda x: tw.cat([x, tw.ones(3, 4, device=x.device)], 1), ValueError, r"\(3, 4\)"),
        (lambda x: tw.cat([]), ValueError, "non-empty"),
        (lambda x: tw.stack([x, x[0]]), ValueError, r"\(2, 3, 4\) and \(3, 4\)"),
        (lambda x: x.split([1, 2], 2), ValueError, "add up to 4"),
        (lambda x: x.split(0), ValueError, "positive"),
        (lambda x: x.chunk(0), ValueError, "positive"),
        (lambda x: x.narrow(2, 3, 2), IndexError, "exceeds"),
        (lambda x: x.repeat(2, 2), RuntimeError, "repeat dims"),
        (lambda x: x[0, 0].tril(), RuntimeError, "2 or more"),
        (lambda x: tw.pad(x, (1,)), ValueError, "even"),
        (lambda x: tw.pad(x, (1, 1), mode="nearest"), ValueError, "mode"),
        (lambda x: tw.pad(x, (4, 0), mode="reflect"), ValueError, "at most 3"),
        (lambda x: tw.pad(x, (0, 5), mode="circular"), ValueError, "at most 4"),
        (lambda x: tw.pad(x, (-3, -2)), ValueError, "negative size"),
    ],
)
def test_shape_op_errors(fn, err, pattern, device):
    x = tw.ones(2, 3, 4, device=device)
    with pytest.raises(err, match=pattern):
        fn(x)


def test_cat_of_two_devices_names_both(device):
    other = "strict" if device == "cpu" else "cpu"  # every device meets another one
    with pytest.raises(RuntimeError, match="two devices"):
        tw.cat([tw.ones(2, device=device), tw.ones(2, device=other)])


# -- issue 9: the exceptions PyTorch users catch -------------------------------------------------
def test_shape_errors_are_runtime_errors_and_value_errors(device):
    x = tw.zeros(3, device=device)
    for fn, words in (
        (lambda: x.view(2, 2), "shape (2, 2) is invalid for a tensor of shape (3,)"),
        (lambda: x.reshape(2, 2), "shape (2, 2) is invalid"),
        (lambda: x.reshape(-1, -1), "only one dimension"),
        (lambda: x + tw.zeros(2, device=device), "shapes (3,) and (2,) cannot be broadcast"),
        (lambda: x == tw.zeros(2, device=device), "cannot be broadcast"),
        (lambda: tw.broadcast_to(x, (2,)), "can't be broadcast"),
        (lambda: tw.cat([x, tw.zeros(1, 2, device=device)]), "can't be joined"),
        (lambda: tw.stack([x, tw.zeros(2, device=device)]), "equal size"),
        (lambda: x.reshape(1, 3).permute(0, 0), "must be a permutation"),
        (lambda: x.split([1, 1]), "add up to 3"),
        (lambda: tw.nn.functional.pad(x, (1, 2, 3)), "must be even"),
        (lambda: tw.nn.functional.layer_norm(x, (5,)), "does not match"),
        (lambda: tw.nn.functional.embedding(tw.zeros(2, dtype=tw.int64, device=device), x), "2-D"),
    ):
        with pytest.raises(RuntimeError, match=re.escape(words)):
            fn()
        with pytest.raises(ValueError):
            fn()
        with pytest.raises(tw.errors.ShapeError):
            fn()


def test_narrow_out_of_range_is_a_runtime_error_and_an_index_error(device):
    x = tw.zeros(3, device=device)
    with pytest.raises(RuntimeError, match=re.escape("start (2) + length (5) exceeds dimension 0 of size 3")):
        x.narrow(0, 2, 5)
    with pytest.raises(IndexError):
        x.narrow(0, 4, 0)


def test_bad_device_string_is_a_runtime_error_and_a_value_error():
    for bad in ("cdua", "cuda:x", "cpu:1"):
        with pytest.raises(RuntimeError, match="device"):
            tw.zeros(2, device=bad)
        with pytest.raises(ValueError):
            tw.device(bad)
