"""Indexing on every backend: ``t[index]`` for every kind of index (values and gradients against
NumPy, repeated indices accumulating), ``t[index] = value``, and the errors; gather, scatter_add,
index_select, masked_fill, embedding and one_hot."""

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
    ints,
    make_inputs,
    numerical_grads,
    to_numpy,
)

MASK0 = np.array([True, False, True])
MASK12 = np.array([[True, False, False, True, False], [False, False, True, True, True], [True] * 5, [False] * 5])
MASK_ALL = np.arange(60).reshape(3, 4, 5) % 7 < 3


def _t(a):
    """An index for the tensor side: NumPy arrays become tensors on the device at call time."""
    return ("tensor", a)


# (index for tw, with ("tensor", array) for an index tensor; the NumPy reference's index or function)
CASES = [
    (1, 1),
    (-1, -1),
    ((1, 2), (1, 2)),
    ((slice(None), 1), (slice(None), 1)),
    ((slice(1, None, 2), slice(None, None, 3)), (slice(1, None, 2), slice(None, None, 3))),
    (slice(-2, None), slice(-2, None)),
    (slice(5, 10), slice(5, 10)),
    ((slice(0, 3, 2), 2, slice(1, 5, 3)), (slice(0, 3, 2), 2, slice(1, 5, 3))),
    ((None, 1, None, slice(1, 3)), (None, 1, None, slice(1, 3))),
    ((Ellipsis, 2), (Ellipsis, 2)),
    ((1, Ellipsis, None), (1, Ellipsis, None)),
    (Ellipsis, Ellipsis),
    ([0, 2, 2], [0, 2, 2]),  # a list; repeated rows accumulate their gradients
    ([], np.array([], dtype=np.int64)),
    (_t(np.array([[0, 1], [2, 2]])), np.array([[0, 1], [2, 2]])),
    ((slice(None), _t(np.array([3, 0, 3, -1]))), (slice(None), [3, 0, 3, -1])),
    ((_t(np.array([0, 2])), _t(np.array([1, 3]))), ([0, 2], [1, 3])),
    ((_t(np.array([0, 2, 0])), slice(None), _t(np.array([1, 4, 1]))), ([0, 2, 0], slice(None), [1, 4, 1])),
    # an int is basic indexing in PyTorch (NumPy would put the index dim first here)
    ((1, slice(None), _t(np.array([0, 4, 4]))), lambda a: a[1][:, [0, 4, 4]]),
    ((_t(np.array([[0], [2]])), slice(1, 3), _t(np.array([1, 1, 4]))), ([[0], [2]], slice(1, 3), [1, 1, 4])),
    ((Ellipsis, _t(np.array([0, 0]))), (Ellipsis, [0, 0])),
    (_t(np.array(2)), 2),
    ((None, _t(np.array([1, 2])), None), (None, [1, 2], None)),
    ((slice(1, None), _t(np.array([[1, 1], [2, 0]])), 3), (slice(1, None), [[1, 1], [2, 0]], 3)),
    (_t(MASK0), MASK0),
    ([True, False, True], MASK0),
    (_t(MASK_ALL), MASK_ALL),
    ((slice(None), _t(MASK12)), (slice(None), MASK12)),
    ((_t(MASK0), slice(None), _t(np.array([1, 2]))), (MASK0, slice(None), [1, 2])),
    ((_t(MASK0), _t(np.array([1, 3]))), (MASK0, [1, 3])),
    ((2, _t(MASK12)), (2, MASK12)),
    ((None, _t(MASK0), Ellipsis, slice(0, 5, 2)), (None, MASK0, Ellipsis, slice(0, 5, 2))),
]


def _tw_index(index, device):
    def one(k):
        if isinstance(k, tuple) and k and k[0] == "tensor":
            return tw.tensor(k[1], device=device)
        return k

    if isinstance(index, tuple) and not (index and index[0] == "tensor"):
        return tuple(one(k) for k in index)
    return one(index)


