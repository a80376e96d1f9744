"""Convolution, pooling, fold/unfold and interpolate on every backend, against direct-loop float64 NumPy references;
and a small CNN step that makes no host copies."""

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


def test_functional_is_reachable_from_the_package():
    import subprocess
    import sys

    code = "import tensorweaver as tw; assert tw.nn.functional.conv2d is tw.conv2d and tw.nn.functional.pad is tw.pad"
    subprocess.run([sys.executable, "-c", code], check=True)


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


SECOND_ORDER = {
    "conv2d": (lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), [(1, 2, 3, 3), (2, 1, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, 1, 1), [(1, 1, 3, 3)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, 1, 1, count_include_pad=False), [(1, 1, 3, 3)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 1, 3, 4)]),
    "unfold_fold": (lambda x: F.fold(F.unfold(x, 2) ** 2, (3, 3), 2), [(1, 1, 3, 3)]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name, device):
    check_second_order(*SECOND_ORDER[name], device)


# -- issue 9: ceil_mode, count_include_pad, integer inputs, -inf windows (against PyTorch) ---------
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pools_ceil_mode_and_count_include_pad_match_pytorch(device, name):
    torch = pytest.importorskip("torch")
    import itertools

    for H, W, k, s, p, ceil, cip in itertools.product(
        [5, 6], [4, 7], [2, 3], [1, 2, 3], [0, 1], [False, True], [False, True]
    ):
        if p > k // 2 or (name == "max_pool2d" and not cip):
            continue
        a = np.random.default_rng(H * W + k).standard_normal((2, 2, H, W))
        kw = {"ceil_mode": ceil} | ({"count_include_pad": cip} if name == "avg_pool2d" else {})
        xt = torch.tensor(a, requires_grad=True)
        yt = getattr(torch.nn.functional, name)(xt, k, s, p, **kw)
        x = tw.tensor(a, requires_grad=True, device=device)
        y = getattr(F, name)(x, k, s, p, **kw)
        u = np.random.default_rng(1).standard_normal(tuple(yt.shape))
        (yt * torch.tensor(u)).sum().backward()
        (y * tw.tensor(u, device=device)).sum().backward()
        case = f"{(H, W)} k={k} s={s} p={p} {kw}"
        assert y.shape == tuple(yt.shape), case
        np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), err_msg=case)
        np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), err_msg=case)


def test_pool_modules_and_1d_pools_take_ceil_mode(device):
    x = tw.tensor(np.arange(25.0).reshape(1, 1, 5, 5), device=device)
    assert tw.nn.MaxPool2d(2, ceil_mode=True)(x).shape == (1, 1, 3, 3)
    np.testing.assert_allclose(to_numpy(tw.nn.AvgPool2d(2, ceil_mode=True)(x))[0, 0, 2], [20.5, 22.5, 24.0])
    x1 = tw.tensor(np.arange(5.0).reshape(1, 1, 5), device=device)
    np.testing.assert_allclose(to_numpy(F.max_pool1d(x1, 2, ceil_mode=True)), [[[1.0, 3.0, 4.0]]])
    np.testing.assert_allclose(to_numpy(tw.nn.AvgPool1d(2, ceil_mode=True)(x1)), [[[0.5, 2.5, 4.0]]])
    np.testing.assert_allclose(
        to_numpy(F.avg_pool1d(x1, 3, 1, 1, count_include_pad=False)), [[[0.5, 1.0, 2.0, 3.0, 3.5]]]
    )


def test_max_pool_of_an_all_minus_inf_window_never_picks_the_padding(device):
    x = tw.tensor(np.full((1, 1, 2, 2), -np.inf), requires_grad=True, device=device)
    F.max_pool2d(x, 2, padding=1).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.ones((1, 1, 2, 2)))  # PyTorch's answer


