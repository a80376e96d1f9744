"""Checks of tw.distributed run on every rank of one launch: ``mpiexec -n 2 python checks.py [--device cuda]``.

Each check prints ``RESULT <rank> <name> PASS`` or ``RESULT <rank> <name> FAIL <why>``; the launch
exits 0 when every check passed on this rank. Checks that communicate run in the same order on
every rank; a failing one stops only itself (the others go on), unless it leaves a collective
unmatched, which the group's timeout then ends with an abort (and the test reports the output).
Expected values are computed on each rank from every rank's inputs, which are functions of the rank.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from datetime import timedelta

import array_api_strict
import numpy as np

import tensorweaver as tw
import tensorweaver.distributed as dist
from tensorweaver.utils.data.distributed import DistributedSampler

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cpu")
parser.add_argument("--backend", default="mpi")
args = parser.parse_args()
DEVICE = args.device
ReduceOp = dist.ReduceOp
CHECKS = []
STRICT = tw.backends.register_backend("strict", array_api_strict, device=array_api_strict.Device("device1"))


def check(fn):
    CHECKS.append(fn)
    return fn


def host(t):
    return np.asarray(t.detach().cpu().numpy())


def inputs(r: int, shape=(2, 3), dtype="float64"):
    """Rank r's input: distinct, positive, small (products stay exact)."""
    n = int(np.prod(shape))
    return ((np.arange(n) % 3 + 1 + r) * (1 if r % 2 == 0 else 0.5)).reshape(shape).astype(dtype)


def tensor(a):
    return tw.tensor(a, device=DEVICE)


# NOTE: a check records its problems and goes on, so that every rank makes the same collectives
# whatever fails; run() reports the check as failed when it recorded any.
PROBLEMS: list[str] = []


def verify(ok, message) -> None:
    if not ok:
        PROBLEMS.append(str(message))


def expect(got, want, what="", rtol=1e-6):
    got = host(got) if isinstance(got, tw.Tensor) else np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        PROBLEMS.append(f"{what}: {got.dtype} {got.shape} != {want.dtype} {want.shape}")
    elif not np.allclose(got, want, rtol=rtol, atol=0):
        PROBLEMS.append(f"{what}: {got.tolist()} != {want.tolist()}")


def raises(exc, fn, match: str):
    try:
        fn()
    except exc as e:
        verify(match in str(e), f"{type(e).__name__} {e!s} does not say {match!r}")
        return
    PROBLEMS.append(f"no {exc.__name__} raised (expected one saying {match!r})")


NP_OPS = {
    ReduceOp.SUM: lambda xs: np.sum(xs, axis=0),
    ReduceOp.AVG: lambda xs: np.sum(xs, axis=0) / len(xs),
    ReduceOp.PRODUCT: lambda xs: np.prod(xs, axis=0),
    ReduceOp.MIN: lambda xs: np.min(xs, axis=0),
    ReduceOp.MAX: lambda xs: np.max(xs, axis=0),
    ReduceOp.BAND: lambda xs: np.bitwise_and.reduce(xs, axis=0),
    ReduceOp.BOR: lambda xs: np.bitwise_or.reduce(xs, axis=0),
    ReduceOp.BXOR: lambda xs: np.bitwise_xor.reduce(xs, axis=0),
}


def everyone(shape=(2, 3), dtype="float64"):
    return np.stack([inputs(r, shape, dtype) for r in range(W)])


# -- the process group ---------------------------------------------------------------------------
@check
def group_queries():
    verify(
        dist.is_available() and dist.is_mpi_available() and dist.is_initialized(),
        "dist.is_available() and dist.is_mpi_available() and dist.is_initialized()",
    )
    verify(dist.get_world_size() == W and 0 <= R < W, "dist.get_world_size() == W and 0 <= R < W")
    verify(dist.get_backend() == args.backend, "dist.get_backend() == args.backend")
    verify(0 <= dist.get_node_local_rank() < W, "0 <= dist.get_node_local_rank() < W")
    raises(ValueError, lambda: dist.init_process_group("mpi"), "twice")
    raises(ValueError, lambda: dist.get_rank(group="other"), "group=None")
    if "OMPI_COMM_WORLD_SIZE" not in os.environ and "PMI_SIZE" in os.environ:  # MPICH's launcher
        verify(int(os.environ["PMI_RANK"]) == R, 'int(os.environ["PMI_RANK"]) == R')


