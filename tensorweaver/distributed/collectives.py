"""The collectives, with PyTorch's names and signatures: checked on Tensors here, run by an adapter.

Each call checks its arguments on every rank before anything is sent (so a bad call fails alike
everywhere, with nothing half-written), picks the adapter for the tensors' device, starts the
collective on the tensors' own memory and, unless ``async_op=True``, waits for it.

Devices: CPU tensors go over MPI (buffer-protocol calls on their NumPy arrays, in place); CUDA
tensors over NCCL on the current stream (backend 'nccl'), or over MPI when it is CUDA-aware. Tensors
of any other backend (a registered array-API device such as ``array_api_strict``) raise a
RuntimeError: a collective never copies device memory to the host behind the caller's back; move
the tensor with ``.cpu()`` (a counted transfer) and back if that is what is wanted.

NOTE: PyTorch lets a collective write into a tensor that requires grad while grad mode is on;
here that is an error, as for any in-place op: pass ``t.data`` or call it under ``tw.no_grad()``.
"""

from __future__ import annotations

import time

from .. import _dtypes
from .. import backends as _backends
from ..autograd.grad_mode import state as _grad_state
from ..tensor import Tensor
from .process_group import ReduceOp, Work, _check_group, _ProcessGroup

__all__ = [
    "barrier",
    "all_reduce",
    "broadcast",
    "reduce",
    "all_gather",
    "all_gather_into_tensor",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "gather",
    "scatter",
]

# the reduce ops each kind of dtype allows ('b' bool, 'i'/'u' integers, 'f' floats, 'c' complex)
_OPS_BY_KIND = {
    "b": ("MAX", "MIN", "BAND", "BOR", "BXOR"),
    "i": ("SUM", "PRODUCT", "MAX", "MIN", "BAND", "BOR", "BXOR"),
    "u": ("SUM", "PRODUCT", "MAX", "MIN", "BAND", "BOR", "BXOR"),
    "f": ("SUM", "AVG", "PRODUCT", "MAX", "MIN"),
    "c": ("SUM", "AVG", "PRODUCT"),
}
_COLLECTIVES = (
    "barrier",
    "all_reduce",
    "broadcast",
    "reduce",
    "all_gather",
    "all_gather_into_tensor",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "gather",
    "scatter",
)
_OP_NAMES = (None, *ReduceOp.__members__)
_MAX_DIMS = 8  # shape entries in a fingerprint; numel and ndim are always compared


# -- checks ------------------------------------------------------------------------------------
def _tensor(x, what: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}: {name} must be a tensorweaver Tensor, got {type(x).__name__}")
    return x


def _like(x, t: Tensor, what: str, name: str) -> None:
    """``x`` is a Tensor on ``t``'s device with ``t``'s dtype."""
    _tensor(x, what, name)
    if x._backend is not t._backend:
        raise RuntimeError(f"{what}: {name} is on {x.device}, but the tensor is on {t.device}")
    if x.dtype is not t.dtype:
        raise RuntimeError(f"{what}: {name} has dtype {x.dtype}, but the tensor has dtype {t.dtype}")


