"""Checks of DistributedDataParallel on every rank of one launch:
``mpiexec -n 2 python ddp_checks.py CHECKPOINT_DIR [--device cuda --backend nccl]``.

Same protocol as checks.py (``RESULT <rank> <name> PASS|FAIL <why>`` per check, exit 0 when all
passed). The reference of each check is one process training on the concatenation of every rank's
share, computed on each rank from data that every rank draws alike (a fixed seed).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import weakref
from datetime import timedelta

import array_api_strict
import numpy as np

import tensorweaver as tw
import tensorweaver.distributed as dist
import tensorweaver.nn.functional as F
from tensorweaver import nn
from tensorweaver.nn.parallel import DistributedDataParallel as DDP

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint_dir")
parser.add_argument("--device", default="cpu")
parser.add_argument("--backend", default="mpi")
args = parser.parse_args()
DEVICE = args.device
CHECKS = []
PROBLEMS: list[str] = []
STRICT = tw.backends.register_backend("strict", array_api_strict, device=array_api_strict.Device("device1"))


def check(fn):
    CHECKS.append(fn)
    return fn


def host(t):
    return np.asarray(t.detach().cpu().numpy())


def verify(ok, message) -> None:
    if not ok:
        PROBLEMS.append(str(message))


def close(got, want, what, rtol=1e-10) -> None:
    got, want = host(got), host(want)
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=1e-300):
        err = np.max(np.abs(got - want)) if got.shape == want.shape else "shape"
        PROBLEMS.append(f"{what}: differs (max abs error {err}) {got.ravel()[:4]} vs {want.ravel()[:4]}")


def raises(exc, fn, match: str):
    try:
        fn()
    except exc as e:
        verify(match in str(e), f"{type(e).__name__} {e!s} does not say {match!r}")
        return None
    PROBLEMS.append(f"no {exc.__name__} raised (expected one saying {match!r})")
    return None


def mlp(seed: int, sizes=(5, 7, 6, 3)):
    tw.manual_seed(seed)
    layers: list = []
    for a, b in zip(sizes[:-1], sizes[1:]):  # noqa: B905
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers[:-1]).double().to(DEVICE)


def batches(steps: int, n: int, seed: int = 123, features: int = 5, classes: int = 3):
    """The global batches, alike on every rank: (x, y) per step."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        x = tw.tensor(rng.standard_normal((n, features)), device=DEVICE)
        y = tw.tensor(rng.integers(0, classes, n), device=DEVICE)
        out.append((x, y))
    return out


def share(t):
    """This rank's rows of a global batch (contiguous, equal shares)."""
    n = t.shape[0] // W
    return t[R * n : (R + 1) * n]


def train(model, data, lr=0.1, split=False):
    opt = tw.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for x, y in data:
        if split:
            x, y = share(x), share(y)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def same_parameters(a, b, what):
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):  # noqa: B905
        close(p, q, f"{what}: {n}")


# -- checks ------------------------------------------------------------------------------------------
@check
def ten_steps_equal_one_process_on_the_concatenated_batch():
    ddp = DDP(mlp(seed=R))  # each rank starts from other weights: rank 0's are broadcast
    ref = mlp(seed=0)
    same_parameters(ddp.module, ref, "after construction")
    data = batches(10, 4 * W)
    train(ddp, data, split=True)
    train(ref, data)
    same_parameters(ddp.module, ref, "after 10 steps")


@check
def uneven_small_buckets_give_the_same_result():
    ddp = DDP(mlp(seed=R, sizes=(5, 9, 4, 3)), bucket_cap_mb=60 / 2**20)  # 60 bytes: buckets of 15, 40, 9, 45
    sizes = [b.numel for b in ddp._buckets]
    verify(sizes == [15, 40, 9, 45], f"expected buckets of 15, 40, 9, 45 elements, got {sizes}")
    order = [i for b in ddp._buckets for i in b.members]
    verify(order == list(reversed(range(len(ddp._params)))), f"buckets not in reverse parameter order: {order}")
    ref = mlp(seed=0, sizes=(5, 9, 4, 3))
    data = batches(10, 4 * W, seed=7)
    train(ddp, data, split=True)
    train(ref, data)
    same_parameters(ddp.module, ref, "after 10 steps")


