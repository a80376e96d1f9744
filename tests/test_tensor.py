"""Tensor: construction, dtype rules, .data/.grad, conversions, repr, NumPy interop, factories, errors."""

from __future__ import annotations

import re

import array_api_strict
import numpy as np
import pytest

import tensorweaver as tw


def values(t: tw.Tensor) -> np.ndarray:
    return t.detach().numpy()


# -- construction ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, dtype, shape",
    [
        (3.0, tw.float32, ()),
        (3, tw.int64, ()),
        (True, tw.bool, ()),
        (1 + 2j, tw.complex64, ()),
        ([1.0, 2.0], tw.float32, (2,)),
        ([1, 2.5], tw.float32, (2,)),
        ([[1, 2], [3, 4]], tw.int64, (2, 2)),
        ([[True], [False]], tw.bool, (2, 1)),
        ([], tw.float32, (0,)),
        (np.arange(6, dtype=np.float64).reshape(2, 3), tw.float64, (2, 3)),
        (np.arange(3, dtype=np.int32), tw.int32, (3,)),
        (np.array([True, False]), tw.bool, (2,)),
        (np.float64(2.0), tw.float64, ()),
        (np.float32(2.0), tw.float32, ()),
    ],
)
def test_constructor_dtype_and_shape(data, dtype, shape, device):
    for t in (tw.tensor(data, device=device), tw.Tensor(data, device=device)):
        assert t.dtype is dtype
        assert t.shape == shape
        assert t.device == tw.device(device)
        np.testing.assert_array_equal(values(t), np.asarray(data).astype(dtype.name))
        assert not t.requires_grad and t.grad is None and t.grad_fn is None and t.is_leaf


def test_constructor_copies_numpy_data(device):
    a = np.array([1.0, 2.0])
    t = tw.tensor(a, device=device)
    a[0] = 100.0
    assert values(t).tolist() == [1.0, 2.0]


def test_constructor_from_backend_arrays():
    strict = array_api_strict.asarray([1.0, 2.0], device=array_api_strict.Device("device1"))
    t = tw.tensor(strict)
    assert t.device == "strict" and t.dtype is tw.float64 and t.array is not strict
    assert values(t).tolist() == [1.0, 2.0]
    moved = tw.tensor(strict, device="cpu", dtype=tw.float32)
    assert moved.device == "cpu" and moved.dtype is tw.float32 and isinstance(moved.array, np.ndarray)


def test_constructor_from_tensor_copies_and_detaches(device):
    src = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    t = tw.tensor(src)
    assert t.device == src.device and not t.requires_grad and t.array is not src.array
    t += 1.0
    assert values(src).tolist() == [1.0, 2.0]
    assert tw.Tensor(src, dtype=tw.float64).dtype is tw.float64
    other = "cpu" if device != "cpu" else "strict"
    moved = tw.tensor(src, device=other)
    assert moved.device == tw.device(other) and values(moved).tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "spec, dtype",
    [
        (tw.float64, tw.float64),
        ("float64", tw.float64),
        (np.float64, tw.float64),
        (np.dtype("float64"), tw.float64),
        ("double", tw.float64),
        ("float", tw.float32),
        (float, tw.float64),  # Python's types mean what they mean in PyTorch
        (int, tw.int64),
        (bool, tw.bool),
        (np.int32, tw.int32),
        ("long", tw.int64),
    ],
)
def test_dtype_argument_spellings(spec, dtype, device):
    assert tw.tensor([1, 2], dtype=spec, device=device).dtype is dtype
    if not isinstance(spec, str):  # a string in .to() is a device, as in PyTorch
        assert tw.zeros(2, device=device).to(spec).dtype is dtype


def test_default_dtype(device):
    assert tw.get_default_dtype() is tw.float32
    tw.set_default_dtype(tw.float64)
    assert tw.get_default_dtype() is tw.float64
    assert tw.tensor(1.5, device=device).dtype is tw.float64
    assert tw.tensor([1, 2.5], device=device).dtype is tw.float64
    assert tw.zeros(2, device=device).dtype is tw.float64
    assert tw.tensor(1, device=device).dtype is tw.int64  # ints don't follow the default
    assert tw.tensor(np.float32(1), device=device).dtype is tw.float32  # NumPy keeps its dtype
    assert (tw.tensor([1, 2], device=device) * 2.5).dtype is tw.float64
    with pytest.raises(TypeError, match="floating-point"):
        tw.set_default_dtype(tw.int64)


