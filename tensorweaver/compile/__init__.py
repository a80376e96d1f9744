"""``tw.compile``: record a training step once, then replay it as straight-line array code.

The first call runs ``fn`` eagerly and records every backend array operation it makes (forward,
``backward()``, the optimizer's ``step()`` and ``zero_grad()``, ``w.data -= lr * w.grad``) as a flat
program over array slots; later calls whose guards match run that program: no Tensor or Function
objects per op, and afterwards every tensor (data, ``.grad``, ``requires_grad``, optimizer state) is
as an eager call would have left it. The machinery (``_api``, ``_record``, ``_program``, ``_cuda``) is
imported on the first ``compile`` call: ``import tensorweaver`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compile", "CompileWarning", "Unrecordable", "CompiledFunction"]


class CompileWarning(UserWarning):
    """A compiled function runs eagerly from now on; the message says which operation and where."""


class Unrecordable(RuntimeError):
    """Raised by ``tw.compile(fn, fullgraph=True)`` when ``fn`` does something a program can't replay."""


def compile(fn: Any = None, *, fullgraph: bool = False, mode: str | None = None) -> Any:  # noqa: A001 - PyTorch's name
    """Compile ``fn`` (also as a decorator: ``@tw.compile`` or ``@tw.compile(fullgraph=True)``).

    The first call runs ``fn`` eagerly and records its array operations; later calls whose guards
    match replay the recording (generated straight-line Python: dead values dropped, no-op reshapes
    and double transposes removed, NumPy temporaries reused through ``out=``; on CUDA one CUDA graph
    launch after a warm replay, unless ``mode="eager-replay"``).

    ``fn`` may take tensors and Python values, read tensors it closes over (parameters, a model, an
    optimizer), update leaves in place (``w.data -= lr * w.grad``, ``optimizer.step()``), set
    ``w.grad = None``, call ``loss.backward()``, and return tensors (or tuples, lists and dicts of
    them). Returned tensors are detached (call ``backward()`` inside ``fn``).

    Guards (a mismatch records again; up to 8 programs are kept): the shape, dtype, device, strides
    and ``requires_grad`` of every tensor argument and every tensor read; grad mode and the default
    dtype; the identity of tensors and objects reached through ``fn``'s closure, the globals it names,
    its ``self`` and its arguments (modules, optimizers, attributes of user objects, to a depth of
    6); the Python numbers, strings and flags found there (``model.training``, a closed-over ``lr``).
    An optimizer's ``lr``, ``betas``, ... and step counts are read afresh by each replay (a
    scheduler's change needs no new recording); a branch on them is guarded. Random ops draw new
    numbers on every replay from the generator an eager call would use.

    What cannot be recorded -- a host read (``.item()``, ``bool(t)``, ``if loss > 0:``, printing),
    a data-dependent shape (boolean-mask indexing, ``nonzero``), a gradient hook or module forward
    hook, a tensor made from host data inside ``fn``, a tensor with a graph made outside ``fn`` --
    makes ``fn`` run eagerly from then on, with one ``CompileWarning`` naming the operation and the
    line; with ``fullgraph=True`` it raises ``Unrecordable`` there instead.

    NOTE: Python side effects other than tensor state (appending to a list, printing) happen only
    in the recorded call, as with ``jax.jit``; a recording is not thread-safe (the other threads'
    tensorweaver calls during it are not recorded).
    """
    from . import _api

    return _api.compile(fn, fullgraph=fullgraph, mode=mode)


def __getattr__(name: str):
    if name == "CompiledFunction":
        from ._api import CompiledFunction

        return CompiledFunction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