@pytest.mark.parametrize("k, stride, padding", [(2, None, 0), (3, 2, 1)])
def test_max_pool_of_a_conv_layout_input_matches_a_contiguous_one(device, k, stride, padding):
    # conv2d's output is (C, N, H, W) in memory, which max_pool2d pools as that: values, NaNs, ties,
    # indices and gradients as for the same input laid out (N, C, H, W)
    a = np.random.default_rng(1).permutation(3 * 2 * 6 * 6).reshape(3, 2, 6, 6).astype(np.float64)
    a[0, 1, 2, 3] = np.nan
    a[1, 0, :2, :2] = 7.0  # a tie inside one window

    def pooled(x, nchw):
        y, idx = F.max_pool2d(nchw, k, stride, padding, return_indices=True)
        y.backward(tw.tensor(np.arange(y.numel(), dtype=np.float64).reshape(y.shape), device=device))
        return to_numpy(y), to_numpy(idx), to_numpy(x.grad)

    x = tw.tensor(np.ascontiguousarray(a.transpose(1, 0, 2, 3)), device=device, requires_grad=True)
    want = pooled(x, x)
    x = tw.tensor(a, device=device, requires_grad=True)  # (C, N, H, W) in memory
    got = pooled(x, x.permute(1, 0, 2, 3))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2].transpose(1, 0, 2, 3), want[2])
    assert np.isnan(want[0]).any() and want[2][0, 1, 0, 0] > 0 and want[2][0, 1, 0, 1] == 0


def test_pools_of_integers_keep_the_dtype(device):
    torch = pytest.importorskip("torch")
    a = np.arange(-8, 17).reshape(1, 1, 5, 5)
    for name in ("max_pool2d", "avg_pool2d"):
        for kw in ({}, {"padding": 1}, {"ceil_mode": True}):
            y = getattr(F, name)(tw.tensor(a, device=device), 3, 2, **kw)
            expected = getattr(torch.nn.functional, name)(torch.tensor(a), 3, 2, **kw)
            assert y.dtype == tw.int64, (name, kw)
            np.testing.assert_array_equal(to_numpy(y), expected.numpy())
    with pytest.raises(TypeError, match="bool"):
        F.avg_pool2d(tw.ones(1, 1, 2, 2, dtype=tw.bool, device=device), 2)


@pytest.mark.parametrize(
    ("shape", "mode"),
    [((1, 2, 5), "nearest-exact"), ((1, 2, 4, 5), "nearest-exact"), ((1, 2, 4, 5), "bicubic"), ((1, 2, 4, 6), "area")],
)
def test_interpolate_nearest_exact_bicubic_area_match_pytorch(device, shape, mode):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal(shape)
    for arg in ({"size": 7}, {"size": 3}, {"scale_factor": 2}, {"scale_factor": 0.5}, {"scale_factor": 1.7}):
        for ac in [None] if mode != "bicubic" else [False, True]:
            kw = dict(arg, mode=mode) | ({} if ac is None else {"align_corners": ac})
            xt = torch.tensor(a, requires_grad=True)
            yt = torch.nn.functional.interpolate(xt, **kw)
            x = tw.tensor(a, requires_grad=True, device=device)
            y = F.interpolate(x, **kw)
            u = np.random.default_rng(1).standard_normal(tuple(yt.shape))
            (yt * torch.tensor(u)).sum().backward()
            (y * tw.tensor(u, device=device)).sum().backward()
            np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), err_msg=str(kw))
            np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), err_msg=str(kw))
    with pytest.raises(ValueError, match="not available"):
        F.interpolate(tw.zeros(1, 1, 4, device=device), size=2, mode="bicubic")


def test_interpolate_refuses_an_empty_input_or_output(device):
    # PyTorch: RuntimeError "Input and output sizes should be greater than 0"
    with pytest.raises(tw.errors.ShapeError, match=r"greater than 0, got input \(2, 1\) and output \(1, 0\)"):
        F.interpolate(tw.ones(1, 1, 2, 1, device=device), scale_factor=0.5, mode="bilinear")
    with pytest.raises(RuntimeError, match="greater than 0"):
        F.interpolate(tw.ones(1, 1, 0, device=device), size=3)