def _output(t: Tensor, what: str, name: str) -> None:
    """``t`` may be written in place: as an in-place op, not while it requires grad in grad mode."""
    if t._requires_grad and _grad_state.enabled:
        kind = "a leaf tensor" if t.grad_fn is None else "a tensor"
        raise RuntimeError(
            f"{what}: {name} is {kind} that requires grad, and the collective writes into it in place; "
            f"pass its .data (or call it inside tw.no_grad()), as for any in-place op"
        )
    flags = getattr(t._data, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        raise RuntimeError(f"{what}: {name}'s memory is read-only (shape {t.shape}); pass a writable tensor")


def _list(xs, t: Tensor, size: int, what: str, name: str) -> list:
    if not isinstance(xs, (list, tuple)) or len(xs) != size:
        got = f"{type(xs).__name__} of {len(xs)}" if isinstance(xs, (list, tuple)) else type(xs).__name__
        raise ValueError(f"{what}: {name} must be a list of world_size = {size} tensors, got a {got}")
    for i, x in enumerate(xs):
        _like(x, t, what, f"{name}[{i}]")
        if x.shape != t.shape:
            raise RuntimeError(f"{what}: {name}[{i}] has shape {x.shape}, but the tensor has shape {t.shape}")
    return list(xs)


def _rank(r, size: int, what: str, name: str) -> int:
    if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < size:
        raise ValueError(f"{what}: {name}={r!r} is not a rank of the group (0..{size - 1})")
    return r


def _op(op, t: Tensor, engine, what: str) -> str:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a tw.distributed.ReduceOp (ReduceOp.SUM, ...), got {op!r}")
    name = op.value
    if name not in _OPS_BY_KIND[t.dtype.kind]:
        allowed = ", ".join(_OPS_BY_KIND[t.dtype.kind])
        raise TypeError(f"{what}: ReduceOp.{name} is not defined for {t.dtype} tensors (these are: {allowed})")
    _supported(engine, name, t, what)
    return name


def _supported(engine, op: str | None, t: Tensor, what: str) -> None:
    unsupported = getattr(engine, "unsupported", None)
    why = None if unsupported is None else unsupported(op, t.dtype.name)
    if why is not None:
        raise TypeError(f"{what}: {why}")


def _engine(pg: _ProcessGroup, t: Tensor, what: str):
    """The adapter that moves ``t``'s memory: MPI for the CPU, NCCL (or CUDA-aware MPI) for CUDA."""
    b = t._backend
    if b is _backends.cpu:
        return pg.mpi
    if b.device.type == "cuda":
        if pg.nccl is not None:
            if b.device.index != pg.cuda_index:
                raise RuntimeError(
                    f"{what}: the tensor is on {t.device}, but this rank's NCCL communicator is on "
                    f"cuda:{pg.cuda_index} (one GPU per rank; see init_process_group(device_id=...))"
                )
            return pg.nccl
        if pg.mpi.cuda_aware:
            return pg.mpi
        raise RuntimeError(
            f"{what}: a tensor on {t.device} needs backend='nccl', or an MPI library that is CUDA-aware (this "
            f"one lists the memory kinds {pg.mpi.memory_kinds!r}, without 'cuda'); or move it with .cpu()"
        )
    raise RuntimeError(
        f"{what}: tensors on device {t.device} cannot be communicated: the 'mpi' backend takes CPU tensors "
        f"(and CUDA tensors where MPI is CUDA-aware), 'nccl' takes CUDA tensors. Nothing is copied to the "
        f"host behind your back: move the tensor with .cpu() (a counted transfer) and back with .to('{t.device}')"
    )


def _fingerprint(pg: _ProcessGroup, what: str, op: str | None, t: Tensor | None, root: int = -1) -> None:
    """Under TW_DISTRIBUTED_DEBUG=DETAIL: all ranks must call the same collective on the same shape and
    dtype, or all of them raise a RuntimeError that says what each rank called."""
    if not pg.debug:
        return
    shape = () if t is None else t.shape
    dtype = -1 if t is None else _dtypes.ALL.index(t.dtype)
    dims = [*shape[:_MAX_DIMS], *([-1] * (_MAX_DIMS - len(shape[:_MAX_DIMS])))]
    numel = 0 if t is None else t.numel()
    mine = [_COLLECTIVES.index(what), _OP_NAMES.index(op), dtype, root, numel, len(shape), *dims]
    request, rows = pg.mpi.allgather_ints(mine)
    pg.wait(request, f"{what} (its TW_DISTRIBUTED_DEBUG=DETAIL check)")
    table = [[int(v) for v in row] for row in rows]
    if all(row == table[0] for row in table):
        return
    calls = "; ".join(f"rank {r}: {_describe(row)}" for r, row in enumerate(table))
    raise RuntimeError(
        f"{what}: the ranks called different collectives or tensors (TW_DISTRIBUTED_DEBUG=DETAIL): {calls}"
    )


def _describe(row: list[int]) -> str:
    what, op, dtype, root, numel, ndim, *dims = row
    text = _COLLECTIVES[what] + (f"(ReduceOp.{_OP_NAMES[op]})" if op else "")
    if dtype >= 0:
        shape = tuple(dims[: min(ndim, _MAX_DIMS)])
        text += f" on {_dtypes.ALL[dtype]} {shape}" + (f" ({numel} elements)" if ndim > _MAX_DIMS else "")
    return text + (f" with root {root}" if root >= 0 else "")


# -- running -----------------------------------------------------------------------------------
def _run(pg: _ProcessGroup, engine, t: Tensor, what: str, start, outputs: list, async_op: bool, after=None):
    if engine is pg.mpi and t._backend is not _backends.cpu:
        t._backend.synchronize()  # CUDA-aware MPI reads device memory: the kernels writing it must be done
    request = start()
    if after is not None and engine is not pg.mpi:
        after()  # NCCL: the copies out of the received buffer queue behind it on the same stream
        after = None
    work = Work(pg, request, what, outputs, after)
    if async_op:
        return work
    work.wait()
    return None


def _empty(t: Tensor, shape: tuple):
    b = t._backend
    return b.xp.empty(shape, dtype=t._data.dtype, device=b.native_device)


def _copy_rows(outs: list, buf):
    def after() -> None:
        for i, x in enumerate(outs):
            x._data[...] = buf[i]

    return after


def _stacked(xs: list, t: Tensor):
    """The list's tensors, flattened and concatenated in order (a copy, on their device)."""
    xp = t._backend.xp
    return xp.concat([xp.reshape(x._data, (-1,)) for x in xs])


def _block_shapes(size: int, shape: tuple) -> tuple:
    """The shapes a tensor of ``size`` blocks of ``shape`` may have: stacked, or concatenated on dim 0."""
    stacked = (size, *shape)
    return (stacked,) if not shape else (stacked, (size * shape[0], *shape[1:]))


# -- the collectives ---------------------------------------------------------------------------
def barrier(group=None, async_op: bool = False) -> Work | None:
    """Wait until every rank has called ``barrier`` (with NCCL, after this rank's GPU work queued so far)."""
    pg = _check_group(group)
    _fingerprint(pg, "barrier", None, None)
    if pg.nccl is not None:
        if not pg.nccl.current_work().synchronize(time.monotonic() + pg.timeout_s):
            pg.abort(f"barrier: this rank's GPU work did not finish within {pg.timeout}")
    work = Work(pg, pg.mpi.barrier(), "barrier", [])
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` over all ranks with ``op``; every rank gets the result in ``tensor`` (in place)."""
    what = "all_reduce"
    pg = _check_group(group)
    _output(_tensor(tensor, what, "tensor"), what, "tensor")
    engine = _engine(pg, tensor, what)
    name = _op(op, tensor, engine, what)
    _fingerprint(pg, what, name, tensor)
    return _run(pg, engine, tensor, what, lambda: engine.all_reduce(tensor._data, name), [tensor], async_op)


def broadcast(tensor: Tensor, src: int, group=None, async_op: bool = False) -> Work | None:
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every other rank (in place)."""
    what = "broadcast"
    pg = _check_group(group)
    _output(_tensor(tensor, what, "tensor"), what, "tensor")
    src = _rank(src, pg.size, what, "src")
    engine = _engine(pg, tensor, what)
    _supported(engine, None, tensor, what)
    _fingerprint(pg, what, None, tensor, src)
    return _run(pg, engine, tensor, what, lambda: engine.broadcast(tensor._data, src), [tensor], async_op)


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` over all ranks with ``op`` into ``tensor`` of rank ``dst``; the others keep theirs."""
    what = "reduce"
    pg = _check_group(group)
    _output(_tensor(tensor, what, "tensor"), what, "tensor")
    dst = _rank(dst, pg.size, what, "dst")
    engine = _engine(pg, tensor, what)
    name = _op(op, tensor, engine, what)
    _fingerprint(pg, what, name, tensor, dst)
    return _run(pg, engine, tensor, what, lambda: engine.reduce(tensor._data, dst, name), [tensor], async_op)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False) -> Work | None:
    """Every rank's ``tensor`` into ``tensor_list[r]`` for r = 0 .. world_size - 1, on every rank."""
    what = "all_gather"
    pg = _check_group(group)
    _tensor(tensor, what, "tensor")
    outs = _list(tensor_list, tensor, pg.size, what, "tensor_list")
    for i, x in enumerate(outs):
        _output(x, what, f"tensor_list[{i}]")
    engine = _engine(pg, tensor, what)
    _supported(engine, None, tensor, what)
    _fingerprint(pg, what, None, tensor)
    buf = _empty(tensor, (pg.size, *tensor.shape))
    start = lambda: engine.all_gather(tensor._data, buf)  # noqa: E731
    return _run(pg, engine, tensor, what, start, outs, async_op, _copy_rows(outs, buf))


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None, async_op: bool = False):
    """Every rank's ``input_tensor``, in rank order, into ``output_tensor``: of shape
    ``(world_size, *input.shape)`` or concatenated on dim 0, ``(world_size * input.shape[0], ...)``."""
    what = "all_gather_into_tensor"
    pg = _check_group(group)
    _tensor(input_tensor, what, "input_tensor")
    _like(output_tensor, input_tensor, what, "output_tensor")
    _output(output_tensor, what, "output_tensor")
    shapes = _block_shapes(pg.size, input_tensor.shape)
    if output_tensor.shape not in shapes:
        raise RuntimeError(
            f"{what}: output_tensor has shape {output_tensor.shape}; for an input of shape {input_tensor.shape} "
            f"on {pg.size} ranks it must be {' or '.join(map(str, shapes))}"
        )
    engine = _engine(pg, input_tensor, what)
    _supported(engine, None, input_tensor, what)
    _fingerprint(pg, what, None, input_tensor)
    start = lambda: engine.all_gather(input_tensor._data, output_tensor._data)  # noqa: E731
    return _run(pg, engine, input_tensor, what, start, [output_tensor], async_op)


