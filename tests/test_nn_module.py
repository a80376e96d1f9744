"""Module semantics against PyTorch's: registration, iteration, attribute rules, hooks, modes,
repr, moving between devices and dtypes in place, state dicts; Parameter, Buffer and containers."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch")


def _net(nn, t):
    """The same model in PyTorch (nn=torch.nn, t=torch) or here: nested, with a shared submodule,
    a tied parameter, buffers (one not persistent) and a None parameter."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.register_buffer("scale", t.ones(3))
            self.register_buffer("tmp", t.zeros(2), persistent=False)

        def forward(self, x):
            return self.fc(x) * self.scale

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = Block()
            self.alpha = nn.Parameter(t.zeros(1))
            self.body = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), Block())
            self.shared = self.first  # the same module twice
            self.head = nn.Linear(3, 3)
            self.head.weight = self.body[0].weight  # a tied parameter
            self.register_parameter("unused", None)
            self.norm = nn.BatchNorm1d(3)

        def forward(self, x):
            return self.norm(self.head(self.body(self.first(x)))) + self.alpha

    return Net()


@pytest.fixture
def nets():
    return _net(torch.nn, torch), _net(tw.nn, tw)


def test_named_members_match_pytorch(nets):
    tn, wn = nets
    for kwargs in ({}, {"prefix": "model"}, {"remove_duplicate": False}, {"recurse": False}):
        assert [n for n, _ in wn.named_parameters(**kwargs)] == [n for n, _ in tn.named_parameters(**kwargs)], kwargs
        assert [n for n, _ in wn.named_buffers(**kwargs)] == [n for n, _ in tn.named_buffers(**kwargs)], kwargs
    for kwargs in ({}, {"prefix": "m"}, {"remove_duplicate": False}):
        assert [n for n, _ in wn.named_modules(**kwargs)] == [n for n, _ in tn.named_modules(**kwargs)], kwargs
    assert [n for n, _ in wn.named_children()] == [n for n, _ in tn.named_children()]
    assert len(list(wn.parameters())) == len(list(tn.parameters()))
    assert len(list(wn.buffers())) == len(list(tn.buffers()))
    assert len(list(wn.modules())) == len(list(tn.modules()))
    assert len(list(wn.children())) == len(list(tn.children()))
    assert list(wn.state_dict()) == list(tn.state_dict())
    assert list(wn.state_dict(prefix="p.")) == list(tn.state_dict(prefix="p."))
    assert wn.get_submodule("body.2.fc") is wn.body[2].fc
    assert wn.get_parameter("body.0.weight") is wn.head.weight
    assert wn.get_buffer("first.scale") is wn.first.scale


def test_apply_visits_children_first_like_pytorch(nets):
    tn, wn = nets
    seen_t, seen_w = [], []
    tn.apply(lambda m: seen_t.append(type(m).__name__))
    assert wn.apply(lambda m: seen_w.append(type(m).__name__)) is wn
    assert seen_w == seen_t


def test_train_eval_propagate(nets):
    _, wn = nets
    assert wn.training and all(m.training for m in wn.modules())
    assert wn.eval() is wn
    assert not any(m.training for m in wn.modules())
    wn.body.train()
    assert wn.body[2].fc.training and not wn.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        wn.train("yes")


def test_zero_grad_and_requires_grad(nets):
    _, wn = nets
    wn(tw.randn(4, 3)).sum().backward()
    ps = list(wn.parameters())
    assert all(p.grad is not None for p in ps)
    grads = [p.grad for p in ps]
    wn.zero_grad(set_to_none=False)
    assert all(p.grad is g and not p.grad.numpy().any() for p, g in zip(ps, grads, strict=True))
    wn.zero_grad()
    assert all(p.grad is None for p in ps)
    assert wn.requires_grad_(False) is wn
    assert not any(p.requires_grad for p in wn.parameters())
    wn.requires_grad_()
    assert all(p.requires_grad for p in wn.parameters())


