"""The backward engine: topological order, gradient accumulation, freeing the graph."""

from __future__ import annotations

from heapq import heappop as _heappop
from heapq import heappush as _heappush

from . import anomaly as _anomaly
from . import function as _fn
from .grad_mode import state

__all__ = ["run_backward"]

_FREED = (
    "Trying to backward through the graph a second time (or to use values it saved after they "
    "were freed). Pass retain_graph=True to the first backward() or autograd.grad() call if you "
    "need to backward through the graph again."
)


def _count_error(fn, gxs) -> str:
    return f"{fn.name}: backward returned {len(gxs)} gradients for {len(fn.inputs)} inputs"


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
        stack.append((fn, True))
        for x in fn.inputs or ():  # a freed node (inputs None) is an error only if it has to run
            p = x.grad_fn
            if p is not None and p not in seen:
                stack.append((p, False))
    order.reverse()
    return order


def _needed(order, inputs) -> set:
    """The functions of ``order`` whose backward leads to one of ``inputs`` (the others are skipped)."""
    leaves = {id(t) for t in inputs if t.grad_fn is None}
    wanted = {t.grad_fn for t in inputs if t.grad_fn is not None}
    needed: set = set()
    for fn in reversed(order):  # producers first
        if fn.inputs is None and fn not in wanted:  # freed: it may lead to an input, and running it fails
            needed.add(fn)
        for x in fn.inputs or ():
            p = x.grad_fn
            if (id(x) in leaves) if p is None else (p in wanted or p in needed):
                needed.add(fn)
                break
    return needed


