"""``grad()`` and ``backward()``: the functional entry points to the engine, with PyTorch's signatures."""

from __future__ import annotations

from ..tensor import Tensor
from .engine import _owned, run_backward

__all__ = ["grad", "backward"]


def _as_tuple(xs, what: str) -> tuple:
    if isinstance(xs, Tensor):
        return (xs,)
    xs = tuple(xs)
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise TypeError(f"{what}[{i}] must be a Tensor, got {type(x).__name__}")
    return xs


def make_grads(outputs: tuple, grad_outputs, arg: str = "grad_outputs") -> list:
    """One gradient per output: given (checked against its output) or ones for a one-element output."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    else:
        grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    grads = []
    for i, (o, g) in enumerate(zip(outputs, grad_outputs, strict=True)):
        if not o._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; output {i} has shape {o.shape}: "
                    f"pass {arg} (a tensor of that shape)"
                )
            g = Tensor._wrap(o._backend.xp.ones_like(o._data), o._backend)
        else:
            if not isinstance(g, Tensor):
                g = Tensor(g, dtype=o.dtype, device=o.device)
            if g._backend is not o._backend:
                raise RuntimeError(f"{arg.rstrip('=')}[{i}] is on device {g.device}, but output {i} is on {o.device}")
            if g.shape != o.shape:
                raise RuntimeError(f"{arg.rstrip('=')}[{i}] has shape {g.shape}, but output {i} has shape {o.shape}")
            if g.dtype is not o.dtype:
                g = g.to(o.dtype)
        grads.append(g)
    return grads


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    materialize_grads: bool = False,
) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple, one per input); no ``.grad`` changes.

    ``grad_outputs`` weight the outputs (needed unless an output has one element). With
    ``create_graph=True`` the gradients are themselves differentiable (higher-order derivatives);
    the graph is kept when ``retain_graph`` (default: ``create_graph``). An input the outputs do
    not depend on is an error unless ``allow_unused`` (then its gradient is None, or zeros with
    ``materialize_grads``).
    """
    outputs = _as_tuple(outputs, "outputs")
    inputs = _as_tuple(inputs, "inputs")
    for i, x in enumerate(inputs):
        if not x._requires_grad:
            raise RuntimeError(f"one of the differentiated Tensors (input {i}, shape {x.shape}) does not require grad")
    grads = make_grads(outputs, grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outputs, grads, retain_graph, create_graph, inputs)
    for i, (x, g) in enumerate(zip(inputs, result, strict=True)):
        if g is None:
            if materialize_grads:
                result[i] = Tensor._wrap(x._backend.xp.zeros_like(x._data), x._backend)
            elif not allow_unused:
                raise RuntimeError(
                    f"one of the differentiated Tensors (input {i}, shape {x.shape}) appears to not have been "
                    f"used in the graph; set allow_unused=True if this is the desired behavior"
                )
    return tuple(result)


def backward(
    tensors, grad_tensors=None, retain_graph: bool | None = None, create_graph: bool = False, inputs=None
) -> None:
    """Accumulate the gradients of ``tensors`` (weighted by ``grad_tensors``) into the leaves' ``.grad``.

    With ``inputs``, only those tensors' ``.grad`` (leaves or not) receive their gradient.
    """
    tensors = _as_tuple(tensors, "tensors")
    grads = make_grads(tensors, grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        run_backward(tensors, grads, retain_graph, create_graph)
        return
    inputs = _as_tuple(inputs, "inputs")
    handed: set = set()
    for x, g in zip(inputs, run_backward(tensors, grads, retain_graph, create_graph, inputs), strict=True):
        if g is not None:
            x._grad = _owned(g, handed) if x._grad is None else x._grad + g
