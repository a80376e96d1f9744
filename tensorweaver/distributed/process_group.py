"""The default process group: start-up over MPI, the queries (rank, world size, backend), the work
handles of asynchronous collectives, and how a failing or late rank stops the whole job.

Failure handling, as the user sees it:

- a rank that ends with an uncaught exception after ``init_process_group`` prints its traceback,
  then ``tensorweaver.distributed: rank R of N raised ...; aborting the job`` and calls
  ``MPI_Abort``: mpiexec stops every other rank (exit status non-zero), wherever they wait;
- a collective that waits longer than the ``timeout`` of ``init_process_group`` prints
  ``tensorweaver.distributed: rank R of N: all_reduce did not complete within 0:00:05 ...`` with
  the call's stack, then calls ``MPI_Abort`` the same way. NCCL collectives are followed by a
  watchdog thread, which does the same when one has not completed on the GPU in time.
"""

from __future__ import annotations

import enum
import os
import sys
import time
import traceback
from datetime import timedelta

from .. import backends as _backends
from .. import cuda as _cuda

__all__ = [
    "ReduceOp",
    "Work",
    "init_process_group",
    "destroy_process_group",
    "is_available",
    "is_mpi_available",
    "is_nccl_available",
    "is_initialized",
    "get_rank",
    "get_world_size",
    "get_backend",
    "get_node_local_rank",
]

#: PyTorch's defaults: 30 minutes, and 10 for NCCL
default_pg_timeout = timedelta(minutes=30)
default_pg_nccl_timeout = timedelta(minutes=10)

_NOT_INITIALIZED = "Default process group has not been initialized, please make sure to call init_process_group."


class DistNotInitializedError(RuntimeError, ValueError):
    """A collective or query before ``init_process_group`` (or after ``destroy_process_group``).

    PyTorch raises ValueError here; this class is both a RuntimeError and a ValueError, so that code
    catching either works."""


class ReduceOp(enum.Enum):
    """How ``all_reduce``, ``reduce`` and ``reduce_scatter`` combine the ranks' values.

    SUM, AVG (floating-point and complex tensors), PRODUCT, MIN, MAX (not complex); BAND, BOR,
    BXOR for integer and bool tensors (MPI only). On bool tensors MAX is a logical or, MIN a
    logical and.
    """

    SUM = "SUM"
    AVG = "AVG"
    PRODUCT = "PRODUCT"
    MIN = "MIN"
    MAX = "MAX"
    BAND = "BAND"
    BOR = "BOR"
    BXOR = "BXOR"


def is_mpi_available() -> bool:
    """True when mpi4py is installed; checks without importing it (which would start MPI)."""
    from importlib.util import find_spec

    return find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    """True when CuPy and its NCCL bindings load here (imports CuPy); never raises."""
    from .nccl import nccl_available

    return nccl_available()


def is_available() -> bool:
    """True when ``tw.distributed`` can run here: every backend starts over MPI, so mpi4py must be installed."""
    return is_mpi_available()