# -- all_reduce ----------------------------------------------------------------------------------
for _dtype in ("float32", "float64"):
    for _op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX):

        def _all_reduce(dtype=_dtype, op=_op):
            t = tensor(inputs(R, dtype=dtype))
            verify(dist.all_reduce(t, op=op) is None, "dist.all_reduce(t, op=op) is None")
            expect(t, NP_OPS[op](everyone(dtype=dtype)).astype(dtype), f"all_reduce {op}")
            verify(t.device == tw.device(DEVICE), "t.device == tw.device(DEVICE)")

        _all_reduce.__name__ = f"all_reduce_{_op.value.lower()}_{_dtype}"
        check(_all_reduce)

for _op in (ReduceOp.SUM, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX, ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR):

    def _all_reduce_int(op=_op):
        if args.backend == "nccl" and DEVICE == "cuda" and op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR):
            raises(TypeError, lambda: dist.all_reduce(tensor(np.ones(3, dtype="int64")), op=op), "NCCL")
            return
        xs = np.stack([np.array([r + 1, 2 * r + 3, 7], dtype="int64") for r in range(W)])
        t = tensor(xs[R])
        dist.all_reduce(t, op=op)
        expect(t, NP_OPS[op](xs), f"int64 {op}")

    _all_reduce_int.__name__ = f"all_reduce_{_op.value.lower()}_int64"
    check(_all_reduce_int)


@check
def all_reduce_bool_max_min():
    xs = np.stack([np.array([r == 0, True, False]) for r in range(W)])
    t, u = tensor(xs[R]), tensor(xs[R])
    dist.all_reduce(t, op=ReduceOp.MAX)
    dist.all_reduce(u, op=ReduceOp.MIN)
    expect(t, xs.any(axis=0), "bool MAX")
    expect(u, xs.all(axis=0), "bool MIN")


@check
def all_reduce_non_contiguous_views():
    base = tensor(inputs(R, (3, 4)))
    dist.all_reduce(base.T)  # a transposed view: reduced in C order of the view, written back
    expect(base, everyone((3, 4)).sum(axis=0), "transposed")
    base = tensor(inputs(R, (3, 4)))
    col = base[:, 1]  # a strided slice
    dist.all_reduce(col, op=ReduceOp.MAX)
    want = inputs(R, (3, 4))
    want[:, 1] = everyone((3, 4))[:, :, 1].max(axis=0)
    expect(base, want, "strided column")


@check
def all_reduce_0d_and_empty():
    t = tensor(np.array(float(R + 1)))
    dist.all_reduce(t)
    expect(t, np.array(W * (W + 1) / 2), "0-d")
    e = tensor(np.zeros((0, 3)))
    dist.all_reduce(e)
    verify(e.shape == (0, 3), "e.shape == (0, 3)")


@check
def all_reduce_async_handles():
    ts = [tensor(inputs(R) * (k + 1)) for k in range(3)]
    works = [dist.all_reduce(t, async_op=True) for t in ts]
    verify(all(isinstance(w, dist.Work) for w in works), "all(isinstance(w, dist.Work) for w in works)")
    for k in reversed(range(3)):  # completed in any order
        verify(works[k].wait() is True, "works[k].wait() is True")
        verify(works[k].is_completed(), "works[k].is_completed()")
        verify(works[k].result()[0] is ts[k], "works[k].result()[0] is ts[k]")
        expect(ts[k], everyone().sum(axis=0) * (k + 1), f"async {k}")
    w = dist.all_reduce(tensor(np.ones(4)), op=ReduceOp.AVG, async_op=True)
    while not w.is_completed():  # polling drives MPI's progress too
        pass
    verify(w.wait(timedelta(seconds=5)), "w.wait(timedelta(seconds=5))")
    expect(w.result()[0], np.ones(4), "polled AVG")


# -- broadcast, reduce ---------------------------------------------------------------------------
@check
def broadcast_from_each_rank():
    for src in range(W):
        t = tensor(inputs(R))
        dist.broadcast(t, src)
        expect(t, inputs(src), f"broadcast from {src}")
    t = tensor(inputs(R, (3, 4)))
    dist.broadcast(t.T, W - 1)  # a view, from the last rank
    expect(t, inputs(W - 1, (3, 4)), "broadcast into a view")
    w = dist.broadcast(tensor(inputs(R)), src=W - 1, async_op=True)
    w.wait()
    expect(w.result()[0], inputs(W - 1), "async broadcast")


@check
def reduce_to_last_rank():
    for op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX):
        t = tensor(inputs(R))
        dist.reduce(t, W - 1, op=op)
        expect(t, NP_OPS[op](everyone()) if R == W - 1 else inputs(R), f"reduce {op}")


