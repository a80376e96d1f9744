"""Every layer, activation and loss of tw.nn against PyTorch in float64, on every backend: the same
weights (PyTorch's, loaded through load_state_dict from NumPy arrays, which also proves the
state_dict keys), the same inputs; forward values and every parameter's and input's gradient."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch")


def _flat(out) -> list:
    if out is None:
        return []
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _host(t) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def make_inputs(specs, seed: int = 0) -> list[np.ndarray]:
    """NumPy inputs from specs: a shape (float64 normal) or ("int", shape, high) or ("prob", shape, dim)
    or ("bool", shape) or ("unit", shape) (in (0, 1)), or an array given as is."""
    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        if isinstance(s, np.ndarray):
            out.append(s)
        elif isinstance(s, tuple) and s and isinstance(s[0], str):
            kind = s[0]
            if kind == "int":
                out.append(rng.integers(0, s[2], size=s[1]).astype(np.int64))
            elif kind == "prob":
                a = rng.uniform(0.1, 1.0, size=s[1])
                out.append(a / a.sum(axis=s[2], keepdims=True))
            elif kind == "bool":
                out.append(rng.uniform(size=s[1]) < 0.3)
            elif kind == "unit":
                out.append(rng.uniform(0.05, 0.95, size=s[1]))
            else:
                raise ValueError(kind)
        else:
            out.append(rng.standard_normal(s))
    return out


def compare_with_torch(
    build, specs, device, *, train: bool = True, grad_inputs=None, call=None, atol=1e-10, rtol=1e-8, seed=0
):
    """Build the layer with ``build(nn)`` in PyTorch and here, load PyTorch's weights (as NumPy arrays)
    into ours, run both on the same float64 inputs, and compare outputs and gradients.

    ``call(module, *inputs)`` runs the forward (default: ``module(*inputs)``); ``grad_inputs`` lists
    which inputs get a gradient (default: every floating one). Returns both modules.
    """
    torch.manual_seed(seed)
    tm = build(torch.nn).double()
    wm = build(tw.nn).double().to(device)
    tm.train(train)
    wm.train(train)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert list(wm.state_dict()) == list(sd), "state_dict keys differ from PyTorch's"
    wm.load_state_dict(sd)
    arrays = make_inputs(specs, seed)
    if grad_inputs is None:
        grad_inputs = [a.dtype.kind == "f" for a in arrays]
    tx = [torch.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grad_inputs, strict=True)]
    wx = [tw.tensor(a, device=device, requires_grad=bool(g)) for a, g in zip(arrays, grad_inputs, strict=True)]
    call = call or (lambda m, *xs: m(*xs))
    with warnings.catch_warnings():  # PyTorch's own performance notes (padding='same' with even kernels)
        warnings.simplefilter("ignore", UserWarning)
        t_outs = _flat(call(tm, *tx))
    w_outs = _flat(call(wm, *wx))
    assert len(t_outs) == len(w_outs)
    rng = np.random.default_rng(1000 + seed)
    t_loss, w_loss = 0.0, 0.0
    for i, (t, w) in enumerate(zip(t_outs, w_outs, strict=True)):
        assert w.device == tw.device(device), f"output {i} on {w.device}"
        assert tuple(t.shape) == w.shape, f"output {i}: shape {w.shape}, PyTorch {tuple(t.shape)}"
        np.testing.assert_allclose(_host(w), t.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"output {i}")
        if t.requires_grad:
            up = rng.uniform(0.5, 1.5, size=tuple(t.shape))
            t_loss = t_loss + (t * torch.tensor(up)).sum()
            w_loss = w_loss + (w * tw.tensor(up, device=device)).sum()
    if isinstance(t_loss, float):  # nothing differentiable
        return tm, wm
    t_loss.backward()
    w_loss.backward()
    w_params = dict(wm.named_parameters())
    for name, tp in tm.named_parameters():
        wp = w_params[name]
        if tp.grad is None:
            assert wp.grad is None or not _host(wp.grad).any(), f"{name}: gradient where PyTorch has none"
            continue
        assert wp.grad is not None, f"{name}: no gradient"
        assert wp.grad.device == tw.device(device) and wp.grad.shape == wp.shape
        np.testing.assert_allclose(_host(wp.grad), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad of {name}")
    for i, (t, w) in enumerate(zip(tx, wx, strict=True)):
        if t.requires_grad:
            assert w.grad is not None and w.grad.device == tw.device(device)
            np.testing.assert_allclose(
                _host(w.grad), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad of input {i}"
            )
    return tm, wm


# (id, build(nn), input specs, options)
LAYERS = [
    ("linear", lambda nn: nn.Linear(4, 3), [(2, 5, 4)], {}),
    ("linear_nobias", lambda nn: nn.Linear(4, 3, bias=False), [(6, 4)], {}),
    ("bilinear", lambda nn: nn.Bilinear(3, 4, 2), [(5, 3), (5, 4)], {}),
    ("identity", lambda nn: nn.Identity(7, foo=1), [(2, 3)], {}),
    ("flatten", lambda nn: nn.Flatten(), [(2, 3, 2, 2)], {}),
    ("unflatten", lambda nn: nn.Unflatten(1, (2, 3)), [(2, 6, 2)], {}),
    ("conv1d", lambda nn: nn.Conv1d(3, 4, 3, stride=2, padding=1), [(2, 3, 9)], {}),
    ("conv1d_same_dil", lambda nn: nn.Conv1d(2, 4, 3, padding="same", dilation=2, groups=2), [(2, 2, 7)], {}),
    ("conv1d_reflect", lambda nn: nn.Conv1d(2, 3, 3, padding=2, padding_mode="reflect", bias=False), [(1, 2, 6)], {}),
    ("conv2d", lambda nn: nn.Conv2d(3, 4, 3), [(2, 3, 6, 5)], {}),
    (
        "conv2d_stride_pad",
        lambda nn: nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        [(2, 2, 7, 6)],
        {},
    ),
    ("conv2d_groups", lambda nn: nn.Conv2d(4, 6, 3, groups=2, padding=1, bias=False), [(1, 4, 5, 5)], {}),
    ("conv2d_same", lambda nn: nn.Conv2d(2, 3, (4, 3), padding="same"), [(2, 2, 6, 5)], {}),
    ("conv2d_valid", lambda nn: nn.Conv2d(2, 3, 2, padding="valid"), [(2, 2, 4, 4)], {}),
    ("conv2d_unbatched", lambda nn: nn.Conv2d(2, 3, 3, padding=1), [(2, 4, 4)], {}),
    ("conv2d_circular", lambda nn: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [(1, 2, 5, 4)], {}),
    ("conv2d_replicate", lambda nn: nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="replicate"), [(1, 2, 4, 4)], {}),
    ("convT1d", lambda nn: nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1), [(2, 3, 5)], {}),
    ("convT2d", lambda nn: nn.ConvTranspose2d(3, 4, 3), [(2, 3, 4, 5)], {}),
    (
        "convT2d_full",
        lambda nn: nn.ConvTranspose2d(
            4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2)
        ),
        [(2, 4, 3, 4)],
        {},
    ),
    (
        "convT2d_dil_op",
        lambda nn: nn.ConvTranspose2d(2, 2, 3, stride=1, padding=2, output_padding=1, dilation=2, bias=False),
        [(1, 2, 4, 4)],
        {},
    ),
    ("convT2d_unbatched", lambda nn: nn.ConvTranspose2d(2, 3, 2, stride=2), [(2, 3, 3)], {}),
    (
        "convT2d_output_size",
        lambda nn: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1),
        [(1, 2, 4, 4)],
        {"call": lambda m, x: m(x, output_size=[8, 8])},
    ),
    ("maxpool1d", lambda nn: nn.MaxPool1d(3, stride=2, padding=1), [(2, 3, 8)], {}),
    ("maxpool2d", lambda nn: nn.MaxPool2d(2), [(2, 3, 6, 4)], {}),
    ("maxpool2d_pad_dil", lambda nn: nn.MaxPool2d(3, stride=2, padding=1, dilation=1), [(1, 2, 7, 7)], {}),
    ("maxpool2d_indices", lambda nn: nn.MaxPool2d(2, return_indices=True), [(1, 2, 4, 4)], {}),
    ("avgpool1d", lambda nn: nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), [(2, 3, 8)], {}),
    ("avgpool2d", lambda nn: nn.AvgPool2d(2, padding=1), [(2, 3, 5, 4)], {}),
    ("avgpool2d_divisor", lambda nn: nn.AvgPool2d((2, 3), stride=1, divisor_override=4), [(1, 2, 4, 5)], {}),
    ("adaptive_avg1d", lambda nn: nn.AdaptiveAvgPool1d(3), [(2, 3, 7)], {}),
    ("adaptive_avg2d", lambda nn: nn.AdaptiveAvgPool2d((3, 2)), [(2, 3, 7, 5)], {}),
    ("adaptive_avg2d_1", lambda nn: nn.AdaptiveAvgPool2d(1), [(2, 3, 4, 4)], {}),
    ("embedding", lambda nn: nn.Embedding(10, 4), [("int", (3, 5), 10)], {}),
    ("embedding_padding", lambda nn: nn.Embedding(6, 3, padding_idx=2), [np.array([[2, 1, 2], [0, 2, 5]])], {}),
    ("embedding_max_norm", lambda nn: nn.Embedding(8, 3, max_norm=1.0), [np.array([1, 3, 3, 7])], {}),
    ("embedding_freq", lambda nn: nn.Embedding(8, 3, scale_grad_by_freq=True), [np.array([[1, 3], [3, 3]])], {}),
    ("layernorm", lambda nn: nn.LayerNorm(5), [(2, 3, 5)], {}),
    ("layernorm_2d_nobias", lambda nn: nn.LayerNorm((3, 4), eps=1e-3, bias=False), [(2, 3, 4)], {}),
    ("layernorm_noaffine", lambda nn: nn.LayerNorm(4, elementwise_affine=False), [(3, 4)], {}),
    ("groupnorm", lambda nn: nn.GroupNorm(2, 4), [(2, 4, 3, 3)], {}),
    ("groupnorm_noaffine", lambda nn: nn.GroupNorm(3, 6, affine=False), [(2, 6, 5)], {}),
    ("rmsnorm", lambda nn: nn.RMSNorm(4), [(2, 3, 4)], {}),
    ("rmsnorm_eps", lambda nn: nn.RMSNorm((2, 4), eps=1e-3), [(3, 2, 4)], {}),
    ("batchnorm1d", lambda nn: nn.BatchNorm1d(4), [(5, 4)], {}),
    ("batchnorm1d_3d", lambda nn: nn.BatchNorm1d(3, momentum=0.3), [(4, 3, 5)], {}),
    ("batchnorm2d", lambda nn: nn.BatchNorm2d(3), [(4, 3, 2, 3)], {}),
    ("batchnorm2d_eval", lambda nn: nn.BatchNorm2d(3), [(2, 3, 2, 2)], {"train": False}),
    ("batchnorm2d_nostats", lambda nn: nn.BatchNorm2d(3, track_running_stats=False, affine=False), [(2, 3, 2, 2)], {}),
    (
        "batchnorm2d_nostats_eval",
        lambda nn: nn.BatchNorm2d(3, track_running_stats=False),
        [(2, 3, 2, 2)],
        {"train": False},
    ),
    ("batchnorm2d_nobias", lambda nn: nn.BatchNorm2d(3, bias=False), [(2, 3, 2, 2)], {}),
    ("dropout_eval", lambda nn: nn.Dropout(0.5), [(3, 4)], {"train": False}),
    ("dropout_p0", lambda nn: nn.Dropout(0.0), [(3, 4)], {}),
    ("dropout2d_eval", lambda nn: nn.Dropout2d(0.3), [(2, 3, 2, 2)], {"train": False}),
    ("dropout1d_eval", lambda nn: nn.Dropout1d(0.3), [(2, 3, 4)], {"train": False}),
    ("cosine_similarity", lambda nn: nn.CosineSimilarity(dim=1), [(3, 4), (3, 4)], {}),
    ("pairwise_distance", lambda nn: nn.PairwiseDistance(p=3.0, keepdim=True), [(3, 4), (3, 4)], {}),
]

ACTIVATIONS = [
    ("relu", lambda nn: nn.ReLU()),
    ("relu_inplace", lambda nn: nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True))),
    ("relu6", lambda nn: nn.ReLU6()),
    ("leaky_relu", lambda nn: nn.LeakyReLU(0.2)),
    ("prelu", lambda nn: nn.PReLU()),
    ("prelu_channels", lambda nn: nn.PReLU(3, init=0.1)),
    ("elu", lambda nn: nn.ELU(0.7)),
    ("celu", lambda nn: nn.CELU(1.5)),
    ("selu", lambda nn: nn.SELU()),
    ("gelu", lambda nn: nn.GELU()),
    ("gelu_tanh", lambda nn: nn.GELU(approximate="tanh")),
    ("silu", lambda nn: nn.SiLU()),
    ("mish", lambda nn: nn.Mish()),
    ("sigmoid", lambda nn: nn.Sigmoid()),
    ("tanh", lambda nn: nn.Tanh()),
    ("logsigmoid", lambda nn: nn.LogSigmoid()),
    ("softplus", lambda nn: nn.Softplus(beta=2.0, threshold=1.5)),
    ("softsign", lambda nn: nn.Softsign()),
    ("tanhshrink", lambda nn: nn.Tanhshrink()),
    ("hardtanh", lambda nn: nn.Hardtanh(-0.5, 0.8)),
    ("hardsigmoid", lambda nn: nn.Hardsigmoid()),
    ("hardswish", lambda nn: nn.Hardswish()),
    ("hardshrink", lambda nn: nn.Hardshrink(0.3)),
    ("softshrink", lambda nn: nn.Softshrink(0.3)),
    ("threshold", lambda nn: nn.Threshold(0.1, -2.0)),
    ("glu", lambda nn: nn.GLU()),
    ("glu_dim0", lambda nn: nn.GLU(dim=0)),
    ("softmax", lambda nn: nn.Softmax(dim=1)),
    ("log_softmax", lambda nn: nn.LogSoftmax(dim=-1)),
    ("softmin", lambda nn: nn.Softmin(dim=0)),
]


@pytest.mark.parametrize("build, specs, opts", [c[1:] for c in LAYERS], ids=[c[0] for c in LAYERS])
def test_layer_matches_pytorch(build, specs, opts, device):
    compare_with_torch(build, specs, device, **opts)


@pytest.mark.parametrize("build", [c[1] for c in ACTIVATIONS], ids=[c[0] for c in ACTIVATIONS])
def test_activation_matches_pytorch(build, device):
    x = np.random.default_rng(3).uniform(-4, 4, size=(2, 3, 4))
    x[0, 0, :2] = [7.0, -7.0]  # beyond the hard limits
    # NOTE: PyTorch's hardsigmoid gradient in float64 is 1/6 rounded to float32 (its kernel's constant)
    rtol = 1e-7 if isinstance(build(tw.nn), tw.nn.Hardsigmoid) else 1e-8
    compare_with_torch(build, [x], device, rtol=rtol)


LOSSES = [
    ("mse", lambda nn: nn.MSELoss(), [(3, 4), (3, 4)]),
    ("mse_sum", lambda nn: nn.MSELoss(reduction="sum"), [(3, 4), (3, 4)]),
    ("l1_none", lambda nn: nn.L1Loss(reduction="none"), [(3, 4), (3, 4)]),
    ("smooth_l1", lambda nn: nn.SmoothL1Loss(beta=0.5), [(5, 2), (5, 2)]),
    ("huber", lambda nn: nn.HuberLoss(delta=0.7, reduction="sum"), [(5, 2), (5, 2)]),
    ("ce", lambda nn: nn.CrossEntropyLoss(), [(4, 5), ("int", (4,), 5)]),
    ("ce_2d_none", lambda nn: nn.CrossEntropyLoss(reduction="none"), [(2, 3, 4), ("int", (2, 4), 3)]),
    ("ce_probs", lambda nn: nn.CrossEntropyLoss(label_smoothing=0.1), [(4, 3), ("prob", (4, 3), 1)]),
    (
        "ce_smooth_ignore",
        lambda nn: nn.CrossEntropyLoss(ignore_index=1, label_smoothing=0.2),
        [(6, 4), np.array([0, 1, 2, 3, 1, 0])],
    ),
    ("nll", lambda nn: nn.NLLLoss(ignore_index=2), [(5, 3), np.array([0, 2, 1, 1, 0])]),
    ("bce", lambda nn: nn.BCELoss(), [("unit", (3, 4)), ("unit", (3, 4))]),
    ("bce_logits", lambda nn: nn.BCEWithLogitsLoss(), [(3, 4), ("unit", (3, 4))]),
    ("kl", lambda nn: nn.KLDivLoss(reduction="batchmean"), [(3, 4), ("prob", (3, 4), 1)]),
    ("kl_log_target", lambda nn: nn.KLDivLoss(reduction="sum", log_target=True), [(3, 4), (3, 4)]),
]


@pytest.mark.parametrize("build, specs", [c[1:] for c in LOSSES], ids=[c[0] for c in LOSSES])
def test_loss_matches_pytorch(build, specs, device):
    compare_with_torch(build, specs, device, grad_inputs=[True, False])


def _weighted(nn, cls, **kw):
    weight = np.array([0.2, 1.0, 2.5, 0.7])
    w = torch.tensor(weight) if nn is torch.nn else tw.tensor(weight)
    return cls(nn)(weight=w, **kw)


WEIGHTED = [
    (
        "ce_weight",
        lambda nn: _weighted(nn, lambda nn: nn.CrossEntropyLoss, ignore_index=0),
        [(6, 4), np.array([0, 1, 2, 3, 3, 2])],
    ),
    (
        "ce_weight_smooth",
        lambda nn: _weighted(nn, lambda nn: nn.CrossEntropyLoss, label_smoothing=0.3),
        [(5, 4), ("int", (5,), 4)],
    ),
    ("ce_weight_probs", lambda nn: _weighted(nn, lambda nn: nn.CrossEntropyLoss), [(5, 4), ("prob", (5, 4), 1)]),
    ("nll_weight", lambda nn: _weighted(nn, lambda nn: nn.NLLLoss), [(5, 4), ("int", (5,), 4)]),
    ("bce_weight", lambda nn: _weighted(nn, lambda nn: nn.BCELoss), [("unit", (3, 4)), ("unit", (3, 4))]),
    (
        "bce_logits_pos_weight",
        lambda nn: _weighted(nn, lambda nn: lambda weight: nn.BCEWithLogitsLoss(pos_weight=weight)),
        [(3, 4), ("unit", (3, 4))],
    ),
]


@pytest.mark.parametrize("build, specs", [c[1:] for c in WEIGHTED], ids=[c[0] for c in WEIGHTED])
def test_weighted_loss_matches_pytorch(build, specs, device):
    # the weights are buffers: they are in the state dict (PyTorch's keys) and move with .to(device)
    tm, wm = compare_with_torch(build, specs, device, grad_inputs=[True, False])
    assert all(b.device == tw.device(device) for b in wm.buffers())


def test_batchnorm_running_stats_match_pytorch(device):
    """Several training steps (momentum 0.1 and None = cumulative average), then eval."""
    rng = np.random.default_rng(0)
    for momentum in (0.1, None):
        tm = torch.nn.BatchNorm2d(3, momentum=momentum).double()
        wm = tw.nn.BatchNorm2d(3, momentum=momentum).double().to(device)
        for _ in range(3):
            x = rng.standard_normal((4, 3, 2, 2)) * 2 + 1
            tm(torch.tensor(x))
            wm(tw.tensor(x, device=device))
        for name, tb in tm.state_dict().items():
            np.testing.assert_allclose(_host(wm.state_dict()[name]), tb.numpy(), rtol=1e-12, err_msg=name)
        assert wm.num_batches_tracked.dtype == tw.int64 and wm.num_batches_tracked.item() == 3
        x = rng.standard_normal((2, 3, 2, 2))
        tm.eval()
        wm.eval()
        np.testing.assert_allclose(
            _host(wm(tw.tensor(x, device=device))), tm(torch.tensor(x)).detach().numpy(), rtol=1e-12
        )


def test_batchnorm_step_makes_no_host_transfer():
    b = tw.backends.get_backend("strict")
    m = tw.nn.BatchNorm1d(3, momentum=None).to("strict")
    x = tw.randn(4, 3, device="strict")
    before = b.transfers
    m(x).sum().backward()
    assert b.transfers == before


def test_embedding_padding_row_is_zero_and_gets_no_gradient(device):
    m = tw.nn.Embedding(5, 3, padding_idx=-1, device=device)
    assert m.padding_idx == 4
    assert not _host(m.weight)[4].any() and _host(m.weight)[:4].any()
    m(tw.tensor([[4, 1, 4]], device=device)).sum().backward()
    g = _host(m.weight.grad)
    assert not g[4].any() and g[1].all()


def test_embedding_from_pretrained_shares_storage():
    w = tw.randn(4, 2)
    m = tw.nn.Embedding.from_pretrained(w)
    assert not m.weight.requires_grad and m.weight.array is w.array
    assert tw.nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad


def test_dropout_in_training_zeroes_and_scales(device):
    tw.manual_seed(0)
    x = tw.ones(200, 50, device=device)
    y = _host(tw.nn.Dropout(0.3)(x))
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((y == 0).mean() - 0.3) < 0.02
    y2 = _host(tw.nn.Dropout2d(0.5)(tw.ones(40, 30, 2, 2, device=device)))
    per_channel = y2.reshape(40, 30, 4)
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # whole channels
    assert 0.35 < (per_channel[..., 0] == 0).mean() < 0.65


BAD_INPUTS = [
    (
        lambda: tw.nn.Linear(4, 2),
        (2, 3),
        RuntimeError,
        r"Linear: expected input with last dimension 4 \(in_features\), got shape \(2, 3\)",
    ),
    (lambda: tw.nn.Linear(4, 2), (), RuntimeError, r"last dimension 4 .* got shape \(\)"),
    (
        lambda: tw.nn.Conv2d(3, 4, 3),
        (2, 4, 8, 8),
        RuntimeError,
        r"Conv2d: expected input with 3 channels \(in_channels\) in dim 1, got shape \(2, 4, 8, 8\)",
    ),
    (
        lambda: tw.nn.Conv2d(3, 4, 3),
        (3, 8),
        RuntimeError,
        r"Conv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got shape \(3, 8\)",
    ),
    (lambda: tw.nn.Conv1d(3, 4, 3), (2, 2, 8), RuntimeError, r"Conv1d: expected input with 3 channels"),
    (
        lambda: tw.nn.ConvTranspose2d(3, 4, 3),
        (3, 8, 8, 1),
        RuntimeError,
        r"ConvTranspose2d: expected input with 3 channels",
    ),
    (
        lambda: tw.nn.BatchNorm2d(3),
        (2, 3, 4),
        ValueError,
        r"BatchNorm2d: expected 4D input \(got 3D input of shape \(2, 3, 4\)\)",
    ),
    (
        lambda: tw.nn.BatchNorm1d(3),
        (2, 4),
        ValueError,
        r"expected input with 3 channels \(num_features\) in dim 1, got shape \(2, 4\)",
    ),
    (
        lambda: tw.nn.LayerNorm(4),
        (2, 3),
        RuntimeError,
        r"LayerNorm: expected input with shape \[\*, 4\] \(normalized_shape\), got shape \(2, 3\)",
    ),
    (lambda: tw.nn.GroupNorm(2, 4), (2, 6, 3), RuntimeError, r"GroupNorm: expected input \(N, 4, ...\)"),
    (
        lambda: tw.nn.MaxPool2d(2),
        (4, 4),
        RuntimeError,
        r"MaxPool2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got shape \(4, 4\)",
    ),
]


@pytest.mark.parametrize("make, shape, exc, match", BAD_INPUTS)
def test_bad_input_is_a_clear_error(make, shape, exc, match):
    with pytest.raises(exc, match=match):
        make()(tw.zeros(*shape))


def test_batchnorm_checks_buffer_shapes_before_changing_them():
    m = tw.nn.BatchNorm1d(3)
    m.running_var = tw.ones(4)  # mis-shaped by hand
    before = m.running_mean.numpy().copy()
    with pytest.raises(RuntimeError, match=r"running_var has shape \(4,\), expected \(3,\)"):
        m(tw.randn(5, 3))
    np.testing.assert_array_equal(m.running_mean.numpy(), before)
    assert m.num_batches_tracked.item() == 0


def test_bad_constructor_arguments_match_pytorch():
    cases = [
        lambda nn: nn.Conv2d(3, 4, 3, groups=2),
        lambda nn: nn.Conv2d(4, 3, 3, groups=2),
        lambda nn: nn.Conv2d(3, 4, 3, padding="full"),
        lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding="same"),
        lambda nn: nn.Conv2d(3, 4, 3, padding_mode="mirror"),
        lambda nn: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"),
        lambda nn: nn.Dropout(1.5),
        lambda nn: nn.GroupNorm(3, 4),
        lambda nn: nn.LSTM(3, 4, proj_size=4),
        lambda nn: nn.RNN(3, 4, nonlinearity="sigmoid"),
        lambda nn: nn.MultiheadAttention(0, 2),
    ]
    for case in cases:
        with pytest.raises(Exception) as t_err:
            case(torch.nn)
        with pytest.raises(type(t_err.value)):
            case(tw.nn)


def test_convtranspose_output_size_out_of_range():
    m = tw.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    with pytest.raises(
        ValueError, match=r"requested an output size of \[10, 10\], but valid sizes range from \[7, 7\] to \[8, 8\]"
    ):
        m(tw.zeros(1, 2, 4, 4), output_size=(10, 10))


def test_layers_take_device_and_dtype(device):
    for m in [
        tw.nn.Linear(3, 2, device=device, dtype=tw.float64),
        tw.nn.Conv2d(2, 3, 3, device=device, dtype=tw.float64),
        tw.nn.BatchNorm2d(3, device=device, dtype=tw.float64),
        tw.nn.Embedding(4, 3, device=device, dtype=tw.float64),
        tw.nn.LSTM(3, 4, device=device, dtype=tw.float64),
        tw.nn.MultiheadAttention(4, 2, device=device, dtype=tw.float64),
    ]:
        for name, t in m.state_dict().items():
            assert t.device == tw.device(device), name
            assert t.dtype == (tw.int64 if name == "num_batches_tracked" else tw.float64), name


def test_default_dtype_is_float32():
    assert tw.nn.Linear(3, 2).weight.dtype == tw.float32
    assert math.isclose(tw.nn.init.calculate_gain("tanh"), 5 / 3)