@pytest.mark.parametrize("index, ref", CASES, ids=[str(i) for i in range(len(CASES))])
def test_getitem(index, ref, device):
    np_fn = ref if callable(ref) else (lambda a: a[ref])
    check_op(lambda a: a[_tw_index(index, device)], np_fn, [((3, 4, 5),)], device)


@pytest.mark.parametrize(
    "index, shape",
    [(Ellipsis, ()), (None, ()), ((None, Ellipsis, None), ()), (0, (4,)), ([3, 3, 0, 3], (4,)), (slice(1, 3), (4,))],
)
def test_getitem_small_tensors(index, shape, device):
    check_op(lambda a: a[index], lambda a: a[index], [(shape,)], device)


def test_repeated_indices_accumulate(device):
    x = tw.zeros(4, device=device, requires_grad=True)
    x[tw.tensor([1, 1, 1, 3], device=device)].sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0, 1.0]


def test_iteration_and_len(device):
    x = tw.arange(6.0, device=device).reshape(3, 2)
    rows = [r.tolist() for r in x]
    assert rows == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


def test_second_order_through_indexing(device):
    # x.grad = scatter(v) is itself differentiable; its gradient is the gather of the upstream gradient
    x = tw.zeros(3, 2, device=device, dtype=tw.float64, requires_grad=True)
    v = tw.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device, dtype=tw.float64, requires_grad=True)
    y = x[tw.tensor([2, 0, 2], device=device)]
    y.backward(gradient=v, create_graph=True)
    g = x.grad
    assert g.tolist() == [[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]]
    (g * tw.tensor([[1.0, 10.0], [100.0, 1000.0], [0.5, 0.25]], device=device, dtype=tw.float64)).sum().backward()
    assert v.grad.tolist() == [[0.5, 0.25], [1.0, 10.0], [0.5, 0.25]]
    w = tw.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    z = tw.zeros(2, 3, device=device, requires_grad=True)
    z[1:, ::2].backward(gradient=w[:, :2], create_graph=True)
    (z.grad * tw.tensor([[1.0, 1.0, 1.0], [5.0, 6.0, 7.0]], device=device)).sum().backward()
    assert w.grad.tolist() == [[5.0, 7.0, 0.0]]


def test_basic_indexes_and_masks_make_no_transfers(device):
    b = tw.backends.get_backend(device)
    x = tw.arange(12.0, device=device).reshape(3, 4)
    m = x > 5.0
    i = tw.tensor([0, 2], device=device)
    before = b.transfers
    x[1:, None, ::2]
    x[m]
    x[..., 1]
    assert b.transfers == before
    x[i]  # NOTE: one bool of the bounds check reaches the host
    assert b.transfers == before + 1


# -- t[index] = value -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "index, value",
    [
        (1, 7.0),
        ((slice(None), 2), [1.0, 2.0, 3.0]),
        ((slice(0, 3, 2), slice(1, None)), np.arange(6.0).reshape(2, 3)),
        ((None, 0), np.arange(4.0).reshape(1, 1, 4)),
        (Ellipsis, 0.5),
        ((0, 0), 9),
        ([2, 0], np.arange(8.0).reshape(2, 4)),
        ((slice(None), [3, 1]), np.array([[1.0], [2.0], [3.0]])),
        (([0, 2, 1], [1, 1, 3]), np.array([5.0, 6.0, 7.0])),
        (([0, 0, 2], [1, 1, 3]), 4.0),  # repeated, with equal values
        ("mask", -1.0),
        ("mask", "count"),
        ((MASK0, slice(1, 3)), np.array([10.0, 20.0])),
        ((1, [True, False, True, True]), np.array([1.0, 2.0, 3.0])),
    ],
)
def test_setitem(index, value, device):
    ref = np.arange(12.0).reshape(3, 4)
    if isinstance(index, str):
        index = ref % 3 == 0
        if value == "count":
            value = np.arange(float(index.sum()))
    x = tw.tensor(ref, device=device)
    tw_index = (
        tuple(tw.tensor(k, device=device) if isinstance(k, np.ndarray) else k for k in index)
        if isinstance(index, tuple)
        else (tw.tensor(index, device=device) if isinstance(index, np.ndarray) else index)
    )
    tw_value = tw.tensor(value, device=device) if isinstance(value, np.ndarray) else value
    alias = x.detach()  # shares storage: the assignment happens in place
    x[tw_index] = tw_value
    ref[index] = value
    assert x.device == tw.device(device) and x.dtype == tw.float64
    np.testing.assert_array_equal(x.numpy(), ref)
    np.testing.assert_array_equal(alias.numpy(), ref)


