"""Train an MLP (or a small CNN) on scikit-learn's handwritten digits and report held-out accuracy.

The 1,797 8x8 digit images ship with scikit-learn (no download); 20% are held out (stratified, fixed
split). Written as a PyTorch script: with ``import torch as tw`` (and ``from torch import nn``, ...)
it runs unchanged on PyTorch.

python examples/train_digits.py                                  # MLP on the CPU
python examples/train_digits.py --model cnn --device auto        # a small CNN, on CUDA when present
python examples/train_digits.py --epochs 10 --save ckpt.safetensors
python examples/train_digits.py --epochs 20 --resume ckpt.safetensors   # epochs 11-20
python examples/train_digits.py --plot digits.png                # loss/accuracy curves as a PNG
mpiexec -n 2 python examples/train_digits.py --distributed       # data-parallel on 2 processes (MPI)

``--distributed`` joins the job ``mpiexec`` started (``python ... --distributed`` alone is a job of
one): each rank trains on its share of every global batch of ``--batch-size`` (a
``DistributedSampler``), ``DistributedDataParallel`` averages the gradients, so N ranks print the
same numbers as one (up to float32 rounding); only rank 0 prints and saves. The incomplete last
batch of an epoch is dropped there, so that every global batch holds the same images for any N.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.utils.data import DataLoader, TensorDataset


def build_model(kind: str) -> nn.Module:
    """Both models take (N, 1, 8, 8) images and return (N, 10) logits."""
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),  # 16 x 8 x 8
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1),  # 32 x 4 x 4
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )


def load_data(device, limit: int | None = None) -> tuple[TensorDataset, TensorDataset]:
    """The train and held-out sets as tensors on ``device``, images of shape (N, 1, 8, 8).

    Each pixel is standardized with the training set's mean and standard deviation (as sklearn's
    StandardScaler does; a pixel that is always 0 stays 0): worth about one point of held-out
    accuracy over scaling to [0, 1].
    """
    x, y = load_digits(return_X_y=True)
    split = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    x_train, x_test, y_train, y_test = (np.asarray(a) for a in split)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0

    def tensors(x: np.ndarray, y: np.ndarray) -> TensorDataset:
        x, y = (x[:limit] - mean) / std, y[:limit]
        images = tw.tensor(x.reshape(-1, 1, 8, 8), dtype=tw.float32, device=device)
        return TensorDataset(images, tw.tensor(y, dtype=tw.int64, device=device))

    return tensors(x_train, y_train), tensors(x_test, y_test)


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
    """Loss and accuracy per epoch, train and held-out, as a PNG (matplotlib's Agg backend: no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="held-out")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    ax_acc.plot(epochs, history["train_acc"], label="train")
    ax_acc.plot(epochs, history["test_acc"], label="held-out")
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
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, or auto (cuda when present)")
    parser.add_argument("--epochs", type=int, default=30, help="train until this epoch (counting resumed ones)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW's learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.01, help="AdamW's weight decay")
    parser.add_argument("--seed", type=int, default=0, help="seeds the initialization and the shuffling")
    parser.add_argument("--save", metavar="PATH", help="write a checkpoint there after every epoch")
    parser.add_argument("--resume", metavar="PATH", help="continue from a checkpoint written by --save")
    parser.add_argument("--plot", metavar="PATH", help="write the loss/accuracy curves there as a PNG")
    parser.add_argument("--max-batches", type=int, metavar="N", help="at most N batches per epoch (a quick check)")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N train and held-out images")
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

    tw.manual_seed(args.seed)
    model = build_model(args.model).to(device)
    optimizer = tw.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    generator = tw.Generator().manual_seed(args.seed)  # the shuffling order: the same on every run
    train_set, test_set = load_data(device, args.limit)
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
        if checkpoint["config"]["model"] != args.model:
            sys.exit(f"error: {args.resume} holds a {checkpoint['config']['model']!r} model, not {args.model!r}")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        generator.set_state(checkpoint["generator"])
        history = checkpoint["history"]
        first_epoch = checkpoint["epoch"]
        say(f"resumed from {args.resume} after epoch {first_epoch}")

    say(f"{args.model} on {device}: {sum(p.numel() for p in model.parameters())} parameters, ", end="")
    say(f"{len(train_set)} train and {len(test_set)} held-out images", end="")
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
                f"held-out loss {test_loss:.4f} acc {correct / seen:.4f}"
            )
        if args.save and rank == 0:
            checkpoint = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "epoch": epoch + 1,
                "history": history,
                "config": {"model": args.model, "seed": args.seed, "lr": args.lr, "batch_size": args.batch_size},
            }
            tw.save(checkpoint, args.save)
        if args.save and dist is not None:
            dist.barrier()  # rank 0's checkpoint is complete before any rank goes on (or resumes from it)
    if args.plot and rank == 0:
        plot_history(history, args.plot, f"digits, {args.model}, {len(history['train_loss'])} epochs")
        print(f"wrote {args.plot}")
    elapsed = time.perf_counter() - start
    _, correct, seen = evaluate(model, test_loader, loss_fn)
    say(f"Final held-out accuracy: {correct / seen:.4f} ({correct}/{seen}) after {len(history['test_acc'])} epochs")
    say(f"time: {elapsed:.1f} s")
    if dist is not None:
        dist.destroy_process_group()
    return {"history": history, "model": model, "args": args}


if __name__ == "__main__":
    main()
