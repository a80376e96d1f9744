"""Devices, backends and host<->device transfers: parsing, registration, CUDA availability, counting."""

from __future__ import annotations

import pickle
import subprocess
import sys

import array_api_compat
import array_api_strict
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.backends import cupy as cupy_backend


def total_transfers() -> int:
    return sum(b.transfers for b in tw.backends.all_backends())


def textbook_data(device, seed=0, dtype=tw.float32):
    rng = np.random.default_rng(seed)
    x = tw.tensor(rng.standard_normal((16, 3)), dtype=dtype, device=device)
    y = tw.tensor(rng.standard_normal((16, 2)), dtype=dtype, device=device)
    w = tw.tensor(rng.standard_normal((2, 3)), dtype=dtype, device=device, requires_grad=True)
    b = tw.tensor(rng.standard_normal(2), dtype=dtype, device=device, requires_grad=True)
    return x, y, w, b


def textbook_step(x, y, w, b, lr=0.1):
    """One step of the loop every tutorial starts with, written exactly as users write it."""
    pred = x @ w.T + b
    loss = ((pred - y) ** 2).mean()
    loss.backward()
    w.data -= lr * w.grad
    b.data -= lr * b.grad
    w.grad = None
    b.grad = None
    return loss


@pytest.fixture
def scratch_registry():
    """Undo register_backend() calls made by a test (the registry is process-wide)."""
    known = dict(tw.backends._known_types)
    by_device = dict(tw.backends._by_device)
    yield
    tw.backends._known_types.clear()
    tw.backends._known_types.update(known)
    tw.backends._by_device.clear()
    tw.backends._by_device.update(by_device)


# -- devices ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, type_, index, shown",
    [
        ("cpu", "cpu", None, "cpu"),
        ("cuda", "cuda", None, "cuda"),
        ("cuda:0", "cuda", 0, "cuda:0"),
        ("cuda:3", "cuda", 3, "cuda:3"),
        ("strict", "strict", None, "strict"),
    ],
)
def test_device_parses(text, type_, index, shown):
    d = tw.device(text)
    assert (d.type, d.index) == (type_, index)
    assert str(d) == shown
    assert d == text and d == tw.device(text)
    assert hash(d) == hash(tw.device(text))
    assert pickle.loads(pickle.dumps(d)) == d


def test_device_like_pytorch():
    assert tw.device("cuda", 0) == tw.device("cuda:0") == "cuda:0"
    assert str(tw.device("cuda", 1)) == "cuda:1"
    assert repr(tw.device("cuda:1")) == "device(type='cuda', index=1)"
    assert repr(tw.device("cpu")) == "device(type='cpu')"
    assert tw.device("cuda:0") != tw.device("cuda:1")
    assert tw.device("cuda") != tw.device("cuda:0")  # the current device vs device 0, as in PyTorch
    assert tw.device("cpu") != "cuda" and tw.device("cpu") != "nonsense"
    assert tw.device(tw.device("cuda:2")) == "cuda:2"
    assert {tw.device("cuda:0"): 1}[tw.device("cuda", 0)] == 1
    assert tw.tensor([1.0]).device == "cpu" and tw.tensor([1.0]).device == tw.device("cpu")


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cuda:-1", "CPU", "", "strict2", "cuda:0:1"])
def test_unknown_device_lists_valid_forms(text):
    with pytest.raises(ValueError) as e:
        tw.device(text)
    msg = str(e.value)
    assert repr(text) in msg
    for form in ("'cpu'", "'cuda'", "'cuda:N'", "'strict'"):
        assert form in msg, msg


def test_index_zero_of_a_single_device_backend(device):
    if device == "cuda":
        pytest.skip("cuda:0 is a device of its own")
    t = tw.zeros(2, device=f"{device}:0")
    assert t.device == tw.device(device) and t._backend is tw.backends.get_backend(device)
    assert t.to(f"{device}:0") is t


def test_device_bad_arguments():
    with pytest.raises(TypeError, match="expected a string"):
        tw.device(3)
    with pytest.raises(ValueError, match="already has an index"):
        tw.device("cuda:0", 1)
    with pytest.raises(ValueError, match="non-negative"):
        tw.device("cuda", -1)
    with pytest.raises(ValueError, match="only index 0"):
        tw.device("cpu", 1)
    with pytest.raises(ValueError, match="invalid device 'tpu'"):
        tw.zeros(2, device="tpu")


# -- backends -----------------------------------------------------------------------------------
def test_backend_made_once_per_device(device):
    b = tw.backends.get_backend(device)
    assert tw.backends.get_backend(tw.device(device)) is b
    assert tw.backends.get_backend(device) is b
    x, y, w, bias = textbook_data(device)
    out = ((x @ w.T + bias - y) ** 2).mean()
    for t in (x, y, w, bias, out, w.T, x * 2.0, out.sum()):
        assert t._backend is b and t._backend.xp is b.xp
    assert out.device == tw.device(device)