def test_attribute_rules_match_pytorch(nets):
    tn, wn = nets
    checks = [
        lambda m, t, nn: setattr(m.head, "bias", t.zeros(3)),  # a plain tensor onto a parameter
        lambda m, t, nn: setattr(m, "body", t.zeros(3)),  # a tensor onto a submodule
        lambda m, t, nn: setattr(m.first, "scale", 3.0),  # a number onto a buffer
        lambda m, t, nn: m.register_buffer("a.b", t.zeros(1)),
        lambda m, t, nn: m.register_buffer("", t.zeros(1)),
        lambda m, t, nn: m.register_buffer("head", t.zeros(1)),  # an existing attribute
        lambda m, t, nn: m.register_buffer("x", [1.0]),
        lambda m, t, nn: m.register_parameter("p", t.zeros(1)),
        lambda m, t, nn: m.register_parameter("p", nn.Parameter(t.zeros(1)) * 2),
        lambda m, t, nn: m.add_module("a.b", nn.ReLU()),
        lambda m, t, nn: m.add_module("x", 3),
        lambda m, t, nn: m.nonexistent,
        lambda m, t, nn: delattr(m, "nonexistent"),
    ]
    for i, check in enumerate(checks):
        with pytest.raises(Exception) as t_err:
            check(tn, torch, torch.nn)
        with pytest.raises(type(t_err.value)):
            check(wn, tw, tw.nn)
        assert type(t_err.value) is not Exception, i

    class Early(tw.nn.Module):
        def __init__(self):
            self.w = tw.nn.Parameter(tw.zeros(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Early()
    with pytest.raises(TypeError, match=r"cannot assign 'tensorweaver.tensor.Tensor' as parameter 'bias'"):
        wn.head.bias = tw.zeros(3)


def test_assignment_moves_between_kinds_and_keeps_order():
    m = tw.nn.Module()
    m.a = tw.nn.Parameter(tw.zeros(1))
    m.b = tw.nn.Linear(1, 1)
    m.register_buffer("c", tw.zeros(1))
    m.d = tw.nn.Buffer(tw.ones(2), persistent=False)
    m.e = tw.nn.Parameter(tw.zeros(2))
    assert list(m._parameters) == ["a", "e"] and list(m._buffers) == ["c", "d"]
    assert list(m.state_dict()) == ["a", "e", "c", "b.weight", "b.bias"]  # d is not persistent
    m.c = tw.ones(1)  # a plain tensor onto a buffer stays a buffer
    assert m._buffers["c"].numpy()[0] == 1 and "c" in m.state_dict()
    m.a = None
    assert m.a is None and "a" in m._parameters and "a" not in m.state_dict()
    m.b = tw.nn.Parameter(tw.zeros(3))  # a parameter replaces a submodule
    assert "b" not in m._modules and list(m._parameters) == ["a", "e", "b"]
    del m.e, m.c, m.b
    assert list(m._parameters) == ["a"] and list(m._buffers) == ["d"]
    m.plain = 3
    assert m.plain == 3 and "plain" in dir(m)


def test_forward_hooks():
    m = tw.nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
    h3 = m.register_forward_hook(lambda mod, args, out: calls.append("second") or None)
    h4 = m.register_forward_hook(lambda mod, args, out: calls.append("first"), prepend=True)
    y = m(tw.ones(1, 2))
    np.testing.assert_allclose(y.detach().numpy(), m.bias.detach().numpy()[None] + 1, rtol=1e-6)
    assert calls == ["first", "second"]
    for h in (h1, h2, h3, h4):
        h.remove()
    h1.remove()  # twice is fine
    np.testing.assert_allclose(
        m(tw.ones(1, 2)).detach().numpy(), tw.nn.functional.linear(tw.ones(1, 2), m.weight, m.bias).detach().numpy()
    )

    def pre(mod, args, kwargs):
        return (args[0] * 2,), kwargs

    def post(mod, args, kwargs, out):
        assert kwargs == {}
        return out * 0

    with m.register_forward_pre_hook(pre, with_kwargs=True), m.register_forward_hook(post, with_kwargs=True):
        assert not m(tw.ones(1, 2)).detach().numpy().any()
    assert m(tw.ones(1, 2)).detach().numpy().any()  # the with block removed both


def test_call_without_forward_is_pytorch_error():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        tw.nn.Module()(1)


def _repr_model(nn):
    return nn.Sequential(
        OrderedDict(
            [
                ("stem", nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)),
                ("bn", nn.BatchNorm2d(8, momentum=None)),
                ("act", nn.ReLU(inplace=True)),
                (
                    "blocks",
                    nn.ModuleList([nn.Conv2d(8, 8, 3, padding="same", groups=2) for _ in range(3)] + [nn.Identity()]),
                ),
                (
                    "heads",
                    nn.ModuleDict(
                        {
                            "cls": nn.Sequential(
                                nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 10), nn.LogSoftmax(dim=1)
                            ),
                            "up": nn.ConvTranspose2d(8, 4, 3, stride=2, output_padding=1, dilation=1),
                        }
                    ),
                ),
                ("c1", nn.Conv1d(2, 4, 5, dilation=2, padding_mode="reflect", padding=4)),
                (
                    "pools",
                    nn.Sequential(
                        nn.MaxPool2d(2),
                        nn.MaxPool1d(3, 1),
                        nn.AvgPool1d(2),
                        nn.AvgPool2d(3, 2, 1),
                        nn.AdaptiveAvgPool2d((1, 2)),
                    ),
                ),
                (
                    "norms",
                    nn.Sequential(
                        nn.LayerNorm([4, 5], eps=1e-6),
                        nn.GroupNorm(2, 4),
                        nn.BatchNorm1d(3, affine=False),
                        nn.RMSNorm(4),
                        nn.Dropout2d(),
                    ),
                ),
                ("emb", nn.Embedding(100, 16, padding_idx=0, max_norm=2.0)),
                ("bil", nn.Bilinear(3, 4, 5, bias=False)),
                ("unflat", nn.Unflatten(1, (2, 8))),
                (
                    "acts",
                    nn.Sequential(
                        nn.LeakyReLU(0.1),
                        nn.PReLU(3),
                        nn.ELU(),
                        nn.CELU(0.5),
                        nn.SELU(),
                        nn.GELU("tanh"),
                        nn.SiLU(),
                        nn.Mish(),
                        nn.Sigmoid(),
                        nn.Tanh(),
                        nn.LogSigmoid(),
                        nn.Softplus(2.0),
                        nn.Softsign(),
                        nn.Tanhshrink(),
                        nn.Hardtanh(-2.0, 2.0),
                        nn.ReLU6(),
                        nn.Hardsigmoid(),
                        nn.Hardswish(),
                        nn.Hardshrink(),
                        nn.Softshrink(0.2),
                        nn.Threshold(0.1, 0.0),
                        nn.GLU(),
                        nn.Softmax(dim=-1),
                        nn.Softmin(1),
                    ),
                ),  # fmt: skip
                (
                    "seq",
                    nn.ModuleList(
                        [
                            nn.LSTM(4, 8, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True),
                            nn.GRU(3, 5, bias=False),
                            nn.RNN(3, 4, nonlinearity="relu"),
                            nn.LSTM(4, 8, proj_size=3),
                            nn.LSTMCell(3, 4),
                            nn.GRUCell(3, 4, bias=False),
                            nn.RNNCell(2, 3, nonlinearity="relu"),
                        ]
                    ),
                ),  # fmt: skip
                ("attn", nn.MultiheadAttention(8, 2, kdim=4, vdim=6, batch_first=True)),
                (
                    "enc",
                    nn.TransformerEncoder(
                        nn.TransformerEncoderLayer(8, 2, 16, norm_first=True), 2, enable_nested_tensor=False
                    ),
                ),
                (
                    "losses",
                    nn.ModuleList(
                        [nn.CrossEntropyLoss(label_smoothing=0.1), nn.MSELoss(), nn.BCEWithLogitsLoss(), nn.KLDivLoss()]
                    ),
                ),
                ("dist", nn.Sequential(nn.CosineSimilarity(), nn.PairwiseDistance())),
            ]
        )
    )