# -- promotion --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "a, b, result",
    [
        (tw.float32, tw.float64, tw.float64),
        (tw.float64, tw.float32, tw.float64),
        (tw.int64, tw.float32, tw.float32),
        (tw.int32, tw.int64, tw.int64),
        (tw.bool, tw.int64, tw.int64),
        (tw.bool, tw.float32, tw.float32),
        (tw.float64, tw.complex64, tw.complex128),
        (tw.uint8, tw.int8, tw.int16),
    ],
)
def test_tensor_tensor_promotion(a, b, result, device):
    x = tw.ones(3, dtype=a, device=device)
    y = tw.ones(3, dtype=b, device=device)
    assert tw.promote_types(a, b) is result
    for out in (x * y, x + y, y - x):
        assert out.dtype is result and out.device == tw.device(device)


@pytest.mark.parametrize("wide_grad", [True, False])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
def test_mixed_float_ops_give_each_input_a_gradient_of_its_own_dtype(op, wide_grad, device):
    # float32 data against float64 weights (the chapter's loop): the backend promotes the constant
    # operand itself; the operand that requires grad still gets its gradient in its own dtype.
    import operator

    f = getattr(operator, op)
    a = np.array([[1.5], [2.0], [0.5]])
    w = np.array([0.75, 1.25])
    x = tw.tensor(a.astype(np.float32), device=device, requires_grad=not wide_grad)
    y = tw.tensor(w, device=device, requires_grad=wide_grad)
    for out in (f(x, y), f(y, x)):
        assert out.dtype is tw.float64 and out.device == tw.device(device)
        out.sum().backward()
    leaf, other = (y, x) if wide_grad else (x, y)
    assert other.grad is None
    assert leaf.grad.dtype is leaf.dtype and leaf.grad.device == tw.device(device)
    # reference: float64 PyTorch-style gradients by central differences of the same expression
    a32 = a.astype(np.float32).astype(np.float64)

    def total(av, wv):
        return f(av, wv).sum() + f(wv, av).sum()

    eps = 1e-6
    base = (a32, w)
    k = 1 if wide_grad else 0
    num = np.zeros_like(base[k])
    for i in np.ndindex(num.shape):
        hi = [v.copy() for v in base]
        lo = [v.copy() for v in base]
        hi[k][i] += eps
        lo[k][i] -= eps
        num[i] = (total(*hi) - total(*lo)) / (2 * eps)
    np.testing.assert_allclose(leaf.grad.detach().numpy(), num, rtol=1e-4)


@pytest.mark.parametrize("wide_grad", [True, False])
def test_mixed_float_matmul_gives_each_input_a_gradient_of_its_own_dtype(wide_grad, device):
    a = np.array([[1.5, -2.0], [0.5, 3.0], [2.0, 1.0]])
    w = np.array([[0.75, 1.25], [-0.5, 2.0]])
    x = tw.tensor(a.astype(np.float32), device=device, requires_grad=not wide_grad)
    y = tw.tensor(w, device=device, requires_grad=wide_grad)
    out = x @ y.T
    assert out.dtype is tw.float64 and out.device == tw.device(device)
    ((out * out).sum() + (y @ x.T).sum()).backward()
    a = a.astype(np.float32).astype(np.float64)
    p = a @ w.T
    if wide_grad:  # d/dw of sum((a w^T)^2) + sum(w a^T)
        expected, leaf = 2 * p.T @ a + np.ones((2, 3)) @ a, y
    else:
        expected, leaf = 2 * p @ w + np.ones((3, 2)) @ w, x
    assert leaf.grad.dtype is leaf.dtype and leaf.grad.device == tw.device(device)
    assert (x if wide_grad else y).grad is None
    np.testing.assert_allclose(leaf.grad.detach().numpy(), expected, rtol=1e-6)


def test_promote_types_matches_pytorch():
    torch = pytest.importorskip("torch")
    for a in tw._dtypes.ALL:
        for b in tw._dtypes.ALL:
            expected = str(torch.promote_types(getattr(torch, a.name), getattr(torch, b.name)))
            assert expected == f"torch.{tw.promote_types(a, b).name}", (a, b)


@pytest.mark.parametrize(
    "dtype, scalar, result",
    [
        (tw.float32, 2.0, tw.float32),
        (tw.float32, 2, tw.float32),
        (tw.float64, 2.0, tw.float64),
        (tw.int64, 2, tw.int64),
        (tw.int64, 2.5, tw.float32),
        (tw.int32, 2, tw.int32),
        (tw.float32, np.float64(2.0), tw.float32),
    ],
)
def test_python_scalar_never_promotes_within_kind(dtype, scalar, result, device):
    x = tw.ones(2, dtype=dtype, device=device)
    for out in (x * scalar, scalar * x, x + scalar, x - scalar, scalar - x):
        assert out.dtype is result, (out.dtype, result)
    np.testing.assert_allclose(values(x * scalar), [float(scalar)] * 2)


