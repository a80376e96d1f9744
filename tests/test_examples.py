"""The training examples in reduced form: they learn (well above chance), resume exactly, and read IDX files.

examples/train_digits.py runs on scikit-learn's bundled digits; examples/train_fashion_mnist.py on a
tiny Fashion-MNIST-shaped data set written here as IDX files (plain and gzipped).
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_distributed import launch, needs_mpi

import tensorweaver as tw

for needed in ("sklearn", "tqdm", "matplotlib"):  # pip install -e ".[examples]"
    pytest.importorskip(needed)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
QUIET = ["--no-progress"]


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


digits = load_example("train_digits")
fashion = load_example("train_fashion_mnist")

IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B}
IDX_CODES |= {np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` in the IDX format, written independently of the reader under test."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def tiny_fashion(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """A learnable Fashion-MNIST stand-in: class k is a bright 6x6 block at its own place, plus noise.

    The training files are gzipped and the test files are not, as both occur in the wild.
    """
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 80, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            r, c = 2 + 9 * (k // 4), 1 + 7 * (k % 4)
            images[i, r : r + 6, c : c + 6] = 255
        return images, labels

    folder.mkdir(parents=True, exist_ok=True)
    (train_x, train_y), (test_x, test_y) = split(n_train), split(n_test)
    write_idx(folder / "train-images-idx3-ubyte", train_x, gz=True)
    write_idx(folder / "train-labels-idx1-ubyte", train_y, gz=True)
    write_idx(folder / "t10k-images-idx3-ubyte", test_x)
    write_idx(folder / "t10k-labels-idx1-ubyte", test_y)
    return folder


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


# -- train_digits.py -----------------------------------------------------------------------------
def test_digits_mlp_learns():
    result = digits.main([*QUIET, "--epochs", "2", "--max-batches", "20"])
    assert result["history"]["test_acc"][-1] > 0.75  # chance: 0.1
    assert result["history"]["train_loss"][1] < result["history"]["train_loss"][0]


def test_digits_cnn_learns():
    result = digits.main([*QUIET, "--model", "cnn", "--epochs", "1", "--max-batches", "20", "--lr", "1e-2"])
    assert result["history"]["test_acc"][-1] > 0.5


def test_digits_resume_continues_exactly(tmp_path):
    """Two epochs, a checkpoint, one more epoch from it: the same numbers and weights as three straight."""
    args = [*QUIET, "--max-batches", "8", "--seed", "3"]
    straight = digits.main([*args, "--epochs", "3"])
    ckpt = tmp_path / "digits.safetensors"
    digits.main([*args, "--epochs", "2", "--save", str(ckpt)])
    resumed = digits.main([*args, "--epochs", "3", "--resume", str(ckpt)])
    assert resumed["history"] == straight["history"]
    assert same_state(resumed["model"].state_dict(), straight["model"].state_dict())
    saved = tw.load(ckpt)
    assert saved["epoch"] == 2 and saved["config"]["model"] == "mlp"
    assert set(saved["optimizer"]) == {"state", "param_groups"}
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    assert "model/1.weight" in (safetensors_numpy.load_file(str(ckpt)))  # any safetensors reader opens it


def test_digits_resume_refuses_another_model(tmp_path):
    ckpt = tmp_path / "mlp.safetensors"
    digits.main([*QUIET, "--epochs", "1", "--max-batches", "2", "--save", str(ckpt)])
    with pytest.raises(SystemExit, match="holds a 'mlp' model, not 'cnn'"):
        digits.main([*QUIET, "--model", "cnn", "--epochs", "2", "--resume", str(ckpt)])


def test_digits_plot_and_script(tmp_path):
    """The script as a user runs it (progress bars on): it prints the epochs and the final accuracy, writes a PNG."""
    png = tmp_path / "curve.png"
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_digits.py"), "--epochs", "2", "--max-batches", "4", "--plot", str(png)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert "epoch   2: train loss" in out.stdout and "Final held-out accuracy: " in out.stdout
    assert "epoch 2/2" in out.stderr  # the tqdm bar
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(tw.cuda.is_available(), reason="CUDA is available here")
def test_digits_cuda_missing_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        digits.main(["--device", "cuda"])
    assert e.value.code == 2 and "CUDA is not available" in capsys.readouterr().err


# -- the IDX reader ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    got = fashion.read_idx(write_idx(tmp_path / "a-idx3", array, gz=gz))
    assert got.dtype == dtype and got.dtype.isnative and got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, array)


def test_read_idx_zero_dimensions_and_empty(tmp_path):
    np.testing.assert_array_equal(fashion.read_idx(write_idx(tmp_path / "s", np.array(5, np.int32))), 5)
    assert fashion.read_idx(write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))).shape == (0, 28, 28)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "2 bytes, too short for an IDX file"),
        (b"PK\x03\x04rest", "not an IDX file: its magic number 504b0304"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01x", r"unknown IDX type code 0x07 \(known: 0x08, 0x09"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header: 3 dimensions need 16 bytes, the file has 8"),
        (
            b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(5),
            r"shape \(2, 3\) of uint8 needs 6 bytes.* has 5",
        ),
        (b"\x00\x00\x0b\x01\x00\x00\x00\x02" + bytes(6), r"shape \(2,\) of int16 needs 4 bytes.* has 6"),
        (gzip.compress(idx_bytes(np.zeros(9, np.uint8)))[:-6], "a damaged gzip file"),
    ],
)
def test_read_idx_errors(tmp_path, data, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(fashion.IDXError, match=message) as e:
        fashion.read_idx(path)
    assert str(path) in str(e.value)


def test_load_fashion_mnist_checks_the_files(tmp_path):
    folder = tiny_fashion(tmp_path / "ok", n_train=5, n_test=3)
    data = fashion.load_fashion_mnist(str(folder))
    assert data["train_images"].shape == (5, 28, 28) and data["test_labels"].shape == (3,)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\[\.gz\]"):
        fashion.load_fashion_mnist(str(folder))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([1, 2], np.uint8))
    with pytest.raises(fashion.IDXError, match=r"got \(3, 28, 28\) and \(2,\)"):
        fashion.load_fashion_mnist(str(folder))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([1, 2, 10], np.uint8))
    with pytest.raises(fashion.IDXError, match="labels from 1 to 10, expected 0-9"):
        fashion.load_fashion_mnist(str(folder))


# -- train_fashion_mnist.py ----------------------------------------------------------------------
def test_fashion_without_data_says_how_to_get_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        fashion.main([*QUIET, "--data", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert "nowhere does not exist" in err and "apt-get install dataset-fashion-mnist" in err
    assert "https://github.com/zalandoresearch/fashion-mnist" in err


def test_fashion_learns_on_tiny_idx_files(tmp_path):
    folder = tiny_fashion(tmp_path / "fashion", n_train=64, n_test=50)
    png = tmp_path / "fashion.png"
    result = fashion.main([*QUIET, "--data", str(folder), "--epochs", "2", "--batch-size", "16", "--lr", "1e-2"])
    fashion.plot_history(result["history"], str(png), "tiny")
    assert result["history"]["test_acc"][-1] > 0.5  # chance: 0.1
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_fashion_resume_continues_exactly(tmp_path):
    folder = tiny_fashion(tmp_path / "fashion", n_train=32, n_test=16)
    args = [*QUIET, "--data", str(folder), "--batch-size", "16", "--max-batches", "1"]
    straight = fashion.main([*args, "--epochs", "2"])
    ckpt = tmp_path / "lenet.safetensors"
    fashion.main([*args, "--epochs", "1", "--save", str(ckpt)])
    resumed = fashion.main([*args, "--epochs", "2", "--resume", str(ckpt)])
    assert resumed["history"] == straight["history"]
    assert same_state(resumed["model"].state_dict(), straight["model"].state_dict())


def test_examples_run_with_torch_in_place_of_tensorweaver(tmp_path):
    """The scripts are PyTorch scripts: with the names tensorweaver -> torch, they run on PyTorch."""
    pytest.importorskip("torch")
    folder = tiny_fashion(tmp_path / "fashion", n_train=16, n_test=8)
    ckpt = tmp_path / "ckpt.pt"
    shim = (
        "import runpy, sys, torch, torch.nn, torch.utils.data\n"
        "sys.modules.update({'tensorweaver': torch, 'tensorweaver.nn': torch.nn,"
        " 'tensorweaver.utils': torch.utils, 'tensorweaver.utils.data': torch.utils.data})\n"
        "for script, *argv in [\n"
        f"    ({str(EXAMPLES / 'train_digits.py')!r}, '--epochs', '1', '--max-batches', '3', '--save', {str(ckpt)!r}),\n"
        f"    ({str(EXAMPLES / 'train_digits.py')!r}, '--epochs', '2', '--max-batches', '3', '--resume', {str(ckpt)!r}),\n"
        f"    ({str(EXAMPLES / 'train_fashion_mnist.py')!r}, '--data', {str(folder)!r}, '--epochs', '1'),\n"
        "]:\n"
        "    sys.argv = [script, '--no-progress', *argv]\n"
        "    runpy.run_path(script, run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", shim], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "resumed from" in out.stdout and "after 2 epochs" in out.stdout
    assert "Final test accuracy" in out.stdout


# -- --distributed: N ranks print what one does -------------------------------------------------
def _numbers(out: str) -> list[str]:
    """The lines that must agree between world sizes: the epochs (without Fashion's elapsed seconds)
    and the final accuracy."""
    return [re.sub(r" \| \d+ s$", "", line) for line in out.splitlines() if line.startswith(("epoch ", "Final "))]


@needs_mpi
def test_digits_distributed_two_ranks_print_what_one_prints_and_resume(tmp_path):
    """Global batch 32 on 1 rank and on 2 (16 each): the same losses and accuracies, to the printed
    digits; a checkpoint saved by rank 0 after epoch 2 resumes on both ranks to the same epoch 3."""
    script = [str(EXAMPLES / "train_digits.py"), *QUIET, "--distributed", "--max-batches", "12"]
    status, one, _ = launch(*script, "--epochs", "3", n=None)
    assert status == 0, one
    ckpt = tmp_path / "ddp.safetensors"
    status, first, _ = launch(*script, "--epochs", "2", "--save", str(ckpt))
    assert status == 0, first
    status, resumed, _ = launch(*script, "--epochs", "3", "--resume", str(ckpt))
    assert status == 0, resumed
    assert "1 rank" in one and "2 ranks" in first and "resumed from" in resumed
    assert len(_numbers(one)) == 4 and resumed.count("Final ") == 1  # rank 0 alone prints
    assert _numbers(first)[:2] == _numbers(one)[:2]
    assert _numbers(resumed) == _numbers(one)[2:]


@needs_mpi
def test_fashion_distributed_two_ranks_print_what_one_prints(tmp_path):
    folder = tiny_fashion(tmp_path / "fashion", n_train=64, n_test=20)
    script = [str(EXAMPLES / "train_fashion_mnist.py"), *QUIET, "--distributed", "--data", str(folder)]
    script += ["--epochs", "2", "--batch-size", "16", "--lr", "1e-2"]
    (s1, one, _), (s2, two, _) = launch(*script, n=None), launch(*script)
    assert s1 == 0 and s2 == 0, one + two
    assert len(_numbers(one)) == 3 and _numbers(two) == _numbers(one)


@needs_mpi
def test_distributed_batch_size_must_divide_among_the_ranks():
    status, out, _ = launch(str(EXAMPLES / "train_digits.py"), *QUIET, "--distributed", "--batch-size", "33")
    assert status != 0 and "--batch-size 33 is not divisible by the 2 ranks" in out
