"""DistributedDataParallel in real MPI jobs: ``mpiexec -n 2`` launches of dist_scripts/ddp_*.py
(named checks on every rank, each launch bounded by a timeout; see test_distributed.py), and what
needs no job in this process, which never starts MPI."""

from __future__ import annotations

import pytest
from test_distributed import check_results, launch, needs_mpi

import tensorweaver as tw
import tensorweaver.distributed as dist
from tensorweaver import nn
from tensorweaver.nn.parallel import DistributedDataParallel
from tensorweaver.nn.parallel.distributed import _assign_buckets


@needs_mpi
def test_ddp_on_two_ranks(tmp_path):
    check_results(*launch("ddp_checks.py", str(tmp_path), timeout=90)[:2], ranks=2)


@needs_mpi
def test_ddp_in_one_process_without_mpiexec(tmp_path):
    check_results(*launch("ddp_checks.py", str(tmp_path), n=None, timeout=90)[:2], ranks=1)


@needs_mpi
@pytest.mark.parametrize(
    "mode, says",
    [
        ("raise", "ValueError: the last rank fails on purpose in step 2"),
        ("mismatch", "DistributedDataParallel: the ranks' modules differ (rank 0: 4 parameters (58 elements)"),
    ],
)
def test_a_failing_rank_ends_a_ddp_run_on_every_rank(mode, says):
    status, out, seconds = launch("ddp_failures.py", mode, timeout=60)
    assert status != 0, out
    assert says in out, out
    assert "aborting the job" in out, out
    assert "went past the failure" not in out, out
    if mode == "raise":
        assert "rank 0 finished step 2" not in out, out  # rank 0 waited for the gradients of rank 1
    assert seconds < 30, f"the job took {seconds:.1f} s to stop"


@pytest.mark.gpu
@pytest.mark.skipif(not tw.cuda.is_available(), reason="no CUDA")
@pytest.mark.skipif(not dist.is_nccl_available(), reason="no NCCL in CuPy")
@needs_mpi
def test_ddp_over_nccl_on_cuda(tmp_path):
    ranks = min(2, tw.cuda.device_count())  # one GPU per rank
    args = ("ddp_checks.py", str(tmp_path), "--device", "cuda", "--backend", "nccl")
    check_results(*launch(*args, n=ranks, timeout=120)[:2], ranks=ranks)


def test_buckets_are_assigned_in_reverse_order_by_size_and_dtype():
    ps = [tw.zeros(n, dtype=d) for n, d in [(4, tw.float64), (3, tw.float32), (10, tw.float64), (2, tw.float64)]]
    # reverse order: 2 (16 B), 10 (80 B -> 96 >= 64: closed), then 3 float32 (12 B) and 4 float64 apart
    assert _assign_buckets(ps, 64, 64) == [[3, 2], [1], [0]]
    assert _assign_buckets(ps, 1, 10**9) == [[3], [2, 0], [1]]  # the first bucket's cap is its own


def test_construction_before_init_process_group_raises_pytorchs_error():
    with pytest.raises(RuntimeError, match="^Default process group has not been initialized"):
        DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="nn.Module"):
        DistributedDataParallel(lambda x: x)  # pyright: ignore[reportArgumentType]
