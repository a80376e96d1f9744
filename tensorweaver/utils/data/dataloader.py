"""``DataLoader``: batches of a dataset in a sampler's order, in this process or in background worker
processes (``num_workers > 0``) that keep the order, as in ``torch.utils.data``."""

from __future__ import annotations

import itertools
import queue
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ... import _dtypes
from ... import random as _random
from ..._args import check_index_range
from ...factories import randint
from ...ops.shape import take_along
from ...tensor import Tensor
from . import _worker
from ._collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]

get_worker_info = _worker.get_worker_info

#: how long (seconds) the main process waits for a batch before it checks that the workers are alive
_POLL_S = 5.0


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(ds, batch_size=64, shuffle=True): ...``.

    As in PyTorch: ``batch_size`` (None: no batching, each sample goes through ``collate_fn``, by
    default ``default_convert``), ``shuffle`` (a ``RandomSampler`` drawing from ``generator``, or
    from the CPU's default generator so that ``tw.manual_seed`` makes the order repeatable),
    ``sampler`` / ``batch_sampler`` (exclusive with shuffle / with batch_size, shuffle, sampler and
    drop_last), ``drop_last``, ``collate_fn`` (``default_collate``).

    ``num_workers > 0`` loads batches in that many worker processes (``multiprocessing_context``,
    the platform's default start method unless given), ``prefetch_factor`` batches ahead per worker,
    delivered in the sampler's order. Each worker seeds ``random``, NumPy's global generator and
    tensorweaver's default generators with ``base_seed + worker_id`` (``base_seed`` drawn from
    ``generator`` at each ``iter()``), then calls ``worker_init_fn(worker_id)``. A worker's exception
    is raised in the main process with the worker's id and original traceback; ``timeout`` (seconds,
    0 = none) bounds the wait for a batch; ``persistent_workers`` keeps the workers between epochs.
    ``pin_memory`` is accepted and does nothing (tensorweaver has no pinned host memory).

    A ``TensorDataset`` (or a ``Subset`` of one) with the default collation is batched by one
    gather (``index_select``) per tensor instead of indexing and stacking each sample; for the sequential and
    random samplers the epoch's order is one index tensor, moved once per epoch to the dataset's
    device, so batches of a dataset on a device make no host copies.
    """

    _initialized = False

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler | Iterable | None = None,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 to "
                "enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got "
                    f"batch_sampler={batch_sampler}"
                )
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None and not iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # type: ignore[arg-type]
        elif batch_size is not None and iterable:
            BatchSampler([], batch_size, drop_last)  # the same checks of batch_size and drop_last
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else default_convert)
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        self._iterator: _MultiProcessIter | None = None
        self._initialized = True

    def __setattr__(self, name: str, value) -> None:
        if self._initialized and name in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset"):
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (
            isinstance(self.dataset, IterableDataset) and self.batch_size is not None
        )

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def _index_batches(self, to_device: bool) -> Iterator:
        """This epoch's indices, one item per batch (per sample without batching); for the iterable
        datasets, None forever (the workers' iterators decide when the epoch ends)."""
        if isinstance(self.dataset, IterableDataset):
            return itertools.repeat(None)
        bs: Any = self._index_sampler
        if self.collate_fn is default_collate and type(bs) is BatchSampler and _tensor_source(self.dataset):
            batches = bs._tensor_batches(_data_device(self.dataset) if to_device else None)
            if batches is not None:
                return batches
        return iter(bs)

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if self.persistent_workers:
            if self._iterator is None:
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator._reset()
            return self._iterator
        return _MultiProcessIter(self)

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)  # type: ignore[arg-type]


# -- fetching a batch ----------------------------------------------------------------------------
def _plain_tensor_dataset(ds) -> bool:
    return isinstance(ds, TensorDataset) and type(ds).__getitem__ is TensorDataset.__getitem__


def _tensor_source(ds) -> bool:
    """A TensorDataset, or a Subset of one: batches are gathered, not stacked."""
    return _plain_tensor_dataset(ds) or (type(ds) is Subset and _plain_tensor_dataset(ds.dataset))


def _data_device(ds):
    """The one device of a tensor dataset's tensors, or None (the CPU, or several devices)."""
    source: Any = ds.dataset if type(ds) is Subset else ds
    tensors = source.tensors
    devices = {t._backend for t in tensors}
    if len(devices) != 1:
        return None
    (b,) = devices
    return None if b.device == "cpu" else b.device


