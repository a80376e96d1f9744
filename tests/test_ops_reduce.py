"""Reductions on every backend against NumPy with finite-difference gradients: var, std, prod,
max/min, amax/amin, argmax/argmin, logsumexp, norm, cumsum; ties, zeros, dtypes, dim errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_ops_elementwise import check_hvp

import tensorweaver as tw
from helpers import check_op, make_inputs, to_numpy

DIMS = [None, 0, -1, (0, 2), (2, 0, 1)]


def axis(dim):
    return tuple(dim) if isinstance(dim, tuple) else dim


def np_logsumexp(a, axis=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
def test_reductions_over_dims(dim, keepdim, device):
    shapes = [((2, 3, 4),)]
    ax = axis(dim)
    check_op(
        lambda a: a.var(dim, keepdim=keepdim), lambda a: np.var(a, axis=ax, ddof=1, keepdims=keepdim), shapes, device
    )
    check_op(
        lambda a: tw.std(a, dim, correction=0, keepdim=keepdim),
        lambda a: np.std(a, axis=ax, keepdims=keepdim),
        shapes,
        device,
    )
    check_op(lambda a: a.prod(dim, keepdim), lambda a: np.prod(a, axis=ax, keepdims=keepdim), shapes, device)
    check_op(lambda a: a.amax(dim, keepdim), lambda a: np.amax(a, axis=ax, keepdims=keepdim), shapes, device)
    check_op(lambda a: tw.amin(a, dim, keepdim), lambda a: np.amin(a, axis=ax, keepdims=keepdim), shapes, device)
    check_op(lambda a: a.logsumexp(dim, keepdim), lambda a: np_logsumexp(a, axis=ax, keepdims=keepdim), shapes, device)
    norms = {
        2: lambda a: np.sqrt(np.sum(a * a, axis=ax, keepdims=keepdim)),
        "fro": lambda a: np.sqrt(np.sum(a * a, axis=ax, keepdims=keepdim)),
        1: lambda a: np.sum(np.abs(a), axis=ax, keepdims=keepdim),
        np.inf: lambda a: np.amax(np.abs(a), axis=ax, keepdims=keepdim),
        -np.inf: lambda a: np.amin(np.abs(a), axis=ax, keepdims=keepdim),
        3: lambda a: np.sum(np.abs(a) ** 3, axis=ax, keepdims=keepdim) ** (1 / 3),
    }
    for p, ref in norms.items():
        check_op(lambda a, p=p: a.norm(p, dim, keepdim), ref, shapes, device, low=0.2, high=2.0)
        check_op(lambda a, p=p: tw.norm(a, p, dim, keepdim), ref, shapes, device, low=-2.0, high=-0.2)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim(dim, keepdim, device):
    for op, ref, arg in (("max", np.max, np.argmax), ("min", np.min, np.argmin)):
        check_op(
            lambda a, op=op: getattr(a, op)(dim, keepdim).values,
            lambda a, ref=ref: ref(a, axis=dim, keepdims=keepdim),
            [((3, 4),), ((2, 3, 4),)],
            device,
        )
        _, (x,) = make_inputs([(3, 4, 2)], device)
        result = getattr(tw, op)(x, dim=dim, keepdim=keepdim)
        values, indices = result  # a named pair, like torch.return_types.max
        assert result.values is values and result.indices is indices
        assert indices.dtype == tw.int64 and indices.device == tw.device(device) and not indices.requires_grad
        expected = arg(to_numpy(x), axis=dim)
        if keepdim:
            expected = np.expand_dims(expected, dim)
        np.testing.assert_array_equal(to_numpy(indices), expected)
        np.testing.assert_array_equal(to_numpy(getattr(x, "arg" + op)(dim, keepdim)), expected)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum(dim, device):
    check_op(lambda a: a.cumsum(dim), lambda a: np.cumsum(a, axis=dim), [((3, 4, 2),), ((2, 5, 3),)], device)
    if dim in (0, -1):
        check_op(lambda a: tw.cumsum(a, dim), lambda a: np.cumsum(a, axis=dim), [((5,),)], device)


def test_full_reductions(device):
    shapes = [((3, 4),), ((5,),), ((),)]
    check_op(lambda a: a.max(), np.max, shapes, device)
    check_op(tw.min, np.min, shapes, device)
    check_op(tw.prod, np.prod, shapes, device)
    check_op(tw.norm, np.linalg.norm, [((3, 4),), ((5,),)], device)
    check_op(lambda a: tw.logsumexp(a, (0, 1)), lambda a: np_logsumexp(a), [((3, 4),)], device)
    check_op(lambda a: a.var(correction=0), np.var, shapes, device)
    check_op(lambda a: a.std(), lambda a: np.std(a, ddof=1), [((3, 4),), ((5,),)], device)


# -- ties and zeros: PyTorch's conventions ---------------------------------------------------------
def grad_of(fn, values, device):
    x = tw.tensor(values, dtype=tw.float64, device=device, requires_grad=True)
    fn(x).sum().backward()
    assert x.grad.device == tw.device(device) and x.grad.dtype == tw.float64
    return to_numpy(x.grad).tolist()


def test_tie_gradients(device):
    ties = [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]
    # amax/amin and max()/min() without dim split the gradient evenly among ties
    assert grad_of(lambda x: x.amax(1), ties, device) == [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]
    assert grad_of(lambda x: x.amin(1), ties, device) == [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]
    assert grad_of(lambda x: x.max(), ties, device) == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]
    # max(dim)/min(dim) give it all to the returned index (the first occurrence here)
    x = tw.tensor(ties, dtype=tw.float64, device=device)
    assert to_numpy(x.max(1).indices).tolist() == [1, 0]
    assert grad_of(lambda x: x.max(1).values, ties, device) == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert grad_of(lambda x: x.min(0).values, ties, device) == [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    # inf norm: the tied largest magnitudes share, with the sign of each element
    assert grad_of(lambda x: x.norm(float("inf")), [[-3.0, 1.0, 3.0]], device) == [[-0.5, 0.0, 0.5]]


def test_prod_gradient_with_zeros(device):
    # one zero: only the zero gets a gradient (the product of the others); two zeros: none
    assert grad_of(lambda x: x.prod(), [2.0, 0.0, 3.0], device) == [0.0, 6.0, 0.0]
    assert grad_of(lambda x: x.prod(1), [[2.0, 0.0, 3.0], [2.0, 4.0, 3.0], [0.0, 5.0, 0.0]], device) == [
        [0.0, 6.0, 0.0],
        [12.0, 6.0, 8.0],
        [0.0, 0.0, 0.0],
    ]
    assert grad_of(lambda x: x.prod(0), [[0.0], [0.0]], device) == [[0.0], [0.0]]


def test_norm_gradient_at_zero_is_zero(device):
    assert grad_of(tw.norm, [0.0, 0.0, 0.0], device) == [0.0, 0.0, 0.0]
    assert grad_of(lambda x: x.norm(dim=1), [[0.0, 0.0], [3.0, 4.0]], device) == [[0.0, 0.0], [0.6, 0.8]]
    assert grad_of(lambda x: x.norm(1), [0.0, -2.0], device) == [0.0, -1.0]


def test_logsumexp_is_stable(device):
    x = tw.tensor([[1000.0, 1000.0], [-1000.0, -1000.0]], dtype=tw.float64, device=device, requires_grad=True)
    y = x.logsumexp(1)
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(y), [1000 + np.log(2), -1000 + np.log(2)])
    np.testing.assert_allclose(to_numpy(x.grad), 0.5)
    assert to_numpy(tw.tensor([[np.inf, 0.0]], device=device).logsumexp(1)).tolist() == [np.inf]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy warns about log(0); -inf is the answer
        assert to_numpy(tw.tensor([[-np.inf, -np.inf]], device=device).logsumexp(1)).tolist() == [-np.inf]


def test_var_correction_and_dtypes(device):
    a = np.arange(12.0).reshape(3, 4)
    x = tw.tensor(a, device=device)
    for c in (0, 1, 2):
        np.testing.assert_allclose(to_numpy(x.var(1, correction=c)), np.var(a, axis=1, ddof=c))
    np.testing.assert_allclose(
        to_numpy(tw.std(x, (0, 1), keepdim=True)), np.std(a, ddof=1, keepdims=True).reshape(1, 1)
    )
    i = tw.tensor([[1, 2], [3, 4]], device=device)
    assert i.prod().dtype == tw.int64 and i.prod().item() == 24
    assert i.max().dtype == tw.int64 and i.amax(0).tolist() == [3, 4]
    assert i.cumsum(1).tolist() == [[1, 3], [3, 7]] and i.cumsum(1).dtype == tw.int64
    assert i.norm().dtype == tw.float32 and i.logsumexp(1).dtype == tw.float32
    b = tw.tensor([True, False, True], device=device)
    assert b.sum().item() == 2 and b.sum().dtype == tw.int64 and b.cumsum(0).tolist() == [1, 1, 2]
    assert tw.norm(tw.tensor([0.0, 3.0, -1.0], device=device), p=0).item() == 2.0
    f = tw.tensor([1.0, 2.0], device=device)
    assert f.norm().dtype == tw.float32 and f.var().dtype == tw.float32 and f.norm().device == tw.device(device)


def test_all_any(device):
    a = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    x = tw.tensor(a, device=device)
    for op in ("all", "any"):
        ref = getattr(np, op)
        for dim, keepdim in ((None, False), (0, False), (1, True), ((0, 1), True)):
            out = getattr(x, op)(dim, keepdim)
            assert out.dtype == tw.bool and out.device == tw.device(device)
            np.testing.assert_array_equal(to_numpy(out), ref(a != 0, axis=axis(dim), keepdims=keepdim))
    assert tw.all(x > -1).item() is True and tw.any(x < 0).item() is False
    assert (x > 0).any(1).tolist() == [True, True] and (x > 0).all(1).tolist() == [False, True]


def test_argmax_argmin(device):
    a = np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]])
    x = tw.tensor(a, device=device)
    assert x.argmax().item() == 3 and tw.argmin(x).item() == 4  # of the flattened tensor
    assert x.argmax(1).tolist() == [1, 0] and x.argmin(0).tolist() == [0, 1, 0]  # the first of ties
    assert x.argmax(0, keepdim=True).shape == (1, 3) and x.argmax(keepdim=True).shape == (1, 1)
    assert x.argmax().dtype == tw.int64 and x.argmax(0).device == tw.device(device)


def test_zero_dim_inputs(device):
    x = tw.tensor(2.5, dtype=tw.float64, device=device, requires_grad=True)
    v, i = x.max(0)
    assert v.shape == () and i.item() == 0 and v.item() == 2.5
    c = x.cumsum(0)
    c.backward()
    assert c.shape == () and x.grad.item() == 1.0
    assert x.argmax(0).item() == 0 and x.prod().item() == 2.5


def test_dim_errors_name_the_range(device):
    x = tw.ones(2, 3, device=device)
    for fn in (
        lambda: x.var(2),
        lambda: x.prod(-3),
        lambda: x.max(2),
        lambda: x.amax(5),
        lambda: x.argmin(2),
        lambda: x.logsumexp(2),
        lambda: x.norm(dim=2),
        lambda: x.cumsum(2),
    ):
        with pytest.raises(IndexError, match=r"\[-2, 1\]"):
            fn()
    np.testing.assert_allclose(x.norm("nuc").item(), np.sqrt(6.0), rtol=1e-6)  # issue 9: implemented


@pytest.mark.parametrize(
    "fn, low, high",
    [
        (lambda a: a.var(1), -2.0, 2.0),
        (lambda a: a.std(0), -2.0, 2.0),
        (lambda a: a.prod(1), 0.5, 2.0),
        (lambda a: a.logsumexp(1), -2.0, 2.0),
        (lambda a: a.norm(dim=1), -2.0, 2.0),
        (lambda a: a.norm(3), 0.5, 2.0),
        (lambda a: a.cumsum(1) * a, -2.0, 2.0),
        (lambda a: a.amax(0) * a, -2.0, 2.0),
        (lambda a: a.max(1).values.reshape(2, 1) * a, -2.0, 2.0),
    ],
    ids=["var", "std", "prod", "logsumexp", "norm2", "norm3", "cumsum", "amax", "max_dim"],
)
def test_second_order(fn, low, high, device):
    check_hvp(fn, [(2, 3)], device, low=low, high=high)


# -- issue 9: PyTorch's answers at zeros, NaNs and empty dims; var/std's arguments ------------------
def _t(values, device, grad=True):
    return tw.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=grad)


@pytest.mark.parametrize(
    "case",
    [[0.0, 2.0, 3.0], [0.0, 0.0, 3.0, 2.0], [0.0, 0.0, 0.0, 2.0], [[0.0, 2.0], [3.0, 0.0]], [[0, 0, 1], [2, 0, 4]]],
)
def test_prod_second_derivative_with_zeros_matches_pytorch(device, case):
    torch = pytest.importorskip("torch")
    a = np.asarray(case, dtype=np.float64)
    rng = np.random.default_rng(0)
    v = rng.uniform(size=a.shape)
    for dim in [None, *range(a.ndim)]:

        def hvp(lib, make, dim=dim):
            x = make(a)
            y = x.prod() if dim is None else x.prod(dim)
            (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
            (h,) = lib.autograd.grad((g * make(v)).sum(), x)
            return np.asarray(h.detach().numpy())

        expected = hvp(torch, lambda z: torch.tensor(z, dtype=torch.float64, requires_grad=True))
        got = hvp(tw, lambda z: tw.tensor(z, dtype=tw.float64, device=device, requires_grad=True))
        np.testing.assert_allclose(got, expected, err_msg=f"dim={dim}")
    x = _t([0.0, 2.0, 3.0], device)  # the case: HVP with u = 1
    (g,) = tw.autograd.grad(x.prod(), x, create_graph=True)
    (h,) = tw.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(to_numpy(h), [5.0, 3.0, 2.0])


def test_std_gradient_is_zero_where_the_spread_is_zero(device):
    x = _t([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], device)
    x.std(1).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]])


def test_max_routes_the_gradient_to_the_nan(device):
    x = _t([1.0, np.nan, 2.0], device)
    x.max().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 1.0, 0.0])
    x = _t([1.0, np.nan, np.nan], device)
    x.min().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 0.5, 0.5])
    x = _t([[1.0, np.nan], [2.0, 3.0]], device)
    x.amax(1).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[0.0, 1.0], [0.0, 1.0]])


def test_sum_and_mean_over_no_dims_reduce_everything(device):
    x = _t([[1.0, 2.0], [3.0, 4.0]], device, grad=False)
    assert x.sum(()).shape == () and x.sum(()).item() == 10.0
    assert x.mean(dim=()).item() == 2.5
    assert tw.sum(x, [], keepdim=True).shape == (1, 1)


def test_reduction_dims_of_the_wrong_type_are_one_clear_type_error(device):
    x = _t([[1.0]], device, grad=False)
    for fn in (lambda: x.sum(dim=1.5), lambda: x.mean(1.5), lambda: x.var(dim="0")):
        with pytest.raises(TypeError, match="dim must be an int, a tuple of ints or None, got"):
            fn()


def test_logsumexp_of_an_empty_dim_is_minus_inf(device):
    x = tw.zeros(2, 0, dtype=tw.float64, device=device)
    np.testing.assert_array_equal(to_numpy(tw.logsumexp(x, 1)), [-np.inf, -np.inf])
    assert tw.logsumexp(x, 1, keepdim=True).shape == (2, 1)
    assert tw.logsumexp(x, 0).shape == (0,)


def test_var_std_accept_pytorchs_argument_forms(device):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 2.0, 4.0], [0.0, 3.0, 3.0]])
    x, t = tw.tensor(a, device=device), torch.tensor(a)
    for name in ("var", "std"):
        for args, kwargs in [
            ((), {}),
            ((True,), {}),
            ((False,), {}),
            ((1, True), {}),
            ((1, False, True), {}),
            ((0,), {"unbiased": False}),
            ((), {"dim": 1, "correction": 0}),
            ((), {"dim": (0, 1), "correction": 2, "keepdim": True}),
        ]:
            got = getattr(x, name)(*args, **kwargs)
            expected = getattr(t, name)(*args, **kwargs).numpy()
            assert got.shape == expected.shape, (name, args, kwargs)
            np.testing.assert_allclose(to_numpy(got), expected, err_msg=f"{name}{args}{kwargs}")
    with pytest.raises(TypeError, match="not both"):
        x.var(0, unbiased=True, correction=1)


def test_broadcast_to_keeps_a_dim_for_minus_one(device):
    x = _t([[1.0, 2.0]], device, grad=False)
    assert tw.broadcast_to(x, (3, -1)).shape == (3, 2)
    assert x.broadcast_to((2, 3, -1)).shape == (2, 3, 2)
    with pytest.raises(RuntimeError, match="leading"):
        tw.broadcast_to(x, (-1, 1, 2))


def test_sums_of_small_integers_are_int64(device):
    for dt in (tw.uint8, tw.int32, tw.bool):
        x = tw.tensor([3, 2], dtype=dt, device=device)
        for fn, expected in ((tw.sum, 5 if dt is not tw.bool else 2), (tw.prod, 6 if dt is not tw.bool else 1)):
            y = fn(x)
            assert y.dtype == tw.int64 and y.item() == expected, (dt, fn.__name__)
        assert tw.cumsum(x, 0).dtype == tw.int64


@pytest.mark.parametrize("p", [3, 0.5, 1.5, 1, 2, float("inf")])
def test_p_norm_gradient_at_zero_is_zero(device, p):
    for v, expected in (([0.0, 0.0], [0.0, 0.0]), ([0.0, 2.0], [0.0, 1.0])):
        x = _t(v, device)
        tw.norm(x, p).backward()
        np.testing.assert_allclose(to_numpy(x.grad), expected, err_msg=str((p, v)))
    x = _t([1.0, -2.0, 0.5], device, grad=False)
    np.testing.assert_allclose(tw.norm(x, -1).item(), 1 / (1 + 0.5 + 2.0))
    with pytest.raises(ValueError, match="'nuc'"):
        tw.norm(x, "nuc")  # 1-D
    with pytest.raises(ValueError, match="'fro', 'nuc' or a number"):
        tw.norm(x, "bogus")


def test_nuclear_norm_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((3, 4, 2))
    for dim, keepdim in ((None, False), ((0, 1), False), ((1, 2), True), ((2, 0), False)):
        src = a[:, :, 0] if dim is None else a
        xt = torch.tensor(src, requires_grad=True)
        yt = torch.norm(xt, "nuc", dim=dim, keepdim=keepdim)
        x = tw.tensor(src, device=device, requires_grad=True)
        y = tw.norm(x, "nuc", dim=dim, keepdim=keepdim)
        np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), err_msg=str(dim))
        yt.sum().backward()
        y.sum().backward()
        np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), err_msg=str(dim))
