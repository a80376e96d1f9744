"""The neural-network ops on every backend: softmax, losses, gather/scatter, embedding, dropout,
convolution and pooling, against float64 NumPy references (direct loops for conv and pooling)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from helpers import check_op, make_inputs, numerical_grads, to_numpy
from tensorweaver.autograd.gradcheck import gradgradcheck


def ints(values, device):
    return tw.tensor(np.asarray(values, dtype=np.int64), device=device)


def consts(values, device):
    return tw.tensor(np.asarray(values, dtype=np.float64), device=device)


def grads_with_graph(out, inputs, upstream, others=()):
    """d(sum(out * upstream)) / d(inputs) as tensors that are themselves differentiable; the
    ``.grad`` of the inputs and of the ``others`` leaves is reset afterwards."""
    out.backward(gradient=upstream, create_graph=True)
    gs = [t.grad for t in inputs]
    for t in (*inputs, *others):
        t.grad = None
    return gs


# -- softmax -------------------------------------------------------------------------------------
def np_log_softmax(a, axis):
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim, device):
    shapes = [((3, 4),), ((2, 3, 4),)]
    check_op(lambda a: F.log_softmax(a, dim), lambda a: np_log_softmax(a, dim), shapes, device)
    check_op(lambda a: F.softmax(a, dim), lambda a: np.exp(np_log_softmax(a, dim)), shapes, device)
    check_op(lambda a: a.softmax(dim), lambda a: np.exp(np_log_softmax(a, dim)), [((3, 4),)], device)


def test_softmax_is_stable(device):
    x = consts([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], device)
    np.testing.assert_allclose(to_numpy(F.softmax(x, 1)), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-12)
    np.testing.assert_allclose(to_numpy(F.log_softmax(x, 1))[0], [0, -1000, -2000], atol=1e-9)
    x32 = tw.tensor([[100.0, 0.0]], device=device, requires_grad=True)
    y = F.log_softmax(x32, 1)
    assert y.dtype == tw.float32 and np.isfinite(to_numpy(y)).all()
    y.sum().backward()
    assert np.isfinite(to_numpy(x32.grad)).all()


def test_log_softmax_double_backward(device):
    (a,), (x,) = make_inputs([(3, 4)], device)
    u = np.random.default_rng(1).uniform(0.5, 1.5, (3, 4))
    v = np.random.default_rng(2).uniform(0.5, 1.5, (3, 4))
    (gx,) = grads_with_graph(F.log_softmax(x, 1), [x], consts(u, device))
    assert gx.grad_fn is not None
    (gx * consts(v, device)).sum().backward()

    def vjp(a):  # the first derivative, u - softmax(a) * sum(u)
        return u - np.exp(np_log_softmax(a, 1)) * u.sum(1, keepdims=True)

    (expected,) = numerical_grads(vjp, [a.copy()], v)
    np.testing.assert_allclose(to_numpy(x.grad), expected, rtol=1e-5, atol=1e-6)


# -- losses ----------------------------------------------------------------------------------------
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


def test_linear(device):
    check_op(F.linear, lambda x, w: x @ w.T, [((5, 3), (4, 3)), ((2, 5, 3), (4, 3))], device)
    check_op(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b, [((5, 3), (4, 3), (4,))], device)


# -- indexing ops ----------------------------------------------------------------------------------
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


def test_dropout(device):
    x = tw.tensor(np.random.default_rng(0).uniform(1.0, 2.0, (200, 50)), device=device, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    tw.manual_seed(123)
    y = F.dropout(x, 0.3)
    tw.manual_seed(123)
    np.testing.assert_array_equal(to_numpy(F.dropout(x, 0.3)), to_numpy(y))
    yn, xn = to_numpy(y), to_numpy(x)
    kept = yn != 0
    np.testing.assert_allclose(yn[kept], xn[kept] / 0.7)
    assert abs(kept.mean() - 0.7) < 0.02
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), kept / 0.7)
    assert np.all(to_numpy(F.dropout(x, 1.0)) == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_dropout2d(device):
    x = tw.tensor(np.random.default_rng(0).uniform(1.0, 2.0, (8, 50, 3, 2)), device=device, requires_grad=True)
    assert F.dropout2d(x, 0.5, training=False) is x
    tw.manual_seed(0)
    y = F.dropout2d(x, 0.4)
    yn, xn = to_numpy(y), to_numpy(x)
    kept = (yn != 0).all(axis=(2, 3))
    assert np.array_equal(kept, (yn != 0).any(axis=(2, 3)))  # whole channels dropped or kept
    np.testing.assert_allclose(yn[kept], xn[kept] / 0.6)
    assert abs(kept.mean() - 0.6) < 0.06
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), np.broadcast_to(kept[:, :, None, None] / 0.6, xn.shape))


# -- convolution and pooling -----------------------------------------------------------------------
def _pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """A direct loop over output pixels (and groups); padding is (ph, pw) or (top, bottom, left, right)."""
    (sh, sw), (dh, dw) = _pairs(stride), _pairs(dilation)
    pads = _pairs(padding)
    pt, pb, pl, pr = (pads[0], pads[0], pads[1], pads[1]) if len(pads) == 2 else pads
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    N, C, H, W = x.shape
    Cout, Cg, kh, kw = w.shape
    OH, OW = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    Og = Cout // groups
    out = np.zeros((N, Cout, OH, OW))
    for g in range(groups):
        xs, ws = x[:, g * Cg : (g + 1) * Cg], w[g * Og : (g + 1) * Og]
        for i in range(OH):
            for j in range(OW):
                win = xs[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
                out[:, g * Og : (g + 1) * Og, i, j] = np.einsum("nchw,ochw->no", win, ws)
    return out if b is None else out + b[None, :, None, None]


CONV_CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), {}),
    ((1, 2, 6, 5), (3, 2, 3, 2), {"stride": 2}),
    ((2, 2, 4, 4), (2, 2, 3, 3), {"padding": 1}),
    ((1, 2, 7, 6), (2, 2, 3, 2), {"dilation": 2, "padding": (1, 0)}),
    ((2, 4, 4, 4), (4, 2, 2, 2), {"groups": 2}),
    ((1, 3, 4, 4), (6, 1, 2, 2), {"groups": 3}),  # depthwise
    ((1, 4, 5, 4), (6, 2, 3, 3), {"groups": 2, "stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}),
]


@pytest.mark.parametrize("xs, ws, kwargs", CONV_CASES)
def test_conv2d(xs, ws, kwargs, device):
    check_op(lambda x, w: F.conv2d(x, w, **kwargs), lambda x, w: np_conv2d(x, w, **kwargs), [(xs, ws)], device)


def test_conv2d_bias_same_padding_unbatched(device):
    check_op(
        lambda x, w, b: F.conv2d(x, w, b, padding="same"),
        lambda x, w, b: np_conv2d(x, w, b, padding=(0, 1, 1, 2)),  # even kernel: the extra pad goes after
        [((1, 2, 4, 5), (3, 2, 2, 4), (3,))],
        device,
    )
    check_op(
        lambda x, w: F.conv2d(x, w, padding="valid"),
        lambda x, w: np_conv2d(x[None], w)[0],
        [((2, 4, 4), (3, 2, 3, 3))],
        device,
    )


def test_conv2d_double_backward(device):
    # L = sum(u * conv(x, w)) is bilinear, so d/dx sum(v * dL/dw) = d/dx sum(u * conv(x, v))
    (a, wa), (x, w) = make_inputs([(1, 2, 4, 4), (2, 2, 3, 3)], device, seed=4)
    u = np.random.default_rng(1).uniform(0.5, 1.5, (1, 2, 2, 2))
    v = np.random.default_rng(2).uniform(0.5, 1.5, wa.shape)
    (gw,) = grads_with_graph(F.conv2d(x, w, stride=2, padding=1), [w], consts(u, device), others=[x])
    (gw * consts(v, device)).sum().backward()
    (expected,) = numerical_grads(lambda a: np_conv2d(a, v, stride=2, padding=1), [a], u)
    np.testing.assert_allclose(to_numpy(x.grad), expected, rtol=1e-5, atol=1e-6)


def test_conv1d(device):
    def ref(x, w, b):
        return np_conv2d(x[:, :, None], w[:, :, None], b, stride=(1, 2), padding=(0, 1))[:, :, 0]

    check_op(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), ref, [((2, 2, 7), (3, 2, 3), (3,))], device)


def test_conv2d_errors(device):
    x = tw.zeros(1, 4, 5, 5, device=device)
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(x, tw.zeros(3, 2, 3, 3, device=device), groups=2)
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        F.conv2d(x, tw.zeros(2, 4, 7, 7, device=device))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(x, tw.zeros(2, 4, 3, 3, device=device), stride=2, padding="same")


def np_pool(x, k, stride, padding, dilation, reduce_fn, fill):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(_pairs, (k, stride or k, padding, dilation))
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    OH, OW = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1, (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros(x.shape[:2] + (OH, OW))
    for i in range(OH):
        for j in range(OW):
            win = x[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
            out[:, :, i, j] = reduce_fn(win.reshape(win.shape[:2] + (-1,)))
    return out


POOL_CASES = [
    (2, None, 0, 1),
    (3, 1, 1, 1),
    ((3, 2), (2, 1), (1, 0), 1),
    (2, 1, 0, 2),
]


@pytest.mark.parametrize("k, stride, padding, dilation", POOL_CASES)
def test_max_pool2d(k, stride, padding, dilation, device):
    check_op(
        lambda x: F.max_pool2d(x, k, stride, padding, dilation),
        lambda x: np_pool(x, k, stride, padding, dilation, lambda w: w.max(-1), -np.inf),
        [((2, 2, 5, 6),)],
        device,
    )


def test_max_pool2d_ties_and_indices(device):
    # ties: the whole gradient of a window goes to its first maximum in row-major order
    x = tw.tensor(np.ones((1, 1, 4, 4)), device=device, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(to_numpy(x.grad)[0, 0], expected)
    a = np.random.default_rng(0).permutation(30).reshape(1, 5, 6).astype(np.float64)
    y, idx = F.max_pool2d(tw.tensor(a, device=device), 3, 2, 1, return_indices=True)
    assert idx.dtype == tw.int64 and idx.shape == y.shape == (1, 3, 3)
    np.testing.assert_array_equal(to_numpy(y), a.reshape(1, -1)[0][to_numpy(idx)])
    np.testing.assert_array_equal(to_numpy(y), np_pool(a[None], 3, 2, 1, 1, lambda w: w.max(-1), -np.inf)[0])


@pytest.mark.parametrize("k, stride, padding", [(2, None, 0), (3, 2, 1), ((2, 3), 1, (1, 1))])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(k, stride, padding, count_include_pad, device):
    def ref(x):
        s = np_pool(x, k, stride, padding, 1, lambda w: w.sum(-1), 0.0)
        if count_include_pad:
            return s / np.prod(_pairs(k))
        return s / np_pool(np.ones_like(x), k, stride, padding, 1, lambda w: w.sum(-1), 0.0)

    check_op(
        lambda x: F.avg_pool2d(x, k, stride, padding, count_include_pad=count_include_pad),
        ref,
        [((2, 2, 5, 5),)],
        device,
    )


def test_avg_pool2d_divisor_override_unbatched(device):
    check_op(
        lambda x: F.avg_pool2d(x, 2, divisor_override=3),
        lambda x: np_pool(x[None], 2, None, 0, 1, lambda w: w.sum(-1), 0.0)[0] / 3,
        [((2, 4, 4),)],
        device,
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


def test_softmin_and_activation_reexports(device):
    check_op(lambda a: F.softmin(a, 1), lambda a: np.exp(np_log_softmax(-a, 1)), [((3, 4),)], device)
    check_op(F.relu, lambda a: np.maximum(a, 0), [((3, 4),)], device)
    assert F.pad is tw.pad and F.gelu is tw.gelu


def test_pool1d(device):
    check_op(
        lambda x: F.max_pool1d(x, 3, 2, 1),
        lambda x: np_pool(x[:, :, None], (1, 3), (1, 2), (0, 1), 1, lambda w: w.max(-1), -np.inf)[:, :, 0],
        [((2, 3, 7),)],
        device,
    )
    check_op(
        lambda x: F.avg_pool1d(x, 2),
        lambda x: np_pool(x[:, :, None], (1, 2), None, 0, 1, lambda w: w.mean(-1), 0.0)[:, :, 0],
        [((2, 3, 7),)],
        device,
    )
    y, idx = F.max_pool1d(consts([[[1.0, 5.0, 2.0, 0.0, 7.0]]], device), 2, return_indices=True)
    assert to_numpy(y).tolist() == [[[5.0, 2.0]]] and to_numpy(idx).tolist() == [[[1, 2]]]


def np_adaptive_avg_pool2d(x, oh, ow):
    H, W = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * H) // oh, -((-(i + 1) * H) // oh)
            w0, w1 = (j * W) // ow, -((-(j + 1) * W) // ow)
            out[..., i, j] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    return out


@pytest.mark.parametrize(
    "size, out", [((2, 3, 6, 4), (3, 2)), ((2, 3, 5, 7), (3, 4)), ((3, 5, 5), 1), ((1, 2, 4, 5), (None, 3))]
)
def test_adaptive_avg_pool2d(size, out, device):
    oh, ow = (out, out) if isinstance(out, int) else out
    oh, ow = oh or size[-2], ow or size[-1]
    check_op(lambda x: F.adaptive_avg_pool2d(x, out), lambda x: np_adaptive_avg_pool2d(x, oh, ow), [(size,)], device)


def np_norm(x, dims, eps=1e-5):
    return (x - x.mean(dims, keepdims=True)) / np.sqrt(x.var(dims, keepdims=True) + eps)


def test_layer_norm_and_group_norm(device):
    check_op(lambda x: F.layer_norm(x, (4,)), lambda x: np_norm(x, (-1,)), [((3, 4),)], device)
    check_op(
        lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=1e-3),
        lambda x, w, b: np_norm(x, (-2, -1), 1e-3) * w + b,
        [((2, 3, 4), (3, 4), (3, 4))],
        device,
    )

    def ref_group(x, w, b):
        y = np_norm(x.reshape(2, 2, -1), (-1,)).reshape(x.shape)
        return y * w[None, :, None, None] + b[None, :, None, None]

    check_op(lambda x, w, b: F.group_norm(x, 2, w, b), ref_group, [((2, 4, 3, 2), (4,), (4,))], device)


def test_batch_norm(device):
    def ref_train(x, w, b):
        return np_norm(x, (0, 2, 3)) * w[None, :, None, None] + b[None, :, None, None]

    check_op(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        ref_train,
        [((4, 3, 2, 2), (3,), (3,))],
        device,
    )
    rm, rv = np.array([0.5, -0.2, 0.1]), np.array([1.5, 0.7, 2.0])
    check_op(
        lambda x: F.batch_norm(x, consts(rm, device), consts(rv, device)),
        lambda x: (x - rm[None, :, None]) / np.sqrt(rv[None, :, None] + 1e-5),
        [((4, 3, 5),)],
        device,
    )
    # training updates the running statistics in place, with the unbiased variance
    a = np.random.default_rng(0).normal(size=(4, 3, 5))
    running_mean, running_var = consts(rm, device), consts(rv, device)
    F.batch_norm(consts(a, device), running_mean, running_var, training=True, momentum=0.3)
    np.testing.assert_allclose(to_numpy(running_mean), 0.7 * rm + 0.3 * a.mean((0, 2)))
    np.testing.assert_allclose(to_numpy(running_var), 0.7 * rv + 0.3 * a.var((0, 2), ddof=1))


def test_normalize(device):
    check_op(lambda x: F.normalize(x), lambda x: x / np.linalg.norm(x, axis=1, keepdims=True), [((3, 4),)], device)
    check_op(
        lambda x: F.normalize(x, p=1.0, dim=0),
        lambda x: x / np.abs(x).sum(0, keepdims=True),
        [((3, 4),)],
        device,
        low=0.5,
    )
    np.testing.assert_array_equal(to_numpy(F.normalize(tw.zeros(2, 3, device=device))), np.zeros((2, 3)))


def test_no_host_copies_and_float32(device):
    # a small CNN + MLP training step: no transfer between host and device, float32 stays float32
    rng = np.random.default_rng(0)
    f32 = lambda *s: tw.tensor(rng.normal(size=s).astype(np.float32), device=device, requires_grad=True)  # noqa: E731
    x, w1, b1, w2, emb = f32(4, 2, 6, 6), f32(3, 2, 3, 3), f32(3), f32(5, 12), f32(7, 6)
    target, idx = ints([0, 4, 2, 1], device), ints([[1, 6], [6, 2], [3, 3], [1, 4]], device)
    b = x._backend
    before = b.transfers
    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
    h = F.avg_pool2d(h, 3, count_include_pad=False) + F.adaptive_avg_pool2d(h, 1)
    h = F.layer_norm(h.reshape(4, 3) @ tw.narrow(emb, 0, 0, 3) + F.embedding(idx, emb).sum(1), (6,))
    loss = F.cross_entropy(F.linear(tw.cat([h, h], 1), w2), target, label_smoothing=0.1)
    loss = loss + F.nll_loss(F.log_softmax(tw.narrow(h, 1, 0, 5), 1), target) + tw.gather(h, 1, idx - 1).sum()
    loss.backward()
    assert b.transfers == before
    assert loss.dtype == tw.float32 and all(t.grad.dtype == tw.float32 for t in (x, w1, b1, w2, emb))


def np_unfold(x, k, dilation=1, padding=0, stride=1):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(_pairs, (k, dilation, padding, stride))
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C, H, W = x.shape
    OH, OW = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((N, C * kh * kw, OH * OW))
    for i in range(OH):
        for j in range(OW):
            win = x[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
            out[:, :, i * OW + j] = win.reshape(N, -1)
    return out


def np_fold(cols, size, k, dilation=1, padding=0, stride=1):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(_pairs, (k, dilation, padding, stride))
    H, W = size
    N, CK, _ = cols.shape
    out = np.zeros((N, CK // (kh * kw), H + 2 * ph, W + 2 * pw))
    OH, OW = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    for i in range(OH):
        for j in range(OW):
            win = cols[:, :, i * OW + j].reshape(N, -1, kh, kw)
            out[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw] += win
    return out[:, :, ph : ph + H, pw : pw + W]


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1}, {"dilation": (2, 1), "padding": (1, 0)}])
def test_unfold_and_fold(kwargs, device):
    check_op(
        lambda x: F.unfold(x, (2, 3), **kwargs), lambda x: np_unfold(x, (2, 3), **kwargs), [((2, 2, 5, 6),)], device
    )
    L = np_unfold(np.zeros((1, 1, 5, 6)), (2, 3), **kwargs).shape[-1]
    check_op(
        lambda c: F.fold(c, (5, 6), (2, 3), **kwargs),
        lambda c: np_fold(c, (5, 6), (2, 3), **kwargs),
        [((2, 12, L),)],
        device,
    )
    check_op(lambda x: F.unfold(x, 2), lambda x: np_unfold(x[None], 2)[0], [((2, 3, 3),)], device)


def np_attention(q, k, v, mask=None, causal=False, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if causal:
        mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    return np.exp(np_log_softmax(s, -1)) @ v


def test_scaled_dot_product_attention(device):
    shapes = [((2, 3, 4), (2, 5, 4), (2, 5, 2))]
    bool_mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    float_mask = np.random.default_rng(0).normal(size=(3, 5))
    sdpa = F.scaled_dot_product_attention
    check_op(sdpa, np_attention, shapes, device)
    check_op(lambda q, k, v: sdpa(q, k, v, scale=0.3), lambda q, k, v: np_attention(q, k, v, scale=0.3), shapes, device)
    check_op(
        lambda q, k, v: sdpa(q, k, v, tw.tensor(bool_mask, device=device)),
        lambda q, k, v: np_attention(q, k, v, bool_mask),
        shapes,
        device,
    )
    check_op(
        lambda q, k, v: sdpa(q, k, v, consts(float_mask, device)),
        lambda q, k, v: np_attention(q, k, v, float_mask),
        shapes,
        device,
    )
    check_op(
        lambda q, k, v: sdpa(q, k, v, is_causal=True),
        lambda q, k, v: np_attention(q, k, v, causal=True),
        [((2, 4, 3), (2, 4, 3), (2, 4, 2))],
        device,
    )


def test_cosine_similarity_and_pairwise_distance(device):
    def cos(a, b):
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    check_op(F.cosine_similarity, cos, [((3, 4), (3, 4)), ((3, 4), (1, 4))], device)
    check_op(F.pairwise_distance, lambda a, b: np.linalg.norm(a - b + 1e-6, axis=-1), [((3, 4), (3, 4))], device)
    tiny = F.cosine_similarity(consts([[1e-9, 0.0]], device), consts([[1e-9, 1e-9]], device))
    np.testing.assert_allclose(to_numpy(tiny), [0.01])  # each norm clamped at eps, as in PyTorch


def test_functional_is_reachable_from_the_package():
    import subprocess
    import sys

    code = "import tensorweaver as tw; assert tw.nn.functional.conv2d is tw.conv2d and tw.nn.functional.pad is tw.pad"
    subprocess.run([sys.executable, "-c", code], check=True)


_IDX = np.array([[0, 2, 2], [1, 0, 3]])
SECOND_ORDER = {
    "log_softmax": (lambda x: F.log_softmax(x, 1), [(2, 4)]),
    "softmax": (lambda x: F.softmax(x, 0), [(3, 2)]),
    "cross_entropy": (
        lambda x: F.cross_entropy(x, ints([0, 3, -100], x.device), consts([1, 2, 3, 4], x.device)),
        [(3, 4)],
    ),
    "cross_entropy_smoothed": (
        lambda x: F.cross_entropy(x, ints([0, 3, -100], x.device), consts([1, 2, 3, 4], x.device), label_smoothing=0.2),
        [(3, 4)],
    ),
    "nll_loss_none": (lambda x: F.nll_loss(x * x, ints([[0, 2], [1, 1]], x.device), reduction="none"), [(2, 3, 2)]),
    "conv2d": (lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), [(1, 2, 3, 3), (2, 1, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, 1, 1), [(1, 1, 3, 3)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, 1, 1, count_include_pad=False), [(1, 1, 3, 3)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 1, 3, 4)]),
    "gather": (lambda x: tw.gather(x, 1, ints(_IDX, x.device)) ** 2, [(2, 4)]),
    "scatter_add": (lambda x, s: tw.scatter_add(x, 1, ints(_IDX, x.device), s * s), [(2, 4), (2, 3)]),
    "embedding": (lambda w: F.embedding(ints(_IDX, w.device), w) ** 2, [(4, 2)]),
    "masked_fill": (lambda x: tw.masked_fill(x * x, tw.tensor(_IDX > 1, device=x.device), 3.0), [(2, 3)]),
    "layer_norm": (lambda x, w: F.layer_norm(x, (3,), w), [(2, 3), (3,)]),
    "batch_norm": (lambda x: F.batch_norm(x, None, None, training=True), [(3, 2)]),
    "unfold_fold": (lambda x: F.fold(F.unfold(x, 2) ** 2, (3, 3), 2), [(1, 1, 3, 3)]),
    "attention": (F.scaled_dot_product_attention, [(1, 2, 3), (1, 3, 3), (1, 3, 2)]),
    "bce_with_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t), [(2, 3), (2, 3)]),
    "kl_div": (lambda x, t: F.kl_div(x, t * t, "batchmean"), [(2, 3), (2, 3)]),
    "normalize": (F.normalize, [(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name, device):
    fn, shapes = SECOND_ORDER[name]
    _, inputs = make_inputs(shapes, device, low=0.2, high=1.5, seed=7)
    assert gradgradcheck(fn, inputs)


def np_resize_1d(a, out, axis, mode, align_corners=False, scale=None):
    """Resize ``a`` along ``axis`` position by position (PyTorch's sampling conventions)."""
    n = a.shape[axis]
    step = n / out if scale is None else 1 / scale
    rows = []
    for i in range(out):
        if mode == "nearest":
            rows.append(np.take(a, min(int(np.floor(i * step)), n - 1), axis))
            continue
        src = (
            i * (n - 1) / (out - 1)
            if align_corners and out > 1
            else 0.0
            if align_corners
            else max((i + 0.5) * step - 0.5, 0)
        )
        lo = min(int(np.floor(src)), n - 1)
        hi, f = min(lo + 1, n - 1), src - lo
        rows.append(np.take(a, lo, axis) * (1 - f) + np.take(a, hi, axis) * f)
    return np.stack(rows, axis)


INTERP_CASES = [
    ((1, 2, 4, 5), {"size": (7, 3)}, ((7, None), (3, None)), "nearest", False),
    ((1, 2, 4, 5), {"scale_factor": 2}, ((8, 2), (10, 2)), "nearest", False),
    ((1, 2, 4, 5), {"size": (6, 3), "mode": "bilinear"}, ((6, None), (3, None)), "bilinear", False),
    (
        (1, 2, 4, 5),
        {"size": (6, 7), "mode": "bilinear", "align_corners": True},
        ((6, None), (7, None)),
        "bilinear",
        True,
    ),
    ((2, 2, 5), {"scale_factor": 1.5, "mode": "linear"}, ((7, 1.5),), "linear", False),
]


@pytest.mark.parametrize("shape, kwargs, outs, mode, align", INTERP_CASES)
def test_interpolate(shape, kwargs, outs, mode, align, device):
    def ref(a):
        for axis, (out, scale) in zip(range(a.ndim - len(outs), a.ndim), outs, strict=True):
            a = np_resize_1d(a, out, axis, mode, align, scale)
        return a

    check_op(lambda x: F.interpolate(x, **kwargs), ref, [(shape,)], device)
