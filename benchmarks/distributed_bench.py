"""The all-reduce of tw.distributed against a bare mpi4py ``Allreduce``, on the same buffer:
``mpiexec -n 2 python -m benchmarks.distributed_bench [--numel 10000000] [--repeats 15]``.

Each repeat runs, in turn and after a barrier, mpi4py's blocking ``Allreduce(IN_PLACE, a)`` on a
float32 NumPy array, ``dist.all_reduce(t)`` on a tensor sharing that array (``tw.from_numpy``), and
``dist.all_reduce(t, async_op=True).wait()``; a call's time is the slowest rank's. Rank 0 prints a
Markdown table of medians (min, max), bandwidths as nccl-tests defines them (algbw = bytes / time,
busbw = algbw * 2 (n - 1) / n) and the ratio of bandwidths to the bare call (target >= 0.9).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numel", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    dist.init_process_group("mpi")
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
    dist.destroy_process_group()
    if rank != 0:
        return

    nbytes = a.nbytes
    bare_median = statistics.median(times["mpi4py Allreduce (bare)"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"All-reduce (SUM) of {args.numel:,} float32 ({nbytes / 1e6:.0f} MB) on {size} ranks, {args.repeats} "
        f"repeats, interleaved; {os.cpu_count()} CPUs, load average {load}; MPI: "
        f"{MPI.Get_library_version().splitlines()[0].strip()}; results correct: {ok}\n"
    )
    print("| call | median ms | min ms | max ms | algbw GB/s | busbw GB/s | bandwidth vs bare |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, ts in times.items():
        median = statistics.median(ts)
        algbw = nbytes / median / 1e9
        busbw = algbw * 2 * (size - 1) / size
        print(
            f"| {name} | {1e3 * median:.1f} | {1e3 * min(ts):.1f} | {1e3 * max(ts):.1f} | {algbw:.2f} | "
            f"{busbw:.2f} | {bare_median / median:.3f}x |"
        )


if __name__ == "__main__":
    main()
