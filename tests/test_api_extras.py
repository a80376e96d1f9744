"""The rest of PyTorch's API that training scripts use (issue 8): mm/bmm, sort/argsort/topk, tw.Size,
__index__, out= and keepdims=, Generator on every random function, set_default_device, Tensor.to's
arguments, and the small conveniences (new_zeros, type_as, in-place clamp_, inference_mode, ...)."""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn as nn
from helpers import check_op, make_inputs, to_numpy
from tensorweaver.utils.data import DataLoader, TensorDataset, random_split


def _torch():
    return pytest.importorskip("torch")


def _host(t):
    return np.asarray(t.detach().cpu().numpy())


# -- mm, bmm ----------------------------------------------------------------------------------------------
def test_mm_and_bmm_values_and_gradients(device):
    check_op(lambda a, b: tw.mm(a, b), lambda a, b: a @ b, [[(2, 3), (3, 4)], [(1, 1), (1, 5)]], device)
    check_op(lambda a, b: a.mm(b), lambda a, b: a @ b, [[(3, 2), (2, 2)]], device)
    check_op(lambda a, b: tw.bmm(a, b), lambda a, b: a @ b, [[(2, 3, 4), (2, 4, 2)]], device)
    check_op(lambda a, b: a.bmm(b), lambda a, b: a @ b, [[(1, 2, 2), (1, 2, 3)]], device)


def test_mm_and_bmm_match_torch_and_refuse_what_torch_refuses(device):
    torch = _torch()
    arrays, (a, b) = make_inputs([(2, 3, 4), (2, 4, 5)], device)
    np.testing.assert_allclose(_host(tw.bmm(a, b)), torch.bmm(*map(torch.from_numpy, arrays)).numpy())
    np.testing.assert_allclose(_host(tw.mm(a[0], b[0])), torch.mm(*(torch.from_numpy(x[0]) for x in arrays)).numpy())
    with pytest.raises(RuntimeError, match=r"mm\(\): self must be a matrix.*\(2, 3, 4\)"):
        tw.mm(a, b[0])
    with pytest.raises(RuntimeError, match="mat2 must be a matrix"):
        tw.mm(a[0], b[0, 0])
    with pytest.raises(RuntimeError, match="batch2 must be a 3D tensor"):
        tw.bmm(a, b[0])
    with pytest.raises(RuntimeError, match=r"expected batch2 of shape \[2, 4, \*\].*\[1, 4, 5\]"):
        tw.bmm(a, b[:1])  # no broadcasting of the batch, as in PyTorch
    with pytest.raises(ValueError, match="cannot be multiplied"):
        tw.mm(a[0], a[0])


# -- sort, argsort, topk, msort ---------------------------------------------------------------------------
def _distinct(shape, seed=0):
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape).astype(np.float64) / n - 0.5


