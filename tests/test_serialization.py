"""tw.save / tw.load: safetensors + JSON checkpoints round-trip on every device, open in any safetensors
reader, and every broken or foreign file is a clear error (or the previous good checkpoint)."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy as stnp
from safetensors import safe_open

import tensorweaver as tw

ROOT = Path(tw.__file__).resolve().parents[1]


def same(a, b) -> None:
    """Equal structure, types, and tensors equal in values, dtype, device and requires_grad."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, tw.Tensor):
        assert a.dtype is b.dtype and a.device == b.device and a.requires_grad == b.requires_grad
        assert a.shape == b.shape
        np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def checkpoint(device):
    """A model's and an optimizer's state dict, an epoch and a config, as a training script saves them."""
    rng = np.random.default_rng(0)
    w = tw.tensor(rng.normal(size=(3, 2)), dtype=tw.float32, device=device, requires_grad=True)
    model = collections.OrderedDict(
        [
            ("fc.weight", w.detach()),
            ("fc.bias", tw.zeros(3, device=device)),
            ("bn.num_batches_tracked", tw.tensor(7, device=device)),
        ]
    )
    optim = {
        "state": {
            0: {"step": 3, "exp_avg": tw.ones(3, 2, device=device)},
            1: {"step": 3, "exp_avg": tw.zeros(3, device=device)},
        },
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False, "foreach": None}],
    }
    return {
        "model": model,
        "optim": optim,
        "epoch": 12,
        "best": float("inf"),
        "loss": 0.25,
        "name": "run-1",
        "dtype": tw.float64,
        "device": tw.device(device),
        "param": w,
        "empty": tw.zeros(0, 4, device=device),
        "scalar": tw.tensor(2.5, dtype=tw.float64, device=device),
        "transposed": tw.tensor(rng.normal(size=(2, 3)), device=device).T,
        "flags": tw.tensor([True, False], device=device),
        (1, "a"): [tw.tensor([1, 2], dtype=tw.int8, device=device), tw.tensor([3], dtype=tw.uint8, device=device)],
    }


# -- round trips --------------------------------------------------------------------------------------
def test_round_trip_of_nested_structures(device, tmp_path):
    obj = checkpoint(device)
    path = tmp_path / "ckpt.safetensors"
    tw.save(obj, path)
    back = tw.load(path)
    same(back, obj)
    assert type(back["model"]) is collections.OrderedDict and list(back["optim"]["state"]) == [0, 1]
    assert back["param"].is_leaf and back["param"].requires_grad
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


@pytest.mark.parametrize("dtype", [tw.float16, tw.int16, tw.int32, tw.int64, tw.complex64, tw.complex128])
def test_every_dtype_round_trips(device, dtype, tmp_path):
    try:
        t = tw.tensor([[1, 0], [2, 3]], dtype=dtype, device=device)
    except TypeError:
        pytest.skip(f"{dtype} not on {device}")
    if dtype.kind == "c":
        t = t * tw.tensor(1 - 2j, dtype=dtype, device=device)
    tw.save({"t": t}, tmp_path / "c.safetensors")
    same(tw.load(tmp_path / "c.safetensors"), {"t": t})


def test_loaded_tensors_are_ordinary_tensors(tmp_path):
    tw.save({"w": tw.ones(2)}, tmp_path / "w.safetensors")
    w = tw.load(tmp_path / "w.safetensors")["w"]
    w += 1  # writable, owned by the process, not a view of the file
    os.remove(tmp_path / "w.safetensors")
    assert w.tolist() == [2.0, 2.0]


def test_shared_tensors_are_saved_once(tmp_path):
    w = tw.randn(4, 3, requires_grad=True)
    obj = {"a": w, "b": w, "c": [w.detach()], "d": tw.ones(2)}
    tw.save(obj, tmp_path / "s.safetensors")
    assert sorted(stnp.load_file(tmp_path / "s.safetensors")) == ["a", "d"]
    back = tw.load(tmp_path / "s.safetensors")
    assert back["a"] is back["b"] and back["a"].requires_grad and not back["c"][0].requires_grad
    back["c"][0].array[0, 0] = 100.0  # a tensor and its detached copy share storage again
    assert back["a"].detach()[0, 0].item() == 100.0


def test_file_objects_and_weights_only(tmp_path):
    buf = io.BytesIO()
    tw.save({"x": tw.arange(3), "n": None}, buf)
    buf.seek(0)
    same(tw.load(buf, weights_only=True), {"x": tw.arange(3), "n": None})


