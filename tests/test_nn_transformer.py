"""MultiheadAttention, TransformerEncoderLayer and TransformerEncoder against PyTorch in float64 on
every backend (dropout 0 in training mode, where PyTorch runs its reference path)."""

from __future__ import annotations

import numpy as np
import pytest
from test_nn_layers import compare_with_torch

import tensorweaver as tw

torch = pytest.importorskip("torch")

E, L, S, N = 4, 3, 5, 2


def _mask(nn, array, like=None):
    """The mask for PyTorch, or here on the device of ``like``."""
    return torch.tensor(array) if nn is torch.nn else tw.tensor(array, device=like.device)


def _mha_call(kwargs_fn):
    def call(m, q, k, v):
        nn = torch.nn if isinstance(m, torch.nn.Module) else tw.nn
        return m(q, k, v, **kwargs_fn(nn, q))

    return call


def _self_call(m, x):
    return m(x, x, x)


ATTN_MASK = np.triu(np.ones((L, S), bool), 2)  # True: may not attend
PAD = np.zeros((N, S), bool)
PAD[1, 3:] = True
FLOAT_MASK = np.random.default_rng(5).standard_normal((L, S))

MHA = [
    ("self_attention", lambda nn: nn.MultiheadAttention(E, 2), [(L, N, E)], {"call": _self_call}),
    (
        "cross_batch_first",
        lambda nn: nn.MultiheadAttention(E, 2, batch_first=True),
        [(N, L, E), (N, S, E), (N, S, E)],
        {},
    ),
    (
        "bool_masks",
        lambda nn: nn.MultiheadAttention(E, 2),
        [(L, N, E), (S, N, E), (S, N, E)],
        {
            "call": _mha_call(
                lambda nn, q: {"attn_mask": _mask(nn, ATTN_MASK, q), "key_padding_mask": _mask(nn, PAD, q)}
            )
        },
    ),
    (
        "float_mask_per_head",
        lambda nn: nn.MultiheadAttention(E, 2),
        [(L, N, E), (S, N, E), (S, N, E)],
        {
            "call": _mha_call(
                lambda nn, q: {"attn_mask": _mask(nn, np.stack([FLOAT_MASK] * 4), q), "average_attn_weights": False}
            )
        },
    ),
    (
        "no_weights",
        lambda nn: nn.MultiheadAttention(E, 1, bias=False),
        [(L, N, E), (S, N, E), (S, N, E)],
        {"call": _mha_call(lambda nn, q: {"need_weights": False})},
    ),
    ("kdim_vdim", lambda nn: nn.MultiheadAttention(E, 2, kdim=3, vdim=5), [(L, N, E), (S, N, 3), (S, N, 5)], {}),
    (
        "bias_kv_zero_attn",
        lambda nn: nn.MultiheadAttention(E, 2, add_bias_kv=True, add_zero_attn=True),
        [(L, N, E), (S, N, E), (S, N, E)],
        {
            "call": _mha_call(
                lambda nn, q: {"key_padding_mask": _mask(nn, PAD, q), "attn_mask": _mask(nn, ATTN_MASK, q)}
            )
        },
    ),
    ("unbatched", lambda nn: nn.MultiheadAttention(E, 2), [(L, E), (S, E), (S, E)], {}),
]


@pytest.mark.parametrize("build, specs, opts", [c[1:] for c in MHA], ids=[c[0] for c in MHA])
def test_multihead_attention_matches_pytorch(build, specs, opts, device):
    compare_with_torch(build, specs, device, **opts)


def _causal(m, x):
    nn = torch.nn if isinstance(m, torch.nn.Module) else tw.nn
    return _mask(nn, np.triu(np.ones((S, S), bool), 1), x)


def _pad(m, x):
    return _mask(torch.nn if isinstance(m, torch.nn.Module) else tw.nn, PAD, x)


def _layer(**kw):
    return lambda nn: nn.TransformerEncoderLayer(E, 2, dim_feedforward=6, dropout=0.0, **kw)


ENCODERS = [
    ("layer_post_norm", _layer(), [(S, N, E)], {}),
    ("layer_pre_norm_gelu_batch_first", _layer(norm_first=True, activation="gelu", batch_first=True), [(N, S, E)], {}),
    (
        "layer_masks",
        _layer(),
        [(S, N, E)],
        {"call": lambda m, x: m(x, src_mask=_causal(m, x), src_key_padding_mask=_pad(m, x))},
    ),
    (
        "encoder_2_layers_norm",
        lambda nn: nn.TransformerEncoder(
            _layer(batch_first=True)(nn), 2, norm=nn.LayerNorm(E), enable_nested_tensor=False
        ),
        [(N, S, E)],
        {},
    ),
]


@pytest.mark.parametrize("build, specs, opts", [c[1:] for c in ENCODERS], ids=[c[0] for c in ENCODERS])
def test_transformer_encoder_matches_pytorch(build, specs, opts, device):
    compare_with_torch(build, specs, device, **opts)


def test_encoder_layers_are_independent_copies():
    enc = tw.nn.TransformerEncoder(tw.nn.TransformerEncoderLayer(4, 2, 8), 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and a.array is not b.array
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_attention_errors():
    m = tw.nn.MultiheadAttention(4, 2)
    x = tw.zeros(3, 1, 4)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is \(2, 2\), but should be \(3, 3\)"):
        m(x, x, x, attn_mask=tw.zeros(2, 2))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="was expecting embedding dimension of 4, but got 5"):
        m(tw.zeros(3, 1, 5), x, x)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        tw.nn.MultiheadAttention(5, 2)