def test_setitem_mask_and_0d(device):
    x = tw.tensor([[-1.0, 2.0], [3.0, -4.0]], device=device)
    x[x < 0] = 0.0
    assert x.tolist() == [[0.0, 2.0], [3.0, 0.0]]
    s = x.sum()  # may be held as an immutable NumPy scalar
    s[...] = 5.0
    assert s.item() == 5.0
    s[None] = tw.tensor([7.0], device=device)
    assert s.item() == 7.0


def test_setitem_last_of_repeated_indices_wins(device):
    x = tw.zeros(4, device=device)
    x[tw.tensor([1, 3, 1], device=device)] = tw.tensor([1.0, 2.0, 3.0], device=device)
    assert x.tolist() == [0.0, 3.0, 0.0, 2.0]


def test_setitem_casts_to_the_tensor_dtype(device):
    x = tw.zeros(3, dtype=tw.int64, device=device)
    x[0] = 2.7
    x[1:] = tw.tensor([-1.5, 4.0], device=device)
    assert x.dtype == tw.int64 and x.tolist() == [2, -1, 4]
    with pytest.raises(TypeError, match="complex"):
        x[0] = 1j


def test_setitem_requires_grad_only_outside_the_graph(device):
    w = tw.zeros(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w[0] = 1.0
    with tw.no_grad():
        w[tw.tensor([0, 2], device=device)] = 1.0
    assert w.tolist() == [1.0, 0.0, 1.0] and w.requires_grad
    x = tw.zeros(3, device=device)
    with pytest.raises(RuntimeError, match="detach"):
        x[0] = tw.ones((), device=device, requires_grad=True)


@pytest.mark.parametrize(
    "index, value, err",
    [
        ([0, 5], 1.0, IndexError),
        ((slice(None), "int_tensor"), 1.0, IndexError),
        ([0, 1], [1.0, 2.0, 3.0], RuntimeError),
        (slice(0, 2), [[1.0, 2.0, 3.0]], RuntimeError),
        ((0, 0, 0), 1.0, IndexError),
        (0, "text", TypeError),
    ],
)
def test_setitem_errors_leave_the_tensor_unchanged(index, value, err, device):
    x = tw.arange(12.0, device=device).reshape(3, 4)
    if isinstance(index, tuple) and index[-1] == "int_tensor":
        index = (slice(None), tw.tensor([1, 4], device=device))
    with pytest.raises(err):
        x[index] = value
    assert x.tolist() == np.arange(12.0).reshape(3, 4).tolist()


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "index, err, pattern",
    [
        (3, IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
        ((0, -5), IndexError, "index -5 is out of bounds for dimension 1 with size 4"),
        ([0, 3], IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
        ((slice(None), [1, -5]), IndexError, "index -5 is out of bounds for dimension 1"),
        ("tensor_high", IndexError, "index 4 is out of bounds for dimension 1 with size 4"),
        ("tensor_low", IndexError, "index -9 is out of bounds for dimension 2 with size 5"),
        ((0, 0, 0, 0), IndexError, "too many indices"),
        ((Ellipsis, 0, Ellipsis), IndexError, "single ellipsis"),
        (slice(None, None, -1), ValueError, "step must be greater than zero"),
        (slice(None, None, 0), ValueError, "step must be greater than zero"),
        (1.5, IndexError, "got float"),
        (True, IndexError, "Python bool"),
        ("float_tensor", IndexError, "integer .* or bool tensors"),
        ("bad_mask", IndexError, r"mask \(4,\) does not match the shape \(3,\)"),
        ("broadcast", IndexError, r"could not be broadcast together with shapes \(2,\), \(3,\)"),
        ([0, 1.5], IndexError, "only ints or only bools"),
    ],
)
def test_getitem_errors(index, err, pattern, device):
    x = tw.zeros(3, 4, 5, device=device)
    special = {
        "tensor_high": lambda: (slice(None), tw.tensor([0, 4, 1], device=device)),
        "tensor_low": lambda: (0, slice(None), tw.tensor([[1], [-9]], device=device)),
        "float_tensor": lambda: tw.tensor([0.0], device=device),
        "bad_mask": lambda: tw.tensor([True, False, True, True], device=device),
        "broadcast": lambda: (tw.tensor([0, 1], device=device), tw.tensor([0, 1, 2], device=device)),
    }
    if isinstance(index, str):
        index = special[index]()
    with pytest.raises(err, match=pattern):
        x[index]


def test_index_tensor_on_another_device(device):
    other = "strict" if device == "cpu" else "cpu"  # every device meets another one
    x = tw.zeros(3, device=device)
    with pytest.raises(RuntimeError, match=f"on {device}.*on {other}"):
        x[tw.tensor([0, 1], device=other)]


def np_gather(x, dim, index):
    idx = np.indices(index.shape)
    idx[dim] = index
    return x[tuple(idx)]


GATHER_CASES = [
    ((3, 4), 1, [[0, 3], [2, 2], [1, 0]]),
    ((3, 4), 0, [[2, 0, 1, 1], [0, 0, 2, 1]]),
    ((3, 4), -1, [[1], [3]]),  # index smaller than x along the other dim
    ((2, 3, 4), 2, np.random.default_rng(0).integers(0, 4, (2, 2, 5))),
]


@pytest.mark.parametrize("shape, dim, index", GATHER_CASES)
def test_gather(shape, dim, index, device):
    index = np.asarray(index)
    check_op(
        lambda x: tw.gather(x, dim, ints(index, device)),
        lambda x: np_gather(x, dim % len(shape), index),
        [(shape,)],
        device,
    )
    check_op(
        lambda x: x.gather(dim, ints(index, device)),
        lambda x: np_gather(x, dim % len(shape), index),
        [(shape,)],
        device,
    )


def np_scatter_add(x, dim, index, src):
    out = x.copy()
    idx = np.indices(index.shape)
    idx[dim] = index
    np.add.at(out, tuple(idx), src[tuple(np.indices(index.shape))])
    return out


SCATTER_CASES = [
    ((3, 4), 1, [[0, 0, 3], [2, 2, 2], [1, 0, 1]], (3, 3)),  # repeated indices accumulate
    ((3, 4), 0, [[2, 2, 1, 0], [2, 0, 2, 1]], (2, 4)),
    ((3, 4), 1, [[3], [0]], (3, 2)),  # src larger than index: only its leading block is used
    ((2, 3, 2), 1, np.random.default_rng(1).integers(0, 3, (2, 4, 2)), (2, 4, 2)),
]


@pytest.mark.parametrize("shape, dim, index, src_shape", SCATTER_CASES)
def test_scatter_add(shape, dim, index, src_shape, device):
    index = np.asarray(index)
    check_op(
        lambda x, s: tw.scatter_add(x, dim, ints(index, device), s),
        lambda x, s: np_scatter_add(x, dim, index, s),
        [(shape, src_shape)],
        device,
    )


def test_gather_scatter_double_backward(device):
    # h = sum(v * d/dx sum(u * gather(x)**2)) = sum(v * scatter(2 * u * gather(x))): both ops' backwards
    index = np.array([[0, 2, 2], [1, 0, 0]])
    (a,), (x,) = make_inputs([(2, 3)], device, seed=3)
    u, v = np.arange(1.0, 7.0).reshape(2, 3), np.arange(6.0, 0.0, -1.0).reshape(2, 3)
    g = tw.gather(x, 1, ints(index, device))
    (gx,) = grads_with_graph(g * g, [x], consts(u, device))
    (gx * consts(v, device)).sum().backward()
    (expected,) = numerical_grads(
        lambda a: np_scatter_add(np.zeros_like(a), 1, index, 2 * u * np_gather(a, 1, index)), [a], v
    )
    np.testing.assert_allclose(to_numpy(x.grad), expected, rtol=1e-5, atol=1e-6)


def test_index_out_of_range_raises(device):
    x = tw.zeros(2, 3, device=device)
    with pytest.raises(IndexError):
        tw.gather(x, 1, ints([[0, 3], [1, 1]], device))
    with pytest.raises(IndexError):
        tw.gather(x, 1, ints([[0, -1], [1, 1]], device))
    with pytest.raises(IndexError):
        tw.scatter_add(x, 0, ints([[0, 2, 1]], device), tw.ones(1, 3, device=device))
    with pytest.raises(RuntimeError, match="exceeds"):
        tw.gather(x, 1, ints([[0], [0], [0]], device))


@pytest.mark.parametrize("dim, index", [(0, [2, 0, 2]), (1, [3, 3, 0, 1, 3]), (-1, [1]), (0, 2)])
def test_index_select(dim, index, device):
    index_np = np.asarray(index)
    check_op(
        lambda x: tw.index_select(x, dim, ints(index, device)),
        lambda x: np.take(x, np.reshape(index_np, -1), axis=dim),
        [((3, 4),)],
        device,
    )
    check_op(lambda x: x.index_select(0, ints([0], device)), lambda x: x, [((),)], device)  # 0-d stays 0-d


def test_masked_fill(device):
    mask_np = np.array([[True, False, False, True], [False, False, True, False], [True, True, True, True]])

    def ref(x):
        return np.where(mask_np, -7.5, x)

    check_op(lambda x: tw.masked_fill(x, tw.tensor(mask_np, device=device), -7.5), ref, [((3, 4),)], device)
    check_op(
        lambda x: x.masked_fill(tw.tensor(mask_np[0], device=device), 2.0),
        lambda x: np.where(mask_np[0], 2.0, x),
        [((3, 4),)],
        device,
    )
    check_op(
        lambda x, v: tw.masked_fill(x, tw.tensor(mask_np, device=device), v),
        lambda x, v: np.where(mask_np, v, x),
        [((3, 4), ())],
        device,
    )
    x = consts([1.0, 2.0], device)
    y = tw.masked_fill(x, tw.tensor([True, False], device=device), float("-inf"))
    assert to_numpy(y).tolist() == [float("-inf"), 2.0]
    with pytest.raises(TypeError, match="boolean"):
        tw.masked_fill(x, ints([1, 0], device), 0.0)
    m, i, f = tw.tensor([True, False], device=device), ints([3, 4], device), tw.tensor([False, False], device=device)
    before = x._backend.transfers
    assert tw.masked_fill(i, m, 7).tolist() == [7, 4]
    assert tw.masked_fill(f, m, True).tolist() == [True, False]
    assert x._backend.transfers == before + 2  # only the two tolist() calls
    with pytest.raises(TypeError, match="can't be stored"):
        tw.masked_fill(ints([3, 4], device), m, 0.5)


def test_embedding(device):
    idx = np.array([[1, 3, 1], [0, 1, 4]])
    check_op(lambda w: F.embedding(ints(idx, device), w), lambda w: w[idx], [((5, 2),)], device)
    # padding_idx: same values, but the padding row gets no gradient
    w = tw.tensor(np.arange(10.0).reshape(5, 2), device=device, requires_grad=True)
    out = F.embedding(ints(idx, device), w, padding_idx=1)
    np.testing.assert_array_equal(to_numpy(out), np.arange(10.0).reshape(5, 2)[idx])
    out.sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad)[:, 0], [1, 0, 0, 1, 1])