# -- .data and .grad ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3), ()])
def test_data_shares_storage_and_updates_in_place(shape, device):
    w = tw.ones(*shape, device=device, requires_grad=True)
    (w * 3.0).sum().backward()
    d = w.data
    assert d.array is w.array and not d.requires_grad and d.grad_fn is None and d.is_leaf
    before = w.array
    w.data -= 0.5 * w.grad
    np.testing.assert_allclose(values(w), np.full(shape, -0.5))
    assert w.requires_grad and w.is_leaf
    assert w.array is before
    w.data = tw.full(shape, 7.0, device=device)
    np.testing.assert_allclose(values(w), np.full(shape, 7.0))
    w.grad = None
    assert w.grad is None


def test_zero_dim_results_hold_arrays(device):
    """NumPy returns scalars for 0-d operations; tensors must still hold (mutable) arrays."""
    b = tw.tensor(1.0, device=device, requires_grad=True)
    (b * 2.0).backward()
    b.data = b.data - 0.25 * b.grad  # an op result becomes the leaf's storage
    b.data -= 0.25 * b.grad  # then the usual in-place update
    assert b.item() == 0.0
    loss = (tw.tensor([1.0, 2.0], device=device) * 2.0).sum()
    if device == "cpu":
        assert isinstance(loss.array, np.ndarray) and isinstance(b.grad.array, np.ndarray)
    running = loss.detach()
    running += 1.0
    running *= 2
    assert running.item() == 14.0


def test_data_assignment_checks():
    w = tw.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="Tensor"):
        w.data = np.zeros(2)
    with pytest.raises(RuntimeError, match="strict"):
        w.data = tw.zeros(2, device="strict")
    with pytest.raises(RuntimeError, match=r"shape \(3,\)"):
        w.grad = tw.zeros(3)
    with pytest.raises(TypeError, match="Tensor or None"):
        w.grad = [0.0, 0.0]
    w.grad = tw.full((2,), 2.0)
    assert values(w.grad).tolist() == [2.0, 2.0]


# -- attributes and conversions -------------------------------------------------------------------
def test_attributes(device):
    t = tw.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2 and len(t) == 2
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-1) == 3 and t.numel() == 6
    assert t.dtype is tw.float32 and t.dtype == tw.float32 and t.is_floating_point()
    assert t.device == tw.device(device) and t.is_cuda is (device == "cuda")
    assert t.T.shape == (3, 2) and values(t.T).tolist() == [[1, 4], [2, 5], [3, 6]]
    assert tw.ones(4, 2, 3, device=device).mT.shape == (4, 3, 2)
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert isinstance(t.numpy(), np.ndarray) and t.numpy().dtype == np.float32
    with pytest.raises(IndexError, match=r"\[-2, 1\]"):
        t.size(2)


def test_iteration(device):
    x = tw.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    rows = list(x)
    assert len(rows) == 2 and rows[1].device == tw.device(device) and values(rows[1]).tolist() == [3.0, 4.0]
    (rows[0] * rows[1]).sum().backward()  # the rows keep the graph
    assert values(x.grad).tolist() == [[3.0, 4.0], [1.0, 2.0]]
    with pytest.raises(TypeError, match="0-d"):
        list(tw.tensor(1.0, device=device))
    with pytest.raises(TypeError, match="0-d"):
        len(tw.tensor(1.0, device=device))


def test_raw_array_attribute(device):
    t = tw.tensor([1.0, 2.0], device=device)
    if device == "strict":
        assert type(t.array).__module__.startswith("array_api_strict")
        assert t.array.device == array_api_strict.Device("device1")
    elif device == "cpu":
        assert isinstance(t.array, np.ndarray)


def test_item_and_format(device):
    s = tw.tensor([[3.14159]], device=device)
    assert s.item() == pytest.approx(3.14159, rel=1e-6) and isinstance(s.item(), float)
    assert f"{s:.4f}" == "3.1416" and f"{tw.tensor(7, device=device):d}" == "7"
    assert isinstance(tw.tensor(7, device=device).item(), int) and int(tw.tensor(7.9, device=device)) == 7
    assert bool(tw.tensor(1.0, device=device)) is True and float(s) == pytest.approx(3.14159)
    with pytest.raises(RuntimeError, match="2 elements"):
        tw.tensor([1.0, 2.0], device=device).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tw.tensor([1.0, 2.0], device=device))