@pytest.mark.parametrize("dim", [-1, 0, 1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_match_torch(device, dim, descending):
    torch = _torch()
    a = _distinct((3, 4, 5))
    x = tw.tensor(a, device=device)
    values, indices = tw.sort(x, dim=dim, descending=descending)
    ref = torch.sort(torch.from_numpy(a), dim=dim, descending=descending)
    np.testing.assert_array_equal(_host(values), ref.values.numpy())
    np.testing.assert_array_equal(_host(indices), ref.indices.numpy())
    assert indices.dtype == tw.int64 and values.device == indices.device == tw.device(device)
    np.testing.assert_array_equal(_host(tw.argsort(x, dim, descending)), ref.indices.numpy())
    np.testing.assert_array_equal(_host(x.argsort(dim=dim, descending=descending)), ref.indices.numpy())
    np.testing.assert_array_equal(_host(x.sort(dim, descending).values), ref.values.numpy())


def test_sort_stable_ties_nan_ints_and_0d_match_torch(device):
    torch = _torch()
    ties = np.array([[2.0, 1.0, 2.0, np.nan, 1.0, -np.inf, 2.0]])
    for descending in (False, True):
        ref = torch.sort(torch.from_numpy(ties), descending=descending, stable=True)
        got = tw.sort(tw.tensor(ties, device=device), descending=descending, stable=True)
        np.testing.assert_array_equal(_host(got.values), ref.values.numpy())
        np.testing.assert_array_equal(_host(got.indices), ref.indices.numpy())
    ints = np.array([3, -1, 7, 0], dtype=np.int64)
    got = tw.sort(tw.tensor(ints, device=device), descending=True)
    assert got.values.dtype == tw.int64
    np.testing.assert_array_equal(_host(got.values), torch.sort(torch.from_numpy(ints), descending=True).values)
    flags = tw.tensor([True, False, True], device=device)
    assert tw.sort(flags).values.tolist() == [False, True, True]
    v, i = tw.sort(tw.tensor(3.0, device=device))
    assert v.shape == () and i.shape == () and v.item() == 3.0 and i.item() == 0
    with pytest.raises(IndexError):
        tw.sort(tw.ones(2, 3, device=device), dim=2)


def test_sort_values_are_differentiable(device):
    shapes = [[(3, 4)], [(5,)]]
    check_op(lambda a: tw.sort(a).values, lambda a: np.sort(a, axis=-1), shapes, device)
    check_op(lambda a: tw.sort(a, 0, descending=True).values, lambda a: -np.sort(-a, axis=0), shapes, device)
    check_op(lambda a: tw.msort(a), lambda a: np.sort(a, axis=0), shapes, device)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim,k", [(-1, 3), (0, 1), (1, 4), (1, 0)])
def test_topk_matches_torch(device, largest, dim, k):
    torch = _torch()
    a = _distinct((3, 4, 5), seed=1)
    got = tw.topk(tw.tensor(a, device=device), k, dim=dim, largest=largest)
    ref = torch.topk(torch.from_numpy(a), k, dim=dim, largest=largest)
    assert type(got) is tw.return_types.topk and got._fields == ("values", "indices")
    np.testing.assert_array_equal(_host(got.values), ref.values.numpy())
    np.testing.assert_array_equal(_host(got.indices), ref.indices.numpy())
    assert got.indices.dtype == tw.int64


def test_topk_gradient_nan_errors_and_method(device):
    torch = _torch()
    check_op(lambda a: tw.topk(a, 2).values, lambda a: -np.sort(-a, axis=-1)[..., :2], [[(3, 4)], [(6,)]], device)
    check_op(lambda a: a.topk(1, dim=0, largest=False)[0], lambda a: np.sort(a, axis=0)[:1], [[(3, 2)]], device)
    a = np.array([1.0, np.nan, 2.0, -1.0])
    for largest in (True, False):
        ref = torch.topk(torch.from_numpy(a), 2, largest=largest)
        got = tw.topk(tw.tensor(a, device=device), 2, largest=largest)
        np.testing.assert_array_equal(_host(got.values), ref.values.numpy())
        np.testing.assert_array_equal(_host(got.indices), ref.indices.numpy())
    x = tw.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match=r"k \(4\) out of range: dimension 1 has size 3"):
        tw.topk(x, 4)
    with pytest.raises(RuntimeError, match="out of range"):
        tw.topk(x, -1)
    with pytest.raises(TypeError, match="k must be an int"):
        tw.topk(x, 1.5)
    v, i = tw.topk(tw.tensor(2.0, device=device), 1)
    assert v.shape == () and v.item() == 2.0 and i.item() == 0


def test_sort_and_topk_return_named_tuples_like_torch(device):
    x = tw.tensor([3.0, 1.0, 2.0], device=device)
    s = tw.sort(x)
    assert isinstance(s, tuple) and type(s) is tw.return_types.sort
    assert s.values is s[0] and s.indices is s[1]
    values, indices = tw.topk(x, 2)
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [0, 2]


# -- small Tensor methods ---------------------------------------------------------------------------------
def test_contiguous_nelement_and_friends(device):
    torch = _torch()
    x = tw.ones(2, 3, device=device).T
    assert x.contiguous() is x and x.is_contiguous()
    assert x.nelement() == x.numel() == tw.numel(x) == 6 == torch.ones(3, 2).nelement()
    assert x.element_size() == 4 and tw.zeros(1, dtype=tw.float64).element_size() == 8
    assert tw.is_tensor(x) and tw.is_tensor(nn.Parameter(tw.ones(1))) and not tw.is_tensor(np.ones(1))
    assert tw.is_floating_point(x) and not tw.is_complex(x) and tw.ones(1, dtype=tw.complex64).is_complex()


def test_index_of_a_single_element_integer_tensor_like_torch(device):
    torch = _torch()
    items = list(range(10))
    i = tw.tensor(3, device=device)
    assert items[i] == 3 and items[:i] == [0, 1, 2] and items[i : tw.tensor(5)] == [3, 4]
    assert "abcdef"[tw.tensor(1) : tw.tensor(4, dtype=tw.int32)] == "bcd"
    assert range(10)[tw.tensor([7])] == items[torch.tensor([7])]  # a one-element tensor works in PyTorch too
    assert np.arange(5)[tw.tensor(2)] == 2
    x = tw.arange(10, device=device)
    assert x[: tw.tensor(3)].tolist() == [0, 1, 2]
    assert x[tw.tensor(1, device=device) : tw.tensor(2, device=device) + 2].tolist() == [1, 2, 3]
    for bad, torch_bad in [
        (tw.tensor(1.0), torch.tensor(1.0)),
        (tw.tensor([1, 2]), torch.tensor([1, 2])),
        (tw.tensor(0.5, device=device), torch.tensor(0.5)),
    ]:
        with pytest.raises(TypeError, match="only integer tensors of a single element"):
            items[bad]
        with pytest.raises(TypeError, match="only integer tensors of a single element"):
            items[torch_bad]


# -- tw.Size ----------------------------------------------------------------------------------------------
def test_size_is_a_tuple_with_numel_like_torch(device):
    torch = _torch()
    x = tw.zeros(2, 3, device=device)
    s, ts = x.shape, torch.zeros(2, 3).shape
    assert type(s) is tw.Size and type(x.size()) is tw.Size and isinstance(s, tuple)
    assert s == (2, 3) == ts and hash(s) == hash((2, 3)) and s == x.size()
    assert repr(s) == "tw.Size([2, 3])" and repr(tw.zeros(()).shape) == "tw.Size([])"
    assert str(s) == "(2, 3)"  # messages name shapes as tuples
    assert s.numel() == ts.numel() == 6 and tw.Size([]).numel() == 1
    assert x.size(1) == 3 and type(x.size(1)) is int and x.size(-2) == 2
    for got, ref in [(s[1:], ts[1:]), (s + (4,), ts + (4,)), ((1,) + s, (1,) + ts), (s * 2, ts * 2)]:
        assert type(got) is tw.Size and tuple(got) == tuple(ref) and type(ref) is torch.Size
    assert type(s[0]) is int
    assert tw.Size([tw.tensor(2), np.int64(3)]) == (2, 3)
    with pytest.raises(TypeError):
        tw.Size([2.5])
    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is tw.Size
    assert tw.zeros(s).shape == s and x.reshape(s[::-1]).shape == (3, 2)


# -- out= -------------------------------------------------------------------------------------------------
_OUT_OPS = [
    ("add", lambda m, a, b, **o: m.add(a, b, **o)),
    ("sub", lambda m, a, b, **o: m.sub(a, b, **o)),
    ("mul", lambda m, a, b, **o: m.mul(a, b, **o)),
    ("div", lambda m, a, b, **o: m.div(a, b, **o)),
    ("pow", lambda m, a, b, **o: m.pow(m.abs(a), b, **o)),
    ("maximum", lambda m, a, b, **o: m.maximum(a, b, **o)),
    ("minimum", lambda m, a, b, **o: m.minimum(a, b, **o)),
    ("matmul", lambda m, a, b, **o: m.matmul(a, b.T, **o)),
    ("mm", lambda m, a, b, **o: m.mm(a, b.T, **o)),
    ("exp", lambda m, a, b, **o: m.exp(a, **o)),
    ("log", lambda m, a, b, **o: m.log(m.abs(a), **o)),
    ("sqrt", lambda m, a, b, **o: m.sqrt(m.abs(a), **o)),
    ("tanh", lambda m, a, b, **o: m.tanh(a, **o)),
    ("sigmoid", lambda m, a, b, **o: m.sigmoid(a, **o)),
    ("neg", lambda m, a, b, **o: m.neg(a, **o)),
    ("abs", lambda m, a, b, **o: m.abs(a, **o)),
    ("clamp", lambda m, a, b, **o: m.clamp(a, -0.5, 0.5, **o)),
    ("where", lambda m, a, b, **o: m.where(a > b, a, b, **o)),
    ("sum", lambda m, a, b, **o: m.sum(a, 1, **o)),
    ("mean", lambda m, a, b, **o: m.mean(a, 0, keepdim=True, **o)),
    ("prod", lambda m, a, b, **o: m.prod(a, 1, **o)),
    ("amax", lambda m, a, b, **o: m.amax(a, 1, **o)),
    ("logsumexp", lambda m, a, b, **o: m.logsumexp(a, 1, **o)),
    ("cumsum", lambda m, a, b, **o: m.cumsum(a, 1, **o)),
    ("std", lambda m, a, b, **o: m.std(a, 1, **o)),
    ("cat", lambda m, a, b, **o: m.cat([a, b], 0, **o)),
    ("stack", lambda m, a, b, **o: m.stack([a, b], 1, **o)),
]


@pytest.mark.parametrize("name,fn", _OUT_OPS, ids=[n for n, _ in _OUT_OPS])
def test_out_writes_into_the_given_tensor_like_torch(device, name, fn):
    torch = _torch()
    arrays, (a, b) = make_inputs([(3, 4), (3, 4)], device, seed=3)
    ta, tb = (torch.from_numpy(x) for x in arrays)
    expected = fn(torch, ta, tb).numpy()
    out = tw.empty(*expected.shape, dtype=tw.float64, device=device)
    array_before = out.array
    a, b = a.detach(), b.detach()
    r = fn(tw, a, b, out=out)
    assert r is out and out.array is array_before  # written in place
    np.testing.assert_allclose(_host(out), expected, rtol=1e-12, atol=1e-12)
    wide = tw.empty(*expected.shape, dtype=tw.float32, device=device)  # cast into out's dtype
    fn(tw, a, b, out=wide)
    assert wide.dtype == tw.float32
    np.testing.assert_allclose(_host(wide), expected, rtol=1e-5, atol=1e-6)


def test_out_resizes_casts_and_refuses_like_torch(device):
    torch = _torch()
    a = tw.ones(3, device=device)
    empty = tw.empty(0, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tw.add(a, 1, out=empty) is empty and empty.tolist() == [2.0, 2.0, 2.0]
    small = tw.zeros(2, device=device)
    with pytest.warns(UserWarning, match=r"resized since it had shape \[2\].*\[3\]"):
        tw.add(a, 1, out=small)
    with pytest.warns(UserWarning, match="resized"):
        torch.add(torch.ones(3), 1, out=torch.zeros(2))
    assert small.shape == (3,) and small.tolist() == [2.0, 2.0, 2.0]
    wide = tw.zeros(3, dtype=tw.float64, device=device)
    tw.add(tw.ones(3, dtype=tw.int64, device=device), 1, out=wide)  # int result into a float out: fine
    assert wide.dtype == tw.float64 and wide.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="result type tensorweaver.float32 can't be cast to the desired output"):
        tw.add(a, 1, out=tw.zeros(3, dtype=tw.int64, device=device))
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.add(torch.ones(3), 1, out=torch.zeros(3, dtype=torch.long))
    w = tw.ones(3, device=device, requires_grad=True)
    msg = r"add\(\): functions with out=\.\.\. arguments don't support automatic differentiation"
    with pytest.raises(RuntimeError, match=msg):
        tw.add(w, 1, out=tw.zeros(3, device=device))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        torch.add(torch.ones(3, requires_grad=True), 1, out=torch.zeros(3))
    with tw.no_grad():
        o = tw.zeros(3, device=device)
        tw.mul(w, 2, out=o)
    assert o.tolist() == [2.0, 2.0, 2.0] and not o.requires_grad
    with pytest.raises(TypeError, match="'out' must be a Tensor"):
        tw.exp(a, out=np.zeros(3))
    if device != "cpu":
        with pytest.raises(RuntimeError, match=r"expected the out tensor on device strict.*cpu"):
            tw.exp(a, out=tw.zeros(3))
    x = tw.tensor([1.0, 2.0], device=device)
    tw.add(x, x, out=x)  # the output may be an input
    assert x.tolist() == [2.0, 4.0]


def test_out_tuples_of_sort_topk_and_max(device):
    x = tw.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]], device=device)
    v, i = tw.empty(2, 3, device=device), tw.empty(2, 3, dtype=tw.int64, device=device)
    r = tw.sort(x, out=(v, i))
    assert r.values is v and r.indices is i and v.tolist() == [[1, 2, 3], [0, 4, 5]] and i.tolist()[1] == [0, 2, 1]
    v2, i2 = tw.empty(0, device=device), tw.empty(0, dtype=tw.int64, device=device)
    tw.topk(x, 1, out=(v2, i2))
    assert v2.tolist() == [[3.0], [5.0]] and i2.tolist() == [[0], [1]]
    v3, i3 = tw.empty(2, device=device), tw.empty(2, dtype=tw.int64, device=device)
    tw.max(x, 1, out=(v3, i3))
    assert v3.tolist() == [3.0, 5.0] and i3.tolist() == [0, 1]
    with pytest.raises(TypeError, match="tuple of two tensors"):
        tw.sort(x, out=v)
    eq = tw.empty(2, 3, dtype=tw.bool, device=device)
    tw.gt(x, 2.5, out=eq)
    assert eq.tolist() == [[True, False, False], [False, True, True]]
    am = tw.empty(2, dtype=tw.int64, device=device)
    tw.argmax(x, 1, out=am)
    assert am.tolist() == [0, 1]


