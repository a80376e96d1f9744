"""The losses on every backend against float64 NumPy references: cross_entropy/nll_loss (weights, ignore_index,
probability targets, label smoothing), the regression losses, binary cross-entropy, kl_div."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from helpers import (
    check_op,
    check_second_order,
    consts,
    ints,
    np_log_softmax,
    to_numpy,
)


def np_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", eps=0.0):
    """PyTorch's definition, with the class dim at 1 (or 0 for unbatched input)."""
    cdim = 1 if x.ndim >= 2 else 0
    logp = np_log_softmax(x, cdim)
    C = x.shape[cdim]
    w = np.ones(C) if weight is None else np.asarray(weight)
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    picked = np.take_along_axis(logp, np.expand_dims(safe, cdim), cdim).squeeze(cdim)
    wt = w[safe] * valid
    wshape = [1] * x.ndim
    wshape[cdim] = C
    smooth = -(logp * w.reshape(wshape)).sum(cdim) * valid
    loss = (1 - eps) * (-picked * wt) + eps / C * smooth
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / wt.sum()


CE_CASES = [
    ((4, 3), [0, 2, 1, 2], {}),
    ((4, 3), [0, 2, 1, 2], {"reduction": "sum"}),
    ((4, 3), [0, 2, 1, 2], {"reduction": "none"}),
    ((4, 3), [0, 2, -100, 2], {}),
    ((4, 3), [0, 1, 1, 2], {"ignore_index": 1, "reduction": "sum"}),
    ((4, 3), [0, 2, 1, 2], {"weight": [0.2, 1.0, 3.0]}),
    ((4, 3), [0, 2, 1, 1], {"weight": [0.2, 1.0, 3.0], "ignore_index": 2, "reduction": "none"}),
    ((4, 3), [0, 2, 1, 2], {"label_smoothing": 0.2}),
    ((4, 3), [0, 2, -100, 2], {"weight": [0.2, 1.0, 3.0], "label_smoothing": 0.1}),
    ((2, 3, 2), [[0, 2], [1, 1]], {}),
    ((3,), 1, {}),
]


@pytest.mark.parametrize("shape, target, kwargs", CE_CASES)
def test_cross_entropy_and_nll_loss(shape, target, kwargs, device):
    t_np = np.asarray(target)
    w = kwargs.get("weight")

    def tw_kwargs():
        kw = dict(kwargs)
        if w is not None:
            kw["weight"] = consts(w, device)
        return kw

    ref_kw = {k: v for k, v in kwargs.items() if k != "label_smoothing"}
    eps = kwargs.get("label_smoothing", 0.0)
    check_op(
        lambda x: F.cross_entropy(x, ints(target, device), **tw_kwargs()),
        lambda x: np_cross_entropy(x, t_np, **ref_kw, eps=eps),
        [(shape,)],
        device,
    )
    if eps == 0.0:
        cdim = 1 if len(shape) >= 2 else 0
        check_op(
            lambda x: F.nll_loss(F.log_softmax(x, cdim), ints(target, device), **tw_kwargs()),
            lambda x: np_cross_entropy(x, t_np, **ref_kw),
            [(shape,)],
            device,
        )