@check
def all_reduce_starts_during_backward():
    class Probe(tw.autograd.Function):  # between the first and second layers
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            started.append([b.work is not None for b in ddp._buckets])
            return g

    class ProbeLayer(nn.Module):
        def forward(self, x):
            return Probe.apply(x)

    started: list = []
    tw.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 40), nn.Tanh(), ProbeLayer(), nn.Linear(40, 40), nn.Tanh(), nn.Linear(40, 3))
    ddp = DDP(model.double().to(DEVICE), bucket_cap_mb=4000 / 2**20)  # [layers 3 and 2], [layer 1]
    verify([len(b.members) for b in ddp._buckets] == [4, 2], f"buckets {[b.members for b in ddp._buckets]}")
    x = tw.randn(6, 5, dtype=tw.float64, device=DEVICE)
    model(x).sum().backward()  # the module called directly: DDP is not armed, nothing starts
    verify(started == [[False, False]], f"without DDP's forward: {started}")
    started.clear()
    ddp(x).sum().backward()
    # when backward reaches the probe, layers 3 and 2 have their gradients (bucket 0 is reducing),
    # layer 1 not yet (bucket 1 waits)
    verify(started == [[True, False]], f"buckets started when backward reached layer 1: {started}")
    verify(ddp._state == 2, "the reduction did not finish inside backward()")
    ref = [p.grad for p in model.parameters()]
    verify(ref[0] is not None, "no gradient")


@check
def no_sync_accumulates_locally_then_reduces_the_sum():
    ddp = DDP(mlp(seed=R))
    ref = mlp(seed=0)
    (x1, y1), (x2, y2) = batches(2, 4 * W, seed=11)
    with ddp.no_sync():
        F.cross_entropy(ddp(share(x1)), share(y1)).backward()
    local = mlp(seed=0)
    F.cross_entropy(local(share(x1)), share(y1)).backward()
    for p, q in zip(ddp.parameters(), local.parameters()):  # noqa: B905 - not reduced: this rank's own
        close(p.grad, q.grad, "inside no_sync")
    F.cross_entropy(ddp(share(x2)), share(y2)).backward()
    F.cross_entropy(ref(x1), y1).backward()
    F.cross_entropy(ref(x2), y2).backward()
    for (n, p), q in zip(ddp.named_parameters(), ref.parameters()):  # noqa: B905
        close(p.grad, q.grad, f"accumulated {n}")


class Branches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 3)
        self.c = nn.Linear(4, 3)  # used on no rank

    def forward(self, x, use_b: bool):
        y = self.a(x)
        return y + self.b(x) if use_b else y


@check
def find_unused_parameters_reduces_zeros_for_them():
    tw.manual_seed(0)
    ddp = DDP(Branches().double().to(DEVICE), find_unused_parameters=True, bucket_cap_mb=100 / 2**20)
    tw.manual_seed(0)
    ref = Branches().double().to(DEVICE)
    x = tw.tensor(np.random.default_rng(3).standard_normal((2 * W, 4)), device=DEVICE)
    for step in range(3):
        ddp.zero_grad()
        ddp(share(x), use_b=R == 0).sum().backward()
        ref.zero_grad()
        for r in range(W):  # rank r's loss, summed, then averaged as DDP does
            (ref(x[2 * r : 2 * r + 2], use_b=r == 0).sum() / W).backward()
        for n in ("a.weight", "a.bias", "b.weight", "b.bias"):
            close(ddp.module.get_parameter(n).grad, ref.get_parameter(n).grad, f"step {step}: {n}")
        verify(ddp.module.c.weight.grad is None, "the parameter unused on every rank got a gradient")


@check
def unused_parameters_without_the_flag_raise_at_the_next_forward():
    tw.manual_seed(0)
    ddp = DDP(Branches().double().to(DEVICE))
    x = tw.ones(2, 4, dtype=tw.float64, device=DEVICE)
    ddp(x, use_b=True).sum().backward()
    raises(RuntimeError, lambda: ddp(x, use_b=True), "c.weight")
    raises(RuntimeError, lambda: ddp(x, use_b=True), "find_unused_parameters=True")


@check
def mismatched_layouts_raise_on_every_rank():
    last = W > 1 and R == W - 1
    shape = (3, 2) if last else (2, 3)
    holder = nn.Module()
    holder.w = nn.Parameter(tw.zeros(*shape, dtype=tw.float64, device=DEVICE))
    if W > 1:
        raises(RuntimeError, lambda: DDP(holder), "parameter 0 ('w' on this rank) differs across ranks")
        raises(RuntimeError, lambda: DDP(holder), "rank 0: float64 (2, 3); rank 1: float64 (3, 2)")
        raises(RuntimeError, lambda: DDP(mlp(0, sizes=(5, 7 + last, 3))), "rank 0: 4 parameters (66 elements)")
        raises(RuntimeError, lambda: DDP(mlp(0, sizes=(5, 7, 7, 3) if last else (5, 7, 3))), "modules differ")
    else:  # one rank cannot differ from itself
        DDP(holder)