def test_repr_equals_pytorch():
    assert repr(_repr_model(tw.nn)) == repr(_repr_model(torch.nn))
    assert repr(tw.nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_parameter_repr_and_storage():
    data = tw.tensor([[1.0, 2.0], [3.0, 4.0]])
    p = tw.nn.Parameter(data)
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]])))
    assert p.array is data.array and p.requires_grad and p.is_leaf
    assert not tw.nn.Parameter(data, requires_grad=False).requires_grad
    assert tw.nn.Parameter().shape == (0,)
    with pytest.raises(RuntimeError, match="only floating point"):
        tw.nn.Parameter(tw.tensor([1, 2]))
    q = copy.deepcopy(p)
    assert isinstance(q, tw.nn.Parameter) and q.array is not p.array and q.requires_grad
    b = tw.nn.Buffer(data, persistent=False)
    assert b.array is data.array and not b.persistent


def test_deepcopy_module():
    m = tw.nn.Sequential(tw.nn.Linear(2, 3), tw.nn.BatchNorm1d(3))
    c = copy.deepcopy(m)
    for (n1, a), (n2, b) in zip(m.state_dict().items(), c.state_dict().items(), strict=True):
        assert n1 == n2 and a.array is not b.array
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert isinstance(c[0].weight, tw.nn.Parameter)