@pytest.mark.parametrize("shape, target, kwargs", [c for c in CE_CASES if "label_smoothing" not in c[2]])
def test_cross_entropy_of_class_indices_is_one_op_with_the_two_ops_derivatives(shape, target, kwargs, device):
    # fused: one node on the logits, whose gradient (both backward paths) and second derivative are those of
    # nll_loss(log_softmax(x)); the upstream gradient is not all ones, so each row's weight shows
    rng = np.random.default_rng(3)
    kw = dict(kwargs)
    if "weight" in kw:
        kw["weight"] = consts(kw["weight"], device)
    cdim = 1 if len(shape) >= 2 else 0
    x = tw.tensor(rng.normal(size=shape), device=device, requires_grad=True)
    t = ints(target, device)
    fused = F.cross_entropy(x, t, **kw)
    ((first, _),) = fused.grad_fn.next_functions
    assert first.variable is x
    two = F.nll_loss(F.log_softmax(x, cdim), t, **kw)
    up = consts(rng.uniform(0.5, 2.0, size=tuple(fused.shape)), device)
    v = consts(rng.normal(size=shape), device)
    results = []
    for loss in (fused, two):
        (g_arrays,) = tw.autograd.grad(loss, [x], up, retain_graph=True)
        (g,) = tw.autograd.grad(loss, [x], up, create_graph=True)
        (hv,) = tw.autograd.grad((g * v).sum(), [x])
        results.append([to_numpy(a) for a in (loss, g, g_arrays, hv)])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_cross_entropy_probability_targets(reduction, eps, device):
    p = np.random.default_rng(5).dirichlet(np.ones(3), size=4)

    def ref(x):
        q = p * (1 - eps) + eps / 3
        loss = -(np_log_softmax(x, 1) * q * np.array([1.0, 0.5, 2.0])).sum(1)
        return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]

    check_op(
        lambda x: F.cross_entropy(
            x, consts(p, device), weight=consts([1.0, 0.5, 2.0], device), reduction=reduction, label_smoothing=eps
        ),
        ref,
        [((4, 3),)],
        device,
    )


def test_cross_entropy_with_masked_classes(device):
    # -inf logits (classes masked out) give a finite loss and zero gradient there
    x = tw.tensor([[0.0, -float("inf"), 1.0], [2.0, 0.5, -float("inf")]], device=device, requires_grad=True)
    loss = F.cross_entropy(x, ints([2, 0], device))
    loss.backward()
    p = np.exp([[0.0, 1.0], [2.0, 0.5]])
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(loss.item(), -(np.log(p[0, 1]) + np.log(p[1, 0])) / 2, rtol=1e-6)
    np.testing.assert_allclose(
        to_numpy(x.grad), [[p[0, 0] / 2, 0, (p[0, 1] - 1) / 2], [(p[1, 0] - 1) / 2, p[1, 1] / 2, 0]], rtol=1e-6
    )


@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_cross_entropy_ignored_target_picks_no_class(ignore_index, device):
    # row 0 is ignored and its class 0 is masked out (-inf): it must add nothing, not nan (as in PyTorch)
    x = tw.tensor([[-float("inf"), 1.0, 2.0], [0.5, 1.0, 0.0]], device=device, requires_grad=True)
    target = ints([ignore_index, 1], device)
    p = np.exp([0.5, 1.0, 0.0])
    p /= p.sum()
    for reduction, expected in (("mean", -np.log(p[1])), ("sum", -np.log(p[1])), ("none", [0.0, -np.log(p[1])])):
        loss = F.cross_entropy(x, target, ignore_index=ignore_index, reduction=reduction)
        np.testing.assert_allclose(to_numpy(loss), expected, rtol=1e-6)
    loss = F.cross_entropy(x, target, ignore_index=ignore_index)
    (graph_grad,) = tw.autograd.grad(loss, [x], create_graph=True)
    loss.backward()
    for g in (x.grad, graph_grad):
        np.testing.assert_allclose(to_numpy(g), [[0, 0, 0], [p[0], p[1] - 1, p[2]]], rtol=1e-6, atol=1e-12)