# -- keepdims= --------------------------------------------------------------------------------------------
_REDUCTIONS = ["sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "logsumexp", "std", "var", "all", "any"]


@pytest.mark.parametrize("name", _REDUCTIONS)
def test_keepdims_is_accepted_where_torch_accepts_it(device, name):
    torch = _torch()
    a = _distinct((2, 3, 4), seed=2) + (1.0 if name in ("all", "any") else 0.0)
    ref = getattr(torch, name)(torch.from_numpy(a), 1, keepdims=True)
    got = getattr(tw, name)(tw.tensor(a, device=device), 1, keepdims=True)
    assert got.shape == tuple(ref.shape) == (2, 1, 4)
    np.testing.assert_allclose(_host(got).astype(np.float64), ref.numpy().astype(np.float64), rtol=1e-12)
    method = getattr(tw.tensor(a, device=device), name)(1, keepdims=False)
    assert method.shape == (2, 4)
    with pytest.raises(TypeError, match="both keepdim"):
        getattr(tw, name)(tw.tensor(a, device=device), 1, keepdim=True, keepdims=False)


def test_keepdims_on_max_min_returns_values_and_indices(device):
    x = tw.tensor([[1.0, 4.0], [3.0, 2.0]], device=device)
    v, i = tw.max(x, 1, keepdims=True)
    assert v.shape == (2, 1) and i.tolist() == [[1], [0]]
    assert tw.min(x, 0, keepdims=True).values.tolist() == [[1.0, 2.0]]
    g = tw.sum(x.requires_grad_(True) * 1.0, 0, keepdims=True)
    g.sum().backward()  # the alias keeps the graph
    assert x.grad is not None and x.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]