# -- devices and dtypes ------------------------------------------------------------------------------
def _model():
    return tw.nn.Sequential(tw.nn.Linear(3, 4), tw.nn.BatchNorm1d(4), tw.nn.ReLU(), tw.nn.Linear(4, 2))


def test_to_strict_moves_in_place_and_trains_without_host_transfers():
    m = _model()
    m(tw.randn(5, 3)).sum().backward()
    params = list(m.parameters())  # what an optimizer made now would hold
    grads = [p.grad for p in params]
    buffers = list(m.buffers())
    assert m.to("strict") is m
    assert all(a is b for a, b in zip(m.parameters(), params, strict=True))
    assert all(p.grad is g for p, g in zip(params, grads, strict=True))
    assert all(a is b for a, b in zip(m.buffers(), buffers, strict=True))
    dev = tw.device("strict")
    assert all(t.device == dev for t in [*params, *grads, *buffers])
    b = tw.backends.get_backend("strict")
    x = tw.randn(5, 3, device="strict")
    before = b.transfers
    for _ in range(2):  # a training step: forward, backward, in-place update, zero_grad
        m(x).sum().backward()
        with tw.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        m.zero_grad()
    assert b.transfers == before
    m.cpu()
    assert all(p.device == tw.device("cpu") for p in m.parameters())


def test_dtype_casts_touch_floats_only(device):
    m = _model().to(device)
    m(tw.randn(5, 3, device=device)).sum().backward()
    w = m[0].weight
    m.double()
    assert m[0].weight is w and w.dtype == tw.float64 and w.grad.dtype == tw.float64
    assert m[1].running_mean.dtype == tw.float64 and m[1].num_batches_tracked.dtype == tw.int64
    m.float()
    assert w.dtype == tw.float32 and m[1].num_batches_tracked.dtype == tw.int64
    m.to(tw.float64)
    assert w.dtype == tw.float64 and w.device == tw.device(device)
    m.to(device, tw.float32)
    assert w.dtype == tw.float32
    m.to(tw.zeros(1, dtype=tw.float64, device=device))
    assert w.dtype == tw.float64
    if device == "cpu":  # array_api_strict has no float16
        m.half()
        assert w.dtype == tw.float16
    m.type(tw.float32)
    assert w.dtype == tw.float32 and m[1].num_batches_tracked.dtype == tw.float32  # type() casts every tensor
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes"):
        m.to(tw.int64)