def reduce_scatter(
    output: Tensor, input_list: list, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False
) -> Work | None:
    """Reduce ``input_list[r]`` over all ranks with ``op`` into ``output`` of rank r."""
    what = "reduce_scatter"
    pg = _check_group(group)
    _output(_tensor(output, what, "output"), what, "output")
    ins = _list(input_list, output, pg.size, what, "input_list")
    engine = _engine(pg, output, what)
    name = _op(op, output, engine, what)
    _fingerprint(pg, what, name, output)
    send = _stacked(ins, output)
    start = lambda: engine.reduce_scatter(send, output._data, name)  # noqa: E731
    return _run(pg, engine, output, what, start, [output], async_op)


def reduce_scatter_tensor(
    output: Tensor,
    input: Tensor,  # noqa: A002 - PyTorch's name
    op: ReduceOp = ReduceOp.SUM,
    group=None,
    async_op: bool = False,
) -> Work | None:
    """Reduce ``input`` (world_size blocks of ``output``'s shape, stacked or concatenated on dim 0)
    over all ranks with ``op``; rank r gets block r in ``output``."""
    what = "reduce_scatter_tensor"
    pg = _check_group(group)
    _output(_tensor(output, what, "output"), what, "output")
    _like(input, output, what, "input")
    shapes = _block_shapes(pg.size, output.shape)
    if input.shape not in shapes:
        raise RuntimeError(
            f"{what}: input has shape {input.shape}; for an output of shape {output.shape} on {pg.size} "
            f"ranks it must be {' or '.join(map(str, shapes))}"
        )
    engine = _engine(pg, output, what)
    name = _op(op, output, engine, what)
    _fingerprint(pg, what, name, output)
    start = lambda: engine.reduce_scatter(input._data, output._data, name)  # noqa: E731
    return _run(pg, engine, output, what, start, [output], async_op)