def test_unsupported_values_are_named_with_their_place(tmp_path):
    with pytest.raises(TypeError, match=r"cannot save a object \(at obj\['cfg'\]\[1\]\)"):
        tw.save({"cfg": [1, object()]}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="a dict key must be"):
        tw.save({frozenset(): 1}, tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())  # nothing written


# -- map_location ------------------------------------------------------------------------------------
def test_map_location_forms(tmp_path):
    path = tmp_path / "dev.safetensors"
    tw.save({"w": tw.arange(4.0, device="strict", requires_grad=True), "i": tw.arange(2, device="strict")}, path)
    assert tw.load(path)["w"].device == "strict"
    for ml in ("cpu", tw.device("cpu"), {"strict": "cpu"}, {tw.device("strict"): tw.device("cpu")}):
        back = tw.load(path, map_location=ml)
        assert back["w"].device == "cpu" and back["w"].requires_grad and back["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert tw.load(path, map_location={"cuda:0": "cpu"})["w"].device == "strict"  # unmapped devices stay
    seen = []
    back = tw.load(path, map_location=lambda t, where: seen.append(where) or (t * 2 if t.dtype is tw.float32 else None))
    assert seen == ["strict", "strict"] and back["w"].device == "cpu" and back["w"].tolist()[1] == 2.0
    assert back["w"].requires_grad and back["i"].device == "strict"
    tw.save({"w": tw.ones(2)}, path)
    assert tw.load(path, map_location="strict")["w"].device == "strict"


def test_a_cuda_checkpoint_loads_on_the_cpu(tmp_path):
    # a checkpoint as a CUDA machine writes it: the same file with "cuda:0" as the tensors' device
    path = tmp_path / "cuda.safetensors"
    tw.save({"w": tw.arange(3.0), "step": 4}, path)
    with safe_open(path, framework="np") as f:
        meta, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta["tensorweaver.structure"] = meta["tensorweaver.structure"].replace('"device":"cpu"', '"device":"cuda:0"')
    stnp.save_file(arrays, path, metadata=meta)
    back = tw.load(path, map_location={"cuda:0": "cpu"})
    assert back["w"].device == "cpu" and back["w"].tolist() == [0.0, 1.0, 2.0] and back["step"] == 4
    assert tw.load(path, map_location="cpu")["w"].device == "cpu"
    if not tw.cuda.is_available():
        with pytest.raises(RuntimeError, match=r"saved on cuda:0, which this process cannot use.*map_location='cpu'"):
            tw.load(path)


@pytest.mark.gpu
@pytest.mark.skipif(not tw.cuda.is_available(), reason="no CUDA")
def test_cuda_to_cpu_and_back(tmp_path):
    tw.save({"w": tw.arange(3.0, device="cuda")}, tmp_path / "g.safetensors")
    cpu = tw.load(tmp_path / "g.safetensors", map_location="cpu")["w"]
    tw.save({"w": cpu}, tmp_path / "c.safetensors")
    assert tw.load(tmp_path / "c.safetensors", map_location="cuda:0")["w"].device == "cuda:0"


# -- other safetensors readers and writers ----------------------------------------------------------------
def test_any_safetensors_reader_opens_a_checkpoint(tmp_path):
    sd = collections.OrderedDict([("fc.weight", tw.randn(3, 2)), ("fc.bias", tw.randn(3))])
    tw.save(sd, tmp_path / "sd.safetensors")
    arrays = stnp.load_file(tmp_path / "sd.safetensors")
    assert sorted(arrays) == ["fc.bias", "fc.weight"]
    np.testing.assert_array_equal(arrays["fc.weight"], sd["fc.weight"].numpy())
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    ours = load_file(tmp_path / "sd.safetensors")
    assert torch.equal(ours["fc.bias"], torch.from_numpy(sd["fc.bias"].numpy()))


def test_files_written_by_pytorch_and_numpy_load_as_flat_dicts(tmp_path):
    stnp.save_file({"a": np.arange(3, dtype=np.int32), "b": np.ones((2, 2))}, tmp_path / "np.safetensors")
    back = tw.load(tmp_path / "np.safetensors")
    assert sorted(back) == ["a", "b"] and back["a"].dtype is tw.int32 and back["b"].dtype is tw.float64
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).double()
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    weights = tw.load(tmp_path / "w.safetensors", map_location="strict")
    assert list(weights) == sorted(model.state_dict())
    for k, v in model.state_dict().items():
        assert weights[k].device == "strict" and not weights[k].requires_grad
        np.testing.assert_array_equal(weights[k].numpy(), v.numpy())
    save_file({"w": torch.ones(2, dtype=torch.bfloat16)}, tmp_path / "bf.safetensors")
    with pytest.raises(RuntimeError, match=r"tensor 'w' has dtype BF16, which tensorweaver has no dtype for.*float"):
        tw.load(tmp_path / "bf.safetensors")


