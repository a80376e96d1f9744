"""tw.distributed and DistributedDataParallel against their baselines, measured in one MPI job:
``mpiexec -n 2 python -m benchmarks.distributed_bench [--only allreduce,ddp] [--numel 10000000]
[--repeats 15] [--batch 128] [--steps 30]``.

All-reduce: each repeat runs, in turn and after a barrier, mpi4py's blocking ``Allreduce(IN_PLACE, a)`` on a
float32 NumPy array, ``dist.all_reduce(t)`` on a tensor sharing that array (``tw.from_numpy``), and
``dist.all_reduce(t, async_op=True).wait()``; a call's time is the slowest rank's. Rank 0 prints a
Markdown table of medians (min, max), bandwidths as nccl-tests defines them (algbw = bytes / time,
busbw = algbw * 2 (n - 1) / n) and the ratio of bandwidths to the bare call (target >= 0.9).

DDP: one training step (zero_grad, forward, cross-entropy, backward, SGD step) of the
784-512-512-10 float32 MLP at ``--batch`` rows per rank, timed per step as the slowest rank's, the
cases interleaved step by step: DDP with its buckets' all-reduce started during backward (overlap);
the same buckets reduced after backward (backward inside ``no_sync()``, then every bucket started
and waited for: no overlap); the same with one bucket; and, for weak scaling, one process alone
(rank 0, without DDP, the other ranks sleeping) on the same per-rank batch: efficiency = its time
/ the DDP step's. Run it with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` where the ranks share the
cores (BLAS threads of several ranks on one core slow them all; the header prints the setting).
Not part of ``python -m benchmarks``: it needs an MPI launch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import tensorweaver as tw
import tensorweaver.distributed as dist
import tensorweaver.nn.functional as F


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="allreduce,ddp", help="comma-separated: allreduce, ddp")
    parser.add_argument("--numel", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128, help="DDP: rows per rank")
    parser.add_argument("--steps", type=int, default=30, help="DDP: timed steps per case")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if not only <= {"allreduce", "ddp"}:
        parser.error(f"--only {args.only}: choose from allreduce, ddp")

    dist.init_process_group("mpi")
    if "allreduce" in only:
        all_reduce_bench(args)
    if "ddp" in only:
        ddp_bench(args)
    dist.destroy_process_group()


def all_reduce_bench(args) -> None:
    from mpi4py import MPI  # started by init_process_group

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    a = np.ones(args.numel, dtype=np.float32)
    t = tw.from_numpy(a)

    def bare() -> None:
        comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)

    def tensorweaver() -> None:
        dist.all_reduce(t)

    def tensorweaver_async() -> None:
        dist.all_reduce(t, async_op=True).wait()

    cases = {"mpi4py Allreduce (bare)": bare, "tw.distributed.all_reduce": tensorweaver}
    cases["tw.distributed.all_reduce(async_op=True).wait()"] = tensorweaver_async
    times: dict[str, list[float]] = {name: [] for name in cases}
    slowest = np.zeros(1)
    for repeat in range(args.repeats + 1):  # the first round warms up
        for name, fn in cases.items():
            a.fill(1.0)  # the sums stay finite; outside the timing
            comm.Barrier()
            start = time.perf_counter()
            fn()
            slowest[0] = time.perf_counter() - start
            comm.Allreduce(MPI.IN_PLACE, slowest, op=MPI.MAX)
            if repeat:
                times[name].append(float(slowest[0]))
    ok = bool(np.all(a == size))
    if rank != 0:
        return

    nbytes = a.nbytes
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"All-reduce (SUM) of {args.numel:,} float32 ({nbytes / 1e6:.0f} MB) on {size} ranks, {args.repeats} "
        f"repeats, interleaved; {os.cpu_count()} CPUs, load average {load}; MPI: "
        f"{MPI.Get_library_version().splitlines()[0].strip()}; results correct: {ok}\n"
    )
    print_bandwidth_table(times, "mpi4py Allreduce (bare)", nbytes, size)
    print()


def print_bandwidth_table(times: dict[str, list[float]], bare: str, nbytes: int, size: int) -> None:
    """One Markdown row per call: median/min/max time of ``times[call]`` (seconds), nccl-tests'
    algbw (bytes / time) and busbw (algbw * 2 (n - 1) / n), and the bandwidth against ``bare``'s."""
    bare_median = statistics.median(times[bare])
    print("| call | median ms | min ms | max ms | algbw GB/s | busbw GB/s | bandwidth vs bare |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, ts in times.items():
        median = statistics.median(ts)
        algbw = nbytes / median / 1e9
        busbw = algbw * 2 * (size - 1) / size
        print(
            f"| {name} | {1e3 * median:.3g} | {1e3 * min(ts):.3g} | {1e3 * max(ts):.3g} | {algbw:.3g} | "
            f"{busbw:.3g} | {bare_median / median:.3f}x |"
        )


def ddp_bench(args) -> None:
    from mpi4py import MPI  # started by init_process_group

    from tensorweaver import nn
    from tensorweaver.nn.parallel import DistributedDataParallel

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()

    def mlp():
        tw.manual_seed(0)
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))

    rng = np.random.default_rng(rank)
    x = tw.tensor(rng.standard_normal((args.batch, 784), dtype=np.float32))
    y = tw.tensor(rng.integers(0, 10, args.batch))
    overlap = DistributedDataParallel(mlp())
    after = DistributedDataParallel(mlp())
    one_bucket = DistributedDataParallel(mlp(), bucket_cap_mb=64)
    alone = mlp()

    def stepper(model, reduce_after: bool):
        opt = tw.optim.SGD(model.parameters(), lr=1e-3)

        def step() -> None:
            opt.zero_grad()
            if reduce_after:
                with model.no_sync():
                    F.cross_entropy(model(x), y).backward()
                model._reduce_after_backward()
            else:
                F.cross_entropy(model(x), y).backward()
            opt.step()

        return step

    cases = {
        f"DDP, {len(overlap._buckets)} buckets reduced during backward (overlap)": stepper(overlap, False),
        f"DDP, the same {len(after._buckets)} buckets reduced after backward": stepper(after, True),
        "DDP, 1 bucket reduced after backward": stepper(one_bucket, True),
    }
    solo = stepper(alone, False)
    times: dict[str, list[float]] = {name: [] for name in [*cases, "one process alone, no DDP"]}
    slowest = np.zeros(1)
    names = list(cases)
    for repeat in range(args.steps + 3):  # three rounds warm up
        for name in names[repeat % 3 :] + names[: repeat % 3]:  # the first one rotating
            fn = cases[name]
            comm.Barrier()
            start = time.perf_counter()
            fn()
            slowest[0] = time.perf_counter() - start
            comm.Allreduce(MPI.IN_PLACE, slowest, op=MPI.MAX)
            if repeat >= 3:
                times[name].append(float(slowest[0]))
        comm.Barrier()
        if rank == 0:
            start = time.perf_counter()
            solo()
            if repeat >= 3:
                times["one process alone, no DDP"].append(time.perf_counter() - start)
        idle = comm.Ibarrier()  # the other ranks sleep meanwhile rather than spin in MPI
        while not idle.Test():
            time.sleep(0.0005)
    same = all(
        np.array_equal(p.detach().numpy(), q.detach().numpy())
        for p, q in zip(overlap.parameters(), after.parameters())  # noqa: B905
    )
    if rank != 0:
        return
    nparams = sum(p.numel() for p in alone.parameters())
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"DDP step of the 784-512-512-10 float32 MLP ({nparams:,} parameters, {4 * nparams / 1e6:.1f} MB of "
        f"gradients), batch {args.batch} per rank, {size} ranks, {args.steps} steps per case, interleaved; "
        f"{os.cpu_count()} CPUs, load average {load}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; overlap and after-backward give "
        f"identical weights: {same}\n"
    )
    base = statistics.median(times["one process alone, no DDP"])
    print("| step | median ms | min ms | max ms | weak-scaling efficiency (1 process / this) |")
    print("| --- | --- | --- | --- | --- |")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"| {name} | {1e3 * median:.2f} | {1e3 * min(ts):.2f} | {1e3 * max(ts):.2f} | {base / median:.3f} |")


if __name__ == "__main__":
    main()
