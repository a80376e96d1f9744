"""User-defined ops, PyTorch style: subclass ``tw.autograd.Function`` with static forward/backward.

Each call of ``MyOp.apply(...)`` becomes one internal graph node per output (``_CustomNode``),
built on the same Function base as the library's own ops.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..ops._common import cast
from ..ops.reduce import sum_to
from ..tensor import Tensor
from . import function as _function
from .grad_mode import no_grad, state

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """The ``ctx`` of a custom Function: ``save_for_backward(*tensors)``, ``saved_tensors``,
    ``needs_input_grad`` (one bool per argument of forward); other attributes are free to use."""

    needs_input_grad: tuple[bool, ...]
    _to_save: tuple | None
    _saved: tuple | None
    _live: int
    _freed: bool
    _versions: tuple  # the saved tensors' versions when saved
    _node: Any  # a weak reference to one of this call's nodes, or None

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (or None) for backward; read them back as ``ctx.saved_tensors``."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors or None, got {type(t).__name__} at {i}")
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward``, in order."""
        saved = getattr(self, "_saved", None)
        if saved is None:
            to_save = getattr(self, "_to_save", None)
            if to_save is not None:  # read inside forward
                return to_save
            if getattr(self, "_freed", False):
                raise RuntimeError(_function_freed())
            return ()
        for t, v in zip(saved, self._versions):  # noqa: B905 - one version per saved tensor
            if t is not None and _saved_counter(t)[0] != v:
                raise _modified(self._node(), t, v)
        # NOTE: a saved output is kept as its array (saving the tensor would make a reference cycle
        # output -> node -> ctx -> output) and rebuilt here, connected to its node under create_graph.
        return tuple(t if not isinstance(t, _SavedOutput) else t.rebuild() for t in saved)

    def mark_non_differentiable(self, *tensors) -> None:
        """Outputs that get no gradient (they do not require grad)."""
        self._non_differentiable = {id(t) for t in tensors}


def _function_freed() -> str:
    return (
        "Trying to backward through the graph a second time (or to use saved tensors after they were freed); "
        "pass retain_graph=True to the first backward() or autograd.grad() call"
    )


class _SavedOutput:
    __slots__ = ("node", "data", "backend", "counter")

    def __init__(self, node, t: Tensor) -> None:
        # a weak reference: node -> ctx -> this -> node would be a cycle
        self.node, self.data, self.backend = weakref.ref(node), t._data, t._backend
        self.counter = _function.counter(t)

    def rebuild(self) -> Tensor:
        """The saved output as a tensor, attached to its node when the graph is being built."""
        t = Tensor._wrap(self.data, self.backend)
        t._vc = self.counter
        node = self.node()
        if state.enabled and node is not None and node.inputs is not None:
            t._requires_grad = True
            t.grad_fn = node
        return t


class _CustomNode(_function.Function):
    """The graph node of one output of a custom Function call."""

    __slots__ = ("cls", "ctx", "arg_index", "out_index", "n_args", "out_shapes")  # out_shapes: (shape, dtype) or None
    ctx: FunctionCtx | None  # None once released
    foreign_grads = True  # the user's backward may return tensors it keeps
    keeps_inputs = False  # its backward reads ctx.saved_tensors, whose versions saved_tensors checks

    def backward(self, gy):
        """The user's backward for this output, its gradients checked and fitted to the inputs."""
        ctx, k = self.ctx, self.out_index
        if len(self.out_shapes) == 1:
            gys = (gy,)
        else:  # NOTE: one node per output: the gradient is linear in the grad_outputs, so each node
            # calls the user's backward with zeros for the other outputs and the results add up.
            b = gy._backend
            gys = tuple(
                gy
                if i == k
                else None
                if s is None
                else Tensor._wrap(b.xp.zeros(s[0], dtype=s[1], device=b.native_device), b)
                for i, s in enumerate(self.out_shapes)
            )
        grads = self.cls.backward(ctx, *gys)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != self.n_args:
            raise RuntimeError(
                f"function {self.name} returned an incorrect number of gradients (expected {self.n_args}, "
                f"got {len(grads)}): one per argument of forward, None for non-Tensor arguments"
            )
        out = []
        for j, x in zip(self.arg_index, self.inputs, strict=True):
            g = grads[j]
            if g is None or not x._requires_grad:
                out.append(None)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"function {self.name} returned a {type(g).__name__} as gradient {j}, not a Tensor")
            if g._backend is not x._backend:
                raise RuntimeError(
                    f"function {self.name} returned gradient {j} on {g.device}, but the input is on {x.device}"
                )
            if g._data.shape != x._data.shape:
                if not _expandable(tuple(x._data.shape), tuple(g._data.shape)):
                    raise RuntimeError(
                        f"function {self.name} returned an invalid gradient at index {j}: got shape {g.shape} "
                        f"but expected shape {x.shape}"
                    )
                g = sum_to(g, x._data.shape)  # an expanded gradient sums back, as in PyTorch
            if g._data.dtype != x._data.dtype:
                g = cast(g, x.dtype)
            out.append(g)
        return tuple(out)

    def release(self) -> None:
        """Drop the inputs, and the saved tensors once every output's node is released."""
        self.inputs = None
        ctx, self.ctx = self.ctx, None
        if ctx is not None:
            ctx._live -= 1
            if ctx._live == 0:  # the last node of this call: free the saved tensors
                ctx._saved = None
                ctx._freed = True

    @property
    def name(self) -> str:
        """The user's class name + Backward, as in error messages."""
        return f"{self.cls.__name__}Backward"


