"""DistributedDataParallel: one model replica per rank, gradients averaged over ``tw.distributed``
in buckets whose all-reduce starts during ``backward()`` as soon as the bucket's gradients are final.

How a step runs (as PyTorch's reducer):

- construction: the ranks check that their modules have the same parameters (count, shapes,
  dtypes) and so the same bucket layout, or every rank raises; rank 0's parameters and buffers are
  broadcast to all; the parameters are packed, in reverse order of ``parameters()`` (roughly the
  order backward produces their gradients), into buckets of at most ``bucket_cap_mb`` each, a flat
  buffer per bucket on the parameters' device;
- ``forward``: broadcasts rank 0's buffers (``broadcast_buffers``), runs the module and, in grad
  mode outside ``no_sync()``, arms the reducer; with ``find_unused_parameters`` it walks the graph
  of the outputs and marks the parameters it does not reach as ready (their gradient, or zeros);
- ``backward``: each parameter's post-accumulate hook copies its final ``.grad`` into its bucket;
  a full bucket is divided by the world size and its non-blocking all-reduce starts (buckets start
  in index order on every rank, so that the collectives match); once the last one has started,
  they are waited for and the averaged gradients are copied back into ``.grad``, all before
  ``backward()`` returns.

NOTE: the overlap is the host's: over MPI a started all-reduce advances while the rank calls into MPI
(MPICH has no progress thread; each gradient hook polls the buckets in flight); over NCCL it runs on
the current CUDA stream, after the kernels queued before it, and backward goes on queuing kernels
without waiting for it.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager

from ... import _dtypes
from ... import distributed as dist
from ...autograd.grad_mode import no_grad
from ...autograd.grad_mode import state as _grad_state
from ...factories import empty, zeros
from ...tensor import Tensor, tensor
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_MB = 1024 * 1024
_DEFAULT_BUCKET_CAP_MB = 25
_DEFAULT_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's: the first bucket is small, so it starts early
_MAX_DIMS = 8  # dimensions compared per parameter (numel is always compared)

# the reducer's state in an iteration
_IDLE, _ARMED, _DONE = 0, 1, 2


class _Bucket:
    """Parameters (indices into the reducer's list) whose gradients share one flat buffer."""

    __slots__ = ("index", "members", "offsets", "numel", "buffer", "pending", "work")

    work: dist.Work | None

    def __init__(self, index: int, members: list, offsets: list, numel: int, buffer: Tensor) -> None:
        self.index = index
        self.members = members
        self.offsets = offsets
        self.numel = numel
        self.buffer = buffer
        self.pending = len(members)
        self.work = None


def _assign_buckets(params: list, first_cap: int, cap: int) -> list[list[int]]:
    """Parameter indices per bucket: in reverse order, one dtype per bucket, a bucket closed once it
    holds at least its cap (the first ``first_cap``, then ``cap``) bytes, as PyTorch assigns them."""
    buckets: list[list[int]] = []
    open_: dict = {}  # dtype -> [indices, bytes]
    for i in reversed(range(len(params))):
        p = params[i]
        entry = open_.setdefault(p.dtype, [[], 0])
        entry[0].append(i)
        entry[1] += p.numel() * p.dtype.itemsize
        if entry[1] >= (first_cap if not buckets else cap):
            buckets.append(entry[0])
            del open_[p.dtype]
    buckets.extend(entry[0] for entry in open_.values() if entry[0])
    return buckets


class DistributedDataParallel(Module):
    """Data parallelism over the ranks of ``tw.distributed``: wrap the model on every rank after
    ``init_process_group``, give each rank its share of the batch (``DistributedSampler``), and
    ``backward()`` leaves in every rank's ``.grad`` the gradient averaged over all ranks, as one
    process computing the mean loss over the whole batch would have::

        dist.init_process_group("mpi")                  # mpiexec -n 2 python train.py
        model = DistributedDataParallel(MLP())          # rank 0's weights on every rank
        loss = F.cross_entropy(model(x_share), y_share)
        loss.backward()                                 # gradients averaged over the ranks
        opt.step()

    As ``torch.nn.parallel.DistributedDataParallel``: ``module`` is the wrapped model (its
    ``state_dict`` keys are this module's without the ``module.`` prefix: save
    ``model.module.state_dict()`` on rank 0); ``no_sync()`` accumulates gradients locally;
    ``find_unused_parameters=True`` lets some parameters get no gradient in an iteration (zeros are
    reduced for them, and a parameter unused on every rank keeps its ``.grad``); without it such a
    module raises at the next forward. ``bucket_cap_mb`` (default 25, with a first bucket of 1 MiB
    as PyTorch) sizes the buckets. The parameters must be on one device (CPU over MPI, CUDA over
    NCCL); ``device_ids`` may name it (``[i]`` or ``[device]``). ``process_group`` must be None,
    the default group; ``gradient_as_bucket_view`` and ``static_graph`` are accepted only as False.
    """

    def __init__(
        self,
        module: Module,
        device_ids=None,
        output_device=None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        init_sync: bool = True,
        process_group=None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        what = "DistributedDataParallel"
        if not isinstance(module, Module):
            raise TypeError(f"{what}: module must be a tensorweaver nn.Module, got {type(module).__name__}")
        if gradient_as_bucket_view or static_graph:
            raise NotImplementedError(f"{what}: gradient_as_bucket_view and static_graph are not supported; pass False")
        if dim != 0:
            raise ValueError(f"{what}: dim={dim}: the batch is split by the user (DistributedSampler); pass dim=0")
        size = dist.get_world_size(process_group)  # raises PyTorch's error before init_process_group
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError(
                f"{what} is not needed when a module doesn't have any parameter that requires a gradient."
            )
        devices = sorted({str(p.device) for _, p in named})
        if len(devices) > 1:
            raise ValueError(
                f"{what}: the module's parameters are on several devices ({', '.join(devices)}); "
                f"put them on one (one device per rank)"
            )
        self._check_device_ids(device_ids, output_device, named[0][1], what)
        if bucket_cap_mb is None:
            cap, first_cap = _DEFAULT_BUCKET_CAP_MB * _MB, _DEFAULT_FIRST_BUCKET_BYTES
        elif isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or bucket_cap_mb <= 0:
            raise ValueError(f"{what}: bucket_cap_mb must be a positive number (MiB), got {bucket_cap_mb!r}")
        else:
            cap = first_cap = int(bucket_cap_mb * _MB)
        self.module = module
        self.device_ids = None if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.bucket_bytes_cap = cap
        self._world = size
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._buckets: list[_Bucket] = []
        for b, members in enumerate(_assign_buckets(self._params, first_cap, cap)):
            offsets, numel = [], 0
            for i in members:
                offsets.append(numel)
                numel += self._params[i].numel()
            p0 = self._params[members[0]]
            self._buckets.append(_Bucket(b, members, offsets, numel, empty(numel, dtype=p0.dtype, device=p0.device)))
        self._where = [(0, 0)] * len(self._params)  # param index -> (bucket, position in it)
        for bucket in self._buckets:
            for k, i in enumerate(bucket.members):
                self._where[i] = (bucket.index, k)
        self._verify_layout(what)
        if init_sync:
            self._broadcast([*self._params, *(b for _, b in module.named_buffers())])
        self._state = _IDLE
        self._ready = [False] * len(self._params)
        self._next = 0  # the next bucket to start
        self._in_flight: list = []
        self._handles = [p.register_post_accumulate_grad_hook(self._hook(i)) for i, p in enumerate(self._params)]

    # -- construction ------------------------------------------------------------------------------
    @staticmethod
    def _check_device_ids(device_ids, output_device, p: Tensor, what: str) -> None:
        if device_ids is None:
            return
        ids = list(device_ids)
        if len(ids) != 1:
            raise ValueError(f"{what}: device_ids must name one device (this rank's), got {device_ids!r}")
        want = f"cuda:{ids[0]}" if isinstance(ids[0], int) else str(ids[0])
        if want == "cuda":
            want = "cuda:0"
        if want != str(p.device):
            raise ValueError(
                f"{what}: device_ids={device_ids!r} names {want}, but the parameters are on {p.device}; "
                f"move the module there first (module.to(device))"
            )

    def _verify_layout(self, what: str) -> None:
        """Every rank has the same parameters and buckets, or every rank raises saying how they differ."""
        head = [len(self._params), sum(p.numel() for p in self._params), len(self._buckets), self.bucket_bytes_cap]
        rows = self._gather_ints(head)
        if any(row != rows[0] for row in rows):
            counts = "; ".join(
                f"rank {r}: {n} parameters ({e:,} elements) in {b} buckets of {c / _MB:g} MiB"
                for r, (n, e, b, c) in enumerate(rows)
            )
            raise RuntimeError(
                f"{what}: the ranks' modules differ ({counts}); every rank must build the same model "
                f"with the same bucket_cap_mb"
            )
        mine = []
        for p in self._params:
            dims = list(p.shape[:_MAX_DIMS])
            mine += [_dtypes.ALL.index(p.dtype), p.ndim, p.numel(), *dims, *([-1] * (_MAX_DIMS - len(dims)))]
        mine += [len(b.members) for b in self._buckets]
        rows = self._gather_ints(mine)
        width = 3 + _MAX_DIMS
        for i, name in enumerate(self._names):
            seen = [tuple(row[i * width : (i + 1) * width]) for row in rows]
            if any(s != seen[0] for s in seen):
                kinds = "; ".join(f"rank {r}: {_describe(s)}" for r, s in enumerate(seen))
                raise RuntimeError(
                    f"{what}: parameter {i} ({name!r} on this rank) differs across ranks ({kinds}); "
                    f"every rank must build the same model"
                )
        if any(row != rows[0] for row in rows):
            raise RuntimeError(f"{what}: the ranks' bucket layouts differ; every rank must build the same model")

    def _gather_ints(self, values: list) -> list[list[int]]:
        mine = tensor(values, dtype=_dtypes.int64)
        out = zeros(self._world, len(values), dtype=_dtypes.int64)
        dist.all_gather_into_tensor(out, mine)
        return out.tolist()

    @staticmethod
    def _broadcast(tensors: list) -> None:
        """Rank 0's values of ``tensors`` into every rank's (all started, then waited for)."""
        with no_grad():
            works = [dist.broadcast(t, 0, async_op=True) for t in tensors]
        for w in works:
            assert w is not None  # async_op=True
            w.wait()

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        """Run the module (after broadcasting rank 0's buffers), and prepare the gradients' reduction."""
        if self._state == _ARMED and any(self._ready):
            missing = [n for n, r in zip(self._names, self._ready) if not r]  # noqa: B905 - one per parameter
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. This error "
                "indicates that your module has parameters that were not used in producing loss. You can enable "
                "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
                "DistributedDataParallel, and by making sure all `forward` function outputs participate in "
                f"calculating loss. Parameters which did not receive grad for rank {dist.get_rank()}: "
                f"{', '.join(missing)}"
            )
        self._reset()
        if self.broadcast_buffers and self._world > 1:
            buffers = [b for _, b in self.module.named_buffers()]
            if buffers:
                self._broadcast(buffers)
        out = self.module(*inputs, **kwargs)
        if _grad_state.enabled and self.require_backward_grad_sync:
            self._state = _ARMED
            if self.find_unused_parameters:
                reached = _reached_leaves(out)
                for i, p in enumerate(self._params):
                    if id(p) not in reached:
                        self._mark_ready(i)
        return out

    def _reset(self) -> None:
        self._state = _IDLE
        self._ready = [False] * len(self._params)
        self._next = 0
        self._in_flight = []
        for b in self._buckets:
            b.pending = len(b.members)
            b.work = None

    @contextmanager
    def no_sync(self):
        """Inside, forward/backward accumulate gradients in ``.grad`` on each rank without communicating;
        the first backward after it (its forward outside) reduces the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # -- the reducer -------------------------------------------------------------------------------
    def _hook(self, i: int):
        ref = weakref.ref(self)  # NOTE: the parameters' hooks must not keep a dropped DDP alive (or armed)

        def hook(_param: Tensor) -> None:
            self = ref()
            if self is None:
                return
            if self._state == _ARMED:
                self._mark_ready(i)
            elif self._state == _DONE:
                raise RuntimeError(
                    f"DistributedDataParallel: parameter {self._names[i]!r} got a second gradient after its reduction "
                    f"in this iteration (a second backward through one forward, or the parameter used outside "
                    f"forward); run forward again before each backward, or accumulate inside no_sync()"
                )

        return hook

    def _mark_ready(self, i: int) -> None:
        """Copy parameter i's gradient (zeros if none) into its bucket; start the buckets that are full."""
        if self._ready[i]:
            return
        self._ready[i] = True
        b, k = self._where[i]
        bucket = self._buckets[b]
        p = self._params[i]
        with no_grad():
            view = bucket.buffer[bucket.offsets[k] : bucket.offsets[k] + p.numel()]
            if p.grad is None:
                view.zero_()
            else:
                view.copy_(p.grad.reshape(-1))
        bucket.pending -= 1
        for w in self._in_flight:
            w.is_completed()  # NOTE: drives MPI's progress (MPICH has no progress thread by default)
        if bucket.pending == 0:
            self._start_full_buckets()

    def _start_full_buckets(self) -> None:
        buckets = self._buckets
        with no_grad():
            while self._next < len(buckets) and buckets[self._next].pending == 0:
                bucket = buckets[self._next]
                bucket.buffer.div_(self._world)  # as PyTorch: divide first, then sum
                bucket.work = dist.all_reduce(bucket.buffer, async_op=True)
                self._in_flight.append(bucket.work)
                self._next += 1
        if self._next == len(buckets):
            self._finish()

    def _finish(self) -> None:
        """Wait for every bucket and copy the averaged gradients back into ``.grad``."""
        used = None
        if self.find_unused_parameters:  # which parameters got a gradient on some rank
            flags = tensor([1 if p.grad is not None else 0 for p in self._params], dtype=_dtypes.int32)
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            used = flags.tolist()
        with no_grad():
            for bucket in self._buckets:
                assert bucket.work is not None  # every bucket has started
                bucket.work.wait()
                for k, i in enumerate(bucket.members):
                    if used is not None and not used[i]:
                        continue  # unused on every rank: its .grad stays as it was (None)
                    p = self._params[i]
                    view = bucket.buffer[bucket.offsets[k] : bucket.offsets[k] + p.numel()].reshape(p.shape)
                    if p.grad is None:
                        p.grad = view.clone()
                    else:
                        p.grad.copy_(view)
        self._in_flight = []
        self._state = _DONE

    def _reduce_after_backward(self) -> None:
        """Reduce the gradients now, bucket by bucket, as one backward would have but after it: the
        no-overlap baseline of benchmarks/distributed_bench.py (backward run inside ``no_sync()``)."""
        self._reset()
        self._state = _ARMED
        for bucket in self._buckets:
            for i in bucket.members:
                self._mark_ready(i)


def _reached_leaves(out) -> set:
    """ids of the leaf tensors the graph of ``out`` (a tensor, or tensors nested in tuples, lists and
    dicts) reaches: the parameters that can get a gradient from it."""
    stack, seen, leaves = [], set(), set()
    todo = [out]
    while todo:
        x = todo.pop()
        if isinstance(x, Tensor):
            if x.grad_fn is None:
                leaves.add(id(x))
            else:
                stack.append(x.grad_fn)
        elif isinstance(x, (list, tuple)):
            todo.extend(x)
        elif isinstance(x, dict):
            todo.extend(x.values())
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        for x in fn.inputs or ():
            if x.grad_fn is None:
                leaves.add(id(x))
            else:
                stack.append(x.grad_fn)
    return leaves


def _describe(row: tuple) -> str:
    dtype, ndim, numel, *dims = row
    shape = tuple(dims[: min(ndim, _MAX_DIMS)])
    return f"{_dtypes.ALL[dtype].name} {shape}" + (f" ({numel} elements)" if ndim > _MAX_DIMS else "")
