"""The MPI adapter: mpi4py's non-blocking, buffer-protocol collectives on host (NumPy) arrays, and on
CUDA (CuPy) arrays where the MPI library is CUDA-aware. The only module that imports mpi4py.

Every call starts a non-blocking collective (``Iallreduce``, ``Ibcast``, ...) on the array's memory in
place and returns a ``Request``; ``Request.wait(deadline)`` polls ``Test`` until the collective is
done or the deadline has passed, so that a rank whose peers never arrive can stop with a message
instead of hanging. The lower-case (pickling) calls are used once, for the NCCL id at start-up.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["MpiComm", "Request", "load"]

INSTALL_HINT = "pip install 'tensorweaver[mpi]' (mpi4py and the MPICH wheel, which brings mpiexec)"


def load():
    """The ``mpi4py.MPI`` module (importing it initializes MPI); a RuntimeError says how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(f"tensorweaver.distributed needs mpi4py and an MPI library ({e}); {INSTALL_HINT}") from e
    return MPI


def flat(a):
    """``(buffer, copied)``: a flat C-contiguous view of ``a``, or a flat copy when ``a`` is laid out
    otherwise (a transpose, a strided slice); ``copied`` says the result must be written back."""
    if a.flags.c_contiguous:
        return a.reshape(-1), False
    return a.flatten(), True  # flatten copies in C order, whatever the layout


class Request:
    """A started collective. ``test()`` and ``wait(deadline)`` finish it: they run ``after`` (the
    division of an average, the write-back of a staged copy) once, when MPI reports it complete."""

    __slots__ = ("_req", "_after", "keep")

    def __init__(self, req, after=None, keep=None) -> None:
        self._req = req
        self._after = after
        self.keep = keep  # the buffers MPI reads and writes stay alive until the request is done

    def _finish(self) -> None:
        after, self._after, self._req, self.keep = self._after, None, None, None
        if after is not None:
            after()

    def test(self) -> bool:
        """True (and finished) when the collective is complete; never blocks."""
        if self._req is None:
            return True
        if self._req.Test():
            self._finish()
            return True
        return False

    def wait(self, deadline: float) -> bool:
        """Poll until complete (True) or until ``time.monotonic()`` passes ``deadline`` (False).

        NOTE: polling ``Test`` in Python drives MPI's progress as its own blocking wait does; on
        2 ranks it measured the same bandwidth as a blocking ``Allreduce`` (benchmarks/distributed_bench.py).
        """
        req = self._req
        if req is None:
            return True
        test, clock = req.Test, time.monotonic
        while not test():
            if clock() > deadline:
                return False
        self._finish()
        return True