# -- grad_fn.next_functions ---------------------------------------------------------------------------------
def test_next_functions_like_torch(device):
    torch = _torch()
    w = tw.ones(2, device=device, requires_grad=True)
    y = (w * 2.0).sum()
    ((mul_node, idx),) = y.grad_fn.next_functions
    assert idx == 0 and mul_node is not None
    ((acc, _),) = mul_node.next_functions
    assert acc.name == "AccumulateGrad" and acc.variable is w
    tx = torch.ones(2, requires_grad=True)
    ty = (tx * 2.0).sum()
    assert len(ty.grad_fn.next_functions) == len(y.grad_fn.next_functions) == 1
    assert type(ty.grad_fn.next_functions[0][0].next_functions[0][0]).__name__ == "AccumulateGrad"


# -- random: generator= everywhere -------------------------------------------------------------------------
_DRAWS = {
    "rand": lambda d, g: tw.rand(3, generator=g, device=d),
    "randn": lambda d, g: tw.randn(3, generator=g, device=d),
    "randint": lambda d, g: tw.randint(0, 100, (3,), generator=g, device=d),
    "randperm": lambda d, g: tw.randperm(6, generator=g, device=d),
    "rand_like": lambda d, g: tw.rand_like(tw.zeros(3, device=d), generator=g),
    "randn_like": lambda d, g: tw.randn_like(tw.zeros(3, device=d), generator=g),
    "randint_like": lambda d, g: tw.randint_like(tw.zeros(3, device=d), 0, 50, generator=g),
    "normal": lambda d, g: tw.normal(tw.zeros(3, device=d), 1.0, generator=g),
    "bernoulli": lambda d, g: tw.bernoulli(tw.full((8,), 0.5, device=d), generator=g),
    "multinomial": lambda d, g: tw.multinomial(tw.ones(5, device=d), 3, generator=g),
    "Tensor.uniform_": lambda d, g: tw.empty(3, device=d).uniform_(-1, 1, generator=g),
    "Tensor.normal_": lambda d, g: tw.empty(3, device=d).normal_(2.0, 0.5, generator=g),
    "Tensor.bernoulli_": lambda d, g: tw.empty(8, device=d).bernoulli_(0.3, generator=g),
    "Tensor.exponential_": lambda d, g: tw.empty(3, device=d).exponential_(2.0, generator=g),
    "nn.init.uniform_": lambda d, g: nn.init.uniform_(tw.empty(3, device=d), generator=g),
    "nn.init.kaiming_normal_": lambda d, g: nn.init.kaiming_normal_(tw.empty(2, 3, device=d), generator=g),
}