# -- broken and foreign files -------------------------------------------------------------------------------
def test_truncated_files_are_clear_errors(tmp_path):
    path = tmp_path / "t.safetensors"
    tw.save({"w": tw.ones(100), "epoch": 1}, path)
    data = path.read_bytes()
    for cut, match in [
        (0, "only 0 bytes"),
        (5, "only 5 bytes"),
        (30, "not a complete safetensors file"),
        (len(data) - 1, "is truncated: tensor 'w'"),
    ]:
        path.write_bytes(data[:cut])
        with pytest.raises(RuntimeError, match=match):
            tw.load(path)


def test_foreign_files_are_clear_errors(tmp_path):
    path = tmp_path / "x"
    cases = [
        (np.random.default_rng(0).bytes(4096), "is not a complete safetensors file"),
        (pickle.dumps({"w": [1.0, 2.0]}), r"is a Python pickle \(protocol \d\).*never unpickles"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!", "its header is not a JSON object"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00[]", "its header is not a JSON object"),
    ]
    buf = io.BytesIO()
    np.save(buf, np.ones(3))
    cases.append((buf.getvalue(), "is a NumPy .npy file"))
    for data, match in cases:
        path.write_bytes(data)
        with pytest.raises(RuntimeError, match=match):
            tw.load(path)
        with pytest.raises(RuntimeError, match=match):
            tw.load(io.BytesIO(data))


def test_torch_save_files_are_clear_errors(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "zip.pt")
    with pytest.raises(RuntimeError, match=r"is a zip archive \(torch.save writes one.*safetensors.torch.save_file"):
        tw.load(tmp_path / "zip.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="is a Python pickle"):
        tw.load(tmp_path / "legacy.pt")


# -- a crash mid-save leaves the previous checkpoint ----------------------------------------------------------
CHILD = """
import os, signal, sys
import tensorweaver as tw
import tensorweaver.serialization as ser

path, how = sys.argv[1], sys.argv[2]
big = tw.arange(4_000_000, dtype=tw.float32)

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if how == "before-rename":  # everything written and synced, killed just before os.replace
    ser.os.replace = die
elif how == "mid-write":  # killed with half of the new file written
    real = ser._safetensors().save
    class Half:
        def save_file(self, arrays, filename, metadata):
            data = real(arrays, metadata=metadata)
            with open(filename, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            die()
    ser._safetensors = Half
step = 1
while True:  # "loop": saved over and over until killed from outside
    tw.save({"step": step, "w": big}, path)
    step += 1
"""


def _save_previous(path):
    tw.save({"step": 0, "w": tw.arange(4_000_000, dtype=tw.float32)}, path)


def _child(path, how):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(path), how], env=env)


@pytest.mark.parametrize("how", ["before-rename", "mid-write"])
def test_a_save_killed_at_a_known_point_leaves_the_previous_checkpoint(tmp_path, how):
    path = tmp_path / "ckpt.safetensors"
    _save_previous(path)
    child = _child(path, how)
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert list(tmp_path.glob(".ckpt.safetensors.*.tmp"))  # the killed save's temporary file
    back = tw.load(path)
    assert back["step"] == 0 and back["w"].shape == (4_000_000,) and back["w"][-1].item() == 3_999_999


def test_a_save_killed_from_outside_leaves_a_whole_checkpoint(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    _save_previous(path)
    child = _child(path, "loop")
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".ckpt.safetensors.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    back = tw.load(path)  # the previous checkpoint or a complete newer one, never a broken file
    assert isinstance(back["step"], int) and back["w"][-1].item() == 3_999_999
    meta = json.loads(safe_open(path, framework="np").metadata()["tensorweaver.structure"])
    assert meta["dict"][0] == ["step", back["step"]]