class _ProcessGroup:
    """All ranks of the job: the MPI communicator, the NCCL one (backend 'nccl'), the timeout."""

    def __init__(self, backend: str, timeout: timedelta, device_id) -> None:
        from .mpi import MpiComm

        self.backend = backend
        self.timeout = timeout
        self.timeout_s = timeout.total_seconds()
        self.debug = os.environ.get("TW_DISTRIBUTED_DEBUG", "").upper() == "DETAIL"
        self.mpi = MpiComm()
        self.rank, self.size = self.mpi.rank, self.mpi.size
        self.nccl = None
        self.cuda_index = None
        if backend == "nccl":
            from .nccl import NcclComm

            self.cuda_index = self._pick_gpu(device_id)
            self.nccl = NcclComm(self.mpi, self.cuda_index, self.timeout_s, self.abort)
        elif device_id is not None:
            self.cuda_index = _cuda_index(device_id)
            _cuda.set_device(self.cuda_index)
        self._previous_hook = sys.excepthook
        sys.excepthook = self._excepthook

    def _pick_gpu(self, device_id) -> int:
        if device_id is not None:
            return _cuda_index(device_id)
        n = _cuda.device_count()
        if n == 0:
            ok, why = _cuda.availability()
            raise RuntimeError(
                f"backend='nccl' needs a CUDA GPU on every rank: {why}; use backend='mpi' for CPU tensors"
            )
        return self.mpi.local_rank % n  # one GPU per rank, by local rank

    def abort(self, message: str) -> None:
        """Print ``message`` (naming this rank) to stderr and stop every rank of the job (MPI_Abort)."""
        try:
            sys.stdout.flush()
        finally:
            sys.stderr.write(f"tensorweaver.distributed: rank {self.rank} of {self.size}: {message}\n")
            sys.stderr.flush()
            # NOTE: MPI_Abort stops the launcher's forwarding of output at once: on a loaded machine
            # CI saw a job end with only the first line of the traceback. Give mpiexec a moment to
            # deliver what this rank has written.
            time.sleep(0.5)
            if self.nccl is not None:
                try:
                    self.nccl.abort()
                except Exception:  # noqa: BLE001, S110 - stopping anyway; MPI_Abort follows
                    pass
            self.mpi.abort(1)
            # NOTE: MPICH's MPI_Abort can return before the launcher has stopped the job; this rank
            # must not go on (and its non-zero exit makes mpiexec stop the others in any case)
            os._exit(1)

    def _excepthook(self, exc_type, exc, tb) -> None:
        self._previous_hook(exc_type, exc, tb)
        self.abort(
            f"raised {exc_type.__name__} (traceback above) after init_process_group; aborting the job so "
            f"that the other ranks do not wait for it"
        )

    def wait(self, request, what: str, timeout: timedelta | None = None) -> None:
        """Finish ``request`` or stop the job with a message once the timeout has passed."""
        seconds = self.timeout_s if timeout is None else timeout.total_seconds()
        if not request.wait(time.monotonic() + seconds):
            stack = "".join(traceback.format_stack()[:-3])
            self.abort(
                f"{what} did not complete within {timedelta(seconds=seconds)} (the timeout of init_process_group): "
                f"another rank has not called it, called a different collective, or has stopped. Called from:\n{stack}"
            )

    def destroy(self) -> None:
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook
        if self.nccl is not None:
            self.nccl.destroy()
        self.mpi.free()


_group: _ProcessGroup | None = None


def _default() -> _ProcessGroup:
    """The default group; the error PyTorch gives when there is none."""
    if _group is None:
        raise DistNotInitializedError(_NOT_INITIALIZED)
    return _group


def _check_group(group) -> _ProcessGroup:
    if group is not None:
        raise ValueError(
            f"group={group!r}: tensorweaver.distributed has one process group, the default one over all ranks; "
            f"pass group=None"
        )
    return _default()