@pytest.mark.parametrize("name", sorted(_DRAWS))
def test_every_random_function_draws_from_its_generator(device, name):
    draw = _DRAWS[name]
    g = tw.Generator(device).manual_seed(7)
    first = _host(draw(device, g))
    state = g.get_state()
    second = _host(draw(device, g))
    g.set_state(state)
    np.testing.assert_array_equal(_host(draw(device, g)), second)
    np.testing.assert_array_equal(_host(draw(device, tw.Generator(device).manual_seed(7))), first)
    tw.manual_seed(7)  # the default generator is another stream: generator= is honoured
    assert draw(device, None).device == tw.device(device)


def test_random_values_of_the_in_place_draws(device):
    g = tw.Generator(device).manual_seed(0)
    u = _host(tw.empty(4000, dtype=tw.float64, device=device).uniform_(-2.0, 3.0, generator=g))
    assert u.min() >= -2.0 and u.max() < 3.0 and abs(u.mean() - 0.5) < 0.1
    n = _host(tw.empty(4000, dtype=tw.float64, device=device).normal_(2.0, 0.5, generator=g))
    assert abs(n.mean() - 2.0) < 0.05 and abs(n.std() - 0.5) < 0.05
    e = _host(tw.empty(4000, dtype=tw.float64, device=device).exponential_(4.0, generator=g))
    assert e.min() >= 0 and abs(e.mean() - 0.25) < 0.03
    b = _host(tw.empty(4000, device=device).bernoulli_(0.25, generator=g))
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.25) < 0.03
    w = tw.ones(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w.uniform_()
    with tw.no_grad():
        w.normal_()  # allowed outside the graph, as nn.init does


def test_random_functions_take_generator_like_torch():
    torch = _torch()
    for name in ["rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
                 "bernoulli", "multinomial"]:  # fmt: skip
        assert "generator" in inspect.signature(getattr(tw, name)).parameters, name
        assert "generator" in (getattr(torch, name).__doc__ or ""), name
    assert "generator" in inspect.signature(DataLoader).parameters
    assert "generator" in inspect.signature(random_split).parameters


def test_manual_seed_returns_the_default_generator_and_dataloader_takes_one():
    assert tw.manual_seed(3) is tw.default_generator
    assert isinstance(tw.default_generator, tw.Generator)
    ds = TensorDataset(tw.arange(20))
    order = [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True, generator=tw.Generator().manual_seed(1))]
    again = [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True, generator=tw.Generator().manual_seed(1))]
    assert order == again and sorted(sum(order, [])) == list(range(20)) and sum(order, []) != list(range(20))


# -- default device -----------------------------------------------------------------------------------------
def test_set_default_device_makes_factories_and_layers_use_it(device):
    assert tw.get_default_device() == tw.device("cpu")
    tw.set_default_device(device)
    dev = tw.device(device)
    assert tw.get_default_device() == dev
    made = [
        tw.zeros(2),
        tw.ones(2, 3),
        tw.full((2,), 1.5),
        tw.empty(1),
        tw.arange(4),
        tw.linspace(0, 1, 3),
        tw.eye(2),
        tw.rand(2),
        tw.randn(2),
        tw.randint(0, 3, (2,)),
        tw.randperm(3),
        tw.tensor([1.0, 2.0]),
        tw.as_tensor([1, 2]),
        tw.normal(0.0, 1.0, (2,)),
        nn.Linear(2, 3).weight,
    ]
    assert all(t.device == dev for t in made), [t.device for t in made]
    assert tw.from_numpy(np.ones(2)).device == tw.device("cpu")  # shares host memory: stays on the CPU
    assert tw.zeros(1, device="cpu").device == tw.device("cpu")
    ds = TensorDataset(tw.arange(6))
    batches = list(DataLoader(ds, batch_size=3, shuffle=True, generator=tw.Generator().manual_seed(0)))
    assert sorted(sum((b[0].tolist() for b in batches), [])) == list(range(6))
    assert len(random_split(ds, [0.5, 0.5])) == 2
    tw.set_default_device(None)
    assert tw.get_default_device() == tw.device("cpu") and tw.zeros(1).device == tw.device("cpu")


def test_set_default_device_refuses_an_unknown_device():
    with pytest.raises((ValueError, RuntimeError)):
        tw.set_default_device("nonsense")
    assert tw.get_default_device() == tw.device("cpu")


