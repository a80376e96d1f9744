"""A leaf's ``.grad`` never shares memory with another live array: another ``.grad``, the caller's
gradient, what a hook saw or returned, what a custom Function returned, a retained gradient. The
rule (autograd/grads.py) rests on array identity, not on reference counts, so these tests run on
every Python version .ci/run has (3.10 and 3.13 besides the main one)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw


def values(t):
    return np.asarray(t.detach().numpy())


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_leaf_grads_never_alias(shape, device):
    cases = [
        lambda a, b: a + b,
        lambda a, b: b + a,
        lambda a, b: a - b,
        lambda a, b: (a + b) * 1.0,
        lambda a, b: a.reshape(-1).sum() + b.reshape(-1).sum() if shape else a + b,
    ]
    for make in cases:
        a = tw.ones(*shape, device=device, requires_grad=True)
        b = tw.ones(*shape, device=device, requires_grad=True)
        out = make(a, b)
        out.sum().backward() if out.ndim else out.backward()
        b_before = values(b.grad).copy()
        a.grad.zero_()
        np.testing.assert_array_equal(values(b.grad), b_before)
        assert np.all(values(b.grad) != 0)
        b.grad.zero_()
        assert np.all(values(a.grad) == 0)


def test_leaf_grad_does_not_alias_the_incoming_gradient(device):
    for through in (lambda t: t * 1.0, lambda t: t + 0.0, lambda t: t.reshape(3)):
        x = tw.ones(3, device=device, requires_grad=True)
        g = tw.ones(3, device=device)
        through(x).backward(gradient=g)
        x.grad.zero_()
        assert values(g).tolist() == [1.0, 1.0, 1.0]
    leaf = tw.ones(2, device=device, requires_grad=True)
    g2 = tw.full((2,), 5.0, device=device)
    leaf.backward(gradient=g2)
    leaf.grad.zero_()
    assert values(g2).tolist() == [5.0, 5.0]


def test_leaf_grad_does_not_alias_a_retained_grad(device):
    a = tw.ones(2, device=device, requires_grad=True)
    h = a * 1.0
    h.retain_grad()
    (h + 0.0).sum().backward()
    a.grad.zero_()
    assert values(h.grad).tolist() == [1.0, 1.0]


def test_weight_gradient_of_x_at_w_transposed_arrives_in_w_layout(device):
    x = tw.tensor(np.random.default_rng(0).normal(size=(5, 4)), device=device)
    w = tw.tensor(np.random.default_rng(1).normal(size=(3, 4)), device=device, requires_grad=True)
    b = tw.zeros(3, dtype=tw.float64, device=device, requires_grad=True)
    (x @ w.T + b).sum().backward()
    expected = np.ones((5, 3)).T @ x.numpy()
    np.testing.assert_allclose(w.grad.numpy(), expected)
    if device == "cpu":
        assert w.grad.array.flags.c_contiguous
    w.grad.zero_()  # writable, and shared with nothing
    assert b.grad.tolist() == [5.0, 5.0, 5.0]


def test_leaf_gradients_are_never_aliased_under_create_graph(device):
    a = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = tw.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad
    with tw.no_grad():
        a.grad.zero_()
    assert b.grad.tolist() == [1.0, 1.0]


def test_backward_inputs_never_alias_leaf_gradients_under_create_graph(device):
    a = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = tw.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a + b).sum().backward(inputs=[a, b], create_graph=True)
    assert a.grad is not b.grad
    with tw.no_grad():
        a.grad.zero_()
    assert b.grad.tolist() == [1.0, 1.0]


def test_a_view_of_the_callers_gradient_is_copied(device):
    w = tw.ones(2, 3, device=device, requires_grad=True)
    big = tw.ones(2, 3, device=device)
    w.T.backward(gradient=big.T)  # a view of the caller's array reaches w as a whole view of it
    w.grad.zero_()
    assert values(big).tolist() == [[1.0, 1.0, 1.0]] * 2


def test_a_gradient_a_hook_kept_is_copied(device):
    kept = []
    x = tw.ones(3, device=device, requires_grad=True)
    h = x * 2.0
    h.register_hook(kept.append)  # the hook keeps the gradient that then flows on to x unchanged
    (h + 0.0).sum().backward()
    x.grad.zero_()
    assert values(kept[0]).tolist() == [1.0, 1.0, 1.0]


def test_a_tensor_a_leaf_hook_returned_is_copied(device):
    mine = tw.full((3,), 4.0, device=device)
    x = tw.ones(3, device=device, requires_grad=True)
    x.register_hook(lambda g: mine)
    (x * 1.0).sum().backward()
    x.grad.zero_()
    assert values(mine).tolist() == [4.0, 4.0, 4.0]


def test_a_tensor_a_custom_function_returned_is_copied(device):
    saved = tw.full((3,), 2.0, device=device)

    class Scale(tw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return saved  # a tensor the user holds, returned as the gradient

    x = tw.ones(3, device=device, requires_grad=True)
    Scale.apply(x).sum().backward()
    x.grad.zero_()
    assert values(saved).tolist() == [2.0, 2.0, 2.0]


def test_two_leaves_never_share_the_base_of_their_views(device):
    # p.T + q.T is F-ordered on NumPy, so matmul's backward makes one array whose transposed views
    # (whole, C-contiguous) reach both p and q: the first takes it, the second gets a copy
    x = tw.ones(4, 3, dtype=tw.float64, device=device)
    p = tw.ones(2, 3, dtype=tw.float64, device=device, requires_grad=True)
    q = tw.ones(2, 3, dtype=tw.float64, device=device, requires_grad=True)
    (x @ (p.T + q.T)).sum().backward()
    p.grad.zero_()
    assert values(q.grad).tolist() == [[4.0] * 3] * 2
    q.grad.zero_()
    assert values(p.grad).tolist() == [[0.0] * 3] * 2


def test_the_transposed_weight_gradient_is_handed_on_without_a_copy():
    # the one view the engine hands to a .grad: a whole C-contiguous view of an array it made
    x = tw.tensor(np.ones((5, 4)))
    w = tw.tensor(np.ones((3, 4)), requires_grad=True)
    (x @ w.T).sum().backward()
    g = w.grad.array
    assert g.flags.c_contiguous and g.base is not None and g.nbytes == g.base.nbytes