def test_one_hot(device):
    x = ints([[0, 2], [3, 1]], device)
    expected = np.eye(4, dtype=np.int64)[[[0, 2], [3, 1]]]
    y = F.one_hot(x, 4)
    assert y.dtype == tw.int64 and y.device == tw.device(device)
    np.testing.assert_array_equal(to_numpy(y), expected)
    b = x._backend
    before = b.transfers
    y = F.one_hot(x)  # num_classes inferred: exactly one host copy
    assert b.transfers - before == 1
    np.testing.assert_array_equal(to_numpy(y), expected)
    before = b.transfers
    F.one_hot(x, 4)
    assert b.transfers == before
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(consts([1.0], device), 3)


_IDX = np.array([[0, 2, 2], [1, 0, 3]])


SECOND_ORDER = {
    "gather": (lambda x: tw.gather(x, 1, ints(_IDX, x.device)) ** 2, [(2, 4)]),
    "scatter_add": (lambda x, s: tw.scatter_add(x, 1, ints(_IDX, x.device), s * s), [(2, 4), (2, 3)]),
    "embedding": (lambda w: F.embedding(ints(_IDX, w.device), w) ** 2, [(4, 2)]),
    "masked_fill": (lambda x: tw.masked_fill(x * x, tw.tensor(_IDX > 1, device=x.device), 3.0), [(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name, device):
    check_second_order(*SECOND_ORDER[name], device)


# -- issue 9: out-of-range indexes raise PyTorch's exception on every host backend ---------------
def test_gather_scatter_out_of_range_name_index_dim_and_size(device):
    x = tw.zeros(3, 3, device=device, dtype=tw.float64)
    for fn in (
        lambda i: tw.gather(x, 0, i),
        lambda i: tw.scatter_add(x, 0, i, tw.ones(1, 3, device=device, dtype=tw.float64)),
    ):
        for bad in (3, -1):
            with pytest.raises(RuntimeError, match=f"index {bad} is out of bounds for dimension 0 with size 3"):
                fn(ints([[bad, 0, 0]], device))
            with pytest.raises(IndexError):  # what tensorweaver raised before: both catch it
                fn(ints([[bad, 0, 0]], device))


def test_index_select_and_embedding_reject_negative_and_large_indexes(device):
    x = consts(np.eye(3), device)
    for bad in (-1, 3):
        with pytest.raises(IndexError, match=f"index {bad} out of range"):
            tw.index_select(x, 0, ints([bad], device))
        with pytest.raises(IndexError, match=f"index {bad} out of range"):
            F.embedding(ints([0, bad], device), x)
    with pytest.raises(RuntimeError, match="class values"):
        F.one_hot(ints([0, 4], device), 4)


def test_index_dtype_error_is_a_runtime_error_and_a_type_error(device):
    x = consts(np.eye(3), device)
    for fn in (
        lambda i: tw.index_select(x, 0, i),
        lambda i: tw.gather(x, 0, i.reshape(1, 1)),
        lambda i: F.embedding(i, x),
    ):
        with pytest.raises(RuntimeError, match="float64"):
            fn(consts([0.0], device))
        with pytest.raises(TypeError):
            fn(consts([0.0], device))


def test_debug_indices_switch_and_context():
    from tensorweaver._args import index_checks

    assert not index_checks.debug
    with tw.utils.debug_indices():
        assert index_checks.debug
        with tw.utils.debug_indices(False):
            assert not index_checks.debug
        assert index_checks.debug
    assert not index_checks.debug
    tw.utils.debug_indices()
    assert index_checks.debug
    tw.utils.debug_indices(False)
    assert not index_checks.debug


def test_index_checks_cost_no_counted_transfer_on_host_backends(device):
    x = consts(np.eye(3), device)
    i2, i1 = ints([[0, 1, 2]], device), ints([2, 0], device)
    b = x._backend
    before = b.transfers
    tw.gather(x, 0, i2)
    tw.index_select(x, 0, i1)
    F.embedding(i1, x)
    F.cross_entropy(x, i1[:1].expand(3))
    assert b.transfers == before