def test_to_an_unavailable_device_changes_nothing():
    m = _model()
    if tw.cuda.is_available():
        pytest.skip("CUDA is available here")
    before = m[0].weight.array
    with pytest.raises(tw.backends.BackendUnavailable):
        m.cuda()
    assert m[0].weight.array is before and m[0].weight.device == tw.device("cpu")


# -- state dicts -------------------------------------------------------------------------------------
def test_state_dict_shares_storage_and_keep_vars():
    m = _model()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert type(sd["0.weight"]) is tw.Tensor and not sd["0.weight"].requires_grad
    assert sd["0.weight"].array is m[0].weight.array
    assert m.state_dict(keep_vars=True)["0.weight"] is m[0].weight


def test_load_state_dict_from_pytorch_numpy_arrays(device):
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    tm(torch.randn(6, 3))  # running statistics
    m = _model().to(device)
    w = m[0].weight
    result = m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert repr(result) == "<All keys matched successfully>" and result.missing_keys == [] == result.unexpected_keys
    assert m[0].weight is w and w.device == tw.device(device) and w.dtype == tw.float32
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(m.state_dict()[k].numpy(), v.numpy(), rtol=1e-6, err_msg=k)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    tm.eval()
    m.eval()
    np.testing.assert_allclose(
        m(tw.tensor(x, device=device)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_load_state_dict_errors_change_nothing():
    m = tw.nn.Linear(4, 2)
    tm = torch.nn.Linear(4, 2)
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    bad = {"weight": np.zeros((3, 4), np.float32), "bias": np.ones(2, np.float32)}
    with pytest.raises(RuntimeError) as t_err:
        tm.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError) as w_err:
        m.load_state_dict(bad)
    expected = str(t_err.value).replace("torch.Size([3, 4])", "(3, 4)").replace("torch.Size([2, 4])", "(2, 4)")
    assert str(w_err.value) == expected
    assert str(w_err.value) == (
        "Error(s) in loading state_dict for Linear:\n\tsize mismatch for weight: copying a param with shape (3, 4) "
        "from checkpoint, the shape in current model is (2, 4)."
    )
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])  # bias was not loaded either

    partial = {"weight": np.ones((2, 4), np.float32), "extra": np.zeros(1)}
    with pytest.raises(RuntimeError) as t_err:
        tm.load_state_dict({k: torch.tensor(v) for k, v in partial.items()})
    with pytest.raises(RuntimeError) as w_err:
        m.load_state_dict(partial)
    assert str(w_err.value) == str(t_err.value)
    assert 'Missing key(s) in state_dict: "bias".' in str(w_err.value)
    np.testing.assert_array_equal(m.weight.detach().numpy(), before["weight"])

    result = m.load_state_dict(partial, strict=False)
    assert result == tm.load_state_dict({k: torch.tensor(v) for k, v in partial.items()}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    assert m.weight.detach().numpy().all()

    with pytest.raises(RuntimeError, match=r'While copying the parameter named "bias", expected a Tensor or a NumPy'):
        m.load_state_dict({"weight": np.ones((2, 4)), "bias": "nope"})
    with pytest.raises(RuntimeError, match=r"a complex128 value can't be copied into a tensorweaver.float32 tensor"):
        m.load_state_dict({"weight": np.ones((2, 4)), "bias": np.ones(2, np.complex128)})
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        m.load_state_dict([1, 2])


def test_load_state_dict_tensors_other_device_and_assign():
    m = tw.nn.Linear(2, 2).to("strict")
    src = tw.nn.Linear(2, 2)
    m.load_state_dict(src.state_dict())  # CPU tensors into a strict module: copied there
    assert m.weight.device == tw.device("strict")
    np.testing.assert_array_equal(m.weight.detach().numpy(), src.weight.detach().numpy())
    w = m.weight
    m.load_state_dict(
        {"weight": tw.ones(2, 2, dtype=tw.float64, device="strict"), "bias": tw.zeros(2, device="strict")}, assign=True
    )
    assert m.weight is not w and isinstance(m.weight, tw.nn.Parameter) and m.weight.dtype == tw.float64
    assert m.weight.requires_grad


def test_state_dict_loads_from_safetensors_file(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(), torch.nn.Linear(8, 3)
    )
    path = str(tmp_path / "model.safetensors")
    safetensors_torch.save_file(tm.state_dict(), path)
    m = tw.nn.Sequential(tw.nn.Conv2d(1, 2, 3), tw.nn.BatchNorm2d(2), tw.nn.Flatten(), tw.nn.Linear(8, 3))
    m.load_state_dict(safetensors_numpy.load_file(path))
    tm.eval()
    m.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(
        m(tw.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


# -- containers --------------------------------------------------------------------------------------
def test_sequential():
    a, b, c = tw.nn.Linear(2, 3), tw.nn.ReLU(), tw.nn.Linear(3, 1)
    s = tw.nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sl = s[1:]
    assert isinstance(sl, tw.nn.Sequential) and list(sl) == [b, c] and list(sl._modules) == ["1", "2"]
    with pytest.raises(IndexError):
        s[3]
    x = tw.randn(4, 2)
    np.testing.assert_array_equal(s(x).detach().numpy(), c(b(a(x))).detach().numpy())
    d = tw.nn.Sigmoid()
    assert s.append(d) is s and s[3] is d
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and list(s) == [a, c, d]
    s.insert(1, b)
    assert list(s) == [a, b, c, d]
    assert s.pop(3) is d and len(s) == 3
    s[2] = d
    assert s[2] is d
    named = tw.nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is a
    ts = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)), ("act", torch.nn.ReLU())]))
    assert repr(named) == repr(ts)


