"""Function: one differentiable op, forward on backend arrays and backward on Tensors."""

from __future__ import annotations

import itertools

from .anomaly import record as _record_creation
from .grad_mode import state

__all__ = ["Function", "apply1", "apply2", "apply_n", "next_seq"]


class Function:
    """A node of the graph: the op that made one output tensor.

    Subclasses define ``forward(self, xp, *arrays) -> array`` (``xp`` is the inputs' array-API
    namespace) and ``backward(self, gy) -> tuple`` with one gradient (a Tensor or None) per input,
    written in differentiable Tensor ops so that ``create_graph=True`` gives higher derivatives.
    Op parameters and values saved for backward are attributes of the instance; ``inputs`` holds
    the input tensors while the graph is alive and is set to None when the graph is freed.
    ``seq`` is the node's rank, set when it is recorded (``next_seq()``): it decreases with every
    recorded node, so a node always ranks below the nodes that consume its output. ``hooks`` (the
    hooks registered on its output) and ``out_ref`` (a weak reference to an output that retains
    its gradient) are set only when used.
    """

    __slots__ = ("inputs", "out_ref", "hooks", "seq", "__weakref__")

    #: Optional fast path, ``backward_array(self, xp, gy) -> tuple``: what ``backward`` computes, on
    #: backend arrays (``gy`` and the gradients are arrays, or None). The engine uses it when the
    #: backward itself is not recorded (``create_graph=False``, the training-step case); returning
    #: None falls back to ``backward`` for cases it does not cover. Tests run both paths on every op.
    backward_array = None

    #: False for ops whose backward reads only their inputs' shapes and dtypes (add, sub, reshape,
    #: ...): the graph then keeps, for each non-leaf input, an edge without its values, so that
    #: intermediate arrays are freed as soon as the forward is done with them.
    keeps_inputs = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that redefines backward must not inherit its base's array path.
        if "backward" in cls.__dict__ and "backward_array" not in cls.__dict__:
            cls.backward_array = None
        # ... nor assume, with it, that its inputs' values are not needed.
        if "backward" in cls.__dict__ and "keeps_inputs" not in cls.__dict__:
            cls.keeps_inputs = True

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

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _device_error(op: Function, a, b) -> RuntimeError:
    return RuntimeError(
        f"{type(op).__name__}: expected all tensors to be on the same device, but found at least "
        f"two devices, {a._backend.device} and {b._backend.device}"
    )


def _shape_error(op: Function, a, b, err: Exception) -> ValueError:
    return ValueError(
        f"{type(op).__name__}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
        f"broadcast together ({err})"
    )


# NOTE: the apply functions are the hot path of every op: no per-call imports, namespace lookups
# or isinstance ladders here; anomaly mode costs one flag test, and only when an op is recorded.
# Tensor is bound at import time of tensorweaver.tensor (set_tensor_factory).
#: set once any tensor registers a hook or retain_grad() on a non-leaf (the engine skips the lookup
#: of ``hooks`` and ``out_ref`` while it is False)
hooks_used = False


#: The rank of the next recorded node (see Function.seq): 0, -1, -2, ... so that the engine's min-heap
#: pops the most recently recorded node first.
next_seq = itertools.count(0, -1).__next__


_Tensor = None
_scalar_types: frozenset = frozenset()
_host_ndarray = None
_new = object.__new__


def set_tensor_factory(tensor_cls, scalar_types: frozenset, host_ndarray) -> None:
    """Bind the Tensor class and what ``_output`` needs (called once by tensorweaver.tensor)."""
    global _Tensor, _scalar_types, _host_ndarray
    _Tensor, _scalar_types, _host_ndarray = tensor_cls, scalar_types, host_ndarray


class _ShapeOnly:
    """What an edge keeps of a tensor's array: its shape and dtype, not its memory."""

    __slots__ = ("shape", "dtype", "ndim")

    def __init__(self, a) -> None:
        self.shape, self.dtype, self.ndim = a.shape, a.dtype, a.ndim


#: arrays below this many elements are kept by the graph as they are: the memory an edge would free
#: is smaller than the cost of making it
EDGE_MIN_SIZE = 4096


def _edge(x):
    """``x`` for a leaf (its .grad is set through it) or a small tensor; for another non-leaf, a
    stand-in with the same ``grad_fn`` and shape, holding no array (its hooks live on that node)."""
    if x.grad_fn is None:
        return x
    size = x._data.size  # NOTE: None for an array-API array of unknown shape (a lazy backend)
    if size is not None and size < EDGE_MIN_SIZE:
        return x
    e = _output(_ShapeOnly(x._data), x._backend)
    e._requires_grad = True
    e.grad_fn = x.grad_fn
    return e


def _output(data, b):
    """``Tensor._wrap(data, b)`` as a plain function (a classmethod call costs more, once per op)."""
    if data.__class__ in _scalar_types:  # NOTE: see Tensor._wrap
        data = _host_ndarray(data)
    out = _new(_Tensor)
    out._data, out._backend, out._requires_grad, out._grad = data, b, False, None
    out.grad_fn = out._hooks = None
    out._retains_grad = False
    return out


def apply1(fn: Function, x):
    """Run a one-input op and record it when grad mode is on and ``x`` requires grad."""
    b = x._backend
    out = _output(fn.forward(b.xp, x._data), b)
    if x._requires_grad and state.enabled:
        out._requires_grad = True
        out.grad_fn = fn
        fn.inputs = (x,) if fn.keeps_inputs or x.grad_fn is None else (_edge(x),)
        fn.seq = next_seq()
        if state.anomaly:
            _record_creation(fn)
    return out


def apply2(fn: Function, x, y):
    """Run a two-input op; both inputs must be on one backend."""
    b = x._backend
    if y._backend is not b:
        raise _device_error(fn, x, y)
    try:
        data = fn.forward(b.xp, x._data, y._data)
    except ValueError as e:
        raise _shape_error(fn, x, y, e) from None
    out = _output(data, b)
    if (x._requires_grad or y._requires_grad) and state.enabled:
        out._requires_grad = True
        out.grad_fn = fn
        fn.inputs = (x, y) if fn.keeps_inputs else (_edge(x), y if y.grad_fn is None else _edge(y))
        fn.seq = next_seq()
        if state.anomaly:
            _record_creation(fn)
    return out


def apply_n(fn: Function, xs):
    """Run an op on a sequence of tensors (cat, stack, ...)."""
    b = xs[0]._backend
    for t in xs:
        if t._backend is not b:
            raise _device_error(fn, xs[0], t)
    out = _output(fn.forward(b.xp, *[t._data for t in xs]), b)
    if state.enabled and any(t._requires_grad for t in xs):
        out._requires_grad = True
        out.grad_fn = fn
        fn.inputs = tuple(xs)
        fn.seq = next_seq()
        if state.anomaly:
            _record_creation(fn)
    return out