def test_numpy_refuses_a_tensor_that_requires_grad(device):
    t = tw.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        t.numpy()
    assert t.detach().numpy().tolist() == [1.0]


def test_repr_like_pytorch():
    assert repr(tw.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tw.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(tw.tensor(3.0)) == "tensor(3.)"
    assert repr(tw.tensor([0.5, 1.25])) == "tensor([0.5000, 1.2500])"
    assert repr(tw.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(tw.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2.0) == "tensor([2., 4.], grad_fn=<MulScalarBackward>)"
    assert repr(tw.tensor([1.0], dtype=tw.float64)) == "tensor([1.], dtype=tensorweaver.float64)"
    assert repr(tw.tensor([1.0], device="strict")) == "tensor([1.], device='strict')"
    assert str(tw.tensor([True])) == "tensor([ True])"
    assert repr(tw.zeros(0)) == "tensor([])"
    assert repr(tw.zeros(0, dtype=tw.int64)) == "tensor([], dtype=tensorweaver.int64)"
    assert repr(tw.zeros(2, 0)) == "tensor([], size=(2, 0))"
    assert repr(tw.tensor([1 + 2j])) == "tensor([1.+2.j])"
    tw.set_default_dtype(tw.float64)
    assert repr(tw.tensor([1.0], dtype=tw.float32)) == "tensor([1.], dtype=tensorweaver.float32)"
    assert repr(tw.tensor([1.0])) == "tensor([1.])"


def test_numpy_asarray_shares_cpu_memory_and_refuses_other_devices():
    t = tw.tensor([1.0, 2.0])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and np.shares_memory(a, t.array)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.shares_memory(t.numpy(), t.array)  # as in PyTorch: numpy() of a CPU tensor is a view
    assert not np.shares_memory(np.array(t), t.array)
    on_device = tw.tensor([1.0, 2.0], device="strict")
    host = on_device.numpy()
    host[0] = 5.0  # a host copy: the device tensor is not affected
    assert on_device.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match=r"strict.*\.numpy\(\)"):
        np.asarray(tw.tensor([1.0], device="strict"))


def test_dlpack_is_zero_copy_on_cpu():
    t = tw.tensor([1.0, 2.0, 3.0])
    a = np.from_dlpack(t)
    assert np.shares_memory(a, t.array)
    a[0] = 10.0
    assert t.tolist() == [10.0, 2.0, 3.0]
    src = np.arange(4.0)
    u = tw.from_dlpack(src)
    assert u.device == "cpu" and u.dtype is tw.float64 and np.shares_memory(u.array, src)
    src[1] = -1.0
    assert u.tolist() == [0.0, -1.0, 2.0, 3.0]
    same = tw.from_dlpack(t)
    assert same.array is t.array and not same.requires_grad


def test_dlpack_of_an_op_result_on_cpu():
    t = tw.tensor([1.0, 2.0], requires_grad=True)
    loss = (t * t).sum()
    assert np.from_dlpack(loss.detach()).tolist() == 5.0


# -- moves and casts ------------------------------------------------------------------------------
def test_to_device_and_dtype(device):
    t = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert t.to(device) is t and t.to(tw.float32) is t and t.to(device, tw.float32) is t
    d = t.to(tw.float64)
    assert d.dtype is tw.float64 and d.device == tw.device(device) and d.grad_fn is not None
    other = "strict" if device == "cpu" else "cpu"
    m = t.to(other)
    assert m.device == tw.device(other) and m.dtype is tw.float32 and values(m).tolist() == [1.0, 2.0]
    both = t.to(other, tw.float64)
    assert both.device == tw.device(other) and both.dtype is tw.float64
    like = t.to(tw.zeros(1, dtype=tw.float64, device=other))
    assert like.device == tw.device(other) and like.dtype is tw.float64
    assert t.to(device=other, dtype="float64").dtype is tw.float64
    # differentiable: the gradient comes back to the original device and dtype
    ((m * 3.0).sum().to(device) + (d * 2.0).sum()).backward()
    assert t.grad.device == tw.device(device) and t.grad.dtype is tw.float32
    assert values(t.grad).tolist() == [5.0, 5.0]
    assert t.cpu().device == "cpu" and values(t.cpu()).tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="unexpected"):
        t.to(device, bogus=1)
    c = t.detach().to(device, copy=True)
    assert c.array is not t.array and values(c).tolist() == [1.0, 2.0]
    c += 1.0
    assert values(t).tolist() == [1.0, 2.0]


