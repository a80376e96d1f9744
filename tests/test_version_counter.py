"""Version counters: views share their storage's counter, in-place ops bump it, and backward refuses a
value that was changed in place after an op saved it (PyTorch's RuntimeError)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F

MODIFIED = "modified by an inplace operation"


def leaf(device, values=(1.0, 2.0, 3.0), dtype=tw.float64):
    return tw.tensor(list(values), dtype=dtype, device=device, requires_grad=True)


# -- the two cases of issue 9 -----------------------------------------------------------------------
def test_leaf_changed_under_no_grad_after_it_was_saved(device):
    x = leaf(device)
    y = (x * x).sum()
    with tw.no_grad():
        x.mul_(10)
    with pytest.raises(RuntimeError, match=MODIFIED) as e:
        y.backward()
    msg = str(e.value)
    assert "MulBackward" in msg and "shape (3,)" in msg and "float64" in msg
    assert "is at version 1; expected version 0 instead" in msg
    assert x.grad is None  # nothing was delivered


def test_saved_output_changed_in_place(device):
    x = leaf(device)
    h = x.exp()
    with tw.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED) as e:
        h.sum().backward()
    assert "which is output 0 of ExpBackward" in str(e.value)
    assert "is at version 1; expected version 0" in str(e.value)


@pytest.mark.parametrize(
    "op, inputs",
    [(lambda x: x.amax(), (True, False)), (lambda x: x.norm(), (True, False)), (lambda x: x.std(), (False,))],
)
def test_an_op_that_keeps_its_input_and_its_output(device, op, inputs):
    # amax and norm keep both (std's root keeps its output; its input x is read by no backward): a
    # change of either is caught (the engine's inline check of one or two versions defers to check_saved)
    for change_input in inputs:
        x = leaf(device, (1.0, 5.0, 3.0))
        y = op(x)
        out = y * 2
        with tw.no_grad():
            (x if change_input else y).add_(1)
        with pytest.raises(RuntimeError, match=MODIFIED):
            out.backward()


def test_an_op_of_three_kept_inputs(device):
    c = tw.tensor([True, False, True], device=device)
    x, y = leaf(device), leaf(device, (4.0, 5.0, 6.0))
    w = tw.where(c, x, y).sum()
    c[1] = True
    with pytest.raises(RuntimeError, match=MODIFIED):
        w.backward()


def test_the_right_answer_without_the_change(device):
    x = leaf(device)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


# -- every bump source ----------------------------------------------------------------------------
def _bumps(device):
    """(name, change) pairs: each changes a float64 tensor of shape (2, 3) in place once."""
    other = tw.ones((2, 3), dtype=tw.float64, device=device)
    mask = tw.tensor([[True, False, True], [False, False, True]], device=device)
    rows = tw.tensor([1, 0], device=device)

    def iadd(t):
        t += 1

    def isub(t):
        t -= other

    def imul(t):
        t *= 2.0

    def idiv(t):
        t /= 2

    def setitem(t):
        t[0] = 5.0

    def setitem_slice(t):
        t[:, 1:] = other[:, 1:]

    def setitem_mask(t):
        t[mask] = 0.0

    def setitem_index(t):
        t[rows, 0] = 7.0

    return {
        "add_": lambda t: t.add_(other, alpha=2),
        "sub_": lambda t: t.sub_(1.0),
        "mul_": lambda t: t.mul_(other),
        "div_": lambda t: t.div_(3.0),
        "+=": iadd,
        "-=": isub,
        "*=": imul,
        "/=": idiv,
        "fill_": lambda t: t.fill_(2.5),
        "zero_": lambda t: t.zero_(),
        "copy_": lambda t: t.copy_(other),
        "setitem": setitem,
        "setitem_slice": setitem_slice,
        "setitem_mask": setitem_mask,
        "setitem_index": setitem_index,
        "uniform_": lambda t: tw.nn.init.uniform_(t),
        "normal_": lambda t: tw.nn.init.normal_(t),
        "constant_": lambda t: tw.nn.init.constant_(t, 0.5),
        "xavier_uniform_": lambda t: tw.nn.init.xavier_uniform_(t),
        "kaiming_normal_": lambda t: tw.nn.init.kaiming_normal_(t),
    }


BUMPS = list(_bumps("cpu"))


@pytest.mark.parametrize("name", BUMPS)
def test_every_in_place_op_bumps_the_version(device, name):
    change = _bumps(device)[name]
    t = tw.zeros((2, 3), dtype=tw.float64, device=device)
    assert t._version == 0
    change(t)
    assert t._version >= 1
    before = t._version
    change(t)
    assert t._version > before


@pytest.mark.parametrize("name", BUMPS)
def test_every_in_place_op_is_caught_at_backward(device, name):
    change = _bumps(device)[name]
    w = tw.tensor(np.linspace(0.5, 1.5, 6).reshape(2, 3), device=device, requires_grad=True)
    loss = (w * w).sum()
    with tw.no_grad():
        change(w)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_a_raising_in_place_op_does_not_bump(device):
    t = tw.zeros((2, 3), device=device)
    with pytest.raises(RuntimeError):
        t.add_(tw.ones((4,), device=device))
    with pytest.raises(RuntimeError):
        tw.tensor([1, 2], device=device).add_(0.5)  # a float can't go into an int tensor in place
    assert t._version == 0


@pytest.mark.parametrize("make", ["SGD", "SGD-momentum", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizer_steps_bump_the_parameters(device, make):
    w = tw.tensor([[1.0, -2.0], [0.5, 3.0]], device=device, requires_grad=True)
    opt = {
        "SGD": lambda: tw.optim.SGD([w], lr=0.1),
        "SGD-momentum": lambda: tw.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01),
        "Adam": lambda: tw.optim.Adam([w], lr=0.1),
        "AdamW": lambda: tw.optim.AdamW([w], lr=0.1, amsgrad=True),
        "RMSprop": lambda: tw.optim.RMSprop([w], lr=0.1),
        "Adagrad": lambda: tw.optim.Adagrad([w], lr=0.1),
    }[make]()
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    assert w._version >= 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()  # the graph saw w before the step


# -- views share the counter ----------------------------------------------------------------------
VIEWS = {
    "data": lambda t: t.data,
    "detach": lambda t: t.detach(),
    "slice": lambda t: t[1:],
    "int index": lambda t: t[0],
    "narrow": lambda t: t.narrow(1, 1, 2),
    "reshape": lambda t: t.reshape(6),
    "view": lambda t: t.view(3, 2),
    "flatten": lambda t: t.flatten(),
    "unsqueeze": lambda t: t.unsqueeze(0),
    "permute": lambda t: t.permute(1, 0),
    "transpose": lambda t: t.transpose(0, 1),
    "T": lambda t: t.T,
    "split": lambda t: t.split(1, dim=0)[1],
    "view of a view of a view": lambda t: t[1:].T[1:].unsqueeze(0).data,
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_views_share_the_version_counter(device, name):
    t = tw.zeros((2, 3), device=device)
    v = VIEWS[name](t)
    t.add_(1)
    assert v._version == t._version == 1
    v.mul_(2)
    assert t._version == v._version == 2


def test_expand_shares_the_counter_where_it_shares_memory(device):
    t = tw.zeros((2, 3), device=device)
    e = t[0:1].expand(4, 3)  # a view on array-API backends; NumPy's backend materializes it
    t.add_(1)
    shares = float(e.sum()) == 12.0
    assert e._version == (1 if shares else 0)


def test_a_reshape_that_copies_has_its_own_counter():
    t = tw.zeros((2, 3))
    c = t.T.reshape(6)  # not contiguous: NumPy copies, as PyTorch's reshape does
    c.add_(1)
    assert c._version == 1 and t._version == 0
    assert float(t.sum()) == 0.0


@pytest.mark.parametrize("name", list(VIEWS))
def test_a_change_through_a_view_is_caught(device, name):
    w = tw.tensor(np.linspace(0.5, 1.5, 6).reshape(2, 3), device=device, requires_grad=True)
    loss = (w * w).sum()
    with tw.no_grad():
        VIEWS[name](w).mul_(3)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_a_view_of_a_saved_output_changed_in_place(device):
    x = leaf(device, (0.1, 0.2, 0.3, 0.4))
    h = x.tanh()
    with tw.no_grad():
        h.view(2, 2)[0].mul_(2)
    with pytest.raises(RuntimeError, match="output 0 of TanhBackward"):
        h.sum().backward()


def test_a_non_leaf_input_changed_through_setitem(device):
    x = leaf(device)
    a = x * 2
    b = a.sin()
    with tw.no_grad():
        a[0] = 5.0
    with pytest.raises(RuntimeError, match="output 0 of MulScalarBackward") as e:
        b.sum().backward()
    assert "SinBackward saved it" in str(e.value)


def test_grad_and_create_graph_and_anomaly_mode_check_too(device):
    x = leaf(device)
    y = (x * x).sum()
    with tw.no_grad():
        x.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        tw.autograd.grad(y, x, retain_graph=True)
    with pytest.raises(RuntimeError, match=MODIFIED):
        tw.autograd.grad(y, x, create_graph=True)
    x2 = leaf(device)
    with tw.autograd.detect_anomaly():
        y2 = (x2 * x2).sum()
        with tw.no_grad():
            x2.add_(1)
        with pytest.raises(RuntimeError, match=MODIFIED) as e:
            y2.backward()
    assert "forward call that created it" in str(e.value)


# -- what stays legal -----------------------------------------------------------------------------
def test_the_textbook_update_between_steps(device):
    x = tw.tensor([[0.0], [1.0], [2.0]], device=device)
    y = tw.tensor([[1.0], [3.0], [5.0]], device=device)
    w = tw.tensor([[0.5]], device=device, requires_grad=True)
    b = tw.tensor([0.0], device=device, requires_grad=True)
    for _ in range(5):
        loss = ((x @ w.T + b - y) ** 2).mean()
        loss.backward()
        w.data -= 0.1 * w.grad
        b.data -= 0.1 * b.grad
        w.grad = None
        b.grad = None
    assert w._version == 5 and b._version == 5


def test_an_optimizer_loop(device):
    model = tw.nn.Sequential(tw.nn.Linear(3, 4), tw.nn.Tanh(), tw.nn.Linear(4, 2)).to(device)
    opt = tw.optim.Adam(model.parameters(), lr=0.01)
    x = tw.randn(5, 3, device=device)
    t = tw.tensor([0, 1, 1, 0, 1], device=device)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), t).backward()
        opt.step()
    assert all(p._version >= 3 for p in model.parameters())


def test_changing_what_no_backward_reads(device):
    x = leaf(device)
    c = leaf(device, (4.0, 5.0, 6.0))
    y = x + c  # add keeps no values
    s = x[1:]  # slicing keeps only the shape
    z = x.sqrt()  # sqrt keeps only its output
    with tw.no_grad():
        x.add_(1)
        c.mul_(2)
    (y.sum() + s.sum() + z.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0, 2.0] + 0.5 / np.sqrt([1.0, 2.0, 3.0]))


def test_changing_an_output_nothing_saved(device):
    x = leaf(device)
    h = x * 3  # mul keeps its inputs, not its output
    with tw.no_grad():
        h.add_(1)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_in_place_changes_before_the_forward(device):
    x = leaf(device)
    with tw.no_grad():
        x.mul_(2)
        x.data.add_(1)
    (x * x).sum().backward()
    assert x._version == 2
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 10.0, 14.0])


def test_a_new_graph_after_the_change(device):
    x = leaf(device)
    (x * x).sum().backward(retain_graph=True)
    with tw.no_grad():
        x.mul_(2)
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0, 12.0])


# -- against PyTorch ----------------------------------------------------------------------------------
def test_versions_match_pytorch():
    torch = pytest.importorskip("torch")
    script = [
        lambda m, t: t.add_(1),
        lambda m, t: t[0].mul_(2),
        lambda m, t: t.detach().sub_(1),
        lambda m, t: t.view(6).zero_(),
        lambda m, t: t.T.fill_(3),
        lambda m, t: t.copy_(m.ones(2, 3)),
    ]
    a, b = tw.zeros((2, 3)), torch.zeros(2, 3)
    for step in script:
        step(tw, a)
        step(torch, b)
        assert a._version == b._version


# -- custom Functions check what they saved -----------------------------------------------------------
class _Square(tw.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * 2 * x


class _Exp(tw.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * y


class _Shift(tw.autograd.Function):  # saves nothing
    @staticmethod
    def forward(ctx, x):
        return x + 1

    @staticmethod
    def backward(ctx, gy):
        return gy


def test_custom_function_saved_input(device):
    x = leaf(device)
    y = _Square.apply(x).sum()
    with tw.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match=MODIFIED) as e:
        y.backward()
    assert "_SquareBackward" in str(e.value) and "is at version 1; expected version 0" in str(e.value)


def test_custom_function_saved_output(device):
    x = leaf(device)
    y = _Exp.apply(x)
    with tw.no_grad():
        y[1:].add_(1)
    with pytest.raises(RuntimeError, match="output 0 of _ExpBackward"):
        y.sum().backward()


def test_custom_function_without_saved_tensors(device):
    x = leaf(device)
    y = _Shift.apply(x)
    with tw.no_grad():
        x.mul_(2)
        y.mul_(2)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])
    x2 = leaf(device)
    z = _Square.apply(x2)
    z.sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), [2.0, 4.0, 6.0])
