"""``grad()`` and ``backward()``: the functional entry points to the engine, with PyTorch's signatures."""

from __future__ import annotations

from ..tensor import Tensor
from .engine import run_backward

__all__ = ["grad", "backward"]


def _as_tuple(xs, what: str) -> tuple:
    if isinstance(xs, Tensor):
        return (xs,)
    xs = tuple(xs)
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise TypeError(f"{what}[{i}] must be a Tensor, got {type(x).__name__}")
    return xs


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
    result = run_backward(
        outputs, _per_output(grad_outputs, outputs), retain_graph, create_graph, inputs, False, "grad_outputs"
    )
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
    inputs = None if inputs is None else _as_tuple(inputs, "inputs")
    run_backward(tensors, _per_output(grad_tensors, tensors), retain_graph, create_graph, inputs, True, "grad_tensors")


def _per_output(grads, outputs) -> tuple:
    """One gradient (or None) per output, from None, a tensor or a sequence."""
    if grads is None:
        return (None,) * len(outputs)
    grads = (grads,) if isinstance(grads, Tensor) else tuple(grads)
    if len(grads) != len(outputs):
        raise RuntimeError(f"got {len(grads)} gradients for {len(outputs)} outputs")
    return grads
