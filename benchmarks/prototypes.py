"""Measured prototypes of the proposals in NOTES.md: ``python -m benchmarks.prototypes [--repeats N]``.

Each prototype monkeypatches tensorweaver inside this process only (nothing in tensorweaver/ is
edited); every variant runs the same workload, interleaved with the unpatched library and the
hand-written NumPy baseline, and the table gives medians and ratios. The patches are deliberately
small and keep the results identical (checked): they show the size of an effect, not final code.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types

import numpy as np

import tensorweaver as tw
from tensorweaver.ops import _common, elementwise, linalg

from . import models_numpy as mn
from . import models_tw as mt
from .run import time_interleaved

# -- A: a NumPy namespace whose hottest functions are NumPy's fast paths ------------------------------
_compat = tw.backends.cpu.xp


def _fast_sum(x, /, *, axis=None, dtype=None, keepdims=False):
    if dtype is None and x.dtype.kind in "fc":
        return np.add.reduce(x, axis=axis, keepdims=keepdims)  # np.sum's own kernel, minus ~4 µs of Python
    return _compat.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _fast_mean(x, /, *, axis=None, keepdims=False):
    if x.dtype.kind not in "fc":
        return _compat.mean(x, axis=axis, keepdims=keepdims)
    n = x.size if axis is None else int(np.prod([x.shape[a] for a in (axis if isinstance(axis, tuple) else (axis,))]))
    s = np.add.reduce(x, axis=axis, keepdims=keepdims)
    return np.true_divide(s, n, out=s if isinstance(s, np.ndarray) else None)


def _fast_reshape(x, /, shape, *, copy=None):
    return x.reshape(shape) if copy is None else _compat.reshape(x, shape, copy=copy)


def _fast_astype(x, dtype, /, *, copy=True, device=None):
    return x.astype(dtype, copy=copy) if device is None else _compat.astype(x, dtype, copy=copy, device=device)


FAST_NUMPY = types.SimpleNamespace(**{n: getattr(_compat, n) for n in dir(_compat) if not n.startswith("__")})
FAST_NUMPY.sum = _fast_sum
FAST_NUMPY.mean = _fast_mean
FAST_NUMPY.reshape = _fast_reshape
FAST_NUMPY.permute_dims = lambda x, /, axes: x.transpose(axes)
FAST_NUMPY.astype = _fast_astype
FAST_NUMPY.ones_like = lambda x, /, *, dtype=None, device=None: np.ones_like(x, dtype=dtype)
FAST_NUMPY.zeros_like = lambda x, /, *, dtype=None, device=None: np.zeros_like(x, dtype=dtype)


def patch_fast_numpy():
    b = tw.backends.cpu
    old = b.xp
    b.xp = FAST_NUMPY

    def undo():
        b.xp = old

    return undo


# -- F: NumPy (>= 2, array-API compliant in its main namespace) itself as the CPU namespace --------------
def patch_numpy_itself():
    """No array_api_compat wrapper at all on the CPU (its import is also ~45% of ``import tensorweaver``)."""
    b = tw.backends.cpu
    old = b.xp
    b.xp = np

    def undo():
        b.xp = old

    return undo


# -- B: no Cast op when the operand that would be cast needs no gradient ------------------------------
_orig_promote = _common.promote


def _lazy_promote(x, y):
    """Same-kind mixed precision (float32 with float64) is promoted by the array library itself (the
    array API standard defines it); an explicit Cast node is needed only for an operand whose gradient
    must come back in its own dtype, i.e. one that requires grad, or across kinds (int with float)."""
    fn = x._backend.from_native
    dx, dy = fn[x._data.dtype], fn[y._data.dtype]
    if dx.kind == dy.kind and dx.kind in "fc":
        d = tw.promote_types(dx, dy)
        low = x if dx is not d else y
        if not low._requires_grad:
            return x, y
    return _orig_promote(x, y)


def patch_lazy_promote():
    elementwise.promote = linalg.promote = _lazy_promote

    def undo():
        elementwise.promote = linalg.promote = _orig_promote

    return undo


# -- C: the engine's common case (one root, no inputs=, no anomaly, no create_graph) in one pass ------
from tensorweaver.autograd import engine as _engine  # noqa: E402
from tensorweaver.autograd.grad_mode import state as _state  # noqa: E402

_orig_run_backward = _engine.run_backward


def _fast_run_backward(roots, grads, retain_graph, create_graph, inputs=None):
    """Dependency counting (Kahn) instead of a post-order list: one walk counts each node's consumers,
    then nodes run as soon as their last consumer has run; no (fn, flag) tuples, no reversed list."""
    if inputs is not None or create_graph or _state.anomaly or len(roots) != 1 or roots[0].grad_fn is None:
        return _orig_run_backward(roots, grads, retain_graph, create_graph, inputs)
    fn0 = roots[0].grad_fn
    deps = {fn0: 0}
    stack = [fn0]
    while stack:
        for x in stack.pop().inputs or ():
            p = x.grad_fn
            if p is not None:
                if p in deps:
                    deps[p] += 1
                else:
                    deps[p] = 1
                    stack.append(p)
    pending = {fn0: grads[0]}
    leaves: dict = {}
    handed = {id(grads[0]._data)}
    ready = [fn0]
    prev = _state.enabled
    _state.enabled = False
    try:
        while ready:
            fn = ready.pop()
            gy = pending.pop(fn, None)
            xs = fn.inputs
            if gy is not None:
                if xs is None:
                    raise RuntimeError(_engine._FREED)
                ref = getattr(fn, "out_ref", None)
                if ref is not None:
                    gy = _engine._on_output_grad(ref(), gy, None, False, handed)
                gxs = fn.backward(gy)
            else:
                gxs = (None,) * len(xs or ())
            for x, gx in zip(xs or (), gxs, strict=True):
                p = x.grad_fn
                if gx is not None and x._requires_grad:
                    if p is None:
                        e = leaves.get(id(x))
                        if e is None:
                            leaves[id(x)] = [x, gx]
                        else:
                            e[1] = e[1] + gx
                        continue
                    old = pending.get(p)
                    pending[p] = gx if old is None else old + gx
                if p is not None:
                    n = deps[p] - 1
                    deps[p] = n
                    if n == 0:
                        ready.append(p)
            if not retain_graph:
                fn.release()
        for x, g in leaves.values():
            _engine._deliver(x, g, None, False, handed)
    finally:
        _state.enabled = prev
    return None


def patch_fast_engine():
    _engine.run_backward = _fast_run_backward

    def undo():
        _engine.run_backward = _orig_run_backward

    return undo


# -- D: weight gradients in the weight's layout (PyTorch's mm_mat2_backward does the same) ------------
from tensorweaver.ops.shape import mT_  # noqa: E402

_orig_matmul_backward = linalg.MatMul.backward


def _layout_matmul_backward(self, gy):
    """For ``x @ W.T`` the gradient of W.T is computed as (gy.T @ x).T, so that after the transpose's
    own backward it reaches W as a C-contiguous array instead of a transposed (strided) view."""
    x, y = self.inputs
    if len(x._data.shape) == 2 and len(y._data.shape) == 2 and y._requires_grad:
        a = y._data
        if getattr(a, "flags", None) is not None and a.flags.f_contiguous and not a.flags.c_contiguous:
            gx = gy @ mT_(y) if x._requires_grad else None
            return gx, mT_(mT_(gy) @ x)
    return _orig_matmul_backward(self, gy)


def patch_layout_matmul():
    linalg.MatMul.backward = _layout_matmul_backward

    def undo():
        linalg.MatMul.backward = _orig_matmul_backward

    return undo


# -- E: a view nobody else references is owned (no defensive copy of .grad) ---------------------------
_numpy_backend_cls = type(tw.backends.cpu)
_orig_owns = _numpy_backend_cls.owns


def _owns_unshared(self, x) -> bool:
    """True also for a view whose base no other object references (refcount: the view's own
    reference plus getrefcount's argument); such a view shares memory with nothing else alive."""
    return x.base is None or sys.getrefcount(x.base) <= 2  # no local name for the base: it would count


def patch_owns():
    _numpy_backend_cls.owns = _owns_unshared

    def undo():
        _numpy_backend_cls.owns = _orig_owns

    return undo


# -- G: ops whose backward needs only shapes keep no input arrays alive -------------------------------
class _ShapeOnly:
    """What Add/Sub's backward reads of a non-leaf input: shape, dtype, ndim (no data)."""

    __slots__ = ("shape", "dtype", "ndim")

    def __init__(self, a) -> None:
        self.shape, self.dtype, self.ndim = a.shape, a.dtype, a.ndim


def _ghost(t):
    g = tw.Tensor._wrap(_ShapeOnly(t._data), t._backend)
    g._requires_grad, g.grad_fn = t._requires_grad, t.grad_fn
    return g


_orig_apply2 = elementwise.apply2
_SHAPE_ONLY = (elementwise.Add, elementwise.Sub)


def _apply2_shape_only(fn, x, y):
    """As apply2, then (Add, Sub) swap non-leaf inputs for shape-only stand-ins that keep the graph
    edge (grad_fn) but not the array: the matmul output under ``x @ W.T + b`` is freed at once. Leaves
    stay (backward delivers their .grad); a real version stores edges and saved values apart."""
    out = _orig_apply2(fn, x, y)
    if out.grad_fn is fn and type(fn) in _SHAPE_ONLY:
        fn.inputs = tuple(t if t.grad_fn is None else _ghost(t) for t in fn.inputs)
    return out


def patch_shape_only_inputs():
    elementwise.apply2 = _apply2_shape_only

    def undo():
        elementwise.apply2 = _orig_apply2

    return undo


# -- D': fewer ops in the backward of a full reduction ---------------------------------------------------
from tensorweaver.ops import reduce as _reduce  # noqa: E402

_orig_sum_backward = _reduce.Sum.backward


def _sum_backward_direct(self, gy):
    """A full reduction (no dim, no keepdim) broadcasts its 0-d gradient directly: no Reshape op."""
    if self.axes is None and not self.keepdims:
        return (_reduce.broadcast_to(gy, self.inputs[0]._data.shape),)
    return _orig_sum_backward(self, gy)


def patch_full_reduction_backward():
    _reduce.Sum.backward = _sum_backward_direct  # Mean.backward reaches it through super()

    def undo():
        _reduce.Sum.backward = _orig_sum_backward

    return undo


def _both(*patches):
    def install():
        undos = [p() for p in patches]
        return lambda: [u() for u in reversed(undos)]

    return install


PATCHES = {
    "A fast NumPy namespace": patch_fast_numpy,
    "F numpy itself": patch_numpy_itself,
    "B lazy promote": patch_lazy_promote,
    "C one-pass engine": patch_fast_engine,
    "A+C": _both(patch_fast_numpy, patch_fast_engine),
    "E owns unshared views": patch_owns,
    "D+E layout-aware matmul backward": _both(patch_layout_matmul, patch_owns),
    "A+C+D+E": _both(patch_fast_numpy, patch_fast_engine, patch_layout_matmul, patch_owns),
    "G shape-only inputs": patch_shape_only_inputs,
    "D' no reshape in a full reduction's backward": patch_full_reduction_backward,
    "A+C+D'": _both(patch_fast_numpy, patch_fast_engine, patch_full_reduction_backward),
    "D+E+G": _both(patch_layout_matmul, patch_owns, patch_shape_only_inputs),
}


def _patched(run, install):
    def call():
        undo = install()
        try:
            run()
        finally:
            undo()

    return call


def _loop(model, n):
    def run():
        model.reset() if hasattr(model, "reset") else None
        for _ in range(n):
            model.step()

    return run


def measure(name: str, make_tw, make_np, n: int, repeats: int, scale: float, unit: str, patches) -> list[str]:
    impls = {"numpy": _loop(make_np(), n), "tensorweaver": _loop(make_tw(), n)}
    results = {}
    for label in patches:
        install = PATCHES[label]
        m = make_tw()
        impls[f"tw + {label}"] = _patched(_loop(m, n), install)
        results[label] = m
    times = time_interleaved(impls, {}, repeats, clock=time.process_time)
    ref = make_tw()
    _loop(ref, n)()
    for label, m in results.items():  # the patched runs must compute the same numbers
        for a, b in zip(ref.result(), m.result(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=f"{name}: {label} changed the result")
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    lines = [f"### {name} ({n} steps per call, {repeats} repeats)", ""]
    lines += ["| variant | median | min | median vs unpatched | min vs unpatched | median vs NumPy |"]
    lines += ["|---|---|---|---|---|---|"]
    for k, v in med.items():
        lines.append(
            f"| {k} | {v * scale:.3g} {unit} | {low[k] * scale:.3g} | {v / med['tensorweaver']:.3f}x | "
            f"{low[k] / low['tensorweaver']:.3f}x | {v / med['numpy']:.2f}x |"
        )
    return lines + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.prototypes", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    a = p.parse_args(argv)
    try:  # one BLAS thread: these workloads are overhead-bound, and a busy machine hurts threaded BLAS most
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(1, user_api="blas")
    except ImportError:
        limits = None
    threads = "BLAS limited to 1 thread (threadpoolctl)" if limits is not None else "default BLAS threads"
    out = [f"CPU time of this process (time.process_time), {threads}.", ""]
    small = ["A fast NumPy namespace", "F numpy itself", "B lazy promote", "C one-pass engine", "A+C"]
    textbook = [*small, "D' no reshape in a full reduction's backward", "A+C+D'"]
    out += measure("textbook loop", mt.TextbookTW, mn.TextbookNumpy, 500, a.repeats, 1e6 / 500, "µs/epoch", textbook)
    out += measure(
        "op overhead (c = a * b + a; c.backward())",
        mt.OpOverheadTW,
        mn.OpOverheadNumpy,
        1000,
        a.repeats,
        1e6 / 1000,
        "µs/iter",
        ["A fast NumPy namespace", "C one-pass engine", "A+C"],
    )
    out += measure(
        "MLP 784-64-64-10, batch 32 (overhead-bound)",
        lambda: mt.MLPTW([784, 64, 64, 10], 32),
        lambda: mn.MLPNumpy([784, 64, 64, 10], 32),
        20,
        a.repeats,
        1e6 / 20,
        "µs/step",
        small,
    )
    out += measure(
        "MLP 784-512-512-10, batch 256 (workload 3, BLAS-bound)",
        lambda: mt.MLPTW([784, 512, 512, 10], 256),
        lambda: mn.MLPNumpy([784, 512, 512, 10], 256),
        2,
        a.repeats,
        1e3 / 2,
        "ms/step",
        ["E owns unshared views", "D+E layout-aware matmul backward", "A+C+D+E"],
    )
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