def test_float_double_detach():
    t = tw.tensor([1, 2])
    assert t.float().dtype is tw.float32 and t.double().dtype is tw.float64
    x = tw.tensor([1.0], requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert d.array is y.array and not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert x.detach().array is x.array


def test_cuda_method_fails_clearly_without_a_gpu():
    if tw.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(tw.backends.BackendUnavailable, match="CUDA|CuPy"):
        tw.tensor([1.0]).cuda()
    with pytest.raises(tw.backends.BackendUnavailable):
        tw.tensor([1.0]).cuda(1)


def test_requires_grad_flags(device):
    t = tw.tensor([1.0], device=device)
    assert t.requires_grad_() is t and t.requires_grad and t.is_leaf
    t.requires_grad = False
    assert not t.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        tw.tensor([1], device=device).requires_grad_()
    y = tw.tensor([1.0], device=device, requires_grad=True) * 2.0
    assert not y.is_leaf
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_retain_grad(device):
    x = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 3.0
    y.retain_grad()
    assert y.retains_grad
    z = y * 2.0  # not retained
    (z.sum()).backward()
    assert values(y.grad).tolist() == [2.0, 2.0] and z.grad is None
    assert values(x.grad).tolist() == [6.0, 6.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        tw.tensor([1.0], device=device).retain_grad()


@pytest.mark.parametrize("shape", [(2, 2), ()])
def test_zero_(shape, device):
    t = tw.ones(*shape, device=device)
    assert t.zero_() is t
    assert np.all(values(t) == 0)
    with pytest.raises(RuntimeError, match=r"\.data"):
        tw.ones(2, device=device, requires_grad=True).zero_()
    with tw.no_grad():
        w = tw.ones(2, device=device, requires_grad=True)
        w.zero_()
    assert values(w).tolist() == [0.0, 0.0]


# -- copy and pickle -------------------------------------------------------------------------------
def test_deepcopy(device):
    import copy

    w = tw.tensor([[1.0, 2.0]], dtype=tw.float64, device=device, requires_grad=True)
    (w * 3.0).sum().backward()
    before = tw.backends.get_backend(device).transfers
    c = copy.deepcopy(w)
    assert tw.backends.get_backend(device).transfers == before  # copied on the device
    assert c is not w and c.array is not w.array and c._backend is w._backend
    assert c.requires_grad and c.is_leaf and c.dtype is tw.float64 and c.device == tw.device(device)
    assert values(c).tolist() == [[1.0, 2.0]] and values(c.grad).tolist() == [[3.0, 3.0]]
    assert c.grad.array is not w.grad.array
    c.data += 1.0
    assert values(w).tolist() == [[1.0, 2.0]]
    pair = copy.deepcopy({"a": w, "b": w})
    assert pair["a"] is pair["b"]
    with pytest.raises(RuntimeError, match="leaf"):
        copy.deepcopy(w * 2.0)


def test_pickle_roundtrip(device):
    import pickle

    w = tw.tensor([[1.5, -2.0]], device=device, requires_grad=True)
    i = tw.tensor([1, 2], device=device)
    for t in (w, i, w * 2.0, tw.tensor(3.0, device=device)):
        u = pickle.loads(pickle.dumps(t))
        assert u.device == t.device and u.dtype is t.dtype and u.shape == t.shape
        assert values(u).tolist() == values(t).tolist()
        assert u.requires_grad == t.requires_grad and u.is_leaf and u.array is not t.array


# -- NumPy on the left -------------------------------------------------------------------------------
def test_numpy_scalar_on_the_left_keeps_the_graph(device):
    t = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    for out in (np.float64(2.0) * t, np.float32(2.0) * t, np.float64(2.0) + t, np.float64(2.0) - t):
        assert isinstance(out, tw.Tensor) and out.grad_fn is not None and out.dtype is tw.float32
        assert out.device == tw.device(device)
    (np.float64(3.0) * t).sum().backward()
    assert values(t.grad).tolist() == [3.0, 3.0]


def test_ndarray_on_the_left_keeps_the_graph():
    t = tw.tensor([1.0, 2.0], requires_grad=True)
    out = np.array([10.0, 20.0]) + t
    assert isinstance(out, tw.Tensor) and out.grad_fn is not None
    assert values(out).tolist() == [11.0, 22.0]
    prod = np.array([10.0, 20.0]) * t
    assert isinstance(prod, tw.Tensor)
    prod.sum().backward()
    assert values(t.grad).tolist() == [10.0, 20.0]


def test_ndarray_with_a_device_tensor_is_not_copied_silently():
    t = tw.tensor([1.0, 2.0], device="strict")
    with pytest.raises(TypeError, match="strict"):
        np.array([1.0, 2.0]) + t


# -- factories --------------------------------------------------------------------------------------
def test_constant_factories(device):
    dev = tw.device(device)
    for t, shape, dtype, fill in (
        (tw.zeros(2, 3, device=device), (2, 3), tw.float32, 0),
        (tw.zeros((2, 3), device=device), (2, 3), tw.float32, 0),
        (tw.ones([4], dtype=tw.float64, device=device), (4,), tw.float64, 1),
        (tw.ones(device=device), (), tw.float32, 1),
        (tw.full((2,), 3.5, device=device), (2,), tw.float32, 3.5),
        (tw.full((2,), 3, device=device), (2,), tw.int64, 3),
        (tw.full((1,), True, device=device), (1,), tw.bool, True),
        (tw.empty(3, device=device), (3,), tw.float32, None),
    ):
        assert t.shape == shape and t.dtype is dtype and t.device == dev
        if fill is not None:
            assert np.all(values(t) == fill)
    z = tw.zeros(2, device=device, requires_grad=True)
    assert z.requires_grad and z.is_leaf
    with pytest.raises(ValueError, match="non-negative"):
        tw.zeros(-1, device=device)


def test_like_factories(device):
    src = tw.tensor([[1, 2, 3]], dtype=tw.float64, device=device)
    for t, fill in (
        (tw.zeros_like(src), 0),
        (tw.ones_like(src), 1),
        (tw.full_like(src, 7), 7),
        (tw.empty_like(src), None),
        (tw.rand_like(src), None),
        (tw.randn_like(src), None),
    ):
        assert t.shape == (1, 3) and t.dtype is tw.float64 and t.device == src.device
        if fill is not None:
            assert np.all(values(t) == fill)
    assert tw.zeros_like(src, dtype=tw.int32).dtype is tw.int32
    other = "strict" if device == "cpu" else "cpu"
    assert tw.ones_like(src, device=other).device == tw.device(other)


def test_ranges(device):
    a = tw.arange(5, device=device)
    assert a.dtype is tw.int64 and a.tolist() == [0, 1, 2, 3, 4] and a.device == tw.device(device)
    assert tw.arange(2, 8, 3, device=device).tolist() == [2, 5]
    f = tw.arange(0, 1, 0.25, device=device)
    assert f.dtype is tw.float32 and f.tolist() == [0.0, 0.25, 0.5, 0.75]
    ls = tw.linspace(0, 1, 5, device=device)
    assert ls.dtype is tw.float32 and ls.device == tw.device(device)
    np.testing.assert_allclose(values(ls), [0, 0.25, 0.5, 0.75, 1.0])
    e = tw.eye(3, device=device)
    assert e.device == tw.device(device) and np.array_equal(values(e), np.eye(3))
    assert np.array_equal(values(tw.eye(2, 3, dtype=tw.float64, device=device)), np.eye(2, 3))


def test_random_factories(device):
    dev = tw.device(device)
    r = tw.rand(1000, device=device)
    assert r.shape == (1000,) and r.dtype is tw.float32 and r.device == dev
    assert 0.0 <= values(r).min() and values(r).max() < 1.0 and 0.4 < values(r).mean() < 0.6
    n = tw.randn(20, 50, dtype=tw.float64, device=device)
    assert n.shape == (20, 50) and n.dtype is tw.float64 and n.device == dev
    assert abs(values(n).mean()) < 0.2 and 0.8 < values(n).std() < 1.2
    i = tw.randint(3, 7, (500,), device=device)
    assert i.dtype is tw.int64 and i.device == dev and set(values(i).tolist()) == {3, 4, 5, 6}
    assert tw.randint(5, (3,), device=device).shape == (3,)
    assert tw.rand(2, 2, device=device, requires_grad=True).requires_grad


def test_manual_seed_repeats_on_every_device(device):
    def draw():
        tw.manual_seed(1234)
        return [
            values(tw.rand(5, device=device)),
            values(tw.randn(5, device=device)),
            values(tw.randint(0, 100, (5,), device=device)),
        ]

    first, second = draw(), draw()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    tw.manual_seed(4321)
    assert not np.array_equal(values(tw.rand(5, device=device)), first[0])


def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = tw.from_numpy(a)
    assert t.device == "cpu" and t.dtype is tw.float64 and t.shape == (2, 3) and t.array is a
    a[0, 0] = 100.0
    assert t.tolist()[0][0] == 100.0
    t += 1.0
    assert a[1, 2] == 6.0
    assert tw.from_numpy(np.arange(3, dtype=np.int32)).dtype is tw.int32
    with pytest.raises(TypeError, match="ndarray"):
        tw.from_numpy([1.0, 2.0])


# -- errors -----------------------------------------------------------------------------------------
def test_broadcast_error_names_both_shapes(device):
    a = tw.ones(2, 3, device=device)
    b = tw.ones(4, device=device)
    for op in (lambda: a + b, lambda: a * b, lambda: a - b, lambda: a / b):
        with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
            op()


def test_matmul_error_names_both_shapes(device):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 3\)"):
        tw.ones(2, 3, device=device) @ tw.ones(4, 3, device=device)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 2\)"):
        tw.ones(3, device=device) @ tw.ones(2, 2, device=device)


