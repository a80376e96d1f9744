"""The NCCL adapter: ``cupy.cuda.nccl`` collectives on CuPy arrays, enqueued on the current stream.
The only module that imports CuPy's NCCL.

One communicator per process, on this rank's GPU; its id is made by ``nccl.get_unique_id()`` on
rank 0 and sent to the others over MPI (as ChainerMN and ``cupyx.distributed`` do). A collective
returns as soon as it is enqueued, as in PyTorch: later work on the same stream sees its result.
A watchdog thread follows the enqueued collectives through CUDA events and stops the job (NCCL
abort, then MPI abort) when one has not completed within the timeout, or when NCCL reports an
asynchronous error.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from .mpi import flat

__all__ = ["NcclComm", "Request", "nccl_available"]

#: ncclAvg appeared in NCCL 2.10
_MIN_VERSION = 21000


def nccl_available() -> bool:
    """True when CuPy imports with its NCCL bindings loaded; never raises."""
    try:
        from cupy.cuda import nccl
    except Exception:  # noqa: BLE001 - no CuPy, no CUDA library, no NCCL: all mean "not available"
        return False
    return bool(getattr(nccl, "available", False))


class Request:
    """An enqueued NCCL collective: a CUDA event recorded after it on the stream it ran on."""

    __slots__ = ("_event", "_cupy")

    def __init__(self, event, cupy) -> None:
        self._event = event
        self._cupy = cupy

    def test(self) -> bool:
        """True when the GPU has finished the collective; never blocks."""
        return bool(self._event.done)

    def wait(self, deadline: float) -> bool:
        """Make the current stream wait for the collective (PyTorch's ``Work.wait`` on CUDA): the host
        does not block; the watchdog enforces the timeout."""
        self._cupy.cuda.get_current_stream().wait_event(self._event)
        return True

    def synchronize(self, deadline: float) -> bool:
        """Block the host until the GPU has finished the collective (True) or the deadline passes (False)."""
        clock = time.monotonic
        while not self._event.done:
            if clock() > deadline:
                return False
            time.sleep(1e-4)  # a GPU wait: no MPI progress to drive, so let the other threads run
        return True


class NcclComm:
    """An NCCL communicator over all ranks, one GPU (``device_index``) per process.

    ``on_failure(message)`` is called from the watchdog thread when a collective has been pending
    longer than ``timeout`` seconds or NCCL reports an error; it must stop the process.
    """

    def __init__(self, mpi, device_index: int, timeout: float, on_failure) -> None:
        import cupy
        from cupy.cuda import nccl as _nccl

        nccl: Any = _nccl  # a Cython module without type stubs: its names are invisible to pyright

        if not getattr(nccl, "available", False):
            raise RuntimeError(
                "backend='nccl' needs NCCL, which CuPy could not load: pip install "
                "'tensorweaver[nccl-cuda12]' (or [nccl-cuda13]), or use backend='mpi'"
            )
        version = nccl.get_version()
        if version < _MIN_VERSION:
            raise RuntimeError(f"backend='nccl' needs NCCL >= 2.10 (for ReduceOp.AVG); this CuPy loaded NCCL {version}")
        self._cupy, self._nccl = cupy, nccl
        self.rank, self.size = mpi.rank, mpi.size
        self.device_index = device_index
        self.device = cupy.cuda.Device(device_index)
        self.device.use()
        uid = nccl.get_unique_id() if mpi.rank == 0 else None
        uid = mpi.bcast_object(uid, 0)  # the one pickled message: the id, never tensor data
        self.comm = nccl.NcclCommunicator(mpi.size, uid, mpi.rank)
        self._ops = {"SUM": nccl.NCCL_SUM, "AVG": nccl.NCCL_AVG, "PRODUCT": nccl.NCCL_PROD}
        self._ops.update(MAX=nccl.NCCL_MAX, MIN=nccl.NCCL_MIN)
        # complex numbers travel as pairs of floats (right for SUM and AVG only); bool as uint8
        self._dtypes = {
            "bool": (nccl.NCCL_UINT8, 1),
            "int8": (nccl.NCCL_INT8, 1),
            "uint8": (nccl.NCCL_UINT8, 1),
            "int32": (nccl.NCCL_INT32, 1),
            "int64": (nccl.NCCL_INT64, 1),
            "float16": (nccl.NCCL_FLOAT16, 1),
            "float32": (nccl.NCCL_FLOAT32, 1),
            "float64": (nccl.NCCL_FLOAT64, 1),
            "complex64": (nccl.NCCL_FLOAT32, 2),
            "complex128": (nccl.NCCL_FLOAT64, 2),
        }
        self._timeout = timeout
        self._on_failure = on_failure
        self._pending: collections.deque = collections.deque()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="tensorweaver-nccl-watchdog", daemon=True)
        self._watchdog.start()

    def unsupported(self, op: str | None, dtype_name: str) -> str | None:
        """Why NCCL cannot run ``op`` (None: no reduction) on ``dtype_name`` tensors, or None if it can."""
        if dtype_name not in self._dtypes:
            return f"NCCL has no {dtype_name} type; convert the tensor (e.g. to int32) or use a CPU tensor over MPI"
        if op is not None and op not in self._ops:
            return f"ReduceOp.{op} is not supported by NCCL (SUM, AVG, PRODUCT, MIN, MAX are)"
        if op not in (None, "SUM", "AVG") and dtype_name.startswith("complex"):
            return f"NCCL reduces complex tensors with SUM and AVG only, not ReduceOp.{op}"
        return None

    # -- internals ---------------------------------------------------------------------------
    def _stream(self) -> int:
        return self._cupy.cuda.get_current_stream().ptr

    def _type(self, a) -> tuple[int, int]:
        dtype, per = self._dtypes[a.dtype.name]
        return dtype, a.size * per

    def _enqueued(self, name: str) -> Request:
        event = self._cupy.cuda.Event(disable_timing=True)
        event.record(self._cupy.cuda.get_current_stream())
        self._pending.append((event, name, time.monotonic()))
        return Request(event, self._cupy)

    def _watch(self) -> None:
        # runs until destroy(): drops completed collectives, stops the job on a late one or an error
        period = min(1.0, max(self._timeout / 10, 0.01))
        with self.device:
            while not self._stop.wait(period):
                pending = self._pending
                while pending and pending[0][0].done:
                    pending.popleft()
                if pending and time.monotonic() - pending[0][2] > self._timeout:
                    _, name, started = pending[0]
                    waited = time.monotonic() - started
                    self._on_failure(
                        f"NCCL {name} enqueued {waited:.1f} s ago has not completed (timeout {self._timeout:.1f} s): "
                        f"another rank has not called it, called a different collective, or has stopped"
                    )
                    return
                try:
                    self.comm.check_async_error()
                except Exception as e:  # noqa: BLE001 - NcclError, whatever its code
                    self._on_failure(f"NCCL reported an error: {type(e).__name__}: {e}")
                    return

    def destroy(self) -> None:
        """Stop the watchdog and free the communicator (it waits for enqueued collectives)."""
        self._stop.set()
        self._watchdog.join()
        self.comm.destroy()

    def abort(self) -> None:
        """``ncclCommAbort``: stop this rank's NCCL kernels without waiting for the peers."""
        self._stop.set()
        self.comm.abort()

    # -- collectives: each enqueues on the current stream and returns a Request ---------------
    def all_reduce(self, a, op: str) -> Request:
        """Reduce ``a`` over all ranks into ``a`` on every rank."""
        buf, copied = flat(a)
        dtype, count = self._type(buf)
        p = buf.data.ptr
        self.comm.allReduce(p, p, count, dtype, self._ops[op], self._stream())
        if copied:
            a[...] = buf.reshape(a.shape)
        return self._enqueued("all_reduce")

    def broadcast(self, a, root: int) -> Request:
        """Copy ``a`` of rank ``root`` into ``a`` on every other rank."""
        buf, copied = flat(a)
        dtype, count = self._type(buf)
        p = buf.data.ptr
        self.comm.broadcast(p, p, count, dtype, root, self._stream())
        if copied and self.rank != root:
            a[...] = buf.reshape(a.shape)
        return self._enqueued("broadcast")

    def reduce(self, a, root: int, op: str) -> Request:
        """Reduce ``a`` over all ranks into ``a`` of rank ``root``; the others' ``a`` is unchanged."""
        buf, copied = flat(a)
        dtype, count = self._type(buf)
        p = buf.data.ptr
        self.comm.reduce(p, p, count, dtype, self._ops[op], root, self._stream())
        if copied and self.rank == root:
            a[...] = buf.reshape(a.shape)
        return self._enqueued("reduce")

    def all_gather(self, send, out) -> Request:
        """Every rank's ``send``, in rank order, into ``out``."""
        sbuf, _ = flat(send)
        obuf, copied = flat(out)
        dtype, count = self._type(sbuf)
        self.comm.allGather(sbuf.data.ptr, obuf.data.ptr, count, dtype, self._stream())
        if copied:
            out[...] = obuf.reshape(out.shape)
        return self._enqueued("all_gather")

    def reduce_scatter(self, send, out, op: str) -> Request:
        """Reduce ``send`` (``size`` blocks) over all ranks; rank r gets block r in ``out``."""
        sbuf, _ = flat(send)
        obuf, copied = flat(out)
        dtype, count = self._type(obuf)
        self.comm.reduceScatter(sbuf.data.ptr, obuf.data.ptr, count, dtype, self._ops[op], self._stream())
        if copied:
            out[...] = obuf.reshape(out.shape)
        return self._enqueued("reduce_scatter")

    def gather(self, send, out, root: int) -> Request:
        """Every rank's ``send`` into ``out`` of rank ``root`` (None elsewhere): grouped send/recv."""
        sbuf, _ = flat(send)
        dtype, count = self._type(sbuf)
        stream = self._stream()
        self._nccl.groupStart()
        if out is not None:
            obuf, copied = flat(out)
            for r in range(self.size):
                self.comm.recv(obuf.data.ptr + r * sbuf.nbytes, count, dtype, r, stream)
        self.comm.send(sbuf.data.ptr, count, dtype, root, stream)
        self._nccl.groupEnd()
        if out is not None and copied:
            out[...] = obuf.reshape(out.shape)
        return self._enqueued("gather")

    def scatter(self, send, out, root: int) -> Request:
        """Block r of ``send`` (rank ``root`` only, None elsewhere) into ``out`` of rank r."""
        obuf, copied = flat(out)
        dtype, count = self._type(obuf)
        stream = self._stream()
        self._nccl.groupStart()
        if send is not None:
            sbuf, _ = flat(send)
            step = obuf.nbytes
            for r in range(self.size):
                self.comm.send(sbuf.data.ptr + r * step, count, dtype, r, stream)
        self.comm.recv(obuf.data.ptr, count, dtype, root, stream)
        self._nccl.groupEnd()
        if copied:
            out[...] = obuf.reshape(out.shape)
        return self._enqueued("scatter")

    def current_work(self) -> Request:
        """An event at the end of everything enqueued so far on the current stream (for barrier)."""
        return self._enqueued("barrier")
