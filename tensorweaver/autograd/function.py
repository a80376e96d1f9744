"""Function: one differentiable op (forward on backend arrays, backward on Tensors), and the one
place that builds a tensor from an array (``output``) and records a node (``record``)."""

from __future__ import annotations

import itertools
from typing import Any

from .._args import device_error
from .anomaly import flags as _anomaly
from .anomaly import record as _record_creation
from .grad_mode import state

__all__ = ["Function", "AccumulateGrad", "apply1", "apply2", "apply_n", "output", "record"]


class Function:
    """A node of the graph: the op that made one output tensor.

    Subclasses define ``forward(self, xp, *arrays) -> array`` (``xp`` is the inputs' array-API
    namespace) and ``backward(self, gy) -> tuple`` with one gradient (a Tensor or None) per input,
    written in differentiable Tensor ops so that ``create_graph=True`` gives higher derivatives.
    Op parameters and values saved for backward are attributes of the instance; ``inputs`` holds
    the input tensors while the graph is alive and is set to None when the graph is freed (a
    subclass that saves arrays frees them too in ``release``). ``seq`` is the node's rank, set by
    ``record``: it decreases with every recorded node, so a node always ranks below the nodes that
    consume its output. ``hooks`` (the hooks registered on its output) and ``out_ref`` (a weak
    reference to an output that retains its gradient) are set only when used.

    Adding an op: forward, backward, ``keeps_inputs = False`` if backward reads only the inputs'
    shapes and dtypes, saved values released in ``release``, and one ``check_op`` line in the tests.
    Write a ``backward_array`` only for an op on a measured training step whose benchmark shows it
    pays (docs/design.md): the engine otherwise runs ``backward`` on the arrays wrapped as tensors.
    """

    __slots__ = ("inputs", "out_ref", "hooks", "seq", "__weakref__")
    inputs: Any  # the input tensors (a tuple); None once the graph is freed
    out_ref: Any
    hooks: dict
    seq: int

    #: Optional, ``backward_array(self, xp, gy) -> tuple``: what ``backward`` computes, on backend
    #: arrays (``gy`` and the gradients are arrays, or None). The engine calls it when the backward
    #: itself is not recorded (no ``create_graph``: every training step); returning None falls back to
    #: ``backward``. check_op tests both paths on every op.
    backward_array = None

    #: False for ops whose backward reads only their inputs' shapes and dtypes (add, sub, reshape,
    #: ...): the graph then keeps, for each large non-leaf input, an edge without its values, so that
    #: intermediate arrays are freed as soon as the forward is done with them.
    keeps_inputs = True

    #: True for nodes whose backward may return tensors that user code holds (custom Functions): the
    #: engine never hands those arrays to a ``.grad`` without a copy. The library's own backwards
    #: return new arrays or views of ``gy``.
    foreign_grads = False

    def forward(self, xp, *arrays):
        """The output array, computed with the array-API namespace ``xp`` only."""
        raise NotImplementedError

    def backward(self, gy):
        """One gradient (a Tensor or None) per input, in differentiable Tensor ops."""
        raise NotImplementedError

    def release(self) -> None:
        """Free what backward needed (the graph after ``backward()`` without ``retain_graph``)."""
        self.inputs = None

    @property
    def name(self) -> str:
        """The node's name in messages and reprs: the class name + Backward."""
        return f"{type(self).__name__}Backward"

    @property
    def next_functions(self) -> tuple:
        """``((node, 0), ...)``, one pair per input, as PyTorch's ``grad_fn.next_functions``: the node
        that made the input, an ``AccumulateGrad`` (``.variable`` is the leaf) for a leaf that
        requires grad, None otherwise; empty once the graph is freed."""
        return tuple(
            (x.grad_fn if x.grad_fn is not None else AccumulateGrad(x) if x._requires_grad else None, 0)
            for x in self.inputs or ()
        )

    def __repr__(self) -> str:
        return f"<{self.name}>"


class AccumulateGrad:
    """Where a leaf's gradient goes, in ``next_functions`` (the engine writes ``.grad`` itself)."""

    __slots__ = ("variable",)
    name = "AccumulateGrad"

    def __init__(self, variable) -> None:
        self.variable = variable

    def __eq__(self, other) -> bool:
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self) -> int:
        return id(self.variable)

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def _shape_error(op: Function, a, b, err: Exception) -> ValueError:
    from .._errors import ShapeError  # noqa: PLC0415 - the error path only

    return ShapeError(
        f"{type(op).__name__}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
        f"broadcast together ({err})"
    )