@pytest.mark.parametrize("dtypes", [(tw.float32, tw.float32), (tw.float32, tw.float64), (tw.int64, tw.float32)])
def test_two_devices_in_one_op_name_both(dtypes):
    a = tw.ones(2, 2, dtype=dtypes[0], device="cpu")
    b = tw.ones(2, 2, dtype=dtypes[1], device="strict")
    for op in (lambda: a + b, lambda: b * a, lambda: a - b, lambda: a / b, lambda: a @ b, lambda: b**a):
        with pytest.raises(RuntimeError, match=r"(cpu.*strict|strict.*cpu)"):
            op()


@pytest.mark.parametrize(
    "data, shown",
    [("abc", "str 'abc'"), ([object()], "list [<object"), ({"a": 1}, "dict"), ([[1, 2], [3]], "list [[1, 2], [3]]")],
)
def test_bad_data_says_what_was_given(data, shown, device):
    with pytest.raises(TypeError) as e:
        tw.tensor(data, device=device)
    assert shown in str(e.value)


def test_dtype_a_backend_lacks_is_named():
    assert tw.tensor([1.0], dtype=tw.float16).dtype is tw.float16  # NumPy has it, array_api_strict not
    with pytest.raises(TypeError, match="float16 is not supported on device strict"):
        tw.tensor([1.0], dtype=tw.float16, device="strict")