def gather(tensor: Tensor, gather_list: list | None = None, dst: int = 0, group=None, async_op: bool = False):
    """Every rank's ``tensor`` into ``gather_list[r]`` of rank ``dst`` (give ``gather_list`` there only)."""
    what = "gather"
    pg = _check_group(group)
    _tensor(tensor, what, "tensor")
    dst = _rank(dst, pg.size, what, "dst")
    outs: list = []
    if pg.rank == dst:
        outs = _list(gather_list, tensor, pg.size, what, "gather_list")
        for i, x in enumerate(outs):
            _output(x, what, f"gather_list[{i}]")
    elif gather_list:
        raise ValueError(f"{what}: gather_list must not be given on rank {pg.rank}, which is not dst={dst}")
    engine = _engine(pg, tensor, what)
    _supported(engine, None, tensor, what)
    _fingerprint(pg, what, None, tensor, dst)
    buf = _empty(tensor, (pg.size, *tensor.shape)) if outs else None
    start = lambda: engine.gather(tensor._data, buf, dst)  # noqa: E731
    return _run(pg, engine, tensor, what, start, outs, async_op, _copy_rows(outs, buf) if outs else None)


def scatter(tensor: Tensor, scatter_list: list | None = None, src: int = 0, group=None, async_op: bool = False):
    """``scatter_list[r]`` of rank ``src`` into ``tensor`` of rank r (give ``scatter_list`` there only)."""
    what = "scatter"
    pg = _check_group(group)
    _output(_tensor(tensor, what, "tensor"), what, "tensor")
    src = _rank(src, pg.size, what, "src")
    send = None
    if pg.rank == src:
        send = _list(scatter_list, tensor, pg.size, what, "scatter_list")
    elif scatter_list:
        raise ValueError(f"{what}: scatter_list must not be given on rank {pg.rank}, which is not src={src}")
    engine = _engine(pg, tensor, what)
    _supported(engine, None, tensor, what)
    _fingerprint(pg, what, None, tensor, src)
    sbuf = None if send is None else _stacked(send, tensor)
    start = lambda: engine.scatter(sbuf, tensor._data, src)  # noqa: E731
    return _run(pg, engine, tensor, what, start, [tensor], async_op)
