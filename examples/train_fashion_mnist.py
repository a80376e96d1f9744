"""Train a LeNet-style CNN on Fashion-MNIST (60,000 28x28 images of clothes) read from its IDX files.

The data: Debian's and Ubuntu's ``apt-get install dataset-fashion-mnist`` puts the four files in
/usr/share/datasets/fashion-mnist (the default --data); elsewhere, download train-images-idx3-ubyte.gz,
train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from
https://github.com/zalandoresearch/fashion-mnist (data/fashion) into a folder and pass --data DIR.
The files may be gzipped or not. Written as a PyTorch script: with ``import torch as tw`` (and
``from torch import nn``, ...) it runs unchanged on PyTorch.

python examples/train_fashion_mnist.py                            # LeNet on the CPU, 4 epochs
python examples/train_fashion_mnist.py --device auto --epochs 10  # on CUDA when present
python examples/train_fashion_mnist.py --save ckpt.safetensors    # then --resume ckpt.safetensors
python examples/train_fashion_mnist.py --plot fashion.png         # loss/accuracy curves as a PNG
python examples/train_fashion_mnist.py --limit 2000 --max-batches 20 --epochs 1   # a quick check
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time

import numpy as np
from tqdm import tqdm

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.utils.data import DataLoader, TensorDataset

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
HOW_TO_GET = (
    "Install Debian's/Ubuntu's package (apt-get install dataset-fashion-mnist: the files land in "
    f"{DEFAULT_DATA}), or download the four files {', '.join(f + '.gz' for f in FILES.values())} "
    "from https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) into a folder and pass --data DIR."
)

#: IDX's type codes (the third byte of the magic number): the element type, stored big-endian
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IDXError(ValueError):
    """A file that is not a well-formed IDX file (the message names the file and what is wrong)."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array an IDX file holds (LeCun's MNIST format), gzipped (``.gz``, detected by content) or not.

    The format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D
    float32, 0x0E float64), the number of dimensions, one big-endian uint32 per dimension, then the
    elements, big-endian, in C order. Anything else is an ``IDXError`` that says what was found.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip's magic number
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise IDXError(f"{path}: a damaged gzip file ({e})") from None
    if len(raw) < 4:
        raise IDXError(f"{path}: {len(raw)} bytes, too short for an IDX file (it starts with a 4-byte magic number)")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{path}: not an IDX file: its magic number {raw[:4].hex()} does not start with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise IDXError(f"{path}: unknown IDX type code 0x{code:02x} (known: {known})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header: {ndim} dimensions need {header} bytes, the file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IDXError(
            f"{path}: shape {shape} of {dtype.newbyteorder('=').name} needs {expected} bytes of data, "
            f"the file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_file(folder: str, name: str) -> str | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists (or None)."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def load_fashion_mnist(folder: str) -> dict[str, np.ndarray]:
    """The four arrays (uint8 images of shape (N, H, W), labels of shape (N,)) checked against each other.

    A missing folder or file raises ``FileNotFoundError`` naming what is missing.
    """
    paths = {key: find_file(folder, name) for key, name in FILES.items()}
    missing = [FILES[key] + "[.gz]" for key, path in paths.items() if path is None]
    if missing:
        where = "does not exist" if not os.path.isdir(folder) else f"lacks {', '.join(missing)}"
        raise FileNotFoundError(f"Fashion-MNIST not found: {folder} {where}")
    data = {key: read_idx(path) for key, path in paths.items() if path is not None}
    for split in ("train", "test"):
        images, labels = data[f"{split}_images"], data[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise IDXError(
                f"{paths[f'{split}_images']} and {paths[f'{split}_labels']}: expected images (N, H, W) and "
                f"labels (N,), got {images.shape} and {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
            raise IDXError(f"{paths[f'{split}_labels']}: labels from {labels.min()} to {labels.max()}, expected 0-9")
    return data


def build_model() -> nn.Module:
    """LeNet-5's layout with ReLU and max pooling: (N, 1, 28, 28) images -> (N, 10) logits."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),  # 6 x 28 x 28
        nn.ReLU(),
        nn.MaxPool2d(2),  # 6 x 14 x 14
        nn.Conv2d(6, 16, 5),  # 16 x 10 x 10
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 5 x 5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def make_datasets(data: dict[str, np.ndarray], device, limit: int | None) -> tuple[TensorDataset, TensorDataset]:
    """Train and test sets on ``device``: images (N, 1, H, W) standardized with the training set's statistics."""
    train_images = data["train_images"][:limit].astype(np.float32) / 255.0
    mean, std = float(train_images.mean()), float(train_images.std()) or 1.0

    def tensors(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
        x = (images.astype(np.float32) - mean) / std
        return TensorDataset(
            tw.tensor(x[:, None], dtype=tw.float32, device=device), tw.tensor(labels, dtype=tw.int64, device=device)
        )

    test_images = data["test_images"][:limit].astype(np.float32) / 255.0
    return tensors(train_images, data["train_labels"][:limit]), tensors(test_images, data["test_labels"][:limit])


def train_one_epoch(model, loader, loss_fn, optimizer, bar, max_batches: int | None) -> tuple[float, float]:
    """One pass over ``loader`` (at most ``max_batches`` batches); returns (mean loss, accuracy) on it."""
    model.train()
    losses, correct, seen = [], [], 0
    for i, (images, labels) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        logits = model(images)
        loss = loss_fn(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # kept on the device: one host copy per epoch, not one per batch
        losses.append(loss.detach() * len(labels))
        correct.append((logits.argmax(dim=1) == labels).sum())
        seen += len(labels)
        bar.update(1)
    return tw.stack(losses).sum().item() / seen, tw.stack(correct).sum().item() / seen


@tw.no_grad()
def evaluate(model, loader, loss_fn) -> tuple[float, int, int]:
    """(mean loss, number correct, number of samples) over ``loader``."""
    model.eval()
    losses, correct, seen = [], [], 0
    for images, labels in loader:
        logits = model(images)
        losses.append(loss_fn(logits, labels) * len(labels))
        correct.append((logits.argmax(dim=1) == labels).sum())
        seen += len(labels)
    return tw.stack(losses).sum().item() / seen, int(tw.stack(correct).sum().item()), seen


def plot_history(history: dict, path: str, title: str) -> None:
    """Loss and accuracy per epoch, train and test, as a PNG (matplotlib's Agg backend: no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3))
    ax_loss.plot(epochs, history["train_loss"], marker="o", label="train")
    ax_loss.plot(epochs, history["test_loss"], marker="o", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, history["train_acc"], marker="o", label="train")
    ax_acc.plot(epochs, history["test_acc"], marker="o", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", metavar="DIR", default=DEFAULT_DATA, help=f"the IDX files' folder ({DEFAULT_DATA})")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, or auto (cuda when present)")
    parser.add_argument("--epochs", type=int, default=4, help="train until this epoch (counting resumed ones)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW's learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.01, help="AdamW's weight decay")
    parser.add_argument("--seed", type=int, default=0, help="seeds the initialization and the shuffling")
    parser.add_argument("--save", metavar="PATH", help="write a checkpoint there after every epoch")
    parser.add_argument("--resume", metavar="PATH", help="continue from a checkpoint written by --save")
    parser.add_argument("--plot", metavar="PATH", help="write the loss/accuracy curves there as a PNG")
    parser.add_argument("--max-batches", type=int, metavar="N", help="at most N batches per epoch (a quick check)")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N train and test images")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if tw.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not tw.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here (use --device cpu or auto)")
    return args


def main(argv=None) -> dict:
    """Train as the command line says; returns the history and the model (for tests)."""
    args = parse_args(argv)
    device = tw.device(args.device)
    start = time.perf_counter()
    try:
        data = load_fashion_mnist(args.data)
    except FileNotFoundError as e:
        print(f"error: {e}\n{HOW_TO_GET}", file=sys.stderr)
        sys.exit(2)
    except IDXError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

    tw.manual_seed(args.seed)
    model = build_model().to(device)
    optimizer = tw.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    generator = tw.Generator().manual_seed(args.seed)  # the shuffling order: the same on every run
    train_set, test_set = make_datasets(data, device, args.limit)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test_set, batch_size=1000)

    history = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    first_epoch = 0
    if args.resume:
        checkpoint = tw.load(args.resume, map_location=device)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        generator.set_state(checkpoint["generator"])
        history = checkpoint["history"]
        first_epoch = checkpoint["epoch"]
        print(f"resumed from {args.resume} after epoch {first_epoch}")

    print(f"LeNet on {device}: {sum(p.numel() for p in model.parameters())} parameters, ", end="")
    print(f"{len(train_set)} train and {len(test_set)} test images from {args.data}")
    for epoch in range(first_epoch, args.epochs):
        steps = len(train_loader) if args.max_batches is None else min(args.max_batches, len(train_loader))
        with tqdm(total=steps, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, disable=args.no_progress) as bar:
            train_loss, train_acc = train_one_epoch(model, train_loader, loss_fn, optimizer, bar, args.max_batches)
        test_loss, correct, seen = evaluate(model, test_loader, loss_fn)
        history["train_loss"].append(train_loss)
        history["train_acc"].append(train_acc)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(correct / seen)
        tqdm.write(
            f"epoch {epoch + 1:3d}: train loss {train_loss:.4f} acc {train_acc:.4f} | "
            f"test loss {test_loss:.4f} acc {correct / seen:.4f} | {time.perf_counter() - start:.0f} s"
        )
        if args.save:
            checkpoint = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "epoch": epoch + 1,
                "history": history,
                "config": {"seed": args.seed, "lr": args.lr, "batch_size": args.batch_size},
            }
            tw.save(checkpoint, args.save)
    if args.plot:
        plot_history(history, args.plot, f"Fashion-MNIST, LeNet, {len(history['train_loss'])} epochs")
        print(f"wrote {args.plot}")
    elapsed = time.perf_counter() - start
    _, correct, seen = evaluate(model, test_loader, loss_fn)
    print(f"Final test accuracy: {correct / seen:.4f} ({correct}/{seen}) after {len(history['test_acc'])} epochs")
    print(f"time: {elapsed:.1f} s")
    return {"history": history, "model": model, "args": args}


if __name__ == "__main__":
    main()
