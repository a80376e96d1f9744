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
mpiexec -n 2 python examples/train_fashion_mnist.py --distributed   # data-parallel on 2 processes (MPI)

``--distributed`` joins the job ``mpiexec`` started (``python ... --distributed`` alone is a job of
one): each rank trains on its share of every global batch of ``--batch-size`` (a
``DistributedSampler``), ``DistributedDataParallel`` averages the gradients, so N ranks print the
same numbers as one (up to float32 rounding); only rank 0 prints and saves. The incomplete last
batch of an epoch is dropped there, so that every global batch holds the same images for any N.
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


def train_one_epoch(model, loader, loss_fn, optimizer, bar, max_batches: int | None, dist=None) -> tuple[float, float]:
    """One pass over ``loader`` (at most ``max_batches`` batches); returns (mean loss, accuracy) on it
    (with ``dist``, the distributed package: over the batches of every rank)."""
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
    loss_sum = tw.stack(losses).sum()
    totals = tw.stack([loss_sum, tw.stack(correct).sum().to(loss_sum.dtype), tw.full_like(loss_sum, seen)])
    if dist is not None:
        dist.all_reduce(totals)  # the sums over every rank's batches
    loss_total, correct_total, seen_total = totals.tolist()
    return loss_total / seen_total, correct_total / seen_total


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
    parser.add_argument("--distributed", action="store_true", help="data-parallel over the ranks of mpiexec -n N")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if tw.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not tw.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here (use --device cpu or auto)")
    return args


def start_distributed(device):
    """Join the job (MPI on the CPU, NCCL on GPUs: one per rank, by local rank); returns the
    distributed package, this rank's device, the DDP wrapper and the sampler class."""
    import tensorweaver.distributed as dist
    from tensorweaver.nn.parallel import DistributedDataParallel
    from tensorweaver.utils.data.distributed import DistributedSampler

    if device.type == "cuda":
        dist.init_process_group("nccl")
        device = tw.device("cuda", dist.get_node_local_rank())
        tw.cuda.set_device(device)
    else:
        dist.init_process_group("mpi")
    return dist, device, DistributedDataParallel, DistributedSampler


def main(argv=None) -> dict:
    """Train as the command line says; returns the history and the model (for tests)."""
    args = parse_args(argv)
    device = tw.device(args.device)
    start = time.perf_counter()
    dist, rank, world = None, 0, 1
    if args.distributed:
        dist, device, DistributedDataParallel, DistributedSampler = start_distributed(device)
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.batch_size % world:
            sys.exit(f"error: --batch-size {args.batch_size} is not divisible by the {world} ranks")
    say = print if rank == 0 else (lambda *a, **k: None)
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
    sampler, net = None, model
    if dist is None:
        train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=generator)
    else:
        # every rank: the same permutation (seed + epoch), every world-th image of it, the last partial batch dropped
        sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed, drop_last=True)
        train_loader = DataLoader(train_set, batch_size=args.batch_size // world, sampler=sampler, drop_last=True)
        net = DistributedDataParallel(model)  # rank 0's weights everywhere; backward averages the gradients
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
        say(f"resumed from {args.resume} after epoch {first_epoch}")

    say(f"LeNet on {device}: {sum(p.numel() for p in model.parameters())} parameters, ", end="")
    say(f"{len(train_set)} train and {len(test_set)} test images from {args.data}", end="")
    say(f", {world} rank{'s' * (world > 1)}" if dist else "")
    for epoch in range(first_epoch, args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        steps = len(train_loader) if args.max_batches is None else min(args.max_batches, len(train_loader))
        quiet = args.no_progress or rank != 0
        with tqdm(total=steps, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, disable=quiet) as bar:
            train_loss, train_acc = train_one_epoch(net, train_loader, loss_fn, optimizer, bar, args.max_batches, dist)
        test_loss, correct, seen = evaluate(model, test_loader, loss_fn)
        history["train_loss"].append(train_loss)
        history["train_acc"].append(train_acc)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(correct / seen)
        if rank == 0:
            tqdm.write(
                f"epoch {epoch + 1:3d}: train loss {train_loss:.4f} acc {train_acc:.4f} | "
                f"test loss {test_loss:.4f} acc {correct / seen:.4f} | {time.perf_counter() - start:.0f} s"
            )
        if args.save and rank == 0:
            checkpoint = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "epoch": epoch + 1,
                "history": history,
                "config": {"seed": args.seed, "lr": args.lr, "batch_size": args.batch_size},
            }
            tw.save(checkpoint, args.save)
        if args.save and dist is not None:
            dist.barrier()  # rank 0's checkpoint is complete before any rank goes on (or resumes from it)
    if args.plot and rank == 0:
        plot_history(history, args.plot, f"Fashion-MNIST, LeNet, {len(history['train_loss'])} epochs")
        print(f"wrote {args.plot}")
    elapsed = time.perf_counter() - start
    _, correct, seen = evaluate(model, test_loader, loss_fn)
    say(f"Final test accuracy: {correct / seen:.4f} ({correct}/{seen}) after {len(history['test_acc'])} epochs")
    say(f"time: {elapsed:.1f} s")
    if dist is not None:
        dist.destroy_process_group()
    return {"history": history, "model": model, "args": args}


if __name__ == "__main__":
    main()
