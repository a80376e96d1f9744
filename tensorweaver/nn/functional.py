"""``tw.nn.functional``: the stateless neural-network ops under PyTorch's ``F.*`` names.

Most of it is an op from ``tensorweaver.ops``, given its PyTorch home here; the rest (below the
imports: hardtanh, relu6, mish, ..., bilinear, conv_transpose2d, multi_head_attention_forward) are
compositions of those public ops, so their gradients of every order come from the ops'.
"""

from __future__ import annotations

import math as _math

from .. import factories as _factories
from .. import ops as _ops  # the public core ops that the compositions below are made of
from .._args import IntOrSeq
from ..ops.activation import (
    dropout,
    dropout2d,
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    logsigmoid,
    relu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
)
from ..ops.conv import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    fold,
    interpolate,
    max_pool1d,
    max_pool2d,
    unfold,
)
from ..ops.indexing import embedding, one_hot
from ..ops.linalg import cosine_similarity, linear, pairwise_distance, scaled_dot_product_attention
from ..ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ..ops.normalization import batch_norm, group_norm, layer_norm, normalize
from ..ops.shape import pad
from ..ops.unary import tanh

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "dropout2d",
    "elu",
    "embedding",
    "fold",
    "gelu",
    "group_norm",
    "huber_loss",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "max_pool1d",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softmin",
    "softplus",
    "tanh",
    "unfold",
    # compositions, defined here
    "adaptive_avg_pool1d",
    "bilinear",
    "celu",
    "conv_transpose1d",
    "conv_transpose2d",
    "dropout1d",
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "mish",
    "multi_head_attention_forward",
    "prelu",
    "relu6",
    "rms_norm",
    "selu",
    "softshrink",
    "softsign",
    "tanhshrink",
    "threshold",
]


# -- activations composed of the ops above ---------------------------------------------------------
def hardtanh(x, min_val: float = -1.0, max_val: float = 1.0):
    """``x`` clamped to ``[min_val, max_val]``; the gradient is 1 strictly inside, 0 elsewhere (as PyTorch)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    inside = _ops.logical_and(x > min_val, x < max_val)
    return _ops.where(inside, x, _ops.clamp(x.detach(), min_val, max_val))


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x):
    """``relu6(x + 3) / 6``."""
    return relu6(x + 3.0) / 6.0


def hardswish(x):
    """``x * relu6(x + 3) / 6``."""
    return x * hardsigmoid(x)


def mish(x):
    """``x * tanh(softplus(x))``."""
    return x * tanh(softplus(x))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """``scale * elu(x, alpha)`` with the self-normalizing constants."""
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


def celu(x, alpha: float = 1.0):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise ValueError("ZeroDivisionError in CELU: alpha cannot be 0")
    return elu(x / alpha) * alpha if alpha != 1.0 else elu(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return x / (_ops.abs(x) + 1.0)


def tanhshrink(x):
    """``x - tanh(x)``."""
    return x - tanh(x)


def threshold(x, threshold: float, value: float):
    """``x`` where ``x > threshold``, else ``value``."""
    return _ops.where(x > threshold, x, value)


def hardshrink(x, lambd: float = 0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return _ops.where(_ops.abs(x) > lambd, x, 0.0)


def softshrink(x, lambd: float = 0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    if lambd < 0:
        raise ValueError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return x - _ops.clamp(x, -lambd, lambd)


def glu(x, dim: int = -1):
    """``a * sigmoid(b)`` for the two halves ``a, b`` of ``x`` along ``dim``."""
    if x.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    n = x.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % x.ndim} is size {n}")
    a, b = x.split(n // 2, dim)
    return a * sigmoid(b)


def prelu(x, weight):
    """``x`` where ``x > 0``, else ``weight * x``; ``weight`` has 1 or ``x.shape[1]`` (channels) entries."""
    n = weight.numel()
    channels = x.shape[1] if x.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise RuntimeError(
            f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {n} and "
            f"channel size = {channels}."
        )
    w = _ops.reshape(weight, (n,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 and n > 1 else _ops.reshape(weight, ())
    return _ops.where(x > 0, x, w * x)  # x > 0: at 0 the gradient is the weight's, as in PyTorch


def dropout1d(x, p: float = 0.5, training: bool = True):
    """Zero whole channels of ``x`` (N, C, L) or (C, L) with probability ``p``, scaling the rest."""
    if x.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-D or 3-D input, got shape {x.shape}")
    return _ops.reshape(dropout2d(_ops.reshape(x, (*x.shape, 1)), p, training), x.shape)


def adaptive_avg_pool1d(x, output_size):
    """Average pooling of ``x`` (N, C, L) or (C, L) to length ``output_size``, with PyTorch's windows."""
    if x.ndim not in (2, 3):
        raise ValueError(f"adaptive_avg_pool1d: expected a 2-D or 3-D input, got shape {x.shape}")
    size = output_size if isinstance(output_size, int) or output_size is None else tuple(output_size)[0]
    y = adaptive_avg_pool2d(_ops.reshape(x, (*x.shape[:-1], 1, x.shape[-1])), (1, size))
    return _ops.reshape(y, (*y.shape[:-2], y.shape[-1]))


