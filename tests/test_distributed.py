"""tw.distributed and DistributedSampler.

Collectives run in real MPI jobs: a few ``mpiexec -n 2`` launches of the scripts in dist_scripts/,
each running many named checks on every rank (a launch costs about a second), each bounded by a
timeout; skipped without mpi4py or mpiexec. Everything that needs no job runs in this process, which
never starts MPI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

import tensorweaver as tw
import tensorweaver.distributed as dist
from tensorweaver.utils.data.distributed import DistributedSampler

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "dist_scripts"


def _mpiexec() -> str | None:
    # the MPICH wheel puts mpiexec beside the interpreter of the environment it is installed in
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(
    not dist.is_mpi_available() or MPIEXEC is None,
    reason="needs mpi4py and mpiexec: pip install 'tensorweaver[mpi]'",
)


def launch(*args: str, n: int | None = 2, timeout: float = 60) -> tuple[int, str, float]:
    """Run a script of dist_scripts/ under ``mpiexec -n n`` (or alone, n=None): (status, output, seconds).

    The job runs in its own session, so that a timeout kills mpiexec and every rank it started."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("TW_DISTRIBUTED_DEBUG", None)
    script = [sys.executable, str(SCRIPTS / args[0]), *args[1:]]
    cmd = script if n is None else [MPIEXEC, "-n", str(n), *script]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} still ran after {timeout} s (killed); output:\n{out[-4000:]}")
    return proc.returncode, out, time.monotonic() - start


def check_results(status: int, out: str, ranks: int) -> None:
    """Every check passed on every rank: else fail naming the checks that did not."""
    results = re.findall(r"RESULT (\d+) (\S+) (PASS|FAIL)([^\n]*?)(?=RESULT|\n|$)", out)
    by_name: dict[str, list] = {}
    for rank, name, verdict, why in results:
        by_name.setdefault(name, []).append((int(rank), verdict, why.strip()))
    failed = [
        f"{name} (rank {r}): {why}" for name, rs in by_name.items() for r, verdict, why in rs if verdict == "FAIL"
    ]
    missing = [name for name, rs in by_name.items() if sorted(r for r, _, _ in rs) != list(range(ranks))]
    if failed or missing or status != 0 or not by_name:
        pytest.fail(f"exit status {status}; failed: {failed}; not reported by every rank: {missing}\n{out[-6000:]}")


# -- jobs --------------------------------------------------------------------------------------------
@needs_mpi
def test_collectives_on_two_ranks():
    check_results(*launch("checks.py")[:2], ranks=2)


@needs_mpi
def test_collectives_in_one_process_without_mpiexec():
    check_results(*launch("checks.py", n=None)[:2], ranks=1)


@needs_mpi
@pytest.mark.parametrize(
    "mode, says",
    [
        ("raise", "raised ValueError (traceback above) after init_process_group; aborting the job"),
        ("late", "all_reduce did not complete within 0:00:01"),
    ],
)
def test_a_failing_rank_stops_every_rank(mode, says):
    status, out, seconds = launch("failures.py", mode, timeout=60)
    assert status != 0, out
    assert says in out, out
    if mode == "raise":
        assert "ValueError: the last rank fails on purpose" in out  # its own traceback comes first
    assert "went past the collective" not in out, out
    assert seconds < 30, f"the job took {seconds:.1f} s to stop"


@pytest.mark.gpu
@pytest.mark.skipif(not tw.cuda.is_available(), reason="no CUDA")
@pytest.mark.skipif(not dist.is_nccl_available(), reason="no NCCL in CuPy")
@needs_mpi
def test_nccl_collectives_on_cuda_tensors():
    ranks = min(2, tw.cuda.device_count())  # one GPU per rank
    check_results(*launch("checks.py", "--device", "cuda", "--backend", "nccl", n=ranks, timeout=120)[:2], ranks=ranks)


