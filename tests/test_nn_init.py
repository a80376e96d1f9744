"""tw.nn.init and the layers' default initialization: the same distributions as PyTorch's (a
two-sample Kolmogorov-Smirnov test against PyTorch's samples, bounds, moments), in place, outside
the graph, on the tensor's own device and dtype."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch")
init = tw.nn.init


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov distance between the empirical distributions of a and b."""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    grid = np.concatenate([a, b])
    return float(
        np.max(np.abs(np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size))
    )


def assert_same_distribution(ours: np.ndarray, theirs: np.ndarray) -> None:
    n, m = ours.size, theirs.size
    limit = 1.95 * math.sqrt((n + m) / (n * m))  # alpha = 0.001
    d = ks_statistic(ours, theirs)
    assert d < limit, f"KS distance {d:.4f} >= {limit:.4f}: not PyTorch's distribution"
    sd = theirs.std()
    assert abs(ours.mean() - theirs.mean()) < 5 * sd * math.sqrt(1 / n + 1 / m), "means differ"
    assert abs(ours.std() - sd) < 5 * sd * math.sqrt(1 / (2 * n) + 1 / (2 * m)), "standard deviations differ"


def _np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy(), dtype=np.float64)


SHAPE = (300, 200)
INITS = [
    ("uniform", lambda m, t: m.uniform_(t, -0.5, 2.0)),
    ("normal", lambda m, t: m.normal_(t, 1.0, 3.0)),
    ("trunc_normal", lambda m, t: m.trunc_normal_(t, 0.2, 1.5, -1.0, 2.5)),
    ("trunc_normal_default", lambda m, t: m.trunc_normal_(t)),
    ("xavier_uniform", lambda m, t: m.xavier_uniform_(t, gain=2.0)),
    ("xavier_normal", lambda m, t: m.xavier_normal_(t)),
    ("kaiming_uniform", lambda m, t: m.kaiming_uniform_(t, a=math.sqrt(5))),
    ("kaiming_uniform_relu_fan_out", lambda m, t: m.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal", lambda m, t: m.kaiming_normal_(t, nonlinearity="tanh")),
    ("orthogonal", lambda m, t: m.orthogonal_(t, gain=1.5)),
]


@pytest.mark.parametrize("fn", [c[1] for c in INITS], ids=[c[0] for c in INITS])
def test_init_matches_pytorch_distribution(fn, device):
    tw.manual_seed(0)
    torch.manual_seed(0)
    shape = (40, 60) if fn is INITS[-1][1] else SHAPE
    t = tw.nn.Parameter(tw.empty(*shape, dtype=tw.float64, device=device))
    arr = t.array
    assert fn(init, t) is t
    assert t.array is arr or t.shape == shape  # in place
    assert t.device == tw.device(device) and t.dtype == tw.float64 and t.grad_fn is None and t.requires_grad
    theirs = fn(torch.nn.init, torch.empty(*shape, dtype=torch.float64)).numpy()
    assert_same_distribution(_np(t), theirs)


def test_trunc_normal_bounds_and_erfinv():
    tw.manual_seed(1)
    t = init.trunc_normal_(tw.empty(100_000, dtype=tw.float64), 0.0, 1.0, -1.5, 0.5)
    a = _np(t)
    assert a.min() >= -1.5 and a.max() <= 0.5
    assert a.min() < -1.49 and a.max() > 0.49
    # the truncated normal's mean: (phi(a) - phi(b)) / (Phi(b) - Phi(a))
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    assert abs(a.mean() - (phi(-1.5) - phi(0.5)) / (Phi(0.5) - Phi(-1.5))) < 0.01


def test_orthogonal_is_orthogonal(device):
    for shape in [(5, 8), (8, 5), (4, 3, 2)]:
        t = init.orthogonal_(tw.empty(*shape, dtype=tw.float64, device=device), gain=2.0)
        q = _np(t).reshape(shape[0], -1)
        small = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q
        np.testing.assert_allclose(small, 4.0 * np.eye(small.shape[0]), atol=1e-12)


def test_deterministic_inits_equal_pytorch(device):
    for shape, fn in [
        ((3, 4), lambda m, t: m.eye_(t)),
        ((4, 2, 3), lambda m, t: m.dirac_(t)),
        ((6, 2, 3, 3), lambda m, t: m.dirac_(t, groups=2)),
        ((2, 3), lambda m, t: m.constant_(t, 0.25)),
        ((2, 3), lambda m, t: m.ones_(t)),
        ((2, 3), lambda m, t: m.zeros_(t)),
    ]:
        ours = fn(init, tw.nn.Parameter(tw.full(shape, 7.0, dtype=tw.float64, device=device)))
        assert ours.device == tw.device(device) and ours.requires_grad
        np.testing.assert_array_equal(_np(ours), fn(torch.nn.init, torch.full(shape, 7.0, dtype=torch.float64)).numpy())


def test_calculate_gain_matches_pytorch():
    for args in [
        ("linear",),
        ("conv2d",),
        ("sigmoid",),
        ("tanh",),
        ("relu",),
        ("leaky_relu",),
        ("leaky_relu", 0.2),
        ("selu",),
    ]:
        assert init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)
    for bad in [("swish",), ("leaky_relu", True)]:
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(*bad)
        with pytest.raises(ValueError):
            init.calculate_gain(*bad)