class MpiComm:
    """A duplicate of ``MPI.COMM_WORLD`` (tensorweaver's messages never meet the user's own), with
    this process's rank, the world size, the local rank among the processes of this machine (from
    MPI's shared-memory split) and whether the MPI library takes CUDA memory."""

    def __init__(self) -> None:
        MPI = load()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self.cuda_aware = _cuda_aware(self.comm)
        self.memory_kinds = _memory_kinds(self.comm)
        self.thread_level = MPI.Query_thread()
        self._ops = {
            "SUM": MPI.SUM,
            "AVG": MPI.SUM,
            "PRODUCT": MPI.PROD,
            "MAX": MPI.MAX,
            "MIN": MPI.MIN,
            "BAND": MPI.BAND,
            "BOR": MPI.BOR,
            "BXOR": MPI.BXOR,
        }
        # MPI defines only the logical ops on C bool; the reduce ops allowed on bool tensors map to them
        self._bool_ops = {"MAX": MPI.LOR, "MIN": MPI.LAND, "BOR": MPI.LOR, "BAND": MPI.LAND, "BXOR": MPI.LXOR}

    def _op(self, op: str, a):
        return self._bool_ops[op] if a.dtype.kind == "b" else self._ops[op]

    def free(self) -> None:
        """Release the communicator (``destroy_process_group``); MPI itself stays initialized."""
        self.comm.Free()

    def abort(self, code: int) -> None:
        """``MPI_Abort`` on COMM_WORLD: mpiexec stops every rank of the job."""
        self.MPI.COMM_WORLD.Abort(code)

    # -- collectives: each starts in place on the arrays given and returns a Request -------------
    def all_reduce(self, a, op: str) -> Request:
        """Reduce ``a`` over all ranks into ``a`` on every rank (AVG: the sum divided by the size)."""
        buf, copied = flat(a)
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self._op(op, a))
        return Request(req, self._after(a, buf, copied, op == "AVG"), buf)

    def broadcast(self, a, root: int) -> Request:
        """Copy ``a`` of rank ``root`` into ``a`` on every other rank."""
        buf, copied = flat(a)
        req = self.comm.Ibcast(buf, root=root)
        return Request(req, self._after(a, buf, copied and self.rank != root, False), buf)

    def reduce(self, a, root: int, op: str) -> Request:
        """Reduce ``a`` over all ranks into ``a`` of rank ``root``; the others' ``a`` is unchanged."""
        buf, copied = flat(a)
        if self.rank == root:
            req = self.comm.Ireduce(self.MPI.IN_PLACE, buf, op=self._op(op, a), root=root)
            return Request(req, self._after(a, buf, copied, op == "AVG"), buf)
        return Request(self.comm.Ireduce(buf, None, op=self._op(op, a), root=root), None, buf)

    def all_gather(self, send, out) -> Request:
        """Every rank's ``send``, in rank order, into ``out`` (``size`` times as many elements)."""
        sbuf, _ = flat(send)
        obuf, copied = flat(out)
        req = self.comm.Iallgather(sbuf, obuf)
        return Request(req, self._after(out, obuf, copied, False), (sbuf, obuf))

    def reduce_scatter(self, send, out, op: str) -> Request:
        """Reduce ``send`` (``size`` blocks) over all ranks; rank r gets block r in ``out``."""
        sbuf, _ = flat(send)
        obuf, copied = flat(out)
        req = self.comm.Ireduce_scatter_block(sbuf, obuf, op=self._op(op, send))
        return Request(req, self._after(out, obuf, copied, op == "AVG"), (sbuf, obuf))

    def gather(self, send, out, root: int) -> Request:
        """Every rank's ``send``, in rank order, into ``out`` of rank ``root`` (None elsewhere)."""
        sbuf, _ = flat(send)
        if out is None:
            return Request(self.comm.Igather(sbuf, None, root=root), None, sbuf)
        obuf, copied = flat(out)
        req = self.comm.Igather(sbuf, obuf, root=root)
        return Request(req, self._after(out, obuf, copied, False), (sbuf, obuf))

    def scatter(self, send, out, root: int) -> Request:
        """Block r of ``send`` (given on rank ``root`` only, None elsewhere) into ``out`` of rank r."""
        obuf, copied = flat(out)
        sbuf = None if send is None else flat(send)[0]
        req = self.comm.Iscatter(sbuf, obuf, root=root)
        return Request(req, self._after(out, obuf, copied, False), (sbuf, obuf))

    def barrier(self) -> Request:
        """A non-blocking barrier: complete once every rank has entered it."""
        return Request(self.comm.Ibarrier())

    def allgather_ints(self, values: list[int]) -> tuple[Request, np.ndarray]:
        """Every rank's list of ints (all of one length), as the rows of an int64 array filled when the
        request completes: the fingerprints compared under ``TW_DISTRIBUTED_DEBUG=DETAIL``."""
        mine = np.asarray(values, dtype=np.int64)
        rows = np.empty((self.size, mine.size), dtype=np.int64)
        return Request(self.comm.Iallgather(mine, rows), None, mine), rows

    def bcast_object(self, obj, root: int):
        """A small picklable object of rank ``root`` on every rank (only the NCCL id at start-up)."""
        return self.comm.bcast(obj, root=root)

    def _after(self, a, buf, copied: bool, average: bool):
        if not copied and not average:
            return None
        size = self.size

        def after() -> None:
            if average:
                buf[...] /= size  # in place: NumPy and CuPy alike
            if copied:
                a[...] = buf.reshape(a.shape)

        return after


def _memory_kinds(comm) -> str:
    """The MPI 4.1 memory allocation kinds this MPI supports ('mpi,system', 'cuda:device', ...)."""
    try:
        info = comm.Get_info()
        try:
            return info.Get("mpi_memory_alloc_kinds") or ""
        finally:
            info.Free()
    except Exception:  # noqa: BLE001 - an MPI older than 4.1 has no such key: then no CUDA memory
        return ""


def _cuda_aware(comm) -> bool:
    # MPI 4.1: a CUDA-aware MPI lists 'cuda' (or 'cuda:device') among its memory allocation kinds
    for kind in _memory_kinds(comm).split(","):
        name, _, restrictor = kind.strip().partition(":")
        if name == "cuda" and restrictor in ("", "device"):
            return True
    return False
