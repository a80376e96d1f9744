"""The backward engine: one rank-ordered walk of the graph, accumulating gradients and freeing it."""

from __future__ import annotations

from heapq import heappop as _heappop
from heapq import heappush as _heappush

from . import anomaly as _anomaly
from . import function as _fn
from .grad_mode import state
from .grads import add_leaf, deliver, deliver_if_complete, early_leaves, mark, on_output_grad, owned, owned_array, seed

__all__ = ["run_backward"]

_base_release = _fn.Function.release

_FREED = (
    "Trying to backward through the graph a second time (or to use values it saved after they "
    "were freed). Pass retain_graph=True to the first backward() or autograd.grad() call if you "
    "need to backward through the graph again."
)


def run_backward(roots, grads, retain_graph=None, create_graph=False, inputs=None, accumulate=True, what="gradient"):
    """Backpropagate from ``roots`` (tensors), each weighted by its entry of ``grads`` (a tensor of
    the root's shape, or None for a one-element root). The one engine behind ``backward()`` and
    ``autograd.grad()``.

    Without ``inputs``, gradients accumulate into the ``.grad`` of the leaves that require grad.
    With ``inputs`` only the functions leading to them run, and their gradients (leaves or not;
    None where unreachable) are returned, and also accumulated into their ``.grad`` if
    ``accumulate``. The graph is freed unless ``retain_graph`` (default: ``create_graph``). ``what``
    names the gradients in errors (``gradient``, ``grad_outputs``).

    The walk pops the function of highest rank (``Function.seq``): every consumer of a function's
    output was recorded after it and is reached before it, so a gradient is complete when its
    function runs. Under ``create_graph`` (and anomaly mode) gradients are Tensors and each backward
    is recorded; otherwise they are backend arrays, and each function runs its ``backward_array``
    where it has one, its Tensor backward on wrapped arrays under no_grad elsewhere.
    """
    if retain_graph is None:
        retain_graph = create_graph
    arrays = not create_graph and not _anomaly.flags.enabled
    leaves: dict = {}  # id(leaf) -> [leaf, gradient], delivered once complete
    pending: dict = {}  # function -> the gradient of its output so far
    heap: list = []
    handed: set = set()  # ids of arrays the caller or a .grad holds (see grads.owned_array)
    for i, (root, g) in enumerate(zip(roots, grads)):  # noqa: B905 - one per root (api.py checks)
        if g is None and root._requires_grad and root._data.size == 1:  # a loss: ones, the engine's own
            g = root._backend.xp.ones_like(root._data)
            if not arrays:
                g = _fn.output(g, root._backend)
        else:
            g = seed(root, g, i, arrays, what)
            mark(handed, g if arrays else g._data, root._backend)
        fn = root.grad_fn
        if fn is None:
            add_leaf(leaves, root, g)
        elif fn in pending:
            pending[fn] = pending[fn] + g
        else:
            pending[fn] = g
            _heappush(heap, (fn.seq, fn))
    capture = wanted = needed = None
    if inputs is not None:
        capture = dict.fromkeys(map(id, inputs))
        wanted = {t.grad_fn: t for t in inputs if t.grad_fn is not None}
        needed = _needed(roots, inputs, wanted)
    early = early_leaves(_walk(roots)) if _fn.post_hooks_used and inputs is None else None
    hooks, foreign = _fn.hooks_used, _fn.foreign_grads_used
    special = hooks or foreign or wanted is not None or early is not None  # else: one test per node
    prev = state.enabled
    state.enabled = create_graph
    heappop, heappush, base_release = _heappop, _heappush, _base_release  # locals: read once per node
    try:
        while heap:
            fn = heappop(heap)[1]
            gy = pending.pop(fn)
            xs = fn.inputs
            if special:
                b = _before(fn, xs, wanted, needed)
                if hooks and (getattr(fn, "hooks", None) or getattr(fn, "out_ref", None) is not None):
                    gy = on_output_grad(fn, gy, capture is not None, handed, b, arrays)
                if capture is not None and wanted is not None:
                    if fn in wanted:
                        capture[id(wanted[fn])] = gy
                    if fn not in needed:
                        continue
            elif xs is None:
                raise RuntimeError(_FREED)
            else:
                b = xs[0]._backend  # NOTE: gy's backend too, but for ToBackend, whose backward_array moves it
            vs = fn.versions
            if vs is not None:  # it reads saved values: none may have changed in place since
                n = len(vs)  # NOTE: one or two inputs inline (a call costs 3x); a saved output pads vs to > 2
                if n > 2 or xs[0]._vc[0] != vs[0] or (n == 2 and xs[1]._vc[0] != vs[1]):
                    _fn.check_saved(fn, xs)
            if arrays:
                backward_array = fn.backward_array
                gxs = None if backward_array is None else backward_array(b.xp, gy)
                if gxs is None:
                    gxs = [None if g is None else g._data for g in fn.backward(_fn.output(gy, b))]
            else:
                gxs = _anomaly.checked_backward(fn, gy) if _anomaly.flags.enabled else fn.backward(gy)
            if len(gxs) != len(xs):
                raise RuntimeError(f"{fn.name}: backward returned {len(gxs)} gradients for {len(xs)} inputs")
            if special and foreign and fn.foreign_grads:  # a user's backward: it may hold the tensors it returns
                for gx in gxs:
                    if gx is not None:
                        mark(handed, gx if arrays else gx._data, b)
            for x, gx in zip(xs, gxs):  # noqa: B905 - counted above; a strict= keyword doubles the cost of zip()
                if gx is None:
                    continue
                p = x.grad_fn
                if p is None:
                    if x._requires_grad:
                        add_leaf(leaves, x, gx)
                elif p in pending:
                    pending[p] = pending[p] + gx
                else:
                    pending[p] = gx
                    heappush(heap, (p.seq, p))
            if special and early is not None:
                for x in xs:
                    if x.grad_fn is None and id(x) in early:
                        deliver_if_complete(x, early, leaves, handed, arrays)
            if not retain_graph:
                if type(fn).release is base_release:  # NOTE: inlined: one call less per node
                    fn.inputs = None
                else:
                    fn.release()
        gy = gxs = None
        for x, g in leaves.values():
            if arrays and capture is None and x._grad is None and not x._hooks:  # a leaf's first gradient
                x._grad = _fn.output(owned_array(g, x._backend, handed), x._backend)
            else:
                deliver(x, g, capture, handed, arrays)
    finally:
        state.enabled = prev
    if inputs is None or capture is None:
        return None
    out = []
    for t in inputs:
        g = capture[id(t)]
        if g is not None and arrays:
            g = _fn.output(g, t._backend)
        if g is not None and accumulate:
            t._grad = owned(g, handed) if t._grad is None else t._grad + g
        out.append(g)
    return out