def test_init_errors_and_edge_cases():
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_, init.eye_):
        with pytest.raises(ValueError):
            fn(tw.empty(3))
    with pytest.raises(ValueError, match="Mode fan_mid not supported"):
        init.kaiming_uniform_(tw.empty(2, 2), mode="fan_mid")
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(tw.empty(0, 3))
    half = init.uniform_(tw.empty(10, dtype=tw.float16), -1, 1)
    assert half.dtype == tw.float16 and np.abs(half.numpy()).max() <= 1
    init.normal_(tw.empty(3), generator=None)
    with pytest.raises(TypeError, match="generator"):
        init.normal_(tw.empty(3), generator=object())


LAYER_INITS = [
    ("linear", lambda nn: nn.Linear(400, 300)),
    ("bilinear", lambda nn: nn.Bilinear(20, 30, 200)),
    ("conv2d", lambda nn: nn.Conv2d(16, 128, 5)),
    ("conv_transpose2d", lambda nn: nn.ConvTranspose2d(64, 32, 4, groups=2)),
    ("conv1d", lambda nn: nn.Conv1d(32, 256, 7)),
    ("embedding", lambda nn: nn.Embedding(500, 64, padding_idx=3)),
    ("lstm", lambda nn: nn.LSTM(50, 100)),
    ("gru_cell", lambda nn: nn.GRUCell(60, 90)),
    ("mha", lambda nn: nn.MultiheadAttention(96, 4)),
    ("mha_bias_kv", lambda nn: nn.MultiheadAttention(96, 4, add_bias_kv=True, kdim=32, vdim=48)),
    ("batchnorm", lambda nn: nn.BatchNorm2d(10)),
    ("layernorm", lambda nn: nn.LayerNorm(10)),
    ("prelu", lambda nn: nn.PReLU(4)),
]


@pytest.mark.parametrize("build", [c[1] for c in LAYER_INITS], ids=[c[0] for c in LAYER_INITS])
def test_layer_default_init_matches_pytorch(build):
    """Every parameter and buffer of a large layer: PyTorch's distribution, bounds and fill values."""
    tw.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = build(tw.nn), build(torch.nn)
    t_sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(t_sd)
    for name, t in ours.state_dict().items():
        a, b = _np(t), t_sd[name].double().numpy()
        assert a.shape == b.shape, name
        if np.unique(b).size <= 2:  # constants (ones, zeros, 0.25) and the padding row
            np.testing.assert_array_equal(a, b, err_msg=name)
            continue
        if a.size >= 64:
            assert_same_distribution(a, b)


@pytest.mark.parametrize(
    "build, bound",
    [
        (lambda: tw.nn.Linear(400, 30), 1 / math.sqrt(400)),
        (lambda: tw.nn.Conv2d(16, 32, 3), 1 / math.sqrt(16 * 9)),
        (lambda: tw.nn.ConvTranspose2d(16, 32, 3, groups=2), 1 / math.sqrt(16 * 9)),  # fan_in from weight dim 1
        (lambda: tw.nn.Bilinear(20, 30, 40), 1 / math.sqrt(20)),
        (lambda: tw.nn.LSTM(10, 50), 1 / math.sqrt(50)),
    ],
)
def test_uniform_inits_fill_the_fan_in_bounds(build, bound):
    tw.manual_seed(0)
    for name, p in build().named_parameters():
        a = _np(p)
        assert np.abs(a).max() <= bound, name
        if a.size >= 1000:
            assert np.abs(a).max() > 0.99 * bound, name


def test_embedding_padding_row_zero_like_pytorch():
    tw.manual_seed(0)
    w = tw.nn.Embedding(500, 64, padding_idx=3).weight.detach().numpy()
    assert not w[3].any() and w[[0, 4]].all()