# -- Tensor.to ----------------------------------------------------------------------------------------------
def test_to_takes_torchs_argument_forms(device):
    x = tw.tensor([1.5, 2.5])
    dev = tw.device(device)
    assert x.to(device, None).device == dev and x.to(device, None).dtype == tw.float32
    assert x.to(None, tw.float64).dtype == tw.float64 and x.to(None, tw.float64).device == tw.device("cpu")
    assert x.to(None) is x and x.to("cpu", None) is x
    y = x.to(dtype=tw.float64, device=device)
    assert y.dtype == tw.float64 and y.device == dev
    other = tw.zeros(1, dtype=tw.int32, device=device)
    z = x.to(other)
    assert z.dtype == tw.int32 and z.device == dev
    assert x.to(tw.float64, False, True).dtype == tw.float64
    assert x.to("cpu", tw.float32, False, True) is not x  # copy=True
    assert x.to(x) is x and x.to(x, copy=True) is not x
    assert x.to(device=None, dtype=None) is x
    assert x.to(tw.device(device), dtype=tw.float16 if device == "cpu" else tw.float64).device == dev
    w = tw.ones(2, requires_grad=True)
    w.to(device, tw.float64).sum().backward()
    assert w.grad is not None and w.grad.device == tw.device("cpu") and w.grad.dtype == tw.float32
    with pytest.raises(TypeError, match="to\\(\\)"):
        x.to("cpu", tw.float32, "yes")
    with pytest.raises(TypeError, match="unexpected arguments"):
        x.to(devic="cpu")


# -- conveniences -------------------------------------------------------------------------------------------
def test_new_tensor_factories_like_torch(device):
    torch = _torch()
    x = tw.ones(2, dtype=tw.float64, device=device)
    tx = torch.ones(2, dtype=torch.float64)
    for name, args in [("new_zeros", (2, 3)), ("new_ones", ((2, 3),)), ("new_empty", (4,))]:
        t, r = getattr(x, name)(*args), getattr(tx, name)(*args)
        assert t.shape == tuple(r.shape) and t.dtype == tw.float64 and t.device == tw.device(device)
        if name != "new_empty":
            np.testing.assert_array_equal(_host(t), r.numpy())
    f = x.new_full((2,), 7)
    assert f.tolist() == tx.new_full((2,), 7).tolist() and f.dtype == tw.float64
    t = x.new_tensor([1, 2])
    assert t.dtype == tw.float64 and t.device == tw.device(device) and t.tolist() == [1.0, 2.0]
    i = x.new_zeros(3, dtype=tw.int64, requires_grad=False)
    assert i.dtype == tw.int64
    assert x.new_ones(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="non-negative"):
        x.new_zeros(-1)


def test_conversions_and_type_as(device):
    torch = _torch()
    x = tw.tensor([1.7, -2.2, 0.0], device=device)
    tx = torch.tensor([1.7, -2.2, 0.0])
    for name, d in [("long", tw.int64), ("int", tw.int32), ("short", tw.int16), ("char", tw.int8), ("bool", tw.bool)]:
        assert getattr(x, name)().dtype == d
        assert getattr(x, name)().tolist() == getattr(tx, name)().tolist()
    assert tw.tensor([1, 2]).byte().dtype == tw.uint8
    if device == "cpu":
        assert x.half().dtype == tw.float16
    y = tw.zeros(1, dtype=tw.float64, device=device)
    assert tw.tensor([1, 2]).to(device).type_as(y).dtype == tw.float64
    assert tw.tensor([1, 2]).type_as(y).device == tw.device(device)


def test_in_place_ops_like_torch(device):
    torch = _torch()
    a = np.array([[-1.5, 0.5, 2.0], [3.0, -0.25, 1.0]])
    mask = np.array([True, False, True])
    cases = [
        ("clamp_", (-1.0, 1.0), (-1.0, 1.0)),
        ("clamp_min_", (0.0,), (0.0,)),
        ("clamp_max_", (0.7,), (0.7,)),
        ("masked_fill_", (tw.tensor(mask, device=device), 9.0), (torch.from_numpy(mask), 9.0)),
        ("pow_", (2,), (2,)),
    ]
    for name, args, targs in cases:
        x = tw.tensor(a, device=device)
        array = x.array
        r = getattr(x, name)(*args)
        ref = getattr(torch.from_numpy(a.copy()), name)(*targs)
        assert r is x and x.array is array, name
        np.testing.assert_allclose(_host(x), ref.numpy(), err_msg=name)
    assert tw.tensor(a).clip_(0, 1).tolist() == torch.from_numpy(a.copy()).clip_(0, 1).tolist()
    t1, t2 = np.full((2, 3), 2.0), np.full((2, 3), 4.0)
    for name in ("addcmul_", "addcdiv_"):
        x = tw.tensor(a, device=device)
        getattr(x, name)(tw.tensor(t1, device=device), tw.tensor(t2, device=device), value=0.5)
        ref = getattr(torch.from_numpy(a.copy()), name)(torch.from_numpy(t1), torch.from_numpy(t2), value=0.5)
        np.testing.assert_allclose(_host(x), ref.numpy(), err_msg=name)
    x = tw.tensor(a, device=device)
    x.lerp_(tw.zeros(2, 3, dtype=tw.float64, device=device), 0.25)
    np.testing.assert_allclose(_host(x), torch.from_numpy(a.copy()).lerp_(torch.zeros(2, 3, dtype=torch.float64), 0.25))
    ints = tw.tensor([1, 4], device=device)
    with pytest.raises(RuntimeError, match="can't be cast"):
        ints.pow_(0.5)  # a float result into an int tensor, refused as in PyTorch
    with pytest.raises(RuntimeError, match="doesn't match the shape"):
        tw.zeros(3, device=device).masked_fill_(tw.ones(2, 3, dtype=tw.bool, device=device), 1.0)
    w = tw.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w.clamp_(0, 1)
    h = (w * 2).detach_()
    assert h.is_leaf and not h.requires_grad