def run_backward(roots, grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Backpropagate ``grads`` (Tensors) from ``roots`` (Tensors).

    With ``inputs=None`` gradients accumulate into the ``.grad`` of the leaves; otherwise the
    gradients of ``inputs`` (leaves or not) are returned (a list, None where unreachable), only
    the functions leading to them run, and no ``.grad`` changes.
    """
    if not create_graph and inputs is None and len(roots) == 1 and not state.anomaly:
        return _run_arrays(roots[0], grads[0]._data, retain_graph)
    pending: dict = {}  # Function -> gradient of its output, complete once it is reached
    leaves: dict = {}  # id(leaf) -> [leaf, gradient], delivered once complete, after the walk
    handed: set = {id(g._data) for g in grads}  # arrays the caller owns or given to a .grad (see _owned)
    capture = None
    wanted_fns: dict = {}
    if inputs is not None:
        capture = {id(t): None for t in inputs}
        wanted_fns = {t.grad_fn: t for t in inputs if t.grad_fn is not None}
    anomaly = state.anomaly
    prev = state.enabled
    state.enabled = create_graph
    try:
        for root, g in zip(roots, grads, strict=True):
            fn = root.grad_fn
            if fn is None:  # a leaf: its own gradient is g
                _add_leaf(leaves, root, g)
            else:
                old = pending.get(fn)
                pending[fn] = g if old is None else old + g
        order = _topo_order([r.grad_fn for r in roots if r.grad_fn is not None])
        hooks = _fn.hooks_used
        needed = None if capture is None else _needed(order, inputs)
        for fn in order:
            gy = pending.pop(fn, None)
            if gy is None:
                continue
            run = needed is None or fn in needed
            if not run and fn not in wanted_fns:
                continue
            if hooks:
                gy = _on_output_grad(fn, gy, capture, handed)
            if capture is not None and fn in wanted_fns:
                capture[id(wanted_fns[fn])] = gy
            if not run:
                continue
            if fn.inputs is None:
                raise RuntimeError(_FREED)
            gxs = _anomaly.checked_backward(fn, gy) if anomaly else fn.backward(gy)
            if len(gxs) != len(fn.inputs):
                raise RuntimeError(_count_error(fn, gxs))
            for x, gx in zip(fn.inputs, gxs):  # noqa: B905 - counted above
                if gx is None or not x._requires_grad:
                    continue
                p = x.grad_fn
                if p is None:
                    _add_leaf(leaves, x, gx)
                else:
                    old = pending.get(p)
                    pending[p] = gx if old is None else old + gx
            if not retain_graph:
                fn.release()
        for x, g in leaves.values():
            _deliver(x, g, capture, handed)
    finally:
        state.enabled = prev
    if capture is not None:
        return [capture[id(t)] for t in inputs]
    return None


def _run_arrays(root, grad, retain_graph: bool) -> None:
    """``backward()`` of one tensor without ``create_graph`` (every training step), from ``grad``, a
    backend array the caller owns: no graph of the backward is wanted, so gradients stay backend
    arrays and each function runs its ``backward_array`` where it has one (its Tensor ``backward``
    under no_grad otherwise).

    Order by rank: a function runs when it has the highest ``seq`` of those a gradient has reached.
    Every consumer of a function's output was recorded after it (ranks higher) and is reached
    before it, so its gradient is complete when it runs; no walk of the graph is needed first.
    """
    handed = {id(grad)}  # arrays the caller owns or already given to a .grad (see _owned)
    leaves: dict = {}  # id(leaf) -> [leaf, gradient]
    fn = root.grad_fn
    if fn is None:
        _add_leaf(leaves, root, grad)
        _deliver_arrays(leaves, handed)
        return
    hooks = _fn.hooks_used
    pending = {fn: grad}
    heap = [(fn.seq, fn)]
    heappop, heappush, base_release = _heappop, _heappush, _fn.Function.release
    prev = state.enabled
    state.enabled = False
    try:
        while heap:
            fn = heappop(heap)[1]
            gy = pending.pop(fn)
            inputs = fn.inputs
            if inputs is None:
                raise RuntimeError(_FREED)
            # NOTE: gy lives on the backend of fn's inputs; the one op whose output is elsewhere
            # (ToBackend) moves it in its own backward_array.
            b = inputs[0]._backend
            if hooks and (getattr(fn, "hooks", None) or getattr(fn, "out_ref", None) is not None):
                gy = _on_output_grad(fn, _wrap(gy, b), None, handed)._data
            backward_array = fn.backward_array
            gxs = None if backward_array is None else backward_array(b.xp, gy)
            if gxs is None:
                gxs = [None if g is None else g._data for g in fn.backward(_wrap(gy, b))]
            if len(gxs) != len(inputs):
                raise RuntimeError(_count_error(fn, gxs))
            for x, gx in zip(inputs, gxs):  # noqa: B905 - counted above; a strict= keyword doubles the cost of zip()
                if gx is None:
                    continue
                p = x.grad_fn
                if p is None:
                    if x._requires_grad:
                        _add_leaf(leaves, x, gx)
                elif p in pending:
                    pending[p] = pending[p] + gx
                else:
                    pending[p] = gx
                    heappush(heap, (p.seq, p))
            if not retain_graph:
                if type(fn).release is base_release:
                    fn.inputs = None
                else:
                    fn.release()
        gy = gxs = None  # NOTE: drop the last gradients, so that owns() sees their views' bases free
        _deliver_arrays(leaves, handed)
    finally:
        state.enabled = prev


def _deliver_arrays(leaves: dict, handed: set) -> None:
    for x, g in leaves.values():
        b = x._backend
        if x._hooks or x._grad is not None:
            _deliver(x, _wrap(g, b), None, handed)
            continue
        x._grad = _wrap(_owned_array(g, b, handed), b)  # the common case: a leaf's first gradient


def _add_leaf(leaves: dict, x, g) -> None:
    entry = leaves.get(id(x))
    if entry is None:
        leaves[id(x)] = [x, g]
    else:
        entry[1] = entry[1] + g


def _run_hooks(hooks, g):
    for h in tuple(hooks.values()):
        r = h(g)
        if r is not None:
            g = r
    return g


def _on_output_grad(fn, gy, capture, handed):
    """The hooks and ``retain_grad()`` of the non-leaf tensor ``fn`` made, run when its gradient is
    complete. The hooks live on the node (they run even when the tensor object is gone); the
    retained gradient goes to the tensor if it still exists (``out_ref``)."""
    hooks = getattr(fn, "hooks", None)
    if hooks:
        gy = _run_hooks(hooks, gy)
    ref = getattr(fn, "out_ref", None)
    t = None if ref is None else ref()
    if t is not None and t._retains_grad and capture is None:
        # NOTE: a copy, since gy goes on down the graph; under create_graph it keeps its graph.
        g = _owned(gy, handed)
        t._grad = g if t._grad is None else t._grad + gy
    return gy


def _deliver(x, g, capture, handed) -> None:
    """Hand a leaf its complete gradient: run its hooks, then accumulate into ``.grad`` (or capture it)."""
    if capture is not None and id(x) not in capture:
        return  # a leaf beside the path to grad()'s inputs: its hooks don't run
    if x._hooks:
        g = _run_hooks(x._hooks, g)
    if capture is not None:
        capture[id(x)] = g
        return
    old = x._grad
    if old is None:
        x._grad = _owned(g, handed)
    else:
        x._grad = old + g


def _wrap(data, b):
    return _fn._output(data, b)  # NOTE: Tensor._wrap; usable once tensorweaver.tensor is imported


def _owned(g, handed: set):
    """A gradient that no other tensor shares memory with, so in-place edits of ``.grad`` are safe.

    NOTE: backward passes gradients through unchanged where it can (``a + b`` hands the same gy to
    both inputs, reshape returns a view); a copy is made only when the array may be shared: it is
    a view, or it was already handed to another tensor in this backward call.
    """
    if not g._requires_grad:
        data = g._data
        owned = _owned_array(data, g._backend, handed)
        return g if owned is data else _wrap(owned, g._backend)
    if id(g._data) in handed or not g._backend.owns(g._data):
        g = g.clone()  # under create_graph: a copy that keeps the graph
    handed.add(id(g._data))
    return g


def _owned_array(data, b, handed: set):
    """``data``, or a copy of it where it may be shared (see ``_owned``); recorded in ``handed``."""
    if id(data) in handed or not b.owns(data):
        data = b.xp.asarray(data, copy=True)
    handed.add(id(data))
    return data