@check
def bucket_cap_differences_raise_on_every_rank():
    if W > 1:
        raises(RuntimeError, lambda: DDP(mlp(0), bucket_cap_mb=25 if R == 0 else 1), "bucket_cap_mb")


@check
def module_state_dict_and_forward_as_pytorch():
    model = mlp(seed=0)
    ddp = DDP(model)
    verify(ddp.module is model, "ddp.module is not the wrapped model")
    keys = list(ddp.state_dict())
    verify(keys == ["module." + k for k in model.state_dict()], f"state_dict keys {keys}")
    x = tw.ones(2, 5, dtype=tw.float64, device=DEVICE)
    with tw.no_grad():
        close(ddp(x), model(x), "forward")
    verify(len(list(ddp.parameters())) == len(list(model.parameters())), "parameters() differ")
    ddp(x).sum()  # armed, then dropped: its hooks on the parameters must not keep it alive or act
    ref = weakref.ref(ddp)
    del ddp
    verify(ref() is None, "a dropped DDP is kept alive")
    if R == 0:
        model(x).sum().backward()  # rank 0 only: a collective started here would never be matched
        verify(all(p.grad is not None for p in model.parameters()), "no gradient")


@check
def buffers_come_from_rank_0_at_construction_and_forward():
    norm = nn.BatchNorm1d(3)
    model = nn.Sequential(nn.Linear(3, 3), norm).double().to(DEVICE)
    with tw.no_grad():
        norm.running_mean.fill_(float(R))
    ddp = DDP(model)
    close(norm.running_mean, tw.zeros(3, dtype=tw.float64, device=DEVICE), "after construction")
    with tw.no_grad():
        norm.running_mean.fill_(float(R + 5))
    with tw.no_grad():
        ddp.eval()(tw.ones(2, 3, dtype=tw.float64, device=DEVICE))
    close(norm.running_mean, tw.full((3,), 5.0, dtype=tw.float64, device=DEVICE), "after forward")


@check
def checkpoint_saved_on_rank_0_loads_everywhere():
    ddp = DDP(mlp(seed=R))
    train(ddp, batches(2, 4 * W, seed=5), split=True)
    path = os.path.join(args.checkpoint_dir, f"ddp-{DEVICE}.safetensors")
    if R == 0:
        tw.save({"model": ddp.module.state_dict(), "ddp": ddp.state_dict(), "step": 2}, path)
    dist.barrier()  # the file is complete before any rank reads it
    state = tw.load(path, map_location=DEVICE)
    verify(state["step"] == 2, "step")
    fresh = mlp(seed=R + 100)
    fresh.load_state_dict(state["model"])
    same_parameters(fresh, ddp.module, "loaded module")
    other = DDP(mlp(seed=R + 200))
    other.load_state_dict(tw.load(path, map_location="cpu")["ddp"] if DEVICE == "cpu" else state["ddp"])
    same_parameters(other.module, ddp.module, "loaded into a DDP")
    dist.barrier()


@check
def tensors_on_the_strict_device_raise_the_collectives_error():
    model = nn.Linear(3, 2).to(STRICT)
    raises(RuntimeError, lambda: DDP(model), "cannot be communicated")


@check
def arguments_are_checked():
    raises(TypeError, lambda: DDP(lambda x: x), "nn.Module")  # pyright: ignore[reportArgumentType]
    raises(RuntimeError, lambda: DDP(nn.ReLU()), "doesn't have any parameter")
    raises(ValueError, lambda: DDP(mlp(0), bucket_cap_mb=0), "bucket_cap_mb")
    raises(ValueError, lambda: DDP(mlp(0), device_ids=[7]), "device_ids")
    raises(ValueError, lambda: DDP(mlp(0), process_group=object()), "group")
    raises(NotImplementedError, lambda: DDP(mlp(0), static_graph=True), "static_graph")


def run(checks) -> int:
    failed = 0
    for fn in checks:
        PROBLEMS.clear()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported by name, the launch goes on
            where = traceback.extract_tb(e.__traceback__)[-1]
            PROBLEMS.append(f"{type(e).__name__}: {e} (line {where.lineno})")
        failed += bool(PROBLEMS)
        line = f"RESULT {R} {fn.__name__} " + ("FAIL " + "; ".join(PROBLEMS) if PROBLEMS else "PASS")
        sys.stdout.write(line.replace("\n", " ") + "\n")  # one write per line: ranks share the pipe
        sys.stdout.flush()
    return failed


dist.init_process_group(args.backend, timeout=timedelta(seconds=15))
R, W = dist.get_rank(), dist.get_world_size()
failures = run(CHECKS)
dist.destroy_process_group()
sys.exit(1 if failures else 0)