def _cuda_index(device_id) -> int:
    if isinstance(device_id, int):
        return device_id
    dev = _backends.device(device_id) if not isinstance(device_id, _backends.device) else device_id
    if dev.type != "cuda":
        raise ValueError(f"device_id must be a CUDA device (an int, 'cuda:N' or tw.device), got {device_id!r}")
    return dev.index or 0


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    device_id=None,
) -> None:
    """Join the job started by the MPI launcher (``mpiexec -n 4 python train.py``) as one rank of it.

    ``backend``: ``"mpi"`` (CPU tensors; CUDA tensors too where MPI is CUDA-aware) or ``"nccl"``
    (CUDA tensors over NCCL, one GPU per rank: ``device_id``, else the local rank among this
    machine's processes modulo its GPU count; CPU tensors still go over MPI). None picks
    ``"nccl"`` when CUDA and NCCL are usable here, else ``"mpi"``. The rank and the world size
    come from the launcher; ``world_size``/``rank``, when given, must agree with it. The rendezvous
    is MPI's own, so ``init_method`` may only be None or ``"env://"``. ``timeout`` (default 30
    minutes, 10 for NCCL) bounds how long any collective may wait before the job is aborted.
    Set ``TW_DISTRIBUTED_DEBUG=DETAIL`` to check, before every collective, that all ranks call the
    same one on tensors of the same shape and dtype (one extra small message each).

    A process started without mpiexec is a job of one rank.
    """
    global _group
    if _group is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if backend is None:
        backend = "nccl" if _cuda.is_available() and is_nccl_available() else "mpi"
    if not isinstance(backend, str) or backend.lower() not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group(): backend must be 'mpi' or 'nccl', got {backend!r}")
    backend = backend.lower()
    if init_method not in (None, "env://"):
        raise ValueError(
            f"init_method={init_method!r}: the MPI launcher is the rendezvous (mpiexec -n N python script.py); "
            f"pass init_method=None"
        )
    if timeout is None:
        timeout = default_pg_nccl_timeout if backend == "nccl" else default_pg_timeout
    if not isinstance(timeout, timedelta) or timeout.total_seconds() <= 0:
        raise ValueError(f"init_process_group(): timeout must be a positive datetime.timedelta, got {timeout!r}")
    group = _ProcessGroup(backend, timeout, device_id)
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given not in (-1, actual):
            group.destroy()
            raise ValueError(
                f"init_process_group({name}={given}): the MPI launcher made this process rank {group.rank} of "
                f"{group.size}; leave {name} at -1 (mpiexec -n sets the world size)"
            )
    _group = group


def destroy_process_group(group=None) -> None:
    """Leave the process group (free its communicators, stop the NCCL watchdog, restore
    ``sys.excepthook``); ``init_process_group`` may be called again afterwards."""
    global _group
    pg = _check_group(group)
    _group = None
    pg.destroy()


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _group is not None


def get_rank(group=None) -> int:
    """This process's rank, 0 .. world size - 1."""
    return _check_group(group).rank


def get_world_size(group=None) -> int:
    """The number of ranks (processes) in the job."""
    return _check_group(group).size


def get_backend(group=None) -> str:
    """``"mpi"`` or ``"nccl"``: the backend given to ``init_process_group``."""
    return _check_group(group).backend


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """This process's rank among the processes on its machine: MPI's shared-memory split after
    ``init_process_group``, else the ``LOCAL_RANK`` environment variable, else ``fallback_rank``."""
    if _group is not None:
        return _group.mpi.local_rank
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError(
        "LOCAL_RANK is not in the environment and the process group is not initialized; call "
        "init_process_group() first or pass fallback_rank"
    )


class Work:
    """The handle of a collective started with ``async_op=True``.

    ``wait()`` finishes it: over MPI it blocks until the collective is complete (at most the
    group's timeout, or ``timeout``, after which the job is aborted); for NCCL it makes the current
    CUDA stream wait for it, without blocking the host (the watchdog enforces the group's timeout).
    ``is_completed()`` never blocks. The tensors given to the collective must not be read or changed
    before ``wait()`` returns.
    """

    __slots__ = ("_group", "_request", "_after", "_what", "_outputs", "_done")

    def __init__(self, group: _ProcessGroup, request, what: str, outputs: list, after=None) -> None:
        self._group = group
        self._request = request
        self._after = after  # copies into output lists, once the collective is complete
        self._what = what
        self._outputs = outputs
        self._done = False

    def _finish(self) -> None:
        self._done = True
        after, self._after = self._after, None
        if after is not None:
            after()

    def is_completed(self) -> bool:
        """True once the collective has completed (on the GPU, for NCCL); never blocks."""
        if not self._done and self._request.test():
            self._finish()
        return self._done

    def wait(self, timeout: timedelta | None = None) -> bool:
        """Finish the collective (see the class); returns True."""
        if not self._done:
            self._group.wait(self._request, self._what, timeout)
            self._finish()
        return True

    def result(self) -> list:
        """The tensors the collective writes (after ``wait()``)."""
        return list(self._outputs)