def test_module_list_and_dict():
    layers = tw.nn.ModuleList([tw.nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and isinstance(layers[1:], tw.nn.ModuleList)
    layers.append(tw.nn.ReLU())
    layers += [tw.nn.Tanh()]
    layers.insert(0, tw.nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
    del layers[0]
    assert list(layers._modules) == [str(i) for i in range(5)]
    assert list(layers.state_dict())[:2] == ["0.weight", "0.bias"]
    d = tw.nn.ModuleDict({"a": tw.nn.Linear(1, 1)})
    d["b"] = tw.nn.ReLU()
    d.update([("c", tw.nn.Tanh())])
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert list(d.keys()) == ["a", "b", "c"] and isinstance(d.pop("b"), tw.nn.ReLU)
    assert [k for k, _ in d.items()] == ["a", "c"]
    d.clear()
    assert len(d) == 0


def test_parameter_list_and_dict_match_pytorch_keys():
    for nn, t in ((torch.nn, torch), (tw.nn, tw)):
        pl = nn.ParameterList([nn.Parameter(t.zeros(2)), t.ones(3)])  # a plain tensor becomes a Parameter
        pl.append(t.zeros(1))
        assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 3
        pd = nn.ParameterDict({"w": nn.Parameter(t.zeros(2, 2))})
        pd["b"] = t.zeros(2)
        assert isinstance(pd["b"], nn.Parameter) and list(pd.keys()) == ["w", "b"] and "w" in pd
    m_t = torch.nn.Module()
    m_t.pl, m_t.pd = (
        torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(1))]),
        torch.nn.ParameterDict({"x": torch.nn.Parameter(torch.zeros(1))}),
    )
    m_w = tw.nn.Module()
    m_w.pl, m_w.pd = (
        tw.nn.ParameterList([tw.nn.Parameter(tw.zeros(1))]),
        tw.nn.ParameterDict({"x": tw.nn.Parameter(tw.zeros(1))}),
    )
    assert list(m_w.state_dict()) == list(m_t.state_dict()) == ["pl.0", "pd.x"]
    assert repr(m_w.pl) == "ParameterList(  (0): Parameter containing: [tensorweaver.float32 of size 1])"
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        m_w.pl()
