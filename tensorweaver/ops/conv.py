"""Convolution, pooling, fold/unfold and interpolate, built on two primitives that are each other's
adjoint: Im2Col (sliding blocks as columns) and Col2Im (columns summed back into an image)."""

from __future__ import annotations

from .._args import IntOrSeq
from .._errors import ShapeError
from ._common import Function, Tensor, apply1, const, float_input, kind, promote
from .linalg import matmul
from .shape import permute, reshape

__all__ = ["conv1d", "conv2d", "max_pool2d"]

_wrap = Tensor._wrap


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2 or not all(isinstance(i, int) for i in v):
        raise ValueError(f"{what} must be an int or a pair of ints, got {v}")
    return v


class Im2Col(Function):
    """(N, C, H, W) -> (C, kh * kw, N, OH, OW): every kernel position's strided slice of the padded input.

    ``pads`` is (top, bottom, left, right); the padding holds ``fill`` (0, or -inf for max pooling).
    Channels and kernel positions lead so that conv2d is one matrix product (per group) with no
    broadcast batch dims, which NumPy would run without BLAS.
    """

    __slots__ = ("k", "stride", "pads", "dil", "fill", "dev")

    def __init__(self, k, stride, pads, dil, fill, dev) -> None:
        self.k, self.stride, self.pads, self.dil, self.fill, self.dev = k, stride, pads, dil, fill, dev

    def out_size(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = self.k, self.stride, self.dil, self.pads
        return (height + pt + pb - dh * (kh - 1) - 1) // sh + 1, (width + pl + pr - dw * (kw - 1) - 1) // sw + 1

    def forward(self, xp, x):
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = self.k, self.stride, self.dil, self.pads
        OH, OW = self.out_size(H, W)
        x = xp.permute_dims(x, (1, 0, 2, 3))
        if pt or pb or pl or pr:
            xpad = xp.full((C, N, H + pt + pb, W + pl + pr), self.fill, dtype=x.dtype, device=self.dev)
            xpad[:, :, pt : pt + H, pl : pl + W] = x
        else:
            xpad = x
        cols = [
            xpad[:, :, i * dh : i * dh + sh * (OH - 1) + 1 : sh, j * dw : j * dw + sw * (OW - 1) + 1 : sw]
            for i in range(kh)
            for j in range(kw)
        ]
        return xp.stack(cols, axis=1)

    def backward(self, gy):
        x = self.inputs[0]
        return (apply1(Col2Im(self, tuple(x._data.shape)), gy),)


class Col2Im(Function):
    """The adjoint of Im2Col: each kernel position's slice added back into an image of ``shape``."""

    __slots__ = ("im", "shape")

    def __init__(self, im: Im2Col, shape) -> None:
        self.im, self.shape = im, shape

    def forward(self, xp, cols):
        im = self.im
        N, C, H, W = self.shape
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = im.k, im.stride, im.dil, im.pads
        OH, OW = cols.shape[3], cols.shape[4]
        out = xp.zeros((C, N, H + pt + pb, W + pl + pr), dtype=cols.dtype, device=im.dev)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
                cs = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
                out[:, :, rows, cs] = out[:, :, rows, cs] + cols[:, i * kw + j, ...]
        return xp.permute_dims(out[:, :, pt : pt + H, pl : pl + W], (1, 0, 2, 3))

    def backward(self, gy):
        im = self.im
        return (apply1(Im2Col(im.k, im.stride, im.pads, im.dil, 0, im.dev), gy),)


def _checked_out_size(fn: Im2Col, x: Tensor, what: str) -> tuple[int, int]:
    OH, OW = fn.out_size(x._data.shape[2], x._data.shape[3])
    if OH < 1 or OW < 1:
        raise RuntimeError(
            f"{what}: input of shape {x.shape} (padded {fn.pads}) is smaller than the kernel {fn.k} (dilation {fn.dil})"
        )
    return OH, OW


def _im2col(x: Tensor, k, stride, pads, dil, fill, what: str) -> Tensor:
    fn = Im2Col(k, stride, pads, dil, fill, x._backend.native_device)
    _checked_out_size(fn, x, what)
    return apply1(fn, x)


class MaxPool(Function):
    """(N, C, H, W) -> (N, C, OH, OW): the max of each window, and (in ``arg``) its kernel position.

    NOTE: the maximum and the comparisons run over the (padded) input's elements per kernel position,
    one contiguous (K, N, C, OH, OW) copy of them (never argmax along a short middle axis, as of
    im2col's (C, K, N, OH, OW) copy: 4x slower, benchmarks/README.md, workload 10); N and C play
    the same part, so ``max_pool2d`` may pass the input with the two swapped.
    Values are ``maximum``'s (NaN propagates); ``arg`` is the first position in row-major kernel order
    inside the input that holds the maximum (or the first NaN), as PyTorch picks, so ties send the
    gradient to one element and never to the padding (which holds ``fill``: -inf, or an integer
    dtype's minimum).
    """

    __slots__ = ("im", "arg", "shape")
    keeps_inputs = False  # backward reads arg and the input's shape

    def __init__(self, im: Im2Col) -> None:
        self.im = im

    def _views(self, shape):
        """The padded input's shape and, per kernel position, the (rows, cols) slices of its windows' elements."""
        im = self.im
        N, C, H, W = shape
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = im.k, im.stride, im.dil, im.pads
        OH, OW = im.out_size(H, W)
        sl = [
            (slice(i * dh, i * dh + sh * (OH - 1) + 1, sh), slice(j * dw, j * dw + sw * (OW - 1) + 1, sw))
            for i in range(kh)
            for j in range(kw)
        ]
        return (N, C, H + pt + pb, W + pl + pr), sl

    def forward(self, xp, x):
        im = self.im
        self.shape = x.shape
        padded, sl = self._views(x.shape)
        pt, _, pl, _ = im.pads
        if padded != x.shape:
            xpad = xp.full(padded, im.fill, dtype=x.dtype, device=im.dev)
            xpad[:, :, pt : pt + x.shape[2], pl : pl + x.shape[3]] = x
        else:
            xpad = x
        # NOTE: the kernel positions' elements gathered once, position-major ((K, N, C, OH, OW),
        # contiguous; freed on return): the max and the K comparisons below then read contiguous
        # memory, where each pass over a strided view cost ~2x (2.4 ms against 4.4 ms for the
        # benchmark CNN's first pool, 64 x 32 x 26 x 26 float32)
        pos = xp.stack([xpad[:, :, r, c] for r, c in sl])
        best = xp.max(pos, axis=0)  # NaN propagates, as maximum's
        # arg: the smallest position p whose element is the max (or NaN), found as K - max(hit_p * (K - p)),
        # arithmetic on a small integer type (where() over the output is ~10x slower on NumPy)
        K = len(sl)
        idt = xp.int8 if K <= 127 else xp.int32
        real = None
        if padded != x.shape:  # which window elements are inside the input: padding never wins, even over -inf
            inside = xp.zeros((1, 1, *padded[2:]), dtype=xp.bool, device=im.dev)
            inside[:, :, pt : pt + x.shape[2], pl : pl + x.shape[3]] = True
            real = [inside[:, :, r, c] for r, c in sl]
        floating = xp.isdtype(x.dtype, "real floating")
        code = None
        for p in range(K):
            v = pos[p, ...]
            hit = v == best
            if real is not None:
                hit &= real[p]
            if floating:
                hit |= v != v  # NaN: the max is NaN, the index the first NaN's
            c = xp.astype(hit, idt) * xp.asarray(K - p, dtype=idt, device=im.dev)
            code = c if code is None else xp.maximum(code, c)
        arg = xp.asarray(K, dtype=idt, device=im.dev) - code
        self.arg = arg
        return best

    def backward_array(self, xp, gy):
        im = self.im
        padded, sl = self._views(self.shape)
        (kh, kw), (sh, sw), (dh, dw), (pt, _, pl, _) = im.k, im.stride, im.dil, im.pads
        disjoint = sh >= dh * (kh - 1) + 1 and sw >= dw * (kw - 1) + 1  # each input element in one window
        OH, OW = gy.shape[2], gy.shape[3]
        tiled = (dh, dw) == (1, 1) and (sh, sw) == (kh, kw) and (OH * sh, OW * sw) == padded[2:]
        # tiled: the windows tile the (padded) input, every element is written once below
        gx = (xp.empty if tiled else xp.zeros)(padded, dtype=gy.dtype, device=im.dev)
        arg = self.arg
        for p, (r, c) in enumerate(sl):
            part = xp.astype(arg == p, gy.dtype) * gy if len(sl) > 1 else gy
            if disjoint:
                gx[:, :, r, c] = part
            else:
                gx[:, :, r, c] = gx[:, :, r, c] + part
        H, W = self.shape[2], self.shape[3]
        return (gx if padded == tuple(self.shape) else gx[:, :, pt : pt + H, pl : pl + W],)

    def backward(self, gy):
        # differentiable (create_graph): gy spread to its windows' positions, summed back by Col2Im
        b = gy._backend
        xp, K = b.xp, len(self._views(self.shape)[1])
        masks = xp.stack([xp.astype(self.arg == p, gy._data.dtype) for p in range(K)], axis=1)  # (N, K, C, OH, OW)
        N, C, OH, OW = gy._data.shape
        cols = permute(reshape(gy, (N, 1, C, OH, OW)) * const(gy, masks), (2, 1, 0, 3, 4))  # (C, K, N, OH, OW)
        im = self.im
        return (apply1(Col2Im(Im2Col(im.k, im.stride, im.pads, im.dil, 0, im.dev), tuple(self.shape)), cols),)

    def release(self) -> None:
        self.inputs = self.arg = None


def _batched(x: Tensor, what: str) -> tuple[Tensor, bool]:
    """``x`` as (N, C, H, W), and whether a batch dim was added to an unbatched (C, H, W) input."""
    if x._data.ndim == 3:
        return reshape(x, (1, *x._data.shape)), True
    if x._data.ndim != 4:
        raise ShapeError(f"{what}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    return x, False


def _conv_pads(padding, k, dil, stride) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        th, tw_ = dil[0] * (k[0] - 1), dil[1] * (k[1] - 1)
        return (th // 2, th - th // 2, tw_ // 2, tw_ - tw_ // 2)
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be non-negative, got {padding}")
    return (ph, ph, pw, pw)


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias=None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (O, C / groups, kh, kw), as im2col + matmul."""
    x, unbatched = _batched(x, "conv2d")
    if weight._data.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (out, in / groups, kh, kw), got shape {weight.shape}")
    N, C, H, W = x._data.shape
    Cout, Cg, kh, kw = weight._data.shape
    if groups < 1 or C % groups or Cout % groups or C // groups != Cg:
        raise ShapeError(
            f"conv2d: input with {C} channels, weight of shape {weight.shape} and groups={groups} don't match "
            f"(need in_channels = groups * weight.shape[1] and out_channels divisible by groups)"
        )
    stride, dil = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(stride) < 1 or min(dil) < 1:
        raise ValueError(f"conv2d: stride and dilation must be positive, got {stride} and {dil}")
    pads = _conv_pads(padding, (kh, kw), dil, stride)
    if x._data.dtype != weight._data.dtype:
        x, weight = promote(x, weight)
    if kind(x) not in "fc":
        raise TypeError(f"conv2d: expected floating-point tensors, got {x.dtype}")
    cols = _im2col(x, (kh, kw), stride, pads, dil, 0, "conv2d")  # (C, kh*kw, N, OH, OW)
    OH, OW = cols._data.shape[3], cols._data.shape[4]
    K, L = Cg * kh * kw, N * OH * OW
    if groups == 1:
        y = matmul(reshape(weight, (Cout, K)), reshape(cols, (K, L)))
    else:
        y = matmul(reshape(weight, (groups, Cout // groups, K)), reshape(cols, (groups, K, L)))
    y = permute(reshape(y, (Cout, N, OH, OW)), (1, 0, 2, 3))
    if bias is not None:
        y = y + reshape(bias, (Cout, 1, 1))
    return reshape(y, y._data.shape[1:]) if unbatched else y


def conv1d(
    x: Tensor,
    weight: Tensor,
    bias=None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation of ``x`` (N, C, L) with ``weight`` (O, C / groups, k): conv2d on a height of 1."""
    if x._data.ndim not in (2, 3) or weight._data.ndim != 3:
        raise ShapeError(
            f"conv1d: expected input (N, C, L) or (C, L) and weight (O, C / groups, k), got {x.shape}, {weight.shape}"
        )
    s = stride if isinstance(stride, int) else stride[0]
    d = dilation if isinstance(dilation, int) else dilation[0]
    p = padding if isinstance(padding, (int, str)) else padding[0]
    x4 = reshape(x, (*x._data.shape[:-1], 1, x._data.shape[-1]))
    w4 = reshape(weight, (*weight._data.shape[:2], 1, weight._data.shape[2]))
    y = conv2d(x4, w4, bias, (1, s), p if isinstance(p, str) else (0, p), (1, d), groups)
    return reshape(y, (*y._data.shape[:-2], y._data.shape[-1]))


def _ceil_extra(n: int, k: int, s: int, p: int, d: int) -> int:
    """The padding ``ceil_mode=True`` adds at the end of a dim of size ``n``: PyTorch's rule, the
    output rounds up but the last window must start inside the input or the left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    out = -(-span // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return max(0, (out - 1) * s + d * (k - 1) + 1 - (n + 2 * p))


def _pool_args(x: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, what: str):
    """``(k, s, pads, d, extra)``: the kernel, stride, (top, bottom, left, right) padding including
    ``ceil_mode``'s, dilation, and the (bottom, right) part of the padding that ``ceil_mode`` added."""
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () or stride == [] else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{what}: kernel_size, stride and dilation must be positive, got {k}, {s}, {d}")
    if p[0] < 0 or p[1] < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ShapeError(
            f"{what}: pad should be at most half of the effective kernel size, got padding={p}, kernel_size={k}"
        )
    H, W = x._data.shape[-2:]
    eh, ew = (_ceil_extra(H, k[0], s[0], p[0], d[0]), _ceil_extra(W, k[1], s[1], p[1], d[1])) if ceil_mode else (0, 0)
    return k, s, (p[0], p[0] + eh, p[1], p[1] + ew), d, (eh, ew)


def max_pool2d(
    x: Tensor,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """The max over each window of ``x`` (N, C, H, W) or (C, H, W), floating or integer (the result
    keeps the dtype, as in PyTorch); padding never wins, even over -inf. ``ceil_mode=True`` rounds
    the output size up (PyTorch's rule: the last window starts inside the input or the padding).

    The gradient goes to one element per window, the first maximum in row-major kernel order
    (ties are not split). ``return_indices=True`` also returns each maximum's flat index in H * W.
    """
    x, unbatched = _batched(x, "max_pool2d")
    if kind(x) not in "fiu":
        raise TypeError(f"max_pool2d: expected a floating-point or integer input, got {x.dtype}")
    k, s, pads, d, _ = _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    b = x._backend
    xp = b.xp
    low = -float("inf") if kind(x) == "f" else int(xp.iinfo(x._data.dtype).min)
    fn = MaxPool(Im2Col(k, s, pads, d, low, b.native_device))
    _checked_out_size(fn.im, x, "max_pool2d")
    # NOTE: conv2d's output is (C, N, H, W) in memory: pooled as that (N and C alike to the op), the
    # reads run in memory order and the gradient comes back in that layout, which the conv's
    # backward reads as it is (a copy less); 1.3x less time for the benchmark CNN's first pool
    swapped = b.leading_axes_swapped(x._data)
    y = apply1(fn, permute(x, (1, 0, 2, 3)) if swapped else x)  # (N, C, OH, OW), or (C, N, OH, OW)
    arg = fn.arg
    if swapped:
        y = permute(y, (1, 0, 2, 3))
        arg = xp.permute_dims(arg, (1, 0, 2, 3))
    N, C, OH, OW = y._data.shape
    y = reshape(y, (C, OH, OW)) if unbatched else y
    if not return_indices:
        return y
    dev = b.native_device
    arg = xp.astype(arg, xp.int64)  # each window's kernel position (row-major)
    rows = xp.reshape(xp.arange(OH, dtype=xp.int64, device=dev) * s[0] - pads[0], (OH, 1)) + (arg // k[1]) * d[0]
    cols_ = xp.reshape(xp.arange(OW, dtype=xp.int64, device=dev) * s[1] - pads[2], (1, OW)) + (arg % k[1]) * d[1]
    idx = rows * x._data.shape[3] + cols_
    return y, _wrap(idx[0, ...] if unbatched else idx, b)


def avg_pool2d(
    x: Tensor,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
) -> Tensor:
    """The mean over each window of ``x`` (N, C, H, W) or (C, H, W); zero padding counts unless
    ``count_include_pad=False``; ``ceil_mode=True`` rounds the output size up (the windows that
    reach past the padding count only what they cover, as in PyTorch). An integer input gives an
    integer result (the mean truncated toward zero, as in PyTorch); bool is a TypeError."""
    x, unbatched = _batched(x, "avg_pool2d")
    if kind(x) not in "fciu":
        raise TypeError(f"avg_pool2d: expected a floating-point or integer input, got {x.dtype}")
    k, s, pads, d, (eh, ew) = _pool_args(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    b = x._backend
    xp = b.xp
    total = permute(_im2col(x, k, s, pads, d, 0, "avg_pool2d").sum(dim=1), (1, 0, 2, 3))
    if divisor_override is not None:
        div = divisor_override
    elif pads == (0, 0, 0, 0) or (count_include_pad and not (eh or ew)):
        div = k[0] * k[1]
    else:  # count per window: the input (and the padding if count_include_pad), never ceil_mode's part
        H, W = x._data.shape[2:]
        if count_include_pad:
            H, W = H + 2 * pads[0], W + 2 * pads[2]
            inner = (0, eh, 0, ew)
        else:
            inner = pads
        dt = total._data.dtype if kind(x) in "fc" else xp.float64
        ones = xp.ones((1, 1, H, W), dtype=dt, device=b.native_device)
        div = xp.sum(Im2Col(k, s, inner, d, 0, b.native_device).forward(xp, ones), axis=1)
    if kind(x) in "iu":  # no gradient: arrays, PyTorch's truncating division
        t = total._data
        q = xp.astype(t, xp.float64) / (div if isinstance(div, (int, float)) else xp.astype(div, xp.float64))
        y = _wrap(xp.astype(xp.trunc(q), t.dtype), b)
    else:
        y = total / (div if isinstance(div, (int, float)) else _wrap(div, b))
    return reshape(y, y._data.shape[1:]) if unbatched else y


def max_pool1d(
    x: Tensor,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """The max over each window of ``x`` (N, C, L) or (C, L): max_pool2d on a height of 1."""
    one = lambda v: (1, v if isinstance(v, int) else v[0])  # noqa: E731
    out = max_pool2d(
        reshape(x, (*x._data.shape[:-1], 1, x._data.shape[-1])),
        one(kernel_size),
        None if stride is None else one(stride),
        (0, padding if isinstance(padding, int) else padding[0]),
        one(dilation),
        ceil_mode,
        return_indices,
    )
    if return_indices:
        y, idx = out
        squeeze = lambda t: reshape(t, (*t._data.shape[:-2], t._data.shape[-1]))  # noqa: E731
        return squeeze(y), squeeze(idx)
    assert isinstance(out, Tensor)
    return reshape(out, (*out._data.shape[:-2], out._data.shape[-1]))


def avg_pool1d(
    x: Tensor,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
):
    """The mean over each window of ``x`` (N, C, L) or (C, L): avg_pool2d on a height of 1."""
    one = lambda v: (1, v if isinstance(v, int) else v[0])  # noqa: E731
    y = avg_pool2d(
        reshape(x, (*x._data.shape[:-1], 1, x._data.shape[-1])),
        one(kernel_size),
        None if stride is None else one(stride),
        (0, padding if isinstance(padding, int) else padding[0]),
        ceil_mode,
        count_include_pad,
    )
    return reshape(y, (*y._data.shape[:-2], y._data.shape[-1]))


def _adaptive_matrix(b, size: int, out: int, dtype):
    """(out, size): row i averages input positions [floor(i * size / out), ceil((i + 1) * size / out))."""
    xp, dev = b.xp, b.native_device
    i = xp.arange(out, dtype=xp.int64, device=dev)
    start = xp.reshape((i * size) // out, (-1, 1))
    end = xp.reshape(((i + 1) * size + out - 1) // out, (-1, 1))
    j = xp.reshape(xp.arange(size, dtype=xp.int64, device=dev), (1, -1))
    inside = xp.astype((j >= start) & (j < end), dtype)
    return inside / xp.astype(end - start, dtype)


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average pooling of ``x`` (N, C, H, W) or (C, H, W) to ``output_size`` (an int, a pair; None keeps
    that size), with PyTorch's windows (overlapping where the sizes don't divide)."""
    x = float_input(x)
    if x._data.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape {x.shape}")
    H, W = x._data.shape[-2:]
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    oh, ow = H if oh is None else oh, W if ow is None else ow
    lead = tuple(x._data.shape[:-2])
    if H % oh == 0 and W % ow == 0:  # equal windows: a reshape and a mean
        return reshape(x, (*lead, oh, H // oh, ow, W // ow)).mean(dim=(-3, -1))
    return _apply_matrices(
        x, _adaptive_matrix(x._backend, H, oh, x._data.dtype), _adaptive_matrix(x._backend, W, ow, x._data.dtype)
    )


def _apply_matrices(x: Tensor, mh, mw) -> Tensor:
    """``mh @ x @ mw.T`` over the last two dims of ``x`` (``mh`` may be None: that dim is kept), as
    2-D matrix products (a broadcast batched product would run without BLAS on NumPy)."""
    b = x._backend
    *lead, H, W = x._data.shape
    n = 1
    for d in lead:
        n *= d
    y = matmul(reshape(x, (n * H, W)), _wrap(b.xp.permute_dims(mw, (1, 0)), b))  # (n * H, OW)
    OW = mw.shape[0]
    if mh is None:
        return reshape(y, (*lead, H, OW))
    y = reshape(permute(reshape(y, (n, H, OW)), (0, 2, 1)), (n * OW, H))
    y = matmul(y, _wrap(b.xp.permute_dims(mh, (1, 0)), b))  # (n * OW, OH)
    return reshape(permute(reshape(y, (n, OW, mh.shape[0])), (0, 2, 1)), (*lead, mh.shape[0], OW))


def _interp_matrix(b, size: int, out: int, scale, mode: str, align_corners: bool, dtype):
    """(out, size): each output position as a weighted sum of input positions (PyTorch's conventions)."""
    xp, dev = b.xp, b.native_device
    i = xp.astype(xp.arange(out, dtype=xp.int64, device=dev), dtype)
    j = xp.reshape(xp.arange(size, dtype=xp.int64, device=dev), (1, -1))
    step = size / out if scale is None else 1.0 / scale
    if mode in ("nearest", "nearest-exact"):
        src = xp.astype(xp.floor((i + 0.5) * step if mode == "nearest-exact" else i * step), xp.int64)
        src = xp.where(src > size - 1, xp.full_like(src, size - 1), src)
        return xp.astype(xp.reshape(src, (-1, 1)) == j, dtype)
    if mode == "area":
        return _adaptive_matrix(b, size, out, dtype)
    if align_corners:
        src = i * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = (i + 0.5) * step - 0.5
        if mode != "bicubic":  # PyTorch clamps the linear modes' source positions at 0, not the cubic one
            src = xp.where(src < 0, xp.zeros_like(src), src)
    if mode == "bicubic":
        return _cubic_matrix(xp, src, j, size, dtype)
    lo = xp.astype(xp.floor(src), xp.int64)
    lo = xp.where(lo > size - 1, xp.full_like(lo, size - 1), lo)
    hi = xp.where(lo + 1 > size - 1, xp.full_like(lo, size - 1), lo + 1)
    frac = xp.reshape(src - xp.astype(lo, dtype), (-1, 1))
    at_lo = xp.astype(xp.reshape(lo, (-1, 1)) == j, dtype)
    at_hi = xp.astype(xp.reshape(hi, (-1, 1)) == j, dtype)
    return at_lo * (1 - frac) + at_hi * frac


def _cubic_matrix(xp, src, j, size: int, dtype):
    """(out, size): PyTorch's bicubic weights (cubic convolution, A = -0.75) of the four input
    positions around each source position ``src``, indexes clamped to the edges."""
    A = -0.75
    lo = xp.floor(src)
    t = xp.reshape(src - lo, (-1, 1))
    lo = xp.astype(lo, xp.int64)

    def near(d):  # |d| <= 1
        return ((A + 2) * d - (A + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A

    m = None
    for off, w in ((-1, far(t + 1)), (0, near(t)), (1, near(1 - t)), (2, far(2 - t))):
        idx = lo + off
        idx = xp.where(idx < 0, xp.zeros_like(idx), xp.where(idx > size - 1, xp.full_like(idx, size - 1), idx))
        term = xp.astype(xp.reshape(idx, (-1, 1)) == j, dtype) * w
        m = term if m is None else m + term
    return m


_MODES = {"nearest": (1, 2), "nearest-exact": (1, 2), "area": (1, 2), "linear": (1,), "bilinear": (2,), "bicubic": (2,)}


def interpolate(x: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Resize the spatial dims of ``x`` (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``:
    ``mode`` 'nearest', 'nearest-exact', 'area' (adaptive average pooling), 'linear' (3-D),
    'bilinear' or 'bicubic' (4-D; ``align_corners`` for these three), with PyTorch's sampling
    positions and weights."""
    x = float_input(x)
    nsp = x._data.ndim - 2
    if nsp not in (1, 2):
        raise ShapeError(f"interpolate: expected a 3-D or 4-D input, got shape {x.shape}")
    if nsp not in _MODES.get(mode, ()):
        raise ValueError(
            f"interpolate: mode {mode!r} is not available for a {x._data.ndim}-D input; modes: "
            + ", ".join(f"{m!r} ({'/'.join(f'{n + 2}-D' for n in d)})" for m, d in _MODES.items())
        )
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear and cubic modes")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: pass exactly one of size and scale_factor")
    in_sizes = tuple(x._data.shape[2:])
    if size is not None:
        outs = (size,) * nsp if isinstance(size, int) else tuple(size)
        scales = (None,) * nsp
    else:
        assert scale_factor is not None
        scales = (scale_factor,) * nsp if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        outs = tuple(int(n * f) for n, f in zip(in_sizes, scales, strict=True))
    if min(in_sizes) <= 0 or min(outs) <= 0:
        raise ShapeError(
            f"interpolate: input and output sizes must be greater than 0, got input {in_sizes} and output {outs}"
        )
    b, dt = x._backend, x._data.dtype
    mats = [
        _interp_matrix(b, n, o, f, mode, bool(align_corners), dt)
        for n, o, f in zip(in_sizes, outs, scales, strict=True)
    ]
    return _apply_matrices(x, None if nsp == 1 else mats[0], mats[-1])


def unfold(
    x: Tensor, kernel_size: IntOrSeq, dilation: IntOrSeq = 1, padding: IntOrSeq = 0, stride: IntOrSeq = 1
) -> Tensor:
    """Sliding blocks of ``x`` (N, C, H, W) as columns: (N, C * kh * kw, L) (im2col; ``fold`` is its adjoint)."""
    x, unbatched = _batched(x, "unfold")
    k, s, d = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    p = _pair(padding, "padding")
    cols = _im2col(x, k, s, (p[0], p[0], p[1], p[1]), d, 0, "unfold")  # (C, kh*kw, N, OH, OW)
    C, K, N, OH, OW = cols._data.shape
    y = reshape(permute(cols, (2, 0, 1, 3, 4)), (N, C * K, OH * OW))
    return reshape(y, y._data.shape[1:]) if unbatched else y


def fold(
    x: Tensor,
    output_size,
    kernel_size: IntOrSeq,
    dilation: IntOrSeq = 1,
    padding: IntOrSeq = 0,
    stride: IntOrSeq = 1,
) -> Tensor:
    """Columns (N, C * kh * kw, L) summed back into an image (N, C, *output_size): the adjoint of ``unfold``."""
    unbatched = x._data.ndim == 2
    if unbatched:
        x = reshape(x, (1, *x._data.shape))
    if x._data.ndim != 3:
        raise ValueError(f"fold: expected a 2-D or 3-D input (N, C * kh * kw, L), got shape {x.shape}")
    k, s, d = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    p, (H, W) = _pair(padding, "padding"), _pair(output_size, "output_size")
    fn = Im2Col(k, s, (p[0], p[0], p[1], p[1]), d, 0, x._backend.native_device)
    OH, OW = fn.out_size(H, W)
    N, CK, L = x._data.shape
    if CK % (k[0] * k[1]) or L != OH * OW or OH < 1 or OW < 1:
        raise RuntimeError(
            f"fold: input of shape {x.shape} doesn't match output_size {(H, W)}, kernel {k}, padding {p}, "
            f"stride {s} and dilation {d} (expected C * {k[0] * k[1]} rows and {OH} * {OW} columns)"
        )
    C = CK // (k[0] * k[1])
    cols = permute(reshape(x, (N, C, k[0] * k[1], OH, OW)), (1, 2, 0, 3, 4))
    y = apply1(Col2Im(fn, (N, C, H, W)), cols)
    return reshape(y, y._data.shape[1:]) if unbatched else y


TENSOR_METHODS: dict = {}