class _MapFetcher:
    """Samples of a map-style dataset at the given indices, collated."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.gather = _TensorGather(dataset) if auto_collation and collate_fn is default_collate else None
        if self.gather is not None and self.gather.tensors is None:
            self.gather = None

    def start(self) -> None:
        pass

    def fetch(self, indices):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[indices])
        if self.gather is not None:
            batch = self.gather(indices)
            if batch is not None:
                return batch
        if isinstance(indices, Tensor):
            indices = indices.tolist()
        getitems = getattr(self.dataset, "__getitems__", None)
        data = getitems(indices) if callable(getitems) else [self.dataset[i] for i in indices]
        return self.collate_fn(data)


class _TensorGather:
    """``default_collate([ds[i] for i in indices])`` for a TensorDataset (or a Subset of one), as
    one gather per tensor after one range check of the batch's indices (the fast path of the
    DataLoader's benchmark)."""

    def __init__(self, ds: Any) -> None:
        self.tensors = None
        self.subset = None
        if _plain_tensor_dataset(ds):
            self.tensors = ds.tensors
        elif type(ds) is Subset and _plain_tensor_dataset(ds.dataset):
            base: Any = ds.dataset
            n = len(base)
            picked = ds.indices.tolist() if isinstance(ds.indices, Tensor) else list(ds.indices)
            if all(isinstance(i, int) and 0 <= i < n for i in picked):
                device = _data_device(ds)
                self.subset = Tensor(picked, dtype=_dtypes.int64, device=device)
                self.tensors = base.tensors
        self.n = (
            0 if self.tensors is None else self.tensors[0].shape[0] if self.subset is None else self.subset.shape[0]
        )

    def __call__(self, indices) -> list | None:
        if not isinstance(indices, Tensor):
            # a user's batch sampler: negative or out-of-range indices take the general path (and its errors)
            if not indices or not all(isinstance(i, int) and 0 <= i < self.n for i in indices):
                return None
            indices = Tensor(indices, dtype=_dtypes.int64)
        else:
            # NOTE: a slice of the sampler's int64 order (BatchSampler._slices), checked once for all
            # the tensors here (they share their first dimension) and taken without index_select's
            # checks: those were ~1/3 of the DataLoader's time over the loop it replaces (data_bench)
            n = self.n
            check_index_range(
                indices._backend,
                indices._data,
                n,
                "DataLoader",
                error=lambda v: IndexError(f"DataLoader: sampler index {v} is out of range for a dataset of {n}"),
            )
        if self.subset is not None:  # its entries are in range (__init__)
            indices = take_along(self.subset, _on(indices, self.subset)._data, 0)
        return [take_along(t, _on(indices, t)._data, 0) for t in self.tensors]  # type: ignore[union-attr]


def _on(index: Tensor, t: Tensor) -> Tensor:
    return index if index._backend is t._backend else index.to(t.device)


class _IterableFetcher:
    """The next sample (or batch of samples) of an iterable dataset; StopIteration at its end."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool, batch_size) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.batch_size = batch_size
        self.it: Iterator | None = None

    def start(self) -> None:
        self.it = iter(self.dataset)

    def fetch(self, _indices):
        assert self.it is not None
        if not self.auto_collation:
            return self.collate_fn(next(self.it))
        batch = list(itertools.islice(self.it, self.batch_size))
        if not batch or (self.drop_last and len(batch) < self.batch_size):
            raise StopIteration
        return self.collate_fn(batch)


def _fetcher(loader: DataLoader):
    if isinstance(loader.dataset, IterableDataset):
        return _IterableFetcher(
            loader.dataset, loader._auto_collation, loader.collate_fn, loader.drop_last, loader.batch_size
        )
    return _MapFetcher(loader.dataset, loader._auto_collation, loader.collate_fn, loader.drop_last)


def _base_seed(loader: DataLoader) -> int:
    """The workers' base seed, drawn from the loader's generator (the CPU default one if None)."""
    g = _random.default_generator if loader.generator is None else loader.generator
    return int(randint(0, 2**63 - 1, (), generator=g, device=g.device).item())


# -- iterating in this process --------------------------------------------------------------------------
class _SingleProcessIter:
    """Batches fetched in this process, one per ``next()``."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        _base_seed(loader)  # drawn as with workers, so that the order does not depend on num_workers
        self._fetcher = _fetcher(loader)
        self._fetcher.start()
        self._batches = loader._index_batches(to_device=True)

    def __iter__(self) -> _SingleProcessIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        return self._fetcher.fetch(next(self._batches))