_EPS = {"float16": 0.0009765625, "float32": 1.1920928955078125e-07, "float64": 2.220446049250313e-16}


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last ``len(normalized_shape)`` dims (``eps``
    None: the dtype's machine epsilon, as PyTorch)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape) :]) != shape:
        raise ValueError(f"rms_norm: normalized_shape {shape} does not match the end of the input shape {x.shape}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    if eps is None:
        eps = _EPS.get(x.dtype.name, _EPS["float32"])
    y = x * ((x * x).mean(dim=dims, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight


# -- layers' ops composed of the ops above -----------------------------------------------------------
def bilinear(input1, input2, weight, bias=None):
    """``y[..., k] = input1 @ weight[k] @ input2 + bias[k]`` for ``weight`` of shape (out, in1, in2)."""
    if weight.ndim != 3 or input1.shape[-1:] != weight.shape[1:2] or input2.shape[-1:] != weight.shape[2:]:
        raise RuntimeError(
            f"bilinear: inputs of shapes {input1.shape} and {input2.shape} don't match a weight of shape "
            f"{weight.shape} (expected (..., {weight.shape[1:2]}) and (..., {weight.shape[2:]}))"
        )
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(
            f"bilinear: input1 and input2 must have the same leading dims, got {input1.shape} and {input2.shape}"
        )
    out, in1, in2 = weight.shape
    lead = input1.shape[:-1]
    n = 1
    for s in lead:
        n *= s
    a = _ops.reshape(input1, (n, in1))
    w = _ops.reshape(_ops.permute(weight, (1, 0, 2)), (in1, out * in2))
    t = _ops.reshape(_ops.matmul(a, w), (n, out, in2))
    y = (t * _ops.reshape(input2, (n, 1, in2))).sum(dim=-1)
    if bias is not None:
        y = y + bias
    return _ops.reshape(y, (*lead, out))


def _tuple2(v, what: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) == 1:
        t = (t[0], t[0])
    if len(t) != 2 or not all(isinstance(i, int) for i in t):
        raise ValueError(f"{what} must be an int or a pair of ints, got {v}")
    return t  # type: ignore[return-value]


def conv_transpose2d(
    x,
    weight,
    bias=None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
):
    """The transpose (gradient) of conv2d: ``x`` (N, C_in, H, W) with ``weight`` (C_in, C_out / groups, kh, kw)
    gives (N, C_out, (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1, ...).

    Each input pixel's ``weight^T @ x`` column is summed into the output by ``fold`` (col2im).
    """
    unbatched = x.ndim == 3
    if unbatched:
        x = _ops.reshape(x, (1, *x.shape))
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(
            f"conv_transpose2d: expected input (N, C, H, W) or (C, H, W) and weight (C_in, C_out / groups, kh, kw), "
            f"got {x.shape} and {weight.shape}"
        )
    N, C, H, W = x.shape
    Cw, Cg_out, kh, kw = weight.shape
    if groups < 1 or C != Cw or C % groups:
        raise ValueError(
            f"conv_transpose2d: input with {C} channels, weight of shape {weight.shape} and groups={groups} don't "
            f"match (need weight.shape[0] = in_channels, divisible by groups)"
        )
    (sh, sw), (ph, pw) = _tuple2(stride, "stride"), _tuple2(padding, "padding")
    (oph, opw), (dh, dw) = _tuple2(output_padding, "output_padding"), _tuple2(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1 or min(ph, pw, oph, opw) < 0:
        raise ValueError(
            f"conv_transpose2d: stride and dilation must be positive, padding and output_padding non-negative; "
            f"got stride={stride}, padding={padding}, output_padding={output_padding}, dilation={dilation}"
        )
    if not (oph < sh or oph < dh) or not (opw < sw or opw < dw):
        raise ValueError(
            f"conv_transpose2d: output padding must be smaller than either stride or dilation, but got "
            f"output_padding={(oph, opw)}, stride={(sh, sw)}, dilation={(dh, dw)}"
        )
    Cout, K = Cg_out * groups, Cg_out * kh * kw
    if groups == 1:  # a 2-D product (BLAS on NumPy)
        xs = x.reshape(N, C, H * W).permute(1, 0, 2).reshape(C, N * H * W)
        cols = _ops.matmul(weight.reshape(C, K).mT, xs)  # (K, N * H * W)
    else:
        xs = x.reshape(N, groups, C // groups, H * W).permute(1, 2, 0, 3).reshape(groups, C // groups, N * H * W)
        cols = _ops.matmul(weight.reshape(groups, C // groups, K).mT, xs)  # (groups, K, N * H * W)
    cols = cols.reshape(groups, K, N, H * W).permute(2, 0, 1, 3).reshape(N, Cout * kh * kw, H * W)
    full = ((H - 1) * sh + dh * (kh - 1) + 1, (W - 1) * sw + dw * (kw - 1) + 1)
    y = fold(cols, full, (kh, kw), dilation=(dh, dw), stride=(sh, sw))
    if ph or pw or oph or opw:  # crop the padding (negative pads) and add the output padding
        y = pad(y, (-pw, opw - pw, -ph, oph - ph))
    if bias is not None:
        y = y + _ops.reshape(bias, (Cout, 1, 1))
    return _ops.reshape(y, y.shape[1:]) if unbatched else y


def conv_transpose1d(
    x,
    weight,
    bias=None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
):
    """The transpose of conv1d: ``x`` (N, C_in, L) with ``weight`` (C_in, C_out / groups, k); conv_transpose2d
    on a height of 1."""
    if x.ndim not in (2, 3) or weight.ndim != 3:
        raise ValueError(
            f"conv_transpose1d: expected input (N, C, L) or (C, L) and weight (C_in, C_out / groups, k), "
            f"got {x.shape} and {weight.shape}"
        )

    def one(v, first=1):
        return (first, v if isinstance(v, int) else tuple(v)[0])

    y = conv_transpose2d(
        _ops.reshape(x, (*x.shape[:-1], 1, x.shape[-1])),
        _ops.reshape(weight, (*weight.shape[:2], 1, weight.shape[2])),
        bias,
        one(stride),
        one(padding, 0),
        one(output_padding, 0),
        groups,
        one(dilation),
    )
    return _ops.reshape(y, (*y.shape[:-2], y.shape[-1]))


# -- attention -------------------------------------------------------------------------------------
def _float_mask(mask, like, what: str):
    """A bool mask (True: not allowed) as 0 / -inf in ``like``'s dtype; a float mask as is."""
    if mask is None:
        return None
    if mask.dtype.kind == "b":
        return _ops.where(mask, -_math.inf, _factories.zeros((), dtype=like.dtype, device=like.device))
    if mask.dtype.kind != "f":
        raise TypeError(f"multi_head_attention_forward: {what} must be bool or floating point, got {mask.dtype}")
    return mask


def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight,
    out_proj_bias,
    training: bool = True,
    key_padding_mask=None,
    need_weights: bool = True,
    attn_mask=None,
    use_separate_proj_weight: bool = False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
):
    """Multi-head attention on sequence-first inputs ``query`` (L, N, E), ``key``/``value`` (S, N, E)
    (or unbatched (L, E)), as PyTorch's: returns ``(output, weights)``, weights (N, L, S) averaged over
    heads (``average_attn_weights``) or (N, heads, L, S), or None without ``need_weights``.

    Masks: ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N * heads, L, S); True in a bool
    mask means "may not attend"; a float mask is added to the scores.
    """
    batched = query.ndim == 3
    if not batched:
        if query.ndim != 2:
            raise ValueError(f"multi_head_attention_forward: query should be 2-D or 3-D, got shape {query.shape}")
        query, key, value = (_ops.reshape(t, (t.shape[0], 1, t.shape[1])) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = _ops.reshape(key_padding_mask, (1, *key_padding_mask.shape))
    L, N, E = query.shape
    S = key.shape[0]
    if E != embed_dim_to_check:
        raise ValueError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {E}")
    if E % num_heads:
        raise ValueError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if key.shape[:2] != value.shape[:2] or key.shape[1] != N:
        raise ValueError(
            f"key and value must have the same sequence and batch sizes as each other (and the query's batch), "
            f"got query {query.shape}, key {key.shape}, value {value.shape}"
        )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
            "`generate_square_subsequent_mask` to create this mask."
        )
    hd = E // num_heads
    bq = bk = bv = None
    if in_proj_bias is not None:
        bq, bk, bv = in_proj_bias.split(E)
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise ValueError("multi_head_attention_forward: in_proj_weight is None (use_separate_proj_weight=False)")
        if query is key and key is value:  # self-attention: one product for q, k and v
            q, k, v = linear(query, in_proj_weight, in_proj_bias).split(E, dim=-1)
        else:
            wq, wk, wv = in_proj_weight.split(E)
            q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError(
                "multi_head_attention_forward: use_separate_proj_weight=True needs q_proj_weight, "
                "k_proj_weight and v_proj_weight"
            )
        q, k, v = linear(query, q_proj_weight, bq), linear(key, k_proj_weight, bk), linear(value, v_proj_weight, bv)
    attn_mask = _float_mask(attn_mask, q, "attn_mask")
    key_padding_mask = _float_mask(key_padding_mask, q, "key_padding_mask")
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if attn_mask.shape != (L, S):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(L, S)}.")
            attn_mask = _ops.reshape(attn_mask, (1, L, S))
        elif attn_mask.shape != (N * num_heads, L, S):
            raise RuntimeError(
                f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be {(N * num_heads, L, S)}."
            )
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError("bias cannot be added to static key/value.")
        k = _ops.cat([k, bias_k.expand(1, N, E)])
        v = _ops.cat([v, bias_v.expand(1, N, E)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    q = _ops.reshape(q, (L, N * num_heads, hd)).transpose(0, 1)  # (N * heads, L, hd)
    k = _ops.reshape(k, (k.shape[0], N * num_heads, hd)).transpose(0, 1) if static_k is None else static_k
    v = _ops.reshape(v, (v.shape[0], N * num_heads, hd)).transpose(0, 1) if static_v is None else static_v
    if add_zero_attn:
        k = _ops.cat([k, _factories.zeros(N * num_heads, 1, hd, dtype=k.dtype, device=k.device)], dim=1)
        v = _ops.cat([v, _factories.zeros(N * num_heads, 1, hd, dtype=v.dtype, device=v.device)], dim=1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    S = k.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask.shape != (N, S):
            raise RuntimeError(f"expecting key_padding_mask shape of {(N, S)}, but got {tuple(key_padding_mask.shape)}")
        kpm = _ops.reshape(key_padding_mask, (N, 1, 1, S)).expand(N, num_heads, 1, S)
        kpm = _ops.reshape(kpm, (N * num_heads, 1, S))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    scores = _ops.matmul(q * _math.sqrt(1.0 / hd), k.mT)  # (N * heads, L, S)
    if attn_mask is not None:
        scores = scores + attn_mask
    weights = softmax(scores, -1)
    if training and dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    out = _ops.reshape(_ops.matmul(weights, v).transpose(0, 1), (L * N, E))
    out = _ops.reshape(linear(out, out_proj_weight, out_proj_bias), (L, N, E))
    if not batched:
        out = _ops.reshape(out, (L, E))
    if not need_weights:
        return out, None
    weights = _ops.reshape(weights, (N, num_heads, L, S))
    if average_attn_weights:
        weights = weights.mean(dim=1)
    if not batched:
        weights = _ops.reshape(weights, weights.shape[1:])
    return out, weights
