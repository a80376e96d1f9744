"""The autograd engine: shared subgraphs, deep graphs, accumulation, freeing, grad modes, aliasing,
and the textbook loop's gradients against hand-derived NumPy ones."""

from __future__ import annotations

import time

import numpy as np
import pytest

import tensorweaver as tw


def values(t: tw.Tensor) -> np.ndarray:
    return t.detach().numpy()


def test_shared_subexpression(device):
    x = tw.tensor(1.5, device=device, requires_grad=True)
    u = 2 * x
    y = u + 3 * u  # u is used twice: its gradient must be complete before it is propagated
    y.backward()
    assert x.grad.item() == 8.0 and x.grad.device == tw.device(device)
    x2 = tw.tensor([1.0, -2.0], device=device, requires_grad=True)
    (2 * x2 + 3 * (2 * x2)).sum().backward()
    assert values(x2.grad).tolist() == [8.0, 8.0]


def test_diamond_with_uneven_paths(device):
    # x feeds z directly and through a long branch; post-order must still deliver each gradient once
    x = tw.tensor(2.0, device=device, requires_grad=True)
    a = x * x  # 2x
    b = a * 3.0
    c = b + a  # 4 * x^2 -> 8x
    d = c * x  # 4 x^3 -> 12 x^2
    d.backward()
    assert x.grad.item() == pytest.approx(48.0)


def test_deep_chain_has_no_recursion_limit():
    """The engine is backend-independent; on the CPU because array_api_strict's per-op overhead makes
    100,000 forward ops take seconds there."""
    n = 100_000
    x = tw.tensor(1.0, requires_grad=True)
    y = x
    start = time.perf_counter()
    for _ in range(n):
        y = y + 1e-5
    y.backward()
    elapsed = time.perf_counter() - start
    assert x.grad.item() == 1.0
    assert y.item() == pytest.approx(1.0 + n * 1e-5, rel=1e-3)
    assert elapsed < 10.0, f"{n} ops forward+backward took {elapsed:.1f} s"


def test_gradients_accumulate_until_reset(device):
    x = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    for k in range(1, 4):
        (x * x).sum().backward()
        np.testing.assert_allclose(values(x.grad), k * 2 * np.array([1.0, 2.0]))
    x.grad = None
    (x * 3.0).sum().backward()
    assert values(x.grad).tolist() == [3.0, 3.0]
    x.grad.zero_()
    (x * 1.0).sum().backward()
    assert values(x.grad).tolist() == [1.0, 1.0]


def test_second_backward_needs_retain_graph(device):
    x = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()
    g1 = values(x.grad).copy()
    x.grad = None
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(values(x.grad), 2 * g1, rtol=1e-6)
    np.testing.assert_allclose(g1, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])), rtol=1e-6)


def test_graph_is_freed_after_backward(device):
    x = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.exp()
    loss = (y * 2.0).sum()
    fn = y.grad_fn
    assert fn.inputs is not None
    loss.backward()
    assert fn.inputs is None and getattr(fn, "y", None) is None  # saved tensors and arrays dropped
    assert loss.grad_fn.inputs is None


@pytest.mark.parametrize("retain_graph", [False, True])
def test_graph_memory_is_released_without_the_garbage_collector(retain_graph, device):
    """No reference cycles: a step's tensors and functions go as soon as the last name does."""
    import gc
    import weakref

    x = tw.randn(8, 3, device=device)
    w = tw.randn(2, 3, device=device, requires_grad=True)

    def step():
        pred = x @ w.T
        e = pred.exp()  # saves its output for backward
        loss = (pred**2).mean() + e.sum()
        refs = [weakref.ref(t) for t in (pred, e, loss, loss.grad_fn, e.grad_fn)]
        loss.backward(retain_graph=retain_graph)
        return refs

    gc.disable()
    try:
        refs = step()
        assert [r() is None for r in refs] == [True] * len(refs)
    finally:
        gc.enable()
    assert w.grad is not None


def test_backward_through_a_freed_shared_node_is_clear(device):
    x = tw.tensor(1.0, device=device, requires_grad=True)
    h = x * 2.0
    (h * 3.0).backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 4.0).backward()


def test_non_scalar_backward_needs_a_gradient(device):
    x = tw.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(3,\).*gradient="):
        y.backward()
    y.backward(gradient=tw.tensor([1.0, 0.5, 0.0], device=device))
    assert values(x.grad).tolist() == [2.0, 2.0, 0.0]


