"""One helper to test an op: forward against a float64 NumPy reference, backward against central
finite differences of that reference, over several (broadcast) shapes, on a given device."""

from __future__ import annotations

import numpy as np

import tensorweaver as tw
from tensorweaver.autograd import function as _function
from tensorweaver.autograd.gradcheck import gradgradcheck


def to_numpy(t: tw.Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def make_inputs(shapes, device, *, low=-2.0, high=2.0, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(low, high, size=s).astype(dtype) for s in shapes]
    tensors = [tw.tensor(a, device=device, requires_grad=True) for a in arrays]
    return arrays, tensors


def numerical_grads(np_fn, arrays, upstream, eps=1e-6):
    """d(sum(np_fn(*arrays) * upstream)) / d(each array), by central differences in float64."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        flat = a.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = np.sum(np_fn(*arrays) * upstream)
            flat[i] = old - eps
            minus = np.sum(np_fn(*arrays) * upstream)
            flat[i] = old
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def check_op(fn, np_fn, shape_sets, device, *, low=-2.0, high=2.0, grad=True, atol=1e-6, rtol=1e-6):
    """Check ``fn`` (Tensors -> Tensor) against ``np_fn`` (ndarrays -> ndarray) for every tuple of
    input shapes in ``shape_sets``: values, output device and dtype, and (if ``grad``) each input's
    gradient against central differences, its shape, dtype and device.

    Gradients are checked on both of the engine's paths: ``backward()`` (each op's array fast
    path, ``backward_array``) and ``autograd.grad(create_graph=True)`` (each op's Tensor backward).
    The op's inputs are non-leaf tensors (``leaf * 1.0``) and the graph's edge threshold is 0, so
    an op that claims ``keeps_inputs = False`` gets value-free edges, as large tensors do in training.
    """
    old, _function.EDGE_MIN_SIZE = _function.EDGE_MIN_SIZE, 0
    try:
        _check_op(fn, np_fn, shape_sets, device, low, high, grad, atol, rtol)
    finally:
        _function.EDGE_MIN_SIZE = old


def _check_op(fn, np_fn, shape_sets, device, low, high, grad, atol, rtol):
    for seed, shapes in enumerate(shape_sets):
        arrays, tensors = make_inputs(shapes, device, low=low, high=high, seed=seed)
        out = fn(*[t * 1.0 for t in tensors])
        expected = np.asarray(np_fn(*[a.copy() for a in arrays]))
        assert out.device == tw.device(device), f"{shapes}: result on {out.device}, inputs on {device}"
        assert out.shape == expected.shape, f"{shapes}: shape {out.shape} != reference {expected.shape}"
        assert out.dtype == tw.float64, f"{shapes}: dtype {out.dtype}"
        np.testing.assert_allclose(to_numpy(out), expected, rtol=rtol, atol=atol, err_msg=f"forward {shapes}")
        if not grad:
            continue
        upstream = np.random.default_rng(100 + seed).uniform(0.5, 1.5, size=expected.shape)
        (out * tw.tensor(upstream, device=device)).sum().backward()
        numeric = numerical_grads(np_fn, arrays, upstream)
        for i, (t, g) in enumerate(zip(tensors, numeric, strict=True)):
            assert t.grad is not None, f"{shapes}: input {i} got no gradient"
            assert t.grad.shape == t.shape and t.grad.dtype == t.dtype, (
                f"{shapes}: grad {i} {t.grad.shape} {t.grad.dtype}"
            )
            assert t.grad.device == t.device, f"{shapes}: grad {i} on {t.grad.device}"
            np.testing.assert_allclose(to_numpy(t.grad), g, rtol=1e-5, atol=1e-6, err_msg=f"grad {i} {shapes}")
        loss = (fn(*[t * 1.0 for t in tensors]) * tw.tensor(upstream, device=device)).sum()
        graph_grads = tw.autograd.grad(loss, tensors, create_graph=True, allow_unused=True)
        for i, (gt, g) in enumerate(zip(graph_grads, numeric, strict=True)):
            assert gt is not None, f"{shapes}: input {i} got no gradient with create_graph=True"
            assert gt.device == tensors[i].device and gt.dtype == tensors[i].dtype
            np.testing.assert_allclose(to_numpy(gt), g, rtol=1e-5, atol=1e-6, err_msg=f"graph grad {i} {shapes}")


BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ())]


def ints(values, device):
    return tw.tensor(np.asarray(values, dtype=np.int64), device=device)


def consts(values, device):
    return tw.tensor(np.asarray(values, dtype=np.float64), device=device)


def grads_with_graph(out, inputs, upstream, others=()):
    """d(sum(out * upstream)) / d(inputs) as tensors that are themselves differentiable; the
    ``.grad`` of the inputs and of the ``others`` leaves is reset afterwards."""
    out.backward(gradient=upstream, create_graph=True)
    gs = [t.grad for t in inputs]
    for t in (*inputs, *others):
        t.grad = None
    return gs


def np_log_softmax(a, axis):
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def check_hvp(fn, shapes, device, *, low=-2.0, high=2.0, eps=1e-6):
    """Hessian-vector product of ``sum(u * fn(x))`` by double backward against central differences
    of the (already checked) first gradient along a random direction, in float64."""
    arrays, xs = make_inputs(shapes, device, low=low, high=high)
    rng = np.random.default_rng(7)
    u = tw.tensor(rng.uniform(0.5, 1.5, size=fn(*xs).shape), device=device)
    vs = [rng.uniform(-1, 1, size=s) for s in shapes]

    def first(ts, create_graph):
        return tw.autograd.grad((fn(*ts) * u).sum(), ts, create_graph=create_graph)

    gs = first(xs, True)
    dot = sum(((g * tw.tensor(v, device=device)).sum() for g, v in zip(gs, vs, strict=True)), start=0.0)
    hv = tw.autograd.grad(dot, xs, allow_unused=True)
    for i in range(len(xs)):
        moved = [
            [tw.tensor(a + s * eps * v, device=device, requires_grad=True) for a, v in zip(arrays, vs, strict=True)]
            for s in (1, -1)
        ]
        numeric = (to_numpy(first(moved[0], False)[i]) - to_numpy(first(moved[1], False)[i])) / (2 * eps)
        analytic = np.zeros_like(arrays[i]) if hv[i] is None else to_numpy(hv[i])
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7, err_msg=f"input {i}")


def check_second_order(fn, shapes, device) -> None:
    """The second derivative of ``fn`` (tensors of ``shapes`` in [0.2, 1.5]) by gradgradcheck, in float64."""
    _, inputs = make_inputs(shapes, device, low=0.2, high=1.5, seed=7)
    assert gradgradcheck(fn, inputs)
