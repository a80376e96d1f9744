"""The backward engine: topological order, gradient accumulation, freeing the graph."""

from __future__ import annotations

from .grad_mode import state

__all__ = ["run_backward"]

_FREED = (
    "Trying to backward through the graph a second time (or to use values it saved after they "
    "were freed). Pass retain_graph=True to the first backward() or autograd.grad() call if you "
    "need to backward through the graph again."
)


def _topo_order(roots) -> list:
    """Functions reachable from ``roots``, each after every function that consumes its output.

    Iterative depth-first post-order (no recursion limit on deep graphs), reversed at the end, so a
    node's gradient is complete before it is propagated.
    """
    order = []
    seen = set()
    stack = [(fn, False) for fn in roots]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if fn in seen:
            continue
        seen.add(fn)
        inputs = fn.inputs
        if inputs is None:
            raise RuntimeError(_FREED)
        stack.append((fn, True))
        for x in inputs:
            p = x.grad_fn
            if p is not None and p not in seen:
                stack.append((p, False))
    order.reverse()
    return order


def run_backward(roots, grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Backpropagate ``grads`` (Tensors) from ``roots`` (Tensors).

    With ``inputs=None`` gradients accumulate into the ``.grad`` of the leaves; otherwise the
    gradients of ``inputs`` are returned (a list, None where unreachable) and no ``.grad`` changes.
    """
    pending: dict = {}  # Function -> gradient of its output, complete once it is reached
    handed: set = set()  # ids of the arrays given to a .grad in this call (see _owned)
    capture = None
    if inputs is not None:
        capture = {id(t): None for t in inputs}
        wanted_fns = {t.grad_fn: t for t in inputs if t.grad_fn is not None}
    prev = state.enabled
    state.enabled = create_graph
    try:
        for root, g in zip(roots, grads, strict=True):
            fn = root.grad_fn
            if fn is None:  # a leaf: its own gradient is g
                _deliver(root, g, capture, create_graph, handed)
            else:
                old = pending.get(fn)
                pending[fn] = g if old is None else old + g
        order = _topo_order([r.grad_fn for r in roots if r.grad_fn is not None])
        for fn in order:
            gy = pending.pop(fn, None)
            if gy is None:
                continue
            ref = getattr(fn, "out_ref", None)
            if ref is not None:
                gy = _on_output_grad(ref(), gy, capture, handed)
            if capture is not None and fn in wanted_fns:
                t = wanted_fns[fn]
                capture[id(t)] = gy
            gxs = fn.backward(gy)
            for x, gx in zip(fn.inputs, gxs, strict=True):
                if gx is None or not x._requires_grad:
                    continue
                p = x.grad_fn
                if p is None:
                    _deliver(x, gx, capture, create_graph, handed)
                else:
                    old = pending.get(p)
                    pending[p] = gx if old is None else old + gx
            if not retain_graph:
                fn.release()
    finally:
        state.enabled = prev
    if capture is not None:
        return [capture[id(t)] for t in inputs]
    return None


def _on_output_grad(t, gy, capture, handed):
    """Hooks and ``retain_grad()`` of a non-leaf tensor, run when its gradient is complete."""
    if t is None:
        return gy
    hooks = t._hooks
    if hooks:
        for h in hooks.values():
            r = h(gy)
            if r is not None:
                gy = r
    if t._retains_grad and capture is None:
        t._grad = _owned(gy, handed) if t._grad is None else t._grad + gy
    return gy


def _deliver(x, g, capture, create_graph, handed) -> None:
    """Hand a leaf its gradient: run its hooks, then accumulate into ``.grad`` (or capture it)."""
    hooks = x._hooks
    if hooks:
        for h in hooks.values():
            r = h(g)
            if r is not None:
                g = r
    if capture is not None:
        key = id(x)
        if key in capture:
            old = capture[key]
            capture[key] = g if old is None else old + g
        return
    old = x._grad
    if old is None:
        x._grad = g if create_graph else _owned(g, handed)
    else:
        x._grad = old + g


def _owned(g, handed: set):
    """A gradient that no other tensor shares memory with, so in-place edits of ``.grad`` are safe.

    NOTE: backward passes gradients through unchanged where it can (``a + b`` hands the same gy to
    both inputs, reshape returns a view); a copy is made only when the array may be shared: it is
    a view, or it was already handed to another tensor in this backward call.
    """
    b = g._backend
    data = g._data
    if id(data) in handed or not b.owns(data):
        data = b.xp.asarray(data, copy=True)
        g = type(g)._wrap(data, b)
    handed.add(id(data))
    return g