def test_backward_gradient_argument_checks(device):
    x = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*\(2,\)"):
        (x * 2.0).backward(gradient=tw.ones(3, device=device))
    other = "strict" if device == "cpu" else "cpu"
    with pytest.raises(RuntimeError, match="device"):
        (x * 2.0).backward(gradient=tw.ones(2, device=other))
    (x * 2.0).backward(gradient=tw.ones(2, dtype=tw.float64, device=device))  # cast to the output's dtype
    assert x.grad.dtype is tw.float32 and values(x.grad).tolist() == [2.0, 2.0]
    (x * 2.0).backward(gradient=[1.0, 1.0])  # data is made a tensor on the output's device
    assert values(x.grad).tolist() == [4.0, 4.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        tw.ones(2, device=device).sum().backward()


def test_backward_inputs_limits_which_grads_are_set(device):
    a = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = tw.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert values(a.grad).tolist() == [3.0, 4.0] and b.grad is None


def test_scalar_gradient_argument_scales(device):
    x = tw.tensor(3.0, device=device, requires_grad=True)
    (x * x).backward(gradient=tw.tensor(0.5, device=device))
    assert x.grad.item() == 3.0


# -- grad modes -------------------------------------------------------------------------------------
def test_no_grad_records_nothing(device):
    x = tw.tensor([1.0], device=device, requires_grad=True)
    with tw.no_grad():
        assert not tw.is_grad_enabled()
        y = (x * 2.0).exp() + x
        with tw.enable_grad():
            z = x * 3.0
    assert tw.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    assert z.grad_fn is not None and z.requires_grad


def test_grad_modes_as_decorators(device):
    x = tw.tensor([1.0], device=device, requires_grad=True)

    @tw.no_grad()
    def frozen(t):
        assert not tw.is_grad_enabled()
        return t * 2.0

    @tw.enable_grad()
    def recorded(t):
        return t * 2.0

    @tw.set_grad_enabled(False)
    def off(t):
        return t * 2.0

    assert tw.is_grad_enabled()  # decorating switched nothing
    assert frozen(x).grad_fn is None and off(x).grad_fn is None
    with tw.no_grad():
        assert recorded(x).grad_fn is not None
        assert not tw.is_grad_enabled()
    assert frozen.__name__ == "frozen"


def test_set_grad_enabled(device):
    x = tw.tensor([1.0], device=device, requires_grad=True)
    with tw.set_grad_enabled(False):
        assert (x * 2.0).grad_fn is None
    assert tw.is_grad_enabled()
    with tw.set_grad_enabled(True):
        assert (x * 2.0).grad_fn is not None
    tw.set_grad_enabled(False)  # a plain call switches at once, as in PyTorch
    try:
        assert not tw.is_grad_enabled() and (x * 2.0).grad_fn is None
    finally:
        tw.set_grad_enabled(True)
    assert tw.is_grad_enabled()


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tw.no_grad():
            1 / 0  # noqa: B018
    assert tw.is_grad_enabled()

    @tw.no_grad()
    def boom():
        raise ValueError("x")

    with pytest.raises(ValueError):
        boom()
    assert tw.is_grad_enabled()


def test_grad_mode_is_per_thread():
    import threading

    seen = []
    with tw.no_grad():
        worker = threading.Thread(target=lambda: seen.append(tw.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]


def test_update_under_no_grad_is_in_place(device):
    w = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    (w * w).sum().backward()
    before = w.array
    with tw.no_grad():
        w -= 0.5 * w.grad
    assert w.array is before and w.requires_grad and w.is_leaf and w.grad_fn is None
    assert values(w).tolist() == [0.0, 0.0]


# -- the textbook loop against hand-derived gradients ---------------------------------------------
def test_textbook_loop_matches_numpy_gradients(device):
    rng = np.random.default_rng(7)
    N = 20
    x_np = rng.standard_normal((N, 3))
    y_np = rng.standard_normal((N, 2))
    w_np = rng.standard_normal((2, 3))
    b_np = rng.standard_normal(2)
    lr = 0.05
    x = tw.tensor(x_np, device=device)
    y = tw.tensor(y_np, device=device)
    w = tw.tensor(w_np, device=device, requires_grad=True)
    b = tw.tensor(b_np, device=device, requires_grad=True)
    assert w.dtype is tw.float64
    losses = []
    for _ in range(5):
        pred = x @ w.T + b
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        r = x_np @ w_np.T + b_np - y_np  # (N, 2)
        n = r.size  # mean over every element of (N, 2)
        dw = 2 / n * r.T @ x_np  # = 2/N' * sum_i r_i x_i^T
        db = 2 / n * r.sum(axis=0)
        np.testing.assert_allclose(loss.item(), np.mean(r**2), rtol=1e-12)
        np.testing.assert_allclose(values(w.grad), dw, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(values(b.grad), db, rtol=1e-10, atol=1e-12)
        assert w.grad.device == tw.device(device) and w.grad.dtype is tw.float64 and w.grad.shape == (2, 3)
        assert b.grad.shape == (2,)
        w.data -= lr * w.grad
        b.data -= lr * b.grad
        w.grad = None
        b.grad = None
        w_np = w_np - lr * dw
        b_np = b_np - lr * db
        np.testing.assert_allclose(values(w), w_np, rtol=1e-12)
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_textbook_loop_single_output_formula(device):
    """The issue's formulas for one output: dL/dw = 2/N sum((x w^T + b - y) x), dL/db = 2/N sum(...)."""
    rng = np.random.default_rng(3)
    N = 12
    x_np, y_np = rng.standard_normal((N, 4)), rng.standard_normal((N, 1))
    w = tw.tensor(rng.standard_normal((1, 4)), device=device, requires_grad=True)
    b = tw.tensor(rng.standard_normal(1), device=device, requires_grad=True)
    x, y = tw.tensor(x_np, device=device), tw.tensor(y_np, device=device)
    for _ in range(3):
        w_np, b_np = values(w).copy(), values(b).copy()
        loss = ((x @ w.T + b - y) ** 2).mean()
        loss.backward()
        r = x_np @ w_np.T + b_np - y_np  # (N, 1)
        np.testing.assert_allclose(values(w.grad), 2 / N * np.sum(r * x_np, axis=0, keepdims=True), rtol=1e-10)
        np.testing.assert_allclose(values(b.grad), 2 / N * np.sum(r, axis=0), rtol=1e-10)
        w.data -= 0.1 * w.grad
        b.data -= 0.1 * b.grad
        w.grad = None
        b.grad = None


# -- the engine's two paths ------------------------------------------------------------------------
def test_check_op_catches_a_wrong_array_path_and_a_wrong_tensor_path(monkeypatch):
    from helpers import check_op
    from tensorweaver.ops import elementwise

    def wrong_array(self, xp, gy):
        x, y = self.inputs
        return (gy * y._data * 2, gy * x._data)

    with monkeypatch.context() as m:
        m.setattr(elementwise.Mul, "backward_array", wrong_array)
        with pytest.raises(AssertionError, match="grad 0"):
            check_op(lambda a, b: a * b, np.multiply, [((3,), (3,))], "cpu")

    def wrong_tensor(self, gy):
        x, y = self.inputs
        return (gy * y * 2, gy * x)

    with monkeypatch.context() as m:
        m.setattr(elementwise.Mul, "backward", wrong_tensor)
        with pytest.raises(AssertionError, match="graph grad 0"):
            check_op(lambda a, b: a * b, np.multiply, [((3,), (3,))], "cpu")


def test_array_path_and_tensor_path_agree_on_a_textbook_step(device):
    x = tw.tensor([[0.0], [20.0], [40.0]], device=device)
    y = tw.tensor([[32.0], [68.0], [104.0]], device=device)
    w = tw.tensor(np.array([[0.5]]), device=device, requires_grad=True)
    b = tw.tensor(np.array([0.1]), device=device, requires_grad=True)
    loss = ((x @ w.T + b - y) ** 2).mean()
    gw, gb = tw.autograd.grad(loss, (w, b), create_graph=True)
    loss2 = ((x @ w.T + b - y) ** 2).mean()
    loss2.backward()
    np.testing.assert_allclose(w.grad.numpy(), gw.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gb.detach().numpy(), rtol=1e-12)


def test_graph_keeps_no_values_that_backward_does_not_read():
    import weakref

    from tensorweaver.autograd.function import EDGE_MIN_SIZE

    n = EDGE_MIN_SIZE // 2  # z is (n, 2): as large as the smallest array an edge frees
    x = tw.tensor(np.ones((n, 3)))
    w = tw.tensor(np.ones((2, 3)), requires_grad=True)
    b = tw.zeros(2, dtype=tw.float64, requires_grad=True)
    z = x @ w.T
    ref = weakref.ref(z.array)  # the matmul's output: the add's backward needs only its shape
    h = tw.relu(z + b)  # relu keeps its output, not its input
    del z
    assert ref() is None
    h.sum().backward()
    assert w.grad.tolist() == [[float(n)] * 3] * 2 and b.grad.tolist() == [float(n)] * 2


def test_graph_keeps_small_intermediates_whole():
    # below EDGE_MIN_SIZE elements the graph keeps the tensor itself (an edge costs more than it frees)
    import weakref

    w = tw.tensor(np.ones((2, 3)), requires_grad=True)
    z = tw.tensor(np.ones((4, 3))) @ w.T
    ref = weakref.ref(z.array)
    h = (z + 1.0).sum()
    del z
    assert ref() is not None
    h.backward()
    assert w.grad.tolist() == [[4.0, 4.0, 4.0]] * 2


@pytest.mark.parametrize("create_graph", [False, True])
def test_an_op_whose_backward_returns_the_wrong_number_of_gradients_is_named(create_graph, device):
    from tensorweaver.autograd.function import Function, apply1

    class Twice(Function):
        __slots__ = ()

        def forward(self, xp, x):
            return x * 2

        def backward(self, gy):
            return (gy * 2, gy)  # one input, two gradients

        def backward_array(self, xp, gy):
            return (gy * 2, gy)

    x = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="TwiceBackward: backward returned 2 gradients for 1 inputs"):
        apply1(Twice(), x).sum().backward(create_graph=create_graph)