def test_isclose_allclose_equal_like_torch(device):
    torch = _torch()
    a = np.array([1.0, 2.0, np.inf, -np.inf, np.nan, 1e-9, 5.0])
    b = np.array([1.0 + 1e-6, 2.1, np.inf, np.inf, np.nan, 0.0, 5.0])
    for kwargs in ({}, {"equal_nan": True}, {"rtol": 0.1, "atol": 0.0}):
        got = tw.isclose(tw.tensor(a, device=device), tw.tensor(b, device=device), **kwargs)
        ref = torch.isclose(torch.from_numpy(a), torch.from_numpy(b), **kwargs)
        assert got.dtype == tw.bool and got.tolist() == ref.tolist(), kwargs
    ia, ib = np.array([1, 5, 10]), np.array([1, 6, 10])
    got = tw.isclose(tw.tensor(ia, device=device), tw.tensor(ib, device=device), rtol=0.1)
    assert got.tolist() == torch.isclose(torch.from_numpy(ia), torch.from_numpy(ib), rtol=0.1).tolist()
    x = tw.tensor([1.0, 2.0], device=device)
    assert tw.allclose(x, x + 1e-9) and not tw.allclose(x, x + 1.0) and x.allclose(x)
    assert tw.equal(x, x * 1.0) and not tw.equal(x, x + 1.0) and not tw.equal(x, tw.ones(3, device=device))
    assert x.equal(x) and x.isclose(x).all().item()


def test_no_grad_and_inference_mode_as_bare_decorators():
    w = tw.ones(1, requires_grad=True)

    @tw.no_grad
    def f(x):
        return x * 2

    @tw.inference_mode
    def g(x):
        return tw.is_inference_mode_enabled(), (x * 2).requires_grad

    @tw.inference_mode()
    def h(x):
        return (x * 2).requires_grad

    assert not f(w).requires_grad and f.__name__ == "f"
    assert g(w) == (True, False) and not h(w)
    assert tw.is_grad_enabled() and not tw.is_inference_mode_enabled()
    with tw.inference_mode():
        assert not (w * 2).requires_grad and tw.is_inference_mode_enabled()
    with tw.inference_mode(False):
        assert (w * 2).requires_grad and not tw.is_inference_mode_enabled()
    with tw.enable_grad():
        assert (w * 2).requires_grad


def test_as_tensor_shares_what_it_can(device):
    a = np.arange(3.0)
    t = tw.as_tensor(a)
    a[0] = 10.0
    assert t.tolist()[0] == 10.0  # shared
    assert tw.as_tensor(a, dtype=tw.float32).dtype == tw.float32
    x = tw.ones(2, device=device)
    assert tw.as_tensor(x) is x and tw.as_tensor(x, dtype=tw.float64).dtype == tw.float64
    assert tw.as_tensor([1, 2], device=device).device == tw.device(device)
    assert tw.as_tensor(3.5).item() == 3.5
    assert to_numpy(tw.as_tensor(np.float32(2.0))).dtype == np.float32


# -- more of PyTorch's names: t, roll, select/unbind, masked_select, nonzero, dot/outer/addmm, finfo --------
def test_shape_extras_match_torch(device):
    torch = _torch()
    a = _distinct((3, 4), seed=5)
    x, tx = tw.tensor(a, device=device), torch.from_numpy(a)
    cases = [
        (tw.t(x), torch.t(tx)),
        (x.t(), tx.t()),
        (tw.roll(x, 1, 1), torch.roll(tx, 1, 1)),
        (tw.roll(x, -5), torch.roll(tx, -5)),
        (x.roll((1, 2), (0, 1)), tx.roll((1, 2), (0, 1))),
        (tw.select(x, 1, -1), torch.select(tx, 1, -1)),
        (tw.masked_select(x, x > 0), torch.masked_select(tx, tx > 0)),
        (
            x.masked_select(tw.tensor([True, False, True, False], device=device)),
            tx.masked_select(torch.tensor([True, False, True, False])),
        ),  # fmt: skip
        (tw.nonzero(x > 0), torch.nonzero(tx > 0)),
        (tw.argwhere(x > 0), torch.argwhere(tx > 0)),
        (tw.nonzero(tw.tensor(3.0, device=device)), torch.nonzero(torch.tensor(3.0))),
        (tw.dot(x[0], x[1]), torch.dot(tx[0], tx[1])),
        (tw.outer(x[0], x[1, :3]), torch.outer(tx[0], tx[1, :3])),
        (tw.addmm(x[0], x.T, x, beta=0.5, alpha=2.0), torch.addmm(tx[0], tx.T, tx, beta=0.5, alpha=2.0)),
        ((x @ x.T).addmm(x, x.T, beta=0), (tx @ tx.T).addmm(tx, tx.T, beta=0)),
    ]
    for i, (got, ref) in enumerate(cases):
        assert got.shape == tuple(ref.shape), (i, got.shape, ref.shape)
        np.testing.assert_allclose(_host(got), ref.numpy(), rtol=1e-12, err_msg=str(i))
        assert got.device == tw.device(device)
    for got, ref in zip(tw.unbind(x, 1), torch.unbind(tx, 1), strict=True):
        np.testing.assert_array_equal(_host(got), ref.numpy())
    rows = tw.nonzero(x > 0, as_tuple=True)
    for got, ref in zip(rows, torch.nonzero(tx > 0, as_tuple=True), strict=True):
        np.testing.assert_array_equal(_host(got), ref.numpy())
    with pytest.raises(RuntimeError, match=r"t\(\) expects a tensor with <= 2 dimensions"):
        tw.ones(2, 2, 2, device=device).t()
    with pytest.raises(RuntimeError, match="1D tensors expected"):
        tw.dot(x, x)
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        tw.dot(x[0], x[0, :2])
    with pytest.raises(RuntimeError, match="bool mask"):
        tw.masked_select(x, x)