# -- gathers and scatters -------------------------------------------------------------------------
@check
def all_gather_list():
    for dtype in ("float32", "float64", "int64"):
        outs = [tensor(np.zeros((2, 3), dtype=dtype)) for _ in range(W)]
        verify(
            dist.all_gather(outs, tensor(inputs(R, dtype=dtype))) is None,
            "dist.all_gather(outs, tensor(inputs(R, dtype=dtype))) is None",
        )
        for r in range(W):
            expect(outs[r], inputs(r, dtype=dtype), f"all_gather {dtype} [{r}]")
    outs = [tensor(np.zeros(())) for _ in range(W)]
    dist.all_gather(outs, tensor(np.array(float(R))), async_op=True).wait()
    expect(tw.stack(outs), np.arange(W, dtype="float64"), "async 0-d all_gather")


@check
def all_gather_into_tensor_both_layouts():
    stacked = tensor(np.zeros((W, 2, 3)))
    dist.all_gather_into_tensor(stacked, tensor(inputs(R)))
    expect(stacked, everyone(), "stacked")
    cat = tensor(np.zeros((W * 2, 3), dtype="float32"))
    dist.all_gather_into_tensor(cat, tensor(inputs(R, dtype="float32")))
    expect(cat, everyone(dtype="float32").reshape(W * 2, 3), "concatenated")
    raises(
        RuntimeError, lambda: dist.all_gather_into_tensor(tensor(np.zeros((W + 1, 3))), tensor(np.zeros(3))), "must be"
    )


@check
def reduce_scatter_list_and_tensor():
    # rank r's i-th block: inputs(r) * (i + 1); rank i gets the reduction of every rank's i-th block
    blocks = [tensor(inputs(R) * (i + 1)) for i in range(W)]
    out = tensor(np.zeros((2, 3)))
    dist.reduce_scatter(out, blocks)
    expect(out, everyone().sum(axis=0) * (R + 1), "reduce_scatter SUM")
    for layout in ("stacked", "concatenated"):
        big = np.stack([inputs(R, dtype="float32") * (i + 1) for i in range(W)])
        big = big if layout == "stacked" else big.reshape(W * 2, 3)
        out = tensor(np.zeros((2, 3), dtype="float32"))
        dist.reduce_scatter_tensor(out, tensor(big), op=ReduceOp.AVG)
        expect(out, everyone(dtype="float32").mean(axis=0) * (R + 1), f"reduce_scatter_tensor AVG {layout}")


@check
def gather_and_scatter():
    dst = W - 1
    outs = [tensor(np.zeros((2, 3))) for _ in range(W)] if R == dst else None
    dist.gather(tensor(inputs(R)), outs, dst=dst)
    if R == dst:
        expect(tw.stack(outs), everyone(), "gather")
    t = tensor(np.zeros((2, 3)))
    parts = [tensor(inputs(i) * 10) for i in range(W)] if R == 0 else None
    dist.scatter(t, parts, src=0)
    expect(t, inputs(R) * 10, "scatter")
    raises(ValueError, lambda: dist.gather(tensor(np.zeros(3)), [tensor(np.zeros(3))] * W, dst=W), "not a rank")


@check
def barrier_sync_and_async():
    verify(dist.barrier() is None, "dist.barrier() is None")
    w = dist.barrier(async_op=True)
    verify(w.wait() and w.is_completed(), "w.wait() and w.is_completed()")


# -- errors, raised alike on every rank before anything is sent ----------------------------------
@check
def in_place_on_tensors_that_require_grad():
    w = tw.tensor(inputs(R), device=DEVICE, requires_grad=True)
    raises(RuntimeError, lambda: dist.all_reduce(w), "requires grad")
    raises(RuntimeError, lambda: dist.broadcast(w, 0), "requires grad")
    expect(w, inputs(R), "unchanged after the error")
    y = w * 2
    raises(RuntimeError, lambda: dist.all_reduce(y), "requires grad")
    outs = [tw.zeros(2, 3, dtype=tw.float64, device=DEVICE, requires_grad=True) for _ in range(W)]
    raises(RuntimeError, lambda: dist.all_gather(outs, tw.tensor(inputs(R), device=DEVICE)), "requires grad")
    with tw.no_grad():  # as for any in-place op: allowed outside grad mode
        dist.all_reduce(w)
    expect(w, everyone().sum(axis=0), "under no_grad")
    verify(w.requires_grad and w.is_leaf, "w.requires_grad and w.is_leaf")
    dist.all_reduce(w.data)  # .data shares the storage
    expect(w, everyone().sum(axis=0) * W, "through .data")