def _before(fn, xs, wanted, needed):
    """The backend of ``fn``'s gradient; a freed graph is an error unless ``fn`` is only wanted by
    ``grad()`` (its backward does not run)."""
    if xs is None:
        if needed is None or fn in needed:
            raise RuntimeError(_FREED)
        return wanted[fn]._backend
    return xs[0]._backend


def _walk(roots):
    """The functions reachable from ``roots``, each after every function its inputs come from
    (iterative depth-first post-order: no recursion limit on deep graphs)."""
    order, seen = [], set()
    stack = [(r.grad_fn, False) for r in roots if r.grad_fn is not None]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
        elif fn not in seen:
            seen.add(fn)
            stack.append((fn, True))
            stack.extend((x.grad_fn, False) for x in fn.inputs or () if x.grad_fn is not None)
    return order


def _needed(roots, inputs, wanted) -> set:
    """The functions whose backward leads to one of ``inputs`` (``grad()`` runs only these); a freed
    one counts (running it raises), unless it is only wanted itself."""
    leaf_ids = {id(t) for t in inputs if t.grad_fn is None}
    needed: set = set()
    for fn in _walk(roots):
        if fn.inputs is None:
            if fn not in wanted:
                needed.add(fn)
        elif any(
            id(x) in leaf_ids if x.grad_fn is None else x.grad_fn in wanted or x.grad_fn in needed for x in fn.inputs
        ):
            needed.add(fn)
    return needed