def test_loss_errors(device):
    x = tw.zeros(4, 3, device=device)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, ints([0, 1, 2, 0], device), reduction="avg")
    with pytest.raises(ValueError, match="target of shape"):
        F.cross_entropy(x, ints([0, 1, 2], device))
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(x, consts([0, 1, 2, 0], device))
    with pytest.raises(RuntimeError, match="no gradient"):
        F.cross_entropy(x, ints([0, 1, 2, 0], device), weight=tw.ones(3, device=device, requires_grad=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, device):
    red = {"mean": np.mean, "sum": np.sum, "none": lambda d: d}[reduction]
    check_op(
        lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: red((a - b) ** 2), [((3, 4), (3, 4))], device
    )


def np_reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction, device):
    shapes = [((3, 4), (3, 4))]

    def huber(d, delta):
        return np.where(np.abs(d) < delta, 0.5 * d**2, delta * (np.abs(d) - 0.5 * delta))

    cases = [
        (lambda a, b: F.l1_loss(a, b, reduction), lambda a, b: np.abs(a - b)),
        (lambda a, b: F.huber_loss(a, b, reduction, delta=0.7), lambda a, b: huber(a - b, 0.7)),
        (lambda a, b: F.smooth_l1_loss(a, b, reduction, beta=0.7), lambda a, b: huber(a - b, 0.7) / 0.7),
        (lambda a, b: F.smooth_l1_loss(a, b, reduction, beta=0.0), lambda a, b: np.abs(a - b)),
    ]
    for fn, ref in cases:
        check_op(fn, lambda a, b, ref=ref: np_reduce(ref(a, b), reduction), shapes, device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction, device):
    def bce(p, t):
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    check_op(
        lambda p, t, w: F.binary_cross_entropy(p, t, w, reduction),
        lambda p, t, w: np_reduce(bce(p, t) * w, reduction),
        [((3, 4), (3, 4), (4,))],
        device,
        low=0.05,
        high=0.95,
    )
    check_op(
        lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, reduction=reduction, pos_weight=pw),
        lambda x, t, pw: np_reduce(-(pw * t * np.log(sigmoid(x)) + (1 - t) * np.log(1 - sigmoid(x))), reduction),
        [((3, 4), (3, 4), (4,))],
        device,
        low=0.1,
        high=1.5,
    )
    # stable for large logits, and log(0) clamped at -100 for probabilities
    big = F.binary_cross_entropy_with_logits(
        consts([100.0, -100.0], device), consts([0.0, 1.0], device), reduction="none"
    )
    np.testing.assert_allclose(to_numpy(big), [100.0, 100.0])
    zero = F.binary_cross_entropy(consts([0.0, 1.0], device), consts([1.0, 0.0], device), reduction="none")
    np.testing.assert_allclose(to_numpy(zero), [100.0, 100.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean", "none"])
def test_kl_div(reduction, device):
    def ref(x, t, log_target):
        loss = np.exp(t) * (t - x) if log_target else t * (np.log(t) - x)
        return loss.sum() / x.shape[0] if reduction == "batchmean" else np_reduce(loss, reduction)

    for log_target in (False, True):
        check_op(
            lambda x, t, lt=log_target: F.kl_div(x, t, reduction, log_target=lt),
            lambda x, t, lt=log_target: ref(x, t, lt),
            [((3, 4), (3, 4))],
            device,
            low=0.1,
            high=1.0,
        )
    zero_target = F.kl_div(consts([[-1.0, -2.0]], device), consts([[0.0, 1.0]], device), reduction="none")
    np.testing.assert_allclose(to_numpy(zero_target), [[0.0, 2.0]])


SECOND_ORDER = {
    "cross_entropy": (
        lambda x: F.cross_entropy(x, ints([0, 3, -100], x.device), consts([1, 2, 3, 4], x.device)),
        [(3, 4)],
    ),
    "cross_entropy_smoothed": (
        lambda x: F.cross_entropy(x, ints([0, 3, -100], x.device), consts([1, 2, 3, 4], x.device), label_smoothing=0.2),
        [(3, 4)],
    ),
    "nll_loss_none": (lambda x: F.nll_loss(x * x, ints([[0, 2], [1, 1]], x.device), reduction="none"), [(2, 3, 2)]),
    "bce_with_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t), [(2, 3), (2, 3)]),
    "kl_div": (lambda x, t: F.kl_div(x, t * t, "batchmean"), [(2, 3), (2, 3)]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name, device):
    check_second_order(*SECOND_ORDER[name], device)


# -- issue 9: targets out of range, every target ignored -----------------------------------------
@pytest.mark.parametrize("bad", [4, -3])
def test_class_targets_out_of_range_raise_index_error(device, bad):
    x = consts(np.zeros((3, 4)), device)
    with pytest.raises(IndexError, match=f"target {bad} is out of bounds"):
        F.cross_entropy(x, ints([0, bad, 1], device))
    with pytest.raises(IndexError, match=f"target {bad} is out of bounds"):
        F.nll_loss(x, ints([0, bad, 1], device))
    # beside an ignored target (below 0, which NumPy's min/max test of the range hands to the full check)
    with pytest.raises(IndexError, match=f"target {bad} is out of bounds"):
        F.cross_entropy(x, ints([-100, bad, 1], device))
    # ignore_index is allowed outside [0, C)
    F.cross_entropy(x, ints([0, 7, 1], device), ignore_index=7)
    F.cross_entropy(x, ints([0, -100, 3], device))


def test_every_target_ignored_gives_nan_loss_and_zero_gradient(device):
    x = tw.zeros(2, 3, dtype=tw.float64, device=device, requires_grad=True)
    for fn in (
        F.cross_entropy,
        lambda a, t: F.nll_loss(F.log_softmax(a, 1), t),
        lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1),
    ):
        loss = fn(x, ints([-100, -100], device))
        assert np.isnan(loss.item())
        loss.backward()
        np.testing.assert_array_equal(to_numpy(x.grad), np.zeros((2, 3)))
        (g,) = tw.autograd.grad(fn(x, ints([-100, -100], device)), x, create_graph=True)
        np.testing.assert_array_equal(to_numpy(g), np.zeros((2, 3)))
        x.grad = None


def test_binary_cross_entropy_at_zero_and_one_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    a, b = [0.0, 1.0, 0.3, 0.0, 1.0, 0.5], [0.0, 1.0, 0.6, 1.0, 0.0, 0.5]
    for reduction in ("mean", "sum", "none"):
        xt = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        tt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        lt = torch.nn.functional.binary_cross_entropy(xt, tt, reduction=reduction)
        x = tw.tensor(a, dtype=tw.float64, device=device, requires_grad=True)
        t = tw.tensor(b, dtype=tw.float64, device=device, requires_grad=True)
        loss = F.binary_cross_entropy(x, t, reduction=reduction)
        np.testing.assert_allclose(to_numpy(loss), lt.detach().numpy())
        (loss.sum() if reduction == "none" else loss).backward()
        (lt.sum() if reduction == "none" else lt).backward()
        np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy())
        np.testing.assert_allclose(to_numpy(t.grad), tt.grad.numpy())
    with pytest.raises(ValueError, match="shape"):
        F.binary_cross_entropy(x, tw.zeros(2, 3, device=device, dtype=tw.float64))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_backward_gives_only_the_picked_entries_the_incoming_gradient(reduction, device):
    # every target ignored: the mean loss is nan (0 / 0) and so is d(y + y * y)/dy; PyTorch scatters the
    # gradient into zeros, so x's gradient is 0 on both paths (a product with the one-hot mask gave nan)
    x = tw.tensor([[0.5, 1.0, -1.0], [2.0, 0.1, 0.3]], dtype=tw.float64, device=device, requires_grad=True)
    y = F.cross_entropy(x, ints([1, 1], device), ignore_index=1, reduction=reduction)
    if reduction == "mean":
        assert np.isnan(y.item())
    z = (y + y * y * float("nan")).sum()
    (graph_grad,) = tw.autograd.grad(z, [x], create_graph=True)
    z.backward()
    for g in (graph_grad, x.grad):
        np.testing.assert_array_equal(to_numpy(g), np.zeros((2, 3)))
