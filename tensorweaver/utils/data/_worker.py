"""What runs in a DataLoader worker process: seeding, ``get_worker_info()``, the fetch loop, and the
wrapper that carries a worker's exception (with its traceback) back to the main process."""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from ... import random as _random
from ...backends.numpy import seed_global_numpy

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper"]

#: how often (seconds) a worker waiting for work checks that its parent is still alive
POLL_S = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker: its ``id`` (0 .. num_workers-1), ``num_workers``, its ``seed`` and its copy of
    the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The ``WorkerInfo`` of the DataLoader worker this runs in; None in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker, with its formatted traceback, re-raised in the main process."""

    def __init__(self, where: str) -> None:
        exc_type, exc, tb = sys.exc_info()
        assert exc_type is not None, "ExceptionWrapper is made in an except block"
        self.exc_type: type[BaseException] = exc_type
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where

    def reraise(self):
        """Raise the worker's exception type here, its message naming the worker and its traceback."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            raise KeyError(_KeyErrorMessage(msg))
        try:
            exc = self.exc_type(msg)
        except Exception:  # noqa: BLE001 - an exception class whose constructor wants more than a message
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    # KeyError quotes its message when printed; this keeps the traceback readable
    def __repr__(self) -> str:
        return str(self)


class ResumeIteration:
    """Sent to persistent workers at the start of each new epoch; echoed back once they are ready."""


@dataclass(frozen=True)
class IterableStop:
    """A worker's iterable dataset is exhausted."""

    worker_id: int


def worker_loop(fetcher, index_queue, result_queue, done_event, base_seed, init_fn, worker_id, num_workers):
    """Serve ``(task_id, indices)`` from ``index_queue`` until None arrives (or the parent dies),
    putting ``(task_id, batch or ExceptionWrapper)`` on ``result_queue``, in the order received."""
    global _worker_info
    seed = base_seed + worker_id
    random.seed(seed)
    _random.manual_seed(seed)
    seed_global_numpy(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    parent = os.getppid()
    where = f"in DataLoader worker process {worker_id}"
    init_error = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        fetcher.start()
    except Exception:  # noqa: BLE001 - reported to the main process with the first batch asked for
        init_error = ExceptionWrapper(where)
    ended = False
    while True:
        try:
            task = index_queue.get(timeout=POLL_S)
        except queue.Empty:
            if os.getppid() != parent:
                break  # the main process is gone
            continue
        if task is None:
            break
        if isinstance(task, ResumeIteration):
            ended = False
            try:
                fetcher.start()
            except Exception:  # noqa: BLE001
                init_error = ExceptionWrapper(where)
            result_queue.put((task, None))
            continue
        if done_event.is_set() or ended:
            continue
        task_id, indices = task
        data: Any
        if init_error is not None:
            data, init_error = init_error, None
        else:
            try:
                data = fetcher.fetch(indices)
            except StopIteration:
                data, ended = IterableStop(worker_id), True
            except Exception:  # noqa: BLE001 - every error goes back to the main process
                data = ExceptionWrapper(where)
        result_queue.put((task_id, data))
    if done_event.is_set():
        result_queue.cancel_join_thread()
        result_queue.close()