def test_namespace_not_looked_up_per_op(device, monkeypatch):
    x, y, w, b = textbook_data(device)
    calls = []
    real = array_api_compat.array_namespace

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(array_api_compat, "array_namespace", counting)
    for _ in range(3):
        textbook_step(x, y, w, b)
    assert calls == []


def test_register_backend_is_public_and_works(scratch_registry):
    assert "register_backend" in tw.backends.__all__
    dev = tw.backends.register_backend("strict2", array_api_strict, device=array_api_strict.Device("device2"))
    assert dev == tw.device("strict2") and str(dev) == "strict2"
    assert "strict2" in tw.backends.registered_backends()
    b = tw.backends.get_backend("strict2")
    assert b.native_device == array_api_strict.Device("device2")
    assert array_api_compat.is_array_api_strict_namespace(b.xp)
    x, y, w, bias = textbook_data("strict2", dtype=tw.float64)
    loss = textbook_step(x, y, w, bias)
    assert loss.device == "strict2" and w.device == "strict2"
    assert loss.array.device == array_api_strict.Device("device2")
    # a second array_api_strict device is a different backend: mixing them names both
    with pytest.raises(RuntimeError, match=r"strict2.*strict|strict.*strict2"):
        _ = x + tw.ones(16, 3, dtype=tw.float64, device="strict")
    # the registered name now shows in the list of valid device forms
    with pytest.raises(ValueError, match="'strict2'"):
        tw.device("nope")


def test_register_backend_over_numpy_namespace(scratch_registry):
    tw.backends.register_backend("plain", np)
    t = tw.tensor([1.0, 2.0], device="plain", requires_grad=True)
    (t * t).sum().backward()
    assert t.grad.device == "plain"
    np.testing.assert_allclose(t.grad.numpy(), [2.0, 4.0])


def test_manual_seed_reaches_backends_made_later(scratch_registry):
    def draw_on_a_new_backend(name):
        tw.manual_seed(11)
        tw.backends.register_backend(name, array_api_strict, device=array_api_strict.Device("device2"))
        return tw.rand(4, device=name).tolist()

    assert draw_on_a_new_backend("late1") == draw_on_a_new_backend("late2")


@pytest.mark.parametrize("name", ["cpu", "cuda", "not a name", "1x"])
def test_register_backend_rejects_bad_names(name):
    with pytest.raises(ValueError, match="register_backend"):
        tw.backends.register_backend(name, array_api_strict)


def test_array_of_unregistered_device_is_a_clear_error():
    a = array_api_strict.asarray([1.0], device=array_api_strict.Device("device2"))
    with pytest.raises(TypeError, match="register_backend"):
        tw.tensor(a)


# -- CUDA without a GPU ---------------------------------------------------------------------------
def test_cuda_queries_never_raise():
    ok = tw.cuda.is_available()
    assert isinstance(ok, bool)
    n = tw.cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert ok == (n > 0)
    avail, why = tw.cuda.availability()
    assert avail == ok and isinstance(why, str) and (ok or why)
    assert tw.cuda.synchronize() is None


def test_import_does_not_import_cupy():
    code = "import sys, tensorweaver; assert 'cupy' not in sys.modules, 'cupy imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.fixture
def no_cuda_backend_cached(monkeypatch):
    """Forget CUDA backends made earlier (on a GPU machine) so that their creation runs again."""
    monkeypatch.setattr(
        tw.backends, "_by_device", {k: v for k, v in tw.backends._by_device.items() if k.type != "cuda"}
    )


def test_cuda_without_driver_says_why_and_how_to_fix(monkeypatch, no_cuda_backend_cached):
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
        reason = None
    except Exception as e:  # noqa: BLE001 - whatever CuPy says is what the message must carry
        reason = e
    if reason is None:  # a working GPU: make CuPy fail the way a missing driver does
        reason = RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

        def fail():
            raise reason

        monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", fail)
    for make in (
        lambda: tw.zeros(2, device="cuda"),
        lambda: tw.tensor([1.0], device="cuda:0"),
        lambda: tw.tensor([1.0]).cuda(),
        lambda: tw.tensor([1.0]).to("cuda"),
    ):
        with pytest.raises(tw.backends.BackendUnavailable) as e:
            make()
        msg = str(e.value)
        assert str(reason) in msg and type(reason).__name__ in msg, msg
        assert "driver" in msg and "tensorweaver[cuda12]" in msg and "device='cpu'" in msg
    assert isinstance(e.value, RuntimeError)
    assert tw.cuda.is_available() is False and tw.cuda.device_count() == 0
    assert tw.cuda.synchronize() is None