def test_unsupported_numpy_dtype_is_named():
    with pytest.raises(TypeError, match="uint16 is not supported"):
        tw.tensor(np.arange(3, dtype=np.uint16))


def test_unknown_dtype_is_named():
    with pytest.raises(TypeError, match="unknown dtype 'float7'"):
        tw.tensor([1.0], dtype="float7")


@pytest.mark.parametrize(
    "make_op",
    [
        lambda t, d: t.__isub__(tw.tensor([0.5, 0.5], device=d)),  # int -= float tensor
        lambda t, d: t.__iadd__(2.5),  # int += Python float
        lambda t, d: t.__imul__(tw.tensor([1.5, 1.5], dtype=tw.float64, device=d)),
        lambda t, d: t.__itruediv__(2),  # int /= int would be float
        lambda t, d: t.__iadd__(tw.tensor([1, 2, 3], device=d)),  # shape mismatch
        lambda t, d: t.__iadd__(tw.ones(2, 2, dtype=tw.int64, device=d)),  # would grow the tensor
        lambda t, d: t.__iadd__(tw.tensor([1, 1], device="strict" if d == "cpu" else "cpu")),  # other device
        lambda t, d: t.__iadd__("a"),
        lambda t, d: t.__iadd__(np.array([0.5, 0.5]) if d == "cpu" else 0.5),  # float array into int
        lambda t, d: t.__iadd__(np.float64(0.5)),
    ],
)
def test_impossible_in_place_ops_leave_the_tensor_unchanged(make_op, device):
    t = tw.tensor([10, 20], device=device)
    array_before = t.array
    with pytest.raises((RuntimeError, TypeError)):
        make_op(t, device)
    assert t.dtype is tw.int64 and t.tolist() == [10, 20] and t.array is array_before


