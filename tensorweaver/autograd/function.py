"""Function: one differentiable op (forward on backend arrays, backward on Tensors), and the one
place that builds a tensor from an array (``output``) and records a node (``record``)."""

from __future__ import annotations

import itertools
from typing import Any

from .._args import device_error
from .anomaly import created_at as _created_at
from .anomaly import flags as _anomaly
from .anomaly import record as _record_creation
from .grad_mode import state

__all__ = [
    "Function",
    "AccumulateGrad",
    "apply1",
    "apply2",
    "apply_n",
    "output",
    "record",
    "bump",
    "counter",
    "check_saved",
    "modified_error",
]


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
    reference to an output that retains its gradient) are set only when used. ``versions`` holds
    the version of each input when it was recorded (for ops that keep their inputs' values), and
    ``out_counter`` the version counter (with shape and dtype) of an output the op saved (``saves_output``): the engine
    checks them before backward runs (``check_saved``).

    Adding an op: forward, backward, ``keeps_inputs = False`` if backward reads only the inputs'
    shapes and dtypes, saved values released in ``release``, and one ``check_op`` line in the tests.
    ``keeps_inputs`` and ``saves_output`` are read once, when the class is made: set them in its body.
    Write a ``backward_array`` only for an op on a measured training step whose benchmark shows it
    pays (docs/design.md): the engine otherwise runs ``backward`` on the arrays wrapped as tensors.
    """

    __slots__ = ("inputs", "out_ref", "hooks", "seq", "versions", "out_counter", "__weakref__")
    inputs: Any  # the input tensors (a tuple); None once the graph is freed
    out_ref: Any
    hooks: dict
    seq: int
    versions: tuple | None  # the inputs' versions when recorded; None when backward reads no saved value
    out_counter: tuple  # the output's version counter, shape and dtype (saves_output only)

    #: Optional, ``backward_array(self, xp, gy) -> tuple``: what ``backward`` computes, on backend
    #: arrays (``gy`` and the gradients are arrays, or None). The engine calls it when the backward
    #: itself is not recorded (no ``create_graph``: every training step); returning None falls back to
    #: ``backward``. check_op tests both paths on every op.
    backward_array = None

    #: False for ops whose backward reads only their inputs' shapes and dtypes (add, sub, reshape,
    #: ...): the graph then keeps, for each large non-leaf input, an edge without its values, so that
    #: intermediate arrays are freed as soon as the forward is done with them.
    keeps_inputs = True

    #: True for ops that keep their output's array for backward (exp, tanh, log_softmax, ...): an
    #: in-place change of that output is then an error at backward, as for a kept input.
    saves_output = False

    #: True for ops whose output may share its input's memory (reshape, slicing: the backend tells
    #: whether it does), ``ALWAYS`` for those whose output is a view on every backend (permute,
    #: expand, flip): the output then shares the input's version counter (``share_counter``).
    is_view: bool | str = False

    #: True for nodes whose backward may return tensors that user code holds (custom Functions): the
    #: engine never hands those arrays to a ``.grad`` without a copy. The library's own backwards
    #: return new arrays or views of ``gy``.
    foreign_grads = False

    def __init_subclass__(cls, **kwargs) -> None:
        # NOTE: keeps_inputs and saves_output are read here, once per class: set them in the class body
        super().__init_subclass__(**kwargs)
        if cls.saves_output:
            cls._record1, cls._record2 = _record1_any, _record2_any
        elif cls.keeps_inputs:
            cls._record1, cls._record2 = _record1_kept, _record2_kept
        else:
            cls._record1, cls._record2 = _record1_edges, _record2_edges

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


def _shape_error(op: Function, a, b, err: ValueError) -> ValueError:
    """A forward's ValueError as PyTorch's RuntimeError when the shapes are the cause; any other
    (NumPy's "Integers to negative integer powers are not allowed") as it is, named by the op."""
    from .._errors import ShapeError  # noqa: PLC0415 - the error path only

    sa, sb = tuple(a._data.shape), tuple(b._data.shape)
    if all(m == n or 1 in (m, n) for m, n in zip(reversed(sa), reversed(sb), strict=False)):
        return ValueError(f"{type(op).__name__}: {err}")
    return ShapeError(f"{type(op).__name__}: shapes {sa} and {sb} cannot be broadcast together ({err})")


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

# set by tensor.py once Tensor exists (the one import cycle, broken in plain sight)
_Tensor: Any = None
_scalar_types: frozenset = frozenset()
_host_ndarray: Any = None
_new: Any = object.__new__


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
    out._vc = _UNCOUNTED
    return out


def record(fn: Function, out, inputs: tuple) -> None:
    """Make ``fn`` the node of ``out``, with ``inputs``, a rank, the versions of what its backward
    reads, and (in anomaly mode) where it was made."""
    out._requires_grad = True
    out.grad_fn = fn
    fn.inputs = inputs
    fn.seq = _next_seq()
    versions = tuple([x._vc[0] for x in inputs]) if fn.keeps_inputs else None
    if fn.saves_output:
        data = out._data
        out._vc = vc = [0]
        fn.out_counter = (vc, data.shape, data.dtype)
        versions = (versions or ()) + _CHECK_ALL
    fn.versions = versions
    if _anomaly.enabled:
        _record_creation(fn)


#: padding of ``Function.versions`` that sends the engine's inline check (one or two versions) to
#: ``check_saved``: a saved output (a recorded op has at least one input: one that requires grad)
_CHECK_ALL = (None, None, None)


# NOTE: apply1/apply2 record through ``fn._record1`` / ``fn._record2``, a method chosen per class
# (``Function.__init_subclass__``): the two common cases written out, ``record`` for the rest. A method
# lookup is specialized by Python 3.11 where a class attribute read through an instance is not
# (keeps_inputs, saves_output: ~18 ns each, read four or five times per op before).
def _record1_kept(fn: Function, out, x) -> None:
    out._requires_grad = True
    out.grad_fn = fn
    fn.inputs = (x,)
    fn.seq = _next_seq()
    fn.versions = (x._vc[0],)
    if _anomaly.enabled:
        _record_creation(fn)


def _record2_kept(fn: Function, out, x, y) -> None:
    out._requires_grad = True
    out.grad_fn = fn
    fn.inputs = (x, y)
    fn.seq = _next_seq()
    fn.versions = (x._vc[0], y._vc[0])
    if _anomaly.enabled:
        _record_creation(fn)


def _record1_edges(fn: Function, out, x) -> None:
    out._requires_grad = True
    out.grad_fn = fn
    fn.inputs = (x if x.grad_fn is None else _edge(x),)
    fn.seq = _next_seq()
    fn.versions = None
    if _anomaly.enabled:
        _record_creation(fn)


def _record2_edges(fn: Function, out, x, y) -> None:
    out._requires_grad = True
    out.grad_fn = fn
    fn.inputs = (x if x.grad_fn is None else _edge(x), y if y.grad_fn is None else _edge(y))
    fn.seq = _next_seq()
    fn.versions = None
    if _anomaly.enabled:
        _record_creation(fn)


def _record1_any(fn: Function, out, x) -> None:
    record(fn, out, (x,) if fn.keeps_inputs or x.grad_fn is None else (_edge(x),))


def _record2_any(fn: Function, out, x, y) -> None:
    record(
        fn,
        out,
        (x, y) if fn.keeps_inputs else (x if x.grad_fn is None else _edge(x), y if y.grad_fn is None else _edge(y)),
    )


Function._record1, Function._record2 = _record1_any, _record2_any  # type: ignore[attr-defined]


# -- version counters --------------------------------------------------------------------------------
# Every storage has a version counter, a one-element list shared by the tensors that view it and
# bumped by every in-place op (``bump``). A tensor whose storage was never viewed or changed has the
# shared, immutable ``_UNCOUNTED`` (version 0) instead, so that building a tensor costs no allocation;
# its own counter is made the first time it is needed (``counter``).
_UNCOUNTED = (0,)


def counter(t) -> list:
    """The version counter of ``t``'s storage (made now if it has none yet)."""
    vc = t._vc
    if vc is _UNCOUNTED:
        vc = t._vc = [0]
    return vc


def bump(t) -> None:
    """Count an in-place change of ``t``'s storage: every in-place op calls it once it succeeded."""
    vc = t._vc
    if vc is _UNCOUNTED:
        t._vc = [1]
    else:
        vc[0] += 1


#: ``Function.is_view`` of an op whose output is a view of its input on every backend
ALWAYS = "always"


def share_counter(fn: Function, x, out) -> None:
    """Give the view ``out`` of ``x`` the version counter of ``x``'s storage, unless the backend can
    tell that ``out`` is a copy (a reshape of a non-contiguous array, a fancy index)."""
    if fn.is_view is not ALWAYS:  # NOTE: the check costs ~1% of a textbook step (.T): only where needed
        b = x._backend
        base = b.memory_base(out._data)
        if base is not None and base is not b.memory_base(x._data):
            return
    vc = x._vc  # NOTE: counter(x) inlined
    if vc is _UNCOUNTED:
        vc = x._vc = [0]
    out._vc = vc


def check_saved(fn: Function, xs: tuple) -> None:
    """Raise PyTorch's error when a value ``fn``'s backward reads was changed in place since ``fn``
    was recorded (an input it keeps, or its saved output)."""
    for x, v in zip(xs, fn.versions or ()):  # noqa: B905 - one per input (then _CHECK_ALL's Nones)
        if v is not None and x._vc[0] != v:
            raise modified_error(fn, x._backend.from_native[x._data.dtype], x._data.shape, x.grad_fn, x._vc[0], v)
    if fn.saves_output:
        vc, shape, dtype = fn.out_counter
        if vc[0] != 0:
            raise modified_error(fn, xs[0]._backend.from_native[dtype], shape, fn, vc[0], 0)


def modified_error(fn: Function, dtype, shape, maker, version: int, expected: int) -> RuntimeError:
    """PyTorch's error for a value ``fn`` saved (of ``dtype`` and ``shape``, output of ``maker``, or
    None for a leaf) found at ``version`` instead of ``expected``."""
    what = f"[{dtype} tensor of shape {tuple(shape)}]"
    if maker is not None:
        what += f", which is output 0 of {maker.name},"
    where = (
        _created_at(fn)
        if _anomaly.enabled
        else f"Hint: enable anomaly detection (tw.autograd.set_detect_anomaly(True)) to see where {fn.name} was made."
    )
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"{what} is at version {version}; expected version {expected} instead ({fn.name} saved it for its "
        f"backward). {where}"
    )


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
    if fn.is_view:
        share_counter(fn, x, out)
    if x._requires_grad and state.enabled:
        fn._record1(out, x)
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
        fn._record2(out, x, y)
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