def test_cuda_without_cupy_says_install_the_extra(monkeypatch, no_cuda_backend_cached):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    ok, why = tw.cuda.availability()
    assert not ok
    assert "not installed" in why and "tensorweaver[cuda12]" in why and "tensorweaver[cuda13]" in why
    assert tw.cuda.is_available() is False and tw.cuda.device_count() == 0
    assert tw.cuda.synchronize() is None
    with pytest.raises(tw.backends.BackendUnavailable, match=r"tensorweaver\[cuda12\]"):
        tw.ones(3, device="cuda")
    with pytest.raises(tw.backends.BackendUnavailable, match="CuPy"):
        tw.tensor([1.0]).cuda()
    with pytest.raises(RuntimeError, match="not installed"):
        tw.cuda.current_device()


def test_cuda_bad_index_is_explained(monkeypatch, no_cuda_backend_cached):
    cupy = pytest.importorskip("cupy")
    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", lambda: 1)
    ok, why = cupy_backend.cuda_availability(3)
    assert not ok and "cuda:3 does not exist" in why and "1 CUDA device" in why


@pytest.mark.gpu
@pytest.mark.skipif(not tw.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_step_on_a_real_gpu():
    cpu_run = textbook_data("cpu", dtype=tw.float64)
    gpu_run = textbook_data("cuda", dtype=tw.float64)
    cuda = tw.backends.get_backend("cuda")
    assert isinstance(gpu_run[0].array, cuda._cupy.ndarray)
    before = total_transfers()
    for _ in range(3):
        loss_cpu = textbook_step(*cpu_run)
        loss_gpu = textbook_step(*gpu_run)
    tw.cuda.synchronize()
    assert total_transfers() == before
    for t in (loss_gpu, *gpu_run):
        assert t.device == tw.device("cuda", cuda.device.index) and t.is_cuda
    assert gpu_run[2].grad is None
    # float64 on both; only the order of summation differs
    np.testing.assert_allclose(loss_gpu.item(), loss_cpu.item(), rtol=1e-10)
    np.testing.assert_allclose(gpu_run[2].detach().cpu().numpy(), cpu_run[2].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(gpu_run[3].detach().cpu().numpy(), cpu_run[3].detach().numpy(), rtol=1e-10)


# -- transfers ------------------------------------------------------------------------------------
def test_training_step_makes_no_transfers(device):
    x, y, w, b = textbook_data(device)
    before = total_transfers()
    for _ in range(3):
        loss = textbook_step(x, y, w, b)
    assert total_transfers() == before
    assert loss.device == w.device == tw.device(device)


@pytest.mark.parametrize(
    "read",
    [
        lambda t: t.item(),
        lambda t: t.numpy(),
        lambda t: t.tolist(),
        repr,
        str,
        lambda t: f"{t:.4f}",
        float,
    ],
    ids=["item", "numpy", "tolist", "repr", "str", "format", "float"],
)
def test_each_read_makes_one_transfer(read, device):
    t = tw.tensor(2.5, device=device)
    before = total_transfers()
    value = read(t)
    assert total_transfers() == before + 1
    assert "2.5" in str(value)


def test_every_host_copy_goes_through_transfer(monkeypatch):
    """Count the generic backend's raw copies (and array_api_strict's host exits) around transfer()."""
    b = tw.backends.get_backend("strict")
    raw = []
    inside = [False]
    real_transfer = type(b).transfer
    real_to, real_from = b._to_host, b._from_host

    def transfer(self, x, to_host):
        inside[0] = True
        try:
            return real_transfer(self, x, to_host)
        finally:
            inside[0] = False

    def watch(real, kind):
        def f(*args, **kwargs):
            raw.append(kind)
            assert inside[0], f"{kind} outside Backend.transfer"
            return real(*args, **kwargs)

        return f

    monkeypatch.setattr(type(b), "transfer", transfer)
    monkeypatch.setattr(b, "_to_host", watch(real_to, "to_host"))
    monkeypatch.setattr(b, "_from_host", watch(real_from, "from_host"))
    Array = type(array_api_strict.asarray(0.0))
    monkeypatch.setattr(Array, "__dlpack__", watch(Array.__dlpack__, "dlpack"))
    before = b.transfers
    t = tw.tensor([[1.0, 2.0], [3.0, 4.0]], device="strict", requires_grad=True)
    u = tw.rand(2, 2, device="strict")
    loss = (t * u).sum()
    loss.backward()
    _ = (loss.item(), t.grad.tolist(), repr(t), t.detach().numpy(), t.to("cpu"), tw.tensor([1.0]).to("strict"))
    assert b.transfers - before == raw.count("to_host") + raw.count("from_host") == 8