@check
def bad_arguments():
    t = tensor(inputs(R))
    raises(TypeError, lambda: dist.all_reduce(t, op="sum"), "ReduceOp")
    raises(TypeError, lambda: dist.all_reduce(tensor(np.ones(3, dtype="int64")), op=ReduceOp.AVG), "int64")
    raises(TypeError, lambda: dist.all_reduce(tensor(np.ones(3, dtype="bool")), op=ReduceOp.SUM), "bool")
    raises(TypeError, lambda: dist.all_reduce(t, op=ReduceOp.BAND), "float64")
    raises(TypeError, lambda: dist.all_reduce(inputs(R)), "Tensor")
    raises(ValueError, lambda: dist.broadcast(t, W), "not a rank")
    raises(ValueError, lambda: dist.broadcast(t, -1), "not a rank")
    raises(ValueError, lambda: dist.all_gather([t] * (W + 1), t), "world_size")
    raises(RuntimeError, lambda: dist.all_gather([tensor(np.zeros(3))] * W, t), "shape")
    raises(RuntimeError, lambda: dist.all_gather([tensor(np.zeros((2, 3), dtype="float32"))] * W, t), "dtype")
    raises(ValueError, lambda: dist.all_reduce(t, group=object()), "group=None")
    ro = tw.from_numpy(np.broadcast_to(np.ones(3), (2, 3)))  # a read-only NumPy view
    if DEVICE == "cpu":
        raises(RuntimeError, lambda: dist.all_reduce(ro), "read-only")
    expect(t, inputs(R), "nothing changed")


@check
def strict_device_is_refused_without_copies():
    b = tw.backends.get_backend("strict")
    t = tw.tensor(inputs(R), device="strict")
    before = b.transfers
    for fn in (
        lambda: dist.all_reduce(t),
        lambda: dist.broadcast(t, 0),
        lambda: dist.all_gather([tw.zeros(2, 3, dtype=tw.float64, device="strict") for _ in range(W)], t),
        lambda: dist.reduce_scatter(t, [t] * W),
    ):
        raises(RuntimeError, fn, ".cpu()")
    verify(b.transfers == before, f"{b.transfers - before} transfers")
    # the documented way: an explicit, counted move to the host and back
    c = t.cpu()
    dist.all_reduce(c)
    t2 = c.to("strict")
    verify(b.transfers == before + 2, "b.transfers == before + 2")
    verify(t2.device == tw.device("strict"), 't2.device == tw.device("strict")')
    expect(t2, everyone().sum(axis=0), "via .cpu()")


# -- the sampler -----------------------------------------------------------------------------------
@check
def distributed_sampler_covers_the_data_set():
    n = 23
    for drop_last in (False, True):
        for epoch in (0, 1):
            s = DistributedSampler(range(n), shuffle=True, seed=7, drop_last=drop_last)
            verify((s.num_replicas, s.rank) == (W, R), "(s.num_replicas, s.rank) == (W, R)")
            s.set_epoch(epoch)
            mine = tw.tensor(list(s), dtype=tw.int64)
            verify(len(mine) == len(s), "len(mine) == len(s)")
            everyone_ = [tw.zeros(len(s), dtype=tw.int64) for _ in range(W)]
            dist.all_gather(everyone_, mine)
            got = sorted(tw.cat(everyone_).tolist())
            if drop_last:
                verify(len(set(got)) == len(got) == (n // W) * W, got)
            else:
                verify(set(got) == set(range(n)) and len(got) == -(-n // W) * W, got)


CHECKS_DETAIL = []


def detail(fn):
    CHECKS_DETAIL.append(fn)
    return fn


@detail
def detail_mode_names_mismatched_shapes_and_dtypes():
    t = tensor(inputs(R, (2, 3 + R)))
    if W > 1:
        raises(RuntimeError, lambda: dist.all_reduce(t), "(2, 4)")
    u = tensor(inputs(R, dtype="float32" if R == 0 else "float64"))
    if W > 1:
        raises(RuntimeError, lambda: dist.all_reduce(u), "float32")
    v = tensor(inputs(R))
    dist.all_reduce(v)  # a matching call goes through
    expect(v, everyone().sum(axis=0), "matching call")


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
os.environ["TW_DISTRIBUTED_DEBUG"] = "DETAIL"
dist.init_process_group(args.backend, timeout=timedelta(seconds=15))
failures += run(CHECKS_DETAIL)
dist.destroy_process_group()
sys.exit(1 if failures else 0)