def test_shape_extras_are_differentiable(device):
    check_op(lambda a: tw.roll(a, 2, 1), lambda a: np.roll(a, 2, 1), [[(3, 4)]], device)
    check_op(lambda a: tw.roll(a, -1), lambda a: np.roll(a, -1), [[(2, 3)]], device)
    check_op(lambda a: tw.select(a, 1, 2), lambda a: a[:, 2], [[(3, 4)]], device)
    check_op(lambda a: tw.stack(tw.unbind(a, 0), 1), lambda a: a.T, [[(3, 2)]], device)
    check_op(lambda a: tw.masked_select(a, a > 0), lambda a: a[a > 0], [[(3, 4)]], device)
    check_op(lambda a, b: tw.dot(a, b), lambda a, b: np.dot(a, b), [[(4,), (4,)]], device)
    check_op(lambda a, b: tw.outer(a, b), np.outer, [[(3,), (2,)]], device)
    check_op(lambda c, a, b: tw.addmm(c, a, b, beta=0.5, alpha=2.0), lambda c, a, b: 0.5 * c + 2.0 * a @ b,
             [[(2, 3), (2, 4), (4, 3)], [(3,), (2, 4), (4, 3)]], device)  # fmt: skip
    check_op(lambda a: tw.t(a), lambda a: a.T, [[(2, 3)]], device)


def test_finfo_and_iinfo_match_torch():
    torch = _torch()
    for name in ("float16", "float32", "float64"):
        got, ref = tw.finfo(getattr(tw, name)), torch.finfo(getattr(torch, name))
        for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(got, field) == getattr(ref, field), (name, field)
        assert got.dtype == str(ref.dtype) == name and repr(got) == repr(ref)
    assert tw.finfo().dtype == "float32" and tw.finfo(tw.complex128).eps == torch.finfo(torch.complex128).eps
    for name in ("int8", "int16", "int32", "int64", "uint8"):
        got, ref = tw.iinfo(getattr(tw, name)), torch.iinfo(getattr(torch, name))
        assert (got.bits, got.min, got.max, got.dtype) == (ref.bits, ref.min, ref.max, ref.dtype), name
    with pytest.raises(TypeError, match="not a floating point"):
        tw.finfo(tw.int64)
    with pytest.raises(TypeError, match="not an integer"):
        tw.iinfo(tw.float32)
    scores = tw.zeros(2, 2).masked_fill(tw.tensor([[False, True], [False, False]]), tw.finfo(tw.float32).min)
    assert scores.softmax(-1).tolist()[0] == [1.0, 0.0]  # the attention-mask idiom


_EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (5, 3, 4)]),
    ("bij,jk->bik", [(2, 2, 3), (3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ijk->ki", [(2, 3, 4)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ab,cd->abcd", [(2, 1), (3, 2)]),
    ("...i,...i->...", [(1, 3), (4, 3)]),
    ("bi,bj->b", [(2, 3), (2, 4)]),
    ("Ab , bC -> CA", [(2, 3), (3, 2)]),
]


@pytest.mark.parametrize("equation,shapes", _EINSUM, ids=[e for e, _ in _EINSUM])
def test_einsum_matches_torch(device, equation, shapes):
    torch = _torch()
    arrays, tensors = make_inputs(shapes, device, seed=4)
    ref = torch.einsum(equation, *map(torch.from_numpy, arrays)).numpy()
    got = tw.einsum(equation, *tensors)
    assert got.shape == ref.shape and got.device == tw.device(device)
    np.testing.assert_allclose(_host(got), ref, rtol=1e-12, atol=1e-12)
    if shapes[0] != (1, 3):  # (its broadcast operand's gradient is summed over the size-1 dim; checked below)
        check_op(
            lambda *ts: tw.einsum(equation, *ts), lambda *a: np.einsum(equation.replace(" ", ""), *a), [shapes], device
        )


def test_einsum_gradients_match_torch_and_errors(device):
    torch = _torch()
    arrays, (a, b) = make_inputs([(1, 3), (4, 3)], device, seed=6)
    tw.einsum("...i,...i->...", a, b).sum().backward()
    ta, tb = (torch.tensor(x, requires_grad=True) for x in arrays)
    torch.einsum("...i,...i->...", ta, tb).sum().backward()
    np.testing.assert_allclose(_host(a.grad), ta.grad.numpy())
    np.testing.assert_allclose(_host(b.grad), tb.grad.numpy())
    x = tw.ones(2, 3, device=device)
    assert tw.einsum("ij->i", [x]).tolist() == [3.0, 3.0]  # the operands as one list, as torch allows
    with pytest.raises(ValueError, match="has 2 operands, but 1"):
        tw.einsum("ij,jk->ik", x)
    with pytest.raises(ValueError, match="names 3 dims"):
        tw.einsum("ijk->i", x)
    with pytest.raises(ValueError, match="sizes 3 and 2"):
        tw.einsum("ij,jk->ik", x, x)
    with pytest.raises(NotImplementedError, match="diagonal"):
        tw.einsum("ii->i", tw.ones(2, 2, device=device))
    with pytest.raises(ValueError, match="letters"):
        tw.einsum("i1->i", x)
