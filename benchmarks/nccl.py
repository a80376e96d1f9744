"""NCCL all-reduce through ``tw.distributed`` against ``cupy.cuda.nccl`` called directly, on one buffer.

``python -m benchmarks.nccl --device cuda [--numel 10000000] [--repeats 20]``: alone it is a job of
one rank (one GPU: the GPU check's case, where NCCL's all-reduce is a copy on the device and the
figure is the per-call overhead); under ``mpiexec -n N`` one GPU per rank, by local rank. Each repeat
runs, in turn and after a barrier, a bare ``NcclCommunicator.allReduce`` (its own communicator, made
here as ``tw.distributed`` makes its own: a unique id from rank 0 over MPI) and
``dist.all_reduce(t)`` on a tensor whose CuPy array is that buffer; a call's time runs from the
barrier to the end of a stream synchronize, the slowest rank's. Rank 0 prints a Markdown table of
medians and bandwidths as nccl-tests defines them (algbw = bytes / time, busbw = algbw * 2 (n - 1) /
n), and each call's bandwidth against the bare call's (issue 12: >= 0.9x). Without CUDA or NCCL it
says so and exits 1. It has not yet run on a GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import tensorweaver as tw

from .distributed_bench import print_bandwidth_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--device", default="cuda", choices=["cuda"], help="cuda (NCCL runs on GPUs only)")
    parser.add_argument("--numel", type=int, default=10_000_000, help="float32 elements (default: 40 MB)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    import tensorweaver.distributed as dist

    why = None if tw.cuda.is_available() else "no usable CUDA device"
    if why is None and not dist.is_nccl_available():
        why = "CuPy's NCCL bindings did not load (pip install 'tensorweaver[nccl-cuda12]' or [nccl-cuda13])"
    if why is not None:
        print(f"benchmarks.nccl: {why}; nothing measured", file=sys.stderr)
        return 1
    dist.init_process_group("nccl")
    rank, size = dist.get_rank(), dist.get_world_size()
    device = tw.device("cuda", dist.get_node_local_rank())
    tw.cuda.set_device(device)

    import cupy
    from cupy.cuda import nccl as _nccl
    from mpi4py import MPI  # started by init_process_group

    nccl: Any = _nccl  # a Cython module without type stubs
    comm = MPI.COMM_WORLD
    # the bare baseline's own communicator (NcclCommunicator(ndev, commId, rank), documented)
    bare_comm = nccl.NcclCommunicator(size, comm.bcast(nccl.get_unique_id() if rank == 0 else None, root=0), rank)
    t = tw.ones(args.numel, dtype=tw.float32, device=device)
    a = t.array  # the CuPy array both calls reduce in place
    stream = cupy.cuda.get_current_stream()

    def bare() -> None:
        bare_comm.allReduce(a.data.ptr, a.data.ptr, a.size, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, stream.ptr)

    def tensorweaver() -> None:
        dist.all_reduce(t)

    cases = {"cupy.cuda.nccl allReduce (bare)": bare, "tw.distributed.all_reduce": tensorweaver}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for repeat in range(args.repeats + 1):  # the first round warms up
        for name, fn in cases.items():
            a.fill(1.0)  # the sums stay finite; outside the timing
            stream.synchronize()
            comm.Barrier()
            start = time.perf_counter()
            fn()
            stream.synchronize()
            elapsed = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
            if repeat:
                times[name].append(elapsed)
    ok = bool((a == size).all())  # a device reduction, then one bool to the host
    bare_comm.destroy()
    dist.destroy_process_group()
    if rank != 0:
        return 0

    print(
        f"NCCL all-reduce (SUM) of {args.numel:,} float32 ({a.nbytes / 1e6:.0f} MB) on {size} rank(s), "
        f"{args.repeats} repeats, interleaved; NCCL {nccl.get_version()}; results correct: {ok}\n"
    )
    print_bandwidth_table(times, "cupy.cuda.nccl allReduce (bare)", a.nbytes, size)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