# NOTE: output, record and the apply functions are the hot path of every op: no per-call imports,
# namespace lookups or isinstance ladders here; anomaly mode costs one flag test, and only when an op
# is recorded. The Tensor class is bound at import time of tensorweaver.tensor (set_tensor_class).
#: set once any tensor registers a hook or retain_grad() on a non-leaf (the engine skips the lookup
#: of ``hooks`` and ``out_ref`` while it is False)
hooks_used = False
#: set once any leaf registers a post-accumulate-grad hook (the engine then delivers such leaves early)
post_hooks_used = False
#: set once a node with ``foreign_grads`` is recorded (a custom Function: the engine then checks)
foreign_grads_used = False

#: The rank of the next recorded node (see Function.seq): 0, -1, -2, ... so that the engine's min-heap
#: pops the most recently recorded node first.
_next_seq = itertools.count(0, -1).__next__

_Tensor = None
_scalar_types: frozenset = frozenset()
_host_ndarray = None
_new = object.__new__


def set_tensor_class(tensor_cls, scalar_types: frozenset, host_ndarray) -> None:
    """Bind the Tensor class and what ``output`` needs (called once by tensorweaver.tensor)."""
    global _Tensor, _scalar_types, _host_ndarray
    _Tensor, _scalar_types, _host_ndarray = tensor_cls, scalar_types, host_ndarray


def output(data, b, cls=None):
    """A tensor (of class ``cls``, default Tensor) around the backend array ``data`` of backend
    ``b``: no copy, no checks, outside the graph. Every tensor is built here."""
    if data.__class__ in _scalar_types:
        # NOTE: NumPy operators on 0-d arrays return NumPy scalars, which have no in-place operators
        # and no __dlpack__; a tensor always holds an array.
        data = _host_ndarray(data)
    out = _new(cls or _Tensor)
    out._data = data
    out._backend = b
    out._requires_grad = out._retains_grad = False
    out._grad = out.grad_fn = out._hooks = None
    return out


def record(fn: Function, out, inputs: tuple) -> None:
    """Make ``fn`` the node of ``out``, with ``inputs``, a rank, and (in anomaly mode) where it was made."""
    out._requires_grad = True
    out.grad_fn = fn
    fn.inputs = inputs
    fn.seq = _next_seq()
    if _anomaly.enabled:
        _record_creation(fn)


class _ShapeOnly:
    """What an edge keeps of a tensor's array: its shape and dtype, not its memory."""

    __slots__ = ("shape", "dtype", "ndim")

    def __init__(self, a) -> None:
        self.shape, self.dtype, self.ndim = a.shape, a.dtype, a.ndim


#: arrays below this many elements are kept by the graph as they are: the memory an edge would free
#: is smaller than the cost of making it (tests set it to 0 to run every op through edges)
EDGE_MIN_SIZE = 4096


def _edge(x):
    """``x`` for a leaf (its .grad is set through it) or a small tensor; for another non-leaf, a
    stand-in with the same ``grad_fn`` and shape, holding no array (its hooks live on that node)."""
    if x.grad_fn is None:
        return x
    size = x._data.size  # NOTE: None for an array-API array of unknown shape (a lazy backend)
    if size is not None and size < EDGE_MIN_SIZE:
        return x
    e = output(_ShapeOnly(x._data), x._backend)
    e._requires_grad = True
    e.grad_fn = x.grad_fn
    return e


def apply1(fn: Function, x):
    """Run a one-input op and record it when grad mode is on and ``x`` requires grad."""
    b = x._backend
    out = output(fn.forward(b.xp, x._data), b)
    if x._requires_grad and state.enabled:
        record(fn, out, (x,) if fn.keeps_inputs or x.grad_fn is None else (_edge(x),))
    return out


def apply2(fn: Function, x, y):
    """Run a two-input op; both inputs must be on one backend."""
    b = x._backend
    if y._backend is not b:
        raise device_error(type(fn).__name__, x.device, y.device)
    try:
        data = fn.forward(b.xp, x._data, y._data)
    except ValueError as e:
        raise _shape_error(fn, x, y, e) from None
    out = output(data, b)
    if (x._requires_grad or y._requires_grad) and state.enabled:
        record(
            fn,
            out,
            (x, y) if fn.keeps_inputs else (x if x.grad_fn is None else _edge(x), y if y.grad_fn is None else _edge(y)),
        )
    return out


def apply_n(fn: Function, xs):
    """Run an op on a sequence of tensors (cat, stack, ...)."""
    b = xs[0]._backend
    for t in xs:
        if t._backend is not b:
            raise device_error(type(fn).__name__, xs[0].device, t.device)
    out = output(fn.forward(b.xp, *[t._data for t in xs]), b)
    if state.enabled and any(t._requires_grad for t in xs):
        record(fn, out, tuple(xs))
    return out