# -- iterating with worker processes ----------------------------------------------------------------------
class _MultiProcessIter:
    """Batches fetched by worker processes, ``prefetch_factor`` per worker ahead, returned in order.

    Task i goes to the next worker still running (round robin); results that come early wait in
    ``_early`` until their turn.
    """

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        n = self._num_workers = loader.num_workers
        # NOTE: imported here, on the first use of workers: it costs `import tensorweaver` ~10 ms
        import multiprocessing

        ctx: Any = loader.multiprocessing_context
        if ctx is None or isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        self._prefetch = loader.prefetch_factor * n  # type: ignore[operator]
        self._persistent = loader.persistent_workers
        self._timeout = loader.timeout
        self._iterable = isinstance(loader.dataset, IterableDataset)
        self._done_event = ctx.Event()
        self._results = ctx.Queue()
        self._index_queues = []
        self._workers = []
        self._shutdown = False
        base_seed = _base_seed(loader)
        fetcher = _fetcher(loader)
        for i in range(n):
            q = ctx.Queue()
            q.cancel_join_thread()  # the main process never waits on a queue of a dead worker
            w = ctx.Process(
                target=_worker.worker_loop,
                args=(fetcher, q, self._results, self._done_event, base_seed, loader.worker_init_fn, i, n),
                daemon=True,
            )
            w.start()
            self._index_queues.append(q)
            self._workers.append(w)
        self._start_epoch()

    def _start_epoch(self) -> None:
        self._batches = self._loader._index_batches(to_device=False)
        self._sent = 0
        self._next = 0
        self._owner: dict[int, int] = {}  # task id -> worker, while not yet returned
        self._early: dict[int, Any] = {}
        self._active = [True] * self._num_workers
        self._cycle = itertools.cycle(range(self._num_workers))
        for _ in range(self._prefetch):
            self._send()

    def _reset(self) -> None:
        """A new epoch on persistent workers: restart them and drop what the last epoch left over."""
        for q in self._index_queues:
            q.put(_worker.ResumeIteration())
        waiting = self._num_workers
        while waiting:
            task_id, _ = self._get()
            if isinstance(task_id, _worker.ResumeIteration):
                waiting -= 1
        self._start_epoch()

    def _send(self) -> None:
        if len(self._owner) >= self._prefetch:
            return
        try:
            indices = next(self._batches)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            w = next(self._cycle)
            if self._active[w]:
                break
        else:
            return
        self._index_queues[w].put((self._sent, indices))
        self._owner[self._sent] = w
        self._sent += 1

    def _get(self):
        """The next result from any worker; an error if one died or ``timeout`` passed."""
        waited = 0.0
        while True:
            wait = _POLL_S if not self._timeout else min(_POLL_S, self._timeout - waited)
            try:
                return self._results.get(timeout=wait)
            except queue.Empty:
                waited += wait
                dead = [w for w in self._workers if not w.is_alive()]
                if dead:
                    self._shutdown_workers()
                    pids = ", ".join(f"pid {w.pid}, exit code {w.exitcode}" for w in dead)
                    raise RuntimeError(f"DataLoader worker ({pids}) exited unexpectedly") from None
                if self._timeout and waited >= self._timeout:
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None

    def __iter__(self) -> _MultiProcessIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        while True:
            if self._next in self._early:
                data = self._early.pop(self._next)
                self._next += 1
                return self._deliver(data)
            if not self._owner:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if self._next not in self._owner:  # a task of a worker whose iterable ended
                self._next += 1
                continue
            task_id, data = self._get()
            if isinstance(task_id, _worker.ResumeIteration):
                continue
            self._owner.pop(task_id, None)
            if isinstance(data, _worker.IterableStop):
                self._active[data.worker_id] = False
                self._skip_tasks_of(data.worker_id)
                self._send()
                continue
            if task_id == self._next:
                self._next += 1
                return self._deliver(data)
            self._early[task_id] = data

    def _skip_tasks_of(self, worker: int) -> None:
        # a worker whose iterable ended drops the tasks it still had queued
        for t in [t for t, w in self._owner.items() if w == worker]:
            del self._owner[t]

    def _deliver(self, data):
        self._send()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return data

    def _shutdown_workers(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._done_event.set()
        for q, w in zip(self._index_queues, self._workers, strict=True):
            if w.is_alive():
                q.put(None)
        for w in self._workers:
            w.join(timeout=_POLL_S)
            if w.is_alive():
                w.terminate()
                w.join()
        for q in self._index_queues:
            q.close()
        self._results.cancel_join_thread()
        self._results.close()

    def __del__(self) -> None:
        if getattr(self, "_workers", None) is not None:
            self._shutdown_workers()