class Function:
    """Base class of user-defined differentiable ops (PyTorch's ``torch.autograd.Function``).

    Define ``@staticmethod forward(ctx, *args)`` (runs under ``no_grad`` on Tensors; non-Tensor
    arguments are allowed) and ``@staticmethod backward(ctx, *grad_outputs)`` returning one
    gradient per argument of forward (None for non-Tensors or where there is none). Call it as
    ``MyOp.apply(*args)``. Write backward in Tensor ops for it to be differentiable again.
    """

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError(f"{type(self).__name__} is used as {type(self).__name__}.apply(...), not instantiated")

    @staticmethod
    def forward(ctx, *args):
        """Compute the outputs (a Tensor or a tuple) from ``args``; save what backward needs on ``ctx``."""
        raise NotImplementedError("a custom Function must define @staticmethod forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """One gradient per argument of forward, given one gradient per output."""
        raise NotImplementedError("a custom Function must define @staticmethod backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args):
        """Run forward on ``args`` and record the op for backward when an input requires grad."""
        ctx = FunctionCtx()
        record = state.enabled and any(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx.needs_input_grad = tuple(record and isinstance(a, Tensor) and a._requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args)
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        # new tensor objects even when forward returns an input as is (it must not get a grad_fn),
        # sharing its storage's version counter
        outputs = tuple(_shared(o) if isinstance(o, Tensor) else o for o in outputs)
        if record:
            arg_index = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
            inputs = tuple(args[i] for i in arg_index)
            non_diff = getattr(ctx, "_non_differentiable", ())
            shapes = tuple((o._data.shape, o._data.dtype) if isinstance(o, Tensor) else None for o in outputs)
            nodes = {}
            for k, o in enumerate(outputs):
                if (
                    not isinstance(o, Tensor)
                    or o.dtype.kind not in "fc"
                    or id(result if single else result[k]) in non_diff
                ):
                    continue
                node = _CustomNode()
                node.cls, node.ctx, node.arg_index, node.out_index = cls, ctx, arg_index, k
                node.n_args, node.out_shapes = len(args), shapes
                _function.record(node, o, inputs)
                _function.foreign_grads_used = True
                nodes[k] = node
            originals = result if not single else (result,)
            saved = getattr(ctx, "_to_save", None) or ()
            ctx._saved = tuple(_saved_entry(t, originals, outputs, nodes) for t in saved)
            ctx._versions = tuple(0 if t is None else _saved_counter(t)[0] for t in ctx._saved)
            ctx._node = weakref.ref(next(iter(nodes.values()))) if nodes else None
            ctx._live = len(nodes)
        else:
            ctx._saved = getattr(ctx, "_to_save", None) or ()
            ctx._versions = ()  # no backward will read them
        ctx._to_save = None
        return outputs[0] if single else outputs


def _expandable(shape: tuple, to: tuple) -> bool:
    """True when ``shape`` broadcasts to ``to``."""
    if len(shape) > len(to):
        return False
    return all(s in (1, t) for s, t in zip(shape, to[len(to) - len(shape) :], strict=True))


def _shared(o: Tensor) -> Tensor:
    t = _function.output(o._data, o._backend)
    t._vc = _function.counter(o)
    return t


def _saved_counter(t):
    return t.counter if isinstance(t, _SavedOutput) else t._vc


def _modified(node, t, expected: int) -> RuntimeError:
    if isinstance(t, _SavedOutput):
        d = t.data
        return _function.modified_error(node, t.backend.from_native[d.dtype], d.shape, node, t.counter[0], expected)
    return _function.modified_error(node, t.dtype, t._data.shape, t.grad_fn, t._vc[0], expected)


def _saved_entry(t, originals, outputs, nodes):
    for k, o in enumerate(originals):
        if t is o and k in nodes:
            return _SavedOutput(nodes[k], outputs[k])
    return t
