"""Where gradients come from and go: the gradients given to backward (checked), hooks, retain_grad,
the leaves' ``.grad`` (accumulated, or captured for ``grad()``), post-accumulate hooks (delivered
early), and the rule that keeps a ``.grad`` from sharing memory."""

from __future__ import annotations

from . import function as _fn

__all__ = [
    "PostAccumulate",
    "add_leaf",
    "deliver",
    "deliver_if_complete",
    "early_leaves",
    "mark",
    "on_output_grad",
    "owned",
    "owned_array",
    "run_hooks",
    "seed",
]


def add_leaf(leaves: dict, x, g) -> None:
    """Add ``g`` to the gradient collected so far for leaf ``x`` (delivered after the walk)."""
    entry = leaves.get(id(x))
    if entry is None:
        leaves[id(x)] = [x, g]
    else:
        entry[1] = entry[1] + g


class PostAccumulate:
    """A hook of ``register_post_accumulate_grad_hook``: called with the leaf once its ``.grad`` is final."""

    __slots__ = ("fn",)

    def __init__(self, fn) -> None:
        self.fn = fn


def mark(handed: set, arr, b) -> None:
    """Record that ``arr`` (and the array that owns its memory) may be held outside the engine: a
    caller's gradient, what a hook saw, what a custom Function returned. It is copied before it
    goes to a ``.grad``."""
    handed.add(id(arr))
    base = b.memory_base(arr)
    if base is not None:
        handed.add(id(base))


def run_hooks(hooks, g, handed: set):
    """Run the gradient hooks in ``hooks`` (not the post-accumulate ones) on ``g``; a returned tensor replaces it."""
    for h in tuple(hooks.values()):
        if type(h) is not PostAccumulate:
            mark(handed, g._data, g._backend)  # NOTE: the hook may keep g
            r = h(g)
            if r is not None:
                g = r
                mark(handed, g._data, g._backend)
    return g


def on_output_grad(fn, gy, capturing: bool, handed: set, b, arrays: bool):
    """The hooks and ``retain_grad()`` of the non-leaf tensor ``fn`` made, run when its gradient is
    complete. The hooks live on the node (they run even when the tensor object is gone); the
    retained gradient goes to the tensor if it still exists (``out_ref``)."""
    g = _fn.output(gy, b) if arrays else gy
    hooks = getattr(fn, "hooks", None)
    if hooks:
        g = run_hooks(hooks, g, handed)
    ref = getattr(fn, "out_ref", None)
    t = None if ref is None else ref()
    if t is not None and t._retains_grad and not capturing:
        t._grad = g.clone() if t._grad is None else t._grad + g  # a copy: g goes on down the graph
    return g._data if arrays else g


def deliver(x, g, capture, handed: set, arrays: bool) -> None:
    """Hand a leaf its complete gradient: run its hooks, then accumulate into ``.grad`` (or capture
    it), then run its post-accumulate hooks."""
    if capture is not None and id(x) not in capture:
        return  # a leaf beside the path to grad()'s inputs: its hooks don't run
    hooks = x._hooks
    if arrays:
        g = _fn.output(g, x._backend)
    if hooks:
        g = run_hooks(hooks, g, handed)
    if capture is not None:
        capture[id(x)] = g._data if arrays else g
        return
    x._grad = owned(g, handed) if x._grad is None else x._grad + g
    if hooks:
        for h in tuple(hooks.values()):
            if type(h) is PostAccumulate:
                h.fn(x)


def owned(g, handed: set):
    """``g``, or a copy where it may share memory with another tensor, so that in-place edits of
    ``.grad`` are safe: see ``_owned_array`` (under create_graph the copy keeps its graph)."""
    data = g._data
    if g._requires_grad:
        owner = g._backend.memory_owner(data)
        if owner is None or id(owner) in handed or id(data) in handed:
            g = g.clone()
            owner = g._data
        handed.add(id(g._data))
        handed.add(id(owner))
        return g
    owned = owned_array(data, g._backend, handed)
    return g if owned is data else _fn.output(owned, g._backend)


def owned_array(data, b, handed: set):
    """``data``, or a copy of it where it may share memory with another tensor.

    NOTE: backward passes gradients on unchanged where it can (``a + b`` hands one gy to both
    inputs, a transpose returns a view). An array is the engine's to hand to a ``.grad`` when it
    covers all of its memory's owner (``Backend.memory_owner``: itself, or a whole contiguous view
    of it, as the transposed weight gradient of ``x @ W.T``) and neither it nor that owner was
    handed out before in this backward (to a ``.grad`` or a hook) or came from the caller. The rule
    rests on array identity, not on reference counts, so it holds on every Python version.
    """
    owner = b.memory_owner(data)
    if owner is None or id(data) in handed or (owner is not data and id(owner) in handed):
        data = owner = b.xp.asarray(data, copy=True)
    handed.add(id(data))
    if owner is not data:
        handed.add(id(owner))
    return data


def seed(root, g, i: int, arrays: bool, what: str):
    """The gradient ``g`` given for ``root``, checked (shape, device; cast to its dtype); an array
    when ``arrays``. (The ones of a one-element root are made by the caller.)"""
    if not root._requires_grad:
        raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    b = root._backend
    if g is None:
        raise RuntimeError(
            f"grad can be implicitly created only for scalar outputs; output {i} has shape {root.shape}: "
            f"pass {what}= (a tensor of that shape)"
        )
    if not isinstance(g, _fn._Tensor):
        g = _fn._Tensor(g, dtype=root.dtype, device=root.device)
    if g._backend is not b:
        raise RuntimeError(f"{what}[{i}] is on device {g.device}, but output {i} is on {root.device}")
    if g._data.shape != root._data.shape:
        raise RuntimeError(f"{what}[{i}] has shape {g.shape}, but output {i} has shape {root.shape}")
    if g._data.dtype != root._data.dtype:
        g = g.to(root.dtype)
    return g._data if arrays else g


def early_leaves(functions) -> dict:
    """id(leaf) -> [edges left] for the leaves with post-accumulate hooks among the inputs of
    ``functions`` (the graph): each is delivered as soon as every function that consumes it has run
    (DistributedDataParallel starts its all-reduce then)."""
    counts: dict = {}
    for fn in functions:
        for x in fn.inputs or ():
            if x.grad_fn is None and x._hooks and any(type(h) is PostAccumulate for h in x._hooks.values()):
                counts[id(x)] = counts.get(id(x), 0) + 1
    return counts


def deliver_if_complete(x, early: dict, leaves: dict, handed: set, arrays: bool) -> None:
    """Count one more edge of the leaf ``x`` done; deliver its gradient once it has none left."""
    early[id(x)] -= 1
    if early[id(x)] == 0:
        del early[id(x)]
        entry = leaves.pop(id(x), None)
        if entry is not None:
            g = entry[1]
            # NOTE: the walk may still read this array (one gy handed to a leaf and to a node): the
            # leaf gets a copy, which its hooks may change in place (an all-reduce).
            mark(handed, g if arrays else g._data, x._backend)
            deliver(x, g, None, handed, arrays)