def test_possible_in_place_ops(device):
    t = tw.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    before = t.array
    t += tw.tensor([1.0, 1.0], device=device)  # broadcast
    t -= 1
    t *= tw.tensor(2.0, dtype=tw.float64, device=device)  # float64 into float32: same kind, allowed
    t /= 2
    i = tw.tensor([1, 2], device=device)
    i *= 3
    i += tw.tensor([True, False], device=device)
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]] and t.array is before and t.dtype is tw.float32
    assert i.tolist() == [4, 6] and i.dtype is tw.int64
    t.add_(tw.ones(2, device=device), alpha=2)
    t.sub_(1.0).mul_(2.0).div_(2.0)
    assert t.tolist() == [[2.0, 3.0], [4.0, 5.0]]


def test_in_place_with_numpy_and_python_operands(device):
    i = tw.tensor([1, 2], device=device)
    i += True  # a Python bool into an int tensor (array_api_strict refuses it as such)
    i *= np.int64(2)
    assert i.tolist() == [4, 6] and i.dtype is tw.int64
    f = tw.tensor([1.0, 2.0], device=device)
    f -= np.float64(0.5)
    f *= tw.tensor(2.0, dtype=tw.float64, device=device)
    assert f.tolist() == [1.0, 3.0] and f.dtype is tw.float32
    if device == "cpu":
        f += np.array([1.0, 1.0])
        f -= [0.5, 0.5]
        assert f.tolist() == [1.5, 3.5]
    else:
        with pytest.raises(TypeError, match="silently"):
            f += np.array([1.0, 1.0])
        assert f.tolist() == [1.0, 3.0]


def test_in_place_on_a_leaf_that_requires_grad_points_to_data(device):
    w = tw.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"w\.data -= lr \* w\.grad"):
        w -= 1.0
    assert w.tolist() == [1.0, 1.0]


def test_the_type_checking_block_declares_every_bound_op():
    """tensor.py declares, for type checkers, the methods that ops.bind_tensor_methods binds at import."""
    import ast
    import inspect
    import sys

    tree = ast.parse(inspect.getsource(sys.modules["tensorweaver.tensor"]))  # (tw.tensor is the function)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    block = next(n for n in cls.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    declared = set()
    for n in block.body:
        if isinstance(n, ast.Assign):
            declared.update(t.id for t in n.targets)
        elif isinstance(n, ast.FunctionDef):
            declared.add(n.name)
    bound = set()
    for name, v in vars(tw.Tensor).items():
        f = v.fget if isinstance(v, property) else v
        if callable(f) and getattr(f, "__module__", "").startswith("tensorweaver.ops"):
            bound.add(name)
    assert declared == bound, (sorted(bound - declared), sorted(declared - bound))


# -- issue 9: one clear sentence for bad data and sizes; NumPy scalars in lists keep their dtype ---
@pytest.mark.parametrize(
    ("make", "classes", "words"),
    [
        (lambda: tw.tensor([2**70]), (ValueError, TypeError), "1180591620717411303424 is out of int64's range"),
        (lambda: tw.tensor(2**63), (ValueError,), "out of int64's range"),
        (
            lambda: tw.tensor([[1, 2], [3]]),
            (ValueError, TypeError),
            "ragged: expected a sequence of length 2 at dim 1, got 1",
        ),
        (lambda: tw.tensor([[1, 2], 3]), (ValueError,), "ragged"),
        (lambda: tw.tensor([1, "a"]), (TypeError,), "str 'a' is not a number"),
        (lambda: tw.arange(0, 10, 0), (RuntimeError, ZeroDivisionError), "step must be nonzero"),
        (lambda: tw.arange(0, 10, -1), (RuntimeError,), "inconsistent with the sign of step"),
        (lambda: tw.ones((2, 3.5)), (TypeError, ValueError), "entry 1 is float 3.5"),
        (lambda: tw.zeros(2, -1), (RuntimeError, ValueError), "non-negative"),
        (lambda: tw.ones(3.5), (TypeError,), "size must be a tuple of ints"),
    ],
)
def test_bad_data_and_sizes_say_what_is_wrong(make, classes, words):
    for cls in classes:
        with pytest.raises(cls, match=re.escape(words)):
            make()


def test_numpy_scalars_in_a_list_keep_their_dtype():
    torch = pytest.importorskip("torch")
    for data in (
        [np.float64(1.0)],
        [np.float32(1.0), 2.0],
        [np.float16(1.0), np.float64(2.0)],
        [[1.0], [np.float64(2.0)]],
        [np.int32(1), 2],
        [np.int32(1), 2.5],
        [True, np.int8(3)],
        [1.0, 2.0],
    ):
        assert str(tw.tensor(data).dtype).split(".")[-1] == str(torch.tensor(data).dtype).split(".")[-1], data
    assert tw.ones((np.int64(2), 3)).shape == (2, 3)