@pytest.mark.gpu
@pytest.mark.skipif(not tw.cuda.is_available(), reason="no CUDA")
@needs_mpi
def test_mpi_backend_with_cuda_tensors():
    # CUDA tensors go over MPI only where it is CUDA-aware; otherwise every check on them raises
    # the error that names backend='nccl' (the checks then fail, so run only what applies)
    code = (
        "import tensorweaver as tw, tensorweaver.distributed as dist\n"
        "dist.init_process_group('mpi')\n"
        "t = tw.ones(3, device='cuda')\n"
        "try:\n    dist.all_reduce(t); print('REDUCED', t.tolist())\n"
        "except RuntimeError as e:\n    print('REFUSED', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    assert "REDUCED [1.0, 1.0, 1.0]" in out or ("REFUSED" in out and "backend='nccl'" in out), out


# -- without a job -------------------------------------------------------------------------------------
def test_import_loads_neither_mpi4py_nor_cupy():
    code = (
        "import sys, tensorweaver, tensorweaver.distributed, tensorweaver.utils.data.distributed\n"
        "loaded = sorted(m for m in ('mpi4py', 'mpi4py.MPI', 'cupy') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
        "assert tensorweaver.distributed is tensorweaver.utils.data.distributed._dist"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_every_call_before_init_process_group_raises_pytorchs_error():
    assert not dist.is_initialized()
    t = tw.ones(3)
    calls = [
        dist.get_rank,
        dist.get_world_size,
        dist.get_backend,
        dist.barrier,
        dist.destroy_process_group,
        lambda: dist.all_reduce(t),
        lambda: dist.broadcast(t, 0),
        lambda: dist.reduce(t, 0),
        lambda: dist.all_gather([t], t),
        lambda: dist.all_gather_into_tensor(t, t),
        lambda: dist.reduce_scatter(t, [t]),
        lambda: dist.reduce_scatter_tensor(t, t),
        lambda: dist.gather(t),
        lambda: dist.scatter(t),
    ]
    for call in calls:
        for exc in (RuntimeError, ValueError):  # PyTorch raises ValueError; both are caught
            with pytest.raises(exc, match="^Default process group has not been initialized, please make sure to call"):
                call()
    assert t.tolist() == [1.0, 1.0, 1.0]
    assert "mpi4py.MPI" not in sys.modules


def test_init_process_group_checks_its_arguments_before_starting_mpi():
    with pytest.raises(ValueError, match="'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="rendezvous"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")
    with pytest.raises(ValueError, match="timedelta"):
        dist.init_process_group("mpi", timeout=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="timedelta"):
        dist.init_process_group("mpi", timeout=30)
    assert not dist.is_initialized() and "mpi4py.MPI" not in sys.modules


def test_availability_and_defaults():
    assert dist.is_available() is dist.is_mpi_available()
    assert isinstance(dist.is_nccl_available(), bool)
    assert dist.default_pg_timeout == timedelta(minutes=30)
    assert dist.default_pg_nccl_timeout == timedelta(minutes=10)
    assert dist.get_node_local_rank(fallback_rank=3) == 3 or "LOCAL_RANK" in os.environ
    assert [op.name for op in dist.ReduceOp] == ["SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"]


# -- DistributedSampler ----------------------------------------------------------------------------------
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_partitions_and_pads_as_pytorch(drop_last):
    torch_data = pytest.importorskip("torch.utils.data.distributed")
    for n in (0, 1, 2, 5, 10, 11, 17, 64):
        for replicas in (1, 2, 3, 4, 7):
            for rank in range(replicas):
                ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
                theirs = torch_data.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
                assert list(ours) == list(theirs), (n, replicas, rank)
                assert len(ours) == len(theirs) == len(list(ours)), (n, replicas, rank)
                assert (ours.num_samples, ours.total_size) == (theirs.num_samples, theirs.total_size)


@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shuffles_disjointly_per_epoch_and_seed(drop_last):
    n, replicas = 103, 4

    def shares(seed, epoch):
        out = []
        for rank in range(replicas):
            s = DistributedSampler(range(n), replicas, rank, shuffle=True, seed=seed, drop_last=drop_last)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    for epoch in (0, 1, 2):
        parts = shares(5, epoch)
        flat = [i for p in parts for i in p]
        assert len({len(p) for p in parts}) == 1
        if drop_last:
            assert len(flat) == len(set(flat)) == (n // replicas) * replicas  # disjoint, the tail dropped
        else:
            assert set(flat) == set(range(n)) and len(flat) == 104  # all covered; one index padded twice
            assert len(flat) - len(set(flat)) == 1
        assert parts == shares(5, epoch)  # deterministic per (seed, epoch)
    assert shares(5, 0) != shares(5, 1)  # reshuffled each epoch
    assert shares(5, 0) != shares(6, 0)  # and per seed
    assert sorted(DistributedSampler(range(n), replicas, 0, shuffle=False)) != sorted(shares(5, 0)[0])


def test_sampler_leaves_the_global_generators_alone():
    tw.manual_seed(0)
    a = tw.rand(3).tolist()
    tw.manual_seed(0)
    list(DistributedSampler(range(50), 2, 0, seed=3))
    assert tw.rand(3).tolist() == a


def test_sampler_checks_its_arguments():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="Invalid rank -1"):
        DistributedSampler(range(4), num_replicas=2, rank=-1)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(RuntimeError):  # the world size comes from a process group, which there is not
        DistributedSampler(range(4))
